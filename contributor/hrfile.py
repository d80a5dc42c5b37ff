"""HR input files: an employee file as HR systems export it, read and validated into rows, and
its tokens file.

Files: CSV separated by ``,`` ``;`` tab or ``|`` (sniffed from the first lines, or
``--delimiter``), in UTF-8 with or without a byte-order mark, UTF-16 (with a BOM, or recognised by
its zero bytes) or Windows-1252 (tried last), or any ``--encoding``; spreadsheets (``.xlsx``,
``.xlsm``, ``.xls``, ``.ods``: the first sheet, read with python-calamine).  The first non-blank
row is the header; each field's column is found by ``--column FIELD=HEADER`` or by its usual
header (:data:`DEFAULT_HEADERS`), compared after NFKC normalisation and case folding.

Contract: nothing is sent unless the whole file is valid, so :func:`check_file` reports *every*
bad row, each as one line naming its line (CSV) or row (spreadsheet), its column and what was
expected (:class:`RowProblem`); :func:`read_csv_records` raises :class:`CsvInvalid` with them.
Tokens are never quoted in errors.  This module only reads files: it knows the manifest's
questions, not the nodes.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from typing import Any

from protocol.answers import AmountFormat, Choices, DecimalMark, fold, parse_amount, reveals, whole_units
from protocol.encoding import HOURS_SCALE, Component, Record, check_bounds, parse_salary
from protocol.errors import InvalidSubmission, InvalidToken
from protocol.manifest import Manifest
from protocol.wire import MAX_TOKEN_CHARS

from .amounts import amount_format, decimal_mark

SPREADSHEET_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods")
DELIMITERS = (",", ";", "\t", "|")
#: longest CSV cell read (longer ones make the file invalid CSV)
MAX_CELL_BYTES = 1 << 24
#: rows between two progress reports while reading
PROGRESS_EVERY = 2000


class Field(StrEnum):
    """What an HR file's columns can hold."""

    GENDER = "gender"
    CATEGORY = "category"  # the job category
    PAY = "pay"  # the amount submitted as the salary (a complete survey's basic pay)
    HOURS = "hours"  # hours paid: pay / hours is submitted (surveys of hourly pay); a complete survey's hours
    VARIABLE = "variable"  # a complete survey's variable (complementary) pay


#: the names ``--column NAME=HEADER`` takes for each field
FIELD_NAMES: Mapping[str, Field] = {"gender": Field.GENDER, "category": Field.CATEGORY, "job": Field.CATEGORY,
                                    "pay": Field.PAY, "salary": Field.PAY, "basic": Field.PAY, "hours": Field.HOURS,
                                    "variable": Field.VARIABLE}
#: headers recognised without ``--column`` (hours only when mapped: it changes what is submitted)
DEFAULT_HEADERS: Mapping[Field, tuple[str, ...]] = {Field.GENDER: ("gender",), Field.CATEGORY: ("job", "category"),
                                                    Field.PAY: ("salary", "pay"), Field.HOURS: (),
                                                    Field.VARIABLE: ("variable",)}
#: a complete survey's headers (basic pay, variable pay and hours are separate answers there)
COMPLETE_HEADERS: Mapping[Field, tuple[str, ...]] = {**DEFAULT_HEADERS, Field.PAY: ("basic", "salary", "pay"),
                                                     Field.HOURS: ("hours",)}
#: how messages name each field's column when it is missing
_SHOWN = {Field.GENDER: "gender", Field.CATEGORY: "job", Field.PAY: "salary", Field.HOURS: "hours",
          Field.VARIABLE: "variable"}


class CsvInvalid(InvalidSubmission):
    """Some rows are invalid; ``problems`` lists every one."""

    def __init__(self, message: str, problems: Sequence[RowProblem]) -> None:
        super().__init__(message)
        self.problems = list(problems)


@dataclass(frozen=True)
class RowProblem:
    """One bad row: where (its line in a CSV file, its row in a spreadsheet; the column's header)
    and what is wrong with it, in one line."""

    number: int
    column: str | None
    message: str
    unit: str = "line"

    def __str__(self) -> str:
        where = f"{self.unit} {self.number}" + (f", column {self.column}" if self.column is not None else "")
        return f"{where}: {' '.join(self.message.split())}"


