"""Refused signed requests written in batches (`keys/rejectlog.py`): none lost without a trace when the database
refuses a batch (real PostgreSQL: the refusal is a lock timeout)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

CONFIG = "/api/v5/account/config"

pytestmark = [pytest.mark.postgres, pytest.mark.parametrize("db_url", ["postgres"], indirect=True)]


def test_refusals_cut_from_a_failed_batch_are_written_or_reported_dropped(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """docs/keys.md: the queue is bounded, and 'what is dropped beyond that ... is logged'. A batch the database
    refused goes back in front of what came meanwhile, cut to the bound (`rejectlog.py`, `flush`): the rows cut
    are neither written nor counted in `dropped`, so never logged. Here the database refuses the batch for real:
    another connection holds the table's lock and the writer's connection gives up after 2 s (lock_timeout);
    10 refusals arrive while it waits, then the lock goes and everything left is written."""
    import logging

    from bastion.db.session import make_engine, make_sessionmaker
    from bastion.keys.rejectlog import RejectionLog

    caplog.set_level(logging.ERROR, logger="bastion.keys")
    engine = make_engine(db_url, connect_args={"options": "-c lock_timeout=2000"})
    locker = sa.create_engine(db_url)
    # flush_seconds: the background writer stays out of the way; close() writes what is left
    log = RejectionLog(make_sessionmaker(engine), max_queued=10, flush_seconds=60)
    at = datetime.now(UTC)
    failed: list[BaseException] = []
    try:
        for n in range(6):
            log.add(at, "50113", f"review-first-{n}", "127.0.0.1", CONFIG)
        with locker.connect() as conn:
            conn.execute(sa.text("LOCK TABLE keys_rejections IN ACCESS EXCLUSIVE MODE"))

            def write() -> None:
                try:
                    log.flush()
                except Exception as exc:  # the database's refusal, as the writer thread sees it
                    failed.append(exc)

            writer = threading.Thread(target=write)
            writer.start()
            time.sleep(0.5)  # the batch of 6 is out of the queue, its insert waiting on the lock
            for n in range(10):
                log.add(at, "50113", f"review-second-{n}", "127.0.0.1", CONFIG)
            writer.join(timeout=30)
            conn.rollback()
    finally:
        log.close()  # writes what is left
        engine.dispose()
    with locker.connect() as conn:
        written = conn.execute(
            sa.text("SELECT count(*) FROM keys_rejections WHERE key_id LIKE 'review-%'")
        ).scalar_one()
    locker.dispose()
    assert failed, "the database did not refuse the batch: the test proves nothing"
    reported = sum(int(r.getMessage().split()[0]) for r in caplog.records if "were not recorded" in r.getMessage())
    # 16 refusals: each one written, or reported as not recorded
    assert written + reported == 16, f"{written} written + {reported} reported dropped"
