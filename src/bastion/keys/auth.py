"""Authenticating an OKX-v5-signed request: who is calling, and may they call this route from there?

Order of checks, and why:
1. the four headers are present (50103/50104/50106/50107) and the timestamp is well formed (50112) and
   within 30 s of our clock (50102);
2. the key exists and is live (50111 malformed, 50119 unknown or deleted);
3. the signature (50113) over the request target exactly as sent, before the passphrase: only a holder of
   the secret learns whether a passphrase guess is right, and unauthenticated traffic never costs us an
   argon2 run;
4. the passphrase (50105); wrong ones count against the key, and after `PASSPHRASE_MAX_FAILURES` in the
   counting window the key is frozen (50100) for `PASSPHRASE_LOCK`, right passphrase or not;
5. the exact signed request has not been seen before (replay, 50114);
6. the caller's IP is in the key's allowlist (50110) and the key has the route's permission (50120);
7. the key's and the user's rate limits on this route (50011).
Every refusal is stored (code, key header, IP, path) for the monthly counts, in batches written by a background
thread (`keys/rejectlog.py`; `flush()` writes them at once, the app's shutdown writes what is left).

What step 2 reads (the key, its unsealed secret, permissions, allowlist, and whether its owner's account is
frozen) comes from a per-process cache invalidated across processes within one second (`keys/authcache.py`);
every other step runs on every request. Rate limits and the replay guard are in memory or Redis, never in the
database, so an accepted request whose key is cached does no database I/O at all (last_used_at aside: written
at most once a minute per key and process).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from bastion.keys import policy, signing
from bastion.keys.authcache import AuthCache, KeyEntry
from bastion.keys.errors import AuthRejected, Rejection
from bastion.keys.lifecycle import KeyVault
from bastion.keys.models import ApiKey
from bastion.keys.policy import Permission
from bastion.keys.ratelimit import KeyRateLimits
from bastion.keys.rejectlog import RejectionLog

_KEY_SHAPE = re.compile(r"[0-9a-fA-F-]{36}", re.ASCII)
# last_used_at is written at most this often per key: the sweeper counts in days, and a write per request
# would put the database on every authenticated request's path.
LAST_USED_RESOLUTION = timedelta(seconds=60)


class _Blocking(Exception):
    """`authenticate_now` cannot answer without I/O; raised before any check has counted anything."""


@dataclass(frozen=True)
class SignedRequest:
    """A request as it came off the wire. `headers` must be case-insensitive (Starlette's are)."""

    method: str
    path: str  # raw, percent-encoded as sent
    query: str  # raw query string, without "?"
    body: bytes
    headers: Mapping[str, str]
    client_ip: str


@dataclass(frozen=True)
class Caller:
    """The authenticated key behind a request."""

    key_id: str
    user_id: str
    label: str
    permissions: frozenset[Permission]
    ips: str
    app_id: str | None


def _missing_header(req: SignedRequest, key_id: str, passphrase: str, sign: str, timestamp: str) -> AuthRejected:
    """The refusal of a request without one of the four OK-ACCESS headers: the first one missing, in this order."""
    for value, missing in (
        (key_id, Rejection.KEY_MISSING),
        (passphrase, Rejection.PASSPHRASE_MISSING),
        (sign, Rejection.SIGN_MISSING),
    ):
        if not value:
            return AuthRejected(missing, ip=req.client_ip, key_id=key_id or None)
    return AuthRejected(Rejection.TIMESTAMP_MISSING, ip=req.client_ip, key_id=key_id or None)


class Authenticator:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        vault: KeyVault,
        limits: KeyRateLimits,
        *,
        max_skew: timedelta = signing.MAX_SKEW,
        account_frozen: Callable[[Session, str], bool] | None = None,
        cache: AuthCache | None = None,
        rejections: RejectionLog | None = None,
    ) -> None:
        self.sessions = sessions
        # Whether the key's user is frozen (the account domain's check, given by the service): every key of a
        # frozen account is refused (50007), whichever way it was made (own key, Fast API app).
        self.account_frozen = account_frozen
        self.vault = vault
        self.limits = limits
        self.max_skew = max_skew
        # Remember signatures a little past the window in which they could be accepted at all.
        self._replay_ttl = int(2 * max_skew.total_seconds()) + 1
        # What each key's authentication needs, per process, invalidated by every change (keys/authcache.py).
        self.cache = cache or AuthCache(sessions)
        self.rejections = rejections or RejectionLog(sessions)
        # key id -> the last last_used_at this process wrote (the entry holds the one read with the key)
        self._last_used: dict[str, datetime] = {}

    def authenticate(self, request: SignedRequest, *, route: str, need: Permission, now: datetime) -> Caller:
        try:
            return self._authenticate(request, route, need, now, blocking=True)
        except AuthRejected as rejected:
            self._record(rejected, request, now)
            raise

    def authenticate_now(
        self, request: SignedRequest, *, route: str, need: Permission, now: datetime
    ) -> Caller | None:
        """`authenticate` when it can answer without blocking (for the event loop): the same checks in the same
        order, or None, before any of them has counted anything, when answering needs I/O or an argon2 run
        (key not cached, version read due, passphrase not yet verified in this process, limits in Redis,
        last_used_at due): then call `authenticate` in a thread, which does it all from the start."""
        if not self.limits.in_memory:
            return None
        try:
            return self._authenticate(request, route, need, now, blocking=False)
        except _Blocking:
            return None
        except AuthRejected as rejected:
            self._record(rejected, request, now)
            raise

    def _authenticate(
        self, req: SignedRequest, route: str, need: Permission, now: datetime, *, blocking: bool
    ) -> Caller:
        h = req.headers
        key_id = h.get("OK-ACCESS-KEY", "")
        passphrase = h.get("OK-ACCESS-PASSPHRASE", "")
        sign = h.get("OK-ACCESS-SIGN", "")
        timestamp = h.get("OK-ACCESS-TIMESTAMP", "")
        if not (key_id and passphrase and sign and timestamp):  # one test on the way of a complete request
            raise _missing_header(req, key_id, passphrase, sign, timestamp)
        try:
            signing.check_fresh(signing.parse_timestamp(timestamp), now, self.max_skew)
            if _KEY_SHAPE.fullmatch(key_id) is None:
                raise AuthRejected(Rejection.KEY_INVALID)
        except AuthRejected as exc:
            raise AuthRejected(exc.reason, ip=req.client_ip, key_id=key_id) from None

        def refuse(reason: Rejection) -> AuthRejected:
            return AuthRejected(reason, ip=req.client_ip, key_id=key_id)

        if blocking:
            key = self.cache.lookup(key_id.lower(), lambda: self._load(key_id.lower()))
        elif (key := self.cache.peek(key_id.lower())) is None:
            raise _Blocking
        if key is None:
            raise refuse(Rejection.KEY_NOT_FOUND)
        # The request target exactly as sent: the raw path and the raw query, never a decoded form.
        target = req.path + (f"?{req.query}" if req.query else "")
        try:
            body = req.body.decode("utf-8")
        except UnicodeDecodeError:
            raise refuse(Rejection.SIGN_INVALID) from None
        if not signing.signature_matches(key.secret, sign, timestamp, req.method, target, body):
            raise refuse(Rejection.SIGN_INVALID)
        known: bool | None = None
        if not blocking:
            # Everything that could block is decided here, before the first check that counts anything.
            known = key.passphrase_hash is not None and self.vault.passphrases.verify_cached(
                key.key_id, key.passphrase_hash, passphrase
            )
            if known is None or self._use_due(key, now):
                raise _Blocking
        # Only a holder of the secret gets this far; a key whose passphrase was guessed wrong too often is
        # frozen for a while, whatever passphrase comes next (no argon2 run either).
        slot = self.limits.begin_passphrase_check(key.key_id)
        if slot == "frozen":
            raise refuse(Rejection.KEY_FROZEN)
        if slot == "busy":  # as many checks in flight as guesses left: retry later, nothing is checked
            raise refuse(Rejection.RATE_LIMITED)
        right = False
        try:
            if known is not None:
                right = known
            else:
                right = key.passphrase_hash is not None and self.vault.passphrases.verify(
                    key.key_id, key.passphrase_hash, passphrase
                )
        finally:
            self.limits.end_passphrase_check(key.key_id, right)
        if not right:
            raise refuse(Rejection.PASSPHRASE_WRONG)
        # Only the key's full holder learns the account is frozen (after the signature and the passphrase).
        if key.account_frozen:
            raise refuse(Rejection.ACCOUNT_FROZEN)
        if not self.limits.first_use(sign, self._replay_ttl, now.timestamp()):
            raise refuse(Rejection.REPLAYED)
        if not policy.ip_allowed(key.networks, req.client_ip):
            raise refuse(Rejection.IP_NOT_ALLOWED)
        if need not in key.permissions:
            raise refuse(Rejection.NO_PERMISSION)
        if not self.limits.hit(key.key_id, key.user_id, route).allowed:
            raise refuse(Rejection.RATE_LIMITED)
        self._mark_used(key, now)
        return Caller(key.key_id, key.user_id, key.label, key.permissions, key.ips, key.app_id)

    def _load(self, key_id: str) -> KeyEntry | None:
        """The live key as authentication needs it, from the database (a cache miss)."""
        with self.sessions() as session:
            key = session.get(ApiKey, key_id)
            if key is None or key.revoked_at is not None or key.secret_sealed is None:
                return None
            return KeyEntry(
                key_id=key.id,
                user_id=key.user_id,
                label=key.label,
                app_id=key.app_id,
                secret=self.vault.box.open_text(key.secret_sealed, key.id),
                passphrase_hash=key.passphrase_hash,
                permissions=policy.parse_permissions([key.permissions]),
                networks=tuple(policy.parse_allowlist(key.ips.split(",") if key.ips else [])),
                ips=key.ips,
                account_frozen=self.account_frozen is not None and self.account_frozen(session, key.user_id),
                last_used_at=key.last_used_at,
            )

    def _mark_used(self, key: KeyEntry, now: datetime) -> None:
        """Write last_used_at when the last one this process knows of is `LAST_USED_RESOLUTION` old."""
        if not self._use_due(key, now):
            return
        self._last_used[key.key_id] = now
        with self.sessions() as session:
            session.execute(
                update(ApiKey)
                .where(
                    ApiKey.id == key.key_id,
                    (ApiKey.last_used_at.is_(None)) | (ApiKey.last_used_at < now),
                )
                .values(last_used_at=now)
            )
            session.commit()

    def _use_due(self, key: KeyEntry, now: datetime) -> bool:
        known = [at for at in (key.last_used_at, self._last_used.get(key.key_id)) if at is not None]
        return not known or now - max(known) >= LAST_USED_RESOLUTION

    def flush(self) -> int:
        """Write the queued refusals now (tests and reports that read them; the app's shutdown)."""
        return self.rejections.flush()

    def close(self) -> None:
        self.rejections.close()

    def _record(self, rejected: AuthRejected, req: SignedRequest, now: datetime) -> None:
        self.rejections.add(now, rejected.reason.code, rejected.key_id or "", req.client_ip, req.path)
