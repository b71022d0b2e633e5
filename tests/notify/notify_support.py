"""A real local SMTP server (aiosmtpd) and a real local webhook receiver (an HTTP server thread) that record
what arrives, counted by Message-ID / alert id as a mail store or notification service would dedupe."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from bastion.notify.webhook import WebhookRejected, WebhookVerifier
from bastion.service.testing import free_port

WEBHOOK_SECRET = b"webhook-secret-0123456789abcdef"


class SmtpSink:
    """Records every message the server accepted. `hold_at = n`: the n-th message is recorded (the server has
    it) but its 250 reply never comes, until the test kills the sender or stops the server."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.hold_at: int | None = None
        self.held = threading.Event()
        self.port = free_port()
        self.controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.content, policy=default)
        assert isinstance(msg, EmailMessage)
        with self.lock:
            self.messages.append(msg)
            n = len(self.messages)
            self.changed.notify_all()
        if self.hold_at == n:
            self.held.set()
            await asyncio.Event().wait()  # never answers: the sender dies or the server stops first
        return "250 Message accepted for delivery"

    def start(self) -> None:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def wait_for(self, n: int, timeout: float = 20) -> bool:
        """Until `n` messages arrived (woken by each arrival, not polling a clock)."""
        with self.changed:
            return self.changed.wait_for(lambda: len(self.messages) >= n, timeout)

    def by_message_id(self) -> Counter[str]:
        with self.lock:
            return Counter(str(m["Message-ID"]) for m in self.messages)


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


class Clock:
    """Injected time: starts at the wall clock's now, moves only when the test says."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture
def clock() -> Clock:
    return Clock()


class WebhookSink:
    """The exchange's notification service: verifies each request, dedupes on the alert id."""

    def __init__(self, clock: Any = time.time) -> None:
        self.verifier = WebhookVerifier(WEBHOOK_SECRET, window_seconds=300)
        self.clock = clock
        self.accepted: list[dict[str, Any]] = []
        self.raw: list[tuple[bytes, dict[str, str]]] = []  # every request as it came, for replaying it
        self.duplicates: list[str] = []
        self.rejected: list[str] = []
        self.status_override: int | None = None
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                sink.raw.append((body, dict(self.headers.items())))
                if sink.status_override is not None:
                    self.send_response(sink.status_override)
                    self.end_headers()
                    return
                try:
                    got = sink.verifier.accept(body, dict(self.headers.items()), sink.clock())
                except WebhookRejected as exc:
                    sink.rejected.append(exc.reason)
                    self.send_response(401)
                    self.end_headers()
                    return
                (sink.duplicates.append(got.alert["id"]) if got.duplicate else sink.accepted.append(got.alert))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/bastion"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook_sink(clock: Clock) -> Iterator[WebhookSink]:
    sink = WebhookSink(lambda: clock().timestamp())
    yield sink
    sink.close()
