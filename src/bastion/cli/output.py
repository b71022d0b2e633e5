"""Terminal output shared by the commands: tables whose numbers never break, aligned on the decimal point.

Every table here is sized for an 80-column terminal: numeric columns never wrap (`no_wrap`), figures are shown
at a precision that suits the asset, and the full precision is what `--json` prints.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from bastion.por.reserves.report import ReserveReport


def console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def table(title: str | None = None) -> Table:
    """A compact table: no borders, columns two spaces apart."""
    from rich import box
    from rich.table import Table

    return Table(
        title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True
    )


def figure_table(
    title: str, rows: list[tuple[str, str]], label: str = "figure", value: str = "value"
) -> Table:
    t = table(title)
    t.add_column(label, justify="left", overflow="fold")
    t.add_column(value, justify="right", no_wrap=True)
    for name, figure in rows:
        t.add_row(name, figure)
    return t


def print_tables(*tables: Table | None) -> None:
    out = console()
    for t in tables:
        if t is not None:
            out.print(t)


def progress_bar(stderr: bool = True) -> Progress:
    """One Rich bar line per task (on stderr by default, so stdout stays for results)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console(stderr),
    )


def display_places(price_usd: Decimal | None, decimals: int | None = None) -> int:
    """Places at which one unit of the last digit is worth a cent or less (BTC at $96,000: 7, ETH 6, USDT 2,
    SHIB 0), never more than the asset has; 8 when the price is unknown."""
    import math

    places = 8 if price_usd is None or price_usd <= 0 else max(0, math.ceil(math.log10(float(price_usd) * 100) - 0.05))
    return min(places, decimals) if decimals is not None else places


def amount(value: Decimal | None, places: int | None = None, signed: bool = False) -> str:
    """`8016.21709171` -> `8,016.2170917` at 7 places (half-even); None -> "-"; places=None: exact."""
    if value is None:
        return "-"
    if places is not None:
        value = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    text = f"{value:,f}"
    if places is None and "." in text:
        text = text.rstrip("0").rstrip(".")
    return ("+" if signed and value > 0 else "") + text


def align(cells: list[str]) -> list[str]:
    """Pad on both sides to one width, so that the decimal points (or the ends of whole numbers) share a
    column. Put the cells in a `number_column`: Rich trims trailing spaces of right-justified cells."""

    def split(c: str) -> tuple[str, str]:
        head, dot, tail = c.partition(".")
        return head, dot + tail

    parts = [split(c) for c in cells]
    head_w = max((len(h) for h, _ in parts), default=0)
    tail_w = max((len(t) for _, t in parts), default=0)
    return [h.rjust(head_w) + t.ljust(tail_w) for h, t in parts]


def number_column(t: Table, header: str) -> None:
    """A column of `align`ed figures: never wrapped, header on the right like the numbers."""
    from rich.text import Text

    t.add_column(Text(header, justify="right"), justify="left", no_wrap=True)


def plain(cell: Any) -> str:
    """A table cell as it was printed, without separators or padding (what tests compare with --json)."""
    return str(cell).replace(",", "").strip()


# ------------------------------------------------------------------------------------- proof of reserves
USER_ASSETS = "User assets"  # what users hold net of debt (round.json: net_liabilities); one name everywhere
WALLET_ASSETS = "Wallet assets"


