"""A survey sized to an HR file, for ``./run_local.sh --input FILE``: the job categories the file
uses, a salary bound just above its largest amount, and salary bands under which every group's
banded median lies within 1% of its plaintext median.

The demo has the plaintext (it checks the MPC result against it), so it places a band narrower
than 1% of the value around the middle value(s) of every group (each gender, overall and within
each job category) and around the quartile cuts, and one band for each gap between them.  A real
organiser does not know the medians in advance and chooses bands from the pay scale instead.

The file is read with the contributor's own reader (:mod:`contributor.hrfile`), so the demo takes
what ``salary-submit --csv`` takes.  A file it cannot use raises :class:`Unusable`: one line saying
what to pass.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any
from pathlib import Path

from contributor.amounts import currency_marks, decimal_mark
from contributor.hrfile import (COMPLETE_HEADERS, DEFAULT_HEADERS, Field, ReadOptions, Table, amount_of, has_column,
                                infer_decimal, locate_columns, read_table, text_of)
from protocol.answers import AmountFormat, Choices, fold, whole_units
from protocol.encoding import MAX_CELL_BANDS
from protocol.errors import InvalidSubmission
from protocol.manifest import DEFAULT_CATEGORIES

#: the demo keeps a submission's proof affordable: cells x bands at most this
CELL_BANDS_BUDGET = 1200
#: a group's banded median is within this fraction of its plaintext median
MEDIAN_TOLERANCE = 0.01


class Unusable(Exception):
    """The file cannot be run as it is; the message says what to pass."""


@dataclass(frozen=True)
class SurveyPlan:
    """What ``salary-analyst create`` is given for a file."""

    gender_labels: str  # "female=女,male=男" or ""
    job_categories: tuple[str, ...]  # as the file writes them (keys are derived by create)
    salary_max: int
    bands: tuple[int, ...]
    rows: int
    #: ``salary-analyst create`` options of a complete survey, when the file has variable pay or
    #: hours columns (the pay level is then basic + variable)
    complete: tuple[str, ...] = ()


def _groups(rows: Sequence[tuple[str, int, str]], jobs: Sequence[str]) -> list[list[int]]:
    by_gender = [[s for g, s, _ in rows if g == c] for c in DEFAULT_CATEGORIES]
    by_cell = [[s for g, s, j in rows if g == c and j == job] for c in DEFAULT_CATEGORIES for job in jobs]
    return [sorted(v) for v in by_gender + by_cell if v]


def _middle(values: Sequence[int]) -> list[int]:
    n = len(values)
    return [values[(n - 1) // 2], values[n // 2]]


def _quartile_cuts(values: Sequence[int]) -> list[int]:
    v = sorted(values)
    return [v[min(len(v) - 1, (len(v) * q) // 4)] for q in (1, 2, 3)] if len(v) >= 4 else []


def plan_bands(points: Sequence[int], salary_max: int, budget: int) -> tuple[int, ...]:
    """Band boundaries (above 0, strictly increasing, at most ``salary_max``) such that every point
    lies in a band of width at most 1% of it, with at most ``budget`` bands (points furthest from
    the rest are dropped first when the budget is short)."""
    edges: set[int] = set()
    covered_to = -1
    for v in sorted(set(points)):
        if v <= covered_to:
            continue
        lo = v
        hi = max(v, v + math.floor(v * MEDIAN_TOLERANCE) - 1)  # the band [lo, hi] holds v; width < 1% of v
        if lo > 0:
            edges.add(lo)
        if hi + 1 <= salary_max:
            edges.add(hi + 1)
        covered_to = hi
        if len(edges) + 1 >= budget:
            break
    return tuple(sorted(e for e in edges if 0 < e <= salary_max))


def nice_bound(largest: int) -> int:
    """A round salary bound at least ``largest`` (two significant digits)."""
    if largest < 100:
        return max(1, largest)
    step = 10 ** (len(str(largest)) - 2)
    return -(-largest // step) * step


def plan_survey(path: Path, options: ReadOptions, gender_labels: str, unit: str, jobs_given: Sequence[str] | None,
                salary_max: int | None) -> SurveyPlan:
    """Read the file and size a survey to it (raises :class:`Unusable`)."""
    try:
        table = read_table(path, options)
        wanted = [Field.GENDER, Field.PAY]
        if jobs_given is None and has_column(table, options, Field.CATEGORY):
            wanted.append(Field.CATEGORY)
        extra = [f for f in (Field.VARIABLE, Field.HOURS) if _has(table, options, f)]
        cols = locate_columns(table, options, wanted + extra, defaults=COMPLETE_HEADERS if extra else DEFAULT_HEADERS)
        mark = decimal_mark(options.decimal) or infer_decimal(table, cols)
    except InvalidSubmission as exc:
        raise Unusable(str(exc)) from None
    code = unit.split("/", 1)[0].strip()
    fmt = AmountFormat(mark, currency_marks(code if len(code) == 3 and code.isupper() else ""), code)
    labels = _labels(gender_labels)
    genders = Choices.of("gender", DEFAULT_CATEGORIES, labels)
    rows: list[tuple[str, int, str]] = []
    extent = _Extent()
    unmatched: dict[str, None] = {}
    jobs: dict[str, str] = {}  # folded -> as first written
    for number, cells in table.rows:
        if len(cells) <= max(cols.index.values()):
            continue  # reported by the contributor's check
        try:
            g = genders.match(text_of(cells[cols.index[Field.GENDER]]))
        except InvalidSubmission:
            unmatched.setdefault(text_of(cells[cols.index[Field.GENDER]]).strip())
            continue
        try:
            s = whole_units(amount_of(cells[cols.index[Field.PAY]], fmt, "salary"))
        except InvalidSubmission as exc:
            raise Unusable(f"{path}: {table.unit} {number}, column {cols.header[Field.PAY]}: {exc}") from None
        variable, hours = _complete_cells(cells, cols.index, fmt, f"{path}: {table.unit} {number}")
        s += variable
        extent.add(variable, hours, s)
        job = ""
        if Field.CATEGORY in cols.index:
            raw = text_of(cells[cols.index[Field.CATEGORY]]).strip()
            job = jobs.setdefault(fold(raw), raw)
        rows.append((g, s, fold(job)))
    if unmatched:
        seen = ", ".join(list(unmatched)[:6])
        raise Unusable(f"{path}: the gender column holds {seen}, which are not female, male or other: say which is "
                       f"which with --gender-labels female=...,male=...,other=...")
    if not rows:
        raise Unusable(f"{path} has no data rows")
    job_names = tuple(jobs_given) if jobs_given is not None else tuple(jobs.values())
    if any("," in j or not j for j in job_names):
        raise Unusable(f"{path}: a job category is empty or holds a comma; name another column with "
                       "--column category=HEADER or pass --jobs ''")
    bound = salary_max or nice_bound(max(s for _, s, _ in rows))
    n_cells = len(DEFAULT_CATEGORIES) * max(1, len(job_names))
    keys = [fold(j) for j in job_names]
    points = [m for v in _groups(rows, keys if job_names else [""]) for m in _middle(v)]
    points += _quartile_cuts([s for _, s, _ in rows])
    complete = extent.create_args(Field.VARIABLE in cols.index, Field.HOURS in cols.index, unit)
    budget = max(2, min(MAX_CELL_BANDS, CELL_BANDS_BUDGET) // n_cells - (2 * EXTRA_BANDS if complete else 0))
    return SurveyPlan(gender_labels, job_names, bound, plan_bands(points, bound, budget), len(table.rows), complete)


#: a complete survey sized to a file: bands of variable pay and of hourly pay, about this many each
EXTRA_BANDS = 20


def _has(table: Table, options: ReadOptions, f: Field) -> bool:
    """Whether the file has a complete survey's column of ``f`` (by --column or its usual header)."""
    explicit = options.header_for(f)
    return any(fold(n) in {fold(h) for h in table.header}
               for n in ([explicit] if explicit is not None else COMPLETE_HEADERS[f]))


