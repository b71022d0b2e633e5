"""Errors of the reserves side: bad input names the file, the row and the field."""

from __future__ import annotations

from bastion.errors import InvalidInputError


class ReservesInputError(InvalidInputError):
    """A round.json, wallet set or registry that cannot be read as written.

    `problems` holds every (row, field, message) found, so one run shows all bad rows of a file at once;
    the exception's text names the file and the first few.
    """

    def __init__(self, file: str, problems: list[tuple[int | None, str, str]]) -> None:
        self.file = file
        self.problems = problems
        row, field, message = problems[0]
        super().__init__(field, message, row)
        shown = [_where(file, r, f) + m for r, f, m in problems[:20]]
        more = f"\n... and {len(problems) - 20} more" if len(problems) > 20 else ""
        self.args = ("\n".join(shown) + more,)

    def __str__(self) -> str:
        return str(self.args[0])


def _where(file: str, row: int | None, field: str) -> str:
    return f"{file}: " + (f"row {row}, " if row is not None else "") + f"{field}: "


def fail(file: str, field: str, message: str, row: int | None = None) -> ReservesInputError:
    return ReservesInputError(file, [(row, field, message)])
