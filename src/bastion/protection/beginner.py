"""Beginner protection: rules, switched on by the exchange, that hold new or inexperienced traders back from
high-risk derivatives positions until they have waited or shown they understand the risk.

The rules are data, versioned like the risk rules (`beginner_rulesets`: one active version, old ones kept to
explain past refusals). They say who is a beginner (an account younger than N days, no derivatives history,
an appropriateness questionnaire not passed: each criterion on or off) and what applies to them:

- a cooling-off before the first derivatives order: the first order that opens or increases a derivatives
  position starts it, and every such order is refused until it ends;
- a leverage cap and a position limit (USD value of the position after the order).

Passing the questionnaire lifts all of it. Every refusal names its rule and the rule-set version, and is
stored for the monthly report. An account Bastion has never been told about counts as opened when first
seen, with no derivatives history: unknown means new, not experienced.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field, ValidationError, model_validator
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bastion.errors import ConflictError, InvalidInputError, NotFoundError
from bastion.protection.models import (
    BeginnerAccount,
    BeginnerRefusal,
    BeginnerRuleset,
    MarginEvent,
    QuestionnaireAttempt,
)


# ------------------------------------------------------------------------------------------------ rules
class Question(BaseModel):
    id: str = Field(min_length=1, max_length=32)
    text: str = Field(min_length=1, max_length=1000)
    options: list[str] = Field(min_length=2, max_length=8)
    answer: int = Field(ge=0)  # index into options; never shown to users


class Questionnaire(BaseModel):
    pass_mark: int = Field(ge=1)
    retry_hours: int = Field(default=24, ge=0, le=24 * 30)  # after a failed attempt
    questions: list[Question] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def _consistent(self) -> Questionnaire:
        if self.pass_mark > len(self.questions):
            raise ValueError("pass_mark is more than the number of questions")
        ids = [q.id for q in self.questions]
        if len(set(ids)) != len(ids):
            raise ValueError("question ids must be unique")
        for q in self.questions:
            if q.answer >= len(q.options):
                raise ValueError(f"question {q.id}: answer is not one of its options")
        return self


class BeginnerRules(BaseModel):
    enabled: bool = False
    account_age_days: int | None = Field(default=30, ge=1, le=3650)  # None: age is no criterion
    no_derivatives_history: bool = True
    questionnaire_not_passed: bool = False  # on: everyone who has not passed it is a beginner
    cooling_off_hours: int = Field(default=24, ge=0, le=24 * 90)
    max_leverage: Decimal | None = Field(default=Decimal(10), gt=0, le=1000, allow_inf_nan=False)
    max_position_usd: Decimal | None = Field(default=Decimal(10_000), gt=0, allow_inf_nan=False)
    questionnaire: Questionnaire = Field(
        default_factory=lambda: Questionnaire(
            pass_mark=3,
            questions=[
                Question(
                    id="liquidation",
                    text="With 20x leverage, roughly how far can the price move against you before liquidation?",
                    options=["About 50%", "About 5%", "It cannot be liquidated"],
                    answer=1,
                ),
                Question(
                    id="loss",
                    text="Can you lose more than the margin you put into an isolated position?",
                    options=["Yes, without limit", "No, at most the margin (fees aside)"],
                    answer=1,
                ),
                Question(
                    id="funding",
                    text="What is the funding rate of a perpetual swap?",
                    options=[
                        "A fee to the exchange",
                        "A periodic payment between longs and shorts",
                        "Interest on deposits",
                    ],
                    answer=1,
                ),
            ],
        )
    )


def parse_rules(definition: Any) -> BeginnerRules:
    """Rules from a definition; InvalidInputError naming the first bad field."""
    try:
        return BeginnerRules.model_validate(definition)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err.get("loc", ())) or "rules"
        raise InvalidInputError(field, err.get("msg", "invalid")) from None


class Rule(enum.StrEnum):
    COOLING_OFF = "cooling_off"
    LEVERAGE_CAP = "leverage_cap"
    POSITION_LIMIT = "position_limit"


class Criterion(enum.StrEnum):
    ACCOUNT_AGE = "account_age"
    NO_DERIVATIVES_HISTORY = "no_derivatives_history"
    QUESTIONNAIRE_NOT_PASSED = "questionnaire_not_passed"












class MarginKind(enum.StrEnum):
    MARGIN_CALL = "margin_call"
    LIQUIDATION = "liquidation"


# ----------------------------------------------------------------------------------------------- rules
def active_rules(session: Session) -> tuple[int, BeginnerRules]:
    """The rules in force; version 0 (protection off) until the exchange publishes a version."""
    row = session.scalars(select(BeginnerRuleset).where(BeginnerRuleset.active.is_(True)).limit(1)).first()
    if row is None:
        return 0, BeginnerRules()
    return row.version, BeginnerRules.model_validate(row.definition)


def rules_version(session: Session, version: int) -> BeginnerRules:
    if version == 0:
        return BeginnerRules()
    row = session.get(BeginnerRuleset, version)
    if row is None:
        raise NotFoundError(f"beginner rules version {version} not found")
    return BeginnerRules.model_validate(row.definition)


def publish_rules(session: Session, definition: Any, actor: str, note: str, now: datetime) -> int:
    """Store a new version and make it the active one (the caller commits)."""
    rules = parse_rules(definition)
    latest = session.scalar(select(func.max(BeginnerRuleset.version))) or 0
    session.execute(update(BeginnerRuleset).where(BeginnerRuleset.active.is_(True)).values(active=False))
    session.add(
        BeginnerRuleset(
            version=latest + 1,
            definition=rules.model_dump(mode="json"),
            active=True,
            created_at=now,
            created_by=actor,
            note=note,
        )
    )
    try:
        session.flush()
    except Exception:
        raise ConflictError("another rules version was published at the same time: retry") from None
    return latest + 1


# --------------------------------------------------------------------------------------------- accounts
def _account(session: Session, user_id: str, now: datetime, lock: bool = False) -> BeginnerAccount:
    """The trader's row, created (opened now, no history) if Bastion has never heard of them; locked for
    the transaction when `lock` (first attempt, first trade and questionnaire are decided under it)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(BeginnerAccount)
        .values(user_id=user_id, opened_at=now, prior_derivatives=False)
        .on_conflict_do_nothing(index_elements=["user_id"])
    )
    q = select(BeginnerAccount).where(BeginnerAccount.user_id == user_id)
    if lock:
        q = q.with_for_update()
    return session.scalars(q.execution_options(populate_existing=True)).one()


