"""The account security center (docs/account.md): devices and sessions, freeze and recovery, the allowlist,
the security checklist.

Who calls what: the exchange's login service (service scope account:write) reports logins and, with the
risk engine, freezes an account on a confirmed takeover; the user (a session, never an API key) lists and
removes devices, freezes their own account, manages the allowlist and reads the checklist; the back office
(account:admin) freezes, and unfreezes through a case with the identity re-verification recorded.

"Now" is `protection_clock(app)`, as for the other user-protection routes (tests and the simulator set it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bastion.account import allowlist, checklist, devices
from bastion.account import audit as account_audit
from bastion.account import freeze as acct
from bastion.bounds import Identifier, LongIdentifier, PositiveInt32, Text
from bastion.service.access import OperatorScope, ServiceScope, SessionUser, acting_credential
from bastion.service.deps import SessionDep, SettingsDep, protection_clock

router = APIRouter(tags=["account"])
LoginService = ServiceScope("account:write")
AccountAdmin = OperatorScope("account:admin")


def _now(request: Request) -> datetime:
    return protection_clock(request.app)()


def _retrying(session: Session, fn: Any) -> Any:
    """Run `fn` and commit; once more if a concurrent first write took the same key (PostgreSQL)."""
    try:
        out = fn()
        session.commit()
    except IntegrityError:
        session.rollback()
        out = fn()
        session.commit()
    return out


# ---------------------------------------------------------------------------------------------- logins
@router.post("/v1/account/logins", dependencies=[LoginService])
def post_login(body: devices.LoginIn, session: SessionDep, request: Request) -> devices.LoginOut:
    """A successful login (user, sid, device): records the device and its session; a new device alerts."""
    now = _now(request)
    out: devices.LoginOut = _retrying(session, lambda: devices.record_login(session, body, now))
    return out


# --------------------------------------------------------------------------------------------- devices
class DevicesOut(BaseModel):
    devices: list[devices.DeviceOut]


@router.get("/v1/account/devices")
def get_devices(caller: SessionUser, session: SessionDep) -> DevicesOut:
    """The caller's devices (removed ones are gone), the current one marked."""
    return DevicesOut(devices=devices.list_devices(session, caller.uid, caller.sid))


@router.delete("/v1/account/devices/{device_id}")
def delete_device(
    device_id: LongIdentifier, caller: SessionUser, session: SessionDep, request: Request
) -> devices.RemovedOut:
    """Remove one of the caller's devices: its sessions end at once (their tokens are refused)."""
    out = devices.remove_device(session, caller.uid, device_id, _now(request))
    session.commit()
    return out


@router.post("/v1/account/devices/remove-others")
def remove_other_devices(caller: SessionUser, session: SessionDep, request: Request) -> devices.RemovedOut:
    """Remove every device but the one of the caller's current session."""
    out = devices.remove_others(session, caller.uid, caller.sid, _now(request))
    session.commit()
    return out


# ---------------------------------------------------------------------------------------------- freeze
class UserFreezeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # The button sends it: one step, no 2FA, but never by accident (an empty POST freezes nothing).
    confirm: Literal[True]
    reason: Text | None = None


class FreezeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: Identifier
    reason: Text
    actor: Identifier | None = None


@router.post("/v1/account/freeze")
def freeze_mine(body: UserFreezeIn, caller: SessionUser, session: SessionDep, request: Request) -> acct.FreezeOut:
    """Freeze my account, in one step (no 2FA: whoever fears a takeover must be able to stop it at once)."""
    reason = body.reason
    now = _now(request)
    out: acct.FreezeOut = _retrying(
        session, lambda: acct.freeze(session, caller.uid, source="user", by=caller.uid, reason=reason, at=now)
    )
    return out


@router.post("/v1/account/service/freeze", dependencies=[LoginService])
def service_freeze(body: FreezeIn, session: SessionDep, request: Request) -> acct.FreezeOut:
    """A machine of the exchange (the risk engine on a confirmed takeover) freezes an account."""
    return _freeze_for(body, session, request, source="service")


@router.post("/v1/account/ops/freeze", dependencies=[AccountAdmin])
def operator_freeze(body: FreezeIn, session: SessionDep, request: Request) -> acct.FreezeOut:
    """The back office freezes an account."""
    return _freeze_for(body, session, request, source="operator")


