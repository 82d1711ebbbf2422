from __future__ import annotations

import logging
import re
import socket

import envelopes.errors as errors


def test_codes_are_unique_and_stable():
    classes = [getattr(errors, n) for n in errors.__all__ if isinstance(getattr(errors, n), type)]
    codes = [c.code for c in classes]
    assert len(codes) == len(set(codes))
    # codes the protocol document promises
    for code in [
        "invalid-frame",
        "frame-too-large",
        "invalid-envelope",
        "unknown-platform",
        "unknown-verb",
        "rate-limited",
        "duplicate-request",
        "credentials-missing",
        "credentials-invalid",
        "timeout",
        "internal",
        "upstream-unavailable",
        "upstream-timeout",
        "auth-failed",
        "not-found",
        "refused",
        "blocked-address",
        "too-large",
        "not-a-feed",
        "tls-error",
    ]:
        assert code in errors.all_codes(), code


def test_tree_shape():
    assert issubclass(errors.InvalidEnvelope, errors.ClientError)
    assert issubclass(errors.UpstreamTimeout, errors.TransientError)
    assert issubclass(errors.AuthenticationFailed, errors.PermanentError)
    assert issubclass(errors.TransientError, errors.ConnectorError)
    assert not issubclass(errors.PermanentError, errors.TransientError)


def test_round_trip_through_dict():
    err = errors.InvalidEnvelope("bad", path="actor.id", details=[{"path": "a", "message": "m"}])
    data = err.to_dict()
    assert data == {
        "code": "invalid-envelope",
        "message": "bad",
        "retryable": False,
        "path": "actor.id",
        "details": [{"path": "a", "message": "m"}],
    }
    back = errors.from_dict(data)
    assert isinstance(back, errors.InvalidEnvelope) and back.path == "actor.id"
    odd = errors.from_dict({"code": "from-the-future", "message": "m", "retryable": True})
    assert odd.code == "from-the-future" and isinstance(odd, errors.SockethubError)
    assert odd.to_dict()["retryable"] is True
    internal = errors.from_dict({"code": "internal", "message": "m", "ref": "0a1b2c3d"})
    assert internal.to_dict()["ref"] == "0a1b2c3d"


def test_every_error_says_whether_retrying_can_help():
    retryable = {
        errors.RateLimited,
        errors.TransientError,
        errors.UpstreamUnavailable,
        errors.UpstreamTimeout,
        errors.UpstreamError,
        errors.Reconnecting,
        errors.RequestTimeout,
        errors.NotSent,
    }
    for code, cls in errors.all_codes().items():
        data = cls("m").to_dict()
        assert data["retryable"] is (cls in retryable), code
    # a code given by hand keeps its class's answer
    assert errors.UpstreamError("m", code="x").to_dict()["retryable"] is True


def test_the_protocol_condition_goes_in_details():
    err = errors.Refused("nick taken", details=[errors.condition_detail("irc", "nick-in-use")])
    assert err.code == "refused" and err.condition == "nick-in-use"
    assert err.to_dict()["details"] == [{"condition": "nick-in-use", "platform": "irc"}]
    assert errors.Refused("m").condition is None


def test_internal_error_names_a_reference_and_logs_the_exception(caplog):
    log = logging.getLogger("test.errors")
    boom = KeyError("password=hunter2")
    with caplog.at_level(logging.ERROR, "test.errors"):
        err = errors.internal_error(log, "doing the thing", boom)
    data = err.to_dict()
    assert data["code"] == "internal" and data["retryable"] is False
    assert re.fullmatch(r"[0-9a-f]{8}", data["ref"])
    assert data["ref"] in data["message"]
    assert "hunter2" not in str(data) and "KeyError" not in str(data)
    (record,) = caplog.records
    assert data["ref"] in record.getMessage() and "doing the thing" in record.getMessage()
    assert record.exc_info is not None and "hunter2" in str(record.exc_info[1])
    assert errors.internal_error(log, "again", boom).ref != data["ref"]


def test_os_reason_gives_the_os_words_only():
    assert errors.os_reason(ConnectionRefusedError(111, "Connection refused")) == (
        "Connection refused"
    )
    assert errors.os_reason(socket.gaierror(-2, "Name or service not known")) == (
        "Name or service not known"
    )
    assert errors.os_reason(ConnectionResetError("secret from a library")) == "connection reset"
    assert errors.os_reason(OSError("anything at all")) == "network error"
