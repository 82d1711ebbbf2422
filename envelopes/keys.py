"""Every Redis key the project uses, named in one place.

Session-scoped keys share the ``sh:s:{sid}`` prefix and the session's time to live.
"""

from __future__ import annotations

__all__ = [
    "PREFIX",
    "session",
    "session_creds",
    "session_stream",
    "session_seq",
    "session_stream_bytes",
    "session_push",
    "request",
    "deadlines",
    "unsent",
    "deadline_member",
    "split_deadline_member",
    "gateway_wake",
    "creds_field",
    "connection_key_field",
    "handoff",
    "lease",
    "worker_metrics",
    "worker_metrics_index",
    "node_alive",
    "connection",
    "connection_sessions",
    "connection_rooms",
    "connection_order",
    "connection_pending",
    "order_field",
    "connections",
    "connection_marks",
    "connection_convs",
    "connection_msgids",
    "log_conversations",
    "log_conversation",
    "http_cache",
    "http_host",
    "http_cache_books",
    "address_sessions",
    "kept",
    "kept_address",
    "sessions_ended",
    "follow_due",
    "follow_feed",
    "follow_followers",
    "follow_seen",
    "follow_session",
    "reattach",
    "http_action",
    "http_action_lines",
    "upload",
    "upload_session",
    "upload_data",
    "upload_done",
    "irc_list",
    "irc_sts",
    "governor",
]

PREFIX = "sh"
_SEP = "\x1f"  # unit separator: cannot occur in validated ids


def session(sid: str) -> str:
    """Hash: token hash, wrapped session key, created time, attach generation."""
    return f"{PREFIX}:s:{sid}"


def session_creds(sid: str) -> str:
    """Hash: ``creds_field(platform, actor)`` → sealed credentials."""
    return f"{PREFIX}:s:{sid}:creds"


def session_stream(sid: str) -> str:
    """Stream of replies and events bound for the session's browser, with ``seq``."""
    return f"{PREFIX}:s:{sid}:out"


def session_stream_bytes(sid: str) -> str:
    """Counter: bytes of frames in ``session_stream``, kept by the outbox to trim by size."""
    return f"{PREFIX}:s:{sid}:outb"


def session_seq(sid: str) -> str:
    """Counter behind the per-session sequence numbers."""
    return f"{PREFIX}:s:{sid}:seq"


def session_push(sid: str) -> str:
    """Hash: endpoint digest → the browser push subscription, sealed under the session's
    key (endpoints are capability URLs); ``gateway/push.py``."""
    return f"{PREFIX}:s:{sid}:push"


def request(sid: str, rid: str) -> str:
    """The request's marker (``envelopes.markers``): ``a``/``p``/``r`` + its sealed
    activity while in flight, ``done`` once answered, ``n`` once answered ``not-sent``."""
    return f"{PREFIX}:s:{sid}:r:{rid}"


def deadlines() -> str:
    """Sorted set of in-flight requests scored by their reply deadline (epoch seconds)."""
    return f"{PREFIX}:deadlines"


def unsent() -> str:
    """Sorted set of accepted requests not yet handed to their workers, scored by when
    they count as lost (their gateway stopped): ``deadline_member`` → epoch seconds."""
    return f"{PREFIX}:unsent"


def deadline_member(sid: str, rid: str) -> str:
    return f"{sid}{_SEP}{rid}"


def split_deadline_member(member: str) -> tuple[str, str]:
    sid, _, rid = member.partition(_SEP)
    return sid, rid


def gateway_wake(gateway_id: str) -> str:
    """Stream a gateway's pump also reads, so a new session wakes its blocking read."""
    return f"{PREFIX}:gw:{gateway_id}:wake"


def creds_field(platform: str, actor_id: str) -> str:
    return f"{platform}{_SEP}{actor_id}"


# -- persistent connections (IRC, XMPP) ---------------------------------------------------
def connection_key_field(platform: str, actor_id: str) -> str:
    """Field in ``session_creds``: the key of the connection these credentials open."""
    return f"ck{_SEP}{platform}{_SEP}{actor_id}"


def lease(platform: str, ckey: str) -> str:
    """String: the owning node's queue; expires unless the owner's heartbeat renews it."""
    return f"{PREFIX}:lease:{platform}:{ckey}"


def handoff(platform: str) -> str:
    """List: connections a stopping node released, for another node to take at once."""
    return f"{PREFIX}:handoff:{platform}"


def node_alive(queue: str) -> str:
    """String with a short TTL, renewed by a worker node while it runs."""
    return f"{PREFIX}:node:{queue}"


def connection(platform: str, ckey: str) -> str:
    """Hash: actor (JSON), owner queue: what a surviving node needs to take over."""
    return f"{PREFIX}:conn:{platform}:{ckey}"


