"""Tokens (reliability review 2026-12-07, F13): a token must look random, wrong ones back
off per address, and a value derived from the token is not the token."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from lts.shared.errors import ConfigError
from lts.shared.tokens import AuthBackoff, derived_secret, read_token, retry_after


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("token", ["a" * 16, "abababababababababab", "abcdefgabcdefgabcdefg"])
def test_a_token_of_few_distinct_characters_is_refused(token: str) -> None:
    with pytest.raises(ConfigError, match="distinct characters") as info:
        read_token(None, SecretStr(token), env_var="LTS_X_TOKEN")
    assert info.value.field == "token" and "LTS_X_TOKEN" in str(info.value)


def test_a_random_token_is_accepted() -> None:
    assert read_token(None, SecretStr("abcdefgh01234567"), env_var="X") == "abcdefgh01234567"


def test_wrong_tokens_block_an_address_for_longer_each_time() -> None:
    clock = Clock()
    backoff = AuthBackoff(free=3, max_block_s=8, clock=clock)
    for _ in range(3):
        backoff.record("10.0.0.1", ok=False)
    assert backoff.blocked_for("10.0.0.1") == 0  # the free ones cost nothing
    blocks = []
    for _ in range(6):
        backoff.record("10.0.0.1", ok=False)
        blocks.append(backoff.blocked_for("10.0.0.1"))
    assert blocks == [1, 2, 4, 8, 8, 8]
    assert backoff.blocked_for("10.0.0.2") == 0  # per address
    clock.now += 8
    assert backoff.blocked_for("10.0.0.1") == 0
    backoff.record("10.0.0.1", ok=True)  # a right token clears the count
    backoff.record("10.0.0.1", ok=False)
    assert backoff.blocked_for("10.0.0.1") == 0


def test_an_address_quiet_long_enough_starts_afresh_and_memory_is_bounded() -> None:
    clock = Clock()
    backoff = AuthBackoff(free=1, forget_after_s=60, max_addresses=100, clock=clock)
    backoff.record("a", ok=False)
    clock.now += 61
    backoff.record("a", ok=False)
    assert backoff.blocked_for("a") == 0
    for i in range(1000):
        backoff.record(f"10.1.{i // 256}.{i % 256}", ok=False)
    assert len(backoff._seen) == 100


def test_the_derived_secret_is_not_the_token_and_depends_on_it() -> None:
    one = derived_secret("token-number-one-0123", "cookie")
    assert one != "token-number-one-0123" and len(one) == 64
    assert one == derived_secret("token-number-one-0123", "cookie")
    assert one != derived_secret("token-number-two-0123", "cookie")
    assert one != derived_secret("token-number-one-0123", "other purpose")


def test_retry_after_is_whole_seconds_of_at_least_one() -> None:
    assert [retry_after(s) for s in (0, 0.2, 1, 1.5, 59.01)] == ["1", "1", "1", "2", "60"]
