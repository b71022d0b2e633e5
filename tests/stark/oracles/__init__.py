"""Plain-Python oracles of the engine's numba kernels: slow and obviously correct, used by the tests only."""
