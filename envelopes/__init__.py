"""The wire contract shared by the gateway, the workers and the connectors.

Nothing here imports another package of ours, nor any protocol library: the web process
loads all of it, and so does every worker.
"""
