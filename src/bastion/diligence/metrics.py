"""The due-diligence figures of the monthly security report, from the stored requests.

For a month [start, end): requests **opened** in it, **answered** in it (the user's latest answer), **approved**
and **rejected** in it (the officer's decision), and **overdue**: whose deadline fell in the month with the
request neither answered nor decided by then (a flow like the others, so a request counts in one month only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from bastion.diligence.models import DiligenceRequest as R


@dataclass(frozen=True)
class DiligenceMonth:
    opened: int
    answered: int
    approved: int
    rejected: int
    overdue: int
    opened_by_reason: dict[str, int]


def monthly(session: Session, start: datetime, end: datetime) -> DiligenceMonth:
    def count(*where: object) -> int:
        return int(session.scalar(select(func.count()).select_from(R).where(*where)) or 0)  # type: ignore[arg-type]

    by_reason = dict(
        session.execute(
            select(R.reason, func.count()).where(R.opened_at >= start, R.opened_at < end).group_by(R.reason)
        ).all()
    )
    decided_in = and_(R.decided_at >= start, R.decided_at < end)
    return DiligenceMonth(
        opened=count(R.opened_at >= start, R.opened_at < end),
        answered=count(R.answered_at >= start, R.answered_at < end),
        approved=count(R.status == "approved", decided_in),
        rejected=count(R.status == "rejected", decided_in),
        overdue=count(
            R.due_at >= start,
            R.due_at < end,
            or_(R.answered_at.is_(None), R.answered_at > R.due_at),
            or_(R.decided_at.is_(None), R.decided_at > R.due_at),
        ),
        opened_by_reason={k: int(v) for k, v in sorted(by_reason.items())},
    )
