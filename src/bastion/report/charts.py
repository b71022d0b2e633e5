"""Inline SVG charts for the report: no JavaScript, no plotting library, readable on paper.

Each chart is a standalone `<svg>` with a `<title>`, axis labels in text (so they print and can be found
by text search), patterns that stay distinct in grayscale (dashes as well as colours), and an explicit
"no data" panel when there is nothing to draw.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

FONT = "font-family='Helvetica, Arial, sans-serif'"
COLOURS = ("#1f4e8c", "#c0392b", "#2e8b57", "#8e44ad", "#d35400", "#555555")
DASHES = ("", "6 3", "2 2", "8 3 2 3", "1 3", "4 4")


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _no_data(title: str, width: int, height: int, message: str) -> str:
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}' width='100%' role='img' "
        f"class='chart no-data'><title>{_esc(title)}</title>"
        f"<rect x='1' y='1' width='{width - 2}' height='{height - 2}' fill='#f6f6f6' stroke='#bbb'/>"
        f"<text x='{width / 2}' y='{height / 2}' text-anchor='middle' {FONT} font-size='14' fill='#555'>"
        f"{_esc(message)}</text></svg>"
    )


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step) * step
    ticks = []
    t = first
    while t <= hi + step * 0.001:
        ticks.append(round(t, 10))
        t += step
    return ticks


def _short(value: float) -> str:
    a = abs(value)
    if a >= 1e9:
        return f"{value / 1e9:.1f}B"
    if a >= 1e6:
        return f"{value / 1e6:.2f}M"
    if a >= 1e3:
        return f"{value / 1e3:.0f}k"
    return f"{value:g}"


def reserve_ratio_bars(title: str, items: Sequence[tuple[str, Decimal | None]]) -> str:
    """Horizontal bars, one per asset, with the 100% line marked; assets under 100% are drawn hatched."""
    if not items:
        return _no_data(title, 640, 120, "No proof-of-reserves round for this month")
    row, left, right, top = 20, 70, 90, 34
    width = 640
    plot_w = width - left - right
    height = top + row * len(items) + 30
    ratios = [float(r) for _, r in items if r is not None]
    lo = min(95.0, math.floor(min(ratios, default=100.0) * 100 - 1))
    hi = max(110.0, math.ceil(max(ratios, default=1.0) * 100 + 1))

    def x(pct: float) -> float:
        return left + (min(max(pct, lo), hi) - lo) / (hi - lo) * plot_w

    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}' width='100%' role='img' "
        f"class='chart'><title>{_esc(title)}</title>",
        "<defs><pattern id='hatch' width='6' height='6' patternUnits='userSpaceOnUse' "
        "patternTransform='rotate(45)'><rect width='6' height='6' fill='#f3c6c0'/>"
        "<line x1='0' y1='0' x2='0' y2='6' stroke='#c0392b' stroke-width='3'/></pattern></defs>",
        f"<text x='{left}' y='16' {FONT} font-size='12' fill='#333'>Reserve ratio (wallet assets / user assets), "
        f"axis from {lo:g}% to {hi:g}%</text>",
    ]
    for t in _nice_ticks(lo, hi, 6):
        if lo <= t <= hi:
            out.append(
                f"<line x1='{x(t):.1f}' y1='{top - 4}' x2='{x(t):.1f}' y2='{height - 24}' stroke='#e3e3e3'/>"
                f"<text x='{x(t):.1f}' y='{height - 10}' text-anchor='middle' {FONT} font-size='10' "
                f"fill='#555'>{t:g}%</text>"
            )
    for i, (asset, ratio) in enumerate(items):
        y = top + i * row
        out.append(
            f"<text x='{left - 6}' y='{y + 13}' text-anchor='end' {FONT} font-size='11'>{_esc(asset)}</text>"
        )
        if ratio is None:
            out.append(f"<text x='{left + 4}' y='{y + 13}' {FONT} font-size='11' fill='#777'>no liabilities</text>")
            continue
        pct = float(ratio) * 100
        fill = "url(#hatch)" if ratio < 1 else COLOURS[0]
        out.append(
            f"<rect x='{left}' y='{y + 3}' width='{max(x(pct) - left, 1):.1f}' height='{row - 6}' fill='{fill}' "
            f"stroke='#333' stroke-width='0.5'/>"
            f"<text x='{x(pct) + 4:.1f}' y='{y + 13}' {FONT} font-size='10'>{pct:.2f}%</text>"
        )
    out.append(
        f"<line x1='{x(100):.1f}' y1='{top - 6}' x2='{x(100):.1f}' y2='{height - 24}' stroke='#000' "
        f"stroke-width='1.5' stroke-dasharray='4 2'/>"
        f"<text x='{x(100):.1f}' y='{top - 8}' text-anchor='middle' {FONT} font-size='10'>100%</text></svg>"
    )
    return "".join(out)


def balance_lines(
    title: str, series: Sequence[tuple[str, Sequence[tuple[datetime, Decimal]]]], start: datetime, end: datetime
) -> str:
    """Step lines of each pool's balance through the month (balance after the last booking of each hour)."""
    series = [(n, pts) for n, pts in series if pts]
    if not series or all(len(p) < 2 and not p[0][1] for _, p in series):
        return _no_data(title, 640, 140, "No insurance-fund bookings this month")
    width, left, right, top, bottom = 640, 64, 16, 30, 56 + 14 * len(series)
    height = 240 + 14 * len(series)
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [float(v) for _, pts in series for _, v in pts]
    lo, hi = 0.0, max(values) * 1.05 or 1.0
    span = (end - start).total_seconds()

    def x(t: datetime) -> float:
        return left + (t - start).total_seconds() / span * plot_w

    def y(v: float) -> float:
        return top + plot_h - (v - lo) / (hi - lo) * plot_h

    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}' width='100%' role='img' "
        f"class='chart'><title>{_esc(title)}</title>",
        f"<text x='{left}' y='16' {FONT} font-size='12' fill='#333'>Balance per pool (settlement currency)</text>",
    ]
    for t in _nice_ticks(lo, hi, 5):
        if t <= hi:
            out.append(
                f"<line x1='{left}' y1='{y(t):.1f}' x2='{width - right}' y2='{y(t):.1f}' stroke='#e3e3e3'/>"
                f"<text x='{left - 4}' y='{y(t) + 3:.1f}' text-anchor='end' {FONT} font-size='10' "
                f"fill='#555'>{_short(t)}</text>"
            )
    days = max(1, round(span / 86400))
    for d in range(0, days + 1, 5 if days > 10 else 1):
        t = start.timestamp() + d * 86400
        xx = left + (t - start.timestamp()) / span * plot_w
        out.append(
            f"<text x='{xx:.1f}' y='{top + plot_h + 14}' text-anchor='middle' {FONT} font-size='10' "
            f"fill='#555'>day {d + 1 if d < days else days}</text>"
        )
    out.append(
        f"<line x1='{left}' y1='{top + plot_h}' x2='{width - right}' y2='{top + plot_h}' stroke='#333'/>"
        f"<line x1='{left}' y1='{top}' x2='{left}' y2='{top + plot_h}' stroke='#333'/>"
    )
    for i, (name, pts) in enumerate(series):
        colour, dash = COLOURS[i % len(COLOURS)], DASHES[i % len(DASHES)]
        path: list[str] = []
        prev_y = None
        for at, v in pts:
            if prev_y is not None:
                path.append(f"L{x(at):.1f},{prev_y:.1f}")
            prev_y = y(float(v))
            path.append(f"{'M' if not path else 'L'}{x(at):.1f},{prev_y:.1f}")
        assert prev_y is not None
        path.append(f"L{x(end):.1f},{prev_y:.1f}")
        dash_attr = f" stroke-dasharray='{dash}'" if dash else ""
        out.append(f"<path d='{' '.join(path)}' fill='none' stroke='{colour}' stroke-width='1.6'{dash_attr}/>")
        ly = top + plot_h + 30 + 14 * i
        out.append(
            f"<line x1='{left}' y1='{ly - 4}' x2='{left + 28}' y2='{ly - 4}' stroke='{colour}' stroke-width='2'"
            f"{dash_attr}/><text x='{left + 34}' y='{ly}' {FONT} font-size='11'>{_esc(name)}: "
            f"{_short(float(pts[0][1]))} at the start, {_short(float(pts[-1][1]))} at the end</text>"
        )
    out.append("</svg>")
    return "".join(out)


