"""The reserve report: per asset, users' assets (liabilities) next to the wallets' (reserves).

`bastion por reserves verify` writes `ROUND_DIR/reserves.json` (format `bastion-reserves/1`): the challenge,
the wallet set's digest, every verified wallet, every failed row and the reserves per asset. The report
reads it with round.json, and optionally a previous round's pair, and gives per asset the liabilities,
reserves, ratio, difference and the change since the previous round, then the totals in USD and an
overall status. Renders as a Rich table, JSON and a standalone HTML page.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

from bastion.por.format.amounts import fmt_amount, parse_amount
from bastion.por.reserves.errors import ReservesInputError
from bastion.por.reserves.round_view import Round, load_round
from bastion.por.reserves.verify import Failure, Verification, Wallet

RESERVES_FORMAT = "bastion-reserves/1"
RESERVES_FILE = "reserves.json"


# ------------------------------------------------------------------------------------- reserves.json
def wallet_record(w: Wallet) -> dict[str, Any]:
    """A verified (or excluded) wallet as reserves.json and the protection fund's wallet rounds list it."""
    return {
        "chain": w.chain,
        "asset": w.asset,
        "address": w.address,
        "balance": fmt_amount(w.balance),
        "kind": w.kind,
        "scheme": w.scheme,
    }


def failure_record(f: Failure) -> dict[str, Any]:
    return {"row": f.row, "chain": f.chain, "asset": f.asset, "address": f.address, "reason": f.reason}


def reserves_record(v: Verification, public_files: list[dict[str, str]] | None = None) -> dict[str, Any]:
    by_asset: dict[str, dict[str, Any]] = {}
    for asset in v.round.assets:
        verified = [w for w in v.wallets if w.asset == asset and w.verified]
        excluded = [w for w in v.wallets if w.asset == asset and not w.verified]
        by_asset[asset] = {
            "reserves": fmt_amount(v.reserves.get(asset, Decimal(0))),
            "wallets": len(verified),
            "excluded_wallets": len(excluded),
            "excluded_balance": fmt_amount(sum((w.balance for w in excluded), Decimal(0))),
        }
    return {
        "format": RESERVES_FORMAT,
        "exchange": v.round.exchange,
        "round_id": v.round.round_id,
        "challenge": v.challenge,
        "wallet_set": (
            {"file": v.wallet_set.file, "sha256": v.wallet_set.sha256, "rows": len(v.wallet_set.rows)}
            if v.wallet_set
            else None
        ),
        "balance_source": v.balance_source,
        # the signed wallet set and the price table published beside this file, with their SHA-256
        "public_files": list(public_files or []),
        "status": "verified" if v.ok else "failed",
        "assets": by_asset,
        "failures": [failure_record(f) for f in v.failures],
        "wallets": [
            {**wallet_record(w), "rows": w.rows, "snapshot_height": w.snapshot_height, "verified": w.verified}
            for w in v.wallets
        ],
    }


def write_reserves(v: Verification, path: Path, public_files: list[dict[str, str]] | None = None) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(reserves_record(v, public_files), indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)  # never a half-written reserves.json


@dataclass(frozen=True, slots=True)
class RoundReserves:
    round: Round
    reserves: dict[str, Decimal]
    failures: list[dict[str, Any]]
    wallets_verified: int


def round_reserves_of(v: Verification) -> RoundReserves:
    record = reserves_record(v)
    return RoundReserves(v.round, dict(v.reserves), record["failures"], sum(w.verified for w in v.wallets))


