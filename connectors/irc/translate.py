"""Incoming IRC → ActivityStreams 2.0: one parsed message in, zero or more results out.

Pure: no socket, no clock, no Celery. The only memory is an ``IrcContext`` per
connection, which the translator keeps up to date itself (our nick after 001 and NICK,
the joined channels, what RPL_ISUPPORT announced, NAMES replies until RPL_ENDOFNAMES, a
topic until its RPL_TOPICWHOTIME). Ids follow ``connectors.irc.ids``.

Shapes (``@context`` is always the IRC one; ``published`` comes from the IRCv3
``server-time`` tag when present; ``object.id`` from the ``msgid`` tag)::

    PRIVMSG         send    actor person   target room|person  object {message|me, content}
                    (+draft/reply tag → object.inReplyTo)
    TAGMSG +typing  typing  actor person   target room|person  object {typing, state}
    TAGMSG +draft/react|unreact  react  actor person  target room|person
                            object {reaction, inReplyTo, content, remove?}
    REDACT          delete  actor person   target room|person  object {message, id}
    NOTICE          send    actor person|service (server prefix)  object {notice, content}
    JOIN            join    actor person (+account, realName, host with extended-join)  target room
    PART            leave   actor person   target room     object {message, content: reason}
    QUIT            leave   actor person   target service  object {message, content: reason}
    KICK            leave   actor kicked   target room     object {kick, content, by: person}
    NICK            update  actor old      target new      object {address}
    TOPIC/331/332   update  actor person|service|setter  target room  object {topic, content}
    353…366         query   actor room     target us       object {attendance, members, roles,
                            allRoles? (multi-prefix), hosts? (userhost-in-names), away?}
    AWAY, ACCOUNT, CHGHOST, SETNAME, INVITE, 301, 352, MONITOR's 730/731/734: ``people``
    MODE ±q/a/o/h/v add|remove  actor setter  target person
                            object {relationship, relationship: role, role, object: room}
    other MODE/324  update  actor setter|service  target room  object {mode, content: "+nt"}

The way back, a request activity → IRC lines, is ``outbound.to_irc`` (re-exported here).

Numeric errors become ``IrcError`` values instead (the connector fails the pending
request with ``IrcError.exception()`` or emits them). Everything else (PING, MOTD,
statistics, CTCP other than ACTION, user modes) gives no result.

332 is held until the next line so that a following 333 can name the setter; call
``flush`` when a batch of received lines is done (e.g. ``loop.call_soon`` from the
handler) so a 332 without a 333 is not held back.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ..session.activity import activity
from .context import ROLE_BY_MODE, IrcContext
from .ids import is_channel, person, room, service
from .lines import Message
from .names import rpl_endofnames, rpl_namreply
from .numerics import ERRORS, IrcError, numeric_error
from .outbound import to_irc
from .people import HANDLERS as PEOPLE_HANDLERS
from .people import actor_of
from .states import CONNECTION_STATES, connection_event
from .tags import signal

__all__ = [
    "Activity",
    "CONNECTION_STATES",
    "IrcContext",
    "IrcError",
    "Result",
    "connection_event",
    "flush",
    "to_irc",
    "translate",
]

Activity = dict[str, Any]
Result = Activity | IrcError


def _activity(
    verb: str,
    actor: dict[str, str],
    target: dict[str, str] | None,
    obj: dict[str, Any] | None,
    msg: Message,
    published: str | None = None,
) -> Activity:
    # IRCv3 server-time: when the server says the message happened (replayed history).
    return activity("irc", verb, actor, target, obj, published or msg.tags.get("time"))


def _source(msg: Message, ctx: IrcContext) -> dict[str, Any]:
    if not msg.nick:
        return service(ctx.server)
    # IRCv3 account-tag: the sender's services account, on whatever they send.
    return actor_of(msg, ctx, host=False) if "account" in msg.tags else person(msg.nick, ctx.server)


def _to(name: str, ctx: IrcContext) -> dict[str, str]:
    """A PRIVMSG/NOTICE target as an entity."""
    # STATUSMSG (e.g. "@#chan", only to its operators) is still that channel.
    bare = name.lstrip("".join(ctx.prefixes))
    if bare != name and is_channel(bare, ctx.chantypes):
        name = bare
    if is_channel(name, ctx.chantypes):
        return room(name, ctx.server)
    if name in ("*", "AUTH"):  # before registration servers address us as "*"
        name = ctx.nick
    return person(name, ctx.server)


def _message(msg: Message, ctx: IrcContext) -> list[Result]:
    if len(msg.params) < 2:
        return []
    text = msg.params[1]
    kind = "message" if msg.command == "PRIVMSG" else "notice"
    if text.startswith("\x01"):
        # CTCP: \x01VERB args\x01, the closing \x01 is often missing. Only ACTION is chat;
        # other queries (VERSION, PING) and every CTCP in a NOTICE (replies) are not.
        verb, _, rest = text[1:].rstrip("\x01").partition(" ")
        if kind != "message" or verb.upper() != "ACTION":
            return []
        kind, text = "me", rest
    obj: dict[str, Any] = {"type": kind, "content": text}
    if "msgid" in msg.tags:
        obj["id"] = msg.tags["msgid"]
    if msg.tags.get("+draft/reply"):
        obj["inReplyTo"] = msg.tags["+draft/reply"]
    return [_activity("send", _source(msg, ctx), _to(msg.params[0], ctx), obj, msg)]


def _tagmsg(msg: Message, ctx: IrcContext) -> list[Result]:
    """IRCv3 TAGMSG: a message of tags only (typing, reactions; ``tags.signal``)."""
    found = signal(msg.tags) if msg.params and msg.nick else None
    if found is None:
        return []
    verb, obj = found
    return [_activity(verb, _source(msg, ctx), _to(msg.params[0], ctx), obj, msg)]


def _join(msg: Message, ctx: IrcContext) -> list[Result]:
    if not msg.params or not msg.nick:
        return []
    channel = msg.params[0]
    if ctx.is_me(msg.nick):
        ctx.enter(channel)
    who: dict[str, Any] = person(msg.nick, ctx.server)
    if len(msg.params) >= 3:  # IRCv3 extended-join: "JOIN #chan <account|*> :<real name>"
        who = actor_of(msg, ctx)
        who.pop("account", None)
        if msg.params[1] != "*":
            who["account"] = msg.params[1]
        who["realName"] = msg.params[2]
    elif "account" in msg.tags:
        who = actor_of(msg, ctx, host=False)
    return [_activity("join", who, room(channel, ctx.server), None, msg)]


def _part(msg: Message, ctx: IrcContext) -> list[Result]:
    if not msg.params or not msg.nick:
        return []
    channel = msg.params[0]
    reason = msg.params[1] if len(msg.params) > 1 and msg.params[1] else None
    if ctx.is_me(msg.nick):
        ctx.leave(channel)
    obj = {"type": "message", "content": reason or "user has left the channel"}
    return [_activity("leave", _source(msg, ctx), room(channel, ctx.server), obj, msg)]


def _quit(msg: Message, ctx: IrcContext) -> list[Result]:
    if not msg.nick:
        return []
    reason = msg.params[0] if msg.params and msg.params[0] else None
    ctx.set_away(msg.nick, None)
    obj = {"type": "message", "content": reason or "user has quit"}
    return [_activity("leave", _source(msg, ctx), service(ctx.server), obj, msg)]


def _kick(msg: Message, ctx: IrcContext) -> list[Result]:
    if len(msg.params) < 2:
        return []
    channel, victim = msg.params[0], msg.params[1]
    reason = msg.params[2] if len(msg.params) > 2 and msg.params[2] else "user was kicked"
    if ctx.is_me(victim):
        ctx.leave(channel)
    obj = {"type": "kick", "content": reason, "by": _source(msg, ctx)}
    return [_activity("leave", person(victim, ctx.server), room(channel, ctx.server), obj, msg)]


def _nick(msg: Message, ctx: IrcContext) -> list[Result]:
    if not msg.params or not msg.nick:
        return []
    new = msg.params[0]
    if ctx.is_me(msg.nick):
        ctx.nick = new
    ctx.rename(msg.nick, new)
    old_p, new_p = person(msg.nick, ctx.server), person(new, ctx.server)
    return [_activity("update", old_p, new_p, {"type": "address"}, msg)]


def _topic_update(
    channel: str,
    topic: str,
    actor: dict[str, str],
    ctx: IrcContext,
    msg: Message,
    when: str | None = None,
) -> Activity:
    obj = {"type": "topic", "content": topic}
    return _activity("update", actor, room(channel, ctx.server), obj, msg, when)


def _topic(msg: Message, ctx: IrcContext) -> list[Result]:
    if len(msg.params) < 2:
        return []
    return [_topic_update(msg.params[0], msg.params[1], _source(msg, ctx), ctx, msg)]


def _rpl_notopic(msg: Message, ctx: IrcContext) -> list[Result]:  # 331
    if len(msg.params) < 2:
        return []
    return [_topic_update(msg.params[1], "", service(ctx.server), ctx, msg)]


def _rpl_topic(msg: Message, ctx: IrcContext) -> list[Result]:  # 332: wait for 333
    if len(msg.params) < 3:
        return []
    ctx.topics[ctx.fold(msg.params[1])] = (msg.params[1], msg.params[2])
    return []


def _rpl_topicwhotime(msg: Message, ctx: IrcContext) -> list[Result]:  # 333
    if len(msg.params) < 3:
        return []
    pending = ctx.topics.pop(ctx.fold(msg.params[1]), None)
    if pending is None:
        return []
    setter = msg.params[2].partition("!")[0]  # "nick" or "nick!user@host"
    when = None
    if len(msg.params) > 3 and msg.params[3].isdigit() and int(msg.params[3]) > 0:
        stamp = datetime.fromtimestamp(int(msg.params[3]), UTC)
        when = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    actor = person(setter, ctx.server) if setter else service(ctx.server)
    return [_topic_update(pending[0], pending[1], actor, ctx, msg, when)]


def flush(ctx: IrcContext, *, keep: str | None = None) -> list[Result]:
    """Emit topics (332) still waiting for a 333; ``keep`` one (folded channel) waiting."""
    out: list[Result] = []
    for key in [k for k in ctx.topics if k != keep]:
        channel, topic = ctx.topics.pop(key)
        out.append(_topic_update(channel, topic, service(ctx.server), ctx, Message("332")))
    return out


def _mode(msg: Message, ctx: IrcContext) -> list[Result]:
    if len(msg.params) < 2 or not is_channel(msg.params[0], ctx.chantypes):
        return []  # user modes are nobody else's business
    return _mode_changes(msg.params[0], msg.params[1], msg.params[2:], _source(msg, ctx), ctx, msg)


def _rpl_channelmodeis(msg: Message, ctx: IrcContext) -> list[Result]:  # 324
    if len(msg.params) < 3:
        return []
    return _mode_changes(
        msg.params[1], msg.params[2], msg.params[3:], service(ctx.server), ctx, msg
    )


def _mode_changes(
    channel: str,
    modes: str,
    args: list[str],
    setter: dict[str, str],
    ctx: IrcContext,
    msg: Message,
) -> list[Result]:
    """RFC 2812 §3.2.3 mode string → role changes and one ``update`` for the rest."""
    list_modes, always, when_set, _never = ctx.chanmodes
    role_modes = set(ctx.prefixes.values())
    pending = iter(args)
    out: list[Result] = []
    other: list[tuple[str, str, str | None]] = []
    sign = "+"
    for ch in modes:
        if ch in "+-":
            sign = ch
        elif ch in role_modes:
            nick = next(pending, None)
            if nick and ch in ROLE_BY_MODE:
                obj = {
                    "type": "relationship",
                    "relationship": "role",
                    "role": ROLE_BY_MODE[ch],
                    "object": room(channel, ctx.server),
                }
                verb = "add" if sign == "+" else "remove"
                out.append(_activity(verb, setter, person(nick, ctx.server), obj, msg))
        elif ch in list_modes or ch in always or (ch in when_set and sign == "+"):
            other.append((sign, ch, next(pending, None)))
        else:
            other.append((sign, ch, None))
    if other:
        text, params, last = "", [], ""
        for s, ch, arg in other:
            text += (s if s != last else "") + ch
            last = s
            if arg is not None:
                params.append(arg)
        obj = {"type": "mode", "content": " ".join([text, *params])}
        out.append(_activity("update", setter, room(channel, ctx.server), obj, msg))
    return out


def _rpl_welcome(msg: Message, ctx: IrcContext) -> list[Result]:  # 001
    if msg.params:
        ctx.nick = msg.params[0]  # the server may have truncated or changed what we asked
    return []


def _rpl_isupport(msg: Message, ctx: IrcContext) -> list[Result]:  # 005
    ctx.apply_isupport(msg.params[1:-1])
    return []


def _error(msg: Message, ctx: IrcContext) -> list[Result]:
    error = numeric_error(msg, ctx.chantypes)
    return [error] if error is not None else []


def _redact(msg: Message, ctx: IrcContext) -> list[Result]:
    """IRCv3 draft/message-redaction: ``REDACT <target> <msgid> [:reason]``."""
    if len(msg.params) < 2 or not msg.nick:
        return []
    obj = {"type": "message", "id": msg.params[1]}
    return [_activity("delete", _source(msg, ctx), _to(msg.params[0], ctx), obj, msg)]


_HANDLERS: dict[str, Callable[[Message, IrcContext], list[Result]]] = {
    "PRIVMSG": _message,
    "NOTICE": _message,
    "TAGMSG": _tagmsg,
    "REDACT": _redact,
    "JOIN": _join,
    "PART": _part,
    "QUIT": _quit,
    "KICK": _kick,
    "NICK": _nick,
    "TOPIC": _topic,
    "MODE": _mode,
    "001": _rpl_welcome,
    "005": _rpl_isupport,
    "324": _rpl_channelmodeis,
    "331": _rpl_notopic,
    "332": _rpl_topic,
    "333": _rpl_topicwhotime,
    "353": rpl_namreply,
    "366": rpl_endofnames,
    **PEOPLE_HANDLERS,
    **{numeric: _error for numeric in ERRORS},
}


def translate(msg: Message, ctx: IrcContext) -> list[Result]:
    """One incoming message → activities and/or ``IrcError``s, updating ``ctx``."""
    keep = None
    if msg.command == "333" and len(msg.params) > 1:
        keep = ctx.fold(msg.params[1])
    out = flush(ctx, keep=keep) if ctx.topics else []
    handler = _HANDLERS.get(msg.command)
    if handler is not None:
        out.extend(handler(msg, ctx))
    return out
