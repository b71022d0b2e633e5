"""Request dependencies shared by every router: settings, a database session; the protection routes' clock.

Who may call a route is declared with the markers of `bastion.service.access` (Public, CurrentUser,
ServiceScope, OperatorScope...), one per route."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from sqlalchemy.orm import Session, sessionmaker

from bastion.settings import Settings


# Dependencies that do no I/O are `async def`: FastAPI runs sync ones in the threadpool, a thread hop per
# dependency per request on the hot routes.
async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """One session per request; the route commits what it means to keep, the rest is rolled back."""
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    with factory() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]


# ------------------------------------------------------------------------------------------------ clock
Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    return datetime.now(UTC)


def protection_clock(app: FastAPI) -> Clock:
    """What the protection routes (cooling-off, order precheck, mistaken deposits, TOTP, passkeys) take as
    "now": the wall clock unless code running in the process replaced it with `set_protection_clock` (tests,
    the month simulator), as the keys routes' clock is `KeysRuntime.clock`. No request can change it."""
    clock: Clock | None = getattr(app.state, "protection_clock", None)
    return wall_clock if clock is None else clock


def set_protection_clock(app: FastAPI, clock: Clock | None) -> None:
    """Replace the protection routes' clock in this process; None puts the wall clock back."""
    app.state.protection_clock = clock
