"""`bastion demo`: an exchange's month, end to end, on embedded defaults (SQLite, local files).

1. the month's traffic through the running service (logins and withdrawals with attacks, API keys,
   liquidations, cooling-offs, mistaken deposits): `bastion.sim.month`;
2. a liabilities snapshot (users with balances and debt) and its zk-STARK solvency proof;
3. reserve wallets with real signatures over the round's challenge, verified;
4. the whole round verified, and one user's inclusion proof made and checked;
5. the monthly security report (HTML and PDF) from all of it.
"""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

if TYPE_CHECKING:
    from bastion.report import ReportPaths

console = Console()
DEMO_EXCHANGE = "Demo Exchange"
# Each chain's height (block, slot, ledger or version) the demo round's balances are taken at.
DEMO_HEIGHTS = {
    "bitcoin": 870_000, "ethereum": 21_000_000, "tron": 67_000_000, "arbitrum": 280_000_000,
    "optimism": 128_000_000, "bsc": 44_000_000, "polygon": 64_000_000, "avalanche": 53_000_000,
    "solana": 305_000_000, "xrpl": 92_000_000, "dogecoin": 5_450_000, "litecoin": 2_800_000,
    "bitcoin-cash": 872_000, "polkadot": 23_500_000, "cardano": 11_200_000, "ton": 43_000_000,
    "near": 133_000_000, "aptos": 2_100_000_000,
}  # fmt: skip


def _previous_month() -> str:
    first = datetime.now(UTC).replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


def _step(n: int, total: int, title: str) -> None:
    # Printed as text, not in a rule: a rule cuts a long title to the terminal's width.
    console.print()
    console.print(f"[bold]== {n}/{total}[/] [bold]{title}[/]", highlight=False)


def run_month_demo(out: Path, month: str | None, users: int, holders: int, pdf: bool) -> None:
    from bastion.cli.por_liabilities import RichProgress, progress_bar
    from bastion.cli.sim_month import simulate_month
    from bastion.db.session import make_engine, make_sessionmaker
    from bastion.periods import month_bounds
    from bastion.por.liabilities.prover.pipeline import prove_round
    from bastion.por.liabilities.prover.plan import RoundConfig
    from bastion.report import write_monthly
    from bastion.sim.liabilities import simulate_liabilities

    month = month or _previous_month()
    _, end = month_bounds(month)
    started = time.perf_counter()
    if out.exists():
        console.print(f"[dim]removing the previous demo output in {out}/[/]")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    total = 6

    _step(1, total, f"{month}: the exchange's month through the running service ({users} users)")
    simulate_month(out / "month", month, users=users)
    db_url = f"sqlite:///{(out / 'month' / 'bastion.sqlite').resolve()}"

    _step(2, total, f"liabilities snapshot at the end of {month} ({holders:,} users, 22 assets)")
    truth = simulate_liabilities(out / "snapshot", users=holders, assets=22, seed=1)
    console.print(f"{truth.users:,} users, {truth.rows:,} holdings, {truth.margin_users:,} with debt")

    _step(3, total, "zk-STARK proof of liabilities (solvency of every user, exact per-asset totals)")
    round_dir = out / "round"
    config = RoundConfig(
        exchange=DEMO_EXCHANGE, round_id=month,
        snapshot_time=end.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z"),
        block_heights=DEMO_HEIGHTS,
    )  # fmt: skip
    with progress_bar() as bar:
        summary = prove_round(out / "snapshot", round_dir, config, RichProgress(bar))
    console.print(f"{summary.batches} batch proof(s), {summary.leaves:,} leaves, root {summary.leaf_root}")

    _step(4, total, "reserves: wallet ownership signatures over the round's challenge, balances, reserve ratios")
    _reserves(out, round_dir, db_url)

    _step(5, total, "verifying the round as an auditor would, and one user's inclusion proof")
    user_file = _verify(out, round_dir)

    _step(6, total, f"the monthly security report for {month}")
    from bastion.report.signature import generate_key

    key = out / "report-signing.key"  # the demo exchange's report key (a real one is made once and kept)
    if not key.exists():
        generate_key(key)
    engine = make_engine(db_url)
    paths = write_monthly(make_sessionmaker(engine), month, out / "report", round_dir=round_dir,
                          reserves=round_dir / "reserves.json", pdf=pdf, signing_key=key,
                          public_url="http://127.0.0.1:8000")  # the demo's `bastion serve`, below
    engine.dispose()

    _next_steps(time.perf_counter() - started, paths, round_dir, user_file, db_url, month)


