"""Errors the domains raise, free of HTTP; the service maps each kind to one status code.

A domain says *what* went wrong (not found, conflicts with what is stored, bad input in a named field);
`bastion.service.app` turns that into 404 / 409 / 422 with the same JSON shape as request validation errors.
"""

from __future__ import annotations


class BastionError(Exception):
    """Base of the errors a domain raises on purpose."""


class NotFoundError(BastionError):
    pass


class ConflictError(BastionError):
    """The request contradicts stored state, e.g. an event id reused with a different payload."""


class InvalidInputError(BastionError):
    """Input that passed the schema but is still wrong; names the field (and the row, for batches)."""

    def __init__(self, field: str, message: str, row: int | None = None) -> None:
        self.field = field
        self.row = row
        self.message = message
        where = f"row {row}, " if row is not None else ""
        super().__init__(f"{where}{field}: {message}")


class TooLargeError(InvalidInputError):
    """A named field (an uploaded file) larger than its cap: the service answers 413."""
