"""Request activities → the IRC lines that carry them out (without CR LF).

One function per verb, and ``to_irc`` to pick by the activity's ``type``. Every value
that reaches a line is checked first: CR, LF and NUL are refused (they would end the
line and let a browser inject commands), channel names must look like channel names
(RFC 2812 §1.3) and nicknames like nicknames (RFC 2812 §2.3.1). Refusals are
``InvalidEnvelope`` errors that name the field.

    join        JOIN <#chan>
    leave       PART <#chan> [:<object.content>]
    send        PRIVMSG|NOTICE <#chan|nick> :<text>, split to fit 512 bytes;
                "/me x" or object.type "me" → CTCP ACTION; "/notice x" or "notice" → NOTICE;
                object.inReplyTo → @+draft/reply=<id> on each line (with message-tags)
    typing      @+typing=active|paused|done TAGMSG <#chan|nick>
    react       @+draft/reply=<id>;+draft/react=<emoji> TAGMSG <#chan|nick> (unreact: remove)
    delete      REDACT <#chan|nick> <id> (draft/message-redaction)
    update      address: NICK <target.name>    topic: TOPIC <#chan> :<object.content>
                presence: AWAY :<object.content> (away, xa, dnd), AWAY (online, chat)
                profile: SETNAME :<object.realName> (IRCv3 setname)
    query       attendance: NAMES <#chan> (never a bare NAMES: it lists the whole network)
                presence: MONITOR + <nick>, or MONITOR - <nick> with ``watch: false``
    disconnect  QUIT [:<object.content>]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from envelopes.errors import InvalidEnvelope, UnknownVerb

from .ids import CHANNEL_PREFIXES, is_channel, name_of
from .lines import MAX_LINE_BYTES, check_value, split_text
from .tags import TYPING_TO_IRC, with_tags

__all__ = [
    "channel_name",
    "conversation",
    "delete_lines",
    "disconnect_lines",
    "join_lines",
    "leave_lines",
    "monitor_line",
    "nick_name",
    "presence_line",
    "query_lines",
    "react_lines",
    "send_lines",
    "typing_lines",
    "to_irc",
    "update_lines",
]

Activity = Mapping[str, Any]

# RFC 2812 §2.3.1: nickname = ( letter / special ) *( letter / digit / special / "-" ),
# special = "[", "]", "\", "`", "_", "^", "{", "|", "}". Length is the server's business.
_NICK = re.compile(r"[A-Za-z\[\]\\`_^{|}][A-Za-z0-9\[\]\\`_^{|}-]*")
# RFC 2812 §1.3: no space, BELL, comma or colon in a channel name; at most 50 characters.
_CHANNEL_FORBIDDEN = frozenset(" \x07,:")
_CHANNEL_MAX = 50
_ACTION_WRAP = len("\x01ACTION \x01")


def _part(activity: Activity, field: str) -> Mapping[str, Any]:
    value = activity.get(field)
    if not isinstance(value, Mapping):
        raise InvalidEnvelope(f"{field} is required", path=field)
    return value


def _content(activity: Activity, *, required: bool) -> str | None:
    obj = activity.get("object")
    content = obj.get("content") if isinstance(obj, Mapping) else None
    if content is None or content == "":
        if required:
            raise InvalidEnvelope("object.content must not be empty", path="object.content")
        return None
    if not isinstance(content, str):
        raise InvalidEnvelope("object.content must be a string", path="object.content")
    check_value("object.content", content)
    return content


def channel_name(activity: Activity, field: str = "target") -> str:
    """The channel an activity's ``field`` names, checked."""
    name, path = name_of(_part(activity, field), field)
    check_value(path, name)
    if not is_channel(name):
        raise InvalidEnvelope(
            f"IRC channel names must start with {', '.join(CHANNEL_PREFIXES)} ({path})",
            path=path,
        )
    if len(name) > _CHANNEL_MAX or any(ch in _CHANNEL_FORBIDDEN for ch in name):
        raise InvalidEnvelope(
            f"not a valid IRC channel name: at most {_CHANNEL_MAX} characters, "
            f"no space, comma, colon or BELL ({path})",
            path=path,
        )
    return name


