"""Rounds over time: every round directory under one folder, numbered in publication order.

    from bastion.por.history import load_history
    history = load_history(Path("rounds"))      # rounds/<any name>/round.json, each with its reserves.json
    latest = history.latest                     # RoundEntry: number, ordinal words, previous round, change
    history.trend("BTC")                        # per round: user assets, wallet assets, ratio

Rounds are ordered by snapshot time (then round id) and numbered from 1. Two directories holding the same
round id are refused: a number must name one round. The change since the previous round is the reserve
report's (`bastion.por.reserves.report.build_report(current, previous)`), the same figures as
`bastion por report ROUND --previous OLD`. A round without reserves.json yet counts with no wallet assets
(`has_reserves` False) and is still numbered: it was published.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bastion.por.format.round import has_round, round_path
from bastion.por.reserves.errors import ReservesInputError
from bastion.por.reserves.report import (
    RESERVES_FILE,
    ReserveReport,
    RoundReserves,
    build_report,
    load_round_reserves,
    plain_amount,
)
from bastion.por.reserves.round_view import load_round


class RoundHistoryError(ValueError):
    """A rounds directory that cannot be numbered; the message names the directory and the problem."""


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st, 22nd, 23rd ..."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _month_index(snapshot_time: str) -> int | None:
    try:
        t = datetime.fromisoformat(snapshot_time.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t.year * 12 + t.month - 1


@dataclass
class RoundEntry:
    number: int  # 1 for the first round published
    path: Path
    reserves: RoundReserves
    has_reserves: bool
    report: ReserveReport  # with the change since the previous round when there is one
    previous: RoundEntry | None = None
    consecutive_months: int = 1  # rounds in a row, one per calendar month, ending with this one

    @property
    def round_id(self) -> str:
        return self.reserves.round.round_id

    @property
    def snapshot_time(self) -> str:
        return self.reserves.round.snapshot_time

    @property
    def exchange(self) -> str:
        return self.reserves.round.exchange

    @property
    def publication(self) -> str:
        """In words: 'the 23rd consecutive monthly publication', or 'the 5th publication (3rd consecutive month)'."""
        if self.consecutive_months == self.number:
            return f"the {ordinal(self.number)} consecutive monthly publication"
        return f"the {ordinal(self.number)} publication ({ordinal(self.consecutive_months)} consecutive month)"


@dataclass
class RoundHistory:
    directory: Path
    rounds: list[RoundEntry] = field(default_factory=list)
    numbered: bool = True  # False for a lone round served without its history: its number is unknown

    @property
    def latest(self) -> RoundEntry | None:
        return self.rounds[-1] if self.rounds else None

    def get(self, round_id: str) -> RoundEntry | None:
        for r in self.rounds:
            if r.round_id == round_id:
                return r
        return None

    def assets(self) -> list[str]:
        names: list[str] = []
        for r in self.rounds:
            for name in r.reserves.round.assets:
                if name not in names:
                    names.append(name)
        return names

    def trend(self, asset: str) -> list[dict[str, Any]]:
        """Per round (in order) this asset's user assets, wallet assets and reserve ratio (None: not listed)."""
        out = []
        for r in self.rounds:
            line = next((x for x in r.report.lines if x.asset == asset), None)
            out.append({
                "round_id": r.round_id,
                "number": r.number,
                "snapshot_time": r.snapshot_time,
                "user_assets": None if line is None else line.liabilities,
                "wallet_assets": None if line is None or not r.has_reserves else line.reserves,
                "ratio": None if line is None or not r.has_reserves else line.ratio,
            })  # fmt: skip
        return out


def _load_entry(path: Path) -> tuple[RoundReserves, bool]:
    try:
        if (path / RESERVES_FILE).exists():
            return load_round_reserves(path), True
        return RoundReserves(load_round(path), {}, [], 0), False
    except ReservesInputError as exc:
        raise RoundHistoryError(str(exc)) from None


def round_dirs(directory: Path) -> list[Path]:
    """The folders of `directory` that hold a round.json (one level down; hidden folders skipped)."""
    if not directory.is_dir():
        raise RoundHistoryError(f"{directory}: not a directory")
    return sorted(p for p in directory.iterdir() if p.is_dir() and not p.name.startswith(".") and
                  has_round(p))  # fmt: skip


