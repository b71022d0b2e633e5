"""The order precheck's fast path: who is in a cooling-off period, answered from memory.

Two kinds of answer are cached per service process, with different lifetimes:

- "in a period until E": valid until E, with no check at all. Periods only ever get longer and never end
  early, so a user who was refused until E is still refused until E whatever happens meanwhile.
- "no period": valid only while no activation happened anywhere since it was read. Every activation
  bumps a shared *activation version* after its commit and before it is acknowledged; a cached "no period"
  carries the version read *before* its database read, and is used only while the version is unchanged.
  Any precheck that starts after an acknowledged activation therefore sees a new version, misses, and reads
  the committed period: never a stale "allowed".

The version lives in Redis when BASTION_REDIS_URL is set (one GET per precheck: every service process on
every machine agrees), else in a file under the data dir (one stat(): the processes of one machine, which
is what `bastion serve --workers N` runs). When the version cannot be read (Redis down, file gone), "no
period" answers are not cached and every precheck reads the database: slower, still correct.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable, Hashable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.orm import Session

from bastion.protection.cooling_off import active_until


class ActivationVersion(Protocol):
    def current(self) -> Hashable | None:
        """The version now, or None when it cannot be known (then nothing negative may be cached)."""

    def bump(self) -> None:
        """Announce an activation; raises when it could not be announced (the activation is then not
        acknowledged: the caller answers an error and the client retries it, idempotently)."""


class FileVersion:
    """Version = identity and size of a file every activation appends one byte to (atomic with O_APPEND).
    Reading it is one stat() call, about a microsecond."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)

    def current(self) -> Hashable | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def bump(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, b".")
        finally:
            os.close(fd)


# INCR, but a key that is missing (first use, or Redis lost its data) starts from a random number: a
# restarted counter must never come back to a value some process cached an answer under.
_BUMP = """
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SET', KEYS[1], ARGV[1]) end
return redis.call('INCR', KEYS[1])
"""


class RedisVersion:
    """Version = a counter in Redis shared by every service process."""

    def __init__(self, client: Any, key: str) -> None:
        self.client = client
        self.key = key
        self._bump = client.register_script(_BUMP)

    @classmethod
    def from_url(cls, url: str, prefix: str) -> RedisVersion:
        import redis

        # Short timeouts: when Redis is unreachable a precheck falls back to the database quickly.
        client = redis.Redis.from_url(url, socket_timeout=0.25, socket_connect_timeout=0.25)
        return cls(client, f"{prefix}version")

    def current(self) -> Hashable | None:
        import redis

        try:
            value: bytes | None = self.client.get(self.key)
            if value is None:  # first use, or Redis lost its data: start from a random number
                self.client.set(self.key, secrets.randbits(62), nx=True)
                value = self.client.get(self.key)
        except redis.RedisError:
            return None
        return value

    def bump(self) -> None:
        self._bump(keys=[self.key], args=[secrets.randbits(62)])


class CoolingOffCache:
    """`active_until(user, now)` as the database would answer it, mostly from memory. Thread-safe: entries
    are replaced whole, and a "no period" entry is only trusted under the version it was read with."""

    def __init__(
        self,
        sessions: Callable[[], Session],
        version: ActivationVersion,
        max_age_seconds: float = 60.0,
        max_entries: int = 1_000_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self.version = version
        self._max_age = max_age_seconds
        self._max_entries = max_entries
        self._clock = clock
        # user -> (end of the period or None, version it was read under, clock when read)
        self._entries: dict[str, tuple[datetime | None, Hashable | None, float]] = {}
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def active_until(self, user_id: str, now: datetime) -> datetime | None:
        entry = self._entries.get(user_id)
        if entry is not None and entry[0] is not None and entry[0] > now:
            self.hits += 1
            return entry[0]
        version = self.version.current()  # read BEFORE the database, see the module docstring
        if (
            entry is not None
            and entry[0] is None
            and version is not None
            and entry[1] == version
            and self._clock() - entry[2] < self._max_age
        ):
            self.hits += 1
            return None
        self.misses += 1
        with self._sessions() as session:
            until = active_until(session, user_id, now)
        if until is not None or version is not None:
            self._store(user_id, (until, version, self._clock()))
        return until

    def activated(self, user_id: str, ends_at: datetime) -> None:
        """Call after an activation committed and before acknowledging it."""
        self.version.bump()
        self._store(user_id, (ends_at, None, self._clock()))

    def _store(self, user_id: str, entry: tuple[datetime | None, Hashable | None, float]) -> None:
        if len(self._entries) >= self._max_entries:
            with self._lock:
                if len(self._entries) >= self._max_entries:
                    self._entries.clear()  # rare; simpler and cheaper than an LRU on the hot path
        self._entries[user_id] = entry
