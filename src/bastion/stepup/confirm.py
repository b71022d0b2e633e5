"""Confirming a `step_up` withdrawal: the factors a user has, the bound passkey challenge, the two checks.

The caller commits also when a check refuses (`BastionError`): the refusal's audit row, a consumed challenge
and TOTP's count of wrong codes must stay.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, NoReturn

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session, object_session

from bastion.errors import ConflictError, InvalidInputError, NotFoundError
from bastion.protection import passkeys, totp
from bastion.protection.models import PasskeyCredential, TotpCredential
from bastion.risk.clock import utc
from bastion.risk.decide import decision as risk_decision
from bastion.risk.models import RiskDecision
from bastion.stepup.models import StepUpAttempt, StepUpChallenge

# A passkey challenge lives this long (and never past the withdrawal's own step-up deadline).
CHALLENGE_TTL = timedelta(minutes=5)
_KEY_LABEL = b"bastion step-up challenge v1"
_CLIENT_DATA = "credential.response.clientDataJSON"


class StepUpView(BaseModel):
    """What the user sees of their withdrawal's step-up (not the rules or scores behind it)."""

    event_id: str
    decision: str
    exchange_state: str
    exchange_state_code: int
    methods: list[str]
    expires_at: datetime
    status: str
    method: str | None = None
    passed_at: datetime | None = None


class StepUpOptions(StepUpView):
    # WebAuthn request options (`navigator.credentials.get({publicKey})`) whose challenge is bound to this
    # withdrawal; None when the user has no passkey.
    public_key: dict[str, Any] | None = None


def enrolled_methods(session: Session, user_id: str) -> list[str]:
    """The step-up factors the user has now (confirmed TOTP, a passkey), strongest first; one query."""
    has_totp = (
        select(func.count())
        .select_from(TotpCredential)
        .where(TotpCredential.user_id == user_id, TotpCredential.confirmed_at.is_not(None))
        .scalar_subquery()
    )
    has_passkey = (
        select(func.count())
        .select_from(PasskeyCredential)
        .where(PasskeyCredential.user_id == user_id)
        .scalar_subquery()
    )
    n_totp, n_passkey = session.execute(select(has_totp, has_passkey)).one()
    return [m for m, n in (("passkey", n_passkey), ("totp", n_totp)) if n]


def session_of(d: RiskDecision) -> Session:
    session = object_session(d)
    assert session is not None
    return session


def _view(d: RiskDecision, cls: type[StepUpView] = StepUpView, **extra: Any) -> Any:
    out = risk_decision.get_decision(session_of(d), d.id)
    assert out is not None and out.step_up is not None
    su = out.step_up
    return cls(
        event_id=d.event_id,
        decision=out.decision,
        exchange_state=out.exchange_state,
        exchange_state_code=out.exchange_state_code,
        methods=su.methods,
        expires_at=su.expires_at,
        status=su.status,
        method=su.method,
        passed_at=su.passed_at,
        **extra,
    )


def _decision(session: Session, user_id: str, event_id: str) -> RiskDecision:
    d = session.scalars(select(RiskDecision).where(RiskDecision.event_id == event_id).with_for_update()).first()
    if d is None or d.user_id != user_id or not d.inputs.get("_step_up"):
        # Another user's withdrawal answers as one that does not exist: nothing said about others.
        raise NotFoundError(f"withdrawal {event_id} has no step-up")
    return d


def _waiting(d: RiskDecision, now: datetime) -> dict[str, Any]:
    """The withdrawal's step-up record, if it still waits for one; ConflictError otherwise."""
    su: dict[str, Any] = d.inputs["_step_up"]
    if su.get("passed_at"):
        raise ConflictError(f"withdrawal {d.event_id} was already confirmed")
    if d.decision != "step_up":
        raise ConflictError(f"withdrawal {d.event_id} is not waiting for a step-up (decision: {d.decision})")
    expires = datetime.fromisoformat(su["expires_at"])
    if now >= expires:
        raise ConflictError(
            f"the step-up of withdrawal {d.event_id} expired at {expires.isoformat()}; request the withdrawal again"
        )
    return su