def register_account(
    session: Session, user_id: str, opened_at: datetime, prior_derivatives: bool, now: datetime
) -> BeginnerAccount:
    """The exchange tells Bastion when an account was opened and whether it traded derivatives before."""
    if opened_at.tzinfo is None:
        raise InvalidInputError("opened_at", "needs a timezone (UTC)")
    if opened_at > now:
        raise InvalidInputError("opened_at", "is in the future")
    acc = _account(session, user_id, now)
    acc.opened_at = opened_at.astimezone(UTC)
    acc.prior_derivatives = prior_derivatives
    session.flush()
    return acc


@dataclass(frozen=True, slots=True)
class Status:
    user_id: str
    version: int
    enabled: bool
    beginner: bool
    criteria: list[str]  # which of the rules' criteria make them a beginner
    cooling_off_until: datetime | None
    max_leverage: Decimal | None
    max_position_usd: Decimal | None
    questionnaire_passed: bool


def _criteria(acc: BeginnerAccount, rules: BeginnerRules, at: datetime) -> list[str]:
    if not rules.enabled or (acc.questionnaire_passed_at is not None and acc.questionnaire_passed_at <= at):
        return []
    out = []
    if rules.account_age_days is not None and at - acc.opened_at < timedelta(days=rules.account_age_days):
        out.append(Criterion.ACCOUNT_AGE.value)
    has_history = acc.prior_derivatives or (acc.first_trade_at is not None and acc.first_trade_at <= at)
    if rules.no_derivatives_history and not has_history:
        out.append(Criterion.NO_DERIVATIVES_HISTORY.value)
    if rules.questionnaire_not_passed:
        out.append(Criterion.QUESTIONNAIRE_NOT_PASSED.value)
    return out


def _cooling_off_until(acc: BeginnerAccount, rules: BeginnerRules) -> datetime | None:
    """Before the first derivatives trade, the cooling-off runs from the first attempt."""
    if acc.first_trade_at is not None or acc.prior_derivatives or acc.first_attempt_at is None:
        return None
    return acc.first_attempt_at + timedelta(hours=rules.cooling_off_hours)


def status(session: Session, user_id: str, now: datetime) -> Status:
    version, rules = active_rules(session)
    acc = session.get(BeginnerAccount, user_id) or BeginnerAccount(
        user_id=user_id, opened_at=now, prior_derivatives=False
    )
    crit = _criteria(acc, rules, now)
    until = _cooling_off_until(acc, rules) if crit else None
    return Status(
        user_id,
        version,
        rules.enabled,
        bool(crit),
        crit,
        until if until and until > now else None,
        rules.max_leverage if crit else None,
        rules.max_position_usd if crit else None,
        acc.questionnaire_passed_at is not None,
    )


# ----------------------------------------------------------------------------------------------- orders
@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    rule: Rule | None
    reason: str | None
    version: int