def connection_sessions(platform: str, ckey: str) -> str:
    """Hash: session id → actor id, for every session sharing the connection."""
    return f"{PREFIX}:conn:{platform}:{ckey}:sessions"


def connection_rooms(platform: str, ckey: str) -> str:
    """Set: ``session␟room`` for every room a session joined on the connection; a
    reconnect or failover rejoins the rooms some live session still holds."""
    return f"{PREFIX}:conn:{platform}:{ckey}:rooms"


def connection_order(platform: str, ckey: str) -> str:
    """Hash: session id → the ``seq`` of its last verb run on the connection, so a node
    taking the connection over knows where each session's order resumes."""
    return f"{PREFIX}:conn:{platform}:{ckey}:order"


def connection_pending(platform: str, ckey: str, sid: str) -> str:
    """Sorted set: the request ids of the session's verbs on the connection, scored by their
    ``seq``, from the gateway numbering them until the owner's lane has run past them. A
    node taking the connection over finds here what its dead owner had taken off Redis and
    not run (``envelopes.markers``); expires with the longest request timeout."""
    return f"{PREFIX}:conn:{platform}:{ckey}:pending:{sid}"


def order_field(platform: str, ckey: str) -> str:
    """Field in ``session``: the counter numbering the session's verbs on one connection."""
    return f"q{_SEP}{platform}{_SEP}{ckey}"


def connections(platform: str) -> str:
    """Set: every connection key of the platform with a record (the janitor's list)."""
    return f"{PREFIX}:conns:{platform}"


def connection_marks(platform: str, ckey: str) -> str:
    """Hash of the connection's read markers (``tasks/marks.py``): ``seq`` numbers incoming
    messages; ``r␟<conversation>`` → ``<seq>␟<message id>`` read up to; ``u␟<conversation>``
    → unread count. Ids and counts only, never message text."""
    return f"{PREFIX}:conn:{platform}:{ckey}:marks"


def connection_convs(platform: str, ckey: str) -> str:
    """Sorted set: conversation → ``seq`` of its last incoming message (which ones to
    forget first, past ``SOCKETHUB_READ_MARKERS_MAX``)."""
    return f"{PREFIX}:conn:{platform}:{ckey}:convs"


def connection_msgids(platform: str, ckey: str) -> str:
    """Sorted set: ``<conversation>␟<message id>`` → ``seq`` of the latest incoming
    messages, so a read marker naming one knows what came after it."""
    return f"{PREFIX}:conn:{platform}:{ckey}:msgids"


# -- the own log of a connection's conversations (tasks/ownlog.py) ------------------------
def log_conversations(platform: str, ckey: str) -> str:
    """Sorted set: digest of each conversation the connection logged → when it last had a
    message (ms). Digests are keyed hashes under the log key: they name nobody."""
    return f"{PREFIX}:log:{platform}:{ckey}"


def log_conversation(platform: str, ckey: str, conv: str) -> str:
    """Prefix of one conversation's log (``conv`` its digest): ``:h`` hash (``first``,
    ``next`` seq, ``bytes``), ``:m`` hash seq → sealed message, ``:i`` hash message-id
    digest → seq, ``:t`` hash seq → time and word digests (the blind search index)."""
    return f"{PREFIX}:log:{platform}:{ckey}:{conv}"


# -- the shared HTTP cache of feeds and metadata -------------------------------------------
def http_cache(digest: str) -> str:
    """Prefix of one cached URL's keys (``:e`` entry, ``:f`` fresh, ``:x`` failure,
    ``:l`` flight lock); ``digest`` hashes the URL and whether private addresses were
    allowed when it was fetched."""
    return f"{PREFIX}:http:{digest}"


def http_cache_books() -> str:
    """Prefix of the cache's accounts, shared by every entry: ``:lru`` sorted set (entry
    prefix → when stored), ``:sizes`` hash (entry prefix → bytes), ``:bytes`` the total."""
    return f"{PREFIX}:http:books"


def http_host(host: str) -> str:
    """Prefix of one upstream host's keys (``:slots`` in flight, ``:wait`` Retry-After)."""
    return f"{PREFIX}:http:host:{host}"


def address_sessions(addr: str, minute: int) -> str:
    """Counter of new sessions opened from one client address in one minute."""
    return f"{PREFIX}:addr:{addr}:new:{minute}"


def kept() -> str:
    """Sorted set: every kept session id → when its keep ends at the latest (epoch
    seconds), for ``SOCKETHUB_KEPT_SESSIONS``; entries past their score are stale."""
    return f"{PREFIX}:kept"


def kept_address(addr: str) -> str:
    """Sorted set: the kept sessions of one client address, scored as ``kept``, for
    ``SOCKETHUB_KEPT_PER_ADDRESS``."""
    return f"{PREFIX}:kept:a:{addr}"


