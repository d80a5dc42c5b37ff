"""Record encoding: make the aggregation linear and the validation cheap (DESIGN.md §3).

A record (gender g, salary s) becomes the vector

    [1{g=c}, s*1{g=c}  for each category c in manifest order]      (2C entries, summed)
    + [b_0 .. b_{L-1}]          bits of s,          s     = sum b_j 2^j
    + [b'_0 .. b'_{L-1}]        bits of max - s,    max-s = sum b'_j 2^j

with L = salary_max.bit_length().  Summing the first 2C entries over submissions yields, per
category, the count and the exact integer salary sum — no multiplication between secrets.  The
bits let the nodes check, on shares and without secure comparisons, that s lies in [0, max], that
the gender part is one-hot and that each product entry equals s times its indicator
(:mod:`protocol.validity`).  A contributor shares the record followed by a proof of its validity
(:func:`protocol.validity.encode_submission`), so the vector it seals is :func:`vector_length`
long.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import numpy as np
import numpy.typing as npt

from .errors import InvalidSubmission

ENCODING_ID = "count-sum-range-flp/v2"


@dataclass(frozen=True)
class Record:
    """One employee's answer, validated against the manifest's categories and bound."""

    gender: str
    salary: int


def salary_bits(salary_max: int) -> int:
    """L: bits per range decomposition (s and max - s both fit)."""
    return max(1, salary_max.bit_length())


def record_length(categories: Sequence[str], salary_max: int) -> int:
    """Number of field elements in one encoded record (without its proof)."""
    return 2 * len(categories) + 2 * salary_bits(salary_max)


def vector_length(categories: Sequence[str], salary_max: int) -> int:
    """Number of field elements a contributor shares: the record W, then its validity proof of
    3 + 2W + 1 elements (see :mod:`protocol.validity`)."""
    w = record_length(categories, salary_max)
    return 3 * w + 4


def aggregate_length(categories: Sequence[str]) -> int:
    """The leading entries that are summed (count and salary sum per category)."""
    return 2 * len(categories)


def parse_salary(text: str | int, salary_max: int) -> int:
    """Parse a salary given by a user: a non-negative integer no larger than ``salary_max``.

    Accepts ``52000`` and ``52000.0``/``"52,000"`` style thousands separators are refused on
    purpose (ambiguous between locales).
    """
    if isinstance(text, bool):
        raise InvalidSubmission("salary must be a whole number")
    if isinstance(text, int):
        value = text
    else:
        raw = text.strip()
        if not raw:
            raise InvalidSubmission("salary is missing")
        try:
            value = int(raw)
        except ValueError:
            # Decimal, not float: "52000.000000000001" must not round to a whole number.
            try:
                as_dec = Decimal(raw)
            except InvalidOperation:
                raise InvalidSubmission(f"salary {raw!r} is not a number") from None
            if not as_dec.is_finite() or as_dec != as_dec.to_integral_value():
                raise InvalidSubmission(f"salary {raw!r} is not a whole number of the survey's unit") from None
            value = int(as_dec)
    if value < 0:
        raise InvalidSubmission("salary must not be negative")
    if value > salary_max:
        raise InvalidSubmission(f"salary above the survey's upper bound of {salary_max}")
    return value


def parse_gender(text: str, categories: Sequence[str]) -> str:
    """Normalise a gender answer to one of the manifest's categories (case-insensitive)."""
    g = text.strip().lower()
    if g not in categories:
        raise InvalidSubmission(f"unknown gender {text.strip()!r}; expected one of: {', '.join(categories)}")
    return g


def make_record(gender: str, salary: str | int, categories: Sequence[str], salary_max: int) -> Record:
    """Validate user input into a :class:`Record` (raises :class:`InvalidSubmission`)."""
    return Record(parse_gender(gender, categories), parse_salary(salary, salary_max))


def encode_record(record: Record, categories: Sequence[str], salary_max: int) -> list[int]:
    """The record's vector (see module docstring); entries are non-negative integers.

    Pre-condition: ``record`` passed :func:`make_record` for these categories and bound.
    """
    if not 0 <= record.salary <= salary_max:
        raise InvalidSubmission(f"salary above the survey's upper bound of {salary_max}")
    vec: list[int] = []
    for c in categories:
        hit = 1 if record.gender == c else 0
        vec += [hit, record.salary * hit]
    L = salary_bits(salary_max)
    vec += [(record.salary >> j) & 1 for j in range(L)]
    vec += [((salary_max - record.salary) >> j) & 1 for j in range(L)]
    return vec


def decode_totals(totals: Sequence[int], categories: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Split the summed leading entries into ``{category: (count, salary_sum)}``."""
    if len(totals) != aggregate_length(categories):
        raise ValueError("totals vector has the wrong length for these categories")
    return {c: (totals[2 * k], totals[2 * k + 1]) for k, c in enumerate(categories)}


def encode_records(records: Sequence[Record], categories: Sequence[str], salary_max: int) -> npt.NDArray[np.int64]:
    """:func:`encode_record` for many records at once: an (N, record length) int64 matrix, row k
    equal to ``encode_record(records[k], ...)`` (checked in tests).  Needs salary_max < 2^62."""
    if salary_max >= 1 << 62:
        raise ValueError("encode_records needs salary_max < 2^62; use encode_record")
    index = {c: k for k, c in enumerate(categories)}
    try:
        g = np.fromiter((index[r.gender] for r in records), dtype=np.int64, count=len(records))
    except KeyError as exc:
        raise InvalidSubmission(f"unknown gender {exc.args[0]!r}") from None
    s = np.fromiter((r.salary for r in records), dtype=np.int64, count=len(records))
    if len(s) and (int(s.min()) < 0 or int(s.max()) > salary_max):
        raise InvalidSubmission(f"salary above the survey's upper bound of {salary_max}")
    C, L = len(categories), salary_bits(salary_max)
    out = np.zeros((len(records), 2 * C + 2 * L), dtype=np.int64)
    hit = g[:, None] == np.arange(C)[None, :]
    out[:, 0: 2 * C: 2] = hit
    out[:, 1: 2 * C: 2] = hit * s[:, None]
    j = np.arange(L, dtype=np.int64)
    out[:, 2 * C: 2 * C + L] = (s[:, None] >> j) & 1
    out[:, 2 * C + L:] = ((salary_max - s)[:, None] >> j) & 1
    return out
