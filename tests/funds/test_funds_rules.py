"""Pure fund rules: liquidation arithmetic, pool states, trailing peak, ADL ranking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.funds.adl import OpenPosition, adl_queue, deleverage
from bastion.funds.liquidation import ContractType, LiquidationError, PositionSide, liquidation_outcome
from bastion.funds.pool_state import (
    AdlTrigger,
    PoolPolicy,
    PoolState,
    WindowPeak,
    drawdown,
    fund_covers,
    next_state,
    worst_drawdown,
)
from bastion.funds.settings import default_policy

T0 = datetime(2026, 3, 1, tzinfo=UTC)
POLICY = default_policy()


# --- liquidation arithmetic ---------------------------------------------------------------------------


def test_long_filled_above_bankruptcy_is_a_surplus() -> None:
    out = liquidation_outcome(PositionSide.LONG, D("0.5"), D("60000.10"), D("60010.30"))
    assert out.amount == D("5.100")
    assert out.surplus == D("5.1") and out.shortfall == 0


def test_long_filled_below_bankruptcy_is_a_shortfall() -> None:
    out = liquidation_outcome(PositionSide.LONG, D("2"), D("3000"), D("2990.5"))
    assert out.amount == D("-19.0") and out.shortfall == D("19") and out.surplus == 0


def test_short_mirrors_long() -> None:
    # A short is bought back: below bankruptcy is good for the fund, above is a loss.
    assert liquidation_outcome(PositionSide.SHORT, D("3"), D("100"), D("99")).amount == D("3")
    assert liquidation_outcome(PositionSide.SHORT, D("3"), D("100"), D("101.5")).amount == D("-4.5")


def test_contract_value_scales_linear() -> None:
    out = liquidation_outcome(PositionSide.LONG, D("10"), D("100"), D("101"), contract_value=D("0.01"))
    assert out.amount == D("0.10")


def test_linear_is_exact_at_extreme_precision() -> None:
    # 18-decimal token sizes times 8-decimal prices: nothing may be rounded away.
    size = D("123456789.123456789012345678")
    out = liquidation_outcome(PositionSide.LONG, size, D("0.00000001"), D("0.00000002"))
    assert out.amount == size * D("0.00000001")


def test_inverse_rounds_against_the_fund() -> None:
    # 100 contracts of 100 USD, long, bankrupt at 30000, filled at 29000: loses 10000*(1/29000-1/30000) BTC.
    loss = liquidation_outcome(
        PositionSide.LONG, D("100"), D("30000"), D("29000"), ContractType.INVERSE, D("100")
    )
    exact = D(10000) * (D(1) / D(29000) - D(1) / D(30000))
    assert loss.amount < 0 and abs(loss.amount) >= exact and abs(loss.amount) - exact < D("0.00000001")
    gain = liquidation_outcome(
        PositionSide.LONG, D("100"), D("29000"), D("30000"), ContractType.INVERSE, D("100")
    )
    assert 0 < gain.amount <= exact and exact - gain.amount < D("0.00000001")


@pytest.mark.parametrize("field", ["size", "bankruptcy_price", "fill_price"])
@pytest.mark.parametrize("bad", [D(0), D(-1), D("NaN"), D("Infinity")])
def test_bad_numbers_name_the_field(field: str, bad: D) -> None:
    args = {"size": D(1), "bankruptcy_price": D(10), "fill_price": D(11)}
    args[field] = bad
    with pytest.raises(LiquidationError, match=field):
        liquidation_outcome(PositionSide.LONG, **args)


@given(
    st.decimals(min_value=D("0.001"), max_value=D("1e6"), places=3),
    st.decimals(min_value=D("0.01"), max_value=D("1e5"), places=2),
    st.decimals(min_value=D("0.01"), max_value=D("1e5"), places=2),
)
@settings(max_examples=200, deadline=None)
def test_long_and_short_are_opposite(size: D, bankrupt: D, fill: D) -> None:
    long = liquidation_outcome(PositionSide.LONG, size, bankrupt, fill).amount
    short = liquidation_outcome(PositionSide.SHORT, size, bankrupt, fill).amount
    assert long == -short
    assert long == (fill - bankrupt) * size


# --- pool states --------------------------------------------------------------------------------------


def test_drawdown() -> None:
    assert drawdown(D(70), D(100)) == D("0.3")
    assert drawdown(D(120), D(100)) == 0
    assert drawdown(D(5), D(0)) == 0


def test_normal_warning_adl_by_drawdown() -> None:
    s = next_state(PoolState.NORMAL, D(81), D(100), T0, None, POLICY)
    assert s.state is PoolState.NORMAL
    s = next_state(PoolState.NORMAL, D(80), D(100), T0, None, POLICY)
    assert s.state is PoolState.WARNING and s.trigger is None
    s = next_state(PoolState.WARNING, D(70), D(100), T0, None, POLICY)
    assert s.state is PoolState.ADL and s.trigger is AdlTrigger.RATE


def test_cannot_cover_goes_to_adl_even_without_drawdown() -> None:
    s = next_state(PoolState.NORMAL, D(100), D(100), T0, None, POLICY, uncovered_loss=True)
    assert s == next_state(PoolState.WARNING, D(100), D(100), T0, None, POLICY, uncovered_loss=True)
    assert s.state is PoolState.ADL and s.trigger is AdlTrigger.BALANCE
    # Already in ADL: no second start event.
    again = next_state(PoolState.ADL, D(100), D(100), T0, T0, POLICY, uncovered_loss=True)
    assert again.state is PoolState.ADL and again.trigger is None


def test_adl_ends_only_after_cooldown_and_recovery() -> None:
    start = T0
    # Recovered but still inside the cooldown: stays.
    assert next_state(PoolState.ADL, D(100), D(100), start + timedelta(minutes=59), start, POLICY).state is (
        PoolState.ADL
    )
    # Cooled down but drawdown still in the warning band: stays.
    late = start + timedelta(hours=2)
    assert next_state(PoolState.ADL, D(79), D(100), late, start, POLICY).state is PoolState.ADL
    end = next_state(PoolState.ADL, D(90), D(100), late, start, POLICY)
    assert end.state is PoolState.NORMAL and end.trigger is AdlTrigger.END


def test_fund_covers() -> None:
    assert fund_covers(PoolState.NORMAL, D(10), D(10))
    assert not fund_covers(PoolState.NORMAL, D(10), D("10.01"))
    assert not fund_covers(PoolState.ADL, D(1000), D(1))
    assert fund_covers(PoolState.WARNING, D(10), D(1))


def test_policy_rejects_inverted_thresholds() -> None:
    with pytest.raises(ValueError):
        PoolPolicy(D("0.4"), D("0.3"), timedelta(hours=8), timedelta(hours=1))


# --- trailing peak ------------------------------------------------------------------------------------


def _brute_peak(points: list[tuple[datetime, D]], i: int, window: timedelta) -> D:
    at = points[i][0]
    start = at - window
    inside = [b for t, b in points[: i + 1] if t > start]
    carried = [b for t, b in points[: i + 1] if t <= start]
    return max(inside + carried[-1:])


@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 1000)), min_size=1, max_size=60))
@settings(max_examples=300, deadline=None)
def test_window_peak_matches_brute_force(steps: list[tuple[int, int]]) -> None:
    window = timedelta(hours=8)
    at = T0
    points = []
    for gap_hours, value in steps:
        at += timedelta(hours=gap_hours)
        points.append((at, D(value)))
    tracker = WindowPeak(window)
    for i, (t, b) in enumerate(points):
        assert tracker.push(t, b) == _brute_peak(points, i, window)


def test_balance_carried_into_window_counts() -> None:
    tracker = WindowPeak(timedelta(hours=8))
    tracker.push(T0, D(100))
    # Nine hours later, 100 was still the balance at the window start: it is the peak.
    assert tracker.push(T0 + timedelta(hours=9), D(50)) == D(100)
    # Another nine hours on, the 100 ended nine hours ago: only 50 remains.
    assert tracker.push(T0 + timedelta(hours=18), D(40)) == D(50)


def test_worst_drawdown_over_a_crash() -> None:
    series = [(T0 + timedelta(hours=h), D(b)) for h, b in [(0, 100), (1, 120), (2, 90), (3, 60), (20, 55)]]
    assert worst_drawdown(series, timedelta(hours=8)) == D("0.5")


# --- ADL queue ----------------------------------------------------------------------------------------


def _pos(pid: str, side: PositionSide, entry: str, mark: str, margin: str, size: str = "1") -> OpenPosition:
    return OpenPosition(pid, "u-" + pid, side, D(size), D(entry), D(mark), D(margin))


def test_queue_ranks_profit_times_leverage_and_opposes_the_liquidated_side() -> None:
    positions = [
        _pos("a", PositionSide.SHORT, "100", "90", "10"),  # +10%, equity 20, lev 4.5 -> 0.45
        _pos("b", PositionSide.SHORT, "100", "80", "50"),  # +20%, equity 70, lev ~1.14 -> 0.229
        _pos("c", PositionSide.SHORT, "100", "95", "1"),  # +5%, equity 6, lev 15.8 -> 0.79
        _pos("d", PositionSide.SHORT, "100", "110", "20"),  # losing: behind every profitable one
        _pos("e", PositionSide.LONG, "100", "200", "1"),  # same side as the liquidated long: not in queue
    ]
    queue = adl_queue(positions, liquidated_side=PositionSide.LONG)
    assert [q.position.position_id for q in queue] == ["c", "a", "b", "d"]
    assert [q.rank for q in queue] == [1, 2, 3, 4]
    assert queue[0].indicator == 5 and queue[-1].indicator <= 2
    assert all(q.score < 0 for q in queue if q.position.position_id == "d")


def test_queue_ties_are_deterministic() -> None:
    same = [_pos(pid, PositionSide.LONG, "100", "110", "10") for pid in ("z", "m", "a")]
    assert [q.position.position_id for q in adl_queue(same, PositionSide.SHORT)] == ["a", "m", "z"]


def test_deleverage_walks_the_queue() -> None:
    queue = adl_queue(
        [
            _pos("a", PositionSide.SHORT, "100", "90", "10", "2"),
            _pos("b", PositionSide.SHORT, "100", "95", "1", "3"),
        ],
        PositionSide.LONG,
    )
    cuts = deleverage(queue, D("4"))
    assert [(e.position.position_id, s) for e, s in cuts] == [("b", D(3)), ("a", D(1))]
