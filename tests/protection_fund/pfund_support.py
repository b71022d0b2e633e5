"""Helpers for the protection-fund tests."""

from __future__ import annotations

from bastion.service.testing import user_key_headers as user_headers

__all__ = ["user_headers"]
