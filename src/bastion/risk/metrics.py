"""The risk figures of the monthly security report, computed from stored decisions.

Definitions (also in docs/risk.md):
- withdrawals intercepted: blocked, or held and then rejected by an analyst;
- users protected: distinct users with at least one intercepted withdrawal;
- value preserved: USD value (at the time of the attempt) of the intercepted withdrawals;
- false positives: held and then approved; median review time: hold to analyst decision.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from bastion.risk.clock import utc
from bastion.risk.models import RiskDecision, RiskRuleHit


@dataclass(frozen=True)
class RiskMetrics:
    start: datetime
    end: datetime
    withdrawals_evaluated: int
    allowed: int
    held: int
    blocked: int
    pending_review: int
    withdrawals_intercepted: int
    users_protected: int
    value_preserved_usd: Decimal
    false_positives: int
    false_positive_rate: float  # of reviewed holds
    median_review_seconds: float | None
    hits_per_rule: dict[str, int] = field(default_factory=dict)
    daily_interceptions: dict[date, int] = field(default_factory=dict)


def monthly(session: Session, start: datetime, end: datetime) -> RiskMetrics:
    """Figures for decisions requested in [start, end)."""
    start, end = utc(start), utc(end)
    D = RiskDecision
    period = and_(D.requested_at >= start, D.requested_at < end)
    intercepted = and_(period, or_(D.decision == "block", D.review_status == "rejected"))
    counts = dict(session.execute(select(D.decision, func.count()).where(period).group_by(D.decision)).all())
    statuses = dict(
        session.execute(
            select(D.review_status, func.count()).where(period, D.review_status.is_not(None)).group_by(D.review_status)
        ).all()
    )
    n_int, users, value = session.execute(
        select(func.count(), func.count(func.distinct(D.user_id)), func.coalesce(func.sum(D.amount_usd), 0)).where(
            intercepted
        )
    ).one()
    hits = dict(
        session.execute(
            select(RiskRuleHit.rule_id, func.count())
            .where(
                RiskRuleHit.requested_at >= start,
                RiskRuleHit.requested_at < end,
                RiskRuleHit.snoozed.is_(False),
            )
            .group_by(RiskRuleHit.rule_id)
        ).all()
    )
    review_secs = [
        (utc(done) - utc(at)).total_seconds()
        for at, done in session.execute(select(D.requested_at, D.reviewed_at).where(period, D.reviewed_at.is_not(None)))
        if done is not None
    ]
    daily: dict[date, int] = {}
    for (at,) in session.execute(select(D.requested_at).where(intercepted)):
        day = utc(at).date()
        daily[day] = daily.get(day, 0) + 1
    approved, rejected = statuses.get("approved", 0), statuses.get("rejected", 0)
    return RiskMetrics(
        start=start,
        end=end,
        withdrawals_evaluated=sum(counts.values()),
        allowed=counts.get("allow", 0),
        held=counts.get("review", 0),
        blocked=counts.get("block", 0),
        pending_review=statuses.get("pending", 0),
        withdrawals_intercepted=int(n_int),
        users_protected=int(users),
        value_preserved_usd=Decimal(value).quantize(Decimal("0.01")),
        false_positives=approved,
        false_positive_rate=approved / (approved + rejected) if approved + rejected else 0.0,
        median_review_seconds=statistics.median(review_secs) if review_secs else None,
        hits_per_rule=dict(sorted(hits.items())),
        daily_interceptions=dict(sorted(daily.items())),
    )
