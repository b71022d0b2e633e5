"""The effect measurement: cohorts by week of first trade and protection, early-stage margin calls and
liquidations only, counted from the stored accounts and margin events."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from bastion.protection import beginner, beginner_metrics
from bastion.protection.beginner import MarginKind

T0 = datetime(2026, 10, 1, tzinfo=UTC)  # a Thursday
RULES = {"enabled": True, "account_age_days": 30, "cooling_off_hours": 0}


def test_cohorts_and_early_stage(session_factory: Any) -> None:
    with session_factory() as s:
        # unprotected: rules off when they started
        beginner.record_first_trade(s, "a", T0, T0)
        beginner.record_first_trade(s, "b", T0 + timedelta(days=1), T0)
        beginner.publish_rules(s, RULES, "risk", "", T0 + timedelta(days=3))
        # protected: started under the rules (new accounts, no history)
        beginner.record_first_trade(s, "c", T0 + timedelta(days=5), T0)
        beginner.record_first_trade(s, "d", T0 + timedelta(days=6), T0)
        # under the rules but experienced: unprotected
        beginner.register_account(s, "e", datetime(2020, 1, 1, tzinfo=UTC), True, T0)
        beginner.record_first_trade(s, "e", T0 + timedelta(days=6), T0)
        # started last month: not a new trader of October
        beginner.record_first_trade(s, "z", T0 - timedelta(days=2), T0)
        ev = [
            ("1", "a", MarginKind.MARGIN_CALL, T0 + timedelta(days=2)),
            ("2", "a", MarginKind.MARGIN_CALL, T0 + timedelta(days=3)),
            ("3", "a", MarginKind.LIQUIDATION, T0 + timedelta(days=4)),
            ("4", "b", MarginKind.MARGIN_CALL, T0 + timedelta(days=40)),  # after the early stage
            ("5", "c", MarginKind.MARGIN_CALL, T0 + timedelta(days=5)),  # at the first trade: counted
            ("6", "d", MarginKind.MARGIN_CALL, T0 + timedelta(days=5)),  # before the first trade: not
            ("7", "z", MarginKind.MARGIN_CALL, T0 + timedelta(days=1)),
        ]
        for i, u, k, ts in ev:
            assert beginner.record_margin_event(s, i, u, k, ts, None, T0)
        assert not beginner.record_margin_event(s, "1", "a", MarginKind.MARGIN_CALL, T0 + timedelta(days=2), None, T0)
        s.commit()
        m = beginner_metrics.monthly(s, T0, datetime(2026, 11, 1, tzinfo=UTC))
    got = {
        (c.week, c.protected): (c.traders, c.with_margin_call, c.margin_calls, c.liquidated, c.liquidations)
        for c in m.cohorts
    }
    assert got == {
        (date(2026, 9, 28), False): (2, 1, 2, 1, 1),
        (date(2026, 10, 5), True): (2, 1, 1, 0, 0),
        (date(2026, 10, 5), False): (1, 0, 0, 0, 0),
    }
    assert m.totals(True).margin_call_rate == 0.5 and m.totals(False).traders == 3


def test_margin_event_id_reused_with_other_facts(session_factory: Any) -> None:
    import pytest

    from bastion.errors import ConflictError

    with session_factory() as s:
        beginner.record_margin_event(s, "x", "a", MarginKind.MARGIN_CALL, T0, None, T0)
        with pytest.raises(ConflictError):
            beginner.record_margin_event(s, "x", "a", MarginKind.LIQUIDATION, T0, None, T0)