def load_history(directory: Path) -> RoundHistory:
    """Every round under `directory`, numbered in order of snapshot time, each with its change since the
    previous one."""
    loaded: list[tuple[Path, RoundReserves, bool]] = [(p, *_load_entry(p)) for p in round_dirs(directory)]
    seen: dict[str, Path] = {}
    for path, rr, _ in loaded:
        other = seen.setdefault(rr.round.round_id, path)
        if other != path:
            raise RoundHistoryError(
                f"{directory}: round id {rr.round.round_id!r} is in both {other.name} and {path.name}"
            )
    loaded.sort(key=lambda t: (t[1].round.snapshot_time, t[1].round.round_id))
    history = RoundHistory(directory)
    prev: RoundEntry | None = None
    for number, (path, rr, has) in enumerate(loaded, start=1):
        report = build_report(rr, prev.reserves if prev is not None else None)
        entry = RoundEntry(number, path, rr, has, report, prev)
        if prev is not None:
            this_m, prev_m = _month_index(entry.snapshot_time), _month_index(prev.snapshot_time)
            if this_m is not None and prev_m is not None and this_m - prev_m == 1:
                entry.consecutive_months = prev.consecutive_months + 1
        history.rounds.append(entry)
        prev = entry
    return history


def entry_summary(r: RoundEntry, numbered: bool = True) -> dict[str, Any]:
    """One round as the rounds index and `/por/api/rounds` give it (decimals as strings)."""
    from bastion.por.reserves.report import pct

    rep = r.report
    t = rep.totals
    return {
        "id": r.round_id,
        "number": r.number if numbered else None,
        "publication": r.publication if numbered else None,
        "exchange": r.exchange,
        "snapshot_time": r.snapshot_time,
        "previous_round_id": rep.previous_round_id,
        "has_reserves": r.has_reserves,
        "status": None if not r.has_reserves else ("ok" if rep.ok else "not_fully_reserved"),
        "summary": rep.status if r.has_reserves else "no reserves verification published",
        "totals": {
            "user_assets_usd": plain_amount(t.get("liabilities_usd")),
            "wallet_assets_usd": plain_amount(t.get("reserves_usd")) if r.has_reserves else None,
            "ratio": plain_amount(t.get("ratio")) if r.has_reserves else None,
            "ratio_percent": pct(t.get("ratio")) if r.has_reserves else None,
            "user_assets_usd_change": plain_amount(t.get("liabilities_usd_change")),
            "wallet_assets_usd_change": plain_amount(t.get("reserves_usd_change")) if r.has_reserves else None,
        },
        "assets": [
            {
                "asset": x.asset,
                "price_usd": plain_amount(x.price_usd),
                "user_assets": plain_amount(x.liabilities),
                "wallet_assets": plain_amount(x.reserves) if r.has_reserves else None,
                "ratio": plain_amount(x.ratio) if r.has_reserves else None,
                "ratio_percent": pct(x.ratio) if r.has_reserves else None,
                "user_assets_change": plain_amount(x.liabilities_change),
                "wallet_assets_change": plain_amount(x.reserves_change) if r.has_reserves else None,
                "previous_ratio": plain_amount(x.previous_ratio),
            }
            for x in rep.lines
        ],
    }


def history_json(history: RoundHistory) -> dict[str, Any]:
    """The whole history: every round (oldest first) and the trend per asset."""
    return {
        "format": "bastion-round-history/1",
        "count": len(history.rounds),
        "latest": history.latest.round_id if history.latest else None,
        "numbered": history.numbered,
        "rounds": [entry_summary(r, history.numbered) for r in history.rounds],
        "trend": {
            asset: [
                {
                    **p,
                    "user_assets": plain_amount(p["user_assets"]),
                    "wallet_assets": plain_amount(p["wallet_assets"]),
                    "ratio": plain_amount(p["ratio"]),
                }
                for p in history.trend(asset)
            ]
            for asset in history.assets()
        },
    }


_CACHE: dict[Path, tuple[tuple[tuple[str, int, int], ...], RoundHistory]] = {}


def _stamp(directory: Path) -> tuple[tuple[str, int, int], ...]:
    def mtime(p: Path) -> int:
        try:
            return p.stat().st_mtime_ns
        except FileNotFoundError:
            return 0

    return tuple((p.name, mtime(round_path(p)), mtime(p / RESERVES_FILE)) for p in round_dirs(directory))


def load_history_cached(directory: Path) -> RoundHistory:
    """`load_history`, read again only when a round directory, its round.json or reserves.json changed (the
    service answers every page and file request from it)."""
    stamp = _stamp(directory)
    hit = _CACHE.get(directory)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    history = load_history(directory)
    _CACHE[directory] = (stamp, history)
    return history


def history_of_one(round_dir: Path) -> RoundHistory:
    """A single published round (`bastion serve --round DIR`) as a history of one: round number 1."""
    rr, has = _load_entry(round_dir)
    history = RoundHistory(round_dir.parent, numbered=False)
    history.rounds.append(RoundEntry(1, round_dir, rr, has, build_report(rr)))
    return history
