"""Rate limits per key and per user on each route, and the replay guard, on one `limits` storage.

In memory by default (one process); with BASTION_REDIS_URL set, every service process shares the same
counters, so running more workers does not multiply what a key is allowed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.storage import Storage, storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter

# OKX's usual private-endpoint limit is 20 requests per 2 seconds per key; a user with several keys gets a
# larger shared budget per route.
DEFAULT_PER_KEY = "20/2 seconds"
DEFAULT_PER_USER = "60/2 seconds"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    scope: str = ""  # "key" or "user": which limit was hit


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
        storage = storage_from_string(storage_uri, **options)
        if not isinstance(storage, Storage):
            raise ValueError(f"{storage_uri!r} names an async storage; the key limits need a sync one")
        self.storage = storage
        self._limiter = SlidingWindowCounterRateLimiter(self.storage)
        self.per_key: RateLimitItem = parse(per_key)
        self.per_user: RateLimitItem = parse(per_user)
        self._prefix = prefix

    def hit(self, key_id: str, user_id: str, route: str) -> Verdict:
        """Count one request; refused when either the key's or the user's budget on `route` is spent.

        The key limit is tested first and only a passing request is charged to the user, so one noisy key
        cannot burn its user's whole budget with requests that were refused anyway.
        """
        if not self._limiter.hit(self.per_key, "key", key_id, route):
            return Verdict(False, "key")
        if not self._limiter.hit(self.per_user, "user", user_id, route):
            return Verdict(False, "user")
        return Verdict(True)

    def first_use(self, signature: str, ttl_seconds: int) -> bool:
        """True the first time a signature is seen within `ttl_seconds`; False for a replay.

        A signed request is only valid for the 30 s timestamp window, so remembering its signature for a
        little longer than that catches every replay of it (in any process sharing the storage).
        """
        digest = hashlib.sha256(signature.encode("utf-8", "replace")).hexdigest()
        return self.storage.incr(f"{self._prefix}/replay/{digest}", ttl_seconds) == 1

    def reset(self) -> None:
        self.storage.reset()
