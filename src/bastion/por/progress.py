"""How the long proof-of-reserves jobs report progress, without knowing who shows it (CLI bars, tests)."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def start(self, task: str, total: int) -> None: ...
    def advance(self, task: str, n: int = 1) -> None: ...


class SilentProgress:
    """The default: report nothing."""

    def start(self, task: str, total: int) -> None:
        pass

    def advance(self, task: str, n: int = 1) -> None:
        pass