def _key(secret: bytes) -> bytes:
    return hmac.new(secret, _KEY_LABEL, hashlib.sha256).digest()


def _amount(v: Decimal) -> str:
    return format(Decimal(v).normalize(), "f")


def bound_challenge(secret: bytes, d: RiskDecision, expires_at: datetime, nonce: bytes) -> bytes:
    """The challenge for `d`'s step-up: an HMAC over what the withdrawal is (id, user, asset, amount,
    destination), until when, and a nonce. Recomputed at verification from the stored withdrawal."""
    binding = json.dumps(
        [
            d.id,
            d.event_id,
            d.user_id,
            d.asset,
            _amount(d.amount),
            d.address,
            int(utc(expires_at).timestamp()),
            nonce.hex(),
        ],
        separators=(",", ":"),
    ).encode()
    return hmac.new(_key(secret), binding, hashlib.sha256).digest()


def _allowed(su: dict[str, Any], methods_now: list[str]) -> list[str]:
    """Factors enrolled when the withdrawal was decided and still enrolled now (a factor added after the risky
    withdrawal, perhaps by whoever asked for it, does not confirm it)."""
    return [m for m in su.get("methods") or [] if m in methods_now]


def options(session: Session, secret: bytes, rp_id: str, user_id: str, event_id: str, now: datetime) -> StepUpOptions:
    """How the user may confirm the withdrawal; with a passkey, a fresh challenge bound to it. Caller commits."""
    from webauthn import generate_authentication_options, options_to_json
    from webauthn.helpers.structs import PublicKeyCredentialDescriptor, UserVerificationRequirement

    d = _decision(session, user_id, event_id)
    su = _waiting(d, now)
    methods = _allowed(su, enrolled_methods(session, user_id))
    public_key = None
    if "passkey" in methods:
        creds = list(
            session.scalars(select(PasskeyCredential.credential_id).where(PasskeyCredential.user_id == user_id))
        )
        expires = min(now + CHALLENGE_TTL, datetime.fromisoformat(su["expires_at"])).replace(microsecond=0)
        nonce = secrets.token_bytes(16)
        challenge = bound_challenge(secret, d, expires, nonce)
        session.add(
            StepUpChallenge(
                challenge_hash=hashlib.sha256(challenge).hexdigest(),
                decision_id=d.id,
                user_id=user_id,
                nonce=nonce,
                created_at=now,
                expires_at=expires,
                used=False,
            )
        )
        opts = generate_authentication_options(
            rp_id=rp_id,
            challenge=challenge,
            timeout=int((expires - now).total_seconds() * 1000),
            allow_credentials=[PublicKeyCredentialDescriptor(id=c) for c in creds],
            user_verification=UserVerificationRequirement.REQUIRED,
        )
        public_key = json.loads(options_to_json(opts))
    view: StepUpOptions = _view(d, StepUpOptions, public_key=public_key)
    view.methods = methods
    return view


def _audit(
    session: Session, d: RiskDecision, sid: str | None, method: str, now: datetime, reason: str | None = None
) -> None:
    session.add(
        StepUpAttempt(
            decision_id=d.id,
            user_id=d.user_id,
            session_id=sid,
            method=method,
            outcome="refused" if reason else "passed",
            reason=None if reason is None else reason[:200],
            at=now,
        )
    )


def _refuse(session: Session, d: RiskDecision, sid: str | None, method: str, now: datetime, exc: Exception) -> NoReturn:
    _audit(session, d, sid, method, now, str(exc))
    raise exc


