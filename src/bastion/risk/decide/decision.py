"""The decision: features -> scenario rules (+ snoozes) -> bounded learned score -> allow / review / block,
stored with its inputs and every fired rule, and mapped to the exchange's withdrawal states.

A fired rule marked `step_up` turns an allow or a review into `step_up`: the withdrawal waits for the user to
confirm it with a second factor they have enrolled (TOTP, passkey; `bastion.stepup`), then the score's
decision applies (`step_up_passed`). Which factors the user has is read only for those decisions
(`settle_step_up`), so a decision no step-up rule touches costs nothing more."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, cast

from pydantic import BaseModel, Field
from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from bastion.errors import ConflictError
from bastion.risk import holds as account_holds
from bastion.risk.clock import utc
from bastion.risk.decide.locks import WithdrawalLock, lock_for
from bastion.risk.decide.rules import Scenario, holds
from bastion.risk.decide.score import ModelSnapshot, model_inputs
from bastion.risk.models import RiskDecision
from bastion.risk.schemas import WithdrawalRequest, normalize_address, payload_hash
from bastion.risk.state import commit_log

# hold: an account hold (`risk.holds`, e.g. an open due-diligence request) keeps the withdrawal until its cause
# is resolved; the exchange resubmits it as a new event then. It wins over a step-up (a second factor does not
# answer a compliance hold), not over a block.
Decision = Literal["allow", "review", "block", "step_up", "hold"]

# The exchange's withdrawal states each decision maps to (OKX v5 `state` codes alongside). OKX has no state
# for "waiting for the user's second factor": 0 (waiting withdrawal) is the nearest, nothing has left yet.
EXCHANGE_STATE: dict[str, tuple[str, int]] = {
    "allow": ("approved", 7),
    "review": ("waiting_manual_review", 4),
    "block": ("cancelled", -2),
    "step_up": ("waiting_step_up", 0),
    "hold": ("waiting_manual_review", 4),
}
# How long a withdrawal waits for its step-up; after that it must be requested again.
STEP_UP_TTL = timedelta(minutes=15)
# The second factors a step-up accepts, strongest (phishing-resistant) first.
STEP_UP_METHODS = ("passkey", "totp")
# Looks up the step-up factors a user has enrolled (wired by the service: risk does not import protection).
MethodsLookup = Callable[[Session, str], list[str]]


class RuleResult(BaseModel):
    id: str
    description: str
    score: float
    contribution: float
    snoozed: bool = False


class ModelResult(BaseModel):
    version: int
    samples: int
    active: bool
    probability: float
    contribution: float
    max_points: float
    features: dict[str, float]


class StepUpOut(BaseModel):
    """A withdrawal a step-up rule touched: what the user may confirm it with, and how it went."""

    rules: list[str]
    methods: list[str]  # enrolled when decided; empty: none, so the withdrawal was held for review instead
    next: Literal["allow", "review"]  # the score's decision, applied once the step-up passes
    expires_at: datetime
    status: Literal["pending", "passed", "not_enrolled"]
    method: str | None = None
    passed_at: datetime | None = None


class HoldOut(BaseModel):
    """Why a withdrawal is held and what would release it: an account hold's limit (`over_usd`, due diligence), or
    what another domain's check still needs (`missing`, e.g. the Travel Rule's ownership_proof)."""

    reason: str
    # Each kind of hold shows only its own fields (an account hold its limit, a check what is missing).
    over_usd: str | None = Field(default=None, exclude_if=lambda v: v is None)
    missing: list[str] | None = Field(default=None, exclude_if=lambda v: v is None)
    rule: str | None = Field(default=None, exclude_if=lambda v: v is None)
    counterparty: str | None = Field(default=None, exclude_if=lambda v: v is None)


class DecisionOut(BaseModel):
    decision_id: int
    event_id: str
    user_id: str
    decision: Decision
    exchange_state: str
    exchange_state_code: int
    score: float
    rules_score: float
    model_score: float
    thresholds: dict[str, float]
    ruleset_version: int
    rules: list[RuleResult]
    model: ModelResult
    features: dict[str, Any]
    requested_at: datetime
    review_status: str | None = None
    duplicate: bool = False
    # A hard lock (`locks.py`) blocked it: why (account_frozen / withdrawal_lock / allowlist), what started the
    # lock (password, totp, passkey, anti_phishing, allowlist_off, unfreeze, ...), and when it ends (None: not
    # by itself). None when the rules and the score decided.
    reason: str | None = None
    lock_cause: str | None = None
    locked_until: datetime | None = None
    step_up: StepUpOut | None = None
    holds: list[HoldOut] = []


def step_up_view(su: dict[str, Any] | None) -> StepUpOut | None:
    """The stored `inputs["_step_up"]` as the answer shows it (pending until `expires_at`, then dead)."""
    if not su:
        return None
    status = "passed" if su.get("passed_at") else "pending" if su.get("methods") else "not_enrolled"
    return StepUpOut(
        rules=su["rules"],
        methods=su.get("methods") or [],
        next=su["next"],
        expires_at=datetime.fromisoformat(su["expires_at"]),
        status=status,  # type: ignore[arg-type]
        method=su.get("method"),
        passed_at=datetime.fromisoformat(su["passed_at"]) if su.get("passed_at") else None,
    )


def stored_answer(d: RiskDecision, duplicate: bool) -> DecisionOut:
    """A stored decision as the route answers it (after reviews and step-ups, as it stands now)."""
    state, code = EXCHANGE_STATE[d.decision]
    if d.review_status == "approved":
        state, code = "approved", 7
    elif d.review_status == "rejected":
        state, code = "cancelled", -2
    lock = d.inputs.get("_lock") or {}
    return DecisionOut(
        decision_id=d.id,
        event_id=d.event_id,
        user_id=d.user_id,
        decision=d.decision,  # type: ignore[arg-type]
        exchange_state=state,
        exchange_state_code=code,
        score=d.score,
        rules_score=d.rules_score,
        model_score=d.model_score,
        thresholds=d.inputs.get("_thresholds", {}),
        ruleset_version=d.ruleset_version,
        rules=[RuleResult(**r) for r in d.rule_results],
        model=ModelResult(**d.model_detail),
        features=d.features,
        requested_at=utc(d.requested_at),
        review_status=d.review_status,
        duplicate=duplicate,
        reason=lock.get("reason"),
        lock_cause=lock.get("cause"),
        locked_until=datetime.fromisoformat(lock["until"]) if lock.get("until") else None,
        step_up=step_up_view(d.inputs.get("_step_up")),
        holds=[HoldOut(**h) for h in d.inputs.get("_holds", [])],
    )


def get_decision(session: Session, decision_id: int) -> DecisionOut | None:
    d = session.get(RiskDecision, decision_id)
    return None if d is None else stored_answer(d, duplicate=False)


def request_payload(req: WithdrawalRequest) -> dict[str, Any]:
    return req.model_dump(mode="json", exclude={"at"})


class _Sql:
    """The retry look-up, built once, run on the session's connection (see ingest._Sql)."""

    def __init__(self, dialect: str) -> None:
        d = cast(Table, RiskDecision.__table__)
        self.decision_get = select(d.c.id, d.c.payload_hash).where(d.c.event_id == bindparam("event_id"))


