"""The AIR interface: what a statement looks like to the prover and the verifier.

An AIR (algebraic intermediate representation) describes a trace of ``main_width`` base-field columns
over ``n_used`` rows and the polynomial constraints its rows satisfy. Constraints are written once, as a
function of a :class:`Frame` of :class:`~bastion.stark.field.vals.Val` objects; the prover evaluates them over
arrays, the verifier at a single out-of-domain point.

Pieces an AIR may use:

* **main trace**: ``main_width`` base columns, given by the prover.
* **auxiliary trace**: ``aux_width`` extension-field columns built by :meth:`Air.build_aux` after the
  verifier's ``num_challenges`` random challenges (LogUp lookups use this).
* **periodic columns**: small arrays whose length divides the trace length, repeated over the trace
  (round constants, row selectors, a lookup table). The verifier interpolates them itself.
* **public columns**: full columns of public data (for example a published leaf list). The verifier
  evaluates their interpolant at the out-of-domain point itself, in O(n).

Constraint groups and the rows they hold on (``n_used`` rows; the engine appends random blinding rows
after them for zero knowledge, where no constraint applies):

* ``transition``: between row i and i+1 for i in [0, n_used - 2], using ``cur`` and ``nxt``.
* ``every_row``: on every row i in [0, n_used - 1], using ``cur`` only.
* ``first_row`` / ``last_row``: on row 0 / row n_used - 1, using ``cur`` only (boundary constraints).

``max_degree`` bounds the degree of every constraint as a polynomial in the columns (periodic and
public columns count as degree one). The engine sizes the quotient from it; an AIR that understates it
fails to prove, it cannot make a false proof verify.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from bastion.stark.field.vals import Val

U64 = NDArray[np.uint64]


@dataclass(frozen=True)
class Lookup:
    """One LogUp argument as the soundness count needs it."""

    name: str
    fractions_per_row: int  # looked-up values per used row
    table_rows: int  # distinct entries of the table side
    compression_degree: int = 1  # degree of one denominator in the challenges (tuple width - 1 with powers)
    numerator_degree: int = 0


@dataclass
class Frame:
    """The values a constraint may read: current and next row of every column kind."""

    cur: list[Val]
    nxt: list[Val]
    aux_cur: list[Val] = field(default_factory=list)
    aux_nxt: list[Val] = field(default_factory=list)
    periodic: list[Val] = field(default_factory=list)
    public: list[Val] = field(default_factory=list)
    public_nxt: list[Val] = field(default_factory=list)
    challenges: list[Val] = field(default_factory=list)


@dataclass
class Constraints:
    transition: list[Val] = field(default_factory=list)
    every_row: list[Val] = field(default_factory=list)
    first_row: list[Val] = field(default_factory=list)
    last_row: list[Val] = field(default_factory=list)

    def extend(self, other: Constraints) -> Constraints:
        self.transition += other.transition
        self.every_row += other.every_row
        self.first_row += other.first_row
        self.last_row += other.last_row
        return self

    def groups(self) -> list[list[Val]]:
        """In the engine's fixed order: transition, every_row, first_row, last_row."""
        return [self.transition, self.every_row, self.first_row, self.last_row]


class Air(ABC):
    """Subclass this. The instance carries the public inputs; the prover also gets the main trace."""

    #: Unique, versioned name (part of the circuit digest), for example ``"bastion.fibonacci/1"``.
    name: str
    main_width: int
    aux_width: int = 0
    num_challenges: int = 0
    max_degree: int = 2

    def __init__(self, n_used: int) -> None:
        if n_used < 2:
            raise ValueError("an AIR needs at least two rows")
        self.n_used = n_used

    # -- what the verifier knows ------------------------------------------------------------
    @abstractmethod
    def public_inputs(self) -> list[int]:
        """Every public scalar the statement depends on (absorbed into the transcript)."""

    def periodic_columns(self) -> list[U64]:
        return []

    def public_columns(self) -> list[U64]:
        """Columns of length ``n_used`` known to the verifier."""
        return []

    def shape_descriptor(self) -> str:
        """Everything that fixes the constraint system apart from public inputs: hashed into the digest."""
        periodic = hashlib.blake2b(digest_size=16)
        for col in self.periodic_columns():
            periodic.update(np.ascontiguousarray(col, dtype="<u8").tobytes())
            periodic.update(b"|")
        return (
            f"{self.name};main={self.main_width};aux={self.aux_width};ch={self.num_challenges};"
            f"deg={self.max_degree};periodic={periodic.hexdigest()};npub={len(self.public_columns())}"
        )

    def lookups(self) -> list[Lookup]:
        """The lookup (LogUp) arguments the AIR's challenges serve, for the soundness count
        (``stark/uni/security.py``). An AIR drawing challenges must declare them."""
        return []

    # -- constraints ------------------------------------------------------------------------
    @abstractmethod
    def constraints(self, f: Frame) -> Constraints: ...

    # -- prover only ------------------------------------------------------------------------
    def build_aux(self, main: U64, challenges: list[tuple[int, int]]) -> U64:
        """Auxiliary columns of shape (aux_width, n_used, 2) from the main trace (n_used rows)."""
        raise NotImplementedError(f"{self.name} declares no auxiliary trace")


def circuit_digest(air: Air) -> bytes:
    """A digest naming the constraint system; the verifier refuses digests it does not expect."""
    return hashlib.blake2b(air.shape_descriptor().encode(), digest_size=32, person=b"bastion-air").digest()
