"""What the routes share for the life of one app, built in one place when the app is created.

`wire(app)` (called by `create_app`) builds the keys runtime, the cooling-off cache, the Travel Rule state and
its withdrawal gate from `app.state.settings`, and puts them on `app.state`; routes reach them through
`bastion.service.deps`. They are built with the app rather than on first use: no router keeps a lock or a
singleton of its own, a bad setting fails at start, and the code that creates an app in its own process
(tests, `bastion sim month`) can look at them or adjust them before it serves (`InProcessOverrides`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from bastion.access.gate import CredentialGate
from bastion.access.sessions import SessionVerifier, dev_key, load_verification_keys
from bastion.account import freeze as account_freeze
from bastion.db.sealing import Keyring
from bastion.keys import policy
from bastion.keys.auth import Authenticator
from bastion.keys.lifecycle import KeyVault, SecondFactor
from bastion.keys.ratelimit import KeyRateLimits
from bastion.protection.cooling_off_cache import ActivationVersion, CoolingOffCache, FileVersion, RedisVersion
from bastion.settings import Settings
from bastion.travel_rule import flows, protocol
from bastion.travel_rule.gate import TravelRuleGate


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class KeysRuntime:
    """Per-app key machinery: vault, limits (in memory or Redis), the authenticator and the clock."""

    vault: KeyVault
    limits: KeyRateLimits
    authenticator: Authenticator
    trusted_proxies: list[policy.IpNetwork] = field(default_factory=list)
    clock: Callable[[], datetime] = _utcnow  # tests replace it to control time
    # The user's TOTP check, needed to create a withdraw key; None refuses every withdraw key.
    second_factor: SecondFactor | None = None


def totp_second_factor(secret_key: Callable[[], bytes]) -> SecondFactor:
    """The account-protection TOTP check (confirmed enrollment, one use per code, lockout after failures)."""
    from bastion.protection import totp

    def check(session: Session, user_id: str, code: str, now: datetime) -> bool:
        return totp.verify(session, secret_key(), user_id, code, now) == totp.Check.ok

    return check


def build_runtime(settings: Settings, sessions: sessionmaker[Session]) -> KeysRuntime:
    vault = KeyVault.from_keyring(
        settings.keys_encryption_keys.get_secret_value() if settings.keys_encryption_keys else None,
        settings.secret_key_bytes,
    )
    limits = KeyRateLimits(
        settings.redis_url or "memory://",
        per_key=settings.keys_rate_limit_per_key,
        per_user=settings.keys_rate_limit_per_user,
    )
    proxies = [p for p in settings.trusted_proxies.split(",") if p.strip()]
    return KeysRuntime(
        vault=vault,
        limits=limits,
        authenticator=Authenticator(sessions, vault, limits, account_frozen=account_freeze.is_frozen),
        trusted_proxies=policy.parse_allowlist(proxies, field="trusted_proxies") if proxies else [],
        second_factor=totp_second_factor(settings.secret_key_bytes),
    )


class TravelRuleState:
    """This exchange as a Travel Rule counterparty: who we are (the signing key in the data dir), the sealer of
    personal data, the hold and message windows, and how messages are sent (tests replace `send`)."""

    def __init__(self, settings: Settings) -> None:
        tr = settings.travel_rule
        key = protocol.signing_key(settings.ensure_data_dir(), tr.signing_key_file)
        self.identity = protocol.Identity(tr.lei, tr.name, tr.jurisdiction, tr.endpoint, key)
        self.sealer = Keyring.derived(settings.secret_key_bytes(), flows.SEAL_PURPOSE)
        self.hold_days = tr.hold_days
        self.window = tr.message_window_seconds
        self.timeout = tr.send_timeout_seconds
        self.send: Callable[[str, str, float], None] = protocol.http_send


def build_cooling_off_cache(settings: Settings, sessions: Any) -> CoolingOffCache:
    """Activations announced through Redis when BASTION_REDIS_URL is set (every process, every machine), else
    through a file in the data dir."""
    version: ActivationVersion = (
        RedisVersion.from_url(settings.redis_url, settings.cooling_off.redis_prefix)
        if settings.redis_url
        else FileVersion(settings.ensure_data_dir() / "cooling-off.version")
    )
    return CoolingOffCache(sessions, version, settings.cooling_off.cache_seconds, settings.cooling_off.cache_entries)


def build_access_gate(settings: Settings, sessions: Any) -> CredentialGate:
    """Service and operator credentials: named ones from the database (cached), plus BASTION_OPERATOR_TOKEN."""
    token = settings.operator_token.get_secret_value() if settings.operator_token else None
    return CredentialGate(
        sessions, token, cache_seconds=settings.access_cache_seconds, audit_seconds=settings.access_audit_seconds
    )


def build_session_verifier(settings: Settings) -> SessionVerifier:
    """Users' sessions: the configured key(s), else the data dir's development key."""
    from joserfc.jwk import KeySet

    if settings.user_session_keys is not None:
        keys = load_verification_keys(settings.user_session_keys)
    else:
        keys = KeySet.import_key_set({"keys": [dev_key(settings.ensure_data_dir()).as_dict(private=False)]})
    return SessionVerifier(
        keys,
        audience=settings.user_session_audience,
        max_skew=timedelta(seconds=settings.user_session_max_skew_seconds),
    )


def wire(app: Any) -> None:
    settings: Settings = app.state.settings
    sessions = app.state.sessionmaker
    runtime = build_runtime(settings, sessions)
    overrides = app.state.overrides
    if overrides.keys_clock is not None:
        runtime.clock = overrides.keys_clock
    if overrides.keys_second_factor is not None:
        runtime.second_factor = overrides.keys_second_factor
    app.state.access_gate = build_access_gate(settings, sessions)
    app.state.session_verifier = build_session_verifier(settings)
    app.state.keys_runtime = runtime

    async def _close_keys() -> None:
        # The refusals still queued are written before the engine goes (keys/rejectlog.py).
        await run_in_threadpool(runtime.authenticator.close)

    app.state.shutdown_hooks.append(_close_keys)
    app.state.cooling_off_cache = build_cooling_off_cache(settings, sessions)
    app.state.travel_rule = TravelRuleState(settings)
    tr = settings.travel_rule
    app.state.travel_rule_gate = TravelRuleGate(sessions, tr.jurisdiction, tr.cache_seconds)
