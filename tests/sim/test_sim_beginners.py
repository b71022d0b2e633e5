"""The beginners' month through the real service: every precheck answered as planned, and the effect
measurement (refusals by rule, cohorts by week and protection) equal to the simulator's ground truth."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from auth_support import OPERATOR
from bastion.protection import beginner_metrics
from bastion.service.deps import InProcessOverrides
from bastion.service.testing import ServerThread, user_key_headers
from bastion.sim import beginners

START = datetime(2026, 10, 1, tzinfo=UTC)
END = datetime(2026, 11, 1, tzinfo=UTC)


def test_metrics_equal_ground_truth(settings: Any) -> None:
    from bastion.service.app import create_app

    clock = [START]
    app = create_app(settings, overrides=InProcessOverrides(protection_clock=lambda: clock[0]))
    month = beginners.simulate(seed=11, traders=80, start=START, days=31)
    t = month.truth
    # the plan itself has both cohorts and every rule, or the comparison would prove little
    assert {p for _, p in t.cohorts} == {True, False}
    assert set(t.refusals_by_rule) == {"cooling_off", "leverage_cap", "position_limit"}
    assert t.questionnaire_passed > 0 and t.questionnaire_failed > 0

    def set_time(at: datetime) -> None:
        clock[0] = at

    with ServerThread(app) as url, httpx.Client(base_url=url, timeout=60, headers=OPERATOR) as client:
        sent = beginners.send(
            client, month, set_time, lambda u, m, p, b: user_key_headers(app, u, m, p, b, ("read", "trade"))
        )
    assert sent.surprises == []
    assert sent.refusals_by_rule == t.refusals_by_rule
    with app.state.sessionmaker() as s:
        m = beginner_metrics.monthly(s, START, END)
    app.state.engine.dispose()
    assert m.refusals_by_rule == t.refusals_by_rule and m.users_refused == t.users_refused
    assert (m.questionnaire_passed, m.questionnaire_failed) == (t.questionnaire_passed, t.questionnaire_failed)
    got = {
        (c.week, c.protected): (c.traders, c.with_margin_call, c.margin_calls, c.liquidated, c.liquidations)
        for c in m.cohorts
    }
    want = {
        k: (c.traders, c.with_margin_call, c.margin_calls, c.liquidated, c.liquidations) for k, c in t.cohorts.items()
    }
    assert got == want
