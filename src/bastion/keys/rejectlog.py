"""Refused signed requests, written in batches by a background thread instead of one transaction each.

A refusal is queued in memory (a list append) and written with the others queued within `FLUSH_SECONDS` in
one multi-row insert; the app's shutdown (`service/wiring.py`) writes what is left, so nothing queued is lost
when the service stops. If the database refuses a batch, the rows go back to the queue for the next one. The
queue is bounded (`MAX_QUEUED`): a flood of junk requests while the database is down cannot exhaust memory;
what is dropped then is counted and logged.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from bastion.keys.models import ApiKeyRejection

log = logging.getLogger("bastion.keys")

FLUSH_SECONDS = 0.2
MAX_QUEUED = 100_000


class RejectionLog:
    def __init__(
        self, sessions: sessionmaker[Session], *, flush_seconds: float = FLUSH_SECONDS, max_queued: int = MAX_QUEUED
    ) -> None:
        self._sessions = sessions
        self.flush_seconds = flush_seconds
        self.max_queued = max_queued
        self._queue: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()  # one batch written at a time, in order
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped = 0

    def add(self, at: datetime, code: str, key_id: str, ip: str, path: str) -> None:
        row = {"at": at, "code": code, "key_id": key_id[:64], "ip": ip[:64], "path": path[:200]}
        with self._lock:
            if len(self._queue) >= self.max_queued:
                self.dropped += 1
                return
            self._queue.append(row)
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="keys-rejections", daemon=True)
                self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            # Gather what arrives in the next moment into the same insert.
            if self._stop.wait(self.flush_seconds):
                return
            self._wake.clear()
            try:
                self.flush()
            except Exception:
                log.exception("writing refused API-key requests failed; retrying with the next batch")

    def flush(self) -> int:
        """Write everything queued now (blocking); returns the number of rows written."""
        with self._write_lock:
            with self._lock:
                batch, self._queue = self._queue, []
                dropped, self.dropped = self.dropped, 0
            if dropped:
                log.error("%d refused API-key requests were not recorded: the queue was full", dropped)
            if not batch:
                return 0
            try:
                with self._sessions() as session:
                    session.execute(insert(ApiKeyRejection), batch)
                    session.commit()
            except Exception:
                with self._lock:  # back in front of what came since, within the bound
                    kept = batch[: max(0, self.max_queued - len(self._queue))]
                    self._queue[:0] = kept
                    # what does not fit is dropped like a refusal arriving on a full queue: counted, then logged
                    self.dropped += len(batch) - len(kept)
                raise
            return len(batch)

    def close(self) -> None:
        """Stop the writer and write what is left (the app's shutdown)."""
        with self._lock:
            self._stop.set()
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join(timeout=10)
        try:
            self.flush()
        finally:
            with self._lock:  # an app served again starts a new writer with its first refusal
                self._thread = None
                self._stop.clear()

    def __len__(self) -> int:
        return len(self._queue)
