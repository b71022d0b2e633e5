"""Rules as data: a scenario (trigger, rules that add score, thresholds review <= block), versioned in the
database and changed without code.

A rule is a condition over named *features* (computed for every withdrawal by `bastion.risk.decide.features`) and
a score it adds when the condition holds. Conditions nest: `{"all": [...]}`, `{"any": [...]}`,
`{"not": {...}}`, and comparisons `{"feature": "amount_usd", "op": ">=", "value": 1000}`. Validation names
the offending rule and field, so a bad upload is refused whole before it can be activated.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from bastion.db.versioned import refuse_repeated_ids

# Every feature a rule may test, with its type and meaning (the list the docs and validation use).
FEATURES: dict[str, tuple[type, str]] = {
    "amount_usd": (float, "USD value of this withdrawal at the time of the attempt"),
    "balance_share": (float, "this amount over the balance before it (0 when no balance was sent)"),
    "drained_share_24h": (float, "this plus the last 24 h of withdrawals over the balance they came from"),
    "withdrawals_24h_count": (int, "withdrawal requests in the last 24 h including this one"),
    "withdrawals_24h_usd": (
        float,
        "USD requested in the last 24 h including this one (blocked and held ones excluded)",
    ),
    "device_known": (bool, "the request's device fingerprint had a successful login before"),
    "device_age_hours": (float, "hours since the device's first successful login (0 when unknown)"),
    "address_in_book": (bool, "the destination is in the user's address book"),
    "address_age_hours": (float, "hours since the destination was added to the address book (0 when not)"),
    "address_used_before": (bool, "the user withdrew to this destination before (not blocked)"),
    "allowlist_enabled": (bool, "the user restricted withdrawals to the address book"),
    "hours_since_credential_change": (float, "hours since password/2FA/phone/email changed (1e6 if never)"),
    "destination_on_phishing_list": (bool, "the destination is a known phishing/scam address"),
    "ip_on_reputation_list": (bool, "the request's IP is on the bad-IP list (address or range)"),
    "login_new_asn_24h": (bool, "a successful login in the last 24 h came from an ASN new for this user"),
    "login_new_country_24h": (
        bool,
        "a successful login in the last 24 h came from a country new for this user",
    ),
    "max_travel_kmh_24h": (float, "fastest travel implied between consecutive logins in the last 24 h"),
    "failed_logins_24h": (int, "failed logins in the last 24 h"),
    "destination_users_24h": (int, "other users who sent to this destination in the last 24 h"),
}

Op = Literal["<", "<=", ">", ">=", "==", "!="]


class Compare(BaseModel):
    model_config = ConfigDict(extra="forbid")
    feature: str
    op: Op
    value: float | bool

    @model_validator(mode="after")
    def _known_feature(self) -> Compare:
        if self.feature not in FEATURES:
            raise ValueError(f"unknown feature {self.feature!r}; known: {', '.join(sorted(FEATURES))}")
        kind = FEATURES[self.feature][0]
        if kind is bool and (not isinstance(self.value, bool) or self.op not in ("==", "!=")):
            raise ValueError(f"feature {self.feature!r} is true/false: compare it with == or != true/false")
        if kind is not bool and isinstance(self.value, bool):
            raise ValueError(f"feature {self.feature!r} is a number: compare it with a number")
        return self


class All(BaseModel):
    model_config = ConfigDict(extra="forbid")
    all: list[Condition] = Field(min_length=1)


class Any_(BaseModel):
    model_config = ConfigDict(extra="forbid")
    any: list[Condition] = Field(min_length=1)


class Not(BaseModel):
    model_config = ConfigDict(extra="forbid")
    not_: Condition = Field(alias="not")


def _condition_kind(v: Any) -> str:
    """Pick the condition type by its key, so an error speaks of that one type only."""
    keys = set(v) if isinstance(v, dict) else {k for k in ("all", "any", "not_") if hasattr(v, k)}
    for k in ("all", "any"):
        if k in keys:
            return k
    return "not" if ("not" in keys or "not_" in keys) else "compare"


Condition = Annotated[
    Union[  # noqa: UP007
        Annotated[All, Tag("all")],
        Annotated[Any_, Tag("any")],
        Annotated[Not, Tag("not")],
        Annotated[Compare, Tag("compare")],
    ],
    Discriminator(_condition_kind),
]


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    description: str = ""
    score: float = Field(ge=-100, le=1000)
    when: Condition
    # True: when the rule fires (not snoozed) and the score does not block, the withdrawal waits for the user's
    # step-up (a fresh TOTP code or passkey assertion bound to it, `bastion.stepup`) before the score's
    # decision (allow, or review) applies. A user with neither factor enrolled is held for review instead.
    step_up: bool = False


class Trigger(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event: Literal["withdrawal"] = "withdrawal"
    # Withdrawals below this USD value are allowed without running the rules (dust).
    min_amount_usd: float = Field(default=0, ge=0)


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid")
    review: float
    block: float

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.review > self.block:
            raise ValueError("thresholds: review must be <= block")
        return self


class ModelShare(BaseModel):
    """How much the learned score may add: at most `max_points`, and nothing before `min_samples` labels."""

    model_config = ConfigDict(extra="forbid")
    max_points: float = Field(default=20, ge=0, le=100)
    min_samples: int = Field(default=30, ge=1)


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = "withdrawals"
    trigger: Trigger = Trigger()
    thresholds: Thresholds
    model: ModelShare = ModelShare()
    rules: list[Rule] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> Scenario:
        refuse_repeated_ids(self.rules)
        return self


All.model_rebuild()
Any_.model_rebuild()
Not.model_rebuild()


def holds(cond: All | Any_ | Not | Compare, features: dict[str, Any]) -> bool:
    if isinstance(cond, Compare):
        x = features[cond.feature]
        v = cond.value
        if cond.op == "==":
            return bool(x == v)
        if cond.op == "!=":
            return bool(x != v)
        if cond.op == "<":
            return bool(x < v)
        if cond.op == "<=":
            return bool(x <= v)
        if cond.op == ">":
            return bool(x > v)
        return bool(x >= v)
    if isinstance(cond, All):
        return all(holds(c, features) for c in cond.all)
    if isinstance(cond, Any_):
        return any(holds(c, features) for c in cond.any)
    return not holds(cond.not_, features)


def _c(feature: str, op: str, value: float | bool) -> dict[str, Any]:
    return {"feature": feature, "op": op, "value": value}


# The scenario installed by the first migration-time load (`ensure_default_ruleset`). Scores were set on the
# simulated month (docs/risk.md): single weak signals stay under review; takeover and phishing patterns
# combine past it; hard policies (phishing list, allowlist mode and its 24 h lock) block outright.
DEFAULT_SCENARIO: dict[str, Any] = {
    "name": "withdrawals",
    "trigger": {"event": "withdrawal", "min_amount_usd": 0},
    "thresholds": {"review": 50, "block": 90},
    "model": {"max_points": 20, "min_samples": 30},
    "rules": [
        {
            "id": "phishing_destination",
            "score": 100,
            "description": "destination is on the known phishing/scam address list",
            "when": _c("destination_on_phishing_list", "==", True),
        },
        {
            "id": "allowlist_violation",
            "score": 100,
            "description": "allowlist mode is on and the destination is not in the address book",
            "when": {"all": [_c("allowlist_enabled", "==", True), _c("address_in_book", "==", False)]},
        },
        {
            "id": "new_address_lock_24h",
            "score": 100,
            "description": "allowlist mode: an address added less than 24 h ago cannot be used yet",
            "when": {
                "all": [
                    _c("allowlist_enabled", "==", True),
                    _c("address_in_book", "==", True),
                    _c("address_age_hours", "<", 24),
                ]
            },
        },
        {
            "id": "credential_change_24h",
            "score": 50,
            "description": "password, 2FA, phone or email changed under 24 h ago (the 24 h withdrawal lock)",
            "when": _c("hours_since_credential_change", "<", 24),
        },
        {
            "id": "new_device_new_address",
            "score": 50,
            "description": "a device first seen in the last 72 h sends to a destination never used before",
            "when": {
                "all": [
                    _c("device_age_hours", "<", 72),
                    _c("address_used_before", "==", False),
                    {"any": [_c("address_in_book", "==", False), _c("address_age_hours", "<", 72)]},
                ]
            },
        },
        {
            "id": "velocity_amount_24h",
            "score": 20,
            "description": "more than 50,000 USD requested in 24 h",
            "when": _c("withdrawals_24h_usd", ">", 50000),
        },
        {
            "id": "velocity_count_24h",
            "score": 20,
            "description": "more than 10 withdrawal requests in 24 h",
            "when": _c("withdrawals_24h_count", ">", 10),
        },
        {
            "id": "balance_drain",
            "score": 25,
            "description": "80% or more of the balance leaves within 24 h",
            "when": {"all": [_c("drained_share_24h", ">=", 0.8), _c("amount_usd", ">=", 500)]},
        },
        {
            "id": "bad_ip",
            "score": 40,
            "description": "request comes from an IP on the reputation list",
            "when": _c("ip_on_reputation_list", "==", True),
        },
        {
            "id": "impossible_travel",
            "score": 30,
            "description": "consecutive logins imply travel faster than 1,000 km/h",
            "when": _c("max_travel_kmh_24h", ">", 1000),
        },
        {
            "id": "new_asn_login",
            "score": 15,
            "description": "a login in the last 24 h came from a network (ASN) new for this user",
            "when": _c("login_new_asn_24h", "==", True),
        },
        {
            "id": "shared_destination",
            "score": 30,
            "description": "3+ other users sent to this new destination in 24 h (a collecting address)",
            "when": {"all": [_c("destination_users_24h", ">=", 3), _c("address_used_before", "==", False)]},
        },
        {
            "id": "fresh_address_large",
            "score": 30,
            "description": "half or more of the balance to a destination added (or typed) in the last hour",
            "when": {
                "all": [
                    _c("address_used_before", "==", False),
                    _c("address_age_hours", "<", 1),
                    _c("balance_share", ">=", 0.5),
                    _c("amount_usd", ">=", 500),
                ]
            },
        },
        {
            "id": "first_use_large",
            "score": 20,
            "description": "first withdrawal to this destination and half or more of the balance",
            "when": {
                "all": [
                    _c("address_used_before", "==", False),
                    _c("balance_share", ">=", 0.5),
                    _c("amount_usd", ">=", 500),
                ]
            },
        },
    ],
}


def parse_scenario(definition: dict[str, Any]) -> Scenario:
    return Scenario.model_validate(definition)
