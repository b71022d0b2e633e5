"""The protection fund's ledger: double entry, idempotent by ref, never below zero, re-addable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from sqlalchemy import update

from bastion.errors import ConflictError, InvalidInputError
from bastion.protection_fund import ledger
from bastion.protection_fund.models import PfundEntry

T0 = datetime(2026, 10, 1, tzinfo=UTC)


def test_contributions_transfers_and_balances(session_factory) -> None:  # type: ignore[no-untyped-def]
    with session_factory() as s:
        ledger.contribute(s, "c1", "usdt", D("1000"), "treasury", T0, "ops")
        ledger.contribute(s, "c2", "BTC", D("2.5"), "fee_share", T0 + timedelta(days=1), "ops")
        b = ledger.transfer(s, "t1", "USDT", D("250.5"), "out", "risk_provision", T0 + timedelta(days=2), "ops")
        s.commit()
        assert (b.kind, b.amount, b.balance, b.counterparty) == (
            "transfer_out",
            D("-250.5"),
            D("749.5"),
            "external:risk_provision",
        )
        assert ledger.balances(s) == {"BTC": D("2.5"), "USDT": D("749.5")}
        assert ledger.balances(s, T0 + timedelta(hours=1)) == {"USDT": D(1000)}
        assert ledger.balances(s, T0 - timedelta(seconds=1)) == {}
        check = ledger.check_ledger(s)
        assert check.balanced and check.entries == 3


def test_replay_and_conflict(session_factory) -> None:  # type: ignore[no-untyped-def]
    with session_factory() as s:
        first = ledger.contribute(s, "c1", "USDT", D(10), "treasury", T0, "ops")
        s.commit()
        again = ledger.contribute(s, "c1", "USDT", D("10.00"), "treasury", T0, "ops")
        assert again.replayed and again.entry_id == first.entry_id and again.balance == D(10)
        with pytest.raises(ConflictError, match="ref: c1"):
            ledger.contribute(s, "c1", "USDT", D(11), "treasury", T0, "ops")
        s.rollback()
        assert ledger.balances(s) == {"USDT": D(10)}


def test_never_below_zero_and_bad_input(session_factory) -> None:  # type: ignore[no-untyped-def]
    with session_factory() as s:
        ledger.contribute(s, "c1", "USDT", D(10), "treasury", T0, "ops")
        s.commit()
        with pytest.raises(ConflictError, match="holds 10 USDT"):
            ledger.transfer(s, "t1", "USDT", D("10.00000001"), "out", "x", T0, "ops")
        s.rollback()
        for amount, field in ((D(0), "amount"), (D("-1"), "amount"), (D("1e-9"), "amount"), (D("NaN"), "amount")):
            with pytest.raises(InvalidInputError) as err:
                ledger.contribute(s, f"bad-{amount}", "USDT", amount, "treasury", T0, "ops")
            assert err.value.field == field
        with pytest.raises(InvalidInputError) as err:
            ledger.contribute(s, "naive", "USDT", D(1), "treasury", T0.replace(tzinfo=None), "ops")
        assert err.value.field == "ts"
        with pytest.raises(InvalidInputError) as err:
            ledger.transfer(s, "dir", "USDT", D(1), "sideways", "x", T0, "ops")
        assert err.value.field == "direction"


def test_check_ledger_finds_a_tampered_entry(session_factory) -> None:  # type: ignore[no-untyped-def]
    with session_factory() as s:
        ledger.contribute(s, "c1", "USDT", D(10), "treasury", T0, "ops")
        ledger.contribute(s, "c2", "USDT", D(5), "treasury", T0, "ops")
        s.commit()
        s.execute(update(PfundEntry).where(PfundEntry.ref == "c2").values(amount=D(6)))
        s.commit()
        check = ledger.check_ledger(s)
        assert not check.balanced
        assert any("USDT seq 2" in p for p in check.problems)
        assert any("do not balance" in p for p in check.problems)
