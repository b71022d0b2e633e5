"""The liabilities side of proof of reserves: the snapshot, the circuit and the prover pipeline that publishes a
round (round.json through `bastion.por.format`), and the making of users' inclusion proofs. Never imports
`bastion.por.verify`: the verifiers stand on the published files alone."""
