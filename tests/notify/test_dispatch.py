"""Delivery to a real local SMTP server (aiosmtpd) and a real webhook receiver: the email carries the
anti-phishing code, nothing is lost while the mail server is down or stops mid-delivery, nothing is sent twice
(the receiver counts by Message-ID), and concurrent dispatchers never deliver one row twice."""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
from notify_support import WEBHOOK_SECRET, Clock, SmtpSink, WebhookSink
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bastion.notify import contacts
from bastion.notify.dispatch import Dispatcher, DispatchPolicy, EmailChannel, WebhookChannel, message_id
from bastion.notify.models import OutboxRow
from bastion.notify.outbox import enqueue
from bastion.protection import anti_phishing

KEY = b"k" * 32
VERIFY = "https://bastion.example/v1/public/verify"


def _setup_user(sessions: sessionmaker[Session], uid: str, code: str | None = "Falcon-42") -> None:
    with sessions() as s:
        if code:
            anti_phishing.set_code(s, KEY, uid, code)
        contacts.set_email(s, KEY, uid, f"{uid}@users.example", datetime.now(UTC))
        s.commit()


def _enqueue(sessions: sessionmaker[Session], clock: Clock, n: int, kind: str = "account_frozen") -> None:
    with sessions() as s:
        for i in range(n):
            enqueue(s, user_id="u1", kind=kind, data={"by": "user", "n": str(i)}, dedupe_key=f"ev:{i}", now=clock())
        s.commit()


def _dispatcher(
    sessions: sessionmaker[Session],
    clock: Clock,
    smtp: SmtpSink | None,
    hook: WebhookSink | None = None,
    batch: int = 50,
) -> Dispatcher:
    return Dispatcher(
        sessions,
        KEY,
        email=EmailChannel(smtp.url, "Bastion <alerts@bastion.example>", timeout=10) if smtp else None,
        webhook=WebhookChannel(hook.url, WEBHOOK_SECRET, timeout=10) if hook else None,
        verify_url=VERIFY,
        policy=DispatchPolicy(batch_size=batch),
        clock=clock,
    )


def _text(msg: EmailMessage) -> str:
    return str(msg.get_content()).replace("\r\n", "\n")  # as read, without the wire's CRLF


def _rows(sessions: sessionmaker[Session], channel: str = "email") -> list[OutboxRow]:
    with sessions() as s:
        return list(s.scalars(select(OutboxRow).where(OutboxRow.channel == channel).order_by(OutboxRow.id)))


def test_email_and_webhook_arrive_with_the_anti_phishing_code(
    session_factory: sessionmaker[Session], smtp_sink: SmtpSink, webhook_sink: WebhookSink, clock: Clock
) -> None:
    _setup_user(session_factory, "u1")
    _enqueue(session_factory, clock, 1)
    with _dispatcher(session_factory, clock, smtp_sink, webhook_sink) as d:
        report = d.run_until_idle()
        assert (report.delivered, report.retried) == (2, 0)
        assert d.run_until_idle().claimed == 0  # delivered rows are never claimed again
    [msg] = smtp_sink.messages
    assert msg["To"] == "u1@users.example"
    assert msg["Subject"] == "[Bastion] Your account is frozen"
    body = _text(msg)
    assert body.startswith("Anti-phishing code: Falcon-42\n")
    assert "Your account was frozen at your request" in body
    assert f"{VERIFY}?value=" in body  # the scam warning links to the official-channel check
    [row] = _rows(session_factory)
    assert msg["Message-ID"] == message_id(row.id, "ev:0", "bastion.example")
    assert row.status == "delivered" and row.attempts == 1 and row.delivered_at == clock()
    [alert] = webhook_sink.accepted
    assert alert["kind"] == "account_frozen" and alert["user_id"] == "u1"
    assert alert["text"].startswith("Anti-phishing code: Falcon-42\n")
    assert webhook_sink.rejected == [] and webhook_sink.duplicates == []


