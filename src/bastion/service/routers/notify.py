"""Alerts and official channels: users' contact addresses (the account service), the official-channel registry
(the back office), the outbox's state, and the public check `GET /v1/public/verify` (docs/alerts.md).

With BASTION_NOTIFY_DISPATCH_INTERVAL_SECONDS > 0 the service also runs the dispatcher in the background;
`bastion notify dispatch` does the same from outside, and both may run at once (claims never overlap).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from bastion.bounds import Identifier
from bastion.notify import channels, contacts
from bastion.notify.dispatch import Dispatcher, from_settings, status_counts
from bastion.service.access import OperatorScope, Public, ServiceScope, acting_credential
from bastion.service.background import running
from bastion.service.deps import SessionDep, SettingsDep
from bastion.service.schemas import RequestBody

log = logging.getLogger("bastion.notify")


# ------------------------------------------------------------------------------------ background dispatch
async def _dispatch_loop(dispatcher: Dispatcher, interval: float) -> None:
    try:
        while True:
            try:
                await run_in_threadpool(dispatcher.run_until_idle)
            except Exception:  # a failed round must not end the loop; its rows are still due
                log.exception("alert dispatch failed")
            await asyncio.sleep(interval)
    finally:
        dispatcher.close()


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = app.state.settings
    interval = settings.notify.notify_dispatch_interval_seconds
    task = None
    if interval > 0:
        # Built here, not in the task: a bad channel setting stops the service at start, in one line.
        dispatcher = from_settings(settings.notify, app.state.sessionmaker, settings.secret_key_bytes())
        task = asyncio.create_task(_dispatch_loop(dispatcher, interval))
    async with running(task):
        yield


router = APIRouter(tags=["notify"], lifespan=_lifespan)
NotifyAdmin = OperatorScope("notify:admin")


# ------------------------------------------------------------------------------- contacts (account service)
class ContactIn(RequestBody):
    email: str = Field(min_length=3, max_length=254)


@router.put("/v1/notify/contacts/{user_id}", dependencies=[ServiceScope("notify:write")])
def put_contact(user_id: Identifier, body: ContactIn, session: SessionDep, settings: SettingsDep) -> dict[str, bool]:
    """The address the user's alert emails go to (sealed at rest); the account service sends it on change."""
    contacts.set_email(session, settings.secret_key_bytes(), user_id, body.email, datetime.now(UTC))
    session.commit()
    return {"set": True}


@router.delete("/v1/notify/contacts/{user_id}", dependencies=[ServiceScope("notify:write")])
def delete_contact(user_id: Identifier, session: SessionDep) -> dict[str, bool]:
    removed = contacts.delete(session, user_id)
    session.commit()
    return {"removed": removed}


# ------------------------------------------------------------------------------ official channels (operator)
ChannelKind = Literal["website", "email", "phone", "social"]


class ChannelIn(RequestBody):
    kind: ChannelKind
    value: str = Field(min_length=1, max_length=channels.MAX_VALUE)
    note: str = Field(default="", max_length=100)


class ChannelOut(BaseModel):
    id: int
    kind: str
    value: str
    note: str
    added_at: datetime
    added_by: str


def _out(row: object) -> ChannelOut:
    return ChannelOut.model_validate(row, from_attributes=True)


@router.get("/v1/notify/channels", dependencies=[NotifyAdmin])
def list_channels(session: SessionDep, kind: ChannelKind | None = None) -> list[ChannelOut]:
    return [_out(r) for r in channels.list_all(session, kind)]


@router.post("/v1/notify/channels", status_code=201, dependencies=[NotifyAdmin])
def add_channel(body: ChannelIn, session: SessionDep, request: Request) -> ChannelOut:
    """Register an official channel; the value is stored normalised (see docs/alerts.md)."""
    row = channels.add(
        session, body.kind, body.value, note=body.note, actor=acting_credential(request), now=datetime.now(UTC)
    )
    session.commit()
    return _out(row)


@router.delete("/v1/notify/channels/{channel_id}", dependencies=[NotifyAdmin])
def remove_channel(channel_id: int, session: SessionDep) -> ChannelOut:
    row = channels.remove(session, channel_id)
    session.commit()
    return _out(row)


class OutboxCount(BaseModel):
    channel: str
    status: str
    rows: int


@router.get("/v1/notify/outbox", dependencies=[NotifyAdmin])
def outbox_status(session: SessionDep) -> list[OutboxCount]:
    """Rows of the alert outbox by channel and status: pending ones are waiting (backoff, or no channel)."""
    return [OutboxCount(channel=c, status=s, rows=n) for (c, s), n in sorted(status_counts(session).items())]


# ---------------------------------------------------------------------------------------- the public check
class MatchOut(BaseModel):
    kind: str
    value: str
    note: str


class VerifyOut(BaseModel):
    value: str = Field(description="what was checked, normalised (letters, digits and . - _ @ : + only)")
    kind: str = Field(description="website, email, phone or social: how the value was read")
    official: bool
    matches: list[MatchOut]
    advice: str


_OFFICIAL = "This is an official channel of the exchange. Still never share your password, 2FA codes or seed phrase."
_NOT_OFFICIAL = (
    "This is NOT an official channel of the exchange. Do not send it funds, codes or personal data; "
    "report it to support through the app."
)
_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


@router.get("/v1/public/verify", dependencies=[Public])
def verify_channel(
    session: SessionDep,
    response: Response,
    value: Annotated[str, Query(min_length=1, max_length=channels.MAX_VALUE, description="a URL, domain, "
                                "email sender, phone number (+country code) or social handle (@name)")],
) -> VerifyOut:  # fmt: skip
    """Is this website, email sender, phone number or social account an official channel of the exchange?"""
    verdict = channels.verify(session, value)
    response.headers.update(_HEADERS)
    return VerifyOut(
        value=verdict.normalised,
        kind=verdict.kind,
        official=verdict.official,
        matches=[MatchOut(kind=m.kind, value=m.value, note=m.note) for m in verdict.matches],
        advice=_OFFICIAL if verdict.official else _NOT_OFFICIAL,
    )
