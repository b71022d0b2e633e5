"""Risk provision (insurance) fund: a double-entry ledger of pools, liquidation ingestion, auto-deleveraging.

Pure arithmetic and state rules live in `liquidation`, `pool_state` and `adl`; they know nothing of storage.
`ledger` books into the database, `metrics` reads the monthly figures back.
"""
