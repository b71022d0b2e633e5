"""Fast API: third-party apps obtain a key for a user through an OAuth 2.0 authorization-code flow.

1. The exchange registers the app with its redirect URI and the IP ranges of its servers, and gets a
   client id and secret (the secret shown once).
2. The user, signed in at the exchange, consents to "app X may read (or trade)". The exchange calls
   `authorize`, which stores a one-time code (hashed, valid 5 minutes) and sends the user back to the app's
   redirect URI with it.
3. The app's server calls `exchange_code` with its client id, secret and the code, from one of its
   registered IPs. It gets a key bound to those IPs, scope `fast_api`: read or trade, never withdraw, one
   live key per user and app (a fresh grant replaces the previous key).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import urlencode, urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.keys import policy
from bastion.keys.crypto import new_passphrase
from bastion.keys.errors import FastApiDenied, KeyInputError
from bastion.keys.lifecycle import IssuedKey, KeyVault, create_key, delete_key
from bastion.keys.models import ApiKey, FastApiCode, ThirdPartyApp
from bastion.keys.policy import Permission

SCOPE = "fast_api"
CODE_TTL = timedelta(minutes=5)
FAST_API_PERMISSIONS = frozenset({Permission.READ, Permission.TRADE})


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class RegisteredApp:
    client_id: str
    name: str
    redirect_uri: str
    ips: str
    max_permission: str
    client_secret: str | None = None  # only right after registration


def register_app(
    session: Session,
    *,
    name: str,
    redirect_uri: str,
    ips: Sequence[str],
    max_permission: str = "trade",
    now: datetime,
) -> RegisteredApp:
    name = name.strip()
    if not name or len(name) > 80:
        raise KeyInputError("name", "must be 1 to 80 characters")
    parts = urlsplit(redirect_uri)
    local = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if parts.scheme not in ("https", "http") or (parts.scheme == "http" and not local) or not parts.hostname:
        raise KeyInputError("redirect_uri", "must be an https URL (http only for localhost)")
    if parts.fragment:
        raise KeyInputError("redirect_uri", "must not contain a fragment")
    if not ips:
        raise KeyInputError("ips", "a third-party app must register the IP addresses of its servers")
    networks = policy.parse_allowlist(ips)
    if max_permission not in ("read", "trade"):
        raise KeyInputError("max_permission", "must be read or trade (Fast API never grants withdraw)")
    client_secret = secrets.token_urlsafe(32)
    app = ThirdPartyApp(
        id=str(uuid.uuid4()),
        name=name,
        redirect_uri=redirect_uri,
        client_secret_sha256=_sha256(client_secret),
        ips=policy.allowlist_text(networks),
        max_permission=max_permission,
        created_at=now,
    )
    session.add(app)
    session.flush()
    return RegisteredApp(app.id, app.name, app.redirect_uri, app.ips, app.max_permission, client_secret)


def list_apps(session: Session) -> list[RegisteredApp]:
    rows = session.scalars(
        select(ThirdPartyApp).where(ThirdPartyApp.disabled_at.is_(None)).order_by(ThirdPartyApp.name)
    )
    return [RegisteredApp(a.id, a.name, a.redirect_uri, a.ips, a.max_permission) for a in rows]


def _app(session: Session, client_id: str) -> ThirdPartyApp:
    app = session.get(ThirdPartyApp, client_id)
    if app is None or app.disabled_at is not None:
        raise FastApiDenied("invalid_client", "unknown or disabled client_id")
    return app


@dataclass(frozen=True)
class Authorization:
    code: str
    redirect_to: str
    expires_at: datetime


def authorize(
    session: Session,
    *,
    user_id: str,
    client_id: str,
    scope: str,
    permissions: Sequence[str],
    redirect_uri: str,
    state: str,
    now: datetime,
) -> Authorization:
    """Record the user's consent and return the one-time code and the URL to send the user back to."""
    app = _app(session, client_id)
    if scope != SCOPE:
        raise FastApiDenied("invalid_scope", f"scope must be {SCOPE}")
    # Exact match: a redirect URI that differs at all could deliver the code to someone else.
    if not hmac.compare_digest(redirect_uri.encode(), app.redirect_uri.encode()):
        raise FastApiDenied("invalid_request", "redirect_uri does not match the registered one")
    perms = policy.parse_permissions(permissions)
    if not perms <= FAST_API_PERMISSIONS:
        raise FastApiDenied("invalid_scope", "Fast API keys may read or trade, never withdraw")
    if Permission.TRADE in perms and app.max_permission != "trade":
        raise FastApiDenied("invalid_scope", f"app {app.name} is registered for read only")
    if not user_id.strip():
        raise KeyInputError("user_id", "must not be empty")
    code = secrets.token_urlsafe(32)
    expires = now + CODE_TTL
    session.add(
        FastApiCode(
            code_sha256=_sha256(code),
            app_id=app.id,
            user_id=user_id.strip(),
            permissions=policy.permissions_text(perms),
            redirect_uri=redirect_uri,
            created_at=now,
            expires_at=expires,
        )
    )
    session.flush()
    sep = "&" if urlsplit(redirect_uri).query else "?"
    return Authorization(code, f"{redirect_uri}{sep}{urlencode({'code': code, 'state': state})}", expires)


def exchange_code(
    session: Session,
    vault: KeyVault,
    *,
    client_id: str,
    client_secret: str,
    code: str,
    redirect_uri: str,
    client_ip: str,
    now: datetime,
) -> IssuedKey:
    """Trade a code for a key (with a generated passphrase), shown to the app once."""
    app = _app(session, client_id)
    if not hmac.compare_digest(_sha256(client_secret).encode(), app.client_secret_sha256.encode()):
        raise FastApiDenied("invalid_client", "client authentication failed")
    networks = policy.parse_allowlist(app.ips.split(",") if app.ips else [])
    if not policy.ip_allowed(networks, client_ip):
        raise FastApiDenied("invalid_client", f"IP {client_ip} is not one of the app's registered servers")
    grant = session.scalars(
        select(FastApiCode).where(FastApiCode.code_sha256 == _sha256(code)).with_for_update()
    ).first()
    if grant is None or grant.app_id != app.id:
        raise FastApiDenied("invalid_grant", "unknown authorization code")
    if grant.used_at is not None:
        raise FastApiDenied("invalid_grant", "authorization code already used")
    if now >= grant.expires_at:
        raise FastApiDenied("invalid_grant", "authorization code expired")
    if redirect_uri != grant.redirect_uri:
        raise FastApiDenied("invalid_grant", "redirect_uri differs from the one authorized")
    grant.used_at = now
    # One live key per user and app: the new grant replaces the old key.
    previous = session.scalars(
        select(ApiKey)
        .where(ApiKey.user_id == grant.user_id, ApiKey.app_id == app.id, ApiKey.revoked_at.is_(None))
        .with_for_update()
    ).all()
    for old in previous:
        delete_key(session, vault, old, "replaced", f"app:{app.id}", now)
    session.flush()
    passphrase = new_passphrase()
    issued = create_key(
        session,
        vault,
        user_id=grant.user_id,
        label=f"Fast API: {app.name}"[:50],
        permissions=[grant.permissions],
        ips=app.ips.split(","),
        passphrase=passphrase,
        now=now,
        actor=f"app:{app.id}",
        source="fast_api",
        app_id=app.id,
    )
    grant.key_id = issued.key_id
    session.flush()
    return replace(issued, passphrase=passphrase)
