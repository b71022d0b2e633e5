"""Review of the split `decide` (f4b7d86: _rules, _model, _outcome, _stored_inputs): for the same inputs the
decision cannot flip. The oracle here is the decision table written out independently of `decide`'s code: the
score (rules not snoozed, above the trigger, plus the model's bounded share once it has its samples) against
the thresholds; a lock blocks; a hold (the account's or another domain's) holds what is not blocked; a step-up
rule that fired asks the user first for what would otherwise be allowed or reviewed. Thousands of seeded
random requests, scenarios, snoozes, locks, holds and models, every edge of the thresholds included."""

from __future__ import annotations

import copy
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bastion.risk.decide import decision
from bastion.risk.decide.locks import WithdrawalLock
from bastion.risk.decide.rules import DEFAULT_SCENARIO, Scenario, holds
from bastion.risk.decide.score import ModelSnapshot, model_inputs, new_pipeline
from bastion.risk.schemas import WithdrawalRequest

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _feats(rng: random.Random, amount: float) -> dict[str, Any]:
    return {
        "amount_usd": amount,
        "balance_share": rng.choice([0.0, 0.1, 0.5, 0.95, 1.0]),
        "drained_share_24h": rng.choice([0.0, 0.3, 0.8, 0.99, 1.0]),
        "withdrawals_24h_count": rng.randint(1, 30),
        "withdrawals_24h_usd": amount * rng.randint(1, 5),
        "device_known": rng.random() < 0.6,
        "device_age_hours": rng.choice([0.0, 0.5, 2.0, 30.0, 5000.0]),
        "address_in_book": rng.random() < 0.5,
        "address_age_hours": rng.choice([0.0, 1.0, 23.0, 48.0, 9000.0]),
        "address_used_before": rng.random() < 0.5,
        "allowlist_enabled": rng.random() < 0.2,
        "hours_since_credential_change": rng.choice([0.1, 5.0, 23.9, 24.0, 100.0, 1e6]),
        "destination_on_phishing_list": rng.random() < 0.05,
        "ip_on_reputation_list": rng.random() < 0.1,
        "login_new_asn_24h": rng.random() < 0.3,
        "login_new_country_24h": rng.random() < 0.2,
        "max_travel_kmh_24h": rng.choice([0.0, 100.0, 900.0, 5000.0]),
        "failed_logins_24h": rng.choice([0, 1, 3, 10]),
        "destination_users_24h": rng.choice([0, 1, 4, 20]),
    }


def _scenario(rng: random.Random) -> Scenario:
    raw = copy.deepcopy(DEFAULT_SCENARIO)
    for rule in raw["rules"]:
        rule["step_up"] = rng.random() < 0.3
    review = rng.choice([0, 10, 30, 50, 70])
    raw["thresholds"] = {"review": review, "block": review + rng.choice([0, 5, 20, 40])}
    raw["trigger"]["min_amount_usd"] = rng.choice([0, 0, 100, 1000])
    raw["model"] = {"max_points": rng.choice([0, 20, 45.5]), "min_samples": rng.choice([1, 30])}
    return Scenario.model_validate(raw)


def _models() -> list[ModelSnapshot]:
    """An untrained model, and one trained on a few labels (a probability far from 0 and 1)."""
    rng = random.Random(7)
    trained = new_pipeline()
    for _ in range(40):
        fraud = rng.random() < 0.5
        f = _feats(rng, rng.choice([50.0, 5000.0]))
        f["device_known"] = not fraud
        trained.learn_one(model_inputs(f), fraud)
    return [ModelSnapshot(1, 0, 0, new_pipeline()), ModelSnapshot(2, 10, 3, trained), ModelSnapshot(3, 40, 20, trained)]