def daily_columns(title: str, days: Sequence[tuple[date, int]]) -> str:
    """One column per day of the month: withdrawals intercepted that day."""
    if not days or not any(n for _, n in days):
        return _no_data(title, 640, 120, "No withdrawal was intercepted this month")
    width, left, right, top, bottom = 640, 40, 10, 28, 30
    height = 200
    plot_w, plot_h = width - left - right, height - top - bottom
    hi = max(n for _, n in days)
    ticks = [t for t in _nice_ticks(0, hi, 4) if t == int(t)]
    hi_axis = max(ticks[-1], hi)
    col = plot_w / len(days)
    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}' width='100%' role='img' "
        f"class='chart'><title>{_esc(title)}</title>",
        f"<text x='{left}' y='16' {FONT} font-size='12' fill='#333'>Withdrawals intercepted per day "
        f"(blocked, or held and rejected)</text>",
    ]
    for t in ticks:
        yy = top + plot_h - t / hi_axis * plot_h
        out.append(
            f"<line x1='{left}' y1='{yy:.1f}' x2='{width - right}' y2='{yy:.1f}' stroke='#e3e3e3'/>"
            f"<text x='{left - 4}' y='{yy + 3:.1f}' text-anchor='end' {FONT} font-size='10' fill='#555'>{t:g}</text>"
        )
    for i, (d, n) in enumerate(days):
        h = n / hi_axis * plot_h
        xx = left + i * col
        if n:
            out.append(
                f"<rect x='{xx + 1:.1f}' y='{top + plot_h - h:.1f}' width='{max(col - 2, 1):.1f}' height='{h:.1f}' "
                f"fill='{COLOURS[0]}'/>"
            )
        if i % 5 == 0 or i == len(days) - 1:
            out.append(
                f"<text x='{xx + col / 2:.1f}' y='{top + plot_h + 14}' text-anchor='middle' {FONT} "
                f"font-size='10' fill='#555'>{d.day}</text>"
            )
    out.append(
        f"<line x1='{left}' y1='{top + plot_h}' x2='{width - right}' y2='{top + plot_h}' stroke='#333'/>"
        f"<text x='{left + plot_w / 2}' y='{height - 4}' text-anchor='middle' {FONT} font-size='10' "
        f"fill='#555'>day of the month</text></svg>"
    )
    return "".join(out)
