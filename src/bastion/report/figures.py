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

from bastion.diligence.metrics import DiligenceMonth
from bastion.funds.metrics import FundMonth
from bastion.keys.metrics import KeysMonthly
from bastion.periods import month_bounds
from bastion.por.format.round import ROUND_FILE, round_path
from bastion.por.reserves.report import RESERVES_FILE, RESERVES_FORMAT, ReserveReport
from bastion.protection.cooling_off import CoolingOffMonth
from bastion.protection.deposits import DepositsMonth
from bastion.report.account_security import AccountSecurityMonth
from bastion.report.account_security import to_json as account_security_json
from bastion.report.protection import ProtectionSection
from bastion.report.protection import to_json as protection_json
from bastion.report.signature import file_sha256
from bastion.risk.metrics import RiskMetrics
from bastion.travel_rule.figures import TravelRuleFigures


class ReportInputError(ValueError):
    """An input file the report cannot use; the message names the file and the field."""


def previous_month(month: str) -> str:
    start, _ = month_bounds(month)
    prev = start - timedelta(days=1)
    return f"{prev.year:04d}-{prev.month:02d}"


# ------------------------------------------------------------------------------------------ fund security
def _batch_bits(batches: Any, aggregate: Any = None) -> list[float]:
    """The stated soundness of every proof of the round: each batch proof and the aggregation proof."""
    out = []
    proofs = [*(batches if isinstance(batches, list) else []), *([aggregate] if isinstance(aggregate, dict) else [])]
    for b in proofs:
        sec = b.get("security") if isinstance(b, dict) else None
        bits = sec.get("union_conjectured") if isinstance(sec, dict) else None
        if isinstance(bits, (int, float)) and not isinstance(bits, bool):
            out.append(float(bits))
    return out


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
    # each proof's stated soundness (round.json batches[].security and aggregate.security, recomputed by
    # `bastion por verify`)
    batch_bits: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class PublishedFile:
    """A public file of the round: its SHA-256 as computed now, and as round.json states it (None: not stated)."""

    name: str
    kind: str
    size: int
    sha256: str
    stated_sha256: str | None

    @property
    def matches(self) -> bool:
        return self.stated_sha256 is None or self.stated_sha256 == self.sha256


@dataclass(frozen=True)
class WalletLine:
    chain: str
    asset: str
    address: str
    balance: Decimal
    verified: bool


@dataclass
class FundSecurity:
    round_dir: str
    report: ReserveReport  # with the change since the previous round when one was given
    proof: ProofInfo
    reserves_file: str
    wallet_set_sha256: str | None
    balance_source: str | None
    issuer: str = ""
    nonce: str = ""
    block_heights: dict[str, int] = field(default_factory=dict)
    round_sha256: str = ""  # SHA-256 of round.json as published: the round's digest
    files: list[PublishedFile] = field(default_factory=list)
    wallets: list[WalletLine] = field(default_factory=list)
    challenge: str | None = None
    round_number: int | None = None  # None: the round was given without its history (--round, not --rounds)
    publication: str | None = None  # "the 3rd consecutive monthly publication"

    @property
    def assets_covered(self) -> int:
        return len(self.report.lines)

    @property
    def security_bits(self) -> float | None:
        # the weakest proof's union of every soundness term (stark/uni/security.py), as round.json states it and
        # `bastion por verify` recomputes it
        return min(self.proof.batch_bits) if self.proof.batch_bits else None

    def security_words(self) -> str:
        p = self.proof.stark_params
        bits = self.security_bits
        if not p or bits is None:
            return "Not stated in round.json."
        blowup = 1 << int(p.get("log_blowup", 0))
        return (
            f"Each batch proof (and the proof that the batches' hidden totals add up) is a zk-STARK over the "
            f"Goldilocks field (challenges from its degree-2 extension, "
            f"BLAKE3 commitments) with a blowup factor of {blowup}, {p.get('num_queries')} FRI queries and "
            f"{p.get('grinding_bits')} bits of proof of work: {bits:.1f} bits of conjectured soundness, the union of "
            f"every error term counted from the proof's shape, that is, a forged proof succeeds with probability "
            f"at most 2^-{bits:.0f}. Zero knowledge: every value the "
            f"proof opens is blinded, so it reveals no user's balance."
        )


