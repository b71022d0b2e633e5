"""The univariate STARK: parameters, what prover and verifier compute alike (``protocol``), the proof's bytes,
the prover, the verifier (which never imports the prover) and the soundness count."""
