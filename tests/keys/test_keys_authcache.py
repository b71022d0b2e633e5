"""The key cache's rules one by one, on a real database with a hand-driven clock: a change elsewhere empties it
at the next version read, a load that raced a change is not kept, and when the version cannot be read the cache
is trusted for at most `trust_seconds` more (fail closed). The bound across real processes:
test_keys_cache_bound.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from bastion.keys.authcache import AuthCache, KeyEntry, announce_change
from bastion.keys.policy import Permission

# SQLite only: the fail-closed case drops the version table, which must not touch the shared PostgreSQL database.
T0 = datetime(2026, 1, 5, tzinfo=UTC)
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def entry(key_id: str, frozen: bool = False) -> KeyEntry:
    return KeyEntry(
        key_id=key_id, user_id="u", label="l", app_id=None, secret="S" * 32, passphrase_hash="h",
        permissions=frozenset({Permission.READ}), networks=(), ips="", account_frozen=frozen,
        last_used_at=T0,
    )  # fmt: skip


@pytest.fixture
def cache(session_factory: sessionmaker[Session]) -> Iterator[tuple[AuthCache, Clock, list[str]]]:
    clock = Clock()
    loads: list[str] = []
    yield AuthCache(session_factory, poll_seconds=0.5, trust_seconds=1.0, clock=clock), clock, loads


def loader(loads: list[str], key_id: str, frozen: bool = False) -> KeyEntry:
    loads.append(key_id)
    return entry(key_id, frozen)


def change_elsewhere(session_factory: sessionmaker[Session]) -> None:
    """What another process's revoke does to the shared version (this process's own caches are emptied by the
    after_commit hook, so the test empties the flag to look like a change committed elsewhere)."""
    with session_factory() as s:
        announce_change(s)
        s.info.clear()
        s.commit()


def test_entries_are_reused_until_the_version_moves(
    cache: tuple[AuthCache, Clock, list[str]], session_factory: sessionmaker[Session]
) -> None:
    c, clock, loads = cache
    assert c.lookup("k1", lambda: loader(loads, "k1")) == entry("k1")
    clock.t += 0.3
    assert c.lookup("k1", lambda: loader(loads, "k1", frozen=True)).account_frozen is False  # type: ignore[union-attr]
    assert loads == ["k1"]
    change_elsewhere(session_factory)
    clock.t += 0.3  # 0.6 s since the last version read: read again, see the change, start empty
    assert c.lookup("k1", lambda: loader(loads, "k1", frozen=True)).account_frozen is True  # type: ignore[union-attr]
    assert loads == ["k1", "k1"]


def test_a_change_committed_in_this_process_empties_its_caches_at_commit(
    cache: tuple[AuthCache, Clock, list[str]], session_factory: sessionmaker[Session]
) -> None:
    c, _clock, loads = cache
    c.lookup("k1", lambda: loader(loads, "k1"))
    assert len(c) == 1
    with session_factory() as s:
        announce_change(s)
        assert len(c) == 1  # not before the commit
        s.commit()
    assert len(c) == 0


def test_a_load_that_raced_a_change_is_not_kept(cache: tuple[AuthCache, Clock, list[str]]) -> None:
    c, _clock, loads = cache

    def racing_load() -> KeyEntry:
        c.clear()  # the change lands while the key is being read from the database
        return loader(loads, "k1")

    assert c.lookup("k1", racing_load) is not None
    assert len(c) == 0
    c.lookup("k1", lambda: loader(loads, "k1"))
    assert len(c) == 1


def test_when_the_version_cannot_be_read_the_cache_is_trusted_at_most_the_bound(
    cache: tuple[AuthCache, Clock, list[str]], session_factory: sessionmaker[Session]
) -> None:
    c, clock, loads = cache
    c.lookup("k1", lambda: loader(loads, "k1"))
    with session_factory() as s:
        s.execute(text("DROP TABLE keys_auth_version"))
        s.commit()
    clock.t += 0.6  # a read is due and fails: still inside the bound, the entry is used
    c.lookup("k1", lambda: loader(loads, "k1"))
    assert (loads, c.poll_failures) == (["k1"], 1)
    clock.t += 0.5  # 1.1 s since the last good read: every request goes to the database, nothing is stored
    for _ in range(3):
        c.lookup("k1", lambda: loader(loads, "k1"))
    assert loads == ["k1"] * 4 and not c.trusted()
