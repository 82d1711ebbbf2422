"""Configuration is read from the environment and refused, naming the variable, when bad."""

from __future__ import annotations

import pytest

from envelopes.settings import VARIABLES, ConfigError, Settings


def test_defaults_parse() -> None:
    settings = Settings.from_env({})
    assert settings.port == 10550
    assert settings.send_buffer_bytes == 262144


@pytest.mark.parametrize(
    ("var", "raw", "words"),
    [
        ("SOCKETHUB_SEND_BUFFER_BYTES", "-1", "must not be negative"),
        ("SOCKETHUB_PORT", "-5", "must not be negative"),
        ("SOCKETHUB_REQUEST_TIMEOUT", "-0.5", "must not be negative"),
        ("SOCKETHUB_PORT", "ten", "must be a whole number"),
        ("SOCKETHUB_REQUEST_TIMEOUT", "nan", "must be a number"),
        ("SOCKETHUB_WS_DEFLATE", "maybe", "must be true or false"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable(var: str, raw: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({var: raw})
    assert f"{var}={raw!r}" in str(info.value)
    assert words in str(info.value)


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"SOCKETHUB_PORT": "-1", "SOCKETHUB_RATE_BURST": "-2"})
    assert "SOCKETHUB_PORT" in str(info.value)
    assert "SOCKETHUB_RATE_BURST" in str(info.value)


def test_zero_stays_allowed_where_an_integer_may_mean_off() -> None:
    ints = [
        v for v, (a, _d, _m) in VARIABLES.items() if Settings.__dataclass_fields__[a].type == "int"
    ]
    assert ints
    settings = Settings.from_env({ints[0]: "0"})
    assert getattr(settings, VARIABLES[ints[0]][0]) == 0