@dataclass(frozen=True)
class CsvRow:
    """One validated employee record and where it came from."""

    line: int  # line number in a CSV file (the header is line 1), row number in a spreadsheet
    record: Record


@dataclass(frozen=True)
class ReadOptions:
    """How to read an HR file: explicit columns (field, header), the decimal mark (``,`` ``.``, a
    locale name, or None to infer it), the text encoding and the CSV delimiter (None: detect)."""

    columns: tuple[tuple[Field, str], ...] = ()
    decimal: str | None = None
    encoding: str | None = None
    delimiter: str | None = None

    @staticmethod
    def of(columns: Sequence[str] = (), decimal: str | None = None, encoding: str | None = None,
           delimiter: str | None = None) -> ReadOptions:
        """From the command line: ``columns`` as ``FIELD=HEADER`` (raises :class:`InvalidSubmission`)."""
        pairs: dict[Field, str] = {}
        for spec in columns:
            name, eq, header = spec.partition("=")
            f = FIELD_NAMES.get(name.strip().lower())
            if not eq or f is None or not header.strip():
                raise InvalidSubmission(f"--column takes FIELD=HEADER with FIELD one of gender, category, pay, hours; "
                                        f"not {spec!r}")
            if f in pairs:
                raise InvalidSubmission(f"--column {f.value} is given twice")
            pairs[f] = header.strip()
        if delimiter is not None:
            delimiter = {"tab": "\t", "\\t": "\t"}.get(delimiter.lower(), delimiter)
            if len(delimiter) != 1:
                raise InvalidSubmission("--delimiter takes one character (or 'tab')")
        if encoding is not None:
            try:
                encoding = codecs.lookup(encoding).name
            except LookupError:
                raise InvalidSubmission(f"--encoding: unknown encoding {encoding!r}") from None
        decimal_mark(decimal)  # refuse a bad one now
        return ReadOptions(tuple(sorted(pairs.items())), decimal, encoding, delimiter)

    def header_for(self, f: Field) -> str | None:
        return dict(self.columns).get(f)

    def to_json(self) -> dict[str, Any]:
        return {"columns": {f.value: h for f, h in self.columns}, "decimal": self.decimal, "encoding": self.encoding,
                "delimiter": self.delimiter}

    @staticmethod
    def parse(obj: Any) -> ReadOptions:
        """The options :meth:`to_json` wrote (raises ``ValueError``)."""
        if not isinstance(obj, dict) or not isinstance(obj.get("columns"), dict):
            raise ValueError("read options must be an object with columns")
        opt = {k: obj.get(k) for k in ("decimal", "encoding", "delimiter")}
        if any(v is not None and not isinstance(v, str) for v in opt.values()):
            raise ValueError("read options must be strings or null")
        return ReadOptions(tuple(sorted((Field(k), str(v)) for k, v in obj["columns"].items())), **opt)


# --------------------------------------------------------------------------------------------
# Tables: the header and the rows of a file, whatever its format

Cell = str | float


