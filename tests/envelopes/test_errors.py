from __future__ import annotations

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
        "path": "actor.id",
        "details": [{"path": "a", "message": "m"}],
    }
    back = errors.from_dict(data)
    assert isinstance(back, errors.InvalidEnvelope) and back.path == "actor.id"
    odd = errors.from_dict({"code": "nick-in-use", "message": "taken"})
    assert odd.code == "nick-in-use" and isinstance(odd, errors.SockethubError)
