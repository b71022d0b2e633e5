"""Uploaded documents: the type is read from the content (magic numbers, the `filetype` library), never from
the file's name or the Content-Type the client sent; only PDF, PNG and JPEG pass, within the size cap."""

from __future__ import annotations

import filetype

from bastion.errors import InvalidInputError, TooLargeError

ALLOWED = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}
# filetype reads at most this many bytes of the head; so do we.
HEAD = 8192


def too_large(limit: int, field: str = "file") -> TooLargeError:
    return TooLargeError(field, f"larger than {limit} bytes (BASTION_DILIGENCE_UPLOAD_MAX_BYTES)")


def media_type(data: bytes, field: str = "file") -> str:
    """The document's media type as its content says, or InvalidInputError naming the field."""
    if not data:
        raise InvalidInputError(field, "the file is empty")
    kind = filetype.guess(data[:HEAD])
    if kind is None or kind.mime not in ALLOWED:
        found = "unrecognised content" if kind is None else f"content is {kind.mime}"
        raise InvalidInputError(field, f"must be a PDF, PNG or JPEG document ({found})")
    return str(kind.mime)