@functools.cache
def _sql(dialect: str = "sqlite") -> _Sql:
    return _Sql(dialect)


def existing(session: Session, req: WithdrawalRequest) -> DecisionOut | None:
    """The stored decision for this event id (a retry), or None; ConflictError if the id was reused."""
    # Core select of two columns: the common case (a new id) should cost as little as possible.
    conn = session.connection()
    found = conn.execute(_sql(conn.dialect.name).decision_get, {"event_id": req.event_id}).first()
    if found is None:
        return None
    if found.payload_hash != payload_hash(request_payload(req)):
        raise ConflictError(f"event_id {req.event_id!r} was already used for a different withdrawal")
    d = session.get(RiskDecision, found.id)
    assert d is not None
    return stored_answer(d, duplicate=True)


class Decided:
    """A decision made from features, before it is stored: the row to insert and the answer to give."""

    __slots__ = ("decision", "hits", "out", "values")

    def __init__(self, values: dict[str, Any], hits: list[dict[str, Any]], out: DecisionOut, decision: str) -> None:
        self.values, self.hits, self.out, self.decision = values, hits, out, decision


def decide(
    req: WithdrawalRequest,
    at: datetime,
    feats: dict[str, Any],
    snoozed: set[str],
    version: int,
    scenario: Scenario,
    model: ModelSnapshot,
    hold_limits: dict[str, Decimal] | None = None,
    lock: WithdrawalLock | None = None,
    outside_holds: list[dict[str, Any]] | None = None,
) -> Decided:
    """Rules (with snoozes), the bounded learned score and the thresholds, then the account's holds: the
    decision, its stored row and its answer (`decision_id` 0 until stored). Pure: the service's hot path and
    the tests' database oracle share it. `outside_holds` are other domains' reasons to hold this withdrawal
    (the Travel Rule, `HotPath.hold_checks`): like an account hold, any of them turns allow or review into
    `hold`."""
    results, step_up_rules, rules_score = _rules(scenario, feats, snoozed)
    model_detail = _model(scenario, model, feats)
    model_score = model_detail.contribution
    score = round(rules_score + model_score, 3)
    th = scenario.thresholds
    held = account_holds.applying(hold_limits, Decimal(req.amount_usd)) if hold_limits else []
    held += outside_holds or []
    decision, step_up = _outcome(score, th.review, th.block, lock is not None, bool(held), step_up_rules, at)
    payload = request_payload(req)
    thresholds = {"review": th.review, "block": th.block}
    rule_results = [r.model_dump() for r in results]
    values: dict[str, Any] = {
        "event_id": req.event_id,
        "payload_hash": payload_hash(payload),
        "user_id": req.user_id,
        "requested_at": at,
        "asset": req.asset,
        "amount": req.amount,
        "amount_usd": req.amount_usd,
        "address": normalize_address(req.address),
        "decision": decision,
        "score": score,
        "rules_score": rules_score,
        "model_score": model_score,
        "ruleset_version": version,
        "model_version": model.version,
        "inputs": _stored_inputs(payload, thresholds, lock, step_up, held),
        "features": feats,
        "rule_results": rule_results,
        "model_detail": model_detail.model_dump(),
        "review_status": "pending" if decision == "review" else None,
    }
    hits = [
        {"rule_id": r.id, "requested_at": at, "contribution": r.contribution, "snoozed": r.snoozed} for r in results
    ]
    state, code = EXCHANGE_STATE[decision]
    out = DecisionOut(
        decision_id=0,
        event_id=req.event_id,
        user_id=req.user_id,
        decision=decision,
        exchange_state=state,
        exchange_state_code=code,
        score=score,
        rules_score=rules_score,
        model_score=model_score,
        thresholds=thresholds,
        ruleset_version=version,
        rules=results,
        model=model_detail,
        features=feats,
        requested_at=at,
        review_status=values["review_status"],
        reason=lock.reason if lock else None,
        lock_cause=lock.cause if lock else None,
        locked_until=lock.until if lock else None,
        step_up=step_up_view(step_up),
        holds=[HoldOut(**h) for h in held],
    )
    return Decided(values, hits, out, decision)


