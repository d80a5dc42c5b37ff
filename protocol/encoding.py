"""Record encoding: make every released statistic a sum, and validation cheap.

A survey declares genders G (``categories`` in the manifest), optional job categories J and
optional salary bands (lower edges ``0 = e_0 < e_1 < ... < e_{B-1} <= max``; band b holds the
salaries ``e_b .. e_{b+1} - 1``, the last one up to ``max``).  A *cell* is a (gender, job) pair,
K = G x max(1, J) cells, gender-major.  A record (gender g, job j, salary s in band b) becomes

    H[c, b']   for every cell c and band b'   one-hot: 1 at (cell(g, j), b), else 0   (K*B)
    P[c]       s * 1{c = cell(g, j)}                                                  (K)
    Q[c]       s^2 * 1{c = cell(g, j)}                                                (K)
    d1[0..L)   bits of s - e_b                 (position of s inside its band)
    d2[0..L)   bits of hi_b - s                (its distance to the band's top)

with L = the bit length of the widest band.  The salary itself is the linear form
``s = sum_{c,b} e_b H[c, b] + sum_j 2^j d1_j``.  Summing the first K*B + 2K entries over all
submissions gives, per cell, the band histogram (whose total is the count), the exact salary sum
and the sum of squares: counts, means, standard deviations, banded medians and quartiles all
follow from sums, with no multiplication between secrets.  The nodes check on shares that H is
one-hot, that the d bits are bits with d1 + d2 = the chosen band's width (so e_b <= s <= hi_b,
which also bounds s to [0, max]), and that P and Q are s and s^2 on the chosen cell
(:mod:`protocol.validity`).  Without job categories or bands (J = 0, B = 1) a record is the
gender one-hot, the salary and its square on the gender, and the range bits.

A *complete* survey (docs/COMPLETE_SURVEY.md) collects several banded values sharing the cell:
the pay level T = basic + variable (the salary above), the variable pay V (band 0 is exactly {0},
so "receives variable pay" is 1 - sum_c H_V[c, 0]) and, with hours h (in hundredths), the hourly
level Y = floor(T * S / h), S = :data:`HOURLY_SCALE`.  Each value has its own H, P, Q block (the
aggregate columns, in the order T, V, Y) and its own d1, d2 bits; after every value's bits come
the bits u of T - V (basic pay >= 0, with variable pay) and, with hours, the bits of R = T * S
mod h and of h - 1 - R (so h = 1 + R + (h - 1 - R) is never shared apart from its bits).
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from .answers import AmountFormat, Choices, parse_amount, whole_units
from .errors import InvalidSubmission

ENCODING_ID = "cells-bands-rank1/v4"
#: cells x bands at most this: every (cell, band) pair costs one field element per submission
#: (16 bytes per node), and the validity proof is 4L + 9 elements whatever the layout (one-figure
#: surveys; a complete survey counts every value's bands)
MAX_CELL_BANDS = 16384
#: salary bounds below this take the contributor's fast path: encode_records keeps s^2 in int64
#: (exact up to 3.03e9); amounts up to 10^9 per employee are summed exactly on this path (the sums
#: themselves are field elements, exact to 2^127)
FAST_SALARY_LIMIT = 1 << 31


class Component(StrEnum):
    """What a survey collects per employee (the manifest's ``components``): basic pay always,
    variable (complementary) pay and the hours paid in the period optionally."""

    BASIC = "basic"
    VARIABLE = "variable"
    HOURS = "hours"


class PayPeriod(StrEnum):
    """The period the pay figures of a complete survey cover (the manifest's ``pay_period``)."""

    ANNUAL = "annual"
    MONTHLY = "monthly"


class ValueKind(StrEnum):
    """The banded values of a record, in their order in the record."""

    LEVEL = "level"  # T: pay level per period, basic + variable (the one-figure survey's salary)
    VARIABLE = "variable"  # V: variable pay per period; band 0 is exactly {0}
    HOURLY = "hourly"  # Y: hourly pay level, hundredths of the unit per hour


#: hourly pay Y = floor(T * HOURLY_SCALE / h), T in whole units, h in hundredths of an hour, Y in
#: hundredths of the unit
HOURLY_SCALE = 10_000
#: hours are answered to the hundredth
HOURS_SCALE = 100
#: the manifest's hours bound, whole hours per period, at most this
MAX_HOURS = 100_000


@dataclass(frozen=True)
class Record:
    """One employee's answer, validated against the manifest (``job`` is "" when the survey
    declares no job categories).  ``salary`` is the basic pay (the one figure of a one-figure
    survey); ``variable`` the variable pay; ``hours`` the hours paid in the period in hundredths
    (0 when the survey does not collect them)."""

    gender: str
    salary: int
    job: str = ""
    variable: int = 0
    hours: int = 0

    @property
    def level(self) -> int:
        """The pay level per period, basic + variable."""
        return self.salary + self.variable

    @property
    def hourly(self) -> int:
        """The hourly pay level in hundredths of the unit (0 without hours)."""
        return self.level * HOURLY_SCALE // self.hours if self.hours else 0


@dataclass(frozen=True)
class Banding:
    """One value's bands: lower edges ``0 = e_0 < e_1 < ...`` and its bound ``top``."""

    edges: tuple[int, ...]
    top: int

    @staticmethod
    def of(top: int, bands: Sequence[int], what: str = "salary") -> Banding:
        b = tuple(int(x) for x in bands)
        if any(x <= 0 or x > top for x in b) or any(x >= y for x, y in zip(b, b[1:])):
            raise ValueError(f"{what} bands must be strictly increasing, above 0 and at most the {what} bound")
        return Banding((0,) + b, int(top))

    @property
    def B(self) -> int:
        return len(self.edges)

    def band_hi(self, b: int) -> int:
        return self.edges[b + 1] - 1 if b + 1 < self.B else self.top

    def band_width(self, b: int) -> int:
        return self.band_hi(b) - self.edges[b]

    def band_of(self, value: int) -> int:
        return bisect.bisect_right(self.edges, value) - 1

    @functools.cached_property
    def bits(self) -> int:
        """Bits of each in-band offset (d1 and d2)."""
        return max(1, max(self.band_width(b) for b in range(self.B)).bit_length())


@dataclass(frozen=True)
class ValueBlock:
    """Where one value sits in the record: its histogram H (K x B), P and Q (K each) among the
    aggregate columns, its offset bits d1 and d2 (L each) among the bits."""

    kind: ValueKind
    banding: Banding
    hist_at: int
    prod_at: int
    sq_at: int
    d1_at: int

    @property
    def B(self) -> int:
        return self.banding.B

    @property
    def bits(self) -> int:
        return self.banding.bits

    @property
    def d2_at(self) -> int:
        return self.d1_at + self.bits


@dataclass(frozen=True)
class Scheme:
    """Everything the record layout depends on.  Build with :meth:`of` (or
    ``Manifest.scheme()``).  ``edges`` and ``salary_max`` band the pay level T (the one-figure
    survey's salary); ``variable`` and ``hourly`` band V and Y when the survey collects them, and
    ``hours_max`` bounds the hours (whole hours, 0 = not collected)."""

    genders: tuple[str, ...]
    jobs: tuple[str, ...]
    edges: tuple[int, ...]  # band lower edges of T, edges[0] == 0
    salary_max: int
    variable: Banding | None = None
    hours_max: int = 0
    hourly: Banding | None = None

    @staticmethod
    def of(genders: Sequence[str], salary_max: int, jobs: Sequence[str] = (), bands: Sequence[int] = (), *,
           variable_max: int = 0, variable_bands: Sequence[int] = (), hours_max: int = 0, hourly_max: int = 0,
           hourly_bands: Sequence[int] = ()) -> Scheme:
        """``bands`` are the band boundaries above 0 (the manifest's ``salary_bands``), strictly
        increasing and at most ``salary_max``; () is one band [0, max].  A ``variable_max`` above
        0 collects variable pay (``variable_bands`` above 1: band 0 is always {0}); an
        ``hours_max`` above 0 collects hours and the hourly level, bounded by ``hourly_max``."""
        level = Banding.of(salary_max, bands)
        variable = None
        if variable_max:
            if any(int(x) <= 1 for x in variable_bands):
                raise ValueError("variable pay bands must be above 1 (band 0 is exactly 'no variable pay')")
            variable = Banding.of(variable_max, (1,) + tuple(variable_bands), "variable pay")
        hourly = None
        if hours_max:
            if not 0 < hours_max <= MAX_HOURS or hourly_max <= 0:
                raise ValueError(f"hours bound must be 1 to {MAX_HOURS} and the hourly pay bound above 0")
            hourly = Banding.of(hourly_max, hourly_bands, "hourly pay")
        return Scheme(tuple(genders), tuple(jobs), level.edges, int(salary_max), variable, int(hours_max), hourly)

    @property
    def G(self) -> int:
        return len(self.genders)

    @property
    def J(self) -> int:
        """Job columns: 1 when the survey declares no job categories."""
        return max(1, len(self.jobs))

    @property
    def K(self) -> int:
        return self.G * self.J

    def cell(self, g: int, j: int) -> int:
        return g * self.J + j

    @functools.cached_property
    def level(self) -> Banding:
        return Banding(self.edges, self.salary_max)

    @functools.cached_property
    def values(self) -> tuple[ValueBlock, ...]:
        """The banded values in record order (T, then V and Y when collected)."""
        kinds = [(ValueKind.LEVEL, self.level)]
        if self.variable is not None:
            kinds.append((ValueKind.VARIABLE, self.variable))
        if self.hourly is not None:
            kinds.append((ValueKind.HOURLY, self.hourly))
        out, at = [], 0
        bits_at = sum(self.K * bd.B + 2 * self.K for _, bd in kinds)
        for kind, bd in kinds:
            out.append(ValueBlock(kind, bd, at, at + self.K * bd.B, at + self.K * bd.B + self.K, bits_at))
            at += self.K * bd.B + 2 * self.K
            bits_at += 2 * bd.bits
        return tuple(out)

    def value(self, kind: ValueKind) -> ValueBlock | None:
        return next((v for v in self.values if v.kind == kind), None)

    @property
    def complete(self) -> bool:
        """More than the one figure: variable pay or hours."""
        return len(self.values) > 1

    # -- the pay level T (the one-figure survey's salary) --

    @property
    def B(self) -> int:
        return len(self.edges)

    def band_hi(self, b: int) -> int:
        return self.level.band_hi(b)

    def band_width(self, b: int) -> int:
        return self.level.band_width(b)

    def band_of(self, salary: int) -> int:
        return self.level.band_of(salary)

    @property
    def bits(self) -> int:
        """L: bits of each in-band offset of T (d1 and d2); the encoders read it per record."""
        return self.level.bits

    @property
    def prod_at(self) -> int:
        return self.K * self.B

    @property
    def sq_at(self) -> int:
        return self.K * self.B + self.K

    @property
    def d1_at(self) -> int:
        return self.aggregate_width

    @property
    def d2_at(self) -> int:
        return self.aggregate_width + self.bits

    # -- the whole record --

    @functools.cached_property
    def aggregate_width(self) -> int:
        """The leading entries that are summed: every value's histogram, sums, sums of squares."""
        return sum(self.K * v.B + 2 * self.K for v in self.values)

    @property
    def basic_bits_at(self) -> int:
        """u: the bits of T - V (basic pay >= 0), present with variable pay."""
        return self.aggregate_width + sum(2 * v.bits for v in self.values)

    @property
    def basic_bits(self) -> int:
        """The bit length of the salary bound (basic pay lies in [0, salary_max])."""
        return self.salary_max.bit_length() if self.variable is not None else 0

    @property
    def hours_bits(self) -> int:
        """L_h: bits of R and of h - 1 - R (h the hours in hundredths), present with hours."""
        return (self.hours_max * HOURS_SCALE).bit_length() if self.hours_max else 0

    @property
    def remainder_at(self) -> int:
        """R = T * S mod h (L_h bits), then h - 1 - R (L_h bits)."""
        return self.basic_bits_at + self.basic_bits

    @property
    def slack_at(self) -> int:
        return self.remainder_at + self.hours_bits

    @functools.cached_property
    def record_width(self) -> int:
        return self.slack_at + self.hours_bits

    @property
    def total_bits(self) -> int:
        """G: every bit of the record (offsets of every value, basic pay, hours)."""
        return self.record_width - self.aggregate_width

    @property
    def cell_bands(self) -> int:
        """Cells x bands over every value (the manifest's limit)."""
        return sum(self.K * v.B for v in self.values)

    @property
    def triples(self) -> int:
        """The proof's Beaver triples: one-hot and products per value, and the hourly relation."""
        return 2 * len(self.values) + (1 if self.hourly is not None else 0)

    @property
    def vector_length(self) -> int:
        """Field elements a contributor shares: the record W, then its validity proof (a mask,
        the triples, w0 and 2G + 1 values of h; 4L + 9 for a one-figure survey, see
        :mod:`protocol.validity`)."""
        return self.record_width + 1 + 3 * self.triples + 2 + 2 * self.total_bits


def parse_salary(text: str | int, salary_max: int, fmt: AmountFormat = AmountFormat()) -> int:
    """A salary given by a user, in whole units of the survey, at most ``salary_max``.

    Text is read by :func:`protocol.answers.parse_amount` in format ``fmt`` (digit grouping,
    decimal mark, the survey's currency; exponents, underscores and non-ASCII digits refused; its
    length bounded first) and a decimal part is rounded half to even to a whole unit.
    """
    if isinstance(text, bool):
        raise InvalidSubmission("salary must be a whole number")
    if isinstance(text, int):
        value = text
    else:
        value = whole_units(parse_amount(text, fmt))
    if value < 0:
        raise InvalidSubmission("salary must not be negative")
    if value > salary_max:
        raise InvalidSubmission(f"salary above the survey's upper bound of {salary_max}")
    return value


def parse_gender(text: str, categories: Sequence[str], labels: Mapping[str, str] | None = None) -> str:
    """The gender category ``text`` names, by key or by the organiser's label (compared after
    NFKC normalisation and case folding)."""
    return Choices.of("gender", categories, labels).match(text)


def parse_job(text: str | None, jobs: Sequence[str], labels: Mapping[str, str] | None = None) -> str:
    """The job category ``text`` names (as :func:`parse_gender`); "" when the survey declares none."""
    raw = (text or "").strip()
    if not jobs:
        if raw:
            raise InvalidSubmission("this survey has no job categories; leave the job out")
        return ""
    if not raw:
        choices = Choices.of("job category", jobs, labels)
        raise InvalidSubmission(f"job category is missing; expected one of: {choices.expected()}")
    return Choices.of("job category", jobs, labels).match(raw)


def parse_pay(text: str | int, bound: int, what: str, fmt: AmountFormat = AmountFormat()) -> int:
    """An amount of pay (basic or variable) in whole units, at most ``bound`` (as
    :func:`parse_salary`)."""
    if isinstance(text, bool):
        raise InvalidSubmission(f"{what} must be a whole number")
    value = text if isinstance(text, int) else whole_units(parse_amount(text, fmt, what))
    if value < 0:
        raise InvalidSubmission(f"{what} must not be negative")
    if value > bound:
        raise InvalidSubmission(f"{what} above the survey's upper bound of {bound}")
    return value


def parse_hours(text: str | int, hours_max: int, fmt: AmountFormat = AmountFormat()) -> int:
    """Hours paid in the period, in hundredths (rounded half to even), above 0 and at most
    ``hours_max`` whole hours."""
    if isinstance(text, bool):
        raise InvalidSubmission("hours must be a number")
    value = text * HOURS_SCALE if isinstance(text, int) else round(parse_amount(text, fmt, "hours") * HOURS_SCALE)
    if value <= 0:
        raise InvalidSubmission("hours must be above 0")
    if value > hours_max * HOURS_SCALE:
        raise InvalidSubmission(f"hours above the survey's upper bound of {hours_max}")
    return value


def make_record(gender: str, salary: str | int, scheme: Scheme, job: str | None = None, *,
                gender_labels: Mapping[str, str] | None = None, job_labels: Mapping[str, str] | None = None,
                amounts: AmountFormat = AmountFormat(), variable: str | int | None = None,
                hours: str | int | None = None) -> Record:
    """Validate user input into a :class:`Record` (raises :class:`InvalidSubmission`).  ``salary``
    is the basic pay; ``variable`` and ``hours`` are required exactly when the survey collects
    them (variable pay may be 0)."""
    g = parse_gender(gender, scheme.genders, gender_labels)
    if not scheme.complete:
        s = parse_salary(salary, scheme.salary_max, amounts)
        j = parse_job(job, scheme.jobs, job_labels)
        if variable is not None or hours is not None:
            raise InvalidSubmission("this survey asks for one pay figure; leave variable pay and hours out")
        return Record(g, s, j)
    basic = parse_pay(salary, scheme.salary_max, "basic pay", amounts)
    j = parse_job(job, scheme.jobs, job_labels)
    v = _optional(variable, scheme.variable is not None, "variable pay")
    h = _optional(hours, bool(scheme.hours_max), "hours")
    top = scheme.variable.top if scheme.variable is not None else 0
    rec = Record(g, basic, j, parse_pay(v, top, "variable pay", amounts) if v is not None else 0,
                 parse_hours(h, scheme.hours_max, amounts) if h is not None else 0)
    check_bounds(rec, scheme)
    return rec


def _optional(text: str | int | None, collected: bool, what: str) -> str | int | None:
    if collected and (text is None or (isinstance(text, str) and not text.strip())):
        raise InvalidSubmission(f"{what} is missing (this survey collects it; 0 is an answer)")
    if not collected and text is not None:
        raise InvalidSubmission(f"this survey does not collect {what}; leave it out")
    return text


def _cell_of(record: Record, scheme: Scheme) -> int:
    try:
        g = scheme.genders.index(record.gender)
        j = scheme.jobs.index(record.job) if scheme.jobs else 0
    except ValueError:
        raise InvalidSubmission("record does not match the survey's genders and job categories") from None
    if not scheme.jobs and record.job:
        raise InvalidSubmission("this survey has no job categories; leave the job out")
    return scheme.cell(g, j)


def _fill_value(vec: list[int], v: ValueBlock, c: int, x: int, K: int) -> None:
    b, bd = v.banding.band_of(x), v.banding
    vec[v.hist_at + c * v.B + b] = 1
    vec[v.prod_at + c] = x
    vec[v.sq_at + c] = x * x
    _fill_bits(vec, v.d1_at, v.bits, x - bd.edges[b])
    _fill_bits(vec, v.d2_at, v.bits, bd.band_hi(b) - x)


def _fill_bits(vec: list[int], at: int, L: int, x: int) -> None:
    for j in range(L):
        vec[at + j] = (x >> j) & 1


def value_of(record: Record, kind: ValueKind) -> int:
    """The record's value of one kind (T, V or Y)."""
    return {ValueKind.LEVEL: record.level, ValueKind.VARIABLE: record.variable,
            ValueKind.HOURLY: record.hourly}[kind]


def check_bounds(record: Record, scheme: Scheme) -> None:
    """Raise :class:`InvalidSubmission` unless every value of ``record`` lies in its bounds."""
    if record.salary < 0 or record.variable < 0:
        raise InvalidSubmission("pay must not be negative" if scheme.complete else
                                f"salary above the survey's upper bound of {scheme.salary_max}")
    if record.variable and scheme.variable is None:
        raise InvalidSubmission("this survey does not collect variable pay")
    if bool(record.hours) != bool(scheme.hours_max) or record.hours < 0:
        raise InvalidSubmission("hours must be above 0" if scheme.hours_max else "this survey does not collect hours")
    if record.hours > scheme.hours_max * HOURS_SCALE:
        raise InvalidSubmission(f"hours above the survey's upper bound of {scheme.hours_max}")
    for v in scheme.values:
        x = value_of(record, v.kind)
        if x > v.banding.top:
            raise InvalidSubmission(f"{_VALUE_NAMES[v.kind]} above the survey's upper bound of {v.banding.top}")


_VALUE_NAMES = {ValueKind.LEVEL: "salary", ValueKind.VARIABLE: "variable pay",
                ValueKind.HOURLY: "hourly pay (hundredths)"}


def encode_record(record: Record, scheme: Scheme) -> list[int]:
    """The record's vector (see module docstring); entries are non-negative integers.

    Pre-condition: ``record`` passed :func:`make_record` for this scheme.
    """
    check_bounds(record, scheme)
    c = _cell_of(record, scheme)
    vec = [0] * scheme.record_width
    for v in scheme.values:
        _fill_value(vec, v, c, value_of(record, v.kind), scheme.K)
    if scheme.basic_bits:
        _fill_bits(vec, scheme.basic_bits_at, scheme.basic_bits, record.salary)
    if scheme.hours_bits:
        r = record.level * HOURLY_SCALE % record.hours
        _fill_bits(vec, scheme.remainder_at, scheme.hours_bits, r)
        _fill_bits(vec, scheme.slack_at, scheme.hours_bits, record.hours - 1 - r)
    return vec


def encode_records(records: Sequence[Record], scheme: Scheme) -> npt.NDArray[np.int64]:
    """:func:`encode_record` for many records at once: an (N, record width) int64 matrix, row k
    equal to ``encode_record(records[k], scheme)`` (checked in tests).  Needs every value's bound
    below 2^31 (squares in int64); callers fall back to :func:`encode_record` above that."""
    if not fast_encodable(scheme):
        raise ValueError("encode_records needs salary_max < 2^31; use encode_record")
    N = len(records)
    cells = np.fromiter((_cell_of(r, scheme) for r in records), dtype=np.int64, count=N)
    out = np.zeros((N, scheme.record_width), dtype=np.int64)
    level = np.fromiter((r.level for r in records), dtype=np.int64, count=N)
    values = {ValueKind.LEVEL: level,
              ValueKind.VARIABLE: np.fromiter((r.variable for r in records), dtype=np.int64, count=N)}
    hours = np.fromiter((r.hours for r in records), dtype=np.int64, count=N)
    _check_bounds_bulk(scheme, level, values[ValueKind.VARIABLE], hours)
    if scheme.hours_bits:
        values[ValueKind.HOURLY] = level * HOURLY_SCALE // hours
    for v in scheme.values:
        _fill_values(out, v, cells, values[v.kind], scheme.K)
    if scheme.basic_bits:
        _fill_bit_columns(out, scheme.basic_bits_at, scheme.basic_bits, level - values[ValueKind.VARIABLE])
    if scheme.hours_bits:
        rem = level * HOURLY_SCALE % hours
        _fill_bit_columns(out, scheme.remainder_at, scheme.hours_bits, rem)
        _fill_bit_columns(out, scheme.slack_at, scheme.hours_bits, hours - 1 - rem)
    return out


def _check_bounds_bulk(scheme: Scheme, level: npt.NDArray[np.int64], variable: npt.NDArray[np.int64],
                       hours: npt.NDArray[np.int64]) -> None:
    """:func:`check_bounds` for whole columns (the first failure's message)."""
    if not len(level):
        return
    basic = level - variable
    bad = (basic < 0) | (variable < 0) | (variable > (scheme.variable.top if scheme.variable else 0))
    bad |= (hours <= 0) | (hours > scheme.hours_max * HOURS_SCALE) if scheme.hours_max else hours != 0
    bad |= level > scheme.salary_max
    if scheme.hourly is not None:
        bad |= level * HOURLY_SCALE // np.maximum(hours, 1) > scheme.hourly.top
    if bad.any():
        k = int(np.argmax(bad))
        check_bounds(Record("", int(basic[k]), "", int(variable[k]), int(hours[k])), scheme)


def fast_encodable(scheme: Scheme) -> bool:
    """Whether :func:`encode_records` (int64 squares) covers this scheme."""
    return all(v.banding.top < FAST_SALARY_LIMIT for v in scheme.values)


def _fill_values(out: npt.NDArray[np.int64], v: ValueBlock, cells: npt.NDArray[np.int64],
                 s: npt.NDArray[np.int64], K: int) -> None:
    edges = np.array(v.banding.edges, dtype=np.int64)
    his = np.array([v.banding.band_hi(b) for b in range(v.B)], dtype=np.int64)
    band = np.searchsorted(edges, s, side="right") - 1
    rows = np.arange(len(s))
    out[rows, v.hist_at + cells * v.B + band] = 1
    out[rows, v.prod_at + cells] = s
    out[rows, v.sq_at + cells] = s * s
    _fill_bit_columns(out, v.d1_at, v.bits, s - edges[band])
    _fill_bit_columns(out, v.d2_at, v.bits, his[band] - s)


def _fill_bit_columns(out: npt.NDArray[np.int64], at: int, L: int, x: npt.NDArray[np.int64]) -> None:
    out[:, at: at + L] = (x[:, None] >> np.arange(L, dtype=np.int64)) & 1
