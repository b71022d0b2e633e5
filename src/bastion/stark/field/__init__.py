"""The Goldilocks field: numba arithmetic over arrays (``goldilocks``), the verifier's few scalars in Python
integers (``scalar``), and ``Val``, a constraint value on arrays or at one point (``vals``)."""
