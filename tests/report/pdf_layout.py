"""Reading a printed report back (pypdf) for its layout: where each line of text sits on its page, how full
each page is, what the last thing on a page is, and whether a word was split across two lines.

Lines come from pypdf's text visitor (text with its matrix): one entry per drawn run, with its baseline
height in points from the bottom of the page. The footer (page numbers, in the bottom margin) is left out.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from pypdf import PdfReader

MM = 72 / 25.4
TOP_MARGIN = 16 * MM  # the report's @page margins
BOTTOM_MARGIN = 18 * MM


@dataclass
class Line:
    y: float
    x: float
    text: str


def _mult(m: list[float], n: list[float]) -> list[float]:
    return [
        m[0] * n[0] + m[1] * n[2], m[0] * n[1] + m[1] * n[3],
        m[2] * n[0] + m[3] * n[2], m[2] * n[1] + m[3] * n[3],
        m[4] * n[0] + m[5] * n[2] + n[4], m[4] * n[1] + m[5] * n[3] + n[5],
    ]  # fmt: skip


def page_lines(path: Path) -> tuple[list[list[Line]], float]:
    """Per page, the text runs above the bottom margin, merged into lines (same baseline), top to bottom."""
    reader = PdfReader(path)
    pages: list[list[Line]] = []
    height = float(reader.pages[0].mediabox.height)
    for page in reader.pages:
        runs: list[Line] = []

        def visit(text: str, cm: list[float], tm: list[float], _font: object, _size: object,
                  runs: list[Line] = runs) -> None:  # fmt: skip
            if not text.strip():
                return
            m = _mult(list(tm), list(cm))
            runs.append(Line(m[5], m[4], text.replace("\n", " ")))

        page.extract_text(visitor_text=visit)
        body = [r for r in runs if r.y > BOTTOM_MARGIN]
        body.sort(key=lambda r: (-round(r.y, 0), r.x))
        lines: list[Line] = []
        for r in body:
            if lines and abs(lines[-1].y - r.y) < 1.5:
                prev = lines[-1].text
                # runs split at the report's break opportunities (after . _ / ,) are one word; others get a space
                glue = "" if r.text.startswith(" ") or prev.endswith(" ") or prev[-1:] in "._/," else " "
                lines[-1].text = prev + glue + r.text
            else:
                lines.append(Line(r.y, r.x, r.text))
        pages.append(lines)
    return pages, height


def fill(lines: list[Line], height: float) -> float:
    """How far down the printable area the page's text goes (0: empty, 1: to the bottom margin)."""
    if not lines:
        return 0.0
    top = height - TOP_MARGIN
    lowest = min(line.y for line in lines)
    return (top - lowest) / (top - BOTTOM_MARGIN)


class _Headings(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.current: list[str] = []
        self.found: list[str] = []
        self.words: set[str] = set()
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("h1", "h2", "h3", "dt"):
            self.depth += 1
        if tag in ("style", "title", "svg"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("h1", "h2", "h3", "dt") and self.depth:
            self.depth -= 1
            self.found.append(" ".join("".join(self.current).split()))
            self.current = []
        if tag in ("style", "title", "svg") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self.depth:
            self.current.append(data)
        self.words.update(WORD.findall(data))


WORD = re.compile(r"[A-Za-z0-9]{2,}")


def headings_and_words(html: str) -> tuple[list[str], set[str]]:
    """The report's headings (h1-h3 and FAQ questions) and every word of its text, from report.html."""
    p = _Headings()
    p.feed(html)
    return p.found, p.words


def norm(text: str) -> str:
    return " ".join(text.split())


def ends_with_heading(lines: list[Line], headings: list[str]) -> str | None:
    """The heading the page ends with, if its last line is (the end of) a heading."""
    if not lines:
        return None
    last = norm(lines[-1].text)
    for h in headings:
        if last and (last == h or (len(last) > 8 and h.endswith(last))):
            return h
    return None


def split_words(pages: list[list[Line]], words: set[str]) -> list[str]:
    """Words of the report printed split across two lines: the end of one line and the start of the next
    make a word of the report that neither part is on its own."""
    found = []
    for lines in pages:
        for a, b in itertools.pairwise(lines):
            left = WORD.findall(a.text)
            right = WORD.findall(b.text)
            if not left or not right or not re.search(r"[A-Za-z0-9]$", a.text.rstrip()) or a.text.endswith(" "):
                continue
            if not re.match(r"[A-Za-z0-9]", b.text.lstrip()):
                continue
            joined = left[-1] + right[0]
            if joined in words and (left[-1] not in words or right[0] not in words):
                found.append(f"{a.text.strip()[-30:]!r} / {b.text.strip()[:30]!r}")
    return found