@dataclass
class Table:
    """A file's header and data rows (row number, cells); ``unit`` is how rows are numbered
    ("line" in a CSV file, "row" in a spreadsheet), ``described`` says how it was read."""

    path: Path
    header: list[str]
    rows: list[tuple[int, list[Cell]]]
    unit: str
    described: str


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes (what a bulk run records about its input)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_table(path: Path, options: ReadOptions = ReadOptions(),
               progress: Callable[[int], None] | None = None) -> Table:
    """The header and rows of an HR file (raises :class:`InvalidSubmission` in one line when the
    file cannot be read as a table)."""
    try:
        if path.suffix.lower() in SPREADSHEET_SUFFIXES:
            return _read_spreadsheet(path, progress)
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidSubmission(f"cannot read {path}: {exc.strerror}") from None
    text, encoding = _decode(data, options.encoding, path)
    delimiter = options.delimiter or _sniff_delimiter(text)
    # A long cell is reported as its row's problem (the parsers bound their input), not as a
    # broken file: the csv module's own limit would stop the whole file at 128 KiB.
    csv.field_size_limit(max(csv.field_size_limit(), MAX_CELL_BYTES))
    rows: list[tuple[int, list[Cell]]] = []
    header: list[str] | None = None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for raw in reader:
            if not raw or all(not c.strip() for c in raw):
                continue
            if header is None:
                header = [h.strip() for h in raw]
                continue
            rows.append((reader.line_num, list(raw)))
            if progress is not None and len(rows) % PROGRESS_EVERY == 0:
                progress(PROGRESS_EVERY)
    except csv.Error as exc:
        raise InvalidSubmission(f"{path}: line {reader.line_num} is not valid CSV: {exc}") from None
    if progress is not None:
        progress(len(rows) % PROGRESS_EVERY)
    if header is None:
        raise InvalidSubmission(f"{path} is empty; expected a header line with gender,salary")
    shown = {"\t": "tab", ",": "','", ";": "';'", "|": "'|'"}.get(delimiter, repr(delimiter))
    return Table(path, header, rows, "line", f"CSV, {encoding}, {shown}-separated")


def _decode(data: bytes, encoding: str | None, path: Path) -> tuple[str, str]:
    """The file's text and the encoding it was read in: ``encoding`` if given; else by its
    byte-order mark, UTF-16 by its zero bytes, UTF-8, and Windows-1252 last."""
    if encoding is not None:
        candidates = [encoding]
    elif data.startswith(codecs.BOM_UTF8):
        candidates = ["utf-8-sig"]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ["utf-16"]
    elif b"\x00" in data[:4096]:
        head = data[:4096]
        candidates = ["utf-16-le" if head[1::2].count(0) > head[0::2].count(0) else "utf-16-be"]
    else:
        candidates = ["utf-8", "cp1252"]
    for enc in candidates:
        try:
            return data.decode(enc).removeprefix("\ufeff"), codecs.lookup(enc).name
        except UnicodeDecodeError as exc:
            last = exc
    if encoding is not None or candidates[0].startswith("utf-16"):
        line = data[: last.start].count(b"\n" if not candidates[0].startswith("utf-16") else b"\n\x00") + 1
        raise InvalidSubmission(f"{path}: line {line} is not {candidates[0]} text; give the file's --encoding "
                                "(e.g. utf-8, cp1252, big5, shift_jis)") from None
    raise InvalidSubmission(f"{path} is not UTF-8, UTF-16 or Windows-1252 text; give its --encoding "
                            "(e.g. big5, cp950, shift_jis, latin-1)") from None


def _sniff_delimiter(text: str) -> str:
    """The delimiter among :data:`DELIMITERS` that splits the first lines into the same number
    (at least two) of fields most consistently; ``,`` when none does."""
    sample = [ln for ln in text[:65536].splitlines()[:50] if ln.strip()]
    if len(sample) > 1 and len(text) > 65536:
        sample = sample[:-1]  # the last sampled line may be cut
    best, score = ",", (0.0, 0)
    for d in DELIMITERS:
        try:
            widths = [len(r) for r in csv.reader(sample, delimiter=d)]
        except csv.Error:
            continue
        if not widths or widths[0] < 2:
            continue
        s = (widths.count(widths[0]) / len(widths), widths[0])
        if s > score:
            best, score = d, s
    return best


def _read_spreadsheet(path: Path, progress: Callable[[int], None] | None) -> Table:
    """The first sheet of a spreadsheet; numbers stay numbers, dates and the like become text."""
    from python_calamine import CalamineWorkbook

    try:
        wb = CalamineWorkbook.from_path(str(path))
        name = wb.sheet_names[0]
        data = wb.get_sheet_by_index(0).to_python(skip_empty_area=False)
    except Exception as exc:  # python-calamine raises its own kinds for every damaged or foreign file
        raise InvalidSubmission(f"{path} is not a readable spreadsheet ({' '.join(str(exc).split())})") from None
    header: list[str] | None = None
    rows: list[tuple[int, list[Cell]]] = []
    for number, raw in enumerate(data, 1):
        cells: list[Cell] = [c if isinstance(c, (str, float)) and not isinstance(c, bool)
                             else float(c) if isinstance(c, int) and not isinstance(c, bool) else str(c) for c in raw]
        if all(isinstance(c, str) and not c.strip() for c in cells):
            continue
        if header is None:
            header = [str(c).strip() for c in cells]
            continue
        rows.append((number, cells))
    if progress is not None:
        progress(len(rows))
    if header is None:
        raise InvalidSubmission(f"{path} is empty; expected a header row with gender,salary")
    return Table(path, header, rows, "row", f"spreadsheet, sheet {name!r}")


