"""OKX API v5 request signing, byte for byte.

sign = Base64(HMAC-SHA256(secret, timestamp + METHOD + requestPath + body)), where requestPath includes the
query string exactly as sent and body is the raw request body ("" for GET). The timestamp is ISO-8601 UTC with
milliseconds, e.g. 2020-12-08T09:08:57.715Z, and must be within 30 s of the server clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta

from bastion.keys.errors import AuthRejected, Rejection

# How far a request's timestamp may be from the server clock, either way (OKX: 30 seconds).
MAX_SKEW = timedelta(seconds=30)

_TIMESTAMP = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{3})Z", re.ASCII)


def format_timestamp(at: datetime) -> str:
    """`at` (aware) as OKX writes it: 2020-12-08T09:08:57.715Z."""
    at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def parse_timestamp(value: str) -> datetime:
    """Parse an OK-ACCESS-TIMESTAMP; anything but ISO-8601 UTC with milliseconds is refused (50112)."""
    m = _TIMESTAMP.fullmatch(value)
    if m is None:
        raise AuthRejected(Rejection.TIMESTAMP_INVALID)
    year, month, day, hour, minute, second, millis = (int(g) for g in m.groups())
    try:
        return datetime(year, month, day, hour, minute, second, millis * 1000, tzinfo=UTC)
    except ValueError:
        raise AuthRejected(Rejection.TIMESTAMP_INVALID) from None


def check_fresh(timestamp: datetime, now: datetime, max_skew: timedelta = MAX_SKEW) -> None:
    """Refuse (50102) a timestamp more than `max_skew` before or after `now`; exactly `max_skew` passes."""
    if abs(now - timestamp) > max_skew:
        raise AuthRejected(Rejection.TIMESTAMP_EXPIRED)


def prehash(timestamp: str, method: str, request_path: str, body: str) -> bytes:
    return (timestamp + method.upper() + request_path + body).encode("utf-8")


def sign(secret: str, timestamp: str, method: str, request_path: str, body: str = "") -> str:
    """The OK-ACCESS-SIGN value a client computes for this request."""
    mac = hmac.new(secret.encode("utf-8"), prehash(timestamp, method, request_path, body), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode("ascii")


def signature_matches(secret: str, signature: str, timestamp: str, method: str, request_path: str, body: str) -> bool:
    """True when `signature` signs exactly this request: `request_path` is the target as it came off the wire
    (path and query, percent-encoding and all). No other spelling of the same path is tried: OKX signs what the
    client sent, and accepting `/v1/%6beys` for a signature over `/v1/keys` (or `?a=1%26b%3D2` for `?a=1&b=2`)
    would let one signature stand for requests the signer never wrote.

    Constant-time: the expected and given signatures are compared with hmac.compare_digest.
    """
    given = signature.encode("ascii", "replace")
    expected = sign(secret, timestamp, method, request_path, body).encode("ascii")
    return hmac.compare_digest(expected, given)
