"""Record encoding: exact validation errors, the layout (known answers with and without job
categories and salary bands), the bulk encoder, and linearity (property-based)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol.encoding import (
    ENCODING_ID,
    FAST_SALARY_LIMIT,
    Record,
    Scheme,
    encode_record,
    encode_records,
    make_record,
    parse_gender,
    parse_job,
    parse_salary,
)
from protocol.errors import InvalidSubmission
from protocol.field import DEFAULT_PRIME, reconstruct_vector, share_vector

CATS = ("female", "male", "other")
JOBS = ("engineering", "sales")
MAX = 1_000_000
SCHEME = Scheme.of(CATS, MAX)


# ---------------------------------------------------------------------------------- salary

@pytest.mark.parametrize(
    ("text", "expected"),
    [("52000", 52000), (" 52000 ", 52000), ("52000.0", 52000), ("0", 0), ("1000000", 1_000_000),
     (52000, 52000), (0, 0), ("+7", 7), ("1000000.00", 1_000_000),
     # a decimal part is rounded half to even to the survey's whole units
     ("52000.5", 52000), ("52001.5", 52002), ("0.1", 0), ("12.5", 12), ("4.100,50", 4100), ("4.101,50", 4102),
     # digit grouping that reads one way only
     ("52 000", 52000), ("1.000.000", 1_000_000), ("9,999.0", 9999),
     ("4,100.50", 4100), ("4 100,5", 4100), ("4'100", 4100), ("1\u00a0000", 1000)],
)
def test_parse_salary_accepts(text: str | int, expected: int) -> None:
    assert parse_salary(text, MAX) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-1", "salary must not be negative"),
        (-1, "salary must not be negative"),
        ("1000001", "salary above the survey's upper bound of 1000000"),
        (1_000_001, "salary above the survey's upper bound of 1000000"),
        ("1000000.5000001", "salary above the survey's upper bound of 1000000"),
        ("1e7", "salary '1e7' is not a number: exponents are not accepted"),
        ("4e3", "salary '4e3' is not a number: exponents are not accepted"),
        ("4_000", "salary '4_000' is not a number: '_' is not a digit separator"),
        ("\u0664\u0660\u0660\u0660", "salary '\u0664\u0660\u0660\u0660' is not a number: only the digits 0-9 are accepted"),
        ("４０００", "salary '４０００' is not a number: only the digits 0-9 are accepted"),
        ("", "salary is missing"),
        ("   ", "salary is missing"),
        ("abc", "salary 'abc' is not a number (expected e.g. 4100, 4,100.50 or 4.100,50)"),
        ("52,000", "salary '52,000' is ambiguous (52000 with a decimal point, 52 with a decimal comma): give "
                   "--decimal . or --decimal ,"),
        ("41,00,000", "salary '41,00,000' is not a number (expected e.g. 4100, 4,100.50 or 4.100,50)"),
        ("1,000.000,5", "salary '1,000.000,5' is not a number (expected e.g. 4100, 4,100.50 or 4.100,50)"),
        ("€52000", "salary '€52000' is not a number (expected e.g. 4100, 4,100.50 or 4.100,50)"),
        ("1" * 65, "salary is too long (65 characters; an amount has at most 64)"),
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


def test_parse_salary_rounds_exactly_half_to_even() -> None:
    """Decimal, never float: a fraction just above or below one half decides the rounding."""
    assert parse_salary("52000.000000000001", MAX) == 52000
    assert parse_salary("52000.500000000001", MAX) == 52001
    assert parse_salary("52000.499999999999", MAX) == 52000
    assert parse_salary("52000.5", MAX) == 52000 and parse_salary("52001.5", MAX) == 52002


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
    assert make_record(" Female ", "61000", SCHEME) == Record("female", 61000)
    assert make_record(" Female ", "61000", SCHEME) == Record("female", 61000, "")
    with pytest.raises(InvalidSubmission, match="unknown gender 'robot'"):
        make_record("robot", "61000", SCHEME)
    with pytest.raises(InvalidSubmission, match="salary must not be negative"):
        make_record("male", "-3", SCHEME)
    with pytest.raises(InvalidSubmission) as exc:
        make_record("male", "1000001", SCHEME)
    assert str(exc.value) == "salary above the survey's upper bound of 1000000"


# ------------------------------------------------------------------------------ job category

@pytest.mark.parametrize("text", ["sales", "Sales", " SALES ", "sales\n"])
def test_parse_job_is_case_insensitive(text: str) -> None:
    assert parse_job(text, JOBS) == "sales"


@pytest.mark.parametrize(
    ("text", "jobs", "message"),
    [
        ("sales", (), "this survey has no job categories; leave the job out"),
        (" x ", (), "this survey has no job categories; leave the job out"),
        (None, JOBS, "job category is missing; expected one of: engineering, sales"),
        ("", JOBS, "job category is missing; expected one of: engineering, sales"),
        ("  ", JOBS, "job category is missing; expected one of: engineering, sales"),
        ("hr", JOBS, "unknown job category 'hr'; expected one of: engineering, sales"),
        (" Marketing ", JOBS, "unknown job category 'Marketing'; expected one of: engineering, sales"),
    ],
)
def test_parse_job_refuses_with_exact_message(text: str | None, jobs: tuple[str, ...], message: str) -> None:
    with pytest.raises(InvalidSubmission) as exc:
        parse_job(text, jobs)
    assert str(exc.value) == message


@pytest.mark.parametrize("text", [None, "", "   "])
def test_parse_job_without_job_categories_is_empty(text: str | None) -> None:
    assert parse_job(text, ()) == ""


def test_make_record_with_job_categories() -> None:
    sc = Scheme.of(CATS, MAX, JOBS, (3000, 6000))
    assert make_record(" Male ", "4800", sc, " Engineering ") == Record("male", 4800, "engineering")
    for job, message in [(None, "job category is missing; expected one of: engineering, sales"),
                         ("hr", "unknown job category 'hr'; expected one of: engineering, sales")]:
        with pytest.raises(InvalidSubmission) as exc:
            make_record("male", "4800", sc, job)
        assert str(exc.value) == message
    with pytest.raises(InvalidSubmission) as exc:
        make_record("male", "4800", SCHEME, "sales")
    assert str(exc.value) == "this survey has no job categories; leave the job out"
    # gender is checked first, then the salary, then the job
    with pytest.raises(InvalidSubmission, match="unknown gender 'robot'"):
        make_record("robot", "-1", sc, "hr")
    with pytest.raises(InvalidSubmission, match="salary must not be negative"):
        make_record("male", "-1", sc, "hr")


# ---------------------------------------------------------------------------------- scheme

def test_scheme_of_builds_edges_and_cells() -> None:
    sc = Scheme.of(("f", "m"), 30, ("a", "b"), (10, 20))
    assert (sc.genders, sc.jobs, sc.edges, sc.salary_max) == (("f", "m"), ("a", "b"), (0, 10, 20), 30)
    assert (sc.G, sc.J, sc.K, sc.B) == (2, 2, 4, 3)
    assert [sc.cell(g, j) for g in range(2) for j in range(2)] == [0, 1, 2, 3]  # gender-major
    assert [(sc.edges[b], sc.band_hi(b), sc.band_width(b)) for b in range(3)] == [(0, 9, 9), (10, 19, 9), (20, 30, 10)]
    assert [sc.band_of(s) for s in (0, 9, 10, 19, 20, 30)] == [0, 0, 1, 1, 2, 2]
    # no jobs, no bands: one job column, one band [0, max]
    plain = Scheme.of(CATS, MAX)
    assert (plain.jobs, plain.edges, plain.J, plain.K, plain.B, plain.band_hi(0)) == ((), (0,), 1, 3, 1, MAX)
    assert Scheme.of(("m",), 1) == Scheme(("m",), (), (0,), 1)
    # a band boundary equal to the bound leaves a top band holding only the bound
    top = Scheme.of(("m",), 30, (), (30,))
    assert top.band_width(1) == 0 and top.band_of(30) == 1 and top.bits == 5


@pytest.mark.parametrize("bands", [(0,), (-5, 10), (10, 10), (20, 10), (31,), (10, 20, 40)])
def test_scheme_of_refuses_bad_bands(bands: tuple[int, ...]) -> None:
    with pytest.raises(ValueError) as exc:
        Scheme.of(("f", "m"), 30, (), bands)
    assert str(exc.value) == "salary bands must be strictly increasing, above 0 and at most the salary bound"


@pytest.mark.parametrize(
    ("salary_max", "bands", "bits"),
    [(1, (), 1), (7, (), 3), (8, (), 4), (MAX, (), 20), (30, (10, 20), 4), (30, (11, 21), 4),
     (29, (10, 20), 4), (19, (10,), 4), (18, (10,), 4), (7, (4,), 2), (8, (4,), 3), (1, (1,), 1), (2**40 - 1, (), 40)],
)
def test_scheme_bits_follow_the_widest_band(salary_max: int, bands: tuple[int, ...], bits: int) -> None:
    sc = Scheme.of(("m",), salary_max, (), bands)
    assert sc.bits == bits == max(1, max(sc.band_width(b) for b in range(sc.B)).bit_length())


# ------------------------------------------------------------------------------ encode/decode

def bits(v: int, n: int) -> list[int]:
    return [(v >> j) & 1 for j in range(n)]


def test_encoding_id() -> None:
    assert ENCODING_ID == "cells-bands-rank1/v4"


def test_encode_record_layout() -> None:
    # 3 one-hot entries (3 cells x 1 band), 3 salaries, 3 squares, then 20 bits of s and 20 bits of
    # max - s (max = 10^6 < 2^20, one band [0, max])
    assert (SCHEME.bits, SCHEME.aggregate_width, SCHEME.record_width) == (20, 9, 9 + 2 * 20)
    assert (SCHEME.prod_at, SCHEME.sq_at, SCHEME.d1_at, SCHEME.d2_at) == (3, 6, 9, 29)
    # what is shared: the record, then its validity proof (m, two triples, w0 and 2G + 1 values of h, G = 2L)
    assert SCHEME.vector_length == 49 + 1 + 6 + 1 + 2 * 40 + 1 == 138
    assert encode_record(Record("female", 52000), SCHEME) == [1, 0, 0, 52000, 0, 0, 52000**2, 0, 0] + bits(
        52000, 20) + bits(MAX - 52000, 20)
    assert encode_record(Record("male", 48000), SCHEME)[:9] == [0, 1, 0, 0, 48000, 0, 0, 2_304_000_000, 0]
    assert encode_record(Record("other", 0), SCHEME) == [0, 0, 1, 0, 0, 0, 0, 0, 0] + [0] * 20 + bits(MAX, 20)
    # Category order comes from the manifest; L follows the bound.
    sc = Scheme.of(("male", "female"), 7)
    assert encode_record(Record("male", 5), sc) == [1, 0, 5, 0, 25, 0, 1, 0, 1, 0, 1, 0]
    # known answer: 7 = 0b111, max - 7 = 0
    assert encode_record(Record("male", 7), sc) == [1, 0, 7, 0, 49, 0, 1, 1, 1, 0, 0, 0]
    assert encode_record(Record("female", 2), sc) == [0, 1, 0, 2, 0, 4, 0, 1, 0, 1, 0, 1]


def test_encode_record_layout_with_jobs_and_bands() -> None:
    """genders (f, m), jobs (a, b), bands [0, 9], [10, 19], [20, 30]: K = 4 cells (f/a, f/b, m/a,
    m/b), B = 3, the widest band is 10 wide so L = 4 bits; 12 + 4 + 4 + 8 = 28 entries."""
    sc = Scheme.of(("f", "m"), 30, ("a", "b"), (10, 20))
    assert (sc.K, sc.B, sc.bits, sc.record_width, sc.vector_length) == (4, 3, 4, 28, 28 + 4 * 4 + 9)
    assert (sc.prod_at, sc.sq_at, sc.aggregate_width, sc.d1_at, sc.d2_at) == (12, 16, 20, 20, 24)
    # m/b is cell 3, 23 is in band 2: H[3 * 3 + 2]; d1 = 23 - 20 = 3, d2 = 30 - 23 = 7
    assert encode_record(Record("m", 23, "b"), sc) == (
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1] + [0, 0, 0, 23] + [0, 0, 0, 529] + [1, 1, 0, 0] + [1, 1, 1, 0])
    # f/a is cell 0, 10 is the lowest salary of band 1: d1 = 0, d2 = 19 - 10 = 9
    assert encode_record(Record("f", 10, "a"), sc) == (
        [0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] + [10, 0, 0, 0] + [100, 0, 0, 0] + [0, 0, 0, 0] + [1, 0, 0, 1])
    # f/b is cell 1, 9 is the top of band 0: d1 = 9, d2 = 0
    assert encode_record(Record("f", 9, "b"), sc) == (
        [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0] + [0, 9, 0, 0] + [0, 81, 0, 0] + [1, 0, 0, 1] + [0, 0, 0, 0])
    # m/a is cell 2; the bound 30 tops band 2: d1 = 10, d2 = 0
    assert encode_record(Record("m", 30, "a"), sc) == (
        [0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0] + [0, 0, 30, 0] + [0, 0, 900, 0] + [0, 1, 0, 1] + [0, 0, 0, 0])
    # a zero salary: band 0, P = Q = 0 everywhere, d2 = 9
    assert encode_record(Record("m", 0, "a"), sc) == (
        [0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0] + [0, 0, 0, 0] + [0, 0, 0, 0] + [0, 0, 0, 0] + [1, 0, 0, 1])
    # the salary is the linear form: band lower edge plus the d1 bits
    for s in range(31):
        vec = encode_record(Record("f", s, "b"), sc)
        at = vec[:12].index(1)
        assert divmod(at, 3) == (1, sc.band_of(s))
        assert sc.edges[at % 3] + sum(v << j for j, v in enumerate(vec[20:24])) == s
        assert sum(v << j for j, v in enumerate(vec[20:24])) + sum(v << j for j, v in enumerate(vec[24:28])) \
            == sc.band_width(sc.band_of(s))


def test_encode_refuses_salary_above_bound() -> None:
    with pytest.raises(InvalidSubmission, match="upper bound of 10$"):
        encode_record(Record("male", 11), Scheme.of(CATS, 10))
    with pytest.raises(InvalidSubmission, match="upper bound of 10$"):
        encode_records([Record("male", 3), Record("male", 11)], Scheme.of(CATS, 10))


def test_encode_refuses_records_that_do_not_match_the_scheme() -> None:
    sc = Scheme.of(CATS, 100, JOBS)
    for scheme, rec, message in [
        (SCHEME, Record("robot", 1), "record does not match the survey's genders and job categories"),
        (sc, Record("male", 1), "record does not match the survey's genders and job categories"),
        (sc, Record("male", 1, "hr"), "record does not match the survey's genders and job categories"),
        (SCHEME, Record("male", 1, "sales"), "this survey has no job categories; leave the job out"),
    ]:
        for encode in (lambda r: encode_record(r, scheme), lambda r: encode_records([r], scheme)):
            with pytest.raises(InvalidSubmission) as exc:
                encode(rec)
            assert str(exc.value) == message


def decode(totals: list[int], sc: Scheme) -> dict[tuple[str, str], tuple[list[int], int, int]]:
    """The summed leading entries per cell (gender, job): (band histogram, salary sum, sum of squares)."""
    out = {}
    for g, gender in enumerate(sc.genders):
        for j, job in enumerate(sc.jobs or ("",)):
            c = sc.cell(g, j)
            out[(gender, job)] = (totals[c * sc.B: (c + 1) * sc.B], totals[sc.prod_at + c], totals[sc.sq_at + c])
    return out


def test_encode_decode_roundtrip() -> None:
    for g in CATS:
        totals = decode(encode_record(Record(g, 77_777), SCHEME)[: SCHEME.aggregate_width], SCHEME)
        assert totals == {(c, ""): (([1], 77_777, 77_777**2) if c == g else ([0], 0, 0)) for c in CATS}
    sc = Scheme.of(CATS, MAX, JOBS, (30_000, 60_000, 90_000))
    for g in CATS:
        for job in JOBS:
            totals = decode(encode_record(Record(g, 61_000, job), sc)[: sc.aggregate_width], sc)
            assert totals == {(c, jb): (([0, 0, 1, 0], 61_000, 61_000**2) if (c, jb) == (g, job)
                                        else ([0, 0, 0, 0], 0, 0)) for c in CATS for jb in JOBS}


@st.composite
def schemes(draw: st.DrawFn, salary_max: int | None = None) -> Scheme:
    """A random survey layout: 1-3 genders, 0-3 job categories, up to 4 salary bands."""
    top = salary_max or draw(st.sampled_from([1, 7, 30, 1000, MAX, FAST_SALARY_LIMIT - 1]))
    genders = draw(st.sampled_from([("male",), ("female", "male"), CATS]))
    jobs = draw(st.sampled_from([(), ("a",), ("a", "b"), ("eng", "hr", "ops")]))
    bands = sorted(draw(st.sets(st.integers(1, top), max_size=4)))
    return Scheme.of(genders, top, jobs, bands)


@st.composite
def scheme_and_records(draw: st.DrawFn, max_size: int = 25) -> tuple[Scheme, list[Record]]:
    sc = draw(schemes())
    edges = list(sc.edges) + [sc.band_hi(sc.B - 1)]
    salary = st.one_of(st.integers(0, sc.salary_max), st.sampled_from(edges),
                       st.sampled_from([max(0, e - 1) for e in edges]))
    recs = draw(st.lists(st.builds(Record, st.sampled_from(sc.genders), salary, st.sampled_from(sc.jobs or ("",))),
                         max_size=max_size))
    return sc, recs


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=scheme_and_records())
def test_encode_records_equals_encode_record_row_by_row(case: tuple[Scheme, list[Record]]) -> None:
    sc, recs = case
    out = encode_records(recs, sc)
    assert out.dtype == np.int64 and out.shape == (len(recs), sc.record_width)
    assert [[int(v) for v in row] for row in out] == [encode_record(r, sc) for r in recs]


def test_encode_records_keeps_squares_exact_up_to_its_limit() -> None:
    top = FAST_SALARY_LIMIT - 1
    sc = Scheme.of(CATS, top, JOBS, (1 << 30,))
    recs = [Record("other", top, "sales"), Record("male", (1 << 30) - 1, "engineering"), Record("female", 0, "sales")]
    out = encode_records(recs, sc)
    assert int(out[0, sc.sq_at + sc.cell(2, 1)]) == top * top == (1 << 62) - (1 << 32) + 1
    assert [[int(v) for v in row] for row in out] == [encode_record(r, sc) for r in recs]
    assert encode_records([], sc).shape == (0, sc.record_width)


@pytest.mark.parametrize("top", [FAST_SALARY_LIMIT, FAST_SALARY_LIMIT + 5, 2**40 - 1])
def test_encode_records_refuses_large_bounds(top: int) -> None:
    assert FAST_SALARY_LIMIT == 1 << 31
    sc = Scheme.of(CATS, top)
    with pytest.raises(ValueError) as exc:
        encode_records([Record("male", 5)], sc)
    assert str(exc.value) == "encode_records needs salary_max < 2^31; use encode_record"
    # the single-record encoder has no such limit
    assert encode_record(Record("male", top), sc)[sc.sq_at + 1] == top * top


records_st = st.lists(
    st.tuples(st.sampled_from(CATS), st.sampled_from(JOBS), st.integers(min_value=0, max_value=MAX)),
    min_size=0, max_size=25,
)
BANDED = Scheme.of(CATS, MAX, JOBS, (2000, 4000, 8000, 500_000))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=records_st, params=st.sampled_from([(3, 1), (5, 2)]))
def test_sum_of_encodings_is_histogram_sum_and_squares_and_sharing_is_linear(
    records: list[tuple[str, str, int]], params: tuple[int, int]
) -> None:
    n, t = params
    p = DEFAULT_PRIME
    sc = BANDED
    # Plain Python statistics per (gender, job) cell.
    expected = {
        (c, j): ([sum(1 for g, jb, s in records if (g, jb) == (c, j) and lo <= s <= hi)
                  for lo, hi in ((0, 1999), (2000, 3999), (4000, 7999), (8000, 499_999), (500_000, MAX))],
                 sum(s for g, jb, s in records if (g, jb) == (c, j)),
                 sum(s * s for g, jb, s in records if (g, jb) == (c, j)))
        for c in CATS for j in JOBS
    }

    # Sum of the plain encodings.
    width = sc.record_width
    A = sc.aggregate_width
    total = [0] * width
    for g, j, s in records:
        vec = encode_record(make_record(g.upper(), str(s), sc, j.title()), sc)
        assert len(vec) == width
        total = [a + b for a, b in zip(total, vec)]
    assert decode(total[:A], sc) == expected

    # Each node adds up its shares; the summed shares reconstruct the same totals.
    node_sums = [[0] * width for _ in range(n)]
    for g, j, s in records:
        shares = share_vector(encode_record(Record(g, s, j), sc), n, t, p)
        for i in range(n):
            node_sums[i] = [(a + b) % p for a, b in zip(node_sums[i], shares[i])]
    assert decode(reconstruct_vector(dict(enumerate(node_sums)), t, p)[:A], sc) == expected
    # And from only t+1 nodes (the last ones).
    last = {i: node_sums[i] for i in range(n - t - 1, n)}
    assert decode(reconstruct_vector(last, t, p)[:A], sc) == expected
