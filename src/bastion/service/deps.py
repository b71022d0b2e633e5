"""Request dependencies shared by every router: settings, a database session, operator auth; the protection
routes' clock."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException, Request
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


async def require_operator(
    settings: Annotated[Settings, Depends(get_settings)],
    authorization: Annotated[str | None, Header()] = None,
) -> None:
    """Operator routes (rules, reviews, lists, metrics): open when no BASTION_OPERATOR_TOKEN is set."""
    if settings.operator_token is None:
        return
    expected = f"Bearer {settings.operator_token.get_secret_value()}".encode()
    if authorization is None or not hmac.compare_digest(authorization.encode(), expected):
        raise HTTPException(status_code=401, detail="operator token required")


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
Operator = Depends(require_operator)


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