def load_round_reserves(round_dir: Path) -> RoundReserves:
    rnd = load_round(round_dir)
    path = round_dir / RESERVES_FILE
    name = str(path)
    if not path.exists():
        raise ReservesInputError(
            name, [(None, RESERVES_FILE, "not found: run `bastion por reserves verify WALLETS --round DIR` first")]
        )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ReservesInputError(name, [(None, RESERVES_FILE, f"not readable JSON: {exc}")]) from None
    if not isinstance(raw, dict) or raw.get("format") != RESERVES_FORMAT:
        raise ReservesInputError(name, [(None, "format", f"expected {RESERVES_FORMAT!r}")])
    if raw.get("round_id") != rnd.round_id:
        raise ReservesInputError(
            name, [(None, "round_id", f"{raw.get('round_id')!r} does not match round.json's {rnd.round_id!r}")]
        )
    reserves: dict[str, Decimal] = {}
    for asset, entry in (raw.get("assets") or {}).items():
        try:
            reserves[asset] = parse_amount(str(entry["reserves"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ReservesInputError(name, [(None, f"assets.{asset}.reserves", str(exc))]) from None
    wallets = sum(1 for w in raw.get("wallets", []) if w.get("verified"))
    return RoundReserves(rnd, reserves, list(raw.get("failures", [])), wallets)


# ------------------------------------------------------------------------------------- the report
@dataclass(frozen=True, slots=True)
class AssetLine:
    asset: str
    price_usd: Decimal
    liabilities: Decimal
    reserves: Decimal
    ratio: Decimal | None  # None when there are no liabilities
    difference: Decimal
    previous_liabilities: Decimal | None
    previous_reserves: Decimal | None
    previous_ratio: Decimal | None

    @property
    def under(self) -> bool:
        return self.reserves < self.liabilities

    @property
    def liabilities_change(self) -> Decimal | None:
        return None if self.previous_liabilities is None else self.liabilities - self.previous_liabilities

    @property
    def reserves_change(self) -> Decimal | None:
        return None if self.previous_reserves is None else self.reserves - self.previous_reserves


@dataclass(slots=True)
class ReserveReport:
    exchange: str
    round_id: str
    snapshot_time: str
    previous_round_id: str | None
    lines: list[AssetLine]
    failures: list[dict[str, Any]]
    wallets_verified: int
    totals: dict[str, Decimal | None] = field(default_factory=dict)

    @property
    def under_assets(self) -> list[str]:
        return [line.asset for line in self.lines if line.under]

    @property
    def ok(self) -> bool:
        return not self.under_assets and not self.failures

    @property
    def status(self) -> str:
        problems = []
        if self.under_assets:
            problems.append("under 100%: " + ", ".join(self.under_assets))
        if self.failures:
            problems.append(f"{len(self.failures)} wallet row(s) failed verification")
        return "FULLY RESERVED" if not problems else "NOT FULLY RESERVED (" + "; ".join(problems) + ")"


def _ratio(reserves: Decimal, liabilities: Decimal) -> Decimal | None:
    return None if liabilities == 0 else reserves / liabilities


def build_report(current: RoundReserves, previous: RoundReserves | None = None) -> ReserveReport:
    rnd = current.round
    lines: list[AssetLine] = []
    for name, asset in rnd.assets.items():
        reserves = current.reserves.get(name, Decimal(0))
        prev_l = prev_r = prev_ratio = None
        if previous is not None and name in previous.round.assets:
            prev_l = previous.round.assets[name].net_liabilities
            prev_r = previous.reserves.get(name, Decimal(0))
            prev_ratio = _ratio(prev_r, prev_l)
        lines.append(
            AssetLine(
                name,
                asset.price_usd,
                asset.net_liabilities,
                reserves,
                _ratio(reserves, asset.net_liabilities),
                reserves - asset.net_liabilities,
                prev_l,
                prev_r,
                prev_ratio,
            )
        )
    liabilities_usd = sum((x.liabilities * x.price_usd for x in lines), Decimal(0))
    reserves_usd = sum((x.reserves * x.price_usd for x in lines), Decimal(0))
    totals: dict[str, Decimal | None] = {
        "liabilities_usd": liabilities_usd,
        "reserves_usd": reserves_usd,
        "ratio": _ratio(reserves_usd, liabilities_usd),
        "liabilities_usd_change": None,
        "reserves_usd_change": None,
    }
    if previous is not None:
        # Each round at its own prices: this is the change in what users hold in USD, as the reports say it.
        prev_assets = previous.round.assets
        prev_l_usd = sum((a.net_liabilities * a.price_usd for a in prev_assets.values()), Decimal(0))
        prev_r_usd = sum(
            (previous.reserves.get(n, Decimal(0)) * a.price_usd for n, a in prev_assets.items()), Decimal(0)
        )
        totals["liabilities_usd_change"] = liabilities_usd - prev_l_usd
        totals["reserves_usd_change"] = reserves_usd - prev_r_usd
    return ReserveReport(
        rnd.exchange,
        rnd.round_id,
        rnd.snapshot_time,
        previous.round.round_id if previous else None,
        lines,
        current.failures,
        current.wallets_verified,
        totals,
    )


# ------------------------------------------------------------------------------------- rendering
def pct(ratio: Decimal | None) -> str:
    if ratio is None:
        return "n/a"
    return f"{(ratio * 100).quantize(Decimal('0.01'), rounding=ROUND_HALF_EVEN)}%"


def _num(value: Decimal | None, places: int = 8) -> str:
    if value is None:
        return "-"
    q = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN) if places >= 0 else value
    text = f"{q:,f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _signed(value: Decimal | None, places: int = 8) -> str:
    if value is None:
        return "-"
    return ("+" if value > 0 else "") + _num(value, places)


def _usd(value: Decimal | None) -> str:
    if value is None:
        return "-"
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value).quantize(Decimal(1), rounding=ROUND_HALF_EVEN):,f}"


