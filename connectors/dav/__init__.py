"""What CalDAV and CardDAV share: authentication (``auth``), the WebDAV XML (``xml``), one
verb's requests on the guarded HTTP client (``client``), discovery (``discovery``) and the
five verbs (``connector``). The platforms are ``connectors.caldav`` and ``connectors.carddav``.
"""
