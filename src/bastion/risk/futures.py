"""Requests that wait on shared work (one catch-up read, one group commit for many requests) are answered
through futures: each is settled once, with its result or with the exception that failed it."""

from __future__ import annotations

import asyncio
from typing import Any


def settle(future: asyncio.Future[Any], outcome: Any) -> None:
    """Answer a waiting request once: an exception fails it, anything else is its result."""
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
