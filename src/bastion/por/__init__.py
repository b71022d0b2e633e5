"""Proof of Reserves: the snapshot input, the solvency circuit and the round pipeline."""
