"""A month of due diligence, seeded: the exchange's feeds report deposits, risk scores and jurisdictions (some
over the triggers, some not), the users asked answer and upload a document, compliance officers approve or
reject; some requests are left unanswered past their deadline. Sent through the running service; the ground
truth is what the plan says the month's figures must be.

The month's triggers are stored as a new version (deadline 7 days, so a month has overdue requests)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

ANSWER_DAYS = 7
TRIGGERS = {"deposits_30d_usd": "15000", "risk_score_at_least": 80, "high_risk_jurisdictions": ["KP", "IR", "MM"],
            "answer_days": ANSWER_DAYS, "hold_over_usd": "1000"}  # fmt: skip
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
ANSWERS = {"occupation": "Engineer", "source_of_income": "employment", "expected_monthly_volume_usd": "5000",
           "expected_activity": "Monthly savings in BTC", "source_of_funds": "Salary"}  # fmt: skip


@dataclass
class DiligenceTruth:
    signals: int = 0
    opened: int = 0
    opened_by_reason: dict[str, int] = field(default_factory=dict)
    answered: int = 0
    approved: int = 0
    rejected: int = 0
    overdue: int = 0


@dataclass
class _Case:
    user: str
    signals: list[dict[str, Any]]  # in time order; the last one opens the request (if any)
    reason: str | None
    opened_at: datetime
    answer_at: datetime | None = None
    decide_at: datetime | None = None
    action: str | None = None


@dataclass
class Plan:
    start: datetime
    end: datetime
    cases: list[_Case]
    truth: DiligenceTruth


def simulate(seed: int, users: int, start: datetime, days: int, prefix: str) -> Plan:
    rng = random.Random(seed)
    end = start + timedelta(days=days)
    cases: list[_Case] = []
    decided = 0
    n = max(8, users // 8)
    for i in range(n):
        user = f"{prefix}dd-{i}"
        # Opened early enough that the answer (within 6 days) and the deadline (7 days) fall in the month.
        at = start + timedelta(minutes=rng.randrange(0, (days - ANSWER_DAYS - 1) * 24 * 60))
        kind = rng.choice(["deposits_30d", "risk_score", "jurisdiction", "none"])
        t = at.isoformat()
        sigs: list[dict[str, Any]]
        if kind == "deposits_30d":
            first = rng.randint(5000, 9000)
            sigs = [{"type": "deposit", "event_id": f"{user}:d1", "user_id": user, "amount_usd": str(first),
                     "at": (at - timedelta(days=rng.randint(1, 20))).isoformat()},
                    {"type": "deposit", "event_id": f"{user}:d2", "user_id": user,
                     "amount_usd": str(15000 - first + rng.randint(0, 3000)), "at": t}]  # fmt: skip
        elif kind == "risk_score":
            sigs = [{"type": "risk_score", "user_id": user, "score": rng.choice([80, 85.5, 97]), "ref": "sim", "at": t}]
        elif kind == "jurisdiction":
            sigs = [{"type": "jurisdiction", "user_id": user, "country": rng.choice(["KP", "IR", "MM"]), "at": t}]
        else:  # below every trigger: a small deposit, a low score, an ordinary country
            sigs = [{"type": "deposit", "event_id": f"{user}:d1", "user_id": user, "amount_usd": "900", "at": t},
                    {"type": "risk_score", "user_id": user, "score": 12, "at": t},
                    {"type": "jurisdiction", "user_id": user, "country": "DE", "at": t}]  # fmt: skip
        c = _Case(user, sigs, None if kind == "none" else kind, at)
        if c.reason is not None:
            roll = rng.random()
            if roll < 0.7:
                c.answer_at = at + timedelta(hours=rng.randint(2, 24 * 6))
                if rng.random() < 0.8:
                    c.decide_at = c.answer_at + timedelta(hours=rng.randint(1, 72))
                    # every third decision a rejection, so even a small month has both outcomes
                    c.action = "reject" if decided % 3 == 1 else "approve"
                    decided += 1
        cases.append(c)
    truth = DiligenceTruth(signals=sum(len(c.signals) for c in cases))
    for c in cases:
        if c.reason is None:
            continue
        truth.opened += 1
        truth.opened_by_reason[c.reason] = truth.opened_by_reason.get(c.reason, 0) + 1
        if c.answer_at is not None and c.answer_at < end:
            truth.answered += 1
            if c.decide_at is not None and c.decide_at < end:
                truth.approved += c.action == "approve"
                truth.rejected += c.action == "reject"
        else:
            truth.overdue += 1  # its deadline (in the month) passed unanswered
    truth.opened_by_reason = dict(sorted(truth.opened_by_reason.items()))
    return Plan(start, end, cases, truth)


def send(client: Any, plan: Plan, set_time: Callable[[datetime], None], user_headers: Callable[[str], dict[str, str]],
         progress: Callable[[int, int], None] | None = None) -> None:  # fmt: skip
    """The month through the service, in time order; raises on any answer other than the plan's."""
    set_time(plan.start)
    body = {"definition": TRIGGERS, "created_by": "sim", "note": "simulated month", "activate": True}
    r = client.post("/v1/compliance/due-diligence/rules", json=body)
    _ok(r, 201)
    steps: list[tuple[datetime, int, str, _Case]] = []
    for c in plan.cases:
        steps.append((c.opened_at, 0, "signals", c))
        if c.answer_at is not None and c.answer_at < plan.end:
            steps.append((c.answer_at, 1, "answer", c))
        if c.decide_at is not None and c.decide_at < plan.end:
            steps.append((c.decide_at, 2, "decide", c))
    steps.sort(key=lambda s: (s[0], s[1], s[3].user))
    ids: dict[str, int] = {}
    for i, (at, _, what, c) in enumerate(steps):
        set_time(at)
        if what == "signals":
            r = client.post("/v1/compliance/signals", json=c.signals)
            _ok(r, 200)
            opened = [x for x in r.json() if x["created"]]
            if len(opened) != (c.reason is not None):
                raise RuntimeError(f"{c.user}: the service opened {len(opened)} requests, the plan says otherwise")
            if opened:
                ids[c.user] = opened[0]["request_id"]
        elif what == "answer":
            rid, h = ids[c.user], user_headers(c.user)
            _ok(client.put(f"/v1/account/due-diligence/{rid}/answers", json=ANSWERS, headers=h), 200)
            files = {"file": ("statement.pdf", PDF, "application/pdf")}
            _ok(client.post(f"/v1/account/due-diligence/{rid}/documents", files=files,
                            data={"purpose": "source_of_funds"}, headers=h), 201)  # fmt: skip
        else:
            rid = ids[c.user]
            _ok(client.post(f"/v1/compliance/due-diligence/{rid}/decision",
                            json={"action": c.action, "officer": "sim-officer"}), 200)  # fmt: skip
        if progress is not None:
            progress(i + 1, len(steps))


def _ok(r: Any, status: int) -> None:
    if r.status_code != status:
        raise RuntimeError(f"{r.request.method} {r.request.url.path}: HTTP {r.status_code} {r.text[:200]}")
