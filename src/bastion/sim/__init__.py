"""Simulators: seeded, labelled traffic of an exchange, used by tests, benchmarks and the demo."""
