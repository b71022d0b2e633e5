"""Every module that defines models, imported so that `Base.metadata` knows all tables.

Alembic's env.py and the model/migration consistency test import this. A domain adds one line.
"""

from __future__ import annotations

import importlib

MODEL_MODULES: list[str] = [
    "bastion.risk.models",
    "bastion.protection.anti_phishing",
    "bastion.protection.totp",
    "bastion.protection.passkeys",
    "bastion.keys.models",
    "bastion.funds.models",
    "bastion.protection.cooling_off",
    "bastion.protection.deposits",
    "bastion.protection_fund.models",
    "bastion.protection.beginner",
    "bastion.access.models",
    "bastion.account.models",
    "bastion.notify.models",
    "bastion.stepup.models",
    "bastion.diligence.models",
    "bastion.travel_rule.models",
]


def import_all_models() -> None:
    for name in MODEL_MODULES:
        importlib.import_module(name)
