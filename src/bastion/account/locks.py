"""The credential-change lock as promised: after a password, 2FA, passkey, anti-phishing-code, phone or email
change, withdrawals are blocked (not held) for exactly 24 hours (`risk/decide/locks.py`), and the user is told when
the lock ends (the `credential_lock` alert, in the same transaction as the event)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bastion.account import audit
from bastion.risk import clock as risk_clock
from bastion.risk import ingest as risk_ingest
from bastion.risk import schemas as risk_schemas
from bastion.risk.decide.locks import LOCK

# How the alert names the change ("Your {change} was changed.").
_CHANGE = {
    "password": "password",
    "totp": "two-factor authentication",
    "passkey": "passkey",
    "anti_phishing": "anti-phishing code",
    "phone": "phone number",
    "email": "email address",
}


def after_credential_change(
    session: Session, ev: risk_schemas.CredentialChangeEvent, result: risk_schemas.IngestResult
) -> None:
    until = result.withdrawals_locked_until
    if until is None or result.duplicate:
        return
    at = ev.at or risk_clock.now_utc()
    audit.record(session, ev.user_id, "credential_lock", "events", at, kind=ev.kind, until=until.isoformat())
    audit.alert(
        session,
        ev.user_id,
        "credential_lock",
        {"change": _CHANGE.get(ev.kind, ev.kind), "lock_until": until.isoformat()},
        f"credential_lock:{ev.event_id}",
        at,
    )


def credential_changed(session: Session, user_id: str, kind: str, at: datetime, ref: str) -> datetime:
    """A change made through Bastion's own routes (2FA confirmed, a passkey registered, the anti-phishing code
    replaced): the same 24 h lock, audit row and alert as a change the login service reports, so a stolen session
    cannot add a factor or swap the code silently. `ref` names the change for the alert's dedupe key."""
    risk_ingest.note_credential_change(session, user_id, kind, at)
    until = at + LOCK
    audit.record(session, user_id, "credential_lock", "user", at, kind=kind, until=until.isoformat())
    audit.alert(
        session,
        user_id,
        "credential_lock",
        {"change": _CHANGE.get(kind, kind), "lock_until": until.isoformat()},
        f"credential_lock:{user_id}:{kind}:{ref}",
        at,
    )
    return until


def ingest_credential_change(session: Session, ev: risk_schemas.CredentialChangeEvent) -> risk_schemas.IngestResult:
    """The risk engine's ingestion of the event, then the lock's alert (the caller commits)."""
    result = risk_ingest.ingest_credential_change(session, ev)
    after_credential_change(session, ev, result)
    return result
