"""The account trail and alerts: every step is a row of `account_audit`, and the alerts the user must see go to
the notify outbox in the same transaction (so an alert exists exactly when the change it reports committed)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.account.models import AccountAudit
from bastion.notify.outbox import enqueue

# The alert kinds this domain sends (the notify domain's templates render them).
ALERT_KINDS = frozenset(
    {
        "new_device",
        "device_removed",
        "account_frozen",
        "account_unfrozen",
        "allowlist_added",
        "allowlist_removed",
        "allowlist_mode_on",
        "allowlist_mode_off",
        "credential_lock",
    }
)


def trail(session: Session, user_id: str, limit: int = 200) -> list[AccountAudit]:
    """The account's trail, newest first."""
    q = select(AccountAudit).where(AccountAudit.user_id == user_id).order_by(AccountAudit.id.desc()).limit(limit)
    return list(session.scalars(q))


def record(session: Session, user_id: str, action: str, actor: str, at: datetime, **detail: Any) -> None:
    session.add(AccountAudit(user_id=user_id, at=at, action=action, actor=actor[:128], detail=detail))


def alert(session: Session, user_id: str, kind: str, data: dict[str, str], dedupe_key: str, at: datetime) -> None:
    """An alert for the user, in the caller's transaction; `dedupe_key` names the causing event (sent once)."""
    if kind not in ALERT_KINDS:
        raise ValueError(f"unknown alert kind {kind!r}")
    enqueue(session, user_id=user_id, kind=kind, data=data, dedupe_key=dedupe_key[:200], now=at)
