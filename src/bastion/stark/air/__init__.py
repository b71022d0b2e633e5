"""Statements: the AIR interface, its compiled evaluation (``symbolic``), LogUp lookups, the Poseidon2 gadget."""
