"""The public proof-of-reserves page: the round's header, the reserve table, the public files and a verifier
that checks a user's inclusion proof in the browser (docs/web.md); the rounds index (history and trend).

The rounds are `Settings.rounds_dir` (BASTION_ROUNDS_DIR, `bastion serve --rounds DIR`: every round directory
in it, numbered in order, the newest shown by default), or the one round of `Settings.round_dir`
(BASTION_ROUND_DIR, `bastion serve --round DIR`). Only the files round.json names (itself, the leaf list,
the batch proofs, the aggregation proof), reserves.json and the files reserves.json lists (the signed wallet
set, prices.json) are served, by exact name:
never `private/` (the prover's secrets) nor `users/` (each user's own proof). The page is static HTML, CSS
and JavaScript modules shipped in the package; nothing on it is fetched from anywhere but this service.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, RedirectResponse, Response

from bastion.por.format.round import ROUND_FILE, ROUND_FORMAT, RoundFileError, load_round_json
from bastion.por.history import RoundHistory
from bastion.por.reserves.report import plain_amount
from bastion.service.access import Public
from bastion.service.deps import SettingsDep
from bastion.service.static_pages import StaticPages
from bastion.settings import Settings

# Everything here is published to the world on purpose; users' own proofs are never served by this router.
router = APIRouter(tags=["proof of reserves"], dependencies=[Public])

PAGES = StaticPages("por")
# Folders of a round directory that are never public, whatever round.json says.
_NEVER = ("private", "users")


# ------------------------------------------------------------------------------------- the round dir
@dataclass(frozen=True)
class PublicFile:
    name: str  # path inside the round directory, posix
    path: Path
    size: int
    sha256: str | None
    kind: str


def history(settings: Settings) -> RoundHistory:
    """Every published round, numbered (rounds_dir), or the lone round of round_dir as a history of one."""
    from bastion.por.history import RoundHistoryError, history_of_one, load_history_cached

    try:
        if settings.rounds_dir is not None:
            return load_history_cached(settings.rounds_dir)
        if settings.round_dir is not None:
            return history_of_one(settings.round_dir)
    except RoundHistoryError as exc:
        raise HTTPException(500, f"the published rounds cannot be read: {exc}") from None
    raise HTTPException(
        404,
        "no round is published here (set BASTION_ROUNDS_DIR or BASTION_ROUND_DIR, or `bastion serve --rounds DIR` "
        "or `--round DIR`)",
    )


@dataclass(frozen=True)
class Published:
    """One published round: its directory, its id, and its place in the history (None: a lone round whose
    round.json the reserves side cannot read; the page still shows what it has)."""

    path: Path
    round_id: str
    history: dict[str, Any] | None


def published(settings: Settings, round_id: str | None = None) -> Published:
    """The round `round_id` (default: the newest) of what is published; 404 when there is none."""
    from bastion.por.history import RoundHistoryError, entry_summary, history_of_one

    if settings.rounds_dir is not None:
        h = history(settings)
        entry = h.latest if round_id is None else h.get(round_id)
        if entry is None:
            raise HTTPException(404, f"no published round {round_id!r}" if round_id else "no round is published here")
        return Published(entry.path, entry.round_id, {**entry_summary(entry, True), "rounds": len(h.rounds)})
    if settings.round_dir is None:
        history(settings)  # raises the 404 that says how to publish a round
    path = settings.round_dir
    assert path is not None
    rid = str(_read_round(path).get("round_id"))
    if round_id is not None and round_id != rid:
        raise HTTPException(404, f"no published round {round_id!r}")
    try:
        summary: dict[str, Any] | None = {**entry_summary(history_of_one(path).rounds[0], False), "rounds": 1}
    except RoundHistoryError:
        summary = None
    return Published(path, rid, summary)


def _round_dir(settings: SettingsDep) -> Path:
    return published(settings).path


def _read_round(round_dir: Path) -> dict[str, Any]:
    try:
        raw = load_round_json(round_dir)
    except RoundFileError as exc:
        if exc.missing:
            raise HTTPException(404, f"no round.json in the round directory {round_dir}") from None
        raise HTTPException(500, f"round.json is not readable: {exc.cause}") from None
    if not isinstance(raw, dict) or raw.get("format") != ROUND_FORMAT:
        raise HTTPException(500, f"round.json is not a {ROUND_FORMAT} file")
    return raw


def _safe(round_dir: Path, name: str) -> Path | None:
    """`name` as a regular file inside the round directory and outside its secret folders, else None."""
    rel = PurePosixPath(name)
    if not name or rel.is_absolute() or "\\" in name or any(part in ("", ".", "..") for part in name.split("/")):
        return None
    if rel.parts[0] in _NEVER:
        return None
    root = round_dir.resolve()
    path = (root / rel).resolve()
    # A symlink may point anywhere: judge where it lands, not what it is called.
    if not path.is_relative_to(root) or any(path.is_relative_to(root / d) for d in _NEVER) or not path.is_file():
        return None
    return path


def _reserve_files(round_dir: Path) -> list[tuple[str, str | None, str]]:
    """The files reserves.json publishes (the signed wallet set, prices.json), with their SHA-256."""
    try:
        raw = json.loads((round_dir / "reserves.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return []
    entries = raw.get("public_files") if isinstance(raw, dict) else None
    out: list[tuple[str, str | None, str]] = []
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("file"), str):
            digest = entry.get("sha256")
            out.append((entry["file"], digest if isinstance(digest, str) else None, str(entry.get("kind", "reserves"))))
    return out


def public_files(round_dir: Path, raw: dict[str, Any]) -> list[PublicFile]:
    """The files anyone may download: round.json, the leaf list, the batch proofs, the aggregation proof,
    reserves.json and the files reserves.json lists (the signed wallet set, the price table)."""
    wanted: list[tuple[str, str | None, str]] = [(ROUND_FILE, None, "round")]
    leaves = raw.get("leaves")
    if isinstance(leaves, dict) and isinstance(leaves.get("file"), str):
        wanted.append((leaves["file"], leaves.get("sha256"), "leaves"))
    for batch in raw.get("batches") or []:
        if isinstance(batch, dict) and isinstance(batch.get("file"), str):
            wanted.append((batch["file"], batch.get("sha256"), "batch proof"))
    agg = raw.get("aggregate")
    if isinstance(agg, dict) and isinstance(agg.get("file"), str):
        wanted.append((agg["file"], agg.get("sha256"), "aggregation proof"))
    wanted.append(("reserves.json", None, "reserves"))
    wanted.extend(_reserve_files(round_dir))
    out: list[PublicFile] = []
    seen: set[str] = set()
    for name, digest, kind in wanted:
        path = _safe(round_dir, name)
        if path is None or name in seen:
            continue
        seen.add(name)
        out.append(PublicFile(name, path, path.stat().st_size, digest if isinstance(digest, str) else None, kind))
    return out


def _reserves_view(round_dir: Path) -> tuple[dict[str, dict[str, Any]], dict[str, Any] | None, str | None]:
    """Per asset reserves, ratio and status from reserves.json (the reserve report), or why there are none."""
    from bastion.por.reserves.errors import ReservesInputError
    from bastion.por.reserves.report import build_report, load_round_reserves, pct, report_json

    if not (round_dir / "reserves.json").exists():
        return {}, None, "no reserves verification (reserves.json) has been published for this round yet"
    try:
        report = build_report(load_round_reserves(round_dir))
    except ReservesInputError as exc:
        return {}, None, f"the reserves verification could not be read: {exc}"
    # per asset, the figures of the reserve report's JSON (`bastion por reserves report`) the page shows
    lines = {
        a["asset"]: {k: a[k] for k in ("reserves", "ratio", "ratio_percent", "difference", "status")}
        for a in report_json(report)["assets"]
    }
    summary = {
        "status": "ok" if report.ok else "not_fully_reserved",
        "summary": report.status,
        "wallets_verified": report.wallets_verified,
        "failed_rows": len(report.failures),
        "liabilities_usd": plain_amount(report.totals.get("liabilities_usd")),
        "reserves_usd": plain_amount(report.totals.get("reserves_usd")),
        "ratio_percent": pct(report.totals.get("ratio")),
    }
    return lines, summary, None


def _usd_value(amount: Any, price: Any) -> str | None:
    """amount x price, to the cent, or None when either is missing or not a number."""
    from decimal import ROUND_HALF_EVEN, InvalidOperation

    try:
        value = Decimal(str(amount)) * Decimal(str(price))
    except (InvalidOperation, ValueError):
        return None
    return plain_amount(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN))


def round_view(round_dir: Path, files_url: str = "/por/files") -> dict[str, Any]:
    """What the page shows: the round's header, one line per asset, the reserves summary and the files."""
    raw = _read_round(round_dir)
    circuit: dict[str, Any] = raw["circuit"] if isinstance(raw.get("circuit"), dict) else {}
    leaves: dict[str, Any] = raw["leaves"] if isinstance(raw.get("leaves"), dict) else {}
    reserves, summary, missing = _reserves_view(round_dir)
    assets = []
    for a in raw.get("assets") or []:
        if not isinstance(a, dict):
            continue
        line = {
            "index": a.get("index"),
            "asset": a.get("asset"),
            "decimals": a.get("decimals"),
            "price_usd": a.get("price_usd"),
            "total_equity": a.get("total_equity"),
            "total_debt": a.get("total_debt"),
            "net_liabilities": a.get("net_liabilities"),
            "user_assets_usd": _usd_value(a.get("net_liabilities"), a.get("price_usd")),
            "reserves": None,
            "ratio": None,
            "ratio_percent": None,
            "difference": None,
            "status": None,
        }
        line.update(reserves.get(str(a.get("asset")), {}))
        assets.append(line)
    return {
        "round": {
            "exchange": raw.get("exchange"),
            "round_id": raw.get("round_id"),
            "snapshot_time": raw.get("snapshot_time"),
            "block_heights": raw.get("block_heights"),
            "prover_version": raw.get("prover_version"),
            "circuit_name": circuit.get("name"),
            "circuit_digest": circuit.get("digest"),
            "leaf_root": leaves.get("root"),
            "leaf_count": leaves.get("count"),
            "batches": len(raw.get("batches") or []),
        },
        "assets": assets,
        "reserves": summary,
        "reserves_missing": missing,
        "files": [
            {"name": f.name, "url": f"{files_url}/{f.name}", "size": f.size, "sha256": f.sha256, "kind": f.kind}
            for f in public_files(round_dir, raw)
        ],
    }


