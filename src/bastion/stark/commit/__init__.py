"""Commitments and Fiat-Shamir: salted Merkle trees over rows, FRI, the transcript."""