def nick_name(activity: Activity, field: str = "target") -> str:
    """The nickname an activity's ``field`` names, checked."""
    name, path = name_of(_part(activity, field), field)
    check_value(path, name)
    if not _NICK.fullmatch(name):
        raise InvalidEnvelope(f"not a valid IRC nickname: {name!r} ({path})", path=path)
    return name


def _fits(line: str, path: str) -> str:
    if len(line.encode("utf-8")) > MAX_LINE_BYTES - 2:  # RFC 2812 §2.3, CR LF included
        raise InvalidEnvelope(
            f"{path} is too long for one IRC line ({MAX_LINE_BYTES} bytes)", path=path
        )
    return line


def join_lines(activity: Activity) -> list[str]:
    return [f"JOIN {channel_name(activity)}"]


def leave_lines(activity: Activity) -> list[str]:
    line = f"PART {channel_name(activity)}"
    reason = _content(activity, required=False)
    return [_fits(f"{line} :{reason}", "object.content") if reason else line]


def conversation(activity: Activity) -> str:
    """The channel or nick ``target`` names, checked."""
    target = _part(activity, "target")
    return channel_name(activity) if target.get("type") == "room" else nick_name(activity)


def _msgid(activity: Activity, key: str) -> str:
    value = _part(activity, "object").get(key)
    path = f"object.{key}"
    if not isinstance(value, str) or not value:
        raise InvalidEnvelope(f"{path} must name a message id", path=path)
    check_value(path, value)
    if " " in value:
        raise InvalidEnvelope(f"{path} must not contain spaces", path=path)
    return value


def send_lines(
    activity: Activity, *, nick: str, user: str = "~u", host_len: int = 63, tags: bool = True
) -> list[str]:
    """PRIVMSG/NOTICE lines for a ``send``; ``nick``/``user``/``host_len`` size the split
    (see ``split_text``): pass our current nick and the ident the server shows. ``tags``:
    the server takes message-tags, so a reply carries ``+draft/reply`` (without them a
    reply is sent as a plain message)."""
    name = conversation(activity)
    text = _content(activity, required=True) or ""
    obj = activity.get("object")
    reply: dict[str, str] = {}
    if isinstance(obj, Mapping) and obj.get("inReplyTo") is not None:
        reply = {"+draft/reply": _msgid(activity, "inReplyTo")}
    if not tags:
        reply = {}
    kind = obj.get("type") if isinstance(obj, Mapping) else None
    command, action = "PRIVMSG", kind == "me"
    # Sockethub's text commands, kept for apps written against it.
    if text.startswith("/me "):
        text, action = text[4:], True
    elif text.startswith("/notice "):
        text, command, action = text[8:], "NOTICE", False
    elif kind == "notice":
        command = "NOTICE"
    if not text:
        raise InvalidEnvelope("object.content must not be empty", path="object.content")
    try:
        chunks = split_text(
            text, command, name, nick, user, host_len, reserve=_ACTION_WRAP if action else 0
        )
    except ValueError as exc:
        raise InvalidEnvelope(f"target.name is too long: {exc}", path="target.name") from exc
    if action:  # CTCP ACTION (draft-oakley-irc-ctcp): \x01ACTION text\x01
        chunks = [f"\x01ACTION {chunk}\x01" for chunk in chunks]
    return [with_tags(reply, f"{command} {name} :{chunk}", "object.inReplyTo") for chunk in chunks]


def typing_lines(activity: Activity) -> list[str]:
    """A ``+typing`` TAGMSG (IRCv3 typing client tag) for the shared typing shape."""
    name = conversation(activity)
    state = _part(activity, "object").get("state")
    if state not in TYPING_TO_IRC:
        raise InvalidEnvelope(f"unknown typing state: {state}", path="object.state")
    return [with_tags({"+typing": TYPING_TO_IRC[state]}, f"TAGMSG {name}", "object.state")]


