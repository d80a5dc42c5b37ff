"""Reading people's answers: amounts as HR exports and people write them, and choices (gender,
job category) given by their key or by the organiser's label in any script.

Contracts:

- Every parse first bounds the length of its input (:data:`MAX_AMOUNT_CHARS`,
  :data:`MAX_CHOICE_CHARS`), so no parse costs more than a few microseconds whatever it is given.
- An amount is ASCII digits, optionally grouped by three (``,`` ``.`` ``'`` or a space, whichever
  is not the decimal mark), an optional decimal part after the decimal mark, an optional leading
  ``+`` and an optional currency code or symbol before or after it, which must be one of
  :attr:`AmountFormat.currency_marks` (the survey's unit).  Exponents, underscores, non-ASCII
  digits and anything else are refused with a one-line message saying what was expected.
- With no declared decimal mark (:attr:`AmountFormat.decimal` None) an amount whose two readings
  differ (``4,100``: 4100 with a decimal point, 4.1 with a decimal comma) is refused as ambiguous;
  every other form has one reading.
- Amounts come back exact (:class:`~fractions.Fraction`); :func:`whole_units` rounds them half to
  even to the survey's whole units (4100.50 -> 4100, 4101.50 -> 4102), the one rule for a decimal
  part.
- Choices match after Unicode NFKC normalisation and case folding (:func:`fold`), by key or label;
  the canonical key is what comes back.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction

from .errors import InvalidSubmission

#: longest amount text read (longer ones are refused before any other work)
MAX_AMOUNT_CHARS = 64
#: longest gender or job-category answer read
MAX_CHOICE_CHARS = 200

_DIGITS = frozenset("0123456789")
_SPACES = " \t\u00a0\u202f\u2009"
#: digit-group separators besides the other decimal mark
_GROUPING = frozenset(" \u00a0\u202f\u2009'")


class DecimalMark(StrEnum):
    """The character between whole units and their fraction."""

    POINT = "."
    COMMA = ","


@dataclass(frozen=True)
class AmountFormat:
    """How amounts are written: the decimal mark (None: read each amount the one way it can be
    read, refusing ambiguous ones) and the currency codes and symbols accepted beside them
    (compared case-insensitively; empty: none)."""

    decimal: DecimalMark | None = None
    currency_marks: frozenset[str] = field(default_factory=frozenset)
    currency: str = ""  # the code named in messages, e.g. TWD

    @functools.cached_property
    def _folded_marks(self) -> frozenset[str]:
        return frozenset(m.casefold() for m in self.currency_marks)

    def example(self) -> str:
        """An amount in this format, for messages."""
        if self.decimal is DecimalMark.COMMA:
            return "4100, 4.100 or 4.100,50"
        if self.decimal is DecimalMark.POINT:
            return "4100, 4,100 or 4,100.50"
        return "4100, 4,100.50 or 4.100,50"


def _digits(text: str) -> bool:
    return bool(text) and all(c in _DIGITS for c in text)


def _read(body: str, mark: DecimalMark) -> tuple[str, str] | None:
    """(whole digits, fraction digits) of ``body`` read with decimal mark ``mark``, or None."""
    whole, sep, frac = body.partition(mark.value)
    if sep and not _digits(frac):
        return None
    if _digits(whole):
        return whole, frac
    other = DecimalMark.COMMA.value if mark is DecimalMark.POINT else DecimalMark.POINT.value
    seps = {c for c in whole if c not in _DIGITS}
    if len(seps) != 1 or not seps <= (_GROUPING | {other}):
        return None
    groups = whole.split(seps.pop())
    if not (1 <= len(groups[0]) <= 3 and _digits(groups[0])) or any(len(g) != 3 or not _digits(g) for g in groups[1:]):
        return None
    return "".join(groups), frac


def _value(whole: str, frac: str) -> Fraction:
    return Fraction(int(whole + frac), 10 ** len(frac)) if frac else Fraction(int(whole))


def _split_currency(text: str) -> tuple[str, str]:
    """(currency part, number part): a leading or trailing run of characters that are neither
    digits nor separators nor a sign is the currency part."""
    start = 0
    while start < len(text) and text[start] not in _DIGITS and text[start] not in "+-.,":
        start += 1
    end = len(text)
    while end > start and text[end - 1] not in _DIGITS and text[end - 1] not in ".,":
        end -= 1
    if start and end < len(text):
        return text, ""  # currency on both sides: not an amount
    cur = (text[:start] + text[end:]).strip(_SPACES)
    return cur, text[start:end].strip(_SPACES)


def _why_not(raw: str, what: str, fmt: AmountFormat) -> InvalidSubmission:
    """The refusal for a text that is not an amount, naming the likely reason."""
    if any(c.isdigit() and c not in _DIGITS for c in raw):
        reason = ": only the digits 0-9 are accepted"
    elif "_" in raw:
        reason = ": '_' is not a digit separator"
    elif any(c in "eE" for c in raw) and any(c in _DIGITS for c in raw):
        reason = ": exponents are not accepted"
    else:
        reason = f" (expected e.g. {fmt.example()})"
    return InvalidSubmission(f"{what} {raw!r} is not a number{reason}")


def parse_amount(text: str, fmt: AmountFormat = AmountFormat(), what: str = "salary") -> Fraction:
    """The exact non-negative amount ``text`` writes in format ``fmt`` (see the module
    docstring); raises :class:`InvalidSubmission` with one line naming ``what`` was expected."""
    if len(text) > MAX_AMOUNT_CHARS:
        raise InvalidSubmission(f"{what} is too long ({len(text)} characters; an amount has at most "
                                f"{MAX_AMOUNT_CHARS})")
    raw = text.strip(_SPACES)
    if not raw:
        raise InvalidSubmission(f"{what} is missing")
    if raw.isascii() and raw.isdigit():  # the common case, read at once
        return Fraction(int(raw))
    cur, number = _split_currency(raw)
    if cur and cur.casefold() not in fmt._folded_marks:
        if not number or not fmt.currency_marks:
            raise _why_not(raw, what, fmt)
        raise InvalidSubmission(f"{what} {raw!r}: {cur!r} is not this survey's currency ({fmt.currency})")
    negative = number.startswith("-")
    body = number[1:] if number[:1] in "+-" else number
    marks = [fmt.decimal] if fmt.decimal is not None else [DecimalMark.POINT, DecimalMark.COMMA]
    readings = {m: r for m in marks if (r := _read(body, m)) is not None}
    if not readings:
        raise _why_not(raw, what, fmt)
    values = {m: _value(*r) for m, r in readings.items()}
    if len(set(values.values())) > 1:
        p, c = values[DecimalMark.POINT], values[DecimalMark.COMMA]
        raise InvalidSubmission(f"{what} {raw!r} is ambiguous ({_plain(p)} with a decimal point, {_plain(c)} with a "
                                "decimal comma): give --decimal . or --decimal ,")
    value = next(iter(values.values()))
    if negative and value:
        raise InvalidSubmission(f"{what} must not be negative")
    return value


def _plain(x: Fraction) -> str:
    return str(x.numerator) if x.denominator == 1 else f"{float(x):g}"


def whole_units(x: Fraction) -> int:
    """``x`` rounded half to even to a whole unit (Python's ``round`` on a Fraction)."""
    return round(x)


def reveals(text: str) -> DecimalMark | None:
    """The decimal mark an amount's text can only be read with (``4.100,50``: COMMA; ``4,100.5``
    and ``1,234,567``: POINT), or None when it reads the same either way or is ambiguous or not
    an amount.  Used to infer a file's convention from its unambiguous amounts."""
    if len(text) > MAX_AMOUNT_CHARS:
        return None
    _, number = _split_currency(text.strip(_SPACES))
    body = number.lstrip("+-")
    ok = [m for m in DecimalMark if _read(body, m) is not None]
    return ok[0] if len(ok) == 1 else None


# --------------------------------------------------------------------------------------------
# Choices


def fold(text: str) -> str:
    """``text`` as compared with keys and labels: NFKC-normalised, case-folded, stripped."""
    return unicodedata.normalize("NFKC", text).casefold().strip()


@dataclass(frozen=True)
class Choices:
    """The answers a question accepts: canonical ``keys`` (what a record holds) and the
    organiser's ``labels`` for some of them (key -> label)."""

    what: str  # "gender", "job category"
    keys: tuple[str, ...]
    labels: Mapping[str, str] = field(default_factory=dict)

    @staticmethod
    def of(what: str, keys: Sequence[str], labels: Mapping[str, str] | None = None) -> Choices:
        return Choices(what, tuple(keys), dict(labels or {}))

    @functools.cached_property
    def _lookup(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for k in self.keys:
            out.setdefault(fold(k), k)
        for k, label in self.labels.items():
            out.setdefault(fold(label), k)
        return out

    def label(self, key: str) -> str:
        """What people are shown for ``key``: its label, else the key."""
        return self.labels.get(key, key)

    def expected(self) -> str:
        return ", ".join(f"{self.labels[k]} ({k})" if k in self.labels else k for k in self.keys)

    def match(self, text: str) -> str:
        """The key ``text`` names (by key or label, after :func:`fold`); raises
        :class:`InvalidSubmission` naming the choices otherwise."""
        if len(text) > MAX_CHOICE_CHARS:
            raise InvalidSubmission(f"{self.what} is too long ({len(text)} characters; at most {MAX_CHOICE_CHARS})")
        key = self._lookup.get(fold(text))
        if key is None:
            raise InvalidSubmission(f"unknown {self.what} {text.strip()!r}; expected one of: {self.expected()}")
        return key

    def collisions(self) -> list[str]:
        """Keys and labels that fold to the same text but name different keys (a manifest
        with any is refused)."""
        seen: dict[str, str] = {}
        clash = []
        for k, text in [(k, k) for k in self.keys] + list(self.labels.items()):
            f = fold(text)
            if seen.setdefault(f, k) != k:
                clash.append(text)
        return clash