def _freeze_for(body: FreezeIn, session: Session, request: Request, source: acct.Source) -> acct.FreezeOut:
    """A freeze of `body.user_id` asked for by a credential (a service's or an operator's), audited as it."""
    by = acting_credential(request, body.actor or "")
    now = _now(request)
    out: acct.FreezeOut = _retrying(
        session, lambda: acct.freeze(session, body.user_id, source=source, by=by, reason=body.reason, at=now)
    )
    return out


class AuditOut(BaseModel):
    at: datetime
    action: str
    actor: str
    detail: dict[str, Any]


class AccountOut(BaseModel):
    state: acct.StateOut
    devices: list[devices.DeviceOut]
    cases: list[acct.CaseOut]
    audit: list[AuditOut]


@router.get("/v1/account/ops/users/{user_id}", dependencies=[AccountAdmin])
def operator_account(user_id: Identifier, session: SessionDep, request: Request) -> AccountOut:
    """An account as the back office sees it: frozen or not, devices, unfreeze cases, the trail (newest 200)."""
    trail = account_audit.trail(session, user_id, limit=200)
    return AccountOut(
        state=acct.state(session, user_id, _now(request)),
        devices=devices.list_devices(session, user_id, None),
        cases=acct.cases(session, user_id),
        audit=[AuditOut(at=a.at, action=a.action, actor=a.actor, detail=a.detail) for a in trail],
    )


@router.post("/v1/account/ops/unfreeze-cases", status_code=201, dependencies=[AccountAdmin])
def open_unfreeze_case(body: acct.CaseIn, session: SessionDep, request: Request) -> acct.CaseOut:
    """Open the case to unfreeze a frozen account (another credential closes it)."""
    out = acct.open_case(session, body, by=acting_credential(request, body.actor or ""), at=_now(request))
    session.commit()
    return out


@router.post("/v1/account/ops/unfreeze-cases/{case_id}/unfreeze", dependencies=[AccountAdmin])
def close_unfreeze_case(
    case_id: PositiveInt32, body: acct.UnfreezeIn, session: SessionDep, request: Request
) -> acct.CaseOut:
    """Unfreeze after re-verifying the user's identity (recorded); withdrawals stay locked for 24 hours."""
    out = acct.unfreeze(session, case_id, body, by=acting_credential(request, body.verified_by), at=_now(request))
    session.commit()
    return out


# ------------------------------------------------------------------------------------------- allowlist
@router.get("/v1/account/allowlist")
def get_allowlist(caller: SessionUser, session: SessionDep, request: Request) -> allowlist.AllowlistOut:
    """My withdrawal allowlist: addresses (each usable 24 hours after it was added) and the mode."""
    return allowlist.get(session, caller.uid, _now(request))


@router.post("/v1/account/allowlist", status_code=201)
def add_allowlist_address(
    body: allowlist.AddressIn, caller: SessionUser, session: SessionDep, request: Request
) -> allowlist.AddressOut:
    """Add an address; it can be withdrawn to 24 hours from now."""
    out = allowlist.add(session, caller.uid, body, _now(request))
    session.commit()
    return out


@router.delete("/v1/account/allowlist")
def remove_allowlist_address(
    address: Annotated[LongIdentifier, Query()], caller: SessionUser, session: SessionDep, request: Request
) -> dict[str, str]:
    """Remove an address (`?address=`)."""
    allowlist.remove(session, caller.uid, address, _now(request))
    session.commit()
    return {"removed": address}


@router.post("/v1/account/allowlist/mode", response_model=allowlist.AllowlistOut)
def set_allowlist_mode(
    body: allowlist.ModeIn, caller: SessionUser, session: SessionDep, settings: SettingsDep, request: Request
) -> allowlist.AllowlistOut | JSONResponse:
    """Allowlist-only mode on, or off with a fresh 2FA code (then withdrawals are locked for 24 hours)."""
    try:
        out = allowlist.set_mode(session, settings.secret_key_bytes(), caller.uid, body, _now(request))
    except allowlist.StepUpRequired as exc:
        session.commit()  # the failed code counts toward the 2FA lockout
        detail = [{"field": exc.field, "row": None, "message": exc.message, "type": "step_up_required"}]
        return JSONResponse(
            {"error": "step_up_required", "message": f"{exc.field}: {exc.message}", "detail": detail}, status_code=403
        )
    session.commit()
    return out


# ------------------------------------------------------------------------------------------- checklist
@router.get("/v1/account/security")
def get_security(caller: SessionUser, session: SessionDep, request: Request) -> checklist.SecurityOut:
    """My security checklist: each item done or pending, why it matters, and a score."""
    return checklist.checklist(session, caller.uid, caller.sid, _now(request))