# --------------------------------------------------------------------------------------------
# Columns


@dataclass(frozen=True)
class Columns:
    """Where each field is in a row (0-based) and its header as the file writes it."""

    index: Mapping[Field, int]
    header: Mapping[Field, str]

    @property
    def needed(self) -> int:
        """How many fields a row must have at least."""
        return max(self.index.values()) + 1


def find_columns(table: Table, manifest: Manifest, options: ReadOptions) -> Columns:
    """The columns of every field the survey needs (raises :class:`InvalidSubmission` in one line
    naming the option to pass)."""
    wanted = [Field.GENDER, Field.PAY] + ([Field.CATEGORY] if manifest.job_categories else [])
    why = f"this survey asks for a job category: {', '.join(manifest.job_categories)}"
    if manifest.scheme().complete:
        wanted += [f for f, c in ((Field.VARIABLE, Component.VARIABLE), (Field.HOURS, Component.HOURS))
                   if c in manifest.components]
        if options.header_for(Field.CATEGORY) is not None and Field.CATEGORY not in wanted:
            raise InvalidSubmission("--column category=...: this survey has no job categories")
        return locate_columns(table, options, wanted, why, COMPLETE_HEADERS)
    if options.header_for(Field.VARIABLE) is not None:
        raise InvalidSubmission("--column variable=...: this survey does not collect variable pay")
    for f in (Field.CATEGORY, Field.HOURS):
        if options.header_for(f) is not None and f not in wanted:
            if f is Field.CATEGORY:
                raise InvalidSubmission("--column category=...: this survey has no job categories")
            if not manifest.salary_unit.lower().endswith(("/hour", "/h")):
                raise InvalidSubmission(f"--column hours=... submits pay per hour; this survey's unit is "
                                        f"{manifest.salary_unit}")
            wanted.append(f)
    return locate_columns(table, options, wanted, why)


def has_column(table: Table, options: ReadOptions, f: Field) -> bool:
    """Whether the file has the column of ``f`` (named by ``--column`` or by a usual header)."""
    folded = {fold(h) for h in table.header}
    explicit = options.header_for(f)
    return any(fold(n) in folded for n in ([explicit] if explicit is not None else DEFAULT_HEADERS[f]))


def locate_columns(table: Table, options: ReadOptions, wanted: Sequence[Field], why_category: str = "",
                   defaults: Mapping[Field, tuple[str, ...]] = DEFAULT_HEADERS) -> Columns:
    """The columns of the ``wanted`` fields, by ``--column`` or else by the ``defaults`` headers
    (raises :class:`InvalidSubmission` naming the option)."""
    path, folded = table.path, [fold(h) for h in table.header]
    found = ", ".join(h for h in table.header if h) or "none"
    index: dict[Field, int] = {}
    for f in wanted:
        explicit = options.header_for(f)
        names = [explicit] if explicit is not None else list(defaults[f])
        hit = next((folded.index(fold(n)) for n in names if fold(n) in folded), None)
        if hit is None:
            if explicit is not None:
                raise InvalidSubmission(f"{path}: no column {explicit!r} (--column {f.value}={explicit}); the headers "
                                        f"are: {found}")
            need = why_category if f is Field.CATEGORY and why_category else f"headers: {found}"
            raise InvalidSubmission(f"{path}: the header line has no {_SHOWN[f]} column ({need}); name it with "
                                    f"--column {f.value}=HEADER")
        index[f] = hit
    if len(set(index.values())) != len(index):
        raise InvalidSubmission(f"{path}: two fields name the same column; check --column")
    return Columns(index, {f: table.header[i] for f, i in index.items()})


