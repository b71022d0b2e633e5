"""A seeded, realistic liabilities snapshot for the Proof of Reserves: `assets.csv` and `balances.csv`.

Shape: K assets from a built-in list of real tickers (synthetic tickers beyond it), popularity falling
with rank; about 4 holdings per user, drawn by popularity; USD values log-normal per holding times a
Pareto wealth factor per user, plus a few whales; about 5% margin users who borrow (mostly stablecoins) up
to 80% of their haircut collateral, so they stay solvent, except `insolvent` chosen users who owe more than
their collateral. Everything is vectorized numpy over chunks of users, each chunk with its own seeded
generator (seeded by the seed and the chunk's first user), so the output depends only on (users, assets,
seed, insolvent).

The ground truth (totals per asset as exact integers, insolvent and whale uids) is computed here from the
integers written, and saved beside the snapshot as `sim_truth.json`.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bastion.por.liabilities.snapshot import MAX_ASSETS, amount_bits, exact_sums

CHUNK_USERS = 100_000
MARGIN_SHARE = 0.05
HOLDINGS = 4.0  # distinct holdings per user on average (fewer if the universe is too small for it)
POPULARITY_EXPONENT = 1.1
TRUTH_FILE = "sim_truth.json"

# symbol, USD price, decimals the exchange books it in, haircut tiers (USD threshold:weight)
_MAJORS = "0:0.95;5000000:0.9;50000000:0.8"
_STABLE = "0:1"
_LARGE = "0:0.9;1000000:0.8;10000000:0.6"
_SMALL = "0:0.8;500000:0.6;5000000:0.4"
REAL_ASSETS: tuple[tuple[str, str, int, str], ...] = (
    ("BTC", "96250.5", 8, _MAJORS),
    ("ETH", "3412.77", 8, _MAJORS),
    ("USDT", "1.0002", 6, _STABLE),
    ("USDC", "0.9999", 6, _STABLE),
    ("SOL", "187.42", 8, _LARGE),
    ("XRP", "2.3105", 6, _LARGE),
    ("BNB", "612.4", 8, _LARGE),
    ("DOGE", "0.31874", 8, _LARGE),
    ("TRX", "0.24931", 6, _LARGE),
    ("ADA", "0.9821", 6, _LARGE),
    ("TON", "5.624", 8, _SMALL),
    ("AVAX", "38.91", 8, _SMALL),
    ("SHIB", "0.00002213", 2, _SMALL),
    ("LINK", "21.63", 8, _SMALL),
    ("DOT", "7.352", 8, _SMALL),
    ("BCH", "455.1", 8, _LARGE),
    ("LTC", "101.32", 8, _LARGE),
    ("NEAR", "5.412", 8, _SMALL),
    ("DAI", "0.9998", 8, _STABLE),
    ("UNI", "13.74", 8, _SMALL),
    ("APT", "9.851", 8, _SMALL),
    ("PEPE", "0.00001762", 2, _SMALL),
    ("ICP", "10.42", 8, _SMALL),
    ("ETC", "27.83", 8, _SMALL),
    ("FIL", "5.213", 8, _SMALL),
    ("ATOM", "6.904", 8, _SMALL),
    ("ARB", "0.7812", 8, _SMALL),
    ("OP", "1.953", 8, _SMALL),
    ("XLM", "0.4105", 7, _SMALL),
    ("OKB", "48.32", 8, _SMALL),
)
_BORROWED = ("USDT", "USDC", "BTC", "ETH")
_BORROW_ODDS = (0.6, 0.2, 0.1, 0.1)
_SYLLABLES = ("ka", "zo", "ri", "mu", "te", "lo", "xa", "ne", "qu", "vi", "bo", "sy", "fe", "gar", "dex", "on")


@dataclass(frozen=True, slots=True)
class SimAsset:
    symbol: str
    price_usd: str
    decimals: int
    haircuts: str

    @property
    def first_weight(self) -> float:
        return float(self.haircuts.split(";")[0].split(":")[1])


@dataclass
class LiabilitiesTruth:
    """What the simulator wrote, to check a loader or a proof against."""

    users: int
    assets: list[str]
    seed: int
    rows: int = 0
    margin_users: int = 0
    equity: list[int] = field(default_factory=list)  # per asset, base units
    debt: list[int] = field(default_factory=list)
    insolvent_uids: list[str] = field(default_factory=list)
    whale_uids: list[str] = field(default_factory=list)

    @property
    def net(self) -> list[int]:
        return [e - d for e, d in zip(self.equity, self.debt, strict=True)]


def asset_universe(k: int) -> list[SimAsset]:
    """The first k assets: the real list, then synthetic tickers with log-uniform prices (fixed, seedless)."""
    if not 1 <= k <= MAX_ASSETS:
        raise ValueError(f"assets must be in [1, {MAX_ASSETS}], got {k}")
    out = [SimAsset(s, p, d, h) for s, p, d, h in REAL_ASSETS[:k]]
    rng = np.random.default_rng(20_240_601)  # the universe is the same for every seed
    taken = {a.symbol for a in out}
    while len(out) < k:
        ticker = "".join(rng.choice(_SYLLABLES, size=int(rng.integers(2, 4)))).upper()[:6]
        if ticker in taken or len(ticker) < 3:
            continue
        taken.add(ticker)
        price = 10 ** rng.uniform(-4, 2.5)
        price_text = f"{price:.6g}" if price >= 1 else f"{price:.4g}"
        price_text = format(float(price_text), "f").rstrip("0").rstrip(".")
        # a base unit worth 1..10 micro-USD: enough precision, and the amount cap stays ~10^11 USD
        decimals = max(0, min(8, math.floor(math.log10(float(price_text))) + 6))
        out.append(SimAsset(ticker, price_text, decimals, "0:0.5;100000:0.3"))
    return out


def extra_draws(popularity: NDArray[np.floating[Any]], target: float = HOLDINGS) -> float:
    """Poisson mean of the draws beyond the first that gives `target` distinct assets per user on average.

    With N = 1 + Poisson(lam) draws by popularity p, asset a is missed with probability
    E[(1 - p_a)^N] = (1 - p_a) * exp(-lam * p_a), so E[distinct] = sum_a 1 - (1 - p_a) exp(-lam p_a),
    increasing in lam: bisect.
    """

    def distinct(lam: float) -> float:
        return float(np.sum(1.0 - (1.0 - popularity) * np.exp(-lam * popularity)))

    lo, hi = 0.0, 64.0
    if distinct(hi) < target:  # fewer assets than the target: hold most of them
        return min(hi, 4.0 * len(popularity))
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if distinct(mid) < target else (lo, mid)
    return hi


def write_assets(path: Path, assets: list[SimAsset]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["asset", "decimals", "price_usd", "haircuts"])
        for a in assets:
            writer.writerow([a.symbol, a.decimals, a.price_usd, a.haircuts])


def decimal_strings(values: NDArray[np.uint64], decimals: NDArray[np.int64]) -> Any:
    """Base units -> plain decimal strings (`150000000`, 8 -> `1.5`), vectorized, no floats."""
    import pyarrow as pa
    import pyarrow.compute as pc

    scale = (np.uint64(10) ** decimals.astype(np.uint64)).astype(np.uint64)
    whole = pc.cast(pa.array(values // scale), pa.string())
    # frac + 10^d prints as "1" followed by exactly d digits; drop the "1", then the trailing zeros
    frac = pc.utf8_slice_codeunits(pc.cast(pa.array(values % scale + scale), pa.string()), 1)
    frac = pc.utf8_rtrim(frac, characters="0")
    joined = pc.binary_join_element_wise(whole, frac, ".")
    return pc.if_else(pc.equal(pc.binary_length(frac), 0), whole, joined)


def _uids(index: NDArray[np.int64], seed: int) -> Any:
    """Distinct 12-digit uids: an affine bijection of the user index modulo 9 * 10^11."""
    import pyarrow as pa
    import pyarrow.compute as pc

    modulus = 9 * 10**11
    multiplier = 982_451_653  # prime, coprime with the modulus
    offset = (seed * 2_654_435_761 + 12_345) % modulus
    return pc.cast(pa.array(10**11 + (index * multiplier + offset) % modulus), pa.string())


@dataclass
class _Chunk:
    user: NDArray[np.int64]
    asset: NDArray[np.int64]
    equity: NDArray[np.uint64]
    debt: NDArray[np.uint64]
    margin_users: int


def _chunk(
    first: int,
    count: int,
    seed: int,
    universe: list[SimAsset],
    whales: NDArray[np.int64],
    insolvent: NDArray[np.int64],
) -> _Chunk:
    rng = np.random.default_rng([seed, first])
    k = len(universe)
    price = np.array([float(a.price_usd) for a in universe])
    decimals = np.array([a.decimals for a in universe], dtype=np.int64)
    weight = np.array([a.first_weight for a in universe])
    cap = np.array([float(1 << amount_bits(a.decimals, a.price_usd)) for a in universe])
    popularity = 1.0 / np.arange(1, k + 1) ** POPULARITY_EXPONENT
    popularity /= popularity.sum()
    users = np.arange(first, first + count, dtype=np.int64)
    is_whale = np.zeros(count, dtype=bool)
    is_whale[whales[(whales >= first) & (whales < first + count)] - first] = True
    is_bad = np.zeros(count, dtype=bool)
    is_bad[insolvent[(insolvent >= first) & (insolvent < first + count)] - first] = True

    draws = 1 + rng.poisson(extra_draws(popularity), size=count) + np.where(is_whale, 6, 0)
    user = np.repeat(users, draws)
    asset = rng.choice(k, size=len(user), p=popularity)
    key = np.sort(user * MAX_ASSETS + asset)
    key = key[np.concatenate([[True], key[1:] != key[:-1]])]  # merge repeated draws of one asset
    user, asset = key // MAX_ASSETS, key % MAX_ASSETS
    wealth = 1.0 + rng.pareto(1.6, size=count)
    wealth[is_whale] *= np.exp(rng.uniform(np.log(2e4), np.log(2e6), size=int(is_whale.sum())))
    usd = rng.lognormal(np.log(60.0), 1.7, size=len(user)) * wealth[user - first]
    units = usd / price[asset] * 10.0 ** decimals[asset]
    equity = np.clip(units, 1.0, cap[asset] * 0.99).astype(np.uint64)

    # margin users borrow against their haircut collateral, valued from the integers just drawn
    held_usd = equity.astype(np.float64) / 10.0 ** decimals[asset] * price[asset]
    collateral = np.bincount(user - first, weights=held_usd * weight[asset], minlength=count)
    margin = (rng.random(count) < MARGIN_SHARE) | is_bad
    # BTC is always in the universe, so there is always something to borrow
    borrowable = np.array([i for i, a in enumerate(universe) if a.symbol in _BORROWED])
    odds = np.array([_BORROW_ODDS[_BORROWED.index(universe[i].symbol)] for i in borrowable])
    borrow_asset = borrowable[rng.choice(len(borrowable), size=count, p=odds / odds.sum())]
    loan_usd = np.where(
        is_bad,
        collateral * rng.uniform(1.2, 2.0, size=count) + 5.0,
        collateral * rng.uniform(0.05, 0.8, size=count),
    )
    loan_units = loan_usd / price[borrow_asset] * 10.0 ** decimals[borrow_asset]
    # solvent borrowers round down, insolvent ones up: the exact check must agree with the label
    loan_units = np.where(is_bad, np.ceil(loan_units) + 1, np.floor(loan_units))
    loan_units = np.minimum(loan_units, cap[borrow_asset] * 0.99)
    borrowers = np.flatnonzero(margin & (loan_units >= 1))
    loan_key = (users[borrowers]) * MAX_ASSETS + borrow_asset[borrowers]
    loan = loan_units[borrowers].astype(np.uint64)

    debt = np.zeros(len(key), dtype=np.uint64)
    pos = np.searchsorted(key, loan_key)
    found = (pos < len(key)) & (key[np.minimum(pos, len(key) - 1)] == loan_key)
    debt[pos[found]] = loan[found]
    new_key = loan_key[~found]
    all_key = np.concatenate([key, new_key])
    order = np.argsort(all_key, kind="stable")
    equity = np.concatenate([equity, np.zeros(len(new_key), np.uint64)])[order]
    debt = np.concatenate([debt, loan[~found]])[order]
    all_key = all_key[order]
    return _Chunk(all_key // MAX_ASSETS, all_key % MAX_ASSETS, equity, debt, len(borrowers))


def simulate_liabilities(
    out: Path,
    *,
    users: int,
    assets: int = 22,
    seed: int = 0,
    insolvent: int = 0,
    parquet: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> LiabilitiesTruth:
    """Write `assets.csv` and `balances.csv` (or `.parquet`) and `sim_truth.json` into `out`."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    if users < 1:
        raise ValueError("users must be >= 1")
    if not 0 <= insolvent <= users:
        raise ValueError("insolvent must be in [0, users]")
    out.mkdir(parents=True, exist_ok=True)
    universe = asset_universe(assets)
    write_assets(out / "assets.csv", universe)
    pick = np.random.default_rng([seed, 2**32 - 1])
    n_whales = min(users, 3 + users // 200_000)
    whales = np.sort(pick.choice(users, size=n_whales, replace=False)).astype(np.int64)
    bad = np.sort(pick.choice(users, size=insolvent, replace=False)).astype(np.int64)
    symbols = pa.array([a.symbol for a in universe], pa.string())
    decimals = np.array([a.decimals for a in universe], dtype=np.int64)
    truth = LiabilitiesTruth(users=users, assets=[a.symbol for a in universe], seed=seed)
    truth.equity = [0] * len(universe)
    truth.debt = [0] * len(universe)
    schema = pa.schema([(name, pa.string()) for name in ("uid", "asset", "equity", "debt")])
    target = out / ("balances.parquet" if parquet else "balances.csv")
    for stale in ("balances.parquet", "balances.csv"):
        (out / stale).unlink(missing_ok=True)
    if parquet:
        writer: Any = pq.ParquetWriter(target, schema)
    else:
        target.write_text(",".join(schema.names) + "\n")  # pyarrow would quote the header
        sink = pa.OSFile(str(target), "ab")
        writer = pa_csv.CSVWriter(
            sink, schema, write_options=pa_csv.WriteOptions(include_header=False, quoting_style="none")
        )
    try:
        for first in range(0, users, CHUNK_USERS):
            count = min(CHUNK_USERS, users - first)
            chunk = _chunk(first, count, seed, universe, whales, bad)
            table = pa.table(
                {
                    "uid": _uids(chunk.user, seed),
                    "asset": symbols.take(pa.array(chunk.asset)),
                    "equity": decimal_strings(chunk.equity, decimals[chunk.asset]),
                    "debt": decimal_strings(chunk.debt, decimals[chunk.asset]),
                },
                schema=schema,
            )
            writer.write_table(table)
            truth.rows += len(chunk.user)
            truth.margin_users += chunk.margin_users
            for i, (e, d) in enumerate(
                zip(
                    exact_sums(chunk.asset, chunk.equity, len(universe)),
                    exact_sums(chunk.asset, chunk.debt, len(universe)),
                    strict=True,
                )
            ):
                truth.equity[i] += e
                truth.debt[i] += d
            if on_progress is not None:
                on_progress(count)
    finally:
        writer.close()
        if not parquet:
            sink.close()
    truth.insolvent_uids = sorted(_uids(bad, seed).to_pylist())
    truth.whale_uids = sorted(_uids(whales, seed).to_pylist())
    (out / TRUTH_FILE).write_text(json.dumps(asdict(truth), indent=1) + "\n")
    return truth


def read_truth(directory: Path) -> LiabilitiesTruth:
    data = json.loads((directory / TRUTH_FILE).read_text())
    return LiabilitiesTruth(**data)
