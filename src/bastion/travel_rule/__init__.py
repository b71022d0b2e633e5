"""The Travel Rule (FATF R.16, EU TFR 2023/1113): IVMS101 data, rules per jurisdiction pair, the VASP directory,
signed messages between exchanges, deposits held until their originator is known, withdrawals held until the
rule is met."""
