"""The routers the service mounts, one module per domain, listed in one place.

A domain adds one line: the dotted name of its router module, which must expose `router` (an APIRouter).
"""

from __future__ import annotations

import importlib

from fastapi import APIRouter

ROUTER_MODULES: list[str] = [
    "bastion.service.routers.risk",
    "bastion.service.routers.protection",
    "bastion.service.routers.keys",
    "bastion.service.routers.funds",
    "bastion.service.routers.protection_user",
    "bastion.service.routers.por_public",
    "bastion.service.routers.por_user",
    "bastion.service.routers.protection_fund",
    "bastion.service.routers.beginner",
    "bastion.service.routers.account",
    "bastion.service.routers.notify",
    "bastion.service.routers.stepup",
    "bastion.service.routers.diligence",
    "bastion.service.routers.account_page",
    "bastion.service.routers.travel_rule",
]


def all_routers() -> list[APIRouter]:
    return [importlib.import_module(name).router for name in ROUTER_MODULES]
