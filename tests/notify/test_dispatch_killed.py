"""`bastion notify dispatch` killed (SIGKILL) while the mail server holds a message it already has: the rows it
claimed come back after their lease, nothing is lost, and the one message that may go twice carries the same
Message-ID, so counted by Message-ID every alert arrived exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from notify_support import Clock, SmtpSink
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bastion.notify import contacts
from bastion.notify.dispatch import Dispatcher, DispatchPolicy, EmailChannel, message_id
from bastion.notify.models import OutboxRow
from bastion.notify.outbox import enqueue
from bastion.protection import anti_phishing

SECRET = "kill-test-secret-key-0123456789abcdef"
CLI = [sys.executable, "-c", "from bastion.cli import main; main()", "notify", "dispatch"]


def test_killed_dispatcher_loses_nothing_and_sends_nothing_twice(
    db_url: str, session_factory: sessionmaker[Session], smtp_sink: SmtpSink, clock: Clock, tmp_path: Path
) -> None:
    key = SECRET.encode()
    with session_factory() as s:
        anti_phishing.set_code(s, key, "u1", "Heron-7")
        contacts.set_email(s, key, "u1", "u1@users.example", clock())
        for i in range(6):
            enqueue(s, user_id="u1", kind="device_removed", data={"device": f"d{i}"}, dedupe_key=f"rm:{i}", now=clock())
        s.commit()
    smtp_sink.hold_at = 4  # the server has message 4 but never answers for it
    env = dict(
        os.environ,
        BASTION_SMTP_URL=smtp_sink.url,
        BASTION_SECRET_KEY=SECRET,
        BASTION_DATA_DIR=str(tmp_path / "data"),
        BASTION_SMTP_TIMEOUT_SECONDS="60",
    )
    proc = subprocess.Popen([*CLI, "--database-url", db_url], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert smtp_sink.held.wait(60), (
            "message 4 never arrived" if proc.poll() is None else proc.communicate()[1].decode()
        )
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    with session_factory() as s:
        rows = list(s.scalars(select(OutboxRow).where(OutboxRow.channel == "email").order_by(OutboxRow.id)))
    assert [r.status for r in rows] == ["delivered"] * 3 + ["pending"] * 3
    # claimed by the dead process: not due until its lease ends (no second dispatcher races it meanwhile)
    assert all(r.next_attempt_at > datetime.now(UTC) + timedelta(minutes=4) for r in rows[3:])

    smtp_sink.hold_at = None
    clock.now = max(r.next_attempt_at for r in rows)
    with Dispatcher(
        session_factory,
        key,
        email=EmailChannel(smtp_sink.url, "Bastion <alerts@bastion.example>", timeout=10),
        webhook=None,
        verify_url="https://bastion.example/v1/public/verify",
        policy=DispatchPolicy(),
        clock=clock,
    ) as d:
        assert d.run_until_idle().delivered == 3

    with session_factory() as s:
        rows = list(s.scalars(select(OutboxRow).where(OutboxRow.channel == "email").order_by(OutboxRow.id)))
    assert all(r.status == "delivered" for r in rows)
    ids = smtp_sink.by_message_id()
    expected = [message_id(r.id, r.dedupe_key, "bastion.example") for r in rows]
    assert set(ids) == set(expected)  # none lost
    assert [ids[m] for m in expected] == [1, 1, 1, 2, 1, 1]  # at least once; the repeat has the same id
    assert all("Anti-phishing code: Heron-7" in str(m.get_content()) for m in smtp_sink.messages)
