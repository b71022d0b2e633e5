"""Rate limits per key and per user on each route, and the replay guard, on one `limits` storage.

In memory by default (one process); with BASTION_REDIS_URL set, every service process shares the same
counters, so running more workers does not multiply what a key is allowed.

In memory, the counters are `MemoryCounters` (the semantics of `limits`' memory storage at a fraction of its
cost) and the replay guard is its own structure (`LocalReplayGuard`): it holds one entry per accepted request
for a minute (120,000 at 2,000 requests/s), and `limits`' memory storage walks all of its keys every 10 ms to
expire them, which at that size costs more than the requests themselves. With Redis, `limits` as before.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import timedelta

from limits import RateLimitItem, parse
from limits.storage import Storage, storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter

# OKX's usual private-endpoint limit is 20 requests per 2 seconds per key; a user with several keys gets a
# larger shared budget per route.
DEFAULT_PER_KEY = "20/2 seconds"
DEFAULT_PER_USER = "60/2 seconds"


# Wrong passphrases: this many within the window freeze the key for the lock time (50100).
PASSPHRASE_MAX_FAILURES = 5
PASSPHRASE_WINDOW = timedelta(minutes=15)
PASSPHRASE_LOCK = timedelta(minutes=30)
# A slot of a passphrase check in flight lives at most this long (an argon2 check takes well under a second).
PASSPHRASE_INFLIGHT_TTL = 60


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    scope: str = ""  # "key" or "user": which limit was hit


class MemoryCounters:
    """The in-process counters: `limits`' memory storage, same semantics (a counter expires a fixed time after
    the increment that created it; the sliding window counter weighs the previous window by the share of it
    still inside the window), without what made it cost more than the rest of authentication: a wrapper and a
    key string built per call, and a timer thread restarted every 10 ms that walks every key. Expired counters
    are dropped when read, and all of them at most every `SWEEP_SECONDS`. One lock: each operation is atomic."""

    SWEEP_SECONDS = 10.0

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._counts: dict[Hashable, int] = {}
        self._expires: dict[Hashable, float] = {}
        self._lock = threading.Lock()
        self._next_sweep = clock() + self.SWEEP_SECONDS

    def _live(self, key: Hashable, now: float) -> int:
        if self._expires.get(key, 0.0) <= now:
            self._counts.pop(key, None)
            self._expires.pop(key, None)
            return 0
        return self._counts.get(key, 0)

    def _incr(self, key: Hashable, expiry: float, amount: int, now: float) -> int:
        value = self._live(key, now) + amount
        self._counts[key] = value
        if value == amount:
            self._expires[key] = now + expiry
        if now >= self._next_sweep:
            self._next_sweep = now + self.SWEEP_SECONDS
            for k in [k for k, at in self._expires.items() if at <= now]:
                self._counts.pop(k, None)
                del self._expires[k]
        return value

    def incr(self, key: Hashable, expiry: float, amount: int = 1) -> int:
        with self._lock:
            return self._incr(key, expiry, amount, self._clock())

    def get(self, key: Hashable) -> int:
        with self._lock:
            return self._live(key, self._clock())

    def clear(self, key: Hashable) -> None:
        with self._lock:
            self._counts.pop(key, None)
            self._expires.pop(key, None)

    def acquire_sliding_window_entry(self, key: Hashable, limit: int, expiry: int, amount: int = 1) -> bool:
        """`limits`' MemoryStorage.acquire_sliding_window_entry, as one atomic step."""
        if amount > limit:
            return False
        with self._lock:
            now = self._clock()
            previous, current = (key, int((now - expiry) / expiry)), (key, int(now / expiry))
            previous_count = self._live(previous, now)
            current_count = self._live(current, now)
            previous_ttl = 0.0 if previous_count == 0 else (1 - (((now - expiry) / expiry) % 1)) * expiry
            if math.floor(previous_count * previous_ttl / expiry + current_count) + amount > limit:
                return False
            self._incr(current, 2 * expiry, amount, now)
            return True

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            self._expires.clear()


