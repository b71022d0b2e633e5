"""Wrong passphrases are bounded under concurrency: at most PASSPHRASE_MAX_FAILURES checks per window, however many
guesses arrive at once (a re-check of the lockout found 19 concurrent guesses all checked on PostgreSQL with two
workers, and a right passphrase accepted in the same burst). Run on the in-memory and the Redis storage the
service uses (the Redis one is what several workers share)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from bastion.keys.ratelimit import PASSPHRASE_MAX_FAILURES, KeyRateLimits


@pytest.fixture(params=["memory", "redis"])
def limits(request: pytest.FixtureRequest) -> Iterator[KeyRateLimits]:
    uri = "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")
    yield KeyRateLimits(uri, prefix=f"test-pass-{uuid.uuid4().hex[:8]}")


def test_a_burst_of_guesses_gets_at_most_the_allowed_checks(limits: KeyRateLimits) -> None:
    key = "k-burst"
    slots = [limits.begin_passphrase_check(key) for _ in range(19)]  # all in flight before any answer
    assert slots.count("") == PASSPHRASE_MAX_FAILURES
    assert slots.count("busy") == 19 - PASSPHRASE_MAX_FAILURES
    for _ in range(PASSPHRASE_MAX_FAILURES):
        limits.end_passphrase_check(key, ok=False)
    assert limits.passphrase_locked(key)
    assert limits.begin_passphrase_check(key) == "frozen"  # the right passphrase is not even checked now


def test_a_right_passphrase_sent_during_the_burst_is_not_checked(limits: KeyRateLimits) -> None:
    key = "k-race"
    guesses = [limits.begin_passphrase_check(key) for _ in range(PASSPHRASE_MAX_FAILURES)]
    assert guesses == [""] * PASSPHRASE_MAX_FAILURES
    assert limits.begin_passphrase_check(key) == "busy"  # the owner's (or the thief's right) guess waits
    for _ in guesses:
        limits.end_passphrase_check(key, ok=False)
    assert limits.begin_passphrase_check(key) == "frozen"


def test_the_owner_is_never_slowed_by_right_passphrases(limits: KeyRateLimits) -> None:
    key = "k-owner"
    for _ in range(50):
        assert limits.begin_passphrase_check(key) == ""
        limits.end_passphrase_check(key, ok=True)
    for _ in range(PASSPHRASE_MAX_FAILURES - 1):  # a few typos, then the right one: not frozen
        assert limits.begin_passphrase_check(key) == ""
        limits.end_passphrase_check(key, ok=False)
    assert limits.begin_passphrase_check(key) == ""
    limits.end_passphrase_check(key, ok=True)
    assert not limits.passphrase_locked(key)
    # concurrent right passphrases up to the guesses left are all checked
    assert limits.begin_passphrase_check(key) == ""
    limits.end_passphrase_check(key, ok=True)
