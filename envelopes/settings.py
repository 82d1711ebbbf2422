"""Configuration: environment variables, read once per process.

Every variable is listed in ``VARIABLES`` with its default and meaning; the README's table
is generated from the same list (``python -m envelopes.settings``), so the two cannot
drift. ``Settings.from_env`` fails at start-up naming every bad or missing variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

__all__ = ["Settings", "VARIABLES", "ConfigError", "markdown_table", "host_allowed"]


class ConfigError(ValueError):
    pass


# name → (settings attribute, default as text, meaning)
VARIABLES: dict[str, tuple[str, str, str]] = {
    "REDIS_URL": (
        "redis_url",
        "",
        "Redis for broker, sessions and events: `redis://host:6379/0`, or Sentinels, "
        "`redis+sentinel://host1:26379,host2:26379/mymaster/0` (docs/deployment.md). Empty: "
        "`sockethub` starts a private Redis; `sockethub web`/`worker` refuse to start.",
    ),
    "SOCKETHUB_SECRET": (
        "secret",
        "",
        "Server secret that wraps every session key (16+ characters). Empty: `sockethub` "
        "makes a random one per run; `web`/`worker` refuse to start. All processes of one "
        "deployment must share it.",
    ),
    "SOCKETHUB_SECRET_PREVIOUS": (
        "secret_previous",
        "",
        "While rotating the secret: the other secret, still accepted for unwrapping session "
        "keys (each is rewrapped under `SOCKETHUB_SECRET` when used). See "
        "docs/deployment.md for the procedure.",
    ),
    "SOCKETHUB_HOST": ("host", "127.0.0.1", "Address the gateway listens on."),
    "SOCKETHUB_PORT": ("port", "10550", "Port the gateway listens on."),
    "SOCKETHUB_PLATFORMS": (
        "platforms",
        "",
        "Comma-separated platforms to enable. Empty: all registered platforms.",
    ),
    "SOCKETHUB_REQUEST_TIMEOUT": (
        "request_timeout",
        "30",
        "Seconds within which every request gets its terminal reply (a verb may set its own).",
    ),
    "SOCKETHUB_UNSENT_GRACE": (
        "unsent_grace",
        "2",
        "Seconds a gateway may take to hand an accepted request to its workers. One still "
        "unsent after that (its gateway stopped) is answered `not-sent`, and its id may be "
        "sent again.",
    ),
    "SOCKETHUB_ENQUEUE_BATCH": (
        "enqueue_batch",
        "32",
        "Requests for one platform whose verbs wait on no network (`batchable`, e.g. dummy) "
        "that reach a gateway process while it is handing others to that platform's queue go "
        "together when it is done, up to this many (at most 256) in one Celery message: one "
        "script, one task, the fixed costs paid once. A lone request never waits for "
        "company. 1: one message per request.",
    ),
    "SOCKETHUB_DRAIN_SECONDS": (
        "drain_seconds",
        "5",
        "Seconds a gateway told to stop (SIGTERM) answers `/healthz` with 503 and refuses new "
        "sockets (503) before it closes its own with 1001: the load balancer's health check "
        "takes it out first, so its browsers resume on another gateway. At most 120; 0 for a "
        "gateway with no balancer in front.",
    ),
    "SOCKETHUB_RESUME_GRACE": (
        "resume_grace",
        "60",
        "Seconds a dropped session waits for its browser to resume it before it ends.",
    ),
    "SOCKETHUB_KEEP_MAX": (
        "keep_max",
        "604800",
        "Longest a browser may ask (`hello.keep`) for its session to be kept while no socket "
        "is attached, in seconds (default 7 days): its upstream connections stay up and its "
        "events are recorded, counted from each detach. 0: sessions are never kept.",
    ),
    "SOCKETHUB_KEPT_PER_ADDRESS": (
        "kept_per_address",
        "10",
        "Kept sessions per client address, across the deployment (each holds its upstream "
        "connections while nobody is there); past it a session still works, not kept, and "
        "its welcome says why (`keepRefused`). 0: no limit.",
    ),
    "SOCKETHUB_KEPT_SESSIONS": (
        "kept_sessions",
        "10000",
        "Kept sessions in total, across the deployment; past it as above. 0: no limit.",
    ),
    "SOCKETHUB_MAX_FRAME_BYTES": (
        "max_frame_bytes",
        "65536",
        "Largest request frame answered; larger ones get a `frame-too-large` reply, and "
        "frames over twice this close the socket (1009).",
    ),
    "SOCKETHUB_SEND_TIMEOUT": (
        "send_timeout",
        "30",
        "Seconds one frame may take to reach a browser; a socket that slow is cut (the "
        "browser sees 1006 and resumes).",
    ),
    "SOCKETHUB_SEND_BUFFER_BYTES": (
        "send_buffer_bytes",
        "262144",
        "Bytes of frames queued for one socket; a socket further behind is closed with 4008 "
        "and resumes from its `lastSeq` (the session stream keeps what it missed). One frame "
        "larger than this still goes when nothing else waits.",
    ),
    "SOCKETHUB_WS_DEFLATE": (
        "ws_deflate",
        "true",
        "Accept the permessage-deflate offer browsers make, without context takeover: zlib "
        "state lives only while one frame is compressed, not ~256 KiB per socket. `false`: "
        "frames go uncompressed.",
    ),
    "SOCKETHUB_ALLOWED_ORIGINS": (
        "allowed_origins",
        "",
        "Comma-separated `Origin`s allowed to open the WebSocket or use the Socket.IO "
        "endpoint (its CORS too), or `*`. Empty: the gateway's own host only (Sockethub "
        "allows any). Clients that send no Origin (not browsers) are allowed.",
    ),
    "SOCKETHUB_SIO_MAX_PAYLOAD_BYTES": (
        "sio_max_payload_bytes",
        "262144",
        "Largest Engine.IO message or polling body the Socket.IO endpoint reads (Sockethub's "
        "`maxPayloadBytes`); a larger one closes that transport, and the client reconnects. "
        "Each activity is also held to `SOCKETHUB_MAX_FRAME_BYTES` (a `frame-too-large` ack).",
    ),
    "SOCKETHUB_HTTP_ACTIONS": (
        "http_actions",
        "false",
        "Serve Sockethub's HTTP actions at `POST /sockethub-http` (one-shot calls from "
        "scripts: credentials and messages in one POST, NDJSON answer; "
        "docs/http-actions.md). Off: 404 there, as in Sockethub.",
    ),
    "SOCKETHUB_HTTP_REQUIRE_REQUEST_ID": (
        "http_require_request_id",
        "true",
        "HTTP actions must carry a request id (`X-Request-Id`, or `requestId` in the body), "
        "which makes them idempotent; `false`: a call without one gets an id minted and is "
        "not kept for replay.",
    ),
    "SOCKETHUB_HTTP_MAX_MESSAGES": (
        "http_max_messages",
        "20",
        "Activities in one HTTP action; more is a 413 (at most 1000).",
    ),
    "SOCKETHUB_HTTP_MAX_BODY_BYTES": (
        "http_max_body_bytes",
        "262144",
        "Largest HTTP action body read; larger is a 413 (at most 16777216). Each activity is "
        "also held to `SOCKETHUB_MAX_FRAME_BYTES`.",
    ),
    "SOCKETHUB_HTTP_TIMEOUT": (
        "http_timeout",
        "30",
        "Seconds one HTTP action may run in all; then its answer ends with a `request "
        "timeout` line (at most 600).",
    ),
    "SOCKETHUB_HTTP_IDLE_TIMEOUT": (
        "http_idle_timeout",
        "15",
        "Seconds an HTTP action may go without writing a line; then its answer ends with a "
        "`request idle timeout` line (at most 600).",
    ),
    "SOCKETHUB_HTTP_REPLAY_TTL": (
        "http_replay_ttl",
        "300",
        "Seconds a finished HTTP action's answer is kept (sealed) for replay by its request "
        "id (at most 86400).",
    ),
    "SOCKETHUB_HTTP_REPLAY_MAX_BYTES": (
        "http_replay_max_bytes",
        "1048576",
        "Bytes of one HTTP action's answer kept for replay; past it the kept answer ends "
        "with a line saying it was cut (the live answer is whole; at most 16777216).",
    ),
    "SOCKETHUB_RATE_LIMIT": (
        "rate_limit",
        "50",
        "Frames per second allowed per session, across its resumes (every frame counts: "
        "requests, pings, invalid frames). Over it: `rate-limited` replies, then silence, "
        "then the socket is closed with 1008. 0 turns the limit off.",
    ),
    "SOCKETHUB_RATE_BURST": (
        "rate_burst",
        "100",
        "Frames a session may send in a burst; also how deep over the limit it may go "
        "(half of it with replies, the rest without) before its socket is closed (1008).",
    ),
    "SOCKETHUB_MAX_SOCKETS_PER_ADDRESS": (
        "max_sockets_per_address",
        "100",
        "Open WebSockets per client address on one gateway process; more are closed with "
        "1008 at once (0: no limit). Raise it for many users behind one NAT.",
    ),
    "SOCKETHUB_NEW_SESSIONS_PER_MINUTE": (
        "new_sessions_per_minute",
        "60",
        "New sessions per client address per minute, across all gateways; past it a socket "
        "that does not resume is closed with 1008 (0: no limit).",
    ),
    "SOCKETHUB_TRUSTED_PROXIES": (
        "trusted_proxies",
        "127.0.0.1,::1",
        "Comma-separated addresses or networks (`10.0.0.0/8`) of reverse proxies whose "
        "`X-Forwarded-For` names the client (the last address in it that is not a trusted "
        "proxy). Anyone else's `X-Forwarded-For` is ignored.",
    ),
    "SOCKETHUB_STREAM_MAXLEN": (
        "stream_maxlen",
        "2000",
        "Events and replies kept per session for resume (oldest dropped first).",
    ),
    "SOCKETHUB_STREAM_MAX_BYTES": (
        "stream_max_bytes",
        "4194304",
        "Bytes of events and replies kept per session for resume (oldest dropped first; a "
        "resume that needed them gets `missed`).",
    ),
    "SOCKETHUB_MAX_REPLY_BYTES": (
        "max_reply_bytes",
        "1048576",
        "Largest reply or event written for a browser. A larger reply becomes a failed "
        "`too-large` reply; a larger event is replaced by a small one saying so.",
    ),
    "SOCKETHUB_REDIS_TIMEOUT": (
        "redis_timeout",
        "10",
        "Seconds a Redis connect or command may take before a worker or gateway gives up on "
        "it (and retries, or answers with an error); at least 3.",
    ),
    "SOCKETHUB_EVENT_QUEUE_MAX": (
        "event_queue_max",
        "50000",
        "Events a worker process holds while Redis is slow or unreachable (then writes, in "
        "order). Past it new events are dropped and their sessions get an `error` event "
        "saying how many (`too-large`, condition `events-dropped`); at most 10000000.",
    ),
    "SOCKETHUB_EVENT_QUEUE_BYTES": (
        "event_queue_bytes",
        "67108864",
        "Bytes of events a worker process holds while Redis is slow or unreachable; past it "
        "as for `SOCKETHUB_EVENT_QUEUE_MAX`. At most 4294967296.",
    ),
    "SOCKETHUB_ALLOW_PRIVATE_ADDRESSES": (
        "allow_private_addresses",
        "false",
        "Let browsers aim workers at loopback/private addresses (tests, LANs only).",
    ),
    "SOCKETHUB_ALLOWED_HOSTS": (
        "allowed_hosts",
        "",
        "Comma-separated IRC/XMPP servers browsers may name (`*.example.org` for a domain). "
        "Empty: any host with a public address.",
    ),
    "SOCKETHUB_IRC_FLOOD_RATE": (
        "irc_flood_rate",
        "1",
        "Lines per second sent to an IRC server per connection (0 turns flood control off).",
    ),
    "SOCKETHUB_IRC_FLOOD_BURST": (
        "irc_flood_burst",
        "4",
        "Lines an IRC connection may send at once before the rate applies.",
    ),
    "SOCKETHUB_IRC_PING_INTERVAL": (
        "irc_ping_interval",
        "60",
        "Seconds of silence before we PING an IRC server; twice that without an answer "
        "and the connection is taken for dead and reconnected.",
    ),
    "SOCKETHUB_ORDER_GAP_WAIT": (
        "order_gap_wait",
        "10",
        "Seconds an IRC/XMPP verb waits for an earlier verb of the same session and "
        "connection that has not reached its worker (expired in a queue) before it runs "
        "anyway; at most 60. (Verbs a dead worker had taken are put back by the node "
        "taking its connections over: no wait.)",
    ),
    "SOCKETHUB_LANE_THREADS": (
        "lane_threads",
        "8",
        "Threads per worker process that run IRC/XMPP verbs held while their connection was "
        "restored (a reconnect, a takeover), once it is back; the task threads are free "
        "meanwhile. At most 64.",
    ),
    "SOCKETHUB_LEASE_SECONDS": (
        "lease_seconds",
        "15",
        "Seconds an IRC/XMPP connection's lease lasts without a renewal (6 to 300). Its "
        "owner renews it every third of that; an owner that could not renew for all but "
        "the last fifth of it (at least 2 s; cut off from Redis) closes its connections "
        "before another node may take them over; a node that died is replaced after at "
        "most this long.",
    ),
    "SOCKETHUB_IRC_WEBIRC": (
        "irc_webirc",
        "",
        "Comma-separated `server=password` or `server:port=password`: for these IRC "
        "servers the worker first sends `WEBIRC` with the password the network gave this "
        "gateway, so the network sees each browser's own address (as the gateway saw it "
        "through `SOCKETHUB_TRUSTED_PROXIES`) instead of the gateway's. Empty: never.",
    ),
    "SOCKETHUB_UPSTREAM_MAX_CONNECTIONS": (
        "upstream_max_connections",
        "5000",
        "Live IRC connections to one server (`host:port`), across every worker node (a "
        "slot in Redis, renewed with the connection's lease). Past it a connect is refused "
        "(`too-many-connections`, naming this setting). 0: no limit.",
    ),
    "SOCKETHUB_UPSTREAM_MAX_PER_SOURCE": (
        "upstream_max_per_source",
        "1000",
        "Live IRC connections to one server from one worker source address (the address "
        "the server sees, without WEBIRC), across the fleet; as above. 0: no limit.",
    ),
    "SOCKETHUB_UPSTREAM_MAX_PER_BROWSER": (
        "upstream_max_per_browser",
        "10",
        "Live IRC connections to one server on behalf of one browser address (as the "
        "gateway saw it through `SOCKETHUB_TRUSTED_PROXIES`), across the fleet: one user "
        "cannot hold hundreds of connections to one network. 0: no limit.",
    ),
    "SOCKETHUB_UPSTREAM_CONNECT_RATE": (
        "upstream_connect_rate",
        "5",
        "New IRC connects per second to one server, across the fleet (first connects, "
        "reconnects and takeovers alike: after a node dies its connections come back at "
        "this pace). A browser's connect waits its turn for at most half its request "
        "timeout, then is answered `upstream-error` naming this setting. At most 1000; 0: "
        "no pacing.",
    ),
    "SOCKETHUB_UPSTREAM_CONNECT_BURST": (
        "upstream_connect_burst",
        "10",
        "Connects to one server that may go at once before the rate applies (1 to 10000).",
    ),
    "SOCKETHUB_UPSTREAM_PAUSE": (
        "upstream_pause",
        "30",
        "Seconds no worker connects to an IRC server after it answered `Throttled`, `Too "
        "many connections` or a K-line to an address of ours (not to a browser's own, "
        "through WEBIRC); doubled by each such answer in a row, up to "
        "`SOCKETHUB_UPSTREAM_PAUSE_MAX`. At most 3600.",
    ),
    "SOCKETHUB_UPSTREAM_PAUSE_MAX": (
        "upstream_pause_max",
        "600",
        "Longest such pause, in seconds (at most 3600).",
    ),
    "SOCKETHUB_IRC_MAX_LINE_BYTES": (
        "irc_max_line_bytes",
        "512",
        "Longest line taken from an IRC server, after its IRCv3 tags, CR LF included (RFC "
        "2812: 512). A longer one closes the connection with `protocol-error`.",
    ),
    "SOCKETHUB_IRC_MAX_TAG_BYTES": (
        "irc_max_tag_bytes",
        "8191",
        "Longest IRCv3 tags part of a line from an IRC server (the spec's 8191). More closes "
        "the connection with `protocol-error`.",
    ),
    "SOCKETHUB_IRC_LINE_RATE": (
        "irc_line_rate",
        "100",
        "Lines per second read from one IRC server; past the burst, reading pauses and the "
        "server waits (nothing is dropped). 0: no inbound budget.",
    ),
    "SOCKETHUB_IRC_LINE_BURST": (
        "irc_line_burst",
        "1000",
        "Lines an IRC server may send at once (a MOTD, the NAMES of a big channel) before "
        "the inbound rate applies.",
    ),
    "SOCKETHUB_IRC_MAX_NAMES": (
        "irc_max_names",
        "20000",
        "Names an IRC server may send for NAMES lists it has not ended (353 without 366), "
        "over all channels of a connection. More closes it with `protocol-error`.",
    ),
    "SOCKETHUB_IRC_MAX_CHANNELS": (
        "irc_max_channels",
        "1000",
        "Channels one IRC connection may be in (a server can join us to channels). More "
        "closes it with `protocol-error`.",
    ),
    "SOCKETHUB_IRC_MAX_CAPS": (
        "irc_max_caps",
        "500",
        "Capabilities (and lines) accepted in an IRC server's `CAP LS` reply. More closes "
        "the connection with `protocol-error`.",
    ),
    "SOCKETHUB_IRC_MAX_MONITOR": (
        "irc_max_monitor",
        "100",
        "People one IRC connection may watch for online/offline (IRCv3 MONITOR), or the "
        "server's own MONITOR limit when lower; past it a watch is refused (`refused`, "
        "`monitor-list-full`).",
    ),
    "SOCKETHUB_IRC_MAX_UNSENT_BYTES": (
        "irc_max_unsent_bytes",
        "262144",
        "Bytes waiting to be written to an IRC server that does not read them; past this "
        "the connection is closed and reconnected.",
    ),
    "SOCKETHUB_IRC_MAX_BATCHES": (
        "irc_max_batches",
        "64",
        "IRCv3 batches an IRC server may hold open on one connection; past it the longest "
        "silent is forgotten (a request waiting on it fails saying so). At most 1024.",
    ),
    "SOCKETHUB_IRC_BATCH_SILENCE": (
        "irc_batch_silence",
        "60",
        "Seconds an open IRCv3 batch may go without a line before it is forgotten (a "
        "request waiting on it fails with `protocol-error`).",
    ),
    "SOCKETHUB_IRC_HISTORY_TIMEOUT": (
        "irc_history_timeout",
        "10",
        "Seconds an IRC server has to answer one `CHATHISTORY` request; past th"
        "is the history query answers from the own log alone, and a gap recovery emits `gap`.",
    ),
    "SOCKETHUB_IRC_GAP_MAX_MESSAGES": (
        "irc_gap_max_messages",
        "500",
        "Messages fetched from each joined IRC channel's `chathistory` after a reconnect "
        "or a takeover, delivered as late events (also capped by the server's `CHATHISTOR"
        "Y=<n>`); what is past this is announced by a `gap` event instead. At most 500.",
    ),
    "SOCKETHUB_IRC_MAX_REPLY_LINES": (
        "irc_max_reply_lines",
        "1000",
        "Lines kept of one answer to our commands (a WHOIS); a longer answer fails its "
        "request with `protocol-error`. At most 100000.",
    ),
    "SOCKETHUB_IRC_LIST_TTL": (
        "irc_list_ttl",
        "300",
        "Seconds an IRC server's channel list (LIST) is kept in Redis and shared by every "
        "session on that server before it is fetched again.",
    ),
    "SOCKETHUB_IRC_LIST_MAX_CHANNELS": (
        "irc_list_max_channels",
        "50000",
        "Channels kept of one IRC server's channel list; the rest are left out and the "
        "list says it is `truncated`. At most 500000.",
    ),
    "SOCKETHUB_IRC_LIST_MAX_BYTES": (
        "irc_list_max_bytes",
        "16777216",
        "Bytes of names and topics kept of one IRC server's channel list (as for "
        "`SOCKETHUB_IRC_LIST_MAX_CHANNELS`). At most 268435456.",
    ),
    "SOCKETHUB_IRC_LIST_WAIT": (
        "irc_list_wait",
        "5",
        "Seconds a channel list query waits for a LIST in progress before it answers with "
        "what has arrived so far (`fetching: true`; ask again for the rest). At most 60.",
    ),
    "SOCKETHUB_XMPP_MAX_STANZA_BYTES": (
        "xmpp_max_stanza_bytes",
        "1048576",
        "Largest stanza taken from an XMPP server, and most bytes it may send that do not "
        "complete one (an endless tag, text between stanzas). More closes the stream with "
        "`protocol-error`.",
    ),
    "SOCKETHUB_XMPP_MAX_HELD_STANZAS": (
        "xmpp_max_held_stanzas",
        "500",
        "Stanzas an XMPP connection holds while its lost stream is being resumed "
        "(XEP-0198), to send once it is; past this a request fails with "
        "`upstream-unavailable` (try again once connected).",
    ),
    "SOCKETHUB_UPLOAD_MAX_BYTES": (
        "upload_max_bytes",
        "10485760",
        "Largest file a browser may upload through the gateway (XMPP HTTP upload, "
        "XEP-0363; the server's own limit applies too; at most 104857600). More is a "
        "`too-large` reply.",
    ),
    "SOCKETHUB_UPLOAD_MAX_PER_SESSION": (
        "upload_max_per_session",
        "4",
        "Uploads one session may have under way at once (asked for and not yet sent on or "
        "expired; at most 64): what Redis holds for one session is bounded by this times "
        "`SOCKETHUB_UPLOAD_MAX_BYTES`. More is a `rate-limited` reply.",
    ),
    "SOCKETHUB_UPLOAD_TTL": (
        "upload_ttl",
        "60",
        "Seconds a one-time upload URL stays valid once the upload request is answered "
        "(at most 600); later it is refused as expired.",
    ),
    "SOCKETHUB_UPLOAD_TIMEOUT": (
        "upload_timeout",
        "120",
        "Seconds for a worker to send one uploaded file on to the server's upload slot "
        "(at most 900); past it the upload fails with `upstream-timeout`.",
    ),
    "SOCKETHUB_XMPP_MAX_REMEMBERED_MESSAGES": (
        "xmpp_max_remembered_messages",
        "300",
        "Recent messages an XMPP connection remembers (ids, room stanza-ids, author, a "
        "short excerpt) and reaction sets it keeps, for replies, reactions (XEP-0444 sends "
        "whole sets) and retraction; the oldest are forgotten first, and a retraction of a "
        "message no longer remembered fails with `refused`.",
    ),
    "SOCKETHUB_XMPP_MAX_REACTIONS": (
        "xmpp_max_reactions",
        "50",
        "Distinct reactions (XEP-0444) one person's set for one message may hold: ours "
        "past it fails with `too-large`; from others, the rest of a set is ignored.",
    ),
    "SOCKETHUB_XMPP_MAX_AVATAR_BYTES": (
        "xmpp_max_avatar_bytes",
        "131072",
        "Largest avatar (XEP-0084, vCard-temp) a profile query returns as a `data:` URI; a "
        "larger one is left out and `xmpp:image-omitted` says so.",
    ),
    "SOCKETHUB_HISTORY_MAX_MESSAGES": (
        "history_max_messages",
        "1000",
        "Messages kept (sealed) per conversation of an IRC/XMPP connection for `query` "
        "history and search; the oldest go first. At most 100000; 0 keeps no history.",
    ),
    "SOCKETHUB_HISTORY_MAX_BYTES": (
        "history_max_bytes",
        "1048576",
        "Bytes of sealed messages kept per conversation of a connection (the oldest go "
        "first); at most 67108864.",
    ),
    "SOCKETHUB_HISTORY_MAX_CONVERSATIONS": (
        "history_max_conversations",
        "200",
        "Conversations (channels, rooms, private chats) whose history one connection keeps; "
        "past it the one quiet for longest is dropped. At most 10000.",
    ),
    "SOCKETHUB_XMPP_HISTORY_TIMEOUT": (
        "xmpp_history_timeout",
        "10",
        "Seconds an XMPP server has to answer one message archive (MAM, XEP-0313) query; "
        "past this the history query fails with `timeout`, and a gap recovery emits `gap`.",
    ),
    "SOCKETHUB_XMPP_GAP_MAX_MESSAGES": (
        "xmpp_gap_max_messages",
        "500",
        "Messages fetched from each XMPP archive (the account's, each joined room's) after a "
        "reconnect or a takeover, delivered as late events; what is past this is announced "
        "by a `gap` event instead.",
    ),
    "SOCKETHUB_FETCH_FRESH": (
        "fetch_fresh",
        "30",
        "Seconds a fetched feed or page is served from the shared cache without asking "
        "upstream (0: always revalidate with a conditional GET).",
    ),
    "SOCKETHUB_FETCH_CACHE_TTL": (
        "fetch_cache_ttl",
        "86400",
        "Seconds a cached feed or page is kept for conditional GETs.",
    ),
    "SOCKETHUB_FETCH_HOST_LIMIT": (
        "fetch_host_limit",
        "4",
        "Upstream requests in flight per host, across all workers.",
    ),
    "SOCKETHUB_FETCH_MAX_BYTES": (
        "fetch_max_bytes",
        "5242880",
        "Largest feed or page body fetched and cached, after decompression.",
    ),
    "SOCKETHUB_FETCH_TIMEOUT": (
        "fetch_timeout",
        "20",
        "Seconds for one upstream fetch, redirects included: connecting, TLS, headers and "
        "body together.",
    ),
    "SOCKETHUB_FETCH_CACHE_BYTES": (
        "fetch_cache_bytes",
        "268435456",
        "Bytes the shared feed and page cache may hold in Redis, all entries together "
        "(compressed); the entries stored longest ago are evicted first.",
    ),
    "SOCKETHUB_FEED_ITEMS": (
        "feed_items",
        "50",
        "Items in a feed reply when the request names no `limit` (the newest first).",
    ),
    "SOCKETHUB_FEED_MAX_ITEMS": (
        "feed_max_items",
        "100",
        "Largest `limit` a feed request may ask for; more is an `invalid-envelope` reply.",
    ),
    "SOCKETHUB_FEED_ITEM_MAX_CHARS": (
        "feed_item_max_chars",
        "8192",
        "Characters kept of each feed item's title, summary and content; longer ones are "
        "cut, end with `…` and the item says `truncated: true`.",
    ),
    "SOCKETHUB_FOLLOW_MIN_INTERVAL": (
        "follow_min_interval",
        "300",
        "Fewest seconds between two polls of a followed feed, whatever its history says "
        "(its `ttl`, `Cache-Control: max-age` and `skipHours` may make it longer).",
    ),
    "SOCKETHUB_FOLLOW_MAX_INTERVAL": (
        "follow_max_interval",
        "21600",
        "Most seconds between two polls of a followed feed (a feed's `ttl` or `max-age` "
        "asking for longer is cut to this).",
    ),
    "SOCKETHUB_FOLLOW_MAX_PER_SESSION": (
        "follow_max_per_session",
        "500",
        "Feeds one session may follow; one more is a `too-large` reply (unfollow some).",
    ),
    "SOCKETHUB_FOLLOW_MAX_FEEDS": (
        "follow_max_feeds",
        "100000",
        "Distinct feeds followed across the deployment; a follow of one more is a "
        "`too-large` reply.",
    ),
    "SOCKETHUB_FOLLOW_SEEN": (
        "follow_seen",
        "1000",
        "Item identities remembered per followed feed (at least three times the items the "
        "feed holds are kept): an item that falls out and comes back is sent again.",
    ),
    "SOCKETHUB_FOLLOW_POLLS": (
        "follow_polls",
        "16",
        "Polls of followed feeds one feeds worker process runs at once (each through the "
        "shared cache and the per-host limit).",
    ),
    "SOCKETHUB_PUBLIC_URL": (
        "public_url",
        "",
        "The gateway's public base URL (`https://hub.example.org`), as WebSub hubs reach "
        "it: followed feeds that name a hub are then subscribed there, with the callback "
        "`<this>/websub/<feed>`. Empty: followed feeds are only polled.",
    ),
    "SOCKETHUB_WEBSUB_LEASE": (
        "websub_lease",
        "86400",
        "Seconds of WebSub subscription asked of a hub; renewed at three quarters of "
        "what the hub grants.",
    ),
    "SOCKETHUB_DAV_ALLOW_HTTP": (
        "dav_allow_http",
        "false",
        "Let CalDAV/CardDAV credentials name an `http:` server (a LAN, tests); otherwise "
        "only `https:` is spoken to, on every request and redirect.",
    ),
    "SOCKETHUB_DAV_MAX_BYTES": (
        "dav_max_bytes",
        "10485760",
        "Largest answer read from a CalDAV/CardDAV server (one discovery, query or item), "
        "after decompression; more is a `too-large` reply.",
    ),
    "SOCKETHUB_DAV_TIMEOUT": (
        "dav_timeout",
        "15",
        "Seconds for one CalDAV/CardDAV request, redirects included (a verb makes two to four).",
    ),
    "SOCKETHUB_DAV_MAX_ITEMS": (
        "dav_max_items",
        "1000",
        "Events, tasks or contacts in one `query` reply; a calendar with more in the range "
        "is a `too-large` reply (narrow the range), contacts are cut to it.",
    ),
    "SOCKETHUB_DAV_MAX_OCCURRENCES": (
        "dav_max_occurrences",
        "500",
        "Occurrences of one recurring event or task listed in a `query` reply's range; "
        "past it the list is cut and the item says `occurrencesTruncated: true`.",
    ),
    "SOCKETHUB_TASK_TIME_LIMIT_GRACE": (
        "task_time_limit_grace",
        "10",
        "Seconds past a fetch task's soft time limit (its request's deadline) before the "
        "hard limit: the worker logs the stuck task, and a prefork child is killed.",
    ),
    "SOCKETHUB_READ_MARKERS_MAX": (
        "read_markers_max",
        "1000",
        "Conversations per upstream connection whose read marker and unread count are kept "
        "(at most 100000); past it the least recently active one is forgotten (its count "
        "reads 0).",
    ),
    "SOCKETHUB_READ_MARKER_IDS": (
        "read_marker_ids",
        "2000",
        "Ids of the latest incoming messages kept per upstream connection, so a read marker "
        "naming one knows what came after it (at most 100000); a marker naming an older id "
        "reads its conversation up to now.",
    ),
    "SOCKETHUB_VAPID_PRIVATE_KEY": (
        "vapid_private_key",
        "",
        "VAPID private key for Web Push (RFC 8292; base64url, raw 32 bytes or DER). Empty: "
        "push is off (`sockethub` makes a pair for local runs, kept in its data directory). "
        "docs/deployment.md.",
    ),
    "SOCKETHUB_VAPID_SUBJECT": (
        "vapid_subject",
        "mailto:admin@localhost",
        "VAPID `sub` claim: a `mailto:` or `https:` URL push services may use to reach the "
        "operator.",
    ),
    "SOCKETHUB_PUSH_MAX_SUBSCRIPTIONS": (
        "push_max_subscriptions",
        "4",
        "Browser push subscriptions one session may register (at most 32).",
    ),
    "SOCKETHUB_PUSH_COALESCE": (
        "push_coalesce",
        "30",
        "Seconds the messages of one conversation are gathered into one push, counted from "
        "the first (at most 3600).",
    ),
    "SOCKETHUB_PUSH_PREVIEW_CHARS": (
        "push_preview_chars",
        "80",
        "Characters of the message a push carries as its preview (at most 500; 0: none).",
    ),
    "SOCKETHUB_PUSH_PENDING_MAX": (
        "push_pending_max",
        "10000",
        "Pushes one worker process holds in their coalescing window at once (at most "
        "1000000); past it a new one is skipped and logged.",
    ),
    "SOCKETHUB_PUSH_TIMEOUT": (
        "push_timeout",
        "10",
        "Seconds one request to a push service may take.",
    ),
    "SOCKETHUB_LOG_LEVEL": ("log_level", "INFO", "Python logging level for every process."),
    "SOCKETHUB_LOG_FORMAT": (
        "log_format",
        "text",
        "`text`, or `json`: one JSON object per line (time, level, logger, message, and the "
        "session and request ids while a request is handled), gateway and workers.",
    ),
}

_BOOL = {
    "1": True,
    "true": True,
    "yes": True,
    "on": True,
    "0": False,
    "false": False,
    "no": False,
    "off": False,
    "": False,
}


@dataclass(frozen=True)
class Settings:
    redis_url: str = ""
    secret: str = ""
    secret_previous: str = ""
    host: str = "127.0.0.1"
    port: int = 10550
    platforms: tuple[str, ...] = ()
    request_timeout: float = 30.0
    unsent_grace: float = 2.0
    enqueue_batch: int = 32
    drain_seconds: float = 5.0
    resume_grace: float = 60.0
    keep_max: int = 604800
    kept_per_address: int = 10
    kept_sessions: int = 10000
    max_frame_bytes: int = 65536
    send_timeout: float = 30.0
    send_buffer_bytes: int = 262144
    ws_deflate: bool = True
    allowed_origins: tuple[str, ...] = ()
    sio_max_payload_bytes: int = 262144
    http_actions: bool = False
    http_require_request_id: bool = True
    http_max_messages: int = 20
    http_max_body_bytes: int = 262144
    http_timeout: float = 30.0
    http_idle_timeout: float = 15.0
    http_replay_ttl: float = 300.0
    http_replay_max_bytes: int = 1048576
    rate_limit: float = 50.0
    rate_burst: int = 100
    max_sockets_per_address: int = 100
    new_sessions_per_minute: int = 60
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    stream_maxlen: int = 2000
    stream_max_bytes: int = 4194304
    max_reply_bytes: int = 1048576
    redis_timeout: float = 10.0
    event_queue_max: int = 50000
    event_queue_bytes: int = 67108864
    allow_private_addresses: bool = False
    allowed_hosts: tuple[str, ...] = ()
    irc_flood_rate: float = 1.0
    irc_flood_burst: int = 4
    irc_ping_interval: float = 60.0
    order_gap_wait: float = 10.0
    lane_threads: int = 8
    lease_seconds: float = 15.0
    irc_webirc: tuple[str, ...] = ()
    upstream_max_connections: int = 5000
    upstream_max_per_source: int = 1000
    upstream_max_per_browser: int = 10
    upstream_connect_rate: float = 5.0
    upstream_connect_burst: int = 10
    upstream_pause: float = 30.0
    upstream_pause_max: float = 600.0
    irc_max_line_bytes: int = 512
    irc_max_tag_bytes: int = 8191
    irc_line_rate: float = 100.0
    irc_line_burst: int = 1000
    irc_max_names: int = 20000
    irc_max_channels: int = 1000
    irc_max_caps: int = 500
    irc_max_unsent_bytes: int = 262144
    irc_max_monitor: int = 100
    irc_max_batches: int = 64
    irc_batch_silence: float = 60.0
    irc_history_timeout: float = 10.0
    irc_gap_max_messages: int = 500
    irc_max_reply_lines: int = 1000
    irc_list_ttl: float = 300.0
    irc_list_max_channels: int = 50000
    irc_list_max_bytes: int = 16777216
    irc_list_wait: float = 5.0
    xmpp_max_stanza_bytes: int = 1048576
    xmpp_max_held_stanzas: int = 500
    upload_max_bytes: int = 10485760
    upload_max_per_session: int = 4
    upload_ttl: float = 60.0
    upload_timeout: float = 120.0
    xmpp_max_remembered_messages: int = 300
    xmpp_max_avatar_bytes: int = 131072
    xmpp_max_reactions: int = 50
    history_max_messages: int = 1000
    history_max_bytes: int = 1048576
    history_max_conversations: int = 200
    xmpp_history_timeout: float = 10.0
    xmpp_gap_max_messages: int = 500
    fetch_fresh: float = 30.0
    fetch_cache_ttl: float = 86400.0
    fetch_host_limit: int = 4
    fetch_max_bytes: int = 5242880
    fetch_timeout: float = 20.0
    fetch_cache_bytes: int = 268435456
    feed_items: int = 50
    feed_max_items: int = 100
    feed_item_max_chars: int = 8192
    follow_min_interval: float = 300.0
    follow_max_interval: float = 21600.0
    follow_max_per_session: int = 500
    follow_max_feeds: int = 100000
    follow_seen: int = 1000
    follow_polls: int = 16
    public_url: str = ""
    websub_lease: float = 86400.0
    dav_allow_http: bool = False
    dav_max_bytes: int = 10485760
    dav_timeout: float = 15.0
    dav_max_items: int = 1000
    dav_max_occurrences: int = 500
    task_time_limit_grace: float = 10.0
    read_markers_max: int = 1000
    read_marker_ids: int = 2000
    vapid_private_key: str = ""
    vapid_subject: str = "mailto:admin@localhost"
    push_max_subscriptions: int = 4
    push_coalesce: float = 30.0
    push_preview_chars: int = 80
    push_pending_max: int = 10000
    push_timeout: float = 10.0
    log_level: str = "INFO"
    log_format: str = "text"

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
    ) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        problems: list[str] = []
        types = {f.name: f.type for f in fields(cls)}
        for var, (attr, default, _meaning) in VARIABLES.items():
            raw = env.get(var, default).strip()
            kind = types[attr]
            try:
                values[attr] = _convert(raw, str(kind))
            except ValueError as exc:
                problems.append(f"{var}={raw!r}: {exc}")
        if values.get("log_format", "text") not in ("text", "json"):
            problems.append(f"SOCKETHUB_LOG_FORMAT={values['log_format']!r}: must be text or json")
        if problems:
            raise ConfigError("bad configuration: " + "; ".join(problems))
        settings = cls(**values)
        if overrides:
            settings = replace(settings, **dict(overrides))
        return settings

    def require(self, *attrs: str) -> None:
        """Fail naming every required variable that is empty."""
        names = {a: v for v, (a, _d, _m) in VARIABLES.items()}
        missing = [names[a] for a in attrs if not getattr(self, a)]
        if missing:
            raise ConfigError(f"missing configuration: set {', '.join(missing)}")
        if "secret" in attrs and len(self.secret) < 16:
            raise ConfigError("SOCKETHUB_SECRET must be at least 16 characters")
        if "secret" in attrs and self.secret_previous and len(self.secret_previous) < 16:
            raise ConfigError("SOCKETHUB_SECRET_PREVIOUS must be at least 16 characters")


def _convert(raw: str, kind: str) -> Any:
    if kind in ("int", "float"):
        try:
            value: int | float = int(raw) if kind == "int" else float(raw)
        except ValueError:
            raise ValueError(
                "must be a whole number" if kind == "int" else "must be a number"
            ) from None
        if value != value:
            raise ValueError("must be a number")
        if value < 0:  # a negative size, count or time has no meaning here
            raise ValueError("must not be negative")
        return value
    if kind == "bool":
        if raw.lower() not in _BOOL:
            raise ValueError("must be true or false")
        return _BOOL[raw.lower()]
    if kind.startswith("tuple"):
        return tuple(p.strip() for p in raw.split(",") if p.strip())
    return raw


def markdown_table() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for var, (_attr, default, meaning) in VARIABLES.items():
        rows.append(f"| `{var}` | {f'`{default}`' if default else '(empty)'} | {meaning} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())


def host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    """The operator's allowlist for servers named by browsers (empty: any)."""
    if not allowed:
        return True
    host = host.lower().rstrip(".")
    for entry in allowed:
        entry = entry.lower().rstrip(".")
        if entry.startswith("*.") and (host.endswith(entry[1:]) or host == entry[2:]):
            return True
        if host == entry:
            return True
    return False
