"""Record encoding: exact validation errors, roundtrip, and linearity (property-based)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol.encoding import (
    Record,
    decode_totals,
    encode_record,
    make_record,
    parse_gender,
    parse_salary,
    record_length,
    vector_length,
)
from protocol.errors import InvalidSubmission
from protocol.field import DEFAULT_PRIME, reconstruct_vector, share_vector

CATS = ("female", "male", "other")
MAX = 1_000_000


# ---------------------------------------------------------------------------------- salary

@pytest.mark.parametrize(
    ("text", "expected"),
    [("52000", 52000), (" 52000 ", 52000), ("52000.0", 52000), ("0", 0), ("1000000", 1_000_000),
     (52000, 52000), (0, 0), ("+7", 7), ("1000000.00", 1_000_000)],
)
def test_parse_salary_accepts(text: str | int, expected: int) -> None:
    assert parse_salary(text, MAX) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-1", "salary must not be negative"),
        (-1, "salary must not be negative"),
        ("52000.5", "salary '52000.5' is not a whole number of the survey's unit"),
        ("0.1", "salary '0.1' is not a whole number of the survey's unit"),
        ("1000001", "salary above the survey's upper bound of 1000000"),
        (1_000_001, "salary above the survey's upper bound of 1000000"),
        ("1e7", "salary above the survey's upper bound of 1000000"),
        ("", "salary is missing"),
        ("   ", "salary is missing"),
        ("abc", "salary 'abc' is not a number"),
        ("52,000", "salary '52,000' is not a number"),
        ("52 000", "salary '52 000' is not a number"),
        ("€52000", "salary '€52000' is not a number"),
        (True, "salary must be a whole number"),
        (False, "salary must be a whole number"),
    ],
)
def test_parse_salary_refuses_with_exact_message(text: str | int, message: str) -> None:
    with pytest.raises(InvalidSubmission) as exc:
        parse_salary(text, MAX)
    assert str(exc.value) == message


def test_parse_salary_bound_is_inclusive_and_per_survey() -> None:
    assert parse_salary("10", 10) == 10
    with pytest.raises(InvalidSubmission, match="upper bound of 10$"):
        parse_salary("11", 10)


def test_parse_salary_refuses_fraction_lost_in_float_rounding() -> None:
    with pytest.raises(InvalidSubmission, match="not a whole number"):
        parse_salary("52000.000000000001", MAX)


# ---------------------------------------------------------------------------------- gender

@pytest.mark.parametrize("text", ["male", "Male", "MALE", " mAlE ", "male\n"])
def test_parse_gender_is_case_insensitive(text: str) -> None:
    assert parse_gender(text, CATS) == "male"


@pytest.mark.parametrize("text", ["man", "", "fem", "males", "m"])
def test_parse_gender_refuses_unknown(text: str) -> None:
    with pytest.raises(InvalidSubmission) as exc:
        parse_gender(text, CATS)
    assert str(exc.value) == f"unknown gender {text.strip()!r}; expected one of: female, male, other"


def test_make_record_validates_both_fields() -> None:
    assert make_record(" Female ", "61000", CATS, MAX) == Record("female", 61000)
    with pytest.raises(InvalidSubmission, match="unknown gender 'robot'"):
        make_record("robot", "61000", CATS, MAX)
    with pytest.raises(InvalidSubmission, match="salary must not be negative"):
        make_record("male", "-3", CATS, MAX)


# ------------------------------------------------------------------------------ encode/decode

def bits(v: int, n: int) -> list[int]:
    return [(v >> j) & 1 for j in range(n)]


def test_encode_record_layout() -> None:
    # 6 aggregated entries, then 20 bits of s and 20 bits of max - s (max = 10^6 < 2^20)
    assert record_length(CATS, MAX) == 6 + 2 * 20
    # what is shared: the record, then its validity proof (m, u0, v0 and 2W + 1 values of h)
    assert vector_length(CATS, MAX) == 46 + 3 + 2 * 46 + 1
    assert encode_record(Record("female", 52000), CATS, MAX) == [1, 52000, 0, 0, 0, 0] + bits(52000, 20) + bits(
        MAX - 52000, 20)
    assert encode_record(Record("male", 48000), CATS, MAX)[:6] == [0, 0, 1, 48000, 0, 0]
    assert encode_record(Record("other", 0), CATS, MAX) == [0, 0, 0, 0, 1, 0] + [0] * 20 + bits(MAX, 20)
    # Category order comes from the manifest; L follows the bound.
    assert encode_record(Record("male", 5), ("male", "female"), 7) == [1, 5, 0, 0, 1, 0, 1, 0, 1, 0]
    # known answer: 7 = 0b111, max - 7 = 0
    assert encode_record(Record("male", 7), ("male", "female"), 7) == [1, 7, 0, 0, 1, 1, 1, 0, 0, 0]


def test_encode_refuses_salary_above_bound() -> None:
    with pytest.raises(InvalidSubmission, match="upper bound of 10"):
        encode_record(Record("male", 11), CATS, 10)


def test_encode_decode_roundtrip() -> None:
    for g in CATS:
        rec = Record(g, 77_777)
        totals = decode_totals(encode_record(rec, CATS, MAX)[:6], CATS)
        assert totals == {c: ((1, 77_777) if c == g else (0, 0)) for c in CATS}


def test_decode_totals_refuses_wrong_length() -> None:
    with pytest.raises(ValueError, match="wrong length"):
        decode_totals([1, 2, 3, 4, 5], CATS)
    with pytest.raises(ValueError, match="wrong length"):
        decode_totals([0] * 8, CATS)


records_st = st.lists(
    st.tuples(st.sampled_from(CATS), st.integers(min_value=0, max_value=MAX)), min_size=0, max_size=25
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=records_st, params=st.sampled_from([(3, 1), (5, 2)]))
def test_sum_of_encodings_is_count_and_sum_and_sharing_is_linear(
    records: list[tuple[str, int]], params: tuple[int, int]
) -> None:
    n, t = params
    p = DEFAULT_PRIME
    # Plain Python statistics.
    expected = {c: (sum(1 for g, _ in records if g == c), sum(s for g, s in records if g == c)) for c in CATS}

    # Sum of the plain encodings.
    width = record_length(CATS, MAX)
    total = [0] * width
    for g, s in records:
        vec = encode_record(make_record(g.upper(), str(s), CATS, MAX), CATS, MAX)
        assert len(vec) == width
        total = [a + b for a, b in zip(total, vec)]
    assert decode_totals(total[:6], CATS) == expected

    # Each node adds up its shares; the summed shares reconstruct the same totals.
    node_sums = [[0] * width for _ in range(n)]
    for g, s in records:
        shares = share_vector(encode_record(Record(g, s), CATS, MAX), n, t, p)
        for i in range(n):
            node_sums[i] = [(a + b) % p for a, b in zip(node_sums[i], shares[i])]
    assert decode_totals(reconstruct_vector(dict(enumerate(node_sums)), t, p)[:6], CATS) == expected
    # And from only t+1 nodes (the last ones).
    last = {i: node_sums[i] for i in range(n - t - 1, n)}
    assert decode_totals(reconstruct_vector(last, t, p)[:6], CATS) == expected
