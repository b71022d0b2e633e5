"""The report's section on the user protection fund, both funds' disclosures and beginner protection.

`gather` reads the month's figures from the domains (the fund's ledger and recorded rounds, the
disclosures, incidents, the beginner-protection measurement); `to_json` gives them to report.json;
`render` lays the section out (Jinja2, autoescaped) as one HTML fragment with inline SVG charts, which the
monthly page places among its sections.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.protection import beginner_metrics
from bastion.protection.beginner_metrics import BeginnerMonth
from bastion.protection_fund import disclosures, incidents, ledger, wallets
from bastion.protection_fund.disclosures import Disclosure
from bastion.protection_fund.incidents import IncidentMonth
from bastion.protection_fund.models import PfundEntry, PfundWalletRound


@dataclass
class ProtectionSection:
    start: datetime
    end: datetime
    balances_end: dict[str, Decimal]  # the fund's ledger at the month's end
    prices: dict[str, Decimal]  # of the latest round recorded by the month's end
    total_usd: Decimal | None  # balances_end at those prices; None without a round
    round: PfundWalletRound | None
    daily_usd: list[tuple[date, Decimal]]  # closing USD value per day with bookings (at the same prices)
    disclosures: list[Disclosure]
    incidents: IncidentMonth
    beginners: BeginnerMonth
    rounds: list[PfundWalletRound] = field(default_factory=list)

    @property
    def wallets_verified(self) -> tuple[int, int]:
        ws = self.round.wallets if self.round else []
        return sum(1 for w in ws if w["verified"]), len(ws)


def _round_by(session: Session, end: datetime) -> PfundWalletRound | None:
    return session.scalars(
        select(PfundWalletRound)
        .where(PfundWalletRound.snapshot_time <= end)
        .order_by(PfundWalletRound.snapshot_time.desc())
        .limit(1)
    ).first()


def gather(session: Session, start: datetime, end: datetime) -> ProtectionSection:
    record = _round_by(session, end)
    prices = {} if record is None else {k: Decimal(v) for k, v in record.prices.items()}
    balances_end = ledger.balances(session, end - timedelta(microseconds=1))
    daily: list[tuple[date, Decimal]] = []
    if prices:
        current = ledger.balances(session, start - timedelta(microseconds=1))
        days: dict[date, Decimal] = {}
        for e in session.scalars(
            select(PfundEntry).where(PfundEntry.ts >= start, PfundEntry.ts < end).order_by(PfundEntry.ts, PfundEntry.id)
        ):
            current[e.ccy] = e.balance
            days[e.ts.date()] = wallets.usd(current, prices)
        daily = sorted(days.items())
    return ProtectionSection(
        start=start,
        end=end,
        balances_end=balances_end,
        prices=prices,
        total_usd=wallets.usd(balances_end, prices) if record is not None else None,
        round=record,
        daily_usd=daily,
        disclosures=disclosures.all_disclosures(session, start, end, prices),
        incidents=incidents.monthly(session, start, end),
        beginners=beginner_metrics.monthly(session, start, end),
        rounds=[r for r in wallets.rounds(session) if r.snapshot_time <= end],
    )


def _s(v: Decimal | None) -> str | None:
    return None if v is None else (format(v.normalize(), "f") if v else "0")


def to_json(p: ProtectionSection) -> dict[str, Any]:
    b = p.beginners
    return {
        "protection_fund": {
            "balances": {c: _s(v) for c, v in p.balances_end.items()},
            "total_usd": _s(p.total_usd),
            "round_id": p.round.round_id if p.round else None,
            "wallets_verified": p.wallets_verified[0],
            "wallets": p.wallets_verified[1],
            "wallets_usd": _s(p.round.wallets_usd) if p.round else None,
            "history": [{"round_id": r.round_id, "ledger_usd": _s(r.ledger_usd)} for r in p.rounds],
            "incidents": p.incidents.opened,
            "users_paid": p.incidents.users_paid,
            "payouts_by_ccy": {c: _s(v) for c, v in p.incidents.paid_by_ccy.items()},
        },
        "disclosures": [
            {
                "fund": d.fund.value,
                "version": d.version,
                "funding_sources": [
                    {"source": s.name, "by_ccy": {c: _s(a) for c, a in s.by_ccy.items()}, "share": _s(s.share)}
                    for s in d.sources
                ],
                "usage": {
                    k: (_s(v) if isinstance(v, Decimal) else v) for k, v in d.usage.items() if not isinstance(v, dict)
                },
                "disclaimers": d.words.disclaimers,
            }
            for d in p.disclosures
        ],
        "beginner_protection": {
            "activations": b.activations,
            "refusals_by_rule": b.refusals_by_rule,
            "users_refused": b.users_refused,
            "questionnaire_passed": b.questionnaire_passed,
            "questionnaire_failed": b.questionnaire_failed,
            "early_days": b.early_days,
            "cohorts": [c.as_json() for c in b.cohorts],
        },
    }


# ------------------------------------------------------------------------------------------------- charts
FONT = "font-family='Helvetica, Arial, sans-serif'"


def _no_data(title: str, message: str) -> str:
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 640 120' width='100%' role='img' class='chart no-data'>"
        f"<title>{html.escape(title)}</title><rect x='1' y='1' width='638' height='118' fill='#f6f6f6' stroke='#bbb'/>"
        f"<text x='320' y='64' text-anchor='middle' {FONT} font-size='14' fill='#555'>"
        f"{html.escape(message)}</text></svg>"
    )


def cohort_chart(m: BeginnerMonth) -> str:
    """Grouped bars: share of each week's new traders with an early margin call, protected (solid) beside
    unprotected (hatched), with the counts written under each bar so the chart reads on paper."""
    title = f"New traders with a margin call in their first {m.early_days} days, by week of first trade"
    weeks = sorted({c.week for c in m.cohorts})
    if not weeks:
        return _no_data(title, "No new derivatives traders this month")
    cells = {(c.week, c.protected): c for c in m.cohorts}
    width, left, top, plot_h = 640, 48, 30, 170
    group = (width - left - 16) / len(weeks)
    bar = min(40.0, group / 2.6)
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} 290' width='100%' role='img' class='chart'>",
        f"<title>{html.escape(title)}</title>",
        "<defs><pattern id='hatch' width='6' height='6' patternUnits='userSpaceOnUse' patternTransform='rotate(45)'>"
        "<line x1='0' y1='0' x2='0' y2='6' stroke='#c0392b' stroke-width='3'/></pattern></defs>",
        f"<text x='{left}' y='18' {FONT} font-size='12' font-weight='bold'>{html.escape(title)}</text>",
    ]
    for pct in (0, 25, 50, 75, 100):
        y = top + plot_h - plot_h * pct / 100
        parts.append(f"<line x1='{left}' x2='{width - 16}' y1='{y:.1f}' y2='{y:.1f}' stroke='#ddd'/>")
        parts.append(f"<text x='{left - 6}' y='{y + 4:.1f}' text-anchor='end' {FONT} font-size='10'>{pct}%</text>")
    for i, w in enumerate(weeks):
        gx = left + i * group + (group - 2 * bar - 6) / 2
        for j, protected in enumerate((True, False)):
            c = cells.get((w, protected))
            x = gx + j * (bar + 6)
            if c is None or not c.traders:
                parts.append(
                    f"<text x='{x + bar / 2:.1f}' y='{top + plot_h - 4}' text-anchor='middle' {FONT} "
                    "font-size='9'>-</text>"
                )
                continue
            rate = c.with_margin_call / c.traders
            h = plot_h * rate
            fill = "#1f4e8c" if protected else "url(#hatch)"
            parts.append(
                f"<rect x='{x:.1f}' y='{top + plot_h - h:.1f}' width='{bar:.1f}' height='{h:.1f}' fill='{fill}' "
                f"stroke='{'#1f4e8c' if protected else '#c0392b'}'/>"
            )
            parts.append(
                f"<text x='{x + bar / 2:.1f}' y='{top + plot_h - h - 3:.1f}' text-anchor='middle' {FONT} "
                f"font-size='9'>{c.with_margin_call}/{c.traders}</text>"
            )
        parts.append(
            f"<text x='{left + i * group + group / 2:.1f}' y='{top + plot_h + 16}' text-anchor='middle' {FONT} "
            f"font-size='10'>week of {w.isoformat()}</text>"
        )
    ly = top + plot_h + 40
    parts.append(f"<rect x='{left}' y='{ly}' width='14' height='10' fill='#1f4e8c'/>")
    parts.append(f"<text x='{left + 20}' y='{ly + 9}' {FONT} font-size='10'>with beginner protection</text>")
    parts.append(f"<rect x='{left + 200}' y='{ly}' width='14' height='10' fill='url(#hatch)' stroke='#c0392b'/>")
    parts.append(
        f"<text x='{left + 220}' y='{ly + 9}' {FONT} font-size='10'>without (label: with a call / traders)</text>"
    )
    parts.append("</svg>")
    return "".join(parts)


def fund_chart(p: ProtectionSection) -> str:
    title = "User protection fund, USD at the round's prices, closing value of each day with a booking"
    if not p.daily_usd:
        return _no_data(title, "No fund bookings this month, or no round recorded for its prices")
    from bastion.report import charts

    start = p.start
    points = [(start, p.daily_usd[0][1])] + [
        (datetime(d.year, d.month, d.day, 23, tzinfo=start.tzinfo), v) for d, v in p.daily_usd
    ]
    return charts.balance_lines(title, [("Fund (USD)", points)], p.start, p.end)


# ------------------------------------------------------------------------------------------------- render
def _usd(v: Decimal | None) -> str:
    return "n/a" if v is None else f"${v.quantize(Decimal('0.01'), rounding=ROUND_HALF_EVEN):,}"


def _amount(v: Decimal) -> str:
    text = f"{v.quantize(Decimal('0.00000001'), rounding=ROUND_HALF_EVEN):,f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _pct(v: Decimal | float | None) -> str:
    return "n/a" if v is None else f"{float(v) * 100:.1f}%"


_env: Any = None


def _environment() -> Any:
    global _env
    if _env is None:
        from bastion.report.templating import new_environment

        _env = new_environment({"usd": _usd, "amount": _amount, "pct": _pct})
    return _env


def render(p: ProtectionSection, number: str = "") -> str:
    """The section as an HTML fragment (`<section id="protection">...`)."""
    from markupsafe import Markup

    return str(
        _environment()
        .get_template("protection_section.html.j2")
        .render(
            p=p,
            number=number,
            fund_chart=Markup(fund_chart(p)),
            cohort_chart=Markup(cohort_chart(p.beginners)),
            verified=p.wallets_verified,
            protected=p.beginners.totals(True),
            unprotected=p.beginners.totals(False),
        )
    )
