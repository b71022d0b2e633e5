"""The scopes a service or operator credential may carry, and what each one opens."""

from __future__ import annotations

ALL = "*"

# service scopes: machines of the exchange
SERVICE_SCOPES: dict[str, str] = {
    "risk:write": "withdrawal wallet service: POST /v1/withdrawals/evaluate",
    "events:write": "the exchange's event feeds: logins, credential and address-book changes (POST /v1/events/*), "
    "beginner accounts, first derivatives trades, margin events",
    "funds:write": "liquidation engine and position feed: liquidations, ADL position snapshots",
    "orders:precheck": "order gateways: POST /v1/orders/precheck",
    "deposits:write": "chain watcher: POST /v1/deposits/observed",
    "account:write": "the exchange's login service and the risk engine: logins (devices, sessions), account "
    "freezes on a confirmed takeover",
    "notify:write": "account service: users' contact addresses for alert emails (PUT /v1/notify/contacts/*)",
    "compliance:write": "compliance feeds: due-diligence signals (deposits, risk scores, jurisdictions)",
    "travel_rule:write": "wallet service: observed deposits and sent withdrawals for the Travel Rule "
    "(POST /v1/travel-rule/deposits, /v1/travel-rule/withdrawals/sent)",
}
# operator scopes: the back office
OPERATOR_SCOPES: dict[str, str] = {
    "risk:review": "analysts: the review queue, decisions, risk metrics",
    "risk:admin": "risk administrators: rule sets, lists, snoozes",
    "keys:admin": "account back office: users' API keys, third-party apps, the key sweeper and metrics",
    "funds:admin": "treasury: insurance-fund injections and fund metrics",
    "deposits:review": "support: moving mistaken-deposit cases",
    "protection:admin": "user-protection rules (beginner protection) and their effect measurement",
    "notify:admin": "security communications: the official-channel registry, the alert outbox's state",
    "pfund:admin": "user protection fund: contributions, transfers, incidents, payouts, fund disclosures",
    "account:admin": "account security back office: freezes, unfreeze cases (identity re-verification), account trail",
    "compliance:review": "compliance officers: the due-diligence queue, users' answers and documents, decisions",
    "compliance:admin": "compliance administrators: due-diligence triggers (versioned rule sets)",
    "travel_rule:review": "compliance: Travel Rule held deposits, transfers, answers to counterparties' inquiries",
}
SCOPES: dict[str, str] = {
    **SERVICE_SCOPES,
    **OPERATOR_SCOPES,
    ALL: "every service and operator scope (the bootstrap admin credential); never a user's routes",
}


def parse_scopes(text: str | list[str]) -> frozenset[str]:
    """'a,b' or ['a', 'b'] -> the set; an unknown scope is a ValueError naming it."""
    items = text.split(",") if isinstance(text, str) else text
    out = {s.strip() for s in items if s.strip()}
    if not out:
        raise ValueError("scopes: at least one (see `bastion tokens scopes`)")
    unknown = sorted(out - SCOPES.keys())
    if unknown:
        raise ValueError(f"scopes: unknown {', '.join(unknown)} (see `bastion tokens scopes`)")
    return frozenset(out)


def allows(held: frozenset[str], needed: str) -> bool:
    return needed in held or ALL in held
