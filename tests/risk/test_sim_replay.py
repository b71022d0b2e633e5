"""A small simulated month through the live service: the stored metrics agree with the ground truth of the
replay, and the engine separates the labelled attacks from normal traffic."""

from __future__ import annotations

from datetime import timedelta

import httpx

from bastion.risk.metrics import monthly
from bastion.sim.risk_traffic import month, replay


def test_replayed_month_metrics_match_ground_truth(http: httpx.Client, session_factory) -> None:  # type: ignore[no-untyped-def]
    traffic = month(seed=3, users=50, days=7, ato_rate=0.12, phishing_rate=0.12)
    assert {e.label for e in traffic.withdrawals()} == {"legit", "ato", "phishing"}
    rep = replay(traffic, http)
    assert rep.attacks == 12
    with session_factory() as s:
        m = monthly(s, traffic.start - timedelta(days=400), traffic.end)
    # Every held withdrawal was reviewed by the simulated analyst with the label.
    assert m.pending_review == 0
    assert m.withdrawals_evaluated == len(traffic.withdrawals()) == sum(rep.decisions.values())
    assert (m.allowed, m.held, m.blocked) == tuple(rep.decisions.get(k, 0) for k in ("allow", "review", "block"))
    assert m.withdrawals_intercepted == rep.intercepted
    assert float(m.value_preserved_usd) == round(rep.intercepted_value_usd, 2)
    assert m.users_protected == rep.intercepted_users
    assert m.false_positives == rep.held_then_approved
    assert sum(m.daily_interceptions.values()) == rep.intercepted
    # Ground truth: what was stopped of the attacks is part of what the service counts.
    assert rep.value_preserved_usd <= rep.intercepted_value_usd + 0.01
    # The engine: attacks mostly stopped, legitimate withdrawals mostly through (small sample, loose bounds;
    # the month-sized figures are bench/risk.py's job).
    assert rep.catch_rate >= 0.8, rep
    assert rep.legit_hold_rate <= 0.05, rep
