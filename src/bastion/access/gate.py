"""Checking a service or operator token, fast, and auditing each use by the credential's name.

A token is looked up by its SHA-256 digest: in this process's cache first (no I/O: the risk engine's hot
path checks its caller on the event loop), else in the database. A cached credential is trusted for
`cache_seconds`: a credential revoked by another process (the CLI) stops working everywhere within that
time, and at once in the process that revoked it (`invalidate`). Unknown tokens are never cached, so a
flood of made-up tokens cannot push real ones out.

Uses are counted in memory per (credential, route, outcome) and written every `audit_seconds` (and at
shutdown) as `access_uses` rows plus the credential's `last_used_at` and `uses`: an audit trail by name that
costs the request path a dictionary update, not a database write.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from bastion.access.credentials import live_by_digest, token_digest
from bastion.access.models import AccessCredential, AccessUse
from bastion.access.scopes import ALL

log = logging.getLogger("bastion.access")

ENV_CREDENTIAL = "env:BASTION_OPERATOR_TOKEN"


@dataclass(frozen=True)
class Credential:
    """A service or operator credential a request presented."""

    name: str
    scopes: frozenset[str]
    bootstrap: bool = False


@dataclass
class _Tally:
    count: int
    first: datetime
    last: datetime


def _utcnow() -> datetime:
    return datetime.now(UTC)


class CredentialGate:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        operator_token: str | None = None,
        *,
        cache_seconds: float = 2.0,
        audit_seconds: float = 10.0,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.sessions = sessions
        self.cache_seconds = cache_seconds
        self.audit_seconds = audit_seconds
        self.clock = clock
        # BASTION_OPERATOR_TOKEN, kept for existing setups: an admin credential that lives in the environment
        self._env = (
            (token_digest(operator_token), Credential(ENV_CREDENTIAL, frozenset({ALL}), True))
            if operator_token
            else None
        )
        self._cache: dict[str, tuple[Credential, float]] = {}
        self._lock = threading.Lock()
        self._uses: dict[tuple[str, str, str], _Tally] = {}
        self._last_flush = time.monotonic()
        self._flushing = False

    # ------------------------------------------------------------------------------------------ lookups
    def cached(self, token: str) -> Credential | None:
        """The credential for `token` if this process knows it right now, without any I/O."""
        digest = token_digest(token)
        if self._env is not None and digest == self._env[0]:
            return self._env[1]
        hit = self._cache.get(digest)
        if hit is not None and time.monotonic() - hit[1] < self.cache_seconds:
            return hit[0]
        return None

    def lookup(self, token: str) -> Credential | None:
        """The live credential for `token`, from the cache or the database (blocking: not on the loop)."""
        found = self.cached(token)
        if found is not None:
            return found
        digest = token_digest(token)
        with self.sessions() as session:
            row = live_by_digest(session, digest)
            if row is None:
                self._cache.pop(digest, None)
                return None
            cred = Credential(row.name, frozenset(row.scopes.split(",")), row.bootstrap)
        with self._lock:
            self._cache[digest] = (cred, time.monotonic())
        return cred

    def invalidate(self) -> None:
        with self._lock:
            self._cache.clear()

    # -------------------------------------------------------------------------------------------- audit
    def record(self, name: str, route: str, outcome: str = "allowed") -> None:
        """Count one use; writes are batched (a background thread when a batch is due)."""
        now = self.clock()
        key = (name, route, outcome)
        with self._lock:
            tally = self._uses.get(key)
            if tally is None:
                self._uses[key] = _Tally(1, now, now)
            else:
                tally.count += 1
                tally.last = now
            due = not self._flushing and time.monotonic() - self._last_flush >= self.audit_seconds
            if due:
                self._flushing = True
        if due:
            threading.Thread(target=self._flush_in_background, name="access-audit", daemon=True).start()

    def _flush_in_background(self) -> None:
        try:
            self.flush()
        except Exception:  # the counts go back into the next batch; the request path never sees this
            log.exception("writing the credential audit failed; retrying with the next batch")

    def flush(self) -> int:
        """Write the counted uses now; returns how many (credential, route, outcome) rows were written."""
        with self._lock:
            batch, self._uses = self._uses, {}
            self._last_flush = time.monotonic()
            self._flushing = True
        try:
            if not batch:
                return 0
            with self.sessions() as session:
                last: dict[str, tuple[int, datetime]] = {}
                for (name, route, outcome), t in batch.items():
                    session.add(
                        AccessUse(
                            credential=name, route=route[:200], outcome=outcome, count=t.count,
                            first_at=t.first, last_at=t.last,
                        )
                    )  # fmt: skip
                    if outcome == "allowed":
                        n, at = last.get(name, (0, t.last))
                        last[name] = (n + t.count, max(at, t.last))
                for name, (n, at) in last.items():
                    session.execute(
                        update(AccessCredential)
                        .where(AccessCredential.name == name)
                        .values(uses=AccessCredential.uses + n, last_used_at=at)
                    )
                session.commit()
            return len(batch)
        except Exception:
            with self._lock:  # put them back: counted once, whenever the database lets us
                for key, t in batch.items():
                    now_tally = self._uses.get(key)
                    if now_tally is None:
                        self._uses[key] = t
                    else:
                        now_tally.count += t.count
                        now_tally.first = t.first
            raise
        finally:
            with self._lock:
                self._flushing = False
