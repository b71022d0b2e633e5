"""The liabilities prover, a round in three checkpointed stages: ``plan`` (secrets, shuffle, batches, leaves),
``batches`` (one STARK per batch, in a process pool or on Ray), ``publish`` (the aggregation proof, the tree,
round.json); ``pipeline.prove_round`` runs them, resuming where a killed run stopped."""
