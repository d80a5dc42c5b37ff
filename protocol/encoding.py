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
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .answers import AmountFormat, Choices, parse_amount, whole_units
from .errors import InvalidSubmission

ENCODING_ID = "cells-bands-rank1/v4"
#: cells x bands at most this: every (cell, band) pair costs one field element per submission
#: (16 bytes per node), and the validity proof is 4L + 9 elements whatever the layout
MAX_CELL_BANDS = 16384
#: salary bounds below this take the contributor's fast path: encode_records keeps s^2 in int64
#: (exact up to 3.03e9); amounts up to 10^9 per employee are summed exactly on this path (the sums
#: themselves are field elements, exact to 2^127)
FAST_SALARY_LIMIT = 1 << 31


@dataclass(frozen=True)
class Record:
    """One employee's answer, validated against the manifest (``job`` is "" when the survey
    declares no job categories)."""

    gender: str
    salary: int
    job: str = ""


@dataclass(frozen=True)
class Scheme:
    """Everything the record layout depends on.  Build with :meth:`of` (or
    ``Manifest.scheme()``)."""

    genders: tuple[str, ...]
    jobs: tuple[str, ...]
    edges: tuple[int, ...]  # band lower edges, edges[0] == 0
    salary_max: int

    @staticmethod
    def of(genders: Sequence[str], salary_max: int, jobs: Sequence[str] = (), bands: Sequence[int] = ()) -> Scheme:
        """``bands`` are the band boundaries above 0 (the manifest's ``salary_bands``), strictly
        increasing and at most ``salary_max``; () is one band [0, max]."""
        b = tuple(int(x) for x in bands)
        if any(x <= 0 or x > salary_max for x in b) or any(x >= y for x, y in zip(b, b[1:])):
            raise ValueError("salary bands must be strictly increasing, above 0 and at most the salary bound")
        return Scheme(tuple(genders), tuple(jobs), (0,) + b, int(salary_max))

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

    @property
    def B(self) -> int:
        return len(self.edges)

    def cell(self, g: int, j: int) -> int:
        return g * self.J + j

    def band_hi(self, b: int) -> int:
        return self.edges[b + 1] - 1 if b + 1 < self.B else self.salary_max

    def band_width(self, b: int) -> int:
        return self.band_hi(b) - self.edges[b]

    def band_of(self, salary: int) -> int:
        return bisect.bisect_right(self.edges, salary) - 1

    @functools.cached_property
    def bits(self) -> int:
        """L: bits of each in-band offset (d1 and d2); the encoders read it per record."""
        return max(1, max(self.band_width(b) for b in range(self.B)).bit_length())

    @property
    def prod_at(self) -> int:
        return self.K * self.B

    @property
    def sq_at(self) -> int:
        return self.K * self.B + self.K

    @property
    def aggregate_width(self) -> int:
        """The leading entries that are summed: histogram, salary sums, sums of squares."""
        return self.K * self.B + 2 * self.K

    @property
    def d1_at(self) -> int:
        return self.aggregate_width

    @property
    def d2_at(self) -> int:
        return self.aggregate_width + self.bits

    @property
    def record_width(self) -> int:
        return self.aggregate_width + 2 * self.bits

    @property
    def vector_length(self) -> int:
        """Field elements a contributor shares: the record W, then its validity proof of
        4L + 9 elements (see :mod:`protocol.validity`)."""
        return self.record_width + 4 * self.bits + 9


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


def make_record(gender: str, salary: str | int, scheme: Scheme, job: str | None = None, *,
                gender_labels: Mapping[str, str] | None = None, job_labels: Mapping[str, str] | None = None,
                amounts: AmountFormat = AmountFormat()) -> Record:
    """Validate user input into a :class:`Record` (raises :class:`InvalidSubmission`)."""
    return Record(parse_gender(gender, scheme.genders, gender_labels),
                  parse_salary(salary, scheme.salary_max, amounts), parse_job(job, scheme.jobs, job_labels))


def _cell_of(record: Record, scheme: Scheme) -> int:
    try:
        g = scheme.genders.index(record.gender)
        j = scheme.jobs.index(record.job) if scheme.jobs else 0
    except ValueError:
        raise InvalidSubmission("record does not match the survey's genders and job categories") from None
    if not scheme.jobs and record.job:
        raise InvalidSubmission("this survey has no job categories; leave the job out")
    return scheme.cell(g, j)


def encode_record(record: Record, scheme: Scheme) -> list[int]:
    """The record's vector (see module docstring); entries are non-negative integers.

    Pre-condition: ``record`` passed :func:`make_record` for this scheme.
    """
    s = record.salary
    if not 0 <= s <= scheme.salary_max:
        raise InvalidSubmission(f"salary above the survey's upper bound of {scheme.salary_max}")
    c, b = _cell_of(record, scheme), scheme.band_of(s)
    vec = [0] * scheme.record_width
    vec[c * scheme.B + b] = 1
    vec[scheme.prod_at + c] = s
    vec[scheme.sq_at + c] = s * s
    L, lo, hi = scheme.bits, scheme.edges[b], scheme.band_hi(b)
    for j in range(L):
        vec[scheme.d1_at + j] = ((s - lo) >> j) & 1
        vec[scheme.d2_at + j] = ((hi - s) >> j) & 1
    return vec


def encode_records(records: Sequence[Record], scheme: Scheme) -> npt.NDArray[np.int64]:
    """:func:`encode_record` for many records at once: an (N, record width) int64 matrix, row k
    equal to ``encode_record(records[k], scheme)`` (checked in tests).  Needs salary_max < 2^31
    (s^2 in int64); callers fall back to :func:`encode_record` above that."""
    if scheme.salary_max >= FAST_SALARY_LIMIT:
        raise ValueError("encode_records needs salary_max < 2^31; use encode_record")
    N = len(records)
    cells = np.fromiter((_cell_of(r, scheme) for r in records), dtype=np.int64, count=N)
    s = np.fromiter((r.salary for r in records), dtype=np.int64, count=N)
    if N and (int(s.min()) < 0 or int(s.max()) > scheme.salary_max):
        raise InvalidSubmission(f"salary above the survey's upper bound of {scheme.salary_max}")
    edges = np.array(scheme.edges, dtype=np.int64)
    his = np.array([scheme.band_hi(b) for b in range(scheme.B)], dtype=np.int64)
    band = np.searchsorted(edges, s, side="right") - 1
    out = np.zeros((N, scheme.record_width), dtype=np.int64)
    rows = np.arange(N)
    out[rows, cells * scheme.B + band] = 1
    out[rows, scheme.prod_at + cells] = s
    out[rows, scheme.sq_at + cells] = s * s
    j = np.arange(scheme.bits, dtype=np.int64)
    out[:, scheme.d1_at: scheme.d2_at] = ((s - edges[band])[:, None] >> j) & 1
    out[:, scheme.d2_at:] = ((his[band] - s)[:, None] >> j) & 1
    return out
