"""HR input files: an employee file read and validated into rows, and its tokens file.

Contract: nothing is sent unless the whole file is valid, so :func:`read_csv_records` reports
*every* bad row with its line number (:class:`CsvInvalid`); tokens are never quoted in errors.
This module only reads files: it knows the manifest's columns, not the nodes.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from protocol.encoding import Record
from protocol.errors import InvalidSubmission, InvalidToken
from protocol.manifest import Manifest
from protocol.wire import MAX_TOKEN_CHARS

from .submission import validate_record


class CsvInvalid(InvalidSubmission):
    """Some CSV rows are invalid; ``problems`` lists ``(line number, message)`` for every one."""

    def __init__(self, message: str, problems: list[tuple[int, str]]) -> None:
        super().__init__(message)
        self.problems = problems


@dataclass(frozen=True)
class CsvRow:
    """One validated employee record and where it came from."""

    line: int  # line number in the file (the header is line 1)
    record: Record


@dataclass(frozen=True)
class _Columns:
    """Where the fields are in each row (0-based); ``job`` is None when the survey has no job
    categories (a job column is then ignored like any other)."""

    gender: int
    salary: int
    job: int | None

    @property
    def needed(self) -> int:
        """How many fields a row must have at least."""
        return max(self.gender, self.salary, self.job if self.job is not None else 0) + 1


def _columns(header: list[str] | None, path: Path, manifest: Manifest) -> _Columns:
    """The columns named by the header line (case-insensitive; other columns ignored)."""
    if header is None:
        raise InvalidSubmission(f"{path} is empty; expected a header line with gender,salary")
    cols = [h.strip().lower() for h in header]
    missing = [c for c in ("gender", "salary") if c not in cols]
    if missing:
        raise InvalidSubmission(f"{path}: the header line has no {' or '.join(missing)} column"
                                " (expected at least gender,salary)")
    if manifest.job_categories and "job" not in cols:
        raise InvalidSubmission(f"{path}: the header line has no job column (this survey asks for a job "
                                f"category: {', '.join(manifest.job_categories)})")
    return _Columns(cols.index("gender"), cols.index("salary"),
                    cols.index("job") if manifest.job_categories else None)


def read_csv_records(path: Path, manifest: Manifest) -> list[CsvRow]:
    """Read and validate every row of an HR CSV file (header with at least ``gender`` and
    ``salary``, and ``job`` when the survey declares job categories; case-insensitive; other
    columns ignored; blank lines skipped).

    Raises :class:`CsvInvalid` listing *every* bad row with its line number, so nothing is sent
    unless the whole file is valid.
    """
    try:
        fh = open(path, newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidSubmission(f"cannot read {path}: {exc.strerror}") from None
    rows: list[CsvRow] = []
    problems: list[tuple[int, str]] = []
    with fh:
        try:
            reader = csv.reader(fh)
            cols = _columns(next(reader, None), path, manifest)
            for raw in reader:
                line = reader.line_num
                if not raw or all(not c.strip() for c in raw):
                    continue
                if len(raw) < cols.needed:
                    problems.append((line, f"has {len(raw)} fields, expected at least {cols.needed}"))
                    continue
                try:
                    rows.append(CsvRow(line, validate_record(manifest, raw[cols.gender], raw[cols.salary],
                                                             raw[cols.job] if cols.job is not None else None)))
                except InvalidSubmission as exc:
                    problems.append((line, str(exc)))
        except csv.Error as exc:
            raise InvalidSubmission(f"{path} is not a valid CSV file: {exc}") from None
        except UnicodeDecodeError:
            raise InvalidSubmission(f"{path} is not UTF-8 text") from None
    if problems:
        raise CsvInvalid(f"{len(problems)} invalid row(s) in {path}; nothing was sent", problems)
    if not rows:
        raise InvalidSubmission(f"{path} has no data rows")
    return rows


def read_tokens(path: Path, needed: int | None = None) -> list[str]:
    """The first ``needed`` tokens of a tokens file (one per line, blank lines ignored; all of
    them if ``needed`` is None).

    Raises :class:`InvalidToken` (never quoting a token) if there are fewer tokens than rows or
    a token repeats.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidToken(f"cannot read tokens file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    tokens = [t.strip() for t in text.splitlines() if t.strip()]
    if needed is None:
        needed = len(tokens)
    if len(tokens) < needed:
        raise InvalidToken(f"{path} has {len(tokens)} token(s) but the CSV has {needed} data row(s);"
                           " every row needs its own token; nothing was sent")
    tokens = tokens[:needed]
    seen: dict[str, int] = {}
    for k, t in enumerate(tokens, 1):
        if len(t) > MAX_TOKEN_CHARS:
            raise InvalidToken(f"{path}: token on line {k} is too long")
        if t in seen:
            raise InvalidToken(f"{path}: tokens {seen[t]} and {k} are the same; each row needs its own token")
        seen[t] = k
    return tokens

