"""The verifiers: a whole round from its published files (`round`) and one user's inclusion proof (`user`, plain
Python, fast when run cold). They read the round through `bastion.por.format` and the circuit's digest and asset
table through `bastion.por.liabilities.circuit.published`; the prover never imports them."""
