"""The dispatcher: claims due outbox rows, delivers them (email over SMTP, signed webhook), marks them.

Safety across processes. A claim is one short transaction: due rows (`pending`, `next_attempt_at <= now`) are
selected `FOR UPDATE SKIP LOCKED` on PostgreSQL (on SQLite every transaction is `BEGIN IMMEDIATE`, see
db/session.py, so claims are serialised), and each gets `attempts + 1`, the claimer's token and
`next_attempt_at = now + lease`. Nothing is held while the mail server or webhook is talked to. After the
channel accepted a row it is marked `delivered` (only by the claimer); after a failure it is due again after
an exponential backoff, and `failed` after `max_attempts`.

What this guarantees (docs/alerts.md): no alert is lost (a dispatcher or mail server that is down leaves rows
due; a dispatcher that dies mid-send leaves its claimed rows due once the lease ends). Delivery is at least
once, not exactly once: a crash after the mail server accepted a message but before the row was marked sends it
again. That second copy carries the same Message-ID / webhook id (derived from the outbox row), so the
receiver recognises it: mail stores and the notification service dedupe on that id.
"""

from __future__ import annotations

import hashlib
import json
import logging
import smtplib
import ssl
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from types import TracebackType
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from bastion.errors import InvalidInputError
from bastion.notify import contacts
from bastion.notify.models import OutboxRow
from bastion.notify.render import Alert, render
from bastion.notify.settings import NotifySettings
from bastion.notify.webhook import signed_headers

log = logging.getLogger("bastion.notify")

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class DispatchPolicy:
    backoff_base: timedelta = timedelta(seconds=30)
    backoff_max: timedelta = timedelta(hours=1)
    max_attempts: int = 25
    lease: timedelta = timedelta(minutes=5)
    batch_size: int = 50

    def backoff(self, attempts: int) -> timedelta:
        """Wait before the next try after `attempts` failed ones: base, 2 base, 4 base, ... up to max."""
        seconds = self.backoff_base.total_seconds() * 2 ** min(max(attempts - 1, 0), 40)
        return min(timedelta(seconds=seconds), self.backoff_max)


def message_id(row_id: int, dedupe_key: str, domain: str) -> str:
    """The email's Message-ID: the same for every attempt at one outbox row, different for any other row."""
    tag = hashlib.sha256(dedupe_key.encode()).hexdigest()[:16]
    return f"<alert-{row_id}.{tag}@{domain}>"


def webhook_alert_id(row_id: int, dedupe_key: str) -> str:
    return f"alert-{row_id}.{hashlib.sha256(dedupe_key.encode()).hexdigest()[:16]}"


