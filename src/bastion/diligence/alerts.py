"""The user's alert that a due-diligence request was opened (through the notification outbox)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bastion.diligence.models import DiligenceAudit

KIND = "due_diligence_request"


def enqueue(session: Session, *, user_id: str, kind: str, data: dict[str, str], dedupe_key: str,
            now: datetime | None = None) -> None:  # fmt: skip
    # TEMPORARY until bastion.notify.outbox lands on main (same signature): the alert is recorded in the
    # request's audit trail so the call site and its data are exercised.
    assert now is not None
    session.add(DiligenceAudit(request_id=None, user_id=user_id, action="alert_queued", actor="system", at=now,
                               detail={"kind": kind, "dedupe_key": dedupe_key, **data}))  # fmt: skip


def request_opened(session: Session, user_id: str, request_id: int, due_at: datetime, at: datetime) -> None:
    enqueue(
        session,
        user_id=user_id,
        kind=KIND,
        data={"request_id": str(request_id), "due_at": due_at.isoformat()},
        dedupe_key=f"{KIND}:{request_id}",
        now=at,
    )
