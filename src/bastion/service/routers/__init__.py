"""The routers the service mounts, one module per domain, listed in one place by plain imports.

A domain adds one import and one entry in `ROUTERS`: its router module's `router` (an APIRouter).
"""

from __future__ import annotations

from fastapi import APIRouter

from bastion.service.routers import (
    account,
    account_page,
    beginner,
    diligence,
    funds,
    keys,
    notify,
    por_public,
    por_user,
    protection,
    protection_fund,
    protection_user,
    risk,
    stepup,
    travel_rule,
)

# In mounting order (it decides nothing but the order of /docs).
ROUTERS: tuple[APIRouter, ...] = (
    risk.router,
    protection.router,
    keys.router,
    funds.router,
    protection_user.router,
    por_public.router,
    por_user.router,
    protection_fund.router,
    beginner.router,
    account.router,
    notify.router,
    stepup.router,
    diligence.router,
    account_page.router,
    travel_rule.router,
)


def all_routers() -> list[APIRouter]:
    return list(ROUTERS)
