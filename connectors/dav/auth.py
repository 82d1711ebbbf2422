"""HTTP authentication for DAV servers: Basic (RFC 7617), Digest (RFC 7616), Bearer (RFC 6750).

With a username and password the first request goes out bare and the server's 401 says
what it takes (``WWW-Authenticate``): Digest is preferred over Basic, because Basic sends
the password itself on every request. Digest is MD5, MD5-sess, SHA-256 or SHA-256-sess,
with ``qop=auth`` or no qop (RFC 2069 servers); ``auth-int`` only and ``userhash`` are
refused as unsupported. A token is sent as ``Bearer`` from the first request on.

Pure functions and one small class; no network here.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Iterable

__all__ = ["Challenge", "Digest", "basic", "choose", "parse_challenges"]

Challenge = tuple[str, dict[str, str]]  # (scheme in lower case, its parameters)

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_BARE = re.compile(r"[^,\s]*")
_HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


def parse_challenges(values: Iterable[str]) -> list[Challenge]:
    """Every challenge of every ``WWW-Authenticate`` header (RFC 9110 §11.6.1): one header
    may hold several, e.g. ``Digest realm="x", nonce="y", Basic realm="x"``."""
    out: list[Challenge] = []
    for value in values:
        i, n = 0, len(value)
        current: Challenge | None = None
        while i < n:
            while i < n and value[i] in " \t,":
                i += 1
            token = _TOKEN.match(value, i)
            if token is None:
                break
            k = token.end()
            while k < n and value[k] in " \t":
                k += 1
            if current is not None and k < n and value[k] == "=":
                k += 1
                while k < n and value[k] in " \t":
                    k += 1
                quoted = _QUOTED.match(value, k) if k < n and value[k] == '"' else None
                if quoted is not None:
                    said, i = re.sub(r"\\(.)", r"\1", quoted.group(1)), quoted.end()
                elif k < n and value[k] == '"':
                    break  # an unterminated string: nothing after it can be trusted
                else:
                    bare = _BARE.match(value, k)
                    assert bare is not None  # matches the empty string at worst
                    said, i = bare.group(0), bare.end()
                current[1][token.group(0).lower()] = said
            else:
                current = (token.group(0).lower(), {})
                out.append(current)
                i = token.end()
    return out


def basic(username: str, password: str) -> str:
    raw = f"{username}:{password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Digest:
    """One Digest challenge answered for every request that follows (``nc`` counts up)."""

    def __init__(self, params: dict[str, str], username: str, password: str) -> None:
        algorithm = params.get("algorithm", "MD5").upper()
        self.sess = algorithm.endswith("-SESS")
        base = algorithm.removesuffix("-SESS")
        if base not in _HASHES:
            raise ValueError(f"Digest algorithm {algorithm} is not supported")
        if params.get("userhash", "false").lower() == "true":
            raise ValueError("Digest with userhash is not supported")
        offered = [q.strip().lower() for q in params.get("qop", "").split(",") if q.strip()]
        if offered and "auth" not in offered:
            raise ValueError("Digest with auth-int only is not supported")
        if "nonce" not in params or "realm" not in params:
            raise ValueError("a Digest challenge without realm or nonce")
        self.algorithm, self._hash = algorithm, _HASHES[base]
        self.qop = "auth" if offered else None
        self.params, self.username, self.password = params, username, password
        self.nc = 0

    def _h(self, text: str) -> str:
        return self._hash(text.encode()).hexdigest()

    def header(self, method: str, uri: str, cnonce: str | None = None) -> str:
        """The ``Authorization`` value for ``method`` on ``uri`` (the request-target)."""
        self.nc += 1
        p = self.params
        cnonce = cnonce or secrets.token_hex(8)
        nc = f"{self.nc:08x}"
        ha1 = self._h(f"{self.username}:{p['realm']}:{self.password}")
        if self.sess:
            ha1 = self._h(f"{ha1}:{p['nonce']}:{cnonce}")
        ha2 = self._h(f"{method}:{uri}")
        if self.qop:
            response = self._h(f"{ha1}:{p['nonce']}:{nc}:{cnonce}:{self.qop}:{ha2}")
        else:
            response = self._h(f"{ha1}:{p['nonce']}:{ha2}")
        parts = [
            f"username={_quote(self.username)}",
            f"realm={_quote(p['realm'])}",
            f"nonce={_quote(p['nonce'])}",
            f"uri={_quote(uri)}",
            f"algorithm={self.algorithm}",
            f"response={_quote(response)}",
        ]
        if "opaque" in p:
            parts.append(f"opaque={_quote(p['opaque'])}")
        if self.qop:
            parts += [f"qop={self.qop}", f"nc={nc}", f"cnonce={_quote(cnonce)}"]
        return "Digest " + ", ".join(parts)


def choose(challenges: list[Challenge], username: str, password: str) -> Digest | str | None:
    """What to answer a 401 with: a ``Digest`` if one is usable, else a Basic header, else
    ``None`` (nothing we can speak)."""
    for scheme, params in challenges:
        if scheme == "digest":
            try:
                return Digest(params, username, password)
            except ValueError:
                continue
    if any(scheme == "basic" for scheme, _ in challenges):
        return basic(username, password)
    return None