# ------------------------------------------------------------------------------------------- routes
@router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    return RedirectResponse("/por/", status_code=307)


PAGES.add_routes(router, "/por", redirect_status=307)


@router.get("/por/rounds", include_in_schema=False)
def rounds_page() -> FileResponse:
    return PAGES.page("rounds.html")


def _entry_view(p: Published) -> dict[str, Any]:
    view = round_view(p.path, f"/por/rounds/{p.round_id}/files")
    view["history"] = p.history
    return view


@router.get("/por/api/round")
def published_round(settings: SettingsDep) -> dict[str, Any]:
    """The newest published round: header, per-asset liabilities with reserves and ratio when verified, files,
    and its place in the history (number, change since the previous round)."""
    view = _entry_view(published(settings))
    view["files"] = [{**f, "url": f"/por/files/{f['name']}"} for f in view["files"]]
    return view


@router.get("/por/api/rounds")
def published_rounds(settings: SettingsDep) -> dict[str, Any]:
    """Every published round, oldest first (id, number, snapshot time, totals in USD, ratios, change since the
    previous round), and the trend per asset (user assets, wallet assets, ratio in each round)."""
    from bastion.por.history import history_json

    return history_json(history(settings))


@router.get("/por/api/rounds/{round_id}")
def published_round_by_id(round_id: str, settings: SettingsDep) -> dict[str, Any]:
    """One published round, as /por/api/round gives the newest."""
    return _entry_view(published(settings, round_id))


def _file_response(round_dir: Path, name: str) -> Response:
    raw = _read_round(round_dir)
    for f in public_files(round_dir, raw):
        if f.name == name:
            media = (
                "application/json"
                if f.name.endswith(".json")
                else "text/csv; charset=utf-8"
                if f.name.endswith(".csv")
                else "application/octet-stream"
            )
            return FileResponse(f.path, media_type=media, filename=PurePosixPath(f.name).name)
    raise HTTPException(404, "not a public file of this round")


@router.get("/por/files/{name:path}", include_in_schema=False)
def public_file(name: str, settings: SettingsDep) -> Response:
    """A public file of the newest round, by the exact name round.json gives it; anything else is 404."""
    return _file_response(_round_dir(settings), name)


@router.get("/por/rounds/{round_id}/files/{name:path}", include_in_schema=False)
def public_round_file(round_id: str, name: str, settings: SettingsDep) -> Response:
    """A public file of a published round, by the exact name its round.json gives it; anything else is 404."""
    return _file_response(published(settings, round_id).path, name)
