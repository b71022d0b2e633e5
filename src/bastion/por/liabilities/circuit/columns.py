"""The solvency circuit's layout: its trace columns (`Col`), public columns (`Pub`), LogUp columns (`Aux`) and
challenges (`Ch`), the bounds of its bound analysis (``docs/spec/solvency.md``), and the public asset table's
rows (`AssetRow`, from an asset's decimals, price, haircut and amount cap).

The constraints are `air.SolvencyAir`; the witness is built by `trace`; the LogUp columns by `logup`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import numpy as np
from numpy.typing import NDArray

from bastion.stark.air.poseidon2_air import Poseidon2Gadget

U64 = NDArray[np.uint64]

NAME = "bastion.por.solvency/1"
LIMBS = 4
LIMB_BITS = 16
RANGE_BITS = 16
MIN_AMOUNT_BITS = 3 * LIMB_BITS  # only the top limb is capped per asset
MAX_AMOUNT_BITS = 63
ACC_BITS = 61  # per-user running USD values (micro-USD) stay below 2^61
NET_BITS = 63  # net = collateral - debt, on a user's last row, must be below 2^63 (so not "negative")
USD_BITS = 60  # any single row's value is below 2^60 (+ rounding) by the per-asset cap
MIN_ROWS = 1 << RANGE_BITS  # the range table must fit in the used rows


# --------------------------------------------------------------------------------------------------
# column layout


class Col:
    ID = 0  # 4 words
    IDX = 4
    CNT = 5
    LAST = 6
    ASSET = 7
    EQ = 8  # 4 limbs
    DEBT = 12  # 4 limbs
    WEQ = 16  # 4 equity weights (table copy)
    WDEBT = 20  # 4 debt weights (table copy)
    SCALE = 24  # 2^(16 - allowed bits of the top limb) (table copy)
    EQ_TOP_SCALED = 25
    DEBT_TOP_SCALED = 26
    ACC_EQ = 27  # 4 limbs of the running collateral value
    ACC_DEBT = 31  # 4 limbs of the running debt value
    NET = 35  # 4 limbs of collateral - debt (meaningful on a user's last row)
    SALT = 39
    RANGE_MULT = 40
    TABLE_MULT = 41
    GADGET = 42


GADGET = Poseidon2Gadget(offset=Col.GADGET, width=8, own_input=False)
MAIN_WIDTH = GADGET.end


class Pub:
    LEAF = 0  # 4 words
    T_ASSET = 4
    T_WEQ = 5  # 4
    T_WDEBT = 9  # 4
    T_SCALE = 13
    T_EQ_TOTAL = 14  # 4 limb totals
    T_DEBT_TOTAL = 18  # 4 limb totals
    COUNT = 22


TUPLE_COLS = [Col.ASSET, *range(Col.WEQ, Col.WEQ + 4), *range(Col.WDEBT, Col.WDEBT + 4), Col.SCALE]
TUPLE_PUB = [Pub.T_ASSET, *range(Pub.T_WEQ, Pub.T_WEQ + 4), *range(Pub.T_WDEBT, Pub.T_WDEBT + 4), Pub.T_SCALE]

# Range-checked expressions: (column, multiplier). A multiplier 2^j > 1 on a limb already checked caps it
# at 16 - j bits.
_RANGE: list[tuple[int, int]] = (
    [(Col.EQ + k, 1) for k in range(4)]
    + [(Col.DEBT + k, 1) for k in range(4)]
    + [(Col.EQ_TOP_SCALED, 1), (Col.DEBT_TOP_SCALED, 1)]
    + [(Col.ACC_EQ + k, 1) for k in range(4)]
    + [(Col.ACC_EQ + 3, 1 << (4 * LIMB_BITS - ACC_BITS))]
    + [(Col.ACC_DEBT + k, 1) for k in range(4)]
    + [(Col.ACC_DEBT + 3, 1 << (4 * LIMB_BITS - ACC_BITS))]
    + [(Col.NET + k, 1) for k in range(4)]
    + [(Col.NET + 3, 1 << (4 * LIMB_BITS - NET_BITS))]
)
RANGE_EXPRS = tuple(_RANGE)
N_PAIRS = (len(RANGE_EXPRS) + 1) // 2


class Aux:
    PAIRS = 0  # N_PAIRS columns: 1/(b - u) + 1/(b - v) for two range-checked values u, v
    RANGE_TABLE_INV = N_PAIRS
    ROW_INV = N_PAIRS + 1  # 1/(b_t - tuple(row))
    TABLE_INV = N_PAIRS + 2  # 1/(b_t - tuple(table row))
    SUM = N_PAIRS + 3
    WIDTH = N_PAIRS + 4


class Ch:
    RANGE = 0  # beta of the range lookup
    TUPLE = 1  # alpha compressing the asset-table tuple
    TABLE = 2  # beta of the asset-table lookup
    TOTALS = 3  # mu separating count and limb totals in the numerator
    COUNT = 4


# --------------------------------------------------------------------------------------------------
# the asset table


@dataclass(frozen=True)
class AssetRow:
    """One asset as the circuit sees it: integer weights per limb and the top limb's scale."""

    equity_weights: tuple[int, int, int, int]  # floor(haircut * micro-USD per unit * 2^(16k))
    debt_weights: tuple[int, int, int, int]  # ceil(micro-USD per unit * 2^(16k))
    scale: int  # 2^(16 - (amount_bits - 48)): top limb * scale must be < 2^16
    amount_bits: int


def asset_row(decimals: int, price_usd: Decimal | str, haircut: Decimal | str, amount_bits: int) -> AssetRow:
    """The table row of an asset, from its published decimals, price, haircut and cap (exact arithmetic).

    Collateral is rounded down and debt up, so the circuit's solvency check is conservative both ways.
    """
    if not MIN_AMOUNT_BITS <= amount_bits <= MAX_AMOUNT_BITS:
        raise ValueError(f"amount_bits {amount_bits} outside [{MIN_AMOUNT_BITS}, {MAX_AMOUNT_BITS}]")
    unit = Fraction(Decimal(price_usd)) * Fraction(10**6, 10**decimals)  # micro-USD per base unit
    h = Fraction(Decimal(haircut))
    if unit <= 0 or not 0 <= h <= 1:
        raise ValueError("price must be > 0 and haircut in [0, 1]")
    if unit * (1 << amount_bits) > 1 << USD_BITS:
        raise ValueError(f"amount_bits {amount_bits} lets one row exceed 2^{USD_BITS} micro-USD")
    eq = tuple(int(h * unit * (1 << (LIMB_BITS * k)) // 1) for k in range(LIMBS))
    debt = tuple(-int(-(unit * (1 << (LIMB_BITS * k))) // 1) for k in range(LIMBS))
    return AssetRow(eq, debt, 1 << (4 * LIMB_BITS - amount_bits), amount_bits)  # type: ignore[arg-type]


def limbs(values: U64) -> U64:
    """(4, n) 16-bit limbs of uint64 values, least significant first."""
    v = np.asarray(values, dtype=np.uint64)
    return np.stack([(v >> np.uint64(LIMB_BITS * k)) & np.uint64(0xFFFF) for k in range(LIMBS)])


# --------------------------------------------------------------------------------------------------
# the AIR