def _published_files(round_dir: Path, raw_round: dict[str, Any], reserves_path: Path) -> list[PublishedFile]:
    wanted: list[tuple[str, Path, str, str | None]] = [(ROUND_FILE, round_path(round_dir), "round", None)]
    leaves = raw_round.get("leaves") or {}
    if isinstance(leaves.get("file"), str):
        wanted.append((leaves["file"], round_dir / leaves["file"], "leaf list", leaves.get("sha256")))
    for b in raw_round.get("batches") or []:
        if isinstance(b, dict) and isinstance(b.get("file"), str):
            wanted.append((b["file"], round_dir / b["file"], "batch proof", b.get("sha256")))
    agg = raw_round.get("aggregate")
    if isinstance(agg, dict) and isinstance(agg.get("file"), str):
        wanted.append((agg["file"], round_dir / agg["file"], "aggregation proof", agg.get("sha256")))
    wanted.append((RESERVES_FILE, reserves_path, "reserves verification", None))
    # the files reserves.json publishes beside it (the signed wallet set, the price table), with their digests
    try:
        listed = json.loads(reserves_path.read_text(encoding="utf-8")).get("public_files") or []
    except (OSError, ValueError, AttributeError):
        listed = []
    for entry in listed if isinstance(listed, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("file"), str) and "/" not in entry["file"]:
            stated = entry.get("sha256") if isinstance(entry.get("sha256"), str) else None
            wanted.append((entry["file"], reserves_path.parent / entry["file"], str(entry.get("kind", "reserves")),
                           stated))  # fmt: skip
    out = []
    for name, path, kind, stated in wanted:
        if path.is_file():
            out.append(PublishedFile(name, kind, path.stat().st_size, file_sha256(path), stated))
    return out