def react_lines(activity: Activity) -> list[str]:
    """A reaction (``+draft/react``, or ``+draft/unreact`` to take it back) to a message,
    which ``+draft/reply`` names, as the react spec requires."""
    name = conversation(activity)
    obj = _part(activity, "object")
    msgid = _msgid(activity, "inReplyTo")
    emoji = obj.get("content")
    if not isinstance(emoji, str) or not emoji:
        raise InvalidEnvelope("object.content must be the reaction", path="object.content")
    check_value("object.content", emoji)
    verb = "+draft/unreact" if obj.get("remove") is True else "+draft/react"
    return [with_tags({"+draft/reply": msgid, verb: emoji}, f"TAGMSG {name}", "object.content")]


def delete_lines(activity: Activity) -> list[str]:
    """``REDACT <target> <msgid>`` (IRCv3 draft/message-redaction)."""
    return [f"REDACT {conversation(activity)} {_msgid(activity, 'id')}"]


def update_lines(activity: Activity) -> list[str]:
    obj = activity.get("object")
    kind = obj.get("type") if isinstance(obj, Mapping) else None
    if kind == "address":
        return [f"NICK {nick_name(activity)}"]
    if kind == "topic":
        channel = channel_name(activity)
        topic = _content(activity, required=False) or ""  # empty clears the topic
        return [_fits(f"TOPIC {channel} :{topic}", "object.content")]
    if kind == "presence":
        return [presence_line(activity)]
    if kind == "profile":
        name = obj.get("realName") if isinstance(obj, Mapping) else None
        if not isinstance(name, str) or not name:
            raise InvalidEnvelope("object.realName is required", path="object.realName")
        check_value("object.realName", name)
        return [_fits(f"SETNAME :{name}", "object.realName")]
    raise InvalidEnvelope(f"unknown update action: {kind}", path="object.type")


# The shared presence states (docs/protocol.md); IRC has two: here, or away with a text.
_HERE, _AWAY = ("online", "chat"), ("away", "xa", "dnd")


def presence_line(activity: Activity) -> str:
    """``AWAY :text`` or ``AWAY`` (back) for an ``update`` of our presence (RFC 2812 §4.1)."""
    obj = activity.get("object")
    state = obj.get("presence") if isinstance(obj, Mapping) else None
    if state in _HERE:
        return "AWAY"
    if state not in _AWAY:
        raise InvalidEnvelope(
            f"IRC presence is one of {', '.join(_HERE + _AWAY)} (offline: disconnect)",
            path="object.presence",
        )
    # An empty AWAY means "back": an away needs words, so say which away it is.
    text = _content(activity, required=False) or {"xa": "extended away", "dnd": "busy"}.get(
        str(state), "away"
    )
    return _fits(f"AWAY :{text}", "object.content")


def monitor_line(activity: Activity) -> str:
    """``MONITOR + nick`` (or ``-`` with ``object.watch`` false): IRCv3 Monitor."""
    obj = activity.get("object")
    watch = obj.get("watch", True) if isinstance(obj, Mapping) else True
    return f"MONITOR {'+' if watch is not False else '-'} {nick_name(activity)}"


def query_lines(activity: Activity) -> list[str]:
    obj = activity.get("object")
    kind = obj.get("type") if isinstance(obj, Mapping) else None
    if kind != "attendance":
        raise InvalidEnvelope(f"unknown query type: {kind}", path="object.type")
    return [f"NAMES {channel_name(activity)}"]


def disconnect_lines(activity: Activity) -> list[str]:
    reason = _content(activity, required=False)
    return [_fits(f"QUIT :{reason}", "object.content")] if reason else ["QUIT"]


_SIMPLE: dict[str, Callable[[Activity], list[str]]] = {
    "join": join_lines,
    "leave": leave_lines,
    "update": update_lines,
    "query": query_lines,
    "disconnect": disconnect_lines,
    "typing": typing_lines,
    "react": react_lines,
    "delete": delete_lines,
}


def to_irc(activity: Activity, *, nick: str, user: str = "~u", host_len: int = 63) -> list[str]:
    """The lines for ``activity`` by its ``type``; ``connect`` has none (it is a dial)."""
    verb = str(activity.get("type", ""))
    if verb == "send":
        return send_lines(activity, nick=nick, user=user, host_len=host_len)
    build = _SIMPLE.get(verb)
    if build is None:
        raise UnknownVerb(f"platform type {verb} has no IRC lines")
    return build(activity)
