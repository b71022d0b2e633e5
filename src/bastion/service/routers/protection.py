"""Account protection routes: anti-phishing code, TOTP 2FA, passkeys.

User routes for the account's own security pages: the caller is the user's session (a JWT from the login
service; never an API key), and the path must name that user (any other uid is a 404). Turning 2FA on,
adding a passkey... are credential changes: they also feed the risk engine's 24 h withdrawal lock. "Now" is
`protection_clock(app)`: the wall clock unless replaced in-process.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from bastion.account import locks as account_locks
from bastion.bounds import Identifier
from bastion.errors import InvalidInputError
from bastion.protection import anti_phishing, passkeys, totp
from bastion.service.access import OwnPathUser
from bastion.service.deps import SessionDep, SettingsDep, protection_clock
from bastion.service.schemas import RequestBody

router = APIRouter(prefix="/v1/users/{user_id}", tags=["protection"], dependencies=[OwnPathUser])


class CodeIn(RequestBody):
    code: str = Field(min_length=1, max_length=64)


@router.put("/anti-phishing-code")
def put_anti_phishing_code(
    user_id: Identifier, body: CodeIn, session: SessionDep, settings: SettingsDep, request: Request
) -> dict[str, bool]:
    if anti_phishing.set_code(session, settings.secret_key_bytes(), user_id, body.code):
        now = protection_clock(request.app)()
        account_locks.credential_changed(session, user_id, "anti_phishing", now, now.isoformat())
    session.commit()
    return {"set": True}


class RenderIn(RequestBody):
    template: str
    params: dict[str, str] = Field(default_factory=dict)


class NotificationOut(BaseModel):
    template: str
    subject: str
    body: str


@router.post("/notifications/render")
def render_notification(
    user_id: Identifier, body: RenderIn, session: SessionDep, settings: SettingsDep
) -> NotificationOut:
    n = anti_phishing.render(session, settings.secret_key_bytes(), user_id, body.template, body.params)
    return NotificationOut(template=n.template, subject=n.subject, body=n.body)


class EnrollIn(RequestBody):
    account_name: str = Field(min_length=1, max_length=128)


class EnrollOut(BaseModel):
    secret: str
    provisioning_uri: str


@router.post("/totp/enroll")
def totp_enroll(
    user_id: Identifier, body: EnrollIn, session: SessionDep, settings: SettingsDep, request: Request
) -> EnrollOut:
    e = totp.enroll(
        session, settings.secret_key_bytes(), user_id, body.account_name, now=protection_clock(request.app)()
    )
    session.commit()
    return EnrollOut(secret=e.secret, provisioning_uri=e.provisioning_uri)


class TotpCodeIn(RequestBody):
    code: str = Field(pattern=r"^\d{6}$")


class CheckOut(BaseModel):
    result: totp.Check
    ok: bool


@router.post("/totp/confirm")
def totp_confirm(
    user_id: Identifier, body: TotpCodeIn, session: SessionDep, settings: SettingsDep, request: Request
) -> CheckOut:
    now = protection_clock(request.app)()
    r = totp.confirm(session, settings.secret_key_bytes(), user_id, body.code, now)
    if r is totp.Check.ok:
        account_locks.credential_changed(session, user_id, "totp", now, now.isoformat())
    session.commit()
    return CheckOut(result=r, ok=r is totp.Check.ok)


@router.post("/totp/verify")
def totp_verify(
    user_id: Identifier, body: TotpCodeIn, session: SessionDep, settings: SettingsDep, request: Request
) -> CheckOut:
    r = totp.verify(session, settings.secret_key_bytes(), user_id, body.code, protection_clock(request.app)())
    session.commit()
    return CheckOut(result=r, ok=r is totp.Check.ok)


class PasskeyOptionsIn(RequestBody):
    user_name: str = Field(min_length=1, max_length=128)


@router.post("/passkeys/registration/options")
def passkey_registration_options(
    user_id: Identifier, body: PasskeyOptionsIn, session: SessionDep, settings: SettingsDep, request: Request
) -> dict[str, Any]:
    out = passkeys.registration_options(
        session,
        settings.webauthn_rp_id,
        settings.webauthn_rp_name,
        user_id,
        body.user_name,
        protection_clock(request.app)(),
    )
    session.commit()
    return out


def _commit_then_raise(session: SessionDep, exc: InvalidInputError) -> None:
    # The challenge is spent even when the ceremony fails: keep that.
    session.commit()
    raise exc


@router.post("/passkeys/registration/verify")
def passkey_registration_verify(
    user_id: Identifier, credential: dict[str, Any], session: SessionDep, settings: SettingsDep, request: Request
) -> dict[str, int]:
    now = protection_clock(request.app)()
    try:
        pid = passkeys.verify_registration(
            session, settings.webauthn_rp_id, settings.webauthn_origin, user_id, credential, now
        )
    except InvalidInputError as exc:
        _commit_then_raise(session, exc)
        raise
    account_locks.credential_changed(session, user_id, "passkey", now, str(pid))
    session.commit()
    return {"passkey_id": pid}


@router.post("/passkeys/authentication/options")
def passkey_authentication_options(
    user_id: Identifier, session: SessionDep, settings: SettingsDep, request: Request
) -> dict[str, Any]:
    out = passkeys.authentication_options(session, settings.webauthn_rp_id, user_id, protection_clock(request.app)())
    session.commit()
    return out


@router.post("/passkeys/authentication/verify")
def passkey_authentication_verify(
    user_id: Identifier, credential: dict[str, Any], session: SessionDep, settings: SettingsDep, request: Request
) -> dict[str, Any]:
    try:
        pid = passkeys.verify_authentication(
            session,
            settings.webauthn_rp_id,
            settings.webauthn_origin,
            user_id,
            credential,
            protection_clock(request.app)(),
        )
    except InvalidInputError as exc:
        _commit_then_raise(session, exc)
        raise
    session.commit()
    return {"verified": True, "passkey_id": pid}