def load_fund_security(
    round_dir: Path,
    reserves: Path | None = None,
    previous_round: Path | None = None,
    number: tuple[int, str] | None = None,
) -> FundSecurity:
    """round.json from `round_dir`, reserves.json from `reserves` (a file or a directory holding one; default:
    the round directory); `previous_round` (its directory, with its reserves.json) for the change since then;
    `number`: the round's number and publication words from the rounds history."""
    from bastion.por.format.amounts import parse_amount
    from bastion.por.format.round import load_round_json
    from bastion.por.reserves.errors import ReservesInputError
    from bastion.por.reserves.report import RoundReserves, build_report, load_round_reserves
    from bastion.por.reserves.round_view import load_round

    try:
        rnd = load_round(round_dir)
        prev = load_round_reserves(previous_round) if previous_round is not None else None
    except ReservesInputError as exc:
        raise ReportInputError(str(exc)) from None
    raw_round = load_round_json(rnd.path or round_dir)
    path = reserves if reserves is not None else round_dir
    if path.is_dir():
        path = path / RESERVES_FILE
    raw = _reserves_json(path, round_dir, rnd.round_id)
    amounts: dict[str, Decimal] = {}
    for asset, entry in (raw.get("assets") or {}).items():
        try:
            amounts[asset] = parse_amount(str(entry["reserves"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ReportInputError(f"{path}: assets.{asset}.reserves: {exc}") from None
    verified = sum(1 for w in raw.get("wallets", []) if w.get("verified"))
    report = build_report(RoundReserves(rnd, amounts, list(raw.get("failures", [])), verified), prev)
    wallets = _wallet_lines(raw, path)
    proof = _proof_info(raw_round)
    ws = raw.get("wallet_set") or {}
    return FundSecurity(
        str(round_dir),
        report,
        proof,
        str(path),
        ws.get("sha256"),
        raw.get("balance_source"),
        issuer=rnd.exchange,
        nonce=rnd.nonce,
        block_heights=dict(rnd.block_heights),
        round_sha256=file_sha256(round_path(round_dir)),
        files=_published_files(round_dir, raw_round, path),
        wallets=wallets,
        challenge=raw.get("challenge") if isinstance(raw.get("challenge"), str) else None,
        round_number=number[0] if number else None,
        publication=number[1] if number else None,
    )


def _reserves_json(path: Path, round_dir: Path, round_id: str) -> dict[str, Any]:
    """reserves.json, checked to be of its format and of this round."""
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
    if raw.get("round_id") != round_id:
        raise ReportInputError(f"{path}: round_id {raw.get('round_id')!r} is not round.json's {round_id!r}")
    return raw


def _wallet_lines(raw: dict[str, Any], path: Path) -> list[WalletLine]:
    """reserves.json's wallets (rows without an address are summaries, not listed)."""
    from bastion.por.format.amounts import parse_amount

    wallets: list[WalletLine] = []
    for i, w in enumerate(raw.get("wallets") or []):
        if not isinstance(w, dict) or "address" not in w:
            continue  # a summary row without an address: nothing to list
        try:
            balance = parse_amount(str(w.get("balance", "0")))
        except ValueError as exc:
            raise ReportInputError(f"{path}: wallets[{i}].balance: {exc}") from None
        wallets.append(WalletLine(str(w.get("chain", "")), str(w.get("asset", "")), str(w["address"]), balance,
                                  bool(w.get("verified"))))  # fmt: skip
    return wallets


def _proof_info(raw_round: dict[str, Any]) -> ProofInfo:
    """What round.json says of the proof: circuit, prover, users, rows, leaves, batches."""
    circuit = raw_round.get("circuit") or {}
    leaves = raw_round.get("leaves") or {}
    return ProofInfo(
        circuit_name=circuit.get("name"),
        circuit_digest=circuit.get("digest"),
        stark_params=dict(circuit.get("stark_params") or {}),
        prover_version=raw_round.get("prover_version"),
        users=raw_round.get("users"),
        rows=raw_round.get("rows"),
        leaf_root=leaves.get("root"),
        leaf_count=leaves.get("count"),
        batches=len(raw_round.get("batches") or []),
        batch_bits=_batch_bits(raw_round.get("batches"), raw_round.get("aggregate")),
    )


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
    diligence: DiligenceMonth | None = None
    travel_rule: TravelRuleFigures | None = None

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
            or (self.diligence is not None and self.diligence.opened)
            or (self.travel_rule is not None and _travel_rule_activity(self.travel_rule))
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
    from bastion.diligence import metrics as diligence_metrics
    from bastion.funds import metrics as funds_metrics
    from bastion.keys import metrics as keys_metrics
    from bastion.protection import cooling_off, deposits
    from bastion.risk import metrics as risk_metrics
    from bastion.travel_rule import figures as travel_rule_figures

    with factory() as s:
        return DbFigures(
            start=start,
            end=end,
            risk=risk_metrics.monthly(s, start, end),
            keys=keys_metrics.monthly(s, start, end),
            funds=funds_metrics.monthly(s, start, end),
            cooling_off=cooling_off.monthly(s, start, end),
            deposits=deposits.monthly(s, start, end),
            diligence=diligence_metrics.monthly(s, start, end),
            travel_rule=travel_rule_figures.month_figures(s, f"{start.year:04d}-{start.month:02d}"),
            fund_series=_fund_series(s, start, end),
        )


def _travel_rule_activity(t: TravelRuleFigures) -> bool:
    return bool(t.messages_sent or t.messages_received or t.deposits_held or t.deposits_released
                or t.deposits_returned)  # fmt: skip


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
    # Where the exchange publishes its rounds (e.g. https://exchange.example): the "how to verify" URLs.
    public_url: str | None = None
    # The Ed25519 public key (hex) the report is signed with, printed in it so a reader knows what to check.
    signer_public_key: str | None = None
    # The user protection fund, both funds' disclosures and beginner protection (bastion.report.protection).
    protection: ProtectionSection | None = None
    # The account security center: freezes, devices removed, alerts, checklist adoption.
    account_security: AccountSecurityMonth | None = None

    @property
    def prices(self) -> dict[str, Decimal]:
        """The round's USD prices per asset (empty without a round)."""
        return {x.asset: x.price_usd for x in self.fund.report.lines} if self.fund else {}

    def fund_usd(self) -> tuple[Decimal | None, dict[str, Decimal], list[str]]:
        """The risk provision fund in USD at the round's prices: (total, per currency, currencies without a price).
        Total None when no currency could be priced."""
        prices = self.prices
        per: dict[str, Decimal] = {}
        missing: list[str] = []
        for ccy, bal in sorted(self.current.funds.balance_by_ccy.items()):
            if ccy in prices:
                per[ccy] = bal * prices[ccy]
            else:
                missing.append(ccy)
        total = sum(per.values(), Decimal(0)) if per else None
        return total, per, missing

    def files_url(self) -> str | None:
        """Where the round's public files are served (`bastion serve`: /por/rounds/ID/files/NAME)."""
        if not self.public_url or self.fund is None:
            return None
        return f"{self.public_url.rstrip('/')}/por/rounds/{self.fund.report.round_id}/files"

    def daily_interceptions(self) -> list[tuple[date, int]]:
        days = (self.current.end - self.current.start).days
        got = self.current.risk.daily_interceptions
        first = self.current.start.date()
        return [(first + timedelta(days=d), got.get(first + timedelta(days=d), 0)) for d in range(days)]


def _taken_before(snapshot_time: str, end: datetime) -> bool:
    try:
        t = datetime.fromisoformat(snapshot_time.replace("Z", "+00:00"))
    except ValueError:
        return False
    if t.tzinfo is None:
        t = t.replace(tzinfo=end.tzinfo)
    return t < end


def pick_round(rounds_dir: Path, month: str, round_dir: Path | None = None) -> tuple[Path, Path | None, int, str]:
    """From a rounds history: the month's round (`round_dir` if given, else the round whose id is the month,
    else the newest round taken before the month's end), the round before it, its number and publication."""
    from bastion.por.history import RoundHistoryError, load_history

    try:
        history = load_history(rounds_dir)
    except RoundHistoryError as exc:
        raise ReportInputError(str(exc)) from None
    _, end = month_bounds(month)
    entry = None
    if round_dir is not None:
        entry = next((r for r in history.rounds if r.path.resolve() == round_dir.resolve()), None)
        if entry is None:
            raise ReportInputError(f"--round {round_dir} is not one of the rounds in {rounds_dir}")
    if entry is None:
        entry = history.get(month)
    if entry is None:
        before = [r for r in history.rounds if _taken_before(r.snapshot_time, end)]
        entry = before[-1] if before else None
    if entry is None:
        raise ReportInputError(f"{rounds_dir}: no round taken before the end of {month}")
    prev = entry.previous.path if entry.previous is not None else None
    return entry.path, prev, entry.number, entry.publication


def gather(
    factory: sessionmaker[Session],
    month: str,
    round_dir: Path | None = None,
    reserves: Path | None = None,
    now: datetime | None = None,
    *,
    rounds_dir: Path | None = None,
    previous_round: Path | None = None,
    public_url: str | None = None,
    signer_public_key: str | None = None,
) -> MonthlyReport:
    """Every figure of the month. The round: `round_dir`, or picked from `rounds_dir` (then numbered, and
    compared with the round before it); `previous_round` compares with that round instead."""
    from bastion.risk.clock import now_utc

    start, end = month_bounds(month)
    current = db_figures(factory, start, end)
    prev_month = previous_month(month)
    p_start, p_end = month_bounds(prev_month)
    previous = db_figures(factory, p_start, p_end)
    number: tuple[int, str] | None = None
    if rounds_dir is not None:
        round_dir, before, n, words = pick_round(rounds_dir, month, round_dir)
        number = (n, words)
        previous_round = previous_round or before
    fund = load_fund_security(round_dir, reserves, previous_round, number) if round_dir is not None else None
    from bastion.report import account_security, protection

    with factory() as s:
        section = protection.gather(s, start, end)
        account_section = account_security.gather(s, start, end)
    return MonthlyReport(
        month=month,
        exchange=fund.report.exchange if fund else "",
        generated_at=now or now_utc(),
        current=current,
        previous=None if previous.empty else previous,
        previous_month=prev_month,
        fund=fund,
        public_url=public_url,
        signer_public_key=signer_public_key,
        protection=section,
        account_security=account_section,
    )


def _opt(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _travel_rule_figures(t: TravelRuleFigures | None) -> dict[str, Any]:
    if t is None:
        return {}
    return {
        "travel_rule_messages_sent": t.messages_sent,
        "travel_rule_messages_received": t.messages_received,
        "travel_rule_deposits_held": t.deposits_held,
        "travel_rule_deposits_released": t.deposits_released,
        "travel_rule_released_by": t.released_by,
        "travel_rule_deposits_returned": t.deposits_returned,
        "travel_rule_median_hours_to_release": t.median_hours_to_release,
    }


def _diligence_figures(d: DiligenceMonth | None) -> dict[str, Any]:
    if d is None:
        return {}
    return {
        "due_diligence_opened": d.opened,
        "due_diligence_opened_by_reason": d.opened_by_reason,
        "due_diligence_answered": d.answered,
        "due_diligence_approved": d.approved,
        "due_diligence_rejected": d.rejected,
        "due_diligence_overdue": d.overdue,
    }


def _db_figures(f: DbFigures) -> dict[str, Any]:
    """One month's figures from the database (this month's, or the previous one's for comparison)."""
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
        "api_keys_fast_api_created": f.keys.created_fast_api,
        "api_keys_bound_to_apps": f.keys.bound_to_apps,
        "api_keys_bound_to_apps_at_end": f.keys.live_bound_to_apps_at_end,
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
        "mistaken_deposits_manual_usd": str(f.deposits.manual_value_usd),
        "mistaken_deposits_automatic": f.deposits.automatic_returned,
        "mistaken_deposits_automatic_usd": str(f.deposits.automatic_value_usd),
        "mistaken_deposits_unrecoverable": f.deposits.unrecoverable,
        **_diligence_figures(f.diligence),
        **_travel_rule_figures(f.travel_rule),
    }


def _fund_security_json(r: MonthlyReport) -> dict[str, Any] | None:
    """The insurance fund's proof-of-reserves round, as the report shows it (None without one)."""
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
            "round_number": r.fund.round_number,
            "publication": r.fund.publication,
            "issuer": r.fund.issuer,
            "nonce": r.fund.nonce,
            "block_heights": r.fund.block_heights,
            "round_sha256": r.fund.round_sha256,
            "prices_usd": {k: str(v) for k, v in r.prices.items()},
            "security_bits": r.fund.security_bits,
            "files": [
                {"name": x.name, "kind": x.kind, "size": x.size, "sha256": x.sha256, "matches_round_json": x.matches}
                for x in r.fund.files
            ],
            "wallets": [
                {
                    "chain": w.chain,
                    "asset": w.asset,
                    "address": w.address,
                    "balance": str(w.balance),
                    "verified": w.verified,
                }
                for w in r.fund.wallets
            ],
            "wallet_set_sha256": r.fund.wallet_set_sha256,
            "previous_round_id": rep.previous_round_id,
            "user_assets_usd": str(rep.totals["liabilities_usd"]),
            "wallet_assets_usd": str(rep.totals["reserves_usd"]),
            "user_assets_usd_change": _opt(rep.totals.get("liabilities_usd_change")),
            "wallet_assets_usd_change": _opt(rep.totals.get("reserves_usd_change")),
            "files_url": r.files_url(),
        }
        for a, x in zip(fund["assets"], rep.lines, strict=True):
            a["price_usd"] = str(x.price_usd)
            a["user_assets_change"] = _opt(x.liabilities_change)
            a["wallet_assets_change"] = _opt(x.reserves_change)
    return fund


def figures_json(r: MonthlyReport) -> dict[str, Any]:
    """The report's figures, machine-readable (report.json beside report.html)."""
    fund = _fund_security_json(r)
    total_usd, per_usd, unpriced = r.fund_usd()
    return {
        "format": "bastion-monthly-report/1",
        "month": r.month,
        "exchange": r.exchange,
        "generated_at": r.generated_at.isoformat(),
        "fund_security": fund,
        "figures": _db_figures(r.current),
        "fund_balance_usd": _opt(total_usd),
        "fund_balance_usd_by_ccy": {k: str(v) for k, v in per_usd.items()},
        "fund_balance_unpriced": unpriced,
        "signer_public_key": r.signer_public_key,
        "previous_month": r.previous_month,
        "previous": None if r.previous is None else _db_figures(r.previous),
        **({} if r.protection is None else protection_json(r.protection)),
        **({} if r.account_security is None else account_security_json(r.account_security)),
    }