def _signed_usd(value: Decimal | None) -> str:
    if value is None:
        return "-"
    return ("+" if value > 0 else "") + _usd(value)


def plain_amount(value: Decimal | None) -> str | None:
    """A figure as the JSON files and pages carry it: a plain decimal without trailing zeros, None kept."""
    return None if value is None else fmt_amount(value)


def report_json(report: ReserveReport) -> dict[str, Any]:
    return {
        "format": "bastion-reserve-report/1",
        "exchange": report.exchange,
        "round_id": report.round_id,
        "snapshot_time": report.snapshot_time,
        "previous_round_id": report.previous_round_id,
        "status": "ok" if report.ok else "not_fully_reserved",
        "summary": report.status,
        "under_assets": report.under_assets,
        "assets": [
            {
                "asset": x.asset,
                "price_usd": plain_amount(x.price_usd),
                "liabilities": plain_amount(x.liabilities),
                "reserves": plain_amount(x.reserves),
                "ratio": plain_amount(x.ratio),
                "ratio_percent": pct(x.ratio),
                "difference": plain_amount(x.difference),
                "liabilities_change": plain_amount(x.liabilities_change),
                "reserves_change": plain_amount(x.reserves_change),
                "previous_ratio": plain_amount(x.previous_ratio),
                "status": "under" if x.under else "ok",
            }
            for x in report.lines
        ],
        "totals": {k: plain_amount(v) for k, v in report.totals.items()},
        "wallets_verified": report.wallets_verified,
        "failures": report.failures,
    }


def report_html(report: ReserveReport) -> str:
    e = html.escape
    prev = report.previous_round_id
    head = ["Asset", "User assets", "Wallet assets", "Reserve ratio", "Difference"]
    if prev:
        head += [f"Change in user assets since {prev}", "Change in wallet assets"]
    rows = []
    for x in report.lines:
        cells = [x.asset, _num(x.liabilities), _num(x.reserves), pct(x.ratio), _signed(x.difference)]
        if prev:
            cells += [_signed(x.liabilities_change), _signed(x.reserves_change)]
        cls = ' class="under"' if x.under else ""
        rows.append(f"<tr{cls}>" + "".join(f"<td>{e(c)}</td>" for c in cells) + "</tr>")
    t = report.totals
    total = ["Total (USD)", _usd(t["liabilities_usd"]), _usd(t["reserves_usd"]), pct(t["ratio"]), ""]
    if prev:
        total += [_signed_usd(t["liabilities_usd_change"]), _signed_usd(t["reserves_usd_change"])]
    rows.append('<tr class="total">' + "".join(f"<td>{e(c)}</td>" for c in total) + "</tr>")
    change = ""
    if prev and t["liabilities_usd_change"] is not None:
        delta = t["liabilities_usd_change"]
        word = "increased" if delta >= 0 else "decreased"
        change = f"<p>Total user assets {word} by about {e(_usd(abs(delta)))} since the {e(prev)} report.</p>"
    failures = ""
    if report.failures:
        items = "".join(
            f"<li>row {e(str(f['row']))}: {e(f['chain'])} {e(f['asset'])} {e(f['address'])} - {e(f['reason'])}</li>"
            for f in report.failures
        )
        failures = f"<h2>Wallet proofs that failed</h2><ul>{items}</ul>"
    status_cls = "ok" if report.ok else "bad"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{e(report.exchange)} - proof of reserves {e(report.round_id)}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2rem;color:#1a1a1a}}
table{{border-collapse:collapse;min-width:60%}}
th,td{{padding:.45rem .9rem;border-bottom:1px solid #ddd;text-align:right}}
th:first-child,td:first-child{{text-align:left}}
th{{background:#f4f4f4}} tr.under td{{color:#b00020;font-weight:600}}
tr.total td{{font-weight:700;border-top:2px solid #333}}
.ok{{color:#0a7a33}} .bad{{color:#b00020}}
</style></head><body>
<h1>{e(report.exchange)}: proof of reserves</h1>
<p>Round {e(report.round_id)}, snapshot {e(report.snapshot_time)}. Reserve ratio = wallet assets / user assets;
wallets count only when their ownership signature over this round's challenge verified
({report.wallets_verified} wallets).</p>
<p class="{status_cls}"><strong>{e(report.status)}</strong></p>
{change}
<table><thead><tr>{"".join(f"<th>{e(h)}</th>" for h in head)}</tr></thead>
<tbody>{"".join(rows)}</tbody></table>
{failures}
</body></html>
"""