# ------------------------------------------------------------------------------------------------ channels
class EmailChannel:
    """SMTP: smtp://[user:pass@]host[:port][?starttls=true] or smtps://... One connection per batch."""

    def __init__(self, url: str, sender: str, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
            raise InvalidInputError("smtp_url", "smtp://host[:port] or smtps://host[:port]")
        self.host = parts.hostname
        self.implicit_tls = parts.scheme == "smtps"
        self.port = parts.port or (465 if self.implicit_tls else 25)
        query = parse_qs(parts.query)
        self.starttls = query.get("starttls", ["false"])[0].lower() in {"1", "true", "yes"}
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.sender = sender
        address = parseaddr(sender)[1]
        if "@" not in address:
            raise InvalidInputError("alert_from", "needs an address, e.g. Bastion <alerts@bastion.example>")
        self.domain = address.rsplit("@", 1)[1]
        self.timeout = timeout
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.implicit_tls:
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.starttls:
                smtp.starttls(context=context)
        if self.username is not None:
            smtp.login(self.username, self.password or "")
        return smtp

    def build(self, row: OutboxRow, to: str, alert: Alert) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = to
        msg["Subject"] = alert.subject
        msg["Date"] = format_datetime(row.created_at)
        msg["Message-ID"] = message_id(row.id, row.dedupe_key, self.domain)
        msg["X-Bastion-Alert-Kind"] = row.kind
        msg.set_content(alert.body)
        return msg

    def send(self, msg: EmailMessage) -> None:
        if self._smtp is None:
            self._smtp = self._connect()
        try:
            self._smtp.send_message(msg)
        except Exception:
            self.close()  # the next message starts on a fresh connection
            raise

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except Exception:  # already gone; nothing to tidy
                smtp.close()


class WebhookChannel:
    """POST the alert as JSON, signed (webhook.py), to the exchange's notification service; 2xx = delivered."""

    def __init__(self, url: str, secret: bytes, timeout: float = 30.0, client: httpx.Client | None = None) -> None:
        if urlsplit(url).scheme not in {"http", "https"}:
            raise InvalidInputError("alert_webhook_url", "an http(s) URL")
        if len(secret) < 16:
            raise InvalidInputError("alert_webhook_secret", "at least 16 characters")
        self.url = url
        self.secret = secret
        self._client = client or httpx.Client(timeout=timeout)

    def body(self, row: OutboxRow, alert: Alert) -> tuple[str, bytes]:
        alert_id = webhook_alert_id(row.id, row.dedupe_key)
        payload = {
            "id": alert_id,
            "user_id": row.user_id,
            "kind": row.kind,
            "data": json.loads(row.data),
            "created_at": row.created_at.isoformat(),
            "subject": alert.subject,
            "text": alert.body,
        }
        return alert_id, json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()

    def send(self, alert_id: str, body: bytes, now: datetime) -> None:
        headers = signed_headers(self.secret, int(now.timestamp()), body, alert_id)
        response = self._client.post(self.url, content=body, headers=headers)
        if not 200 <= response.status_code < 300:
            raise RuntimeError(f"webhook answered {response.status_code}")

    def close(self) -> None:
        self._client.close()


# ---------------------------------------------------------------------------------------------- dispatcher
@dataclass
class DispatchReport:
    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)


class Dispatcher:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        key: bytes,
        *,
        email: EmailChannel | None,
        webhook: WebhookChannel | None,
        verify_url: str,
        policy: DispatchPolicy | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.sessions = sessions
        self.key = key
        self.email = email
        self.webhook = webhook
        self.verify_url = verify_url
        self.policy = policy or DispatchPolicy()
        self.clock = clock or (lambda: datetime.now(UTC))

    def __enter__(self) -> Dispatcher:
        return self

    def __exit__(self, *_exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]) -> None:
        self.close()

    def close(self) -> None:
        if self.email is not None:
            self.email.close()
        if self.webhook is not None:
            self.webhook.close()

    @property
    def channels(self) -> list[str]:
        return [name for name, ch in (("email", self.email), ("webhook", self.webhook)) if ch is not None]

    def claim(self, now: datetime, token: str) -> list[OutboxRow]:
        if not self.channels:
            return []
        with self.sessions() as s:
            rows = list(
                s.scalars(
                    select(OutboxRow)
                    .where(
                        OutboxRow.status == "pending",
                        OutboxRow.next_attempt_at <= now,
                        OutboxRow.channel.in_(self.channels),
                    )
                    .order_by(OutboxRow.next_attempt_at, OutboxRow.id)
                    .limit(self.policy.batch_size)
                    .with_for_update(skip_locked=True)
                )
            )
            for row in rows:
                row.attempts += 1
                row.claimed_by = token
                row.next_attempt_at = now + self.policy.lease
            s.commit()
        return rows

    def _mark(self, row: OutboxRow, token: str, values: dict[str, object]) -> None:
        with self.sessions() as s:
            # Only the claimer marks: a row whose lease ran out was re-claimed, and that claimer owns it now.
            s.execute(update(OutboxRow).where(OutboxRow.id == row.id, OutboxRow.claimed_by == token).values(**values))
            s.commit()

    def _deliver(self, row: OutboxRow, now: datetime) -> str:
        """Send one row; 'delivered' or 'skipped' (no address), or raises if the channel did not take it."""
        data: dict[str, str] = json.loads(row.data)
        with self.sessions() as s:
            alert = render(s, self.key, user_id=row.user_id, kind=row.kind, data=data, verify_url=self.verify_url)
            to = contacts.get_email(s, self.key, row.user_id) if row.channel == "email" else None
            s.rollback()
        if row.channel == "email":
            assert self.email is not None
            if to is None:
                return "skipped"
            self.email.send(self.email.build(row, to, alert))
        else:
            assert self.webhook is not None
            alert_id, body = self.webhook.body(row, alert)
            self.webhook.send(alert_id, body, now)
        return "delivered"

    def run_once(self) -> DispatchReport:
        """Claim one batch of due rows and deliver it; returns what happened."""
        report = DispatchReport()
        token = str(uuid.uuid4())
        rows = self.claim(self.clock(), token)
        report.claimed = len(rows)
        for row in rows:
            try:
                outcome = self._deliver(row, self.clock())
            except Exception as exc:  # any failure of a channel: the row waits and is tried again
                now = self.clock()
                error = f"{type(exc).__name__}: {exc}"[:500]
                report.errors.append(error)
                if row.attempts >= self.policy.max_attempts:
                    report.failed += 1
                    self._mark(row, token, {"status": "failed", "last_error": error})
                    log.error("alert %s (%s) failed for good: %s", row.id, row.channel, error)
                else:
                    report.retried += 1
                    retry_at = now + self.policy.backoff(row.attempts)
                    self._mark(row, token, {"next_attempt_at": retry_at, "last_error": error})
                    log.warning("alert %s (%s) not delivered, retry at %s: %s", row.id, row.channel, retry_at, error)
                continue
            now = self.clock()
            if outcome == "skipped":
                report.skipped += 1
                self._mark(row, token, {"status": "skipped", "last_error": "no email address on file"})
            else:
                report.delivered += 1
                self._mark(row, token, {"status": "delivered", "delivered_at": now, "last_error": None})
        return report

    def run_until_idle(self, max_batches: int = 1000) -> DispatchReport:
        """Batches until nothing is due now (or a batch delivered nothing: the rest waits for its backoff)."""
        total = DispatchReport()
        for _ in range(max_batches):
            r = self.run_once()
            for name in ("claimed", "delivered", "retried", "failed", "skipped"):
                setattr(total, name, getattr(total, name) + getattr(r, name))
            total.errors.extend(r.errors)
            if r.claimed == 0 or r.delivered + r.skipped == 0:
                break
        return total


