"""Incoming IRCv3 lines about people → ActivityStreams 2.0 (``translate`` calls these).

Pure, like ``translate``: the only memory is the ``IrcContext`` (who is known to be away,
the people we watch with MONITOR). Each is sent by the server only when we asked for its
capability (``caps``), so a server without them sends none of these::

    AWAY (away-notify)   update  actor person+  target us  object {presence, away|online, content}
    301 RPL_AWAY         update  (the same, for the person a message or WHOIS went to)
    352 RPL_WHOREPLY     update  presence away, for a member WHO shows as gone (G) that we
                                 did not know was away (we send WHO on joining, with away-notify)
    ACCOUNT              update  actor person+  target us  object {profile, account: name|null}
    CHGHOST              update  actor person+  target us  object {profile, host: "user@host"}
    SETNAME              update  actor person+  target us  object {profile, realName}
    INVITE               invite  actor inviter  target invitee  object room
    730/731 (MONITOR)    update  actor person   target us  object {presence, online|offline}
    734 ERR_MONLISTFULL  IrcError monitor-list-full

``person+`` is the person with what the line says of them (``actor_of``): ``host``
(``user@host``), ``account`` (the ``account`` tag, IRCv3 account-tag) and, on an
extended-join JOIN, ``realName``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..session.activity import activity
from .context import IrcContext
from .ids import person, room
from .lines import Message
from .numerics import IrcError

__all__ = ["HANDLERS", "actor_of", "presence_object"]

Result = dict[str, Any] | IrcError


def actor_of(msg: Message, ctx: IrcContext, *, host: bool = True) -> dict[str, Any]:
    """The person who sent ``msg``, with their host and services account where known."""
    actor: dict[str, Any] = person(msg.nick or "", ctx.server)
    if host and msg.user and msg.host:
        actor["host"] = f"{msg.user}@{msg.host}"
    account = msg.tags.get("account")
    if account and account != "*":  # IRCv3 account-tag: absent when not logged in
        actor["account"] = account
    return actor


def presence_object(state: str, content: str | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {"type": "presence", "presence": state}
    if content:
        obj["content"] = content
    return obj


def _event(
    verb: str, actor: dict[str, Any], obj: dict[str, Any], msg: Message, ctx: IrcContext
) -> dict[str, Any]:
    us = person(ctx.nick, ctx.server)
    return activity("irc", verb, actor, us, obj, msg.tags.get("time"))


def _away(msg: Message, ctx: IrcContext) -> list[Result]:
    if not msg.nick or ctx.is_me(msg.nick):
        return []  # ours is the reply to our own ``update``
    text = msg.params[0] if msg.params and msg.params[0] else None
    ctx.set_away(msg.nick, text)
    obj = presence_object("away" if text else "online", text)
    return [_event("update", actor_of(msg, ctx), obj, msg, ctx)]


def _rpl_away(msg: Message, ctx: IrcContext) -> list[Result]:  # 301 <me> <nick> :<text>
    if len(msg.params) < 3:
        return []
    nick, text = msg.params[1], msg.params[2]
    if ctx.away_of(nick) == text:
        return []  # known already: a 301 for every message to them would be noise
    ctx.set_away(nick, text or "away")
    obj = presence_object("away", text)
    return [_event("update", person(nick, ctx.server), obj, msg, ctx)]


def _rpl_whoreply(msg: Message, ctx: IrcContext) -> list[Result]:
    # 352 <me> <channel> <user> <host> <server> <nick> <H|G>[*][@+] :<hops> <realname>
    if len(msg.params) < 7:
        return []
    nick, flags = msg.params[5], msg.params[6]
    if ctx.is_me(nick):
        return []
    if not flags.startswith("G"):
        ctx.set_away(nick, None)
        return []
    if ctx.away_of(nick) is not None:
        return []
    ctx.set_away(nick, "")  # away, the message unknown (WHO does not say it)
    actor: dict[str, Any] = person(nick, ctx.server)
    actor["host"] = f"{msg.params[2]}@{msg.params[3]}"
    return [_event("update", actor, presence_object("away"), msg, ctx)]


def _account(msg: Message, ctx: IrcContext) -> list[Result]:
    if not msg.nick or not msg.params:
        return []
    name = msg.params[0]
    actor = actor_of(msg, ctx)
    actor.pop("account", None)
    if name != "*":
        actor["account"] = name
    obj = {"type": "profile", "account": None if name == "*" else name}
    return [_event("update", actor, obj, msg, ctx)]


def _chghost(msg: Message, ctx: IrcContext) -> list[Result]:
    if not msg.nick or len(msg.params) < 2:
        return []
    new = f"{msg.params[0]}@{msg.params[1]}"
    actor = actor_of(msg, ctx)
    actor["host"] = new
    return [_event("update", actor, {"type": "profile", "host": new}, msg, ctx)]


def _setname(msg: Message, ctx: IrcContext) -> list[Result]:
    if not msg.nick or not msg.params:
        return []
    actor = actor_of(msg, ctx)
    actor["realName"] = msg.params[-1]
    return [_event("update", actor, {"type": "profile", "realName": msg.params[-1]}, msg, ctx)]


def _invite(msg: Message, ctx: IrcContext) -> list[Result]:
    # ":inviter INVITE <invitee> <channel>": to us always, to others with invite-notify.
    if not msg.nick or len(msg.params) < 2:
        return []
    invitee, channel = person(msg.params[0], ctx.server), room(msg.params[1], ctx.server)
    return [activity("irc", "invite", actor_of(msg, ctx), invitee, channel, msg.tags.get("time"))]


def _monitor(state: str) -> Callable[[Message, IrcContext], list[Result]]:
    def handle(msg: Message, ctx: IrcContext) -> list[Result]:
        # 730 <me> :nick!user@host[,...]   731 <me> :nick[,...]
        out: list[Result] = []
        for entry in (msg.params[-1] if msg.params else "").split(","):
            nick, _, host = entry.partition("!")
            if not nick:
                continue
            ctx.watched_state(nick, state)
            actor: dict[str, Any] = person(nick, ctx.server)
            if host:
                actor["host"] = host
            out.append(_event("update", actor, presence_object(state), msg, ctx))
        return out

    return handle


def _monlistfull(msg: Message, ctx: IrcContext) -> list[Result]:
    # 734 <me> <limit> <targets> :Monitor list is full.
    limit = msg.params[1] if len(msg.params) > 2 else "?"
    targets = msg.params[2] if len(msg.params) > 3 else None
    text = msg.params[-1] if msg.params else ""
    message = f"the server's MONITOR list is full (at most {limit} people)"
    return [IrcError("monitor-list-full", "734", message, targets, text)]


HANDLERS: dict[str, Callable[[Message, IrcContext], list[Result]]] = {
    "AWAY": _away,
    "301": _rpl_away,
    "352": _rpl_whoreply,
    "ACCOUNT": _account,
    "CHGHOST": _chghost,
    "SETNAME": _setname,
    "INVITE": _invite,
    "730": _monitor("online"),
    "731": _monitor("offline"),
    "734": _monlistfull,
}