def check_order(
    session: Session, user_id: str, lever: Decimal | None, notional_usd: Decimal | None, now: datetime
) -> Decision:
    """Decide an order that opens or increases a derivatives position (the caller commits: the first attempt
    and refusals are stored). Other orders never come here: reducing risk is always allowed."""
    version, rules = active_rules(session)
    if not rules.enabled:
        return Decision(True, None, None, version)
    acc = _account(session, user_id, now, lock=True)
    crit = _criteria(acc, rules, now)
    if not crit:
        return Decision(True, None, None, version)
    why = ", ".join(c.replace("_", " ") for c in crit)
    lift = "pass the appropriateness questionnaire to lift it"
    if acc.first_trade_at is None and not acc.prior_derivatives and acc.first_attempt_at is None:
        acc.first_attempt_at = now
    until = _cooling_off_until(acc, rules)
    refusal: tuple[Rule, str] | None = None
    if until is not None and now < until:
        refusal = (
            Rule.COOLING_OFF,
            f"beginner protection (rules v{version}; {why}): cooling-off before the first derivatives order "
            f"until {until.isoformat()}; {lift}",
        )
    elif rules.max_leverage is not None and lever is not None and lever > rules.max_leverage:
        refusal = (
            Rule.LEVERAGE_CAP,
            f"beginner protection (rules v{version}; {why}): leverage {format(lever.normalize(), 'f')}x is above "
            f"the cap of {format(rules.max_leverage.normalize(), 'f')}x; {lift}",
        )
    elif rules.max_position_usd is not None and notional_usd is not None and notional_usd > rules.max_position_usd:
        refusal = (
            Rule.POSITION_LIMIT,
            f"beginner protection (rules v{version}; {why}): a position of {format(notional_usd.normalize(), 'f')} "
            f"USD is above the limit of {format(rules.max_position_usd.normalize(), 'f')} USD; {lift}",
        )
    if refusal is None:
        session.flush()
        return Decision(True, None, None, version)
    session.add(BeginnerRefusal(user_id=user_id, at=now, rule=refusal[0].value, version=version, criteria=crit))
    session.flush()
    return Decision(False, refusal[0], refusal[1], version)


def record_first_trade(session: Session, user_id: str, ts: datetime, now: datetime) -> BeginnerAccount:
    """The trader's first derivatives fill; records whether protection applied to them then (idempotent:
    the earliest reported time wins, the cohort is decided once)."""
    if ts.tzinfo is None:
        raise InvalidInputError("ts", "needs a timezone (UTC)")
    acc = _account(session, user_id, ts, lock=True)
    if acc.first_trade_at is not None and acc.first_trade_at <= ts:
        return acc
    version, rules = active_rules(session)
    # Judged just before the trade: the trade itself gives them history.
    acc.first_trade_at = None
    acc.protected_at_first_trade = bool(_criteria(acc, rules, ts))
    acc.version_at_first_trade = version
    acc.first_trade_at = ts.astimezone(UTC)
    session.flush()
    return acc


# ------------------------------------------------------------------------------------------ questionnaire
def public_questionnaire(session: Session) -> tuple[int, Questionnaire]:
    version, rules = active_rules(session)
    return version, rules.questionnaire


@dataclass(frozen=True, slots=True)
class Attempt:
    passed: bool
    score: int
    pass_mark: int
    version: int
    retry_at: datetime | None  # after a failure


def submit_questionnaire(session: Session, user_id: str, answers: dict[str, int], now: datetime) -> Attempt:
    """Score the user's answers against the rules in force; stored whatever the result. After a failure the
    next attempt waits `retry_hours` (answers cannot be found by trying them all)."""
    version, rules = active_rules(session)
    q = rules.questionnaire
    acc = _account(session, user_id, now, lock=True)
    unknown = sorted(set(answers) - {x.id for x in q.questions})
    if unknown:
        raise InvalidInputError("answers", f"unknown question(s): {', '.join(unknown)}")
    last = session.scalars(
        select(QuestionnaireAttempt)
        .where(QuestionnaireAttempt.user_id == user_id)
        .order_by(QuestionnaireAttempt.at.desc(), QuestionnaireAttempt.id.desc())
        .limit(1)
    ).first()
    if last is not None and not last.passed and now < last.at + timedelta(hours=q.retry_hours):
        retry = last.at + timedelta(hours=q.retry_hours)
        raise ConflictError(f"answers: the last attempt failed; the next one is possible from {retry.isoformat()}")
    score = sum(1 for x in q.questions if answers.get(x.id) == x.answer)
    passed = score >= q.pass_mark
    session.add(
        QuestionnaireAttempt(
            user_id=user_id, at=now, version=version, answers=dict(answers), score=score, passed=passed
        )
    )
    if passed and acc.questionnaire_passed_at is None:
        acc.questionnaire_passed_at = now
    session.flush()
    return Attempt(passed, score, q.pass_mark, version, None if passed else now + timedelta(hours=q.retry_hours))


# ------------------------------------------------------------------------------------------ margin events
def record_margin_event(
    session: Session,
    event_id: str,
    user_id: str,
    kind: MarginKind,
    ts: datetime,
    liquidation_id: str | None,
    now: datetime,
) -> bool:
    """Store one margin call or liquidation; True when new. The same id again with the same facts is a
    no-op; with other facts, a conflict."""
    if ts.tzinfo is None:
        raise InvalidInputError("ts", "needs a timezone (UTC)")
    ts = ts.astimezone(UTC)
    existing = session.get(MarginEvent, event_id)
    if existing is not None:
        if (existing.user_id, existing.kind, existing.ts, existing.liquidation_id) != (
            user_id,
            kind.value,
            ts,
            liquidation_id,
        ):
            raise ConflictError(f"id: {event_id} was reported with other facts")
        return False
    session.add(
        MarginEvent(
            id=event_id, user_id=user_id, kind=kind.value, ts=ts, liquidation_id=liquidation_id, recorded_at=now
        )
    )
    session.flush()
    return True