def test_unknown_kind_and_missing_fields_use_the_generic_template(
    session_factory: sessionmaker[Session], smtp_sink: SmtpSink, clock: Clock
) -> None:
    _setup_user(session_factory, "u1", code=None)
    with session_factory() as s:
        enqueue(s, user_id="u1", kind="vault_opened", data={"vault": "v9"}, dedupe_key="a", now=clock())
        enqueue(s, user_id="u1", kind="new_device", data={"ip": "203.0.113.9"}, dedupe_key="b", now=clock())
        s.commit()
    with _dispatcher(session_factory, clock, smtp_sink) as d:
        assert d.run_until_idle().delivered == 2
    first, second = smtp_sink.messages
    assert first["Subject"] == "[Bastion] Vault opened" and "vault: v9" in _text(first)
    # new_device needs `device`: rather than drop the alert, it goes out with its data listed
    assert second["Subject"] == "[Bastion] New device" and "ip: 203.0.113.9" in _text(second)
    assert _text(first).startswith("Tip: set an anti-phishing code")


def test_no_address_is_skipped_not_retried(
    session_factory: sessionmaker[Session], smtp_sink: SmtpSink, clock: Clock
) -> None:
    _enqueue(session_factory, clock, 1)  # u1 has no contact
    with _dispatcher(session_factory, clock, smtp_sink) as d:
        assert d.run_until_idle().skipped == 1
    assert [r.status for r in _rows(session_factory)] == ["skipped"] and smtp_sink.messages == []


def test_mail_server_down_loses_nothing_and_backs_off(
    session_factory: sessionmaker[Session], smtp_sink: SmtpSink, clock: Clock
) -> None:
    _setup_user(session_factory, "u1")
    _enqueue(session_factory, clock, 2)
    smtp_sink.stop()
    with _dispatcher(session_factory, clock, smtp_sink) as d:
        waits = []
        for _ in range(3):
            report = d.run_until_idle()
            assert report.retried == 2 and report.delivered == 0
            row = _rows(session_factory)[0]
            waits.append(row.next_attempt_at - clock())
            assert d.run_until_idle().claimed == 0  # not due again before its backoff
            clock.now = row.next_attempt_at
        assert waits == [timedelta(seconds=30), timedelta(seconds=60), timedelta(seconds=120)]
        smtp_sink.start()
        assert d.run_until_idle().delivered == 2
    assert sorted(smtp_sink.by_message_id().values()) == [1, 1]
    assert all(r.status == "delivered" and r.attempts == 4 for r in _rows(session_factory))


def test_gives_up_after_max_attempts_and_can_be_requeued(
    session_factory: sessionmaker[Session], smtp_sink: SmtpSink, clock: Clock
) -> None:
    from bastion.notify.dispatch import requeue_failed

    _setup_user(session_factory, "u1")
    _enqueue(session_factory, clock, 1)
    smtp_sink.stop()
    d = _dispatcher(session_factory, clock, smtp_sink)
    d.policy = DispatchPolicy(max_attempts=2)
    d.run_until_idle()
    clock.advance(hours=1)
    assert d.run_until_idle().failed == 1
    assert _rows(session_factory)[0].status == "failed"
    with session_factory() as s:
        assert requeue_failed(s, clock()) == 2 - 1  # the webhook row was never due (no webhook channel)
        s.commit()
    smtp_sink.start()
    assert d.run_until_idle().delivered == 1
    d.close()


def test_mail_server_stopped_mid_delivery_loses_none_and_ids_dedupe(
    session_factory: sessionmaker[Session], smtp_sink: SmtpSink, clock: Clock
) -> None:
    """The server takes message 3 but stops before answering: the dispatcher cannot know it arrived, so it is
    sent again later with the same Message-ID; counted by Message-ID, every alert arrived exactly once."""
    _setup_user(session_factory, "u1")
    _enqueue(session_factory, clock, 5)
    smtp_sink.hold_at = 3
    d = _dispatcher(session_factory, clock, smtp_sink)
    worker = threading.Thread(target=d.run_once)
    worker.start()
    assert smtp_sink.held.wait(20)
    smtp_sink.stop()
    worker.join(20)
    assert not worker.is_alive()
    assert [r.status for r in _rows(session_factory)] == ["delivered"] * 2 + ["pending"] * 3
    smtp_sink.hold_at = None
    smtp_sink.start()
    clock.advance(minutes=1)
    assert d.run_until_idle().delivered == 3
    d.close()
    ids = smtp_sink.by_message_id()
    expected = {message_id(r.id, r.dedupe_key, "bastion.example") for r in _rows(session_factory)}
    assert set(ids) == expected  # all five arrived
    assert sum(ids.values()) == 6 and ids[message_id(_rows(session_factory)[2].id, "ev:2", "bastion.example")] == 2
    assert all(r.status == "delivered" for r in _rows(session_factory))


