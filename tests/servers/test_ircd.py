"""The ngircd fixture and the raw client work, and our translator reads what ngircd says."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.irc.lines import parse_line
from connectors.irc.translate import IrcContext, IrcError, flush, translate
from tests.servers import ircd
from tests.servers.ircclient import RawIrcClient
from tests.servers.ircd import IrcServer, run_ngircd

HOST = "127.0.0.1"
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IrcServer]:
    with run_ngircd(tmp_path_factory.mktemp("ircd")) as running:
        yield running


def test_two_clients_talk_in_a_channel(server: IrcServer):
    assert server.host == HOST
    with (
        RawIrcClient(server.host, server.port, "alice") as alice,
        RawIrcClient(server.host, server.port, "bob") as bob,
    ):
        alice.send("JOIN #talk")
        alice.wait_for(" 366 alice #talk ")
        bob.send("JOIN #talk")
        bob.wait_for(" 366 bob #talk ")
        alice.wait_for(":bob!")
        bob.send("PRIVMSG #talk :hello alice ☕")
        line = alice.wait_for("PRIVMSG #talk")
        assert line.startswith(":bob!~bob@127.0.0.1 PRIVMSG #talk :hello alice ☕")
        alice.send("PRIVMSG bob :\x01ACTION waves\x01")
        assert bob.wait_for("ACTION").endswith("PRIVMSG bob :\x01ACTION waves\x01")


def test_more_than_five_connections_from_one_address(server: IrcServer):
    # ngircd's default MaxConnectionsIP is 5; the fixture lifts it for tests.
    clients = [RawIrcClient(server.host, server.port, f"many{i}") for i in range(7)]
    for client in clients:
        client.close()


def test_real_server_output_translates(server: IrcServer):
    """Everything bob receives goes through parse_line + translate without a failure, and
    the activities are the ones a browser must see."""
    with (
        RawIrcClient(server.host, server.port, "carol") as carol,
        RawIrcClient(server.host, server.port, "dave") as dave,
    ):
        carol.send("JOIN #translate")
        carol.wait_for(" 366 carol #translate ")
        carol.send("TOPIC #translate :what we talk about")
        carol.wait_for(" TOPIC ")
        dave.send("JOIN #translate")
        dave.wait_for(" 366 dave #translate ")
        carol.send("MODE #translate +v dave")
        dave.wait_for("+v dave")
        carol.send("PRIVMSG #translate :hi dave")
        carol.send_raw(b"PRIVMSG #translate :caf\xe9\r\n")  # an old latin-1 client
        carol.send("NICK carol_")
        dave.wait_for(" NICK ")
        dave.send("JOIN #translate-full")
        dave.wait_for(" 366 dave #translate-full ")
        dave.send("NICK carol_")
        dave.wait_for(" 433 ")
        carol.send("PART #translate :done")
        dave.wait_for(" PART ")
        received = list(dave.lines)

    ctx = IrcContext(server=HOST, nick="dave")
    results = []
    for line in received:
        results.extend(translate(parse_line(line), ctx))
    results.extend(flush(ctx))

    def person(nick: str) -> dict[str, str]:
        return {"type": "person", "id": f"{nick}@{HOST}", "name": nick}

    room = {"type": "room", "id": f"#translate@{HOST}", "name": "#translate"}
    activities = [r for r in results if isinstance(r, dict)]
    shapes = [(a["type"], a["actor"]["name"], a.get("object", {}).get("type")) for a in activities]
    assert shapes == [
        ("join", "dave", None),
        ("update", "carol", "topic"),
        ("query", "#translate", "attendance"),
        ("add", "carol", "relationship"),
        ("send", "carol", "message"),
        ("send", "carol", "message"),
        ("update", "carol", "address"),
        ("join", "dave", None),
        ("query", "#translate-full", "attendance"),
        ("leave", "carol_", "message"),
    ]
    assert activities[2]["object"]["roles"] == {"dave": "member", "carol": "operator"}
    assert activities[4]["target"] == room
    assert activities[4]["object"] == {"type": "message", "content": "hi dave"}
    assert activities[5]["object"] == {"type": "message", "content": "café"}
    assert activities[6]["target"] == person("carol_")
    assert activities[9]["object"]["content"] == "done"
    errors = [r for r in results if isinstance(r, IrcError)]
    assert [(e.code, e.target) for e in errors] == [("nick-in-use", "carol_")]
    assert ctx.channels == {"#translate", "#translate-full"}


def test_restart_drops_clients_and_serves_again(tmp_path: Path):
    with run_ngircd(tmp_path) as own:
        erin = RawIrcClient(own.host, own.port, "erin")
        own.restart()
        erin.wait_closed(timeout=10)
        erin.close()
        with RawIrcClient(own.host, own.port, "erin") as again:
            again.send("JOIN #back")
            again.wait_for(" 366 erin #back ")
        own.kill()
        assert not own.running


def test_missing_ngircd_skips_or_fails_under_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setattr(ircd.shutil, "which", lambda *_a, **_k: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install ngircd"):
        with run_ngircd(tmp_path):
            pass
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="ngircd is not installed"):
        with run_ngircd(tmp_path):
            pass


def test_a_config_ngircd_refuses_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    broken = ircd._config

    def bad_config(*args, **kwargs):
        return broken(*args, **kwargs) + "  NoSuchOption = 1\n"

    monkeypatch.setattr(ircd, "_config", bad_config)
    with pytest.raises(RuntimeError, match="NoSuchOption"):
        with run_ngircd(tmp_path):
            pass