def _outcome(
    score: float, review: float, block: float, locked: bool, held: bool, step_up_rules: list[str], at: datetime
) -> tuple[Decision, dict[str, Any] | None]:
    """The decision by the score against the thresholds, then: a lock blocks, a hold holds what is not blocked,
    and a step-up rule asks the user to confirm what would otherwise go ahead (its step-up record, or None)."""
    decision: Decision = "block" if score >= block else "review" if score >= review else "allow"
    if locked:
        decision = "block"  # a hard lock is not a score: never held for review, never allowed
    if held and decision != "block":
        decision = "hold"
    if not step_up_rules or decision in ("block", "hold"):
        return decision, None
    # Which factors the user has is filled in by `settle_step_up` (the caller reads them, only now).
    step_up = {
        "rules": step_up_rules,
        "next": decision,
        "methods": None,
        "expires_at": (at + STEP_UP_TTL).isoformat(),
    }
    return "step_up", step_up


def _rules(scenario: Scenario, feats: dict[str, Any], snoozed: set[str]) -> tuple[list[RuleResult], list[str], float]:
    """The rules that hold for these features (none below the trigger's amount): each one's result, the ids of
    those asking for a step-up, and the rules' score (a snoozed rule counts nothing and asks for nothing)."""
    results: list[RuleResult] = []
    step_up_rules: list[str] = []
    rules_score = 0.0
    if feats["amount_usd"] >= scenario.trigger.min_amount_usd:
        for rule in scenario.rules:
            if holds(rule.when, feats):
                is_snoozed = rule.id in snoozed
                if rule.step_up and not is_snoozed:
                    step_up_rules.append(rule.id)
                contribution = 0.0 if is_snoozed else rule.score
                rules_score += contribution
                results.append(
                    RuleResult(
                        id=rule.id,
                        description=rule.description,
                        score=rule.score,
                        contribution=contribution,
                        snoozed=is_snoozed,
                    )
                )
    return results, step_up_rules, rules_score


