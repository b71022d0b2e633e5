"""Fixtures of tests/account; the helpers live in account_support.py, which tests import by that unique name (a bare
`from conftest import` finds whichever conftest was imported last)."""

from account_support import *  # noqa: F403
