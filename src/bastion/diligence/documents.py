"""Uploaded documents: the type is read from the content, never from the file's name or the Content-Type the
client sent; only PDF, PNG and JPEG pass, within the size cap.

The magic numbers (the `filetype` library) only pick the candidate type: they look at the first bytes, so a
file that starts like a PDF and goes on as HTML or a ZIP would pass on them alone. Each candidate is therefore
checked as a whole before it is accepted:

- PDF: a `%PDF-1.0`..`%PDF-1.7` or `%PDF-2.0` header at the very start, `%%EOF` within the last 1 KiB, and a
  parse with pypdf that reaches the document catalog and at least one page;
- PNG: every chunk walked (length, type, CRC-32), IHDR first, at least one IDAT, IEND last with nothing after;
- JPEG: SOI at the start, the marker segments walked up to the first SOS (a frame header SOFn before it), EOI
  as the last two bytes.
"""

from __future__ import annotations

import io
import re
import struct
import zlib

import filetype
from pypdf import PdfReader

from bastion.errors import InvalidInputError, TooLargeError

ALLOWED = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}
_NAMES = {"application/pdf": "PDF", "image/png": "PNG", "image/jpeg": "JPEG"}
# filetype reads at most this many bytes of the head; so do we.
HEAD = 8192
# The PDF specification allows `%%EOF` to be followed by a little trailing junk (a newline, padding added by
# some scanners); 1 KiB is what readers such as Acrobat tolerate.
PDF_EOF_WINDOW = 1024
_PDF_HEADER = re.compile(rb"%PDF-(1\.[0-7]|2\.0)")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG markers without a length field: TEM, RST0-7 (SOI/EOI are handled where they may appear).
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}
# Start-of-frame markers (SOF0-SOF15 except DHT C4, JPG C8 and DAC CC).
_JPEG_SOF = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


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
    mime = str(kind.mime)
    check = {"application/pdf": _check_pdf, "image/png": _check_png, "image/jpeg": _check_jpeg}[mime]
    problem = check(data)
    if problem is not None:
        raise InvalidInputError(field, f"must be a PDF, PNG or JPEG document (starts as {_NAMES[mime]} but {problem})")
    return mime


def _check_pdf(data: bytes) -> str | None:
    if not _PDF_HEADER.match(data):
        return "has no %PDF-1.x or %PDF-2.0 header"
    if b"%%EOF" not in data[-PDF_EOF_WINDOW:]:
        return "has no %%EOF at its end"
    try:
        reader = PdfReader(io.BytesIO(data))
        catalog = reader.root_object.get("/Type")
        pages = len(reader.pages)
    # pypdf is fed hostile bytes here: besides its own PdfReadError, malformed input can surface as
    # KeyError, ValueError, TypeError, AttributeError or RecursionError; all of them mean "not a PDF".
    except Exception:
        return "does not parse as a PDF"
    if catalog != "/Catalog":
        return "has no document catalog"
    if pages < 1:
        return "has no pages"
    return None


def _check_png(data: bytes) -> str | None:
    if not data.startswith(_PNG_SIGNATURE):
        return "has no PNG signature"
    at, first, idat = len(_PNG_SIGNATURE), True, False
    while at < len(data):
        if at + 12 > len(data):
            return "ends inside a chunk"
        length, kind = struct.unpack_from(">I4s", data, at)
        end = at + 8 + length + 4
        if length > 0x7FFFFFFF or end > len(data):
            return "ends inside a chunk"
        if not kind.isalpha():
            return "has a chunk with an invalid type"
        body = data[at + 4 : at + 8 + length]
        (crc,) = struct.unpack_from(">I", data, at + 8 + length)
        if zlib.crc32(body) != crc:
            return f"has a wrong CRC on its {kind.decode('ascii')} chunk"
        if first and (kind != b"IHDR" or length != 13):
            return "does not start with an IHDR chunk"
        first = False
        idat = idat or kind == b"IDAT"
        if kind == b"IEND":
            if end != len(data):
                return "has data after IEND"
            return None if idat else "has no image data (IDAT)"
        at = end
    return "has no IEND chunk"


def _check_jpeg(data: bytes) -> str | None:
    if not data.startswith(b"\xff\xd8"):
        return "has no SOI marker"
    if not data.endswith(b"\xff\xd9"):
        return "does not end with an EOI marker"
    at, frame = 2, False
    while True:
        if at >= len(data) or data[at] != 0xFF:
            return "has bytes between its segments that are not a marker"
        while at < len(data) and data[at] == 0xFF:  # fill bytes may precede a marker
            at += 1
        if at >= len(data):
            return "ends before its image data"
        marker = data[at]
        at += 1
        if marker in _JPEG_STANDALONE:
            continue
        if marker < 0xC0 or marker in (0xD8, 0xD9):
            return f"has an invalid marker 0xFF{marker:02X} before its image data"
        if at + 2 > len(data):
            return "ends inside a segment"
        (length,) = struct.unpack_from(">H", data, at)
        if length < 2 or at + length > len(data):
            return "has a segment that runs past its end"
        if marker in _JPEG_SOF:
            frame = True
        if marker == 0xDA:  # SOS: entropy-coded data follows, up to the EOI checked above
            if not frame:
                return "has image data before a frame header (SOF)"
            if at + length >= len(data) - 2:
                return "has no image data after its scan header"
            return None
        at += length