def requeue_failed(session: Session, now: datetime, ids: Iterable[int] | None = None) -> int:
    """Put `failed` rows back in line (after fixing what made them fail); returns how many."""
    stmt = update(OutboxRow).where(OutboxRow.status == "failed")
    if ids is not None:
        stmt = stmt.where(OutboxRow.id.in_(list(ids)))
    result = session.execute(stmt.values(status="pending", attempts=0, next_attempt_at=now, claimed_by=None))
    return int(getattr(result, "rowcount", 0) or 0)


def from_settings(
    settings: NotifySettings, sessions: sessionmaker[Session], key: bytes, clock: Clock | None = None
) -> Dispatcher:
    """The dispatcher the settings describe: only the channels that are configured (the others' rows wait)."""
    email = (
        EmailChannel(settings.smtp_url.get_secret_value(), settings.alert_from, settings.smtp_timeout_seconds)
        if settings.smtp_url is not None and settings.smtp_url.get_secret_value()
        else None
    )
    webhook = None
    if settings.alert_webhook_url:
        if settings.alert_webhook_secret is None:
            raise InvalidInputError("alert_webhook_secret", "required with BASTION_ALERT_WEBHOOK_URL")
        webhook = WebhookChannel(
            settings.alert_webhook_url,
            settings.alert_webhook_secret.get_secret_value().encode(),
            settings.smtp_timeout_seconds,
        )
    policy = DispatchPolicy(
        backoff_base=timedelta(seconds=settings.notify_backoff_base_seconds),
        backoff_max=timedelta(seconds=settings.notify_backoff_max_seconds),
        max_attempts=settings.notify_max_attempts,
        lease=timedelta(seconds=settings.notify_lease_seconds),
        batch_size=settings.notify_batch_size,
    )
    return Dispatcher(
        sessions, key, email=email, webhook=webhook, verify_url=settings.alert_verify_url, policy=policy, clock=clock
    )


def status_counts(session: Session) -> dict[tuple[str, str], int]:
    """(channel, status) -> rows, for `bastion notify status` and the operator route."""
    rows = session.execute(
        select(OutboxRow.channel, OutboxRow.status, func.count()).group_by(OutboxRow.channel, OutboxRow.status)
    )
    return {(c, s): int(n) for c, s, n in rows}
