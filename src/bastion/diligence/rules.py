"""Triggers as data: which facts open a due-diligence request, how long the user has to answer, and above
which amount withdrawals are held meanwhile. Versioned in the database like the risk rules
(`diligence_rule_sets`): a new version is validated whole (errors name the field), then activated; every
request records the version it was opened under.

Reasons a request is opened for (one open request per user and reason):
- `deposits_30d`: the user's credited deposits in the last 30 days add up to at least `deposits_30d_usd`;
- `risk_score`: a withdrawal risk score of at least `risk_score_at_least` was reported for the user;
- `jurisdiction`: the user's jurisdiction (ISO 3166-1 alpha-2) is on `high_risk_jurisdictions`;
- `operator`: a compliance officer asked (always on).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from annotated_types import Len
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.bounds import NonNegativeMoney, PositiveMoney
from bastion.db.versioned import activate_only, active_row, next_version
from bastion.diligence.models import DiligenceRuleSet
from bastion.errors import InvalidInputError

Reason = Literal["deposits_30d", "risk_score", "jurisdiction", "operator"]
REASONS: tuple[Reason, ...] = ("deposits_30d", "risk_score", "jurisdiction", "operator")
WINDOW = timedelta(days=30)


def _country(v: str) -> str:
    if not (v.isascii() and v.isalpha() and v.isupper()):
        raise ValueError("an ISO 3166-1 alpha-2 code in capitals, e.g. KP")
    return v


Country = Annotated[str, Len(2, 2), AfterValidator(_country)]


class Triggers(BaseModel):
    """One version of the triggers. A threshold left out (null) switches its trigger off."""

    model_config = ConfigDict(extra="forbid")
    deposits_30d_usd: PositiveMoney | None = Decimal("15000")
    risk_score_at_least: float | None = Field(default=80.0, ge=0, le=1e6, allow_inf_nan=False)
    # FATF "high-risk jurisdictions subject to a call for action" (the black list): DPRK, Iran, Myanmar.
    high_risk_jurisdictions: list[Country] = Field(default_factory=lambda: ["KP", "IR", "MM"], max_length=300)
    answer_days: int = Field(default=30, ge=1, le=365)
    # Withdrawals above this (USD) are held while the user has an undecided or rejected request.
    hold_over_usd: NonNegativeMoney = Decimal("1000")

    def deadline(self, opened_at: datetime) -> datetime:
        return opened_at + timedelta(days=self.answer_days)


BUILT_IN = Triggers()


class RuleSetOut(BaseModel):
    version: int
    created_at: datetime
    created_by: str
    note: str | None
    active: bool
    definition: dict[str, Any]


def parse(definition: dict[str, Any]) -> Triggers:
    """The definition validated, or InvalidInputError naming the first bad field."""
    try:
        return Triggers.model_validate(definition)
    except ValidationError as exc:
        e = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in e.get("loc", ())) or "definition"
        raise InvalidInputError(f"definition.{field}", e.get("msg", "invalid")) from None


def active(session: Session) -> tuple[int, Triggers]:
    """The active version and its triggers; version 0 is the built-in default (nothing stored yet)."""
    row = active_row(session, DiligenceRuleSet)
    if row is None:
        return 0, BUILT_IN
    return row.version, Triggers.model_validate(row.definition)


def _out(r: DiligenceRuleSet) -> RuleSetOut:
    return RuleSetOut(
        version=r.version,
        created_at=r.created_at,
        created_by=r.created_by,
        note=r.note,
        active=r.active,
        definition=r.definition,
    )


def create(
    session: Session, definition: dict[str, Any], created_by: str, note: str | None, activate: bool, at: datetime
) -> RuleSetOut:
    triggers = parse(definition)
    row = DiligenceRuleSet(
        version=next_version(session, DiligenceRuleSet),
        created_at=at,
        created_by=created_by,
        note=note,
        definition=triggers.model_dump(mode="json"),
        active=False,
    )
    session.add(row)
    session.flush()
    if activate:
        return activate_version(session, row.version)
    return _out(row)


def activate_version(session: Session, version: int) -> RuleSetOut:
    row = activate_only(session, DiligenceRuleSet, version, f"rule set {version} does not exist")
    session.flush()
    return _out(row)


def history(session: Session) -> list[RuleSetOut]:
    return [_out(r) for r in session.scalars(select(DiligenceRuleSet).order_by(DiligenceRuleSet.version))]