def infer_decimal(table: Table, columns: Columns) -> DecimalMark | None:
    """The decimal mark the file's unambiguous amounts use (``4.100,50``: comma; ``4,100.50``:
    point), or None when none tells; raises :class:`InvalidSubmission` when they disagree."""
    seen: dict[DecimalMark, tuple[int, str]] = {}
    for f in (Field.PAY, Field.HOURS, Field.VARIABLE):
        i = columns.index.get(f)
        if i is None:
            continue
        for number, cells in table.rows:
            cell = cells[i] if i < len(cells) else 0.0
            if isinstance(cell, str):
                m = reveals(cell)
                if m is not None and m not in seen:
                    seen[m] = (number, cell.strip())
                    if len(seen) == 2:
                        c, p = seen[DecimalMark.COMMA], seen[DecimalMark.POINT]
                        raise InvalidSubmission(
                            f"{table.path}: amounts mix a decimal comma ({table.unit} {c[0]}: {c[1]!r}) and a decimal "
                            f"point ({table.unit} {p[0]}: {p[1]!r}); give --decimal , or --decimal .")
    return next(iter(seen), None)


# --------------------------------------------------------------------------------------------
# Validation


@dataclass
class FileCheck:
    """Everything :func:`check_file` learned: the valid rows, the bad ones, and a summary."""

    table: Table
    columns: Columns
    amounts: AmountFormat
    rows: list[CsvRow] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (gender, job) -> rows
    ranges: dict[Field, tuple[Fraction, Fraction]] = field(default_factory=dict)  # amounts as written
    rounded: int = 0  # amounts with a decimal part, rounded to whole units

    def note(self, f: Field, value: Fraction) -> None:
        lo, hi = self.ranges.get(f, (value, value))
        self.ranges[f] = (min(lo, value), max(hi, value))


def amount_of(cell: Cell, fmt: AmountFormat, what: str) -> Fraction:
    """A cell's amount: a spreadsheet number exactly as its shortest decimal form, or text."""
    if isinstance(cell, float):
        if not math.isfinite(cell) or cell < 0:
            raise InvalidSubmission(f"{what} {cell!r} is not a non-negative number")
        return Fraction(repr(cell))
    return parse_amount(cell, fmt, what)


def text_of(cell: Cell) -> str:
    """A cell as text (a spreadsheet's whole numbers without ".0")."""
    return cell if isinstance(cell, str) else (str(int(cell)) if cell == int(cell) else repr(cell))


