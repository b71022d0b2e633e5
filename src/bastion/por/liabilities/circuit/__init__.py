"""The solvency circuit and the circuits around it."""
