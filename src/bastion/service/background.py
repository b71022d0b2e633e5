"""Background loops a router runs beside the requests (the keys sweeper, the notification dispatcher)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


@contextlib.asynccontextmanager
async def running(task: asyncio.Task[None] | None) -> AsyncIterator[None]:
    """While the app serves, `task` runs (None: switched off); at shutdown it is cancelled and awaited, so no
    loop outlives the app's database engine."""
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
