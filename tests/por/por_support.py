"""What the shared rounds of tests/por/conftest.py hand to the tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bastion.por.round import RoundSummary


@dataclass(frozen=True)
class ProvenRound:
    snap: Path
    out: Path
    summary: RoundSummary
    on_ray: bool