def sessions_ended() -> str:
    """Pub/sub channel: a session was ended on purpose (``end``); it wakes the workers'
    janitors, so its upstream connections are released now, not at their next beat."""
    return f"{PREFIX}:ended"


# -- followed feeds (connectors/feeds/follows.py) ------------------------------------------
def follow_due() -> str:
    """Sorted set: feed id → when it is next polled (epoch seconds); while a poller holds
    the feed's lease (``lease("feeds", fid)``), when that lease ends."""
    return f"{PREFIX}:follow:due"


def follow_feed(fid: str) -> str:
    """Hash: the feed's URL, schedule and counters (``interval``, ``digest`` of the body
    last parsed, ``history`` of change times, ``polls``, ``parses``, ``notmod``). Routing
    data only: no item text."""
    return f"{PREFIX}:follow:f:{fid}"


def follow_followers(fid: str) -> str:
    """Set: the session ids following the feed."""
    return f"{PREFIX}:follow:f:{fid}:who"


def follow_seen(fid: str) -> str:
    """Sorted set: digests of the identities (GUID, link, content) of the feed's items
    already delivered → when last seen; trimmed to the newest."""
    return f"{PREFIX}:follow:f:{fid}:seen"


def follow_session(sid: str) -> str:
    """Hash: feed id → feed URL, every feed the session follows."""
    return f"{PREFIX}:follow:s:{sid}"


def reattach(platform: str, digest: str) -> str:
    """Which Socket.IO session last held an anonymous connection, for the reconnect of
    the same client (``gateway/sioreattach.py``); ``digest`` is a keyed hash."""
    return f"{PREFIX}:reattach:{platform}:{digest}"


def http_action(rid: str) -> str:
    """String: ``p`` while the HTTP action with this request id runs, ``c`` once its answer
    is kept for replay (``gateway/httpreplay.py``); ``rid`` is checked there first."""
    return f"{PREFIX}:hact:{rid}"


def http_action_lines(rid: str) -> str:
    """List: the sealed NDJSON lines of that HTTP action's answer, in order."""
    return f"{PREFIX}:hact:{rid}:lines"


def upload(digest: str) -> str:
    """Hash: one upload through the gateway (``envelopes/uploads.py``): its session,
    state, size and the server's slot (sealed); ``digest`` is SHA-256 of its token."""
    return f"{PREFIX}:up:{digest}"


def upload_session(sid: str) -> str:
    """Sorted set: the session's uploads not yet done (digests, scored by when each
    stops counting), which ``SOCKETHUB_UPLOAD_MAX_PER_SESSION`` bounds."""
    return f"{PREFIX}:s:{sid}:up"


def upload_data(digest: str) -> str:
    """List: that upload's file, in sealed chunks, from the gateway to the worker."""
    return f"{PREFIX}:up:{digest}:data"


def upload_done(digest: str) -> str:
    """List: the worker's answer (sealed) to the gateway that holds the browser's PUT."""
    return f"{PREFIX}:up:{digest}:done"


# -- IRC channel lists, shared by every session on a server (connectors/irc/roomcache.py) --
def irc_list(digest: str) -> str:
    """Prefix of one IRC server's channel list keys: ``:s`` hash (``v`` version in clear,
    ``s`` the sealed list), ``:l`` the lease of the one LIST in progress, ``:p`` how many
    channels it has received so far. ``digest`` hashes the server's host and port."""
    return f"{PREFIX}:irclist:{digest}"


def irc_sts(host: str) -> str:
    """String: the TLS port of ``host``'s IRCv3 STS policy, expiring with the policy."""
    return f"{PREFIX}:irc:sts:{host.lower()}"


def worker_metrics(process: str) -> str:
    """Hash: one worker process's metrics (``envelopes/workermetrics.py``), with a time to
    live its stats beat refreshes: a dead process's figures lapse with it."""
    return f"{PREFIX}:wm:{process}"


def worker_metrics_index() -> str:
    """Set: the processes with a ``worker_metrics`` hash; the gateway drops the lapsed."""
    return f"{PREFIX}:wm"


def governor(server: str) -> str:
    """Prefix of one upstream server's fleet-wide governor keys (``tasks/governor.py``):
    ``:c`` sorted set of the live connections to it (connection keys, scored by when each
    slot lapses), ``:src:<address>`` and ``:br:<address>`` the same per worker source
    address and per browser address, ``:tb`` the time the connect pacing's next token is
    due, ``:pause`` the server's own words while connects to it are paused, ``:strikes``
    how many pauses in a row. ``server`` is ``host:port``, the host lower-cased."""
    return f"{PREFIX}:gov:{server}"
