"""End users' sessions: JWTs the exchange's login service signs, verified here.

A session token is `Authorization: Bearer <JWT>` signed with EdDSA (Ed25519; `alg` "Ed25519" or the older
"EdDSA") or ES256, carrying `sub` (the uid), `sid` (the session or device), `aud` (this service) and `exp`;
`iat`/`nbf` are checked when present. Clock skew is bounded (`max_skew`). The verification keys come from
configuration: a PEM public key, a JWK or a JWKS file. Without one, a development key in the data dir is
used (made on first use), which `bastion users token` also signs with: the demo, the simulator and the tests
log users in the way an exchange would, without a login service.

joserfc does the JOSE work; nothing here parses or verifies a signature by hand.
"""

from __future__ import annotations

import json
import os
import secrets
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, OKPKey

ALGORITHMS = ["Ed25519", "EdDSA", "ES256"]
SIGNING_ALG = "Ed25519"  # EdDSA over Ed25519, by its RFC 9864 name ("EdDSA" is accepted on input)
DEV_KEY_FILE = "user-sessions-dev.jwk"
DEFAULT_AUDIENCE = "bastion"
MAX_TOKEN_BYTES = 8192
# The longest uid a session may name: the narrowest user-id column (risk, 2FA, passkeys) is 64 characters.
MAX_UID_CHARS = 64
# The latest `exp` taken at all (2100-01-01): anything later is not a session, and would overflow datetime.
MAX_EXP = 4102444800


class SessionRejected(Exception):
    """The token is not a valid session for this service; the message says why (never secret)."""


@dataclass(frozen=True)
class UserSession:
    uid: str
    sid: str
    expires_at: datetime
    issued_at: datetime | None = None  # `iat` when the token carries one


def _load_key_text(text: str) -> KeySet:
    text = text.strip()
    if text.startswith("-----BEGIN"):
        for cls in (OKPKey, ECKey):
            try:
                return KeySet([cls.import_key(text)])  # type: ignore[attr-defined]
            except Exception:
                continue
        raise ValueError("a PEM key that is neither Ed25519 nor P-256")
    raw: Any = json.loads(text)
    if isinstance(raw, dict) and "keys" in raw:
        return KeySet.import_key_set(cast(Any, raw))
    if isinstance(raw, dict) and raw.get("kty") in ("OKP", "EC"):
        return KeySet.import_key_set({"keys": [raw]})
    raise ValueError("neither a PEM key, a JWK nor a JWKS")


def load_verification_keys(path: Path) -> KeySet:
    """The login service's public key(s) from a PEM, JWK or JWKS file; private parts are dropped."""
    try:
        keys = _load_key_text(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"user session keys {path}: {exc}") from None
    return KeySet.import_key_set(keys.as_dict(private=False))


def dev_key(data_dir: Path) -> OKPKey:
    """The development signing key in `data_dir`, made on first use (0600; several processes agree)."""
    path = data_dir / DEV_KEY_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return OKPKey.import_key(json.loads(path.read_text()))
    key = OKPKey.generate_key("Ed25519", auto_kid=True)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(key.as_dict(private=True)))
    return key


def issue(
    key: OKPKey | ECKey,
    uid: str,
    *,
    ttl: timedelta = timedelta(minutes=15),
    sid: str | None = None,
    audience: str = DEFAULT_AUDIENCE,
    now: datetime | None = None,
) -> str:
    """A session token for `uid`, as the exchange's login service would sign it."""
    at = int((now or datetime.now(UTC)).timestamp())
    alg = SIGNING_ALG if isinstance(key, OKPKey) else "ES256"
    header = {"alg": alg, "typ": "JWT", **({"kid": key.kid} if key.kid else {})}
    claims = {
        "sub": uid,
        "sid": sid or secrets.token_urlsafe(12),
        "aud": audience,
        "iat": at,
        "exp": at + int(ttl.total_seconds()),
    }
    return jwt.encode(header, claims, key, algorithms=[alg])


class SessionVerifier:
    def __init__(
        self, keys: KeySet, *, audience: str = DEFAULT_AUDIENCE, max_skew: timedelta = timedelta(seconds=30)
    ) -> None:
        self.keys = keys
        self.audience = audience
        self.leeway = int(max_skew.total_seconds())

    def verify(self, token: str, now: datetime | None = None) -> UserSession:
        if len(token) > MAX_TOKEN_BYTES:
            raise SessionRejected("session token too long")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "EdDSA" is deprecated by RFC 9864, still what many sign with
                decoded = jwt.decode(token, self.keys, algorithms=ALGORITHMS)
        except JoseError as exc:
            raise SessionRejected(f"session token not valid: {exc.error}") from None
        except (ValueError, TypeError, KeyError):
            raise SessionRejected("session token not valid: malformed") from None
        claims: dict[str, Any] = decoded.claims
        at = int((now or datetime.now(UTC)).timestamp())
        registry = jwt.JWTClaimsRegistry(
            now=at,
            leeway=self.leeway,
            sub={"essential": True},
            sid={"essential": True},
            aud={"essential": True, "value": self.audience},
            exp={"essential": True},
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise SessionRejected(f"session token not valid: {exc.error} {exc.description or ''}".strip()) from None
        sub, sid, exp = claims["sub"], claims["sid"], claims["exp"]
        # A uid is at most MAX_UID_CHARS long, as every user table holds it (a longer one would be a 500 at
        # the first write, not a refusal); the login service signs it, but a bad one must still be a 401.
        if not isinstance(sub, str) or not sub or len(sub) > MAX_UID_CHARS or not sub.isprintable():
            raise SessionRejected("session token not valid: sub")
        if not isinstance(sid, str) or not sid or len(sid) > 128:
            raise SessionRejected("session token not valid: sid")
        # bool is an int; an exp beyond what a datetime holds (10**20) would raise OverflowError: a 500
        if not isinstance(exp, int) or isinstance(exp, bool) or exp > MAX_EXP:
            raise SessionRejected("session token not valid: exp")
        iat = claims.get("iat")
        issued = (
            datetime.fromtimestamp(iat, UTC)
            if isinstance(iat, int) and not isinstance(iat, bool) and 0 <= iat <= MAX_EXP
            else None
        )
        return UserSession(sub, sid, datetime.fromtimestamp(exp, UTC), issued)
