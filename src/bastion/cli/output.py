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


def console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def table(title: str | None = None) -> Table:
    """A compact table: no vertical borders, so every column costs two spaces at most."""
    from rich import box
    from rich.table import Table

    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)


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
    """Places at which one unit of the last digit is worth about a cent (BTC 7, ETH 6, USDT 2), never more
    than the asset has; 8 when the price is unknown."""
    places = 8 if price_usd is None or price_usd <= 0 else max(2, (price_usd * 100).adjusted() + 1)
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
    """Pad on the right so that, right-justified, a column's decimal points line up."""
    def frac(c: str) -> int:
        return len(c) - c.index(".") if "." in c else 0

    width = max((frac(c) for c in cells), default=0)
    return [c + " " * (width - frac(c)) for c in cells]


def plain(cell: Any) -> str:
    """A table cell as it was printed, without separators or padding (what tests compare with --json)."""
    return str(cell).replace(",", "").strip()
