"""TOTP two-factor authentication (RFC 6238, pyotp): enroll, confirm, verify.

The seed is sealed at rest. A code is accepted once (the step it matched is remembered, so a replayed or
earlier code fails), within one step of clock drift, and five wrong codes lock verification for 15 minutes.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import pyotp
from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.db.sealing import Keyring
from bastion.errors import ConflictError, NotFoundError
from bastion.protection.models import TotpCredential

STEP_SECONDS = 30
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)




class Check(StrEnum):
    ok = "ok"
    invalid = "invalid"
    replayed = "replayed"
    locked = "locked"
    not_enrolled = "not_enrolled"


@dataclass(frozen=True)
class Enrollment:
    secret: str
    provisioning_uri: str


def _sealer(key: bytes) -> Keyring:
    return Keyring.derived(key, "totp")


def _aware(dt: datetime | None) -> datetime | None:
    return None if dt is None else (dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt)


def enroll(
    session: Session,
    key: bytes,
    user_id: str,
    account_name: str,
    issuer: str = "Bastion",
    now: datetime | None = None,
) -> Enrollment:
    """A new seed, pending until confirmed with a code. Refused while a confirmed one exists."""
    now = now or datetime.now(UTC)
    row = session.get(TotpCredential, user_id)
    if row is not None and row.confirmed_at is not None:
        raise ConflictError("two-factor authentication is already on; disable it first")
    secret = pyotp.random_base32()
    sealed = _sealer(key).seal(secret.encode(), user_id.encode())
    if row is None:
        session.add(
            TotpCredential(
                user_id=user_id,
                secret_sealed=sealed,
                created_at=now,
                confirmed_at=None,
                last_step=0,
                failures=0,
                locked_until=None,
            )
        )
    else:
        row.secret_sealed, row.created_at, row.last_step, row.failures = sealed, now, 0, 0
    uri = pyotp.TOTP(secret).provisioning_uri(name=account_name, issuer_name=issuer)
    return Enrollment(secret=secret, provisioning_uri=uri)


def _check(session: Session, key: bytes, user_id: str, code: str, now: datetime, pending: bool) -> Check:
    row = session.scalars(
        select(TotpCredential).where(TotpCredential.user_id == user_id).with_for_update()
    ).first()
    if row is None or (row.confirmed_at is None) != pending:
        return Check.not_enrolled
    locked = _aware(row.locked_until)
    if locked is not None and now < locked:
        return Check.locked
    totp = pyotp.TOTP(_sealer(key).open(row.secret_sealed, user_id.encode()).decode())
    step_now = int(now.timestamp()) // STEP_SECONDS
    matched = None
    for step in (step_now - 1, step_now, step_now + 1):
        if hmac.compare_digest(totp.generate_otp(step), code.strip()):
            matched = step
    if matched is None:
        row.failures += 1
        if row.failures >= MAX_FAILURES:
            row.locked_until, row.failures = now + LOCKOUT, 0
        return Check.invalid
    if matched <= row.last_step:
        return Check.replayed
    row.last_step, row.failures, row.locked_until = matched, 0, None
    if pending:
        row.confirmed_at = now
    return Check.ok


def confirm(session: Session, key: bytes, user_id: str, code: str, now: datetime | None = None) -> Check:
    """Turn 2FA on with the first code from the app. Caller commits (also on failure: counts failures)."""
    return _check(session, key, user_id, code, now or datetime.now(UTC), pending=True)


def verify(session: Session, key: bytes, user_id: str, code: str, now: datetime | None = None) -> Check:
    """Check a code for a confirmed enrollment (API key creation, withdrawals...). Caller commits."""
    return _check(session, key, user_id, code, now or datetime.now(UTC), pending=False)


def is_enabled(session: Session, user_id: str) -> bool:
    row = session.get(TotpCredential, user_id)
    return row is not None and row.confirmed_at is not None


def disable(session: Session, key: bytes, user_id: str, code: str, now: datetime | None = None) -> Check:
    result = verify(session, key, user_id, code, now)
    if result is Check.ok:
        row = session.get(TotpCredential, user_id)
        if row is None:
            raise NotFoundError("not enrolled")
        session.delete(row)
    return result
