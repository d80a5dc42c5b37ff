"""Record encoding: make the aggregation linear (DESIGN.md §3).

A record (gender g, salary s) becomes the vector, per category c in manifest order,
``[1{g=c}, s * 1{g=c}]``.  Summing vectors over submissions yields, per category, the count and
the exact integer salary sum — no multiplication between secrets at the nodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from .errors import InvalidSubmission

ENCODING_COUNT_SUM_V1 = "count-sum/v1"


@dataclass(frozen=True)
class Record:
    """One employee's answer, validated against the manifest's categories and bound."""

    gender: str
    salary: int


def vector_length(categories: Sequence[str]) -> int:
    """Number of field elements in one encoded record."""
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


def encode_record(record: Record, categories: Sequence[str]) -> list[int]:
    """The record's vector (see module docstring); entries are non-negative integers."""
    vec: list[int] = []
    for c in categories:
        hit = 1 if record.gender == c else 0
        vec += [hit, record.salary * hit]
    return vec


def decode_totals(totals: Sequence[int], categories: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Split a summed vector into ``{category: (count, salary_sum)}``."""
    if len(totals) != vector_length(categories):
        raise ValueError("totals vector has the wrong length for these categories")
    return {c: (totals[2 * k], totals[2 * k + 1]) for k, c in enumerate(categories)}
