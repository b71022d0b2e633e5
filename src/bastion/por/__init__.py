"""Proof of reserves: the formats of a round (`format/`), the liabilities side that proves one (`liabilities/`),
the verifiers (`verify/`), the reserves side (`reserves/`) and the rounds history (`history.py`)."""