def _complete_cells(cells: Sequence[Any], index: Mapping[Field, int], fmt: AmountFormat,
                    where: str) -> tuple[int, Fraction]:
    """A row's variable pay (whole units) and hours (0 for columns the file lacks)."""
    try:
        variable = whole_units(amount_of(cells[index[Field.VARIABLE]], fmt, "variable")) \
            if Field.VARIABLE in index else 0
        hours = amount_of(cells[index[Field.HOURS]], fmt, "hours") if Field.HOURS in index else Fraction(0)
    except InvalidSubmission as exc:
        raise Unusable(f"{where}: {exc}") from None
    return variable, hours


@dataclass
class _Extent:
    """The largest variable pay, hours and hourly pay level of a file."""

    variable: int = 0
    hours: Fraction = Fraction(0)
    hourly: Fraction = Fraction(0)

    def add(self, variable: int, hours: Fraction, level: int) -> None:
        self.variable = max(self.variable, variable)
        self.hours = max(self.hours, hours)
        if hours > 0:
            self.hourly = max(self.hourly, Fraction(level) / hours)

    def create_args(self, variable: bool, hours: bool, unit: str) -> tuple[str, ...]:
        """The create options of the complete survey these columns ask for (none without them)."""
        if not variable and not hours:
            return ()
        period = "annual" if "year" in unit.lower() or "annual" in unit.lower() else "monthly"
        out = ["--components", "basic" + (",variable" if variable else "") + (",hours" if hours else ""),
               "--pay-period", period]
        if variable:
            top = nice_bound(max(2 * EXTRA_BANDS, self.variable))
            out += ["--variable-max", str(top), "--variable-band-width", str(max(2, top // EXTRA_BANDS))]
        if hours:
            top_hourly = nice_bound(math.ceil(self.hourly) + 1)
            out += ["--hours-max", str(max(1, math.ceil(self.hours))), "--hourly-max", str(top_hourly),
                    "--hourly-band-width", str(round(max(0.01, top_hourly / EXTRA_BANDS), 2))]
        return tuple(out)


def _labels(spec: str) -> dict[str, str]:
    out = {}
    for part in (p.strip() for p in spec.split(",")):
        key, eq, label = part.partition("=")
        if part and (not eq or fold(key) not in DEFAULT_CATEGORIES):
            raise Unusable(f"--gender-labels takes female=LABEL,male=LABEL,other=LABEL; not {part!r}")
        if part:
            out[fold(key)] = label.strip()
    return out


def median_misses(mpc: dict[str, object], plain: dict[str, object]) -> list[str]:
    """Released medians further than 1% from the plaintext medians (the demo's promise when it
    sized the bands)."""
    out = []

    def check(where: str, mine: object, theirs: object) -> None:
        got = {g["gender"]: g for g in mine}  # type: ignore[attr-defined]
        for g in theirs:  # type: ignore[attr-defined]
            m = got.get(g["gender"])
            if m and m.get("median") is not None and g.get("median"):
                if abs(m["median"] - g["median"]) > MEDIAN_TOLERANCE * g["median"] + 1e-9:
                    out.append(f"{where}{g['gender']}: median {m['median']:,.2f} is more than 1% from "
                               f"{g['median']:,.2f}")

    check("", mpc["groups"], plain["groups"])
    mine = {c["category"]: c for c in mpc.get("categories", [])}  # type: ignore[attr-defined]
    for c in plain.get("categories", []):  # type: ignore[attr-defined]
        if c["category"] in mine:
            check(f"{c['category']}/", mine[c["category"]]["groups"], c["groups"])
    return out
