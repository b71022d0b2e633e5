"""Step-up routes: the user confirms a withdrawal the risk engine answered `step_up` (docs/risk.md, "Step-up").

User routes for the account's own session only (`SessionUser`: an API key, even one that may trade, never
confirms a withdrawal; that is what the second factor is for). The withdrawal is named by the exchange's id
(`event_id` of the evaluated request); another user's id answers 404, as one that does not exist. "Now" is
`protection_clock(app)`, as for the other second-factor routes.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import Field

from bastion.bounds import Identifier
from bastion.errors import BastionError, InvalidInputError
from bastion.service.access import SessionUser
from bastion.service.deps import SessionDep, SettingsDep, protection_clock
from bastion.service.schemas import RequestBody
from bastion.stepup import confirm

router = APIRouter(prefix="/v1/withdrawals/{event_id}/step-up", tags=["step-up"])


@router.post("/options")
def post_options(
    event_id: Identifier, caller: SessionUser, session: SessionDep, settings: SettingsDep, request: Request
) -> confirm.StepUpOptions:
    """How the withdrawal may be confirmed; with a passkey, WebAuthn request options whose challenge is bound
    to this withdrawal (amount, destination) and used once."""
    out = confirm.options(
        session,
        settings.secret_key_bytes(),
        settings.webauthn_rp_id,
        caller.uid,
        event_id,
        protection_clock(request.app)(),
    )
    session.commit()
    return out


class StepUpIn(RequestBody):
    method: Literal["totp", "passkey"]
    # method totp: the 6-digit code of the current 30-second step.
    code: str | None = Field(default=None, pattern=r"^\d{6}$")
    # method passkey: the PublicKeyCredential from navigator.credentials.get, as JSON (py_webauthn's shape),
    # over the challenge of POST .../step-up/options.
    credential: dict[str, Any] | None = None


@router.post("")
def post_step_up(
    event_id: Identifier,
    body: StepUpIn,
    caller: SessionUser,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
) -> confirm.StepUpView:
    """Confirm the withdrawal with a TOTP code or a passkey assertion; the decision then becomes the score's
    (allow, or review). A refusal is audited and answered 4xx naming the field."""
    if body.method == "totp" and body.code is None:
        raise InvalidInputError("code", "required with method totp")
    if body.method == "passkey" and body.credential is None:
        raise InvalidInputError("credential", "required with method passkey")
    now = protection_clock(request.app)()
    secret = settings.secret_key_bytes()
    try:
        if body.method == "totp":
            assert body.code is not None
            out = confirm.confirm_totp(session, secret, caller.uid, caller.sid, event_id, body.code, now)
        else:
            out = confirm.confirm_passkey(
                session,
                secret,
                settings.webauthn_rp_id,
                settings.webauthn_origin,
                caller.uid,
                caller.sid,
                event_id,
                body.credential or {},
                now,
            )
    except BastionError:
        session.commit()  # the refusal's audit, a consumed challenge, TOTP's count of wrong codes
        raise
    session.commit()
    return out