def _model(scenario: Scenario, model: ModelSnapshot, feats: dict[str, Any]) -> ModelResult:
    """The learned score's part: nothing until the model has seen the scenario's minimum of samples."""
    inputs = model_inputs(feats)
    model_active = model.samples >= scenario.model.min_samples
    probability = model.probability(inputs) if model_active else 0.0
    model_score = round(scenario.model.max_points * probability, 3) if model_active else 0.0
    return ModelResult(
        version=model.version,
        samples=model.samples,
        active=model_active,
        probability=round(probability, 6),
        contribution=model_score,
        max_points=scenario.model.max_points,
        features={k: round(v, 6) for k, v in inputs.items()},
    )


def _stored_inputs(
    payload: dict[str, Any],
    thresholds: dict[str, float],
    lock: WithdrawalLock | None,
    step_up: dict[str, Any] | None,
    held: list[dict[str, Any]],
) -> dict[str, Any]:
    """The request as stored with the decision, and what decided it besides the score (each only when there)."""
    return {
        **payload,
        "_thresholds": thresholds,
        **({"_lock": _lock_json(lock)} if lock else {}),
        **({"_step_up": step_up} if step_up else {}),
        **({"_holds": held} if held else {}),
    }


def _lock_json(lock: WithdrawalLock) -> dict[str, Any]:
    return {"reason": lock.reason, "cause": lock.cause, "until": lock.until.isoformat() if lock.until else None}


def settle_step_up(d: Decided, methods: list[str]) -> None:
    """A `step_up` decision learns the user's enrolled factors: it waits for one of them, or, with none, is
    held for review (a step-up rule fired; allowing without the second factor would defeat it)."""
    su = d.values["inputs"]["_step_up"]
    su["methods"] = [m for m in STEP_UP_METHODS if m in methods]
    if not su["methods"]:
        d.decision = d.values["decision"] = d.out.decision = "review"
        d.values["review_status"] = d.out.review_status = "pending"
    d.out.exchange_state, d.out.exchange_state_code = EXCHANGE_STATE[d.decision]
    d.out.step_up = step_up_view(su)


def step_up_passed(session: Session, d: RiskDecision, method: str, at: datetime) -> DecisionOut:
    """The user confirmed a `step_up` withdrawal (the caller verified the factor and holds the row locked):
    the score's decision applies now (allow, or review), seen by every worker through the live log. Caller
    commits."""
    su = dict(d.inputs["_step_up"])
    su.update(method=method, passed_at=at.isoformat())
    # A hard lock that started while the withdrawal waited (the account was frozen, a credential changed, the
    # allowlist tightened) wins over the second factor: the withdrawal is blocked, not released.
    lock = lock_for(session, d.user_id, d.address, at)
    # Likewise an account hold placed meanwhile (a due-diligence request opened): held, not released.
    limits = account_holds.load(session.connection(), [d.user_id]).get(d.user_id)
    held = account_holds.applying(limits, Decimal(d.amount_usd)) if limits and lock is None else []
    d.inputs = {
        **d.inputs,
        "_step_up": su,
        **({"_lock": _lock_json(lock)} if lock else {}),
        **({"_holds": held} if held else {}),
    }
    d.decision = "block" if lock is not None else "hold" if held else su["next"]
    d.review_status = "pending" if d.decision == "review" else None
    entry = live_entry(
        {
            "user_id": d.user_id,
            "event_id": d.event_id,
            "requested_at": utc(d.requested_at),
            "amount_usd": d.amount_usd,
            "address": d.address,
            "decision": d.decision,
            "review_status": d.review_status,
        }
    )
    commit_log.append(session, entry["user_id"], "decision", entry["data"])
    return stored_answer(d, duplicate=False)


def live_entry(values: dict[str, Any]) -> dict[str, Any]:
    """The decision's entry in the live log (what other decisions read of it)."""
    return {
        "user_id": values["user_id"],
        "kind": "decision",
        "data": {
            "e": values["event_id"],
            "at": values["requested_at"].isoformat(),
            "usd": str(values["amount_usd"]),
            "a": values["address"],
            "d": values["decision"],
            "r": values["review_status"],
        },
    }
