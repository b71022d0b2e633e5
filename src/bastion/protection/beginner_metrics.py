"""The effect of beginner protection, measured from Bastion's own data.

New traders are those whose first derivatives trade falls in the period. Each is in one cohort: the week
(Monday, UTC) of that first trade, and whether beginner protection applied to them then
(`beginner_accounts.protected_at_first_trade`). For each cohort: how many traders, how many had at least one
margin call, and how many were liquidated, in their early stage (the first `early_days` after their first
trade), from the margin events the exchange's risk engine reports. Beside it, the protection's activations:
the orders it refused, by rule, and the questionnaire attempts.

The comparison is observational: protected and unprotected cohorts differ by when they started and by who
passed the questionnaire, not only by the protection; the report says so.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bastion.protection.beginner import MarginKind
from bastion.protection.models import BeginnerAccount, BeginnerRefusal, MarginEvent, QuestionnaireAttempt

EARLY_DAYS = 30


class _Rates:
    """Shares of traders with an early margin call / liquidation, for a cohort or the month's totals."""

    __slots__ = ()
    traders: int
    with_margin_call: int
    liquidated: int

    @property
    def margin_call_rate(self) -> float | None:
        return self.with_margin_call / self.traders if self.traders else None

    @property
    def liquidation_rate(self) -> float | None:
        return self.liquidated / self.traders if self.traders else None


@dataclass(frozen=True, slots=True)
class Cohort(_Rates):
    week: date  # Monday of the first trade's week
    protected: bool
    traders: int
    with_margin_call: int
    margin_calls: int
    liquidated: int
    liquidations: int

    def as_json(self) -> dict[str, Any]:
        """The cohort as the report's JSON and the metrics route give it."""
        return {
            "week": self.week.isoformat(),
            "protected": self.protected,
            "traders": self.traders,
            "with_margin_call": self.with_margin_call,
            "margin_calls": self.margin_calls,
            "liquidated": self.liquidated,
            "liquidations": self.liquidations,
        }


@dataclass(frozen=True, slots=True)
class Totals(_Rates):
    traders: int
    with_margin_call: int
    liquidated: int


@dataclass(frozen=True, slots=True)
class BeginnerMonth:
    start: datetime
    end: datetime
    early_days: int
    refusals_by_rule: dict[str, int]
    users_refused: int
    questionnaire_passed: int
    questionnaire_failed: int
    cohorts: list[Cohort] = field(default_factory=list)

    @property
    def activations(self) -> int:
        return sum(self.refusals_by_rule.values())

    def totals(self, protected: bool) -> Totals:
        mine = [c for c in self.cohorts if c.protected is protected]
        return Totals(
            sum(c.traders for c in mine), sum(c.with_margin_call for c in mine), sum(c.liquidated for c in mine)
        )


def monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def monthly(session: Session, start: datetime, end: datetime, early_days: int = EARLY_DAYS) -> BeginnerMonth:
    refusals = session.execute(
        select(BeginnerRefusal.rule, BeginnerRefusal.user_id).where(
            BeginnerRefusal.at >= start, BeginnerRefusal.at < end
        )
    ).all()
    by_rule: dict[str, int] = defaultdict(int)
    for rule, _ in refusals:
        by_rule[rule] += 1
    attempts = dict(
        session.execute(
            select(QuestionnaireAttempt.passed, func.count())
            .where(QuestionnaireAttempt.at >= start, QuestionnaireAttempt.at < end)
            .group_by(QuestionnaireAttempt.passed)
        ).all()
    )
    traders = session.execute(
        select(BeginnerAccount.user_id, BeginnerAccount.first_trade_at, BeginnerAccount.protected_at_first_trade).where(
            BeginnerAccount.first_trade_at >= start, BeginnerAccount.first_trade_at < end
        )
    ).all()
    first: dict[str, tuple[datetime, bool]] = {u: (t, bool(p)) for u, t, p in traders if t is not None}
    # (calls, liquidations) per trader in the early stage; one query over the new traders' events.
    early: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    users = list(first)
    for i in range(0, len(users), 500):
        chunk = users[i : i + 500]
        for user, kind, ts in session.execute(
            select(MarginEvent.user_id, MarginEvent.kind, MarginEvent.ts).where(MarginEvent.user_id.in_(chunk))
        ):
            t0 = first[user][0]
            if t0 <= ts < t0 + timedelta(days=early_days):
                early[user][0 if kind == MarginKind.MARGIN_CALL.value else 1] += 1
    cells: dict[tuple[date, bool], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for user, (t0, protected) in first.items():
        cell = cells[(monday(t0.date()), protected)]
        calls, liqs = early.get(user, [0, 0])
        cell[0] += 1
        cell[1] += 1 if calls else 0
        cell[2] += calls
        cell[3] += 1 if liqs else 0
        cell[4] += liqs
    cohorts = [Cohort(w, p, *v) for (w, p), v in sorted(cells.items())]
    return BeginnerMonth(
        start,
        end,
        early_days,
        dict(sorted(by_rule.items())),
        len({u for _, u in refusals}),
        attempts.get(True, 0),
        attempts.get(False, 0),
        cohorts,
    )