def test_concurrent_dispatchers_never_deliver_a_row_twice(
    session_factory: sessionmaker[Session], smtp_sink: SmtpSink, clock: Clock
) -> None:
    _setup_user(session_factory, "u1")
    _enqueue(session_factory, clock, 24)
    dispatchers = [_dispatcher(session_factory, clock, smtp_sink, batch=3) for _ in range(3)]
    threads = [threading.Thread(target=d.run_until_idle) for d in dispatchers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for d in dispatchers:
        d.close()
    ids = smtp_sink.by_message_id()
    assert len(ids) == 24 and set(ids.values()) == {1}  # every row once, none twice (claims never overlap)
    assert all(r.status == "delivered" and r.attempts == 1 for r in _rows(session_factory))


def test_webhook_signature_replay_and_tampering(
    session_factory: sessionmaker[Session], webhook_sink: WebhookSink, clock: Clock
) -> None:
    import httpx

    _setup_user(session_factory, "u1")
    _enqueue(session_factory, clock, 1)
    with _dispatcher(session_factory, clock, None, webhook_sink) as d:
        assert d.run_until_idle().delivered == 1
    assert len(webhook_sink.accepted) == 1
    body, headers = webhook_sink.raw[0]
    send = {k: v for k, v in headers.items() if k.lower().startswith("x-bastion") or k == "Content-Type"}
    with httpx.Client() as client:
        # the same signed request again inside the window: recognised by its id, acknowledged, not acted on
        assert client.post(webhook_sink.url, content=body, headers=send).status_code == 200
        assert webhook_sink.duplicates == [webhook_sink.accepted[0]["id"]]
        tampered = body.replace(b'"u1"', b'"u2"')
        assert tampered != body
        assert client.post(webhook_sink.url, content=tampered, headers=send).status_code == 401
        clock.advance(seconds=301)  # the captured request replayed after the window
        assert client.post(webhook_sink.url, content=body, headers=send).status_code == 401
        forged = dict(send, **{"X-Bastion-Signature": "v1=" + "0" * 64})
        assert client.post(webhook_sink.url, content=body, headers=forged).status_code == 401
    assert webhook_sink.rejected == ["bad signature", "timestamp outside the replay window", "bad signature"]
    assert len(webhook_sink.accepted) == 1
    assert re.fullmatch(r"alert-\d+\.[0-9a-f]{16}", json.loads(body)["id"])


def test_webhook_receiver_down_then_up(
    session_factory: sessionmaker[Session], webhook_sink: WebhookSink, clock: Clock
) -> None:
    _setup_user(session_factory, "u1")
    _enqueue(session_factory, clock, 1)
    webhook_sink.status_override = 503
    with _dispatcher(session_factory, clock, None, webhook_sink) as d:
        assert d.run_until_idle().retried == 1
        webhook_sink.status_override = None
        clock.advance(seconds=30)
        assert d.run_until_idle().delivered == 1
    assert len(webhook_sink.accepted) == 1


@pytest.mark.parametrize("bad", ["ftp://x", "smtp://"])
def test_bad_smtp_url_names_the_setting(bad: str) -> None:
    from bastion.errors import InvalidInputError

    with pytest.raises(InvalidInputError) as exc:
        EmailChannel(bad, "Bastion <alerts@bastion.example>")
    assert exc.value.field == "smtp_url"
