"""The signed webhook to the exchange's notification service, and the check its receiver runs.

Signature: HMAC-SHA256 with the shared secret over `<timestamp>.` followed by the exact body bytes, sent as

    X-Bastion-Timestamp: 1767225600
    X-Bastion-Signature: v1=<hex>
    Idempotency-Key: alert-<outbox id>      (also the body's "id")

The receiver (`WebhookVerifier.accept`) refuses a bad signature, a timestamp outside the replay window, and a
body that is not an alert; and it answers a second delivery of the same alert id as a duplicate, so a request
replayed inside the window, or a retry after a lost acknowledgement, is not acted on twice.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

TIMESTAMP_HEADER = "X-Bastion-Timestamp"
SIGNATURE_HEADER = "X-Bastion-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"


class WebhookRejected(Exception):
    """The request is not a genuine, fresh alert from Bastion; `reason` says which check failed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def signed_headers(secret: bytes, timestamp: int, body: bytes, alert_id: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
        IDEMPOTENCY_HEADER: alert_id,
    }


@dataclass(frozen=True)
class Received:
    alert: dict[str, Any]
    duplicate: bool  # already accepted once: acknowledge, do not act again


class WebhookVerifier:
    """The receiver's side. `seen` remembers accepted alert ids (in memory here, bounded to `remember` ids;
    a production receiver keeps them in its own database under a unique key, for longer than Bastion retries).
    """

    def __init__(self, secret: bytes, window_seconds: int = 300, remember: int = 100_000) -> None:
        self._secret = secret
        self._window = window_seconds
        self._remember = remember
        self._seen: OrderedDict[str, None] = OrderedDict()

    def accept(self, body: bytes, headers: dict[str, str], now: float) -> Received:
        lower = {k.lower(): v for k, v in headers.items()}
        ts_text = lower.get(TIMESTAMP_HEADER.lower(), "")
        sig = lower.get(SIGNATURE_HEADER.lower(), "")
        if not ts_text.isdigit() or len(ts_text) > 12:
            raise WebhookRejected("timestamp missing or malformed")
        expected = signature(self._secret, int(ts_text), body)
        # Signature first, in constant time: a forged request learns nothing from which check failed later.
        if not hmac.compare_digest(expected.encode(), sig.encode()):
            raise WebhookRejected("bad signature")
        if abs(now - int(ts_text)) > self._window:
            raise WebhookRejected("timestamp outside the replay window")
        try:
            alert = json.loads(body)
        except ValueError:
            raise WebhookRejected("body is not JSON") from None
        if not isinstance(alert, dict) or not isinstance(alert.get("id"), str):
            raise WebhookRejected("body has no alert id")
        alert_id: str = alert["id"]
        if alert_id in self._seen:
            return Received(alert=alert, duplicate=True)
        self._seen[alert_id] = None
        if len(self._seen) > self._remember:
            self._seen.popitem(last=False)
        return Received(alert=alert, duplicate=False)
