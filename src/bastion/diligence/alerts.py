"""The user's alert that a due-diligence request was opened, through the notification outbox (written in the
same transaction as the request, so it exists exactly when the request does)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bastion.notify.outbox import enqueue

KIND = "due_diligence_request"


def request_opened(session: Session, user_id: str, request_id: int, due_at: datetime, at: datetime) -> None:
    enqueue(
        session,
        user_id=user_id,
        kind=KIND,
        # `reference` is what the template shows; nothing about why the request was opened (no tipping off).
        data={"reference": f"DD-{request_id}", "request_id": str(request_id), "due_at": due_at.isoformat()},
        dedupe_key=f"{KIND}:{request_id}",
        now=at,
    )
