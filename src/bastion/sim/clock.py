"""The simulated "now" the month moves through, one clock for each part of the service that reads the time.

The simulator is a client: it never reaches into the service. Whoever starts the service in its own process
(`bastion sim month`, a test) creates a `SimClocks`, hands its clocks to the app when creating it
(`create_app(settings, overrides=...)`) and the same object to the simulator, which sets each clock while it
drives that part's routes. An unset clock reads the wall clock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime


class SimClock:
    """A callable "now": the time last `set`, or the wall clock when unset."""

    def __init__(self) -> None:
        self._at: datetime | None = None
        self._lock = threading.Lock()  # set by the simulator's thread, read by the server's

    def __call__(self) -> datetime:
        with self._lock:
            at = self._at
        return datetime.now(UTC) if at is None else at

    def set(self, at: datetime | None) -> None:
        """Move to `at`; None goes back to the wall clock."""
        with self._lock:
            self._at = at


@dataclass(frozen=True)
class SimClocks:
    """The clocks of the service's parts: set apart, as the month moves one part at a time (a part not being
    simulated, e.g. the keys routes while beginners trade with freshly signed requests, stays on the wall clock)."""

    protection: SimClock = field(default_factory=SimClock)
    diligence: SimClock = field(default_factory=SimClock)
    travel_rule: SimClock = field(default_factory=SimClock)
    keys: SimClock = field(default_factory=SimClock)
