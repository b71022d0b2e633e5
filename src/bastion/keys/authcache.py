"""What authenticating a key needs, kept in each service process, and how a change reaches every process.

Without it every signed request costs a primary-key read of the key, an AES-GCM unsealing of its secret, the
allowlist and permissions parsed again, and a read of the owner's account state: about half a millisecond of
database and CPU per request, and on SQLite a write lock (every transaction there is BEGIN IMMEDIATE).

What an entry holds (`KeyEntry`), per key id: the unsealed signing secret, the stored passphrase hash (the
passphrase check itself stays `PassphraseVerifier.verify`, whose verified-digest cache is keyed by that hash),
the parsed permissions and IP allowlist, the owner, label and app, and whether the owner's account was frozen.
Only live keys are cached; an unknown, revoked or swept key id is read from the database on every request.

What is NOT cached, and runs on every request as before: the timestamp window, the HMAC signature check, the
wrong-passphrase counting and freeze of the key (`KeyRateLimits`), the replay guard and the rate limits.

Invalidation. Every change that alters what an entry would hold moves one shared number, the version in
`keys_auth_version`, in the same transaction as the change (`announce_change`): a key revoked, swept or
replaced (`lifecycle.delete_key`), its allowlist changed (`lifecycle.update_ips`), its owner frozen or
unfrozen (`account.freeze`). Then:
- in the process that made the change, every cache is emptied as soon as the transaction commits (a
  SQLAlchemy `after_commit` hook), before the route answers;
- every other process reads the version at most every `POLL_SECONDS` (by the first request after that
  long, on the request path: one primary-key read) and empties its cache when the number differs from the
  one it last saw. A request is answered from the cache only while the last successful read of the version
  STARTED less than `TRUST_SECONDS` ago; past that (database unreachable, the read failing), entries are not
  used: every request reads the key from the database as it did without the cache (fail closed). So a change
  committed at time C is honoured by every process for every request that starts after C + TRUST_SECONDS
  (in practice after C + POLL_SECONDS plus one read).
- An entry loaded concurrently with a change is never kept past it: a load records the cache's generation
  (bumped by every emptying) before its database read and is stored only if no emptying happened meanwhile.

A missing version row (never migrated, or the table emptied) is re-created at a random number, so the version
never returns to a value a process may have cached under.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from bastion.keys.models import KeysAuthVersion
from bastion.keys.policy import IpNetwork, Permission

log = logging.getLogger("bastion.keys")

# How often each process reads the version, and how long after the start of its last successful read it still
# answers from the cache at all: the bound on how long a revoked key, a changed allowlist or a frozen account
# can still be honoured by another process.
POLL_SECONDS = 0.5
TRUST_SECONDS = 1.0
MAX_ENTRIES = 100_000
WARN_EVERY_SECONDS = 60.0

_CHANGED = "bastion.keys.authcache.changed"
_caches: weakref.WeakSet[AuthCache] = weakref.WeakSet()


@dataclass(frozen=True)
class KeyEntry:
    """A live key as authentication needs it (see the module docstring for what is and is not here)."""

    key_id: str
    user_id: str
    label: str
    app_id: str | None
    secret: str
    passphrase_hash: str | None
    permissions: frozenset[Permission]
    networks: tuple[IpNetwork, ...]
    ips: str
    account_frozen: bool
    last_used_at: datetime | None


def _upsert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return pg_insert(KeysAuthVersion)
    if dialect == "sqlite":
        return sqlite_insert(KeysAuthVersion)
    raise NotImplementedError(f"the keys cache version has no upsert for {dialect}")


def announce_change(session: Session) -> None:
    """Move the shared version in the caller's transaction: call it with every change to a key's or its owner's
    state that authentication depends on. The change reaches this process's caches when the transaction commits
    and every other process within `TRUST_SECONDS`; a rolled-back change moves nothing."""
    stmt = _upsert(session).values(id=1, version=secrets.randbits(62))
    session.execute(
        stmt.on_conflict_do_update(index_elements=[KeysAuthVersion.id], set_={"version": KeysAuthVersion.version + 1})
    )
    session.info[_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _empty_local_caches(session: Session) -> None:
    # No rollback hook on purpose: a flag left over from a rolled-back change only empties the caches once more.
    if session.info.pop(_CHANGED, False):
        for cache in list(_caches):
            cache.clear()


def _read_version(sessions: sessionmaker[Session]) -> int:
    query = select(KeysAuthVersion.version).where(KeysAuthVersion.id == 1)
    with sessions() as session:
        version = session.scalar(query)
        if version is not None:
            return int(version)
    with sessions() as session:  # first use, or the table was emptied: start again from a random number
        session.execute(_upsert(session).values(id=1, version=secrets.randbits(62)).on_conflict_do_nothing())
        session.commit()
        return int(session.scalar(query) or 0)


class AuthCache:
    """Key id -> `KeyEntry`, trusted only within `trust_seconds` of the last successful version read.
    Thread-safe: readers take no lock; entries are replaced whole."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        poll_seconds: float = POLL_SECONDS,
        trust_seconds: float = TRUST_SECONDS,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < poll_seconds < trust_seconds:
            raise ValueError("the version must be read more often than the cache may go without reading it")
        self._sessions = sessions
        self.poll_seconds = poll_seconds
        self.trust_seconds = trust_seconds
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[str, KeyEntry] = {}
        self._generation = 0
        self._version: int | None = None
        self._synced_at = float("-inf")  # clock when the last successful version read started
        self._lock = threading.Lock()  # entries and generation
        self._poll_lock = threading.Lock()  # one version read at a time
        self.hits = self.misses = self.polls = self.poll_failures = 0
        self._warned_at = float("-inf")
        _caches.add(self)

    def clear(self) -> None:
        """Forget every entry; loads in flight are not stored."""
        with self._lock:
            self._entries = {}
            self._generation += 1

    def trusted(self) -> bool:
        """May an entry be used now? Reads the version first when it is due (one thread; the others go on with
        the cache while it is inside its bound, and wait for the read once it is not)."""
        age = self._clock() - self._synced_at
        if age < self.poll_seconds:
            return True
        overdue = age >= self.trust_seconds
        if not self._poll_lock.acquire(blocking=overdue, timeout=self.trust_seconds if overdue else -1):
            return not overdue  # another thread is reading the version
        try:
            if self._clock() - self._synced_at >= self.poll_seconds:  # nobody read it while we waited
                self._poll()
        finally:
            self._poll_lock.release()
        return self._clock() - self._synced_at < self.trust_seconds

    def _poll(self) -> None:
        started = self._clock()
        self.polls += 1
        try:
            version = _read_version(self._sessions)
        except Exception:
            # Fail closed: the cache is not used once `trust_seconds` have passed since the last good read.
            self.poll_failures += 1
            # Past the bound every request tries a read: log the first failure and then one a minute, not one
            # traceback per request (a database outage would flood the log, or block on a full stderr pipe).
            if started - self._warned_at >= WARN_EVERY_SECONDS:
                self._warned_at = started
                log.warning("reading the keys cache version failed (%d so far); the cache is trusted for at most "
                            "%.1f s more, then not used", self.poll_failures,
                            max(0.0, self.trust_seconds - (started - self._synced_at)), exc_info=True)  # fmt: skip
            return
        if version != self._version:
            self.clear()
            self._version = version
        self._synced_at = started

    def peek(self, key_id: str) -> KeyEntry | None:
        """The cached entry when it can be used with no I/O at all (no version read due), else None."""
        if self._clock() - self._synced_at >= self.poll_seconds:
            return None
        hit = self._entries.get(key_id)
        if hit is not None:
            self.hits += 1
        return hit

    def lookup(self, key_id: str, load: Callable[[], KeyEntry | None]) -> KeyEntry | None:
        """The live key `key_id`: from the cache when it may be trusted, else `load()` (the database), which is
        stored for the next request unless the cache was emptied while it ran. None: no live key."""
        trusted = self.trusted()
        if trusted:
            hit = self._entries.get(key_id)
            if hit is not None:
                self.hits += 1
                return hit
        self.misses += 1
        generation = self._generation  # before the database read: see the module docstring
        entry = load()
        if entry is not None and trusted:
            with self._lock:
                if generation == self._generation:
                    if len(self._entries) >= self.max_entries:
                        self._entries = {}  # rare; cheaper than an LRU on the hot path
                    self._entries[key_id] = entry
        return entry

    def __len__(self) -> int:
        return len(self._entries)
