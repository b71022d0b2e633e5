"""Travel Rule settings, from BASTION_TRAVEL_RULE_* environment variables.

BASTION_TRAVEL_RULE_LEI=529900T8BM49AURSDO55        this exchange's LEI (the `sender` of its messages)
BASTION_TRAVEL_RULE_NAME=Bastion Exchange            its legal name, as counterparties list it
BASTION_TRAVEL_RULE_JURISDICTION=EU                  whose law applies to it (the rules' `jurisdiction`)
BASTION_TRAVEL_RULE_ENDPOINT=https://vasp.example    its public base URL (callbacks are under it)
BASTION_TRAVEL_RULE_SIGNING_KEY_FILE=...             its private JWK; unset: made once in the data dir
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class TravelRuleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BASTION_TRAVEL_RULE_", extra="ignore")

    # A syntactically valid placeholder (ISO 17442 check digits); production sets the exchange's own.
    lei: str = "5299000J2N45DDNE4Y28"
    name: str = "Bastion Exchange"
    # INTL matches only the rules for every jurisdiction (`*`, the FATF default); an EU exchange sets EU, which
    # adds the TFR's rules (every VASP transfer, self-hosted wallets above EUR 1,000).
    jurisdiction: str = Field(default="INTL", pattern=r"^[A-Z]{2,8}$")
    endpoint: str = "http://127.0.0.1:8000"
    signing_key_file: Path | None = None
    # A held deposit is returned to its sender after this many days without what the rule needs.
    hold_days: int = Field(default=14, ge=1, le=365)
    # Counterparty messages older or newer than this (seconds, by their `iat`) are refused; within it, a
    # message id is accepted once (stored), so a replay is refused either way.
    message_window_seconds: int = Field(default=300, ge=10, le=3600)
    # Seconds a service process trusts its cached rules, prices and VASP addresses (the withdrawal hot path).
    cache_seconds: float = Field(default=2.0, ge=0)
    # Seconds an outgoing message may take to be accepted by the counterparty.
    send_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