def _reserves(out: Path, round_dir: Path, db_url: str) -> None:
    """Step 4: the reserves' wallets proven over the round's challenge, then the user protection fund's."""
    from bastion.cli.output import print_reserve_report
    from bastion.db.session import make_engine, make_sessionmaker
    from bastion.por.format.round import read_round
    from bastion.por.reserves.publish import publish_reserve_files
    from bastion.por.reserves.report import build_report, round_reserves_of, write_reserves
    from bastion.por.reserves.round_view import load_round
    from bastion.por.reserves.verify import verify_wallet_set
    from bastion.por.reserves.walletset import read_wallet_set
    from bastion.sim.wallets import make_wallet_set

    wallets = out / "wallets.csv"
    made = make_wallet_set(read_round(round_dir), wallets, seed=1)
    rnd = load_round(round_dir)
    result = verify_wallet_set(rnd, read_wallet_set(wallets))
    write_reserves(result, round_dir / "reserves.json", publish_reserve_files(rnd, wallets, round_dir))
    print_reserve_report(build_report(round_reserves_of(result)), {n: a.decimals for n, a in rnd.assets.items()})
    console.print(f"{made.wallets} wallets verified")
    # The user protection fund's wallets, proven over the same challenge, segregated from the reserves.
    from bastion.protection_fund import ledger as pfund_ledger
    from bastion.protection_fund import wallets as pfund_wallets
    from bastion.protection_fund.wallets import snapshot_datetime
    from bastion.sim.protection_fund import make_fund_wallet_set

    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as s:
        rnd = load_round(round_dir)
        held = pfund_ledger.balances(s, snapshot_datetime(rnd))
        fund_csv = make_fund_wallet_set(read_round(round_dir), held, out / "protection-fund-wallets.csv", seed=1)
        rec = pfund_wallets.verify_round(s, rnd, read_wallet_set(fund_csv), datetime.now(UTC), round_dir).record
        s.commit()
    engine.dispose()
    console.print(
        f"user protection fund: {sum(w['verified'] for w in rec.wallets)}/{len(rec.wallets)} wallets verified, "
        f"${rec.ledger_usd:,.0f} at the round's prices"
    )


def _verify(out: Path, round_dir: Path) -> Path:
    """Step 5: the round verified as an auditor would, and one user's inclusion proof (its file)."""
    from bastion.cli.por_liabilities import RichProgress, progress_bar
    from bastion.por.format.round import read_round, write_json_atomic
    from bastion.por.liabilities.user_proofs import make_user_proof
    from bastion.por.verify.round import verify_round
    from bastion.por.verify.user import verify_user_proof

    with progress_bar() as bar:
        verdict = verify_round(round_dir, progress=RichProgress(bar))
    if not verdict.ok:
        raise SystemExit(f"the demo's own round did not verify: {verdict.reason}")
    console.print(f"round verified: {verdict.batches_verified} batch proof(s), totals exact")
    uid = (out / "snapshot" / "balances.csv").open().readlines()[1].split(",")[0]
    user_file = out / f"user-proof-{uid}.json"
    proof: dict[str, Any] = make_user_proof(round_dir, uid)
    write_json_atomic(user_file, proof)
    user_verdict = verify_user_proof(proof, read_round(round_dir))
    if not user_verdict.ok:
        raise SystemExit(f"the demo's user proof did not verify: {user_verdict.reason}")
    console.print(f"user {uid}: {len(user_verdict.rows)} row(s) included under the published root")
    return user_file


def _next_steps(took: float, paths: ReportPaths, round_dir: Path, user_file: Path, db_url: str, month: str) -> None:
    """What the demo made, and the commands that check or show it."""
    console.rule(f"[bold green]done in {took / 60:.1f} min")
    pdf_note = f" and {paths.pdf}" if paths.pdf else ""
    lines = [
        f"report:       {paths.html}{pdf_note}",
        f"signed:       bastion report verify {paths.pdf or paths.html} --public-key {paths.report.signer_public_key}",
        f"round:        {round_dir}/ (publish all but private/; check: bastion por verify {round_dir})",
        f"wallets:      {round_dir}/wallets.csv and prices.json, published with reserves.json (check: bastion por "
        f"reserves verify {round_dir}/wallets.csv --round {round_dir} --out CHECK_DIR/reserves.json)",
        f"user proof:   {user_file} (check: bastion por verify-user {user_file} --round {round_dir})",
        f"web page:     bastion serve --round {round_dir} --database-url {db_url}  then open "
        "http://127.0.0.1:8000/por/",
        f"reserve table: bastion por report {round_dir}",
        f"risk:         bastion risk metrics --month {month} --database-url {db_url}",
        f"API keys:     bastion keys sweep --dry-run --database-url {db_url}",
        f"fund:         bastion funds check --database-url {db_url}",
        "funds page:   the same service, http://127.0.0.1:8000/funds/ (the protection fund and disclosures)",
        f"pfund:        bastion pfund status --database-url {db_url}",
    ]
    for line in lines:
        console.print(line, soft_wrap=True, highlight=False)
