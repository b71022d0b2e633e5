"""`bastion pfund`: wallets verified and recorded for a round, bookings, affected users from a CSV (all or
nothing, bad rows named), the ledger check, disclosures from a file."""

from __future__ import annotations

import json
from pathlib import Path

from test_pfund_wallets import make_round, round_json
from typer.testing import CliRunner

from bastion.cli import app
from bastion.protection_fund import incidents
from bastion.sim.protection_fund import make_fund_wallet_set


def test_cli_end_to_end(db_url: str, tmp_path: Path, session_factory) -> None:  # type: ignore[no-untyped-def]
    run = CliRunner().invoke
    book = ["pfund", "contribute", "--ref", "c1", "--ccy", "USDT", "--amount", "250000", "--source", "treasury",
            "--actor", "cfo", "--ts", "2026-10-02T00:00:00+00:00", "--database-url", db_url]  # fmt: skip
    r = run(app, book)
    assert r.exit_code == 0 and "balance 250000" in r.output, r.output
    assert "already booked" in run(app, book).output
    r = run(app, [*book[:7], "12x", *book[8:]])
    assert r.exit_code == 2 and "amount: not a number" in r.output

    d = make_round(tmp_path)
    from decimal import Decimal

    good = make_fund_wallet_set(round_json(), {"USDT": Decimal(250000)}, tmp_path / "fund.csv")
    r = run(app, ["pfund", "verify-wallets", str(good), "--round", str(d), "--database-url", db_url])
    assert r.exit_code == 0 and "1/1 wallets verified" in r.output and "$250,000.00" in r.output, r.output
    bad = tmp_path / "bad.csv"
    text = good.read_text().splitlines()
    cols = text[1].split(",")
    cols[6] = cols[6][:-4] + ("0000" if not cols[6].endswith("0000") else "1111")  # the signature, broken
    bad.write_text("\n".join([text[0], ",".join(cols)]) + "\n")
    r = run(app, ["pfund", "verify-wallets", str(bad), "--round", str(d), "--database-url", db_url])
    assert r.exit_code == 1 and "0/1 wallets verified" in r.output and "row 2:" in r.output, (
        r.output
    )  # the file's line (the header is line 1)
    r = run(app, ["pfund", "status", "--json", "--database-url", db_url])
    assert json.loads(r.stdout)["wallets_cover_ledger"] is False

    with session_factory() as s:
        from datetime import UTC, datetime

        inc, _ = incidents.open_incident(
            s, "i1", incidents.IncidentKind.HACK, "Breach", "", datetime(2026, 10, 3, tzinfo=UTC), "ciso",
            datetime(2026, 10, 3, tzinfo=UTC),
        )  # fmt: skip
        s.commit()
        iid = inc.id
    rows = tmp_path / "affected.csv"
    rows.write_text("user_id,ccy,amount\nu1,USDT,10\nu2,USDT,-3\n")
    r = run(app, ["pfund", "affected", str(iid), str(rows), "--actor", "ciso", "--database-url", db_url])
    # u2 is on line 3 of the file (the header is row 1)
    assert r.exit_code == 2 and "row 3, amount" in r.output and "nothing recorded" in r.output, r.output
    rows.write_text("user_id,ccy,amount\nu1,USDT,10\nu2,USDT,3\n")
    r = run(app, ["pfund", "affected", str(iid), str(rows), "--actor", "ciso", "--database-url", db_url])
    assert r.exit_code == 0 and "2 recorded" in r.output
    assert run(app, ["pfund", "check", "--database-url", db_url]).exit_code == 0

    words = tmp_path / "words.json"
    words.write_text(json.dumps({"purpose": "P", "structure": "S", "triggers": "T", "disclaimers": 3}))
    r = run(app, ["pfund", "disclosure", "protection", str(words), "--actor", "legal", "--database-url", db_url])
    assert r.exit_code == 2 and "disclaimers: must be a list" in r.output
    words.write_text(json.dumps({"purpose": "P", "structure": "S", "triggers": "T", "disclaimers": ["D"]}))
    r = run(app, ["pfund", "disclosure", "protection", str(words), "--actor", "legal", "--database-url", db_url])
    assert r.exit_code == 0 and "version 1" in r.output
