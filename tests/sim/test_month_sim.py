"""Two simulated months share one database: ids carry the month, the second month's figures still equal its
ground truth (bar the fund balances, which carry over), and simulating a month twice is refused."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bastion.cli import app
from bastion.cli.sim_month import simulate_month
from bastion.db.session import make_engine, make_sessionmaker
from bastion.periods import month_bounds
from bastion.report.figures import db_figures
from bastion.sim.month import TRUTH_FILE, MonthGroundTruth


def test_month_bounds() -> None:
    assert month_bounds("2026-02") == (datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))
    assert month_bounds("2026-12")[1] == datetime(2027, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="YYYY-MM"):
        month_bounds("2026-13")


def test_two_months_in_one_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    first = simulate_month(tmp_path / "oct", "2026-10", users=20, seed=5, db_url=url, progress=False)
    result = CliRunner().invoke(
        app, ["sim", "month", "--month", "2026-11", "--users", "20", "--seed", "5", "--out", str(tmp_path / "nov"),
              "--db", url],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    second = MonthGroundTruth.read(tmp_path / "nov" / TRUTH_FILE)
    assert first.fresh_database and not second.fresh_database
    assert second.risk.withdrawals != first.risk.withdrawals  # another month, other traffic
    engine = make_engine(url)
    try:
        f = db_figures(make_sessionmaker(engine), *month_bounds("2026-11"))
    finally:
        engine.dispose()
    assert f.risk.withdrawals_evaluated == second.risk.withdrawals
    assert f.risk.withdrawals_intercepted == second.risk.intercepted
    assert f.risk.value_preserved_usd == Decimal(second.risk.intercepted_value_usd)
    assert f.keys.created == second.keys.created
    assert f.keys.swept == second.keys.swept + second.keys.swept_earlier_keys
    assert f.keys.revoked == second.keys.revoked
    assert f.cooling_off.activations == second.protection.activations
    assert f.cooling_off.orders_refused == second.protection.refused
    assert f.deposits.cases == second.protection.mistaken_deposits
    assert f.diligence is not None and second.diligence.opened > 0
    assert (f.diligence.opened, f.diligence.answered, f.diligence.approved, f.diligence.rejected,
            f.diligence.overdue) == (second.diligence.opened, second.diligence.answered, second.diligence.approved,
                                     second.diligence.rejected, second.diligence.overdue)  # fmt: skip
    assert f.travel_rule is not None and second.travel_rule.deposits_held > 0
    assert (f.travel_rule.deposits_held, f.travel_rule.deposits_released, f.travel_rule.released_by,
            f.travel_rule.deposits_returned, f.travel_rule.median_hours_to_release) == (
        second.travel_rule.deposits_held, second.travel_rule.deposits_released, second.travel_rule.released_by,
        second.travel_rule.deposits_returned, second.travel_rule.median_hours_to_release)  # fmt: skip
    # The fund's reference model starts from empty pools: with October's balances carried over, November's
    # fund figures are the service's own (ground truth for the fund holds on a fresh database only).
    assert f.funds_activity
    again = CliRunner().invoke(
        app, ["sim", "month", "--month", "2026-11", "--users", "20", "--out", str(tmp_path / "again"), "--db", url]
    )
    assert again.exit_code == 2 and "already in the database" in again.output
