"""The decision, pure of I/O but for the stored answer: features (`features.py`), the rules as data
(`rules.py`), the learned score (`score.py`), the hard locks (`locks.py`) and the decision with its answer and
stored row (`decision.py`)."""