def _expected(
    scenario: Scenario, model: ModelSnapshot, feats: dict[str, Any], snoozed: set[str], locked: bool, held: bool
) -> tuple[str, float, list[str], str | None]:
    """(decision, score, step-up rule ids, the step-up's `next`) by the decision table alone."""
    fired = [
        r for r in scenario.rules if feats["amount_usd"] >= scenario.trigger.min_amount_usd and holds(r.when, feats)
    ]
    rules_score = sum(r.score for r in fired if r.id not in snoozed)
    step_up_rules = [r.id for r in fired if r.step_up and r.id not in snoozed]
    model_score = 0.0
    if model.samples >= scenario.model.min_samples:
        model_score = round(scenario.model.max_points * model.probability(model_inputs(feats)), 3)
    score = round(rules_score + model_score, 3)
    th = scenario.thresholds
    by_score = "block" if score >= th.block else "review" if score >= th.review else "allow"
    if locked:
        return "block", score, step_up_rules, None
    if by_score == "block":
        return "block", score, step_up_rules, None
    if held:
        return "hold", score, step_up_rules, None
    if step_up_rules:
        return "step_up", score, step_up_rules, by_score
    return by_score, score, step_up_rules, None


def test_decide_follows_the_decision_table() -> None:
    rng = random.Random(20261203)
    models = _models()
    seen: set[str] = set()
    for i in range(3000):
        scenario = _scenario(rng)
        amount = rng.choice([0.0, 5.0, 99.99, 100.0, 999.0, 1000.0, 25_000.0, 250_000.0])
        feats = _feats(rng, amount)
        ids = [r.id for r in scenario.rules]
        snoozed = {x for x in ids if rng.random() < 0.15}
        model = rng.choice(models)
        lock = rng.choice([None, None, None, WithdrawalLock("withdrawal_lock", "password", AT + timedelta(hours=24))])
        hold_limits = rng.choice([None, {}, {"new_account": Decimal("500")}, {"beginner": Decimal("1000000")}])
        outside = rng.choice([None, [], [{"reason": "travel_rule", "over_usd": "0"}]])
        req = WithdrawalRequest(
            event_id=f"e{i}", user_id="u1", asset="BTC", amount=Decimal("0.1"), amount_usd=Decimal(str(amount)),
            address="bc1qreview",
        )  # fmt: skip
        held = bool(hold_limits and any(Decimal(str(amount)) > v for v in hold_limits.values())) or bool(outside)
        want, score, step_up_rules, nxt = _expected(scenario, model, feats, snoozed, lock is not None, held)

        d = decision.decide(req, AT, feats, snoozed, 1, scenario, model, hold_limits, lock, outside)
        got = (d.decision, d.values["decision"], d.out.decision, d.values["score"], d.out.score)
        assert got == (want, want, want, score, score), (i, got, want, score)
        assert d.values["review_status"] == ("pending" if want == "review" else None)
        stored = d.values["inputs"]
        assert ("_lock" in stored) == (lock is not None) and ("_holds" in stored) == held
        if want == "step_up":
            assert stored["_step_up"]["rules"] == step_up_rules and stored["_step_up"]["next"] == nxt
            assert d.out.step_up is not None and d.out.step_up.next == nxt
        else:
            assert "_step_up" not in stored and d.out.step_up is None
        assert [h["rule_id"] for h in d.hits] == [r["id"] for r in d.values["rule_results"]]
        seen.add(want)
    assert seen == {"allow", "review", "hold", "step_up", "block"}  # every outcome was reached


def test_edges_of_the_thresholds() -> None:
    """A score exactly on a threshold takes it (>=); a hard lock blocks even a score of 0; a hold never downgrades
    a block, and a step-up never overrides a hold or a block."""
    o = decision._outcome
    assert o(50.0, 50, 90, False, False, [], AT) == ("review", None)
    assert o(49.999, 50, 90, False, False, [], AT) == ("allow", None)
    assert o(90.0, 50, 90, False, False, [], AT) == ("block", None)
    assert o(0.0, 50, 90, True, False, ["r"], AT) == ("block", None)
    assert o(95.0, 50, 90, False, True, ["r"], AT) == ("block", None)
    assert o(60.0, 50, 90, False, True, ["r"], AT) == ("hold", None)
    decided, step_up = o(60.0, 50, 90, False, False, ["r"], AT)
    assert decided == "step_up" and step_up is not None and step_up["next"] == "review"
