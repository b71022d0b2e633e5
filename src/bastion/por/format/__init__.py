"""The proof-of-reserves formats, below everything else in `por`: round.json and the round directory's names
(`round`), the one amount grammar with its column kernel and formatters (`amounts`, `amount_column`), the
leaves a user recomputes and the leaf list file (`leaves`). The liabilities prover, both verifiers and the
reserves side read and write rounds only through here."""
