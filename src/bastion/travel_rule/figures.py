"""The Travel Rule's monthly figures, from its own rows: messages sent (delivered) and received (accepted),
deposits held, released (and by what) and returned, and the median time from a deposit's arrival to its release."""

from __future__ import annotations

import statistics
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bastion.periods import month_bounds
from bastion.travel_rule.models import TravelRuleDeposit, TravelRuleMessage


class TravelRuleFigures(BaseModel):
    month: str
    messages_sent: int
    messages_received: int
    deposits_held: int  # held on arrival during the month
    deposits_released: int  # released during the month (whenever they arrived)
    released_by: dict[str, int]  # message | originator | ownership
    deposits_returned: int  # returned at their deadline during the month
    median_hours_to_release: float | None


def month_figures(session: Session, month: str) -> TravelRuleFigures:
    start, end = month_bounds(month)
    m, d = TravelRuleMessage, TravelRuleDeposit

    def messages(direction: str, status: str) -> int:
        q = select(func.count()).where(m.direction == direction, m.status == status, m.recorded_at >= start,
                                       m.recorded_at < end)  # fmt: skip
        return int(session.scalar(q) or 0)

    held = int(session.scalar(select(func.count()).where(d.deadline.is_not(None), d.observed_at >= start,
                                                         d.observed_at < end)) or 0)  # fmt: skip
    resolved = session.execute(
        select(d.status, d.resolved_by, d.observed_at, d.resolved_at).where(
            d.status.in_(("released", "returned")), d.resolved_at >= start, d.resolved_at < end
        )
    ).all()
    released = [r for r in resolved if r.status == "released"]
    by: dict[str, int] = {}
    for r in released:
        by[r.resolved_by] = by.get(r.resolved_by, 0) + 1
    hours = [_hours(r.observed_at, r.resolved_at) for r in released]
    return TravelRuleFigures(
        month=month,
        messages_sent=messages("out", "sent"),
        messages_received=messages("in", "accepted"),
        deposits_held=held,
        deposits_released=len(released),
        released_by=dict(sorted(by.items())),
        deposits_returned=sum(1 for r in resolved if r.status == "returned"),
        median_hours_to_release=round(statistics.median(hours), 3) if hours else None,
    )


def _hours(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds() / 3600
