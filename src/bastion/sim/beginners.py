"""A seeded month of new derivatives traders, with beginner protection switched on part-way through by the
exchange, and each trader's early-stage outcome, so the effect measurement can be checked against ground
truth.

The exchange publishes rules with protection off at the month's start and switches it on `switch_day` days
in. Each new trader opens an account, may take the appropriateness questionnaire (some fail once and pass
after the retry delay), tries a first derivatives order at the leverage they want, waits out the
cooling-off when refused, comes down to the cap when refused for leverage, then trades. Their margin calls
and liquidations in the weeks after are drawn from the leverage they really traded with (lower under the
cap), some after the early stage so the window is tested too.

`simulate()` gives the actions in time order and the ground truth the simulator itself derives (refusals by
rule, cohorts); `send()` delivers them through the service's routes at the simulated times.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from bastion.protection.beginner_metrics import EARLY_DAYS, monday

COOLING_OFF_HOURS = 24
MAX_LEVERAGE = Decimal(10)
MAX_POSITION_USD = Decimal(20_000)
QUESTIONS = [
    {"id": "liq", "text": "At 20x, how far can the price move against you before liquidation?",
     "options": ["About 50%", "About 5%", "Never"], "answer": 1},
    {"id": "loss", "text": "Can an isolated position lose more than its margin (fees aside)?",
     "options": ["Yes", "No"], "answer": 1},
    {"id": "funding", "text": "What is a perpetual swap's funding rate?",
     "options": ["An exchange fee", "A payment between longs and shorts"], "answer": 1},
]  # fmt: skip
RIGHT = {q["id"]: int(q["answer"]) for q in QUESTIONS}  # type: ignore[call-overload]


def rules(enabled: bool) -> dict[str, Any]:
    return {
        "enabled": enabled,
        "account_age_days": 30,
        "no_derivatives_history": True,
        "cooling_off_hours": COOLING_OFF_HOURS,
        "max_leverage": str(MAX_LEVERAGE),
        "max_position_usd": str(MAX_POSITION_USD),
        "questionnaire": {"pass_mark": 3, "retry_hours": 24, "questions": QUESTIONS},
    }


@dataclass(frozen=True, slots=True)
class Action:
    at: datetime
    kind: str  # rules | account | answers | precheck | first_trade | margin_event
    user: str = ""
    body: dict[str, Any] = field(default_factory=dict)
    expect: str | None = None  # precheck: None = allowed, else the rule expected to refuse; answers: "pass"/"fail"


@dataclass
class CohortTruth:
    traders: int = 0
    with_margin_call: int = 0
    margin_calls: int = 0
    liquidated: int = 0
    liquidations: int = 0


@dataclass
class Truth:
    refusals_by_rule: dict[str, int] = field(default_factory=dict)
    users_refused: int = 0
    questionnaire_passed: int = 0
    questionnaire_failed: int = 0
    cohorts: dict[tuple[date, bool], CohortTruth] = field(default_factory=dict)

    def cohorts_json(self) -> list[dict[str, Any]]:
        return [{"week": w.isoformat(), "protected": p, **vars(c)} for (w, p), c in sorted(self.cohorts.items())]


@dataclass
class BeginnersMonth:
    actions: list[Action]
    truth: Truth
    switch_at: datetime


def simulate(
    *, seed: int, traders: int, start: datetime, days: int, switch_day: int | None = None, prefix: str = ""
) -> BeginnersMonth:
    rng = random.Random(seed)
    switch_at = start + timedelta(days=switch_day if switch_day is not None else days // 3, hours=6)
    acts: list[Action] = [
        Action(start, "rules", body=rules(False)),
        Action(switch_at, "rules", body=rules(True)),
    ]
    truth = Truth()
    refused_users: set[str] = set()
    refusals: dict[str, int] = {}
    # The last trader's first trade must leave room for the cooling-off, a retry and the month's end.
    latest = start + timedelta(days=days) - timedelta(hours=COOLING_OFF_HOURS + 30)
    span = (latest - start).total_seconds()
    for i in range(traders):
        user = f"{prefix}nt-{i:05d}"
        attempt = start + timedelta(seconds=int(rng.random() * span))
        opened = attempt - timedelta(hours=rng.randint(1, 24 * 10))
        acts.append(Action(opened, "account", user, {"opened_at": opened.isoformat()}))
        want = Decimal(rng.choice([3, 5, 10, 20, 25, 50, 75, 100]))
        notional = Decimal(rng.choice([500, 2_000, 8_000, 15_000, 40_000]))
        under_rules = attempt >= switch_at
        t = attempt
        # some take the questionnaire before trading (only under the rules)
        passed = under_rules and rng.random() < 0.25 and _questionnaire(rng, acts, truth, user, attempt, switch_at)
        protected = under_rules and not passed

        def pre(at: datetime, lever: Decimal, size: Decimal, expect: str | None, user: str = user) -> None:
            body = {"userId": user, "channel": "app", "instType": "SWAP", "instId": "BTC-USDT-SWAP",
                    "side": "buy", "sz": "1", "lever": str(lever), "notionalUsd": str(size)}  # fmt: skip
            acts.append(Action(at, "precheck", user, body, expect))
            if expect is not None:
                refusals[expect] = refusals.get(expect, 0) + 1
                refused_users.add(user)

        lever, size = want, notional
        if protected:
            pre(t, lever, size, "cooling_off")
            if rng.random() < 0.5:
                t += timedelta(hours=rng.randint(1, COOLING_OFF_HOURS - 1))
                pre(t, lever, size, "cooling_off")
            t = attempt + timedelta(hours=COOLING_OFF_HOURS, minutes=rng.randint(0, 120))
            if lever > MAX_LEVERAGE:
                pre(t, lever, size, "leverage_cap")
                lever = MAX_LEVERAGE
                t += timedelta(minutes=3)
            if size > MAX_POSITION_USD:
                pre(t, lever, size, "position_limit")
                size = MAX_POSITION_USD
                t += timedelta(minutes=3)
        pre(t, lever, size, None)
        acts.append(Action(t + timedelta(seconds=30), "first_trade", user, {"userId": user}))
        first = t + timedelta(seconds=30)
        # Outcomes from the leverage really used: a call per "shock" with probability growing with leverage.
        p = min(0.85, float(lever) / 60 + 0.05)
        cell = truth.cohorts.setdefault((monday(first.date()), protected), CohortTruth())
        cell.traders += 1
        calls, liqs = _margin_events(rng, acts, user, first, p)
        cell.with_margin_call += 1 if calls else 0
        cell.margin_calls += calls
        cell.liquidated += 1 if liqs else 0
        cell.liquidations += liqs
    acts.sort(key=lambda a: (a.at, a.kind != "rules"))
    truth.refusals_by_rule = dict(sorted(refusals.items()))
    truth.users_refused = len(refused_users)
    return BeginnersMonth(acts, truth, switch_at)


def _questionnaire(
    rng: random.Random, acts: list[Action], truth: Truth, user: str, attempt: datetime, switch_at: datetime
) -> bool:
    """The questionnaire taken before the first trade; some fail first and pass after the retry delay. True:
    passed (it always is, in the end)."""
    q_at = attempt - timedelta(hours=rng.randint(30, 60))
    q_at = max(q_at, switch_at + timedelta(minutes=1))
    if q_at >= attempt:
        q_at = attempt - timedelta(minutes=5)
    wrong = {**RIGHT, "loss": 0}
    if rng.random() < 0.4 and q_at - timedelta(hours=25) >= switch_at:
        acts.append(Action(q_at - timedelta(hours=25), "answers", user, {"answers": wrong}, "fail"))
        truth.questionnaire_failed += 1
    acts.append(Action(q_at, "answers", user, {"answers": dict(RIGHT)}, "pass"))
    truth.questionnaire_passed += 1
    return True


def _margin_events(rng: random.Random, acts: list[Action], user: str, first: datetime, p: float) -> tuple[int, int]:
    """Up to three shocks in the early stage, each a margin call with probability p (a liquidation with p/2
    after it), and maybe a late one that must not count: (margin calls, liquidations) in the early stage."""
    calls = liqs = 0
    for k in range(3):
        if rng.random() < p:
            at = first + timedelta(hours=rng.randint(1, 24 * (EARLY_DAYS - 1)))
            acts.append(Action(at, "margin_event", user, {"id": f"{user}-mc{k}", "kind": "margin_call"}))
            calls += 1
            if rng.random() < p / 2:
                acts.append(
                    Action(
                        at + timedelta(hours=2),
                        "margin_event",
                        user,
                        {"id": f"{user}-lq{k}", "kind": "liquidation"},
                    )
                )
                liqs += 1
    if rng.random() < 0.2:  # after the early stage: must not count
        at = first + timedelta(days=EARLY_DAYS, hours=rng.randint(1, 200))
        acts.append(Action(at, "margin_event", user, {"id": f"{user}-late", "kind": "margin_call"}))
    return calls, liqs


@dataclass
class Sent:
    refusals_by_rule: dict[str, int] = field(default_factory=dict)
    surprises: list[str] = field(default_factory=list)


def send(
    client: Any,
    month: BeginnersMonth,
    set_time: Callable[[datetime], None],
    user_headers: Callable[[str, str, str, str], dict[str, str]],
    progress: Callable[[int, int], None] | None = None,
) -> Sent:
    """Deliver the month through the service (operator routes, the precheck, the user's own questionnaire),
    each at its simulated time; what the service answered differently from the plan is listed."""
    sent = Sent()
    margin: list[dict[str, Any]] = []
    for n, a in enumerate(month.actions):
        set_time(a.at)
        if a.kind == "rules":
            r = client.put("/v1/beginner/rules", json={"definition": a.body, "actor": "sim", "note": "simulated"})
        elif a.kind == "account":
            r = client.put(f"/v1/beginner/accounts/{a.user}", json=a.body)
        elif a.kind == "answers":
            path = "/v1/beginner/questionnaire"
            body = json.dumps(a.body)
            r = client.post(path, content=body, headers=user_headers(a.user, "POST", path, body))
            if r.status_code == 200 and r.json()["passed"] != (a.expect == "pass"):
                sent.surprises.append(f"{a.user} questionnaire: {r.json()}")
        elif a.kind == "precheck":
            r = client.post("/v1/orders/precheck", json=a.body)
            if r.status_code == 200:
                got = r.json()
                rule = None if got["allowed"] else str(got.get("rule") or "").removeprefix("beginner:")
                if rule:
                    sent.refusals_by_rule[rule] = sent.refusals_by_rule.get(rule, 0) + 1
                if rule != a.expect:
                    sent.surprises.append(f"{a.user} at {a.at}: expected {a.expect}, got {rule} ({got.get('reason')})")
        elif a.kind == "first_trade":
            r = client.post("/v1/beginner/first-trades", json={**a.body, "ts": a.at.isoformat()})
        else:
            margin.append({**a.body, "userId": a.user, "ts": a.at.isoformat()})
            continue
        if r.status_code != 200:
            raise RuntimeError(f"{a.kind} for {a.user or 'rules'} at {a.at}: HTTP {r.status_code} {r.text[:300]}")
        if progress and n % 50 == 0:
            progress(n, len(month.actions))
    for i in range(0, len(margin), 1000):
        r = client.post("/v1/beginner/margin-events", json=margin[i : i + 1000])
        if r.status_code != 200:
            raise RuntimeError(f"margin events: HTTP {r.status_code} {r.text[:300]}")
    return sent