class LocalReplayGuard:
    """Signatures seen in this process, each forgotten `ttl` seconds after it was first seen, on the caller's clock.

    The clock is the one the authenticator judges a timestamp's freshness by (its `now`, the wall clock in the
    service), never a clock of its own: were the guard to forget on `time.monotonic()` while freshness is judged
    on the wall clock, a wall clock stepped back (an NTP step, a VM resumed) would make a remembered request fresh
    again after the guard had forgotten it. On one clock, a request first seen at `t` with |t - ts| <= skew can only
    be fresh again while `now <= ts + skew <= t + 2 skew`, which is before it is forgotten; a clock that goes back
    only keeps entries longer. Expired ones leave from the front of an insertion-ordered queue as new ones arrive:
    O(1) amortized, no timer."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._order: deque[tuple[float, str]] = deque()
        self._lock = threading.Lock()

    def first_use(self, digest: str, ttl_seconds: int, now: float) -> bool:
        with self._lock:
            order, seen = self._order, self._seen
            while order and order[0][0] <= now:
                expires, old = order.popleft()
                if seen.get(old) == expires:
                    del seen[old]
            known = seen.get(digest)
            if known is not None and known > now:
                return False
            expires = now + ttl_seconds
            seen[digest] = expires
            order.append((expires, digest))
            return True

    def reset(self) -> None:
        with self._lock:
            self._seen.clear()
            self._order.clear()


class KeyRateLimits:
    def __init__(
        self,
        storage_uri: str = "memory://",
        *,
        per_key: str = DEFAULT_PER_KEY,
        per_user: str = DEFAULT_PER_USER,
        prefix: str = "bastion-keys",
    ) -> None:
        options: dict[str, str] = {}
        if storage_uri.startswith(("redis://", "rediss://", "redis+unix://")):
            options["key_prefix"] = prefix
        self.per_key: RateLimitItem = parse(per_key)
        self.per_user: RateLimitItem = parse(per_user)
        self._prefix = prefix
        self.storage: Storage | MemoryCounters
        self._local_replay: LocalReplayGuard | None = None
        self._limiter: SlidingWindowCounterRateLimiter | None = None
        # In memory: every counter in this process, checked without blocking (the event loop may do it).
        self.in_memory = storage_uri.startswith("memory://")
        if self.in_memory:
            self.storage = MemoryCounters()
            self._local_replay = LocalReplayGuard()
            return
        storage = storage_from_string(storage_uri, **options)
        if not isinstance(storage, Storage):
            raise ValueError(f"{storage_uri!r} names an async storage; the key limits need a sync one")
        self.storage = storage
        self._limiter = SlidingWindowCounterRateLimiter(storage)

    def hit(self, key_id: str, user_id: str, route: str) -> Verdict:
        """Count one request; refused when either the key's or the user's budget on `route` is spent.

        The key limit is tested first and only a passing request is charged to the user, so one noisy key
        cannot burn its user's whole budget with requests that were refused anyway.
        """
        if not self._hit(self.per_key, "key", key_id, route):
            return Verdict(False, "key")
        if not self._hit(self.per_user, "user", user_id, route):
            return Verdict(False, "user")
        return Verdict(True)

    def _hit(self, item: RateLimitItem, scope: str, who: str, route: str) -> bool:
        if self._limiter is not None:
            return self._limiter.hit(item, scope, who, route)
        assert isinstance(self.storage, MemoryCounters)
        return self.storage.acquire_sliding_window_entry((scope, who, route), item.amount, item.get_expiry())

    def first_use(self, signature: str, ttl_seconds: int, now: float | None = None) -> bool:
        """True the first time a signature is seen within `ttl_seconds`; False for a replay.

        `now` is the authenticator's clock (seconds since the epoch), the one it judged the timestamp fresh by;
        the in-process guard forgets on it (see `LocalReplayGuard`). Redis expires on its own clock: there the
        guard assumes the service's and Redis's clocks are not stepped back by more than the skew (docs/keys.md).

        A signed request is only valid for the 30 s timestamp window, so remembering its signature for a
        little longer than that catches every replay of it (in any process sharing the storage).
        """
        digest = hashlib.sha256(signature.encode("utf-8", "replace")).hexdigest()
        if self._local_replay is not None:
            return self._local_replay.first_use(digest, ttl_seconds, time.time() if now is None else now)
        return self.storage.incr(f"{self._prefix}/replay/{digest}", ttl_seconds) == 1

    def passphrase_failed(self, key_id: str) -> int:
        """Count one wrong passphrase for the key; at `PASSPHRASE_MAX_FAILURES` within the window the key is
        frozen for `PASSPHRASE_LOCK` (in every process sharing the storage). Returns the count so far.

        A right passphrase does not reset the count: someone holding a stolen secret could otherwise keep
        guessing between the owner's own requests."""
        failures = self.storage.incr(f"{self._prefix}/passfail/{key_id}", int(PASSPHRASE_WINDOW.total_seconds()))
        if failures >= PASSPHRASE_MAX_FAILURES:
            lock = f"{self._prefix}/frozen/{key_id}"
            if self.storage.get(lock) == 0:
                self.storage.incr(lock, int(PASSPHRASE_LOCK.total_seconds()))
            self.storage.clear(f"{self._prefix}/passfail/{key_id}")
        return failures

    def passphrase_locked(self, key_id: str) -> bool:
        """True while the key is frozen for wrong passphrases."""
        return self.storage.get(f"{self._prefix}/frozen/{key_id}") > 0

    def begin_passphrase_check(self, key_id: str) -> str:
        """Reserve one passphrase check for the key BEFORE running it: "" to go ahead, "frozen" while the key is
        frozen, "busy" when the checks in flight plus the failures so far would exceed `PASSPHRASE_MAX_FAILURES`.

        Counting only after a check fails let a burst of concurrent guesses all pass the frozen test and all be
        checked (19 of 19 on PostgreSQL with two workers): the slot is what bounds the guesses per window to
        `PASSPHRASE_MAX_FAILURES` whatever the concurrency. Every "" must be closed by `end_passphrase_check`."""
        inflight = self.storage.incr(self._inflight(key_id), PASSPHRASE_INFLIGHT_TTL)
        failures = self.storage.get(f"{self._prefix}/passfail/{key_id}")
        # Read after the failures: `passphrase_failed` sets the freeze before it clears the count, so a count
        # seen cleared is always followed here by the freeze seen set.
        if self.passphrase_locked(key_id):
            self._release(key_id)
            return "frozen"
        if failures + inflight > PASSPHRASE_MAX_FAILURES:
            self._release(key_id)
            return "busy"
        return ""

    def end_passphrase_check(self, key_id: str, ok: bool) -> None:
        """Close a slot from `begin_passphrase_check`; a wrong passphrase is counted before the slot is freed, so
        failures plus checks in flight never dip below what has really been tried."""
        try:
            if not ok:
                self.passphrase_failed(key_id)
        finally:
            self._release(key_id)

    def _inflight(self, key_id: str) -> str:
        return f"{self._prefix}/passinflight/{key_id}"

    def _release(self, key_id: str) -> None:
        self.storage.incr(self._inflight(key_id), PASSPHRASE_INFLIGHT_TTL, -1)

    def reset(self) -> None:
        self.storage.reset()
        if self._local_replay is not None:
            self._local_replay.reset()
