"""Passkeys (WebAuthn): registration and authentication ceremonies with py_webauthn.

Challenges are stored server-side (any worker can finish a ceremony another started), expire after five
minutes and are consumed by the first attempt, successful or not. The signature counter must grow (a cloned
authenticator shows up as a counter that goes back).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.errors import InvalidInputError, NotFoundError
from bastion.protection.models import PasskeyCredential, WebAuthnChallenge

CHALLENGE_TTL = timedelta(minutes=5)






def _aware(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


def _issued(session: Session, user_id: str, purpose: str, opts: Any, now: datetime) -> dict[str, Any]:
    """Ceremony options as the browser gets them (JSON), once their challenge is stored for `_take_challenge`."""
    from webauthn import options_to_json

    challenge: bytes = opts.challenge
    session.add(
        WebAuthnChallenge(
            challenge_hash=hashlib.sha256(challenge).hexdigest(),
            user_id=user_id,
            purpose=purpose,
            challenge=challenge,
            expires_at=now + CHALLENGE_TTL,
            used=False,
        )
    )
    out: dict[str, Any] = json.loads(options_to_json(opts))
    return out


def _take_challenge(session: Session, user_id: str, purpose: str, credential: dict[str, Any], now: datetime) -> bytes:
    from webauthn import base64url_to_bytes

    try:
        client_data = json.loads(base64url_to_bytes(credential["response"]["clientDataJSON"]))
        challenge = base64url_to_bytes(client_data["challenge"])
    except (KeyError, TypeError, ValueError):
        raise InvalidInputError("response.clientDataJSON", "missing or malformed") from None
    row = session.scalars(
        select(WebAuthnChallenge)
        .where(WebAuthnChallenge.challenge_hash == hashlib.sha256(challenge).hexdigest())
        .with_for_update()
    ).first()
    if row is None or row.user_id != user_id or row.purpose != purpose:
        raise InvalidInputError("response.clientDataJSON", "unknown challenge")
    if row.used or _aware(row.expires_at) < now:
        raise InvalidInputError("response.clientDataJSON", "challenge expired or already used")
    row.used = True
    return row.challenge


def registration_options(
    session: Session, rp_id: str, rp_name: str, user_id: str, user_name: str, now: datetime | None = None
) -> dict[str, Any]:
    from webauthn import generate_registration_options
    from webauthn.helpers.structs import (
        AuthenticatorSelectionCriteria,
        PublicKeyCredentialDescriptor,
        ResidentKeyRequirement,
    )

    now = now or datetime.now(UTC)
    existing = session.scalars(select(PasskeyCredential.credential_id).where(PasskeyCredential.user_id == user_id))
    opts = generate_registration_options(
        rp_id=rp_id,
        rp_name=rp_name,
        user_name=user_name,
        user_id=user_id.encode(),
        challenge=secrets.token_bytes(32),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=c) for c in existing],
        authenticator_selection=AuthenticatorSelectionCriteria(resident_key=ResidentKeyRequirement.PREFERRED),
    )
    return _issued(session, user_id, "register", opts, now)


def verify_registration(
    session: Session, rp_id: str, origin: str, user_id: str, credential: dict[str, Any], now: datetime | None = None
) -> int:
    """Store the new passkey; returns its id. Raises InvalidInputError when the ceremony does not verify."""
    from webauthn import verify_registration_response
    from webauthn.helpers.exceptions import WebAuthnException

    now = now or datetime.now(UTC)
    challenge = _take_challenge(session, user_id, "register", credential, now)
    try:
        v = verify_registration_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp_id, expected_origin=origin
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:  # any malformed credential is a 422
        raise InvalidInputError("credential", f"registration did not verify: {exc}") from None
    if session.scalars(select(PasskeyCredential).where(PasskeyCredential.credential_id == v.credential_id)).first():
        raise InvalidInputError("credential.id", "this passkey is already registered")
    row = PasskeyCredential(
        user_id=user_id,
        credential_id=v.credential_id,
        public_key=v.credential_public_key,
        sign_count=v.sign_count,
        transports=list(credential.get("response", {}).get("transports", []) or []),
        created_at=now,
        last_used_at=None,
    )
    session.add(row)
    session.flush()
    return row.id


def authentication_options(session: Session, rp_id: str, user_id: str, now: datetime | None = None) -> dict[str, Any]:
    from webauthn import generate_authentication_options
    from webauthn.helpers.structs import PublicKeyCredentialDescriptor

    now = now or datetime.now(UTC)
    creds = list(session.scalars(select(PasskeyCredential.credential_id).where(PasskeyCredential.user_id == user_id)))
    if not creds:
        raise NotFoundError(f"user {user_id} has no passkey")
    opts = generate_authentication_options(
        rp_id=rp_id,
        challenge=secrets.token_bytes(32),
        allow_credentials=[PublicKeyCredentialDescriptor(id=c) for c in creds],
    )
    return _issued(session, user_id, "authenticate", opts, now)


def verify_authentication(
    session: Session, rp_id: str, origin: str, user_id: str, credential: dict[str, Any], now: datetime | None = None
) -> int:
    """Check an assertion; returns the passkey id. Raises InvalidInputError when it does not verify."""
    now = now or datetime.now(UTC)
    challenge = _take_challenge(session, user_id, "authenticate", credential, now)
    return verify_assertion(session, rp_id, origin, user_id, credential, challenge, now)


def verify_assertion(
    session: Session,
    rp_id: str,
    origin: str,
    user_id: str,
    credential: dict[str, Any],
    challenge: bytes,
    now: datetime,
    require_user_verification: bool = False,
) -> int:
    """Check an assertion over a challenge the caller issued and has consumed (a login's, or a withdrawal's
    step-up in `bastion.stepup`); returns the passkey id and moves its counter on."""
    from webauthn import base64url_to_bytes, verify_authentication_response
    from webauthn.helpers.exceptions import WebAuthnException

    try:
        raw_id = base64url_to_bytes(credential["rawId"])
    except (KeyError, TypeError, ValueError):
        raise InvalidInputError("rawId", "missing or malformed") from None
    row = session.scalars(
        select(PasskeyCredential).where(PasskeyCredential.credential_id == raw_id).with_for_update()
    ).first()
    if row is None or row.user_id != user_id:
        raise InvalidInputError("rawId", "not a passkey of this user")
    try:
        v = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            credential_public_key=row.public_key,
            credential_current_sign_count=row.sign_count,
            require_user_verification=require_user_verification,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:  # any malformed assertion is a 422
        raise InvalidInputError("credential", f"authentication did not verify: {exc}") from None
    row.sign_count, row.last_used_at = v.new_sign_count, now
    return row.id
