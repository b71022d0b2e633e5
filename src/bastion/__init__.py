"""Bastion: an open-source security platform for centralized crypto exchanges."""

__version__ = "0.1.0"