def _start(session: Session, user_id: str, sid: str | None, event_id: str, method: str, now: datetime) -> RiskDecision:
    d = _decision(session, user_id, event_id)
    try:
        su = _waiting(d, now)
        allowed = _allowed(su, enrolled_methods(session, user_id))
        if method not in allowed:
            have = ", ".join(allowed) or "none"
            raise InvalidInputError("method", f"{method} cannot confirm this withdrawal (enrolled: {have})")
    except (ConflictError, InvalidInputError) as exc:
        _refuse(session, d, sid, method, now, exc)
    return d


Method = Literal["totp", "passkey"]


def confirm_totp(
    session: Session, secret: bytes, user_id: str, sid: str | None, event_id: str, code: str, now: datetime
) -> StepUpView:
    """Confirm with a TOTP code (accepted once; see `protection.totp`). Caller commits, also on refusal."""
    d = _start(session, user_id, sid, event_id, "totp", now)
    result = totp.verify(session, secret, user_id, code, now)
    if result is not totp.Check.ok:
        why = {
            totp.Check.invalid: "wrong code, or not one of the current 30-second step",
            totp.Check.replayed: "this code was already used; wait for the next one",
            totp.Check.locked: "too many wrong codes: TOTP is locked for 15 minutes",
            totp.Check.not_enrolled: "no TOTP enrolled",
        }[result]
        _refuse(session, d, sid, "totp", now, InvalidInputError("code", why))
    risk_decision.step_up_passed(session, d, "totp", now)
    _audit(session, d, sid, "totp", now)
    out: StepUpView = _view(d)
    return out


def _client_challenge(credential: dict[str, Any]) -> bytes:
    from webauthn import base64url_to_bytes

    try:
        client_data = json.loads(base64url_to_bytes(credential["response"]["clientDataJSON"]))
        return base64url_to_bytes(client_data["challenge"])
    except (KeyError, TypeError, ValueError, AttributeError):
        raise InvalidInputError(_CLIENT_DATA, "missing or malformed") from None


def confirm_passkey(
    session: Session,
    secret: bytes,
    rp_id: str,
    origin: str,
    user_id: str,
    sid: str | None,
    event_id: str,
    credential: dict[str, Any],
    now: datetime,
) -> StepUpView:
    """Confirm with a passkey assertion over a challenge `options` issued for this withdrawal (used once).
    Caller commits, also on refusal."""
    d = _start(session, user_id, sid, event_id, "passkey", now)
    try:
        challenge = _client_challenge(credential)
        row = session.scalars(
            select(StepUpChallenge)
            .where(StepUpChallenge.challenge_hash == hashlib.sha256(challenge).hexdigest())
            .with_for_update()
        ).first()
        if row is None or row.user_id != user_id:
            raise InvalidInputError(_CLIENT_DATA, "unknown challenge: ask for the step-up options first")
        if row.decision_id != d.id:
            raise InvalidInputError(_CLIENT_DATA, "this challenge was issued for another withdrawal")
        if row.used:
            raise InvalidInputError(_CLIENT_DATA, "challenge already used")
        row.used = True  # consumed by the first attempt, whatever comes of it
        if now >= utc(row.expires_at):
            raise InvalidInputError(_CLIENT_DATA, "challenge expired: ask for the step-up options again")
        if not hmac.compare_digest(bound_challenge(secret, d, row.expires_at, row.nonce), challenge):
            raise InvalidInputError(_CLIENT_DATA, "challenge does not match this withdrawal")
        passkeys.verify_assertion(
            session, rp_id, origin, user_id, credential, challenge, now, require_user_verification=True
        )
    except InvalidInputError as exc:
        _refuse(session, d, sid, "passkey", now, exc)
    risk_decision.step_up_passed(session, d, "passkey", now)
    _audit(session, d, sid, "passkey", now)
    out: StepUpView = _view(d)
    return out


def attempts(session: Session, decision_id: int) -> list[StepUpAttempt]:
    return list(
        session.scalars(
            select(StepUpAttempt).where(StepUpAttempt.decision_id == decision_id).order_by(StepUpAttempt.id)
        )
    )
