"""Every figure of the monthly security report, computed from Bastion's own data.

The database figures come from each domain's `monthly(session, start, end)` (risk, keys, funds, cooling-off,
mistaken deposits), plus the fund's balance history from its ledger (`fund_entries`) for the chart. The fund
security section comes from the proof-of-reserves round directory: `round.json` (docs/spec/round-format.md)
and the reserves verification output `reserves.json` (docs/reserves.md), through the reserve report of
`bastion.por.reserves.report`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bastion.funds.metrics import FundMonth
from bastion.keys.metrics import KeysMonthly
from bastion.por.reserves.report import RESERVES_FILE, RESERVES_FORMAT, ReserveReport
from bastion.protection.cooling_off import CoolingOffMonth
from bastion.protection.deposits import DepositsMonth
from bastion.report.protection import ProtectionSection
from bastion.report.protection import to_json as protection_json
from bastion.risk.metrics import RiskMetrics


class ReportInputError(ValueError):
    """An input file the report cannot use; the message names the file and the field."""


def month_bounds(month: str) -> tuple[datetime, datetime]:
    from bastion.sim.month import month_bounds as bounds

    return bounds(month)


def previous_month(month: str) -> str:
    start, _ = month_bounds(month)
    prev = start - timedelta(days=1)
    return f"{prev.year:04d}-{prev.month:02d}"


# ------------------------------------------------------------------------------------------ fund security
@dataclass
class ProofInfo:
    circuit_name: str | None
    circuit_digest: str | None
    stark_params: dict[str, Any]
    prover_version: str | None
    users: int | None
    rows: int | None
    leaf_root: str | None
    leaf_count: int | None
    batches: int


@dataclass
class FundSecurity:
    round_dir: str
    report: ReserveReport
    proof: ProofInfo
    reserves_file: str
    wallet_set_sha256: str | None
    balance_source: str | None

    @property
    def assets_covered(self) -> int:
        return len(self.report.lines)


def load_fund_security(round_dir: Path, reserves: Path | None = None) -> FundSecurity:
    """round.json from `round_dir`, reserves.json from `reserves` (a file or a directory holding one; default:
    the round directory)."""
    from bastion.por.reserves.amounts import parse_amount
    from bastion.por.reserves.errors import ReservesInputError
    from bastion.por.reserves.report import RoundReserves, build_report
    from bastion.por.reserves.round import load_round

    try:
        rnd = load_round(round_dir)
    except ReservesInputError as exc:
        raise ReportInputError(str(exc)) from None
    raw_round = json.loads((rnd.path or round_dir).joinpath("round.json").read_text(encoding="utf-8"))
    path = reserves if reserves is not None else round_dir
    if path.is_dir():
        path = path / RESERVES_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportInputError(
            f"{path}: not found (run `bastion por reserves verify WALLETS --round {round_dir}` first)"
        ) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ReportInputError(f"{path}: not readable JSON: {exc}") from None
    if not isinstance(raw, dict) or raw.get("format") != RESERVES_FORMAT:
        raise ReportInputError(f"{path}: format: expected {RESERVES_FORMAT!r}")
    if raw.get("round_id") != rnd.round_id:
        raise ReportInputError(f"{path}: round_id {raw.get('round_id')!r} is not round.json's {rnd.round_id!r}")
    amounts: dict[str, Decimal] = {}
    for asset, entry in (raw.get("assets") or {}).items():
        try:
            amounts[asset] = parse_amount(str(entry["reserves"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ReportInputError(f"{path}: assets.{asset}.reserves: {exc}") from None
    verified = sum(1 for w in raw.get("wallets", []) if w.get("verified"))
    report = build_report(RoundReserves(rnd, amounts, list(raw.get("failures", [])), verified))
    circuit = raw_round.get("circuit") or {}
    leaves = raw_round.get("leaves") or {}
    proof = ProofInfo(
        circuit_name=circuit.get("name"),
        circuit_digest=circuit.get("digest"),
        stark_params=dict(circuit.get("stark_params") or {}),
        prover_version=raw_round.get("prover_version"),
        users=raw_round.get("users"),
        rows=raw_round.get("rows"),
        leaf_root=leaves.get("root"),
        leaf_count=leaves.get("count"),
        batches=len(raw_round.get("batches") or []),
    )
    ws = raw.get("wallet_set") or {}
    return FundSecurity(str(round_dir), report, proof, str(path), ws.get("sha256"), raw.get("balance_source"))


# ---------------------------------------------------------------------------------------- the database
@dataclass
class PoolSeries:
    name: str  # "SWAP BTC-USDT (USDT)"
    ccy: str
    points: list[tuple[datetime, Decimal]]  # balance after each hour with bookings, plus the month's start


@dataclass
class DbFigures:
    start: datetime
    end: datetime
    risk: RiskMetrics
    keys: KeysMonthly
    funds: FundMonth
    cooling_off: CoolingOffMonth
    deposits: DepositsMonth
    fund_series: list[PoolSeries] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """Nothing at all happened in the month (no decision, key, booking, activation or case)."""
        return not (
            self.risk.withdrawals_evaluated
            or self.keys.created
            or self.keys.swept
            or self.keys.revoked
            or self.funds_activity
            or self.cooling_off.activations
            or self.deposits.cases
        )

    @property
    def funds_activity(self) -> bool:
        return any(len(s.points) > 1 for s in self.fund_series)

    @property
    def keys_deleted(self) -> int:
        return self.keys.swept + self.keys.revoked

    @property
    def deposits_recovered(self) -> int:
        return self.deposits.manual_recovered + self.deposits.automatic_returned

    @property
    def deposits_recovered_usd(self) -> Decimal:
        return self.deposits.manual_value_usd + self.deposits.automatic_value_usd


def _fund_series(session: Session, start: datetime, end: datetime) -> list[PoolSeries]:
    from bastion.funds.models import FundEntry, FundPool

    out = []
    for pool in session.scalars(select(FundPool).order_by(FundPool.id)):
        opening = session.scalar(
            select(FundEntry.balance)
            .where(FundEntry.pool_id == pool.id, FundEntry.ts < start)
            .order_by(FundEntry.seq.desc())
            .limit(1)
        )
        rows = session.execute(
            select(FundEntry.ts, FundEntry.balance)
            .where(FundEntry.pool_id == pool.id, FundEntry.ts >= start, FundEntry.ts < end)
            .order_by(FundEntry.seq)
        ).all()
        if opening is None and not rows:
            continue
        hourly: dict[datetime, Decimal] = {}
        for ts, bal in rows:
            hour = ts.replace(minute=0, second=0, microsecond=0)
            hourly[hour] = bal  # the last booking of the hour
        points = [(start, Decimal(opening or 0)), *sorted(hourly.items())]
        out.append(PoolSeries(f"{pool.inst_type} {pool.inst_family} ({pool.ccy})", pool.ccy, points))
    return out


def db_figures(factory: sessionmaker[Session], start: datetime, end: datetime) -> DbFigures:
    from bastion.funds import metrics as funds_metrics
    from bastion.keys import metrics as keys_metrics
    from bastion.protection import cooling_off, deposits
    from bastion.risk import metrics as risk_metrics

    with factory() as s:
        return DbFigures(
            start=start,
            end=end,
            risk=risk_metrics.monthly(s, start, end),
            keys=keys_metrics.monthly(s, start, end),
            funds=funds_metrics.monthly(s, start, end),
            cooling_off=cooling_off.monthly(s, start, end),
            deposits=deposits.monthly(s, start, end),
            fund_series=_fund_series(s, start, end),
        )


# ------------------------------------------------------------------------------------------ the report
@dataclass
class MonthlyReport:
    month: str
    exchange: str
    generated_at: datetime
    current: DbFigures
    previous: DbFigures | None  # None: the database has nothing for the previous month (first report)
    previous_month: str
    fund: FundSecurity | None
    # The user protection fund, both funds' disclosures and beginner protection (bastion.report.protection).
    protection: ProtectionSection | None = None

    def daily_interceptions(self) -> list[tuple[date, int]]:
        days = (self.current.end - self.current.start).days
        got = self.current.risk.daily_interceptions
        first = self.current.start.date()
        return [(first + timedelta(days=d), got.get(first + timedelta(days=d), 0)) for d in range(days)]


def gather(
    factory: sessionmaker[Session],
    month: str,
    round_dir: Path | None = None,
    reserves: Path | None = None,
    now: datetime | None = None,
) -> MonthlyReport:
    from bastion.risk.events import now_utc

    start, end = month_bounds(month)
    current = db_figures(factory, start, end)
    prev_month = previous_month(month)
    p_start, p_end = month_bounds(prev_month)
    previous = db_figures(factory, p_start, p_end)
    fund = load_fund_security(round_dir, reserves) if round_dir is not None else None
    from bastion.report import protection

    with factory() as s:
        section = protection.gather(s, start, end)
    return MonthlyReport(
        month=month,
        exchange=fund.report.exchange if fund else "",
        generated_at=now or now_utc(),
        current=current,
        previous=None if previous.empty else previous,
        previous_month=prev_month,
        fund=fund,
        protection=section,
    )


def figures_json(r: MonthlyReport) -> dict[str, Any]:
    """The report's figures, machine-readable (report.json beside report.html)."""

    def db(f: DbFigures) -> dict[str, Any]:
        return {
            "users_protected": f.risk.users_protected,
            "withdrawals_evaluated": f.risk.withdrawals_evaluated,
            "withdrawals_intercepted": f.risk.withdrawals_intercepted,
            "withdrawals_blocked": f.risk.blocked,
            "withdrawals_held": f.risk.held,
            "false_positives": f.risk.false_positives,
            "value_preserved_usd": str(f.risk.value_preserved_usd),
            "rule_hits": f.risk.hits_per_rule,
            "daily_interceptions": {d.isoformat(): n for d, n in f.risk.daily_interceptions.items()},
            "fund_balance_by_ccy": {k: str(v) for k, v in f.funds.balance_by_ccy.items()},
            "fund_triggers": f.funds.triggers,
            "fund_adl_starts": f.funds.adl_starts,
            "fund_adl_events": f.funds.adl_events,
            "fund_adl_positions": f.funds.adl_positions,
            "fund_pools": [
                {
                    "pool": f"{p.inst_type} {p.inst_family} ({p.ccy})",
                    "balance": str(p.balance_end),
                    "triggers": p.triggers,
                    "inflows": str(p.inflows),
                    "outflows": str(p.losses_out),
                    "adl_events": p.adl_liquidations,
                    "adl_starts": p.adl_starts,
                    "worst_drawdown_8h": str(p.worst_drawdown_8h),
                    "state": p.state_end,
                }
                for p in f.funds.pools
            ],
            "api_keys_created": f.keys.created,
            "api_keys_created_direct": f.keys.created_direct,
            "api_keys_bound_to_apps": f.keys.bound_to_apps,
            "api_keys_deleted": f.keys_deleted,
            "api_keys_swept": f.keys.swept,
            "api_keys_revoked": f.keys.revoked,
            "api_key_rejections": f.keys.rejections_by_code,
            "cooling_off_activations": f.cooling_off.activations,
            "cooling_off_users": f.cooling_off.users,
            "cooling_off_durations": f.cooling_off.durations,
            "cooling_off_orders_refused": f.cooling_off.orders_refused,
            "mistaken_deposit_cases": f.deposits.cases,
            "mistaken_deposits_by_reason": f.deposits.by_reason,
            "mistaken_deposits_recovered": f.deposits_recovered,
            "mistaken_deposits_recovered_usd": str(f.deposits_recovered_usd),
            "mistaken_deposits_manual": f.deposits.manual_recovered,
            "mistaken_deposits_automatic": f.deposits.automatic_returned,
            "mistaken_deposits_unrecoverable": f.deposits.unrecoverable,
        }

    fund: dict[str, Any] | None = None
    if r.fund is not None:
        rep = r.fund.report
        fund = {
            "round_id": rep.round_id,
            "snapshot_time": rep.snapshot_time,
            "status": rep.status,
            "assets_covered": r.fund.assets_covered,
            "assets": [
                {
                    "asset": x.asset,
                    "user_assets": str(x.liabilities),
                    "wallet_assets": str(x.reserves),
                    "reserve_ratio": None if x.ratio is None else str(x.ratio),
                }
                for x in rep.lines
            ],
            "circuit_digest": r.fund.proof.circuit_digest,
            "leaf_root": r.fund.proof.leaf_root,
        }
    return {
        "format": "bastion-monthly-report/1",
        "month": r.month,
        "exchange": r.exchange,
        "generated_at": r.generated_at.isoformat(),
        "fund_security": fund,
        "figures": db(r.current),
        "previous_month": r.previous_month,
        "previous": None if r.previous is None else db(r.previous),
        **({} if r.protection is None else protection_json(r.protection)),
    }
