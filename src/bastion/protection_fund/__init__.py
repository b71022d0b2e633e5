"""User protection fund: a segregated safety net for users after hacks and exchange-side failures.

Not the risk provision (insurance) fund of `bastion.funds`, which absorbs liquidation shortfalls. This one has
its own double-entry ledger (`ledger`: contributions, transfers, payouts), an incident workflow (`incidents`:
an operator opens an incident, records the affected users and amounts, pays them from the fund once), its
wallets proven each proof-of-reserves round with the reserves code (`wallets`), the public figures
(`public`) and the disclosures of both funds (`disclosures`).
"""
