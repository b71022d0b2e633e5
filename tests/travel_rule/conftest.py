"""Fixtures of tests/travel_rule; the helpers live in travel_rule_support.py, which tests import by that
unique name (a bare `from conftest import` finds whichever conftest was imported last)."""

from travel_rule_support import *  # noqa: F403