class _RowReader:
    """Turns one row's cells into a record (raises :class:`_Bad` naming the column)."""

    def __init__(self, check: FileCheck, manifest: Manifest) -> None:
        self.check, self.cols = check, check.columns
        self.genders: Choices = manifest.gender_choices()
        self.jobs: Choices | None = manifest.job_choices() if manifest.job_categories else None
        self.salary_max = manifest.salary_max
        self.scheme = manifest.scheme()

    def field(self, f: Field, cells: list[Cell], read: Callable[[Cell], Any]) -> Any:
        try:
            return read(cells[self.cols.index[f]])
        except InvalidSubmission as exc:
            raise _Bad(self.cols.header[f], str(exc)) from None

    def record(self, cells: list[Cell]) -> Record:
        chk = self.check
        gender = self.field(Field.GENDER, cells, lambda c: self.genders.match(text_of(c)))
        job = ""
        if self.jobs is not None:
            jobs = self.jobs
            job = self.field(Field.CATEGORY, cells, lambda c: _job(jobs, text_of(c)))
        if self.scheme.complete:
            return self._complete(cells, gender, job)
        pay = self.field(Field.PAY, cells, lambda c: amount_of(c, chk.amounts, "salary"))
        value = pay
        if Field.HOURS in self.cols.index:
            hours = self.field(Field.HOURS, cells, lambda c: _positive(amount_of(c, chk.amounts, "hours")))
            value = pay / hours
        salary = whole_units(value)
        try:
            parse_salary(salary, self.salary_max)
        except InvalidSubmission as exc:
            raise _Bad(self.cols.header[Field.PAY], str(exc)) from None
        chk.note(Field.PAY, pay)
        if Field.HOURS in self.cols.index:
            chk.note(Field.HOURS, hours)
        chk.rounded += value != salary
        return Record(gender, salary, job)

    def _complete(self, cells: list[Cell], gender: str, job: str) -> Record:
        """A complete survey's row: basic pay, and variable pay and hours when collected; the
        hourly level is the encoder's (basic + variable) / hours."""
        chk = self.check
        amounts: dict[Field, Fraction] = {}
        for f in (Field.PAY, Field.VARIABLE, Field.HOURS):
            if f in self.cols.index:
                what = _SHOWN_COMPLETE[f]
                amounts[f] = self.field(f, cells, lambda c: amount_of(c, chk.amounts, what))
        for f, x in amounts.items():
            chk.note(f, x)
        basic, variable = whole_units(amounts[Field.PAY]), whole_units(amounts.get(Field.VARIABLE, Fraction(0)))
        chk.rounded += (basic != amounts[Field.PAY]) + (variable != amounts.get(Field.VARIABLE, Fraction(0)))
        hours = round(amounts[Field.HOURS] * HOURS_SCALE) if Field.HOURS in amounts else 0
        rec = Record(gender, basic, job, variable, hours)
        try:
            check_bounds(rec, self.scheme)
        except InvalidSubmission as exc:
            text = str(exc)
            f = Field.HOURS if text.startswith(("hours", "hourly")) else \
                Field.VARIABLE if text.startswith("variable") else Field.PAY
            raise _Bad(self.cols.header.get(f, self.cols.header[Field.PAY]), text) from None
        return rec


#: how a complete survey's messages name each amount
_SHOWN_COMPLETE = {Field.PAY: "basic pay", Field.VARIABLE: "variable pay", Field.HOURS: "hours"}


class _Bad(Exception):
    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column, self.message = column, message


def _job(jobs: Choices, text: str) -> str:
    if not text.strip():
        raise InvalidSubmission(f"job category is missing; expected one of: {jobs.expected()}")
    return jobs.match(text)


def _positive(x: Fraction) -> Fraction:
    if x <= 0:
        raise InvalidSubmission("hours must be more than 0")
    return x


def check_file(path: Path, manifest: Manifest, options: ReadOptions = ReadOptions(),
               progress: Callable[[int], None] | None = None) -> FileCheck:
    """Read and validate every row of an HR file; never raises for bad rows (they are in
    ``problems``), only for a file that cannot be read or lacks a needed column."""
    table = read_table(path, options, progress)
    columns = find_columns(table, manifest, options)
    mark = decimal_mark(options.decimal)
    if mark is None:
        mark = infer_decimal(table, columns)
    check = FileCheck(table, columns, amount_format(manifest, mark))
    reader = _RowReader(check, manifest)
    for number, cells in table.rows:
        if len(cells) < columns.needed:
            check.problems.append(RowProblem(number, None, f"has {len(cells)} fields, expected at least "
                                             f"{columns.needed}", table.unit))
            continue
        try:
            rec = reader.record(cells)
        except _Bad as bad:
            check.problems.append(RowProblem(number, bad.column, bad.message, table.unit))
            continue
        check.rows.append(CsvRow(number, rec))
        check.counts[(rec.gender, rec.job)] += 1
    return check


def read_csv_records(path: Path, manifest: Manifest, options: ReadOptions = ReadOptions(),
                     progress: Callable[[int], None] | None = None) -> list[CsvRow]:
    """Every row of an HR file, validated (see the module docstring for formats and columns).

    Raises :class:`CsvInvalid` listing *every* bad row, so nothing is sent unless the whole file
    is valid.
    """
    check = check_file(path, manifest, options, progress)
    if check.problems:
        raise CsvInvalid(f"{len(check.problems)} invalid row(s) in {path}; nothing was sent", check.problems)
    if not check.rows:
        raise InvalidSubmission(f"{path} has no data rows")
    return check.rows


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