def reserve_table(
    report: ReserveReport, decimals: dict[str, int] | None = None, width: int | None = None
) -> list[Table]:
    """The reserve table (and, with a previous round, the change since it); figures at the asset's display
    precision (`display_places`), the exact ones in `bastion por report --json`. Numbers never wrap: when the
    table is wider than `width`, the Difference column (user assets minus wallet assets) is left out."""
    from bastion.por.reserves.report import pct

    decimals = decimals or {}
    places = {x.asset: display_places(x.price_usd, decimals.get(x.asset)) for x in report.lines}
    totals = report.totals
    # The USD totals go last in their columns: whole dollars end where the points are.
    users = align([*(amount(x.liabilities, places[x.asset]) for x in report.lines), usd(totals["liabilities_usd"])])
    wallets = align([*(amount(x.reserves, places[x.asset]) for x in report.lines), usd(totals["reserves_usd"])])
    diffs = align([amount(x.difference, places[x.asset], signed=True) for x in report.lines])

    def main(with_difference: bool) -> Table:
        t = table(f"{report.exchange}: proof of reserves, round {report.round_id} ({report.snapshot_time})")
        t.add_column("Asset", justify="left", no_wrap=True)
        number_column(t, USER_ASSETS)
        number_column(t, WALLET_ASSETS)
        t.add_column("Reserve ratio", justify="right", no_wrap=True)
        if with_difference:
            number_column(t, "Difference")
        for x, u, w, d in zip(report.lines, users[:-1], wallets[:-1], diffs, strict=True):
            cells = [x.asset, u, w, pct(x.ratio) + (" under" if x.under else ""), *([d] if with_difference else [])]
            t.add_row(*cells, style="bold red" if x.under else None)
        t.add_section()
        t.add_row("Total", users[-1], wallets[-1], pct(totals["ratio"]), *([""] if with_difference else []),
                  style="bold")  # fmt: skip
        return t

    first = main(True)
    if width is not None and measure(first) > width:
        first = main(False)
    tables = [first]
    if report.previous_round_id:
        c = table(f"change since round {report.previous_round_id}")
        c.add_column("Asset", justify="left", no_wrap=True)
        number_column(c, USER_ASSETS)
        number_column(c, WALLET_ASSETS)
        c.add_column("Ratio then", justify="right", no_wrap=True)
        u_change = align([*(amount(x.liabilities_change, places[x.asset], signed=True) for x in report.lines),
                          usd(totals["liabilities_usd_change"], signed=True)])  # fmt: skip
        w_change = align([*(amount(x.reserves_change, places[x.asset], signed=True) for x in report.lines),
                          usd(totals["reserves_usd_change"], signed=True)])  # fmt: skip
        for x, u, w in zip(report.lines, u_change[:-1], w_change[:-1], strict=True):
            c.add_row(x.asset, u, w, pct(x.previous_ratio) if x.previous_ratio is not None else "-")
        c.add_section()
        c.add_row("Total", u_change[-1], w_change[-1], "", style="bold")
        tables.append(c)
    return tables


def measure(t: Table) -> int:
    """The width a table needs to show every cell whole."""
    from rich.console import Console

    wide = Console(width=10_000)
    return wide.measure(t).maximum


def usd(value: Decimal | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    whole = value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    sign = "-" if whole < 0 else ("+" if signed and whole > 0 else "")
    return f"{sign}${abs(whole):,f}"


def print_reserve_report(report: ReserveReport, decimals: dict[str, int] | None = None) -> None:
    """The reserve table, the wallets verified and failed (row = the wallet set's row, header = row 1), the
    verdict."""
    out = console()
    tables = reserve_table(report, decimals, width=out.width)
    for t in tables:
        out.print(t)
    if "Difference" not in [str(c.header) for c in tables[0].columns]:  # Text headers: str() is the plain text
        out.print("(Difference left out to fit the terminal; all figures: --json)")
    out.print(f"{report.wallets_verified:,} wallets verified, {len(report.failures):,} row(s) failed")
    for f in report.failures[:50]:
        out.print(f"row {f['row']}: {f['chain']} {f['asset']} {f['address']}: {f['reason']}", soft_wrap=True)
    if len(report.failures) > 50:
        out.print(f"... and {len(report.failures) - 50:,} more failed rows (see reserves.json)")
    out.print(("[green]" if report.ok else "[bold red]") + report.status)


def proven_totals_table(verdict: Any, prices: dict[str, tuple[str, int]]) -> Table:
    """`bastion por verify`: each asset's proven totals (user assets = equity - debt, summed over users)."""
    rows = []
    for a in verdict.assets:
        price, decimals = prices.get(a.asset, (None, None))
        places = display_places(Decimal(price) if price is not None else None, decimals)
        rows.append((a.asset, *(amount(Decimal(v), places) for v in (a.total_equity, a.total_debt, a.net_liabilities))))
    t = table(f"round {verdict.round_id}: liabilities proven")
    t.add_column("Asset", justify="left", no_wrap=True)
    for col in ("Equity", "Debt", USER_ASSETS):
        number_column(t, col)
    columns = [align([r[i] for r in rows]) for i in (1, 2, 3)]
    for k, r in enumerate(rows):
        t.add_row(r[0], columns[0][k], columns[1][k], columns[2][k])
    t.caption = f"{USER_ASSETS} = equity - debt, summed over users; exact figures: --json"
    t.caption_justify = "left"
    return t


def user_rows_table(verdict: Any) -> Table:
    """`bastion por verify-user`: the user's own rows, exact (their own balances, as proven)."""
    t = table(f"{verdict.uid} in round {verdict.round_id}")
    t.add_column("Asset", justify="left", no_wrap=True)
    number_column(t, "Equity")
    number_column(t, "Debt")
    t.add_column("Leaf", justify="right", no_wrap=True)
    equity = align([amount(Decimal(r.equity)) for r in verdict.rows])
    debt = align([amount(Decimal(r.debt)) for r in verdict.rows])
    for r, e, d in zip(verdict.rows, equity, debt, strict=True):
        t.add_row(r.asset, e, d, f"#{r.leaf_index:,}")
    return t
