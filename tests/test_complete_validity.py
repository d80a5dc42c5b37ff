"""A complete survey's record (basic and variable pay, hours, hourly pay: several banded values
sharing one cell) and its validity proof, checked on shares: valid records are never rejected,
every new invalid kind is rejected with its reason, the bulk encoder and prover agree with the
per-record ones, and the one-figure layout is the special case."""

from __future__ import annotations

import random
import secrets
import types

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from demo.bad_contributors import COMPLETE_KINDS, KINDS, bad_vector, break_complete, good_record
from protocol import fastfield
from protocol.encoding import (
    HOURLY_SCALE,
    Record,
    Scheme,
    ValueKind,
    encode_record,
    encode_records,
    make_record,
)
from protocol.errors import InvalidSubmission
from protocol.field import DEFAULT_PRIME, share_vector
from protocol.validity import (
    REASONS,
    Columns,
    Layout,
    Reason,
    all_openings,
    as_matrix,
    decide,
    derive_challenge,
    local_openings,
    plain_reason,
    prove,
    prove_batch_limbs,
    second_openings,
)
from sharesim import simulate as simulate_with

P = DEFAULT_PRIME
SMALL_P = 2**61 - 1
CATS = ("female", "male", "other")
JOBS = ("eng", "ops")
#: basic + variable + hours, job categories, bands on every value
FULL = Scheme.of(CATS, 200_000, JOBS, (30_000, 60_000), variable_max=50_000, variable_bands=(1_000, 10_000),
                 hours_max=2_600, hourly_max=100_000, hourly_bands=(1_500, 3_000))
VARIABLE_ONLY = Scheme.of(CATS, 100_000, (), (40_000,), variable_max=30_000)
HOURS_ONLY = Scheme.of(CATS, 10_000, JOBS, (), hours_max=200, hourly_max=1_000_000)
SCHEMES = {"full": FULL, "variable": VARIABLE_ONLY, "hours": HOURS_ONLY}


def simulate(vectors: list[list[int]], sc: Scheme, n: int = 3, t: int = 1, p: int = P, fast: bool = True
             ) -> list[Reason | None]:
    layout = Layout(sc)
    ch = derive_challenge(secrets.token_bytes(32), layout, p)
    return simulate_with([share_vector(v, n, t, p) for v in vectors], layout, ch, t, p, fast)[0]


def record(sc: Scheme, rng: random.Random) -> Record:
    """A random valid record of ``sc``."""
    jobs = sc.jobs or ("",)
    variable = 0 if sc.variable is None or rng.random() < 0.3 else rng.randint(1, sc.variable.top)
    basic = rng.randint(0, sc.salary_max - variable)
    while True:
        hours = rng.randint(1, sc.hours_max * 100) if sc.hours_max else 0
        rec = Record(rng.choice(CATS), basic, rng.choice(jobs), variable, hours)
        if sc.hourly is None or rec.hourly <= sc.hourly.top:
            return rec


def test_one_figure_scheme_is_the_v4_layout() -> None:
    plain = Scheme.of(CATS, 1_000_000)
    assert not plain.complete and len(plain.values) == 1 and plain.triples == 2
    assert plain.vector_length == plain.record_width + 4 * plain.bits + 9 == 138
    assert Columns(2).first == 8 and Columns(2).local == 14 and Columns(2).opened == 10


def test_complete_layout_positions() -> None:
    sc = FULL
    K = 6
    T, V, Y = sc.values
    assert (T.kind, V.kind, Y.kind) == (ValueKind.LEVEL, ValueKind.VARIABLE, ValueKind.HOURLY)
    assert V.banding.edges == (0, 1, 1_000, 10_000) and V.banding.band_width(0) == 0
    assert (T.hist_at, V.hist_at, Y.hist_at) == (0, K * 3 + 2 * K, K * 3 + 2 * K + K * 4 + 2 * K)
    assert sc.aggregate_width == Y.hist_at + K * 3 + 2 * K
    assert sc.d1_at == sc.aggregate_width == T.d1_at and V.d1_at == T.d2_at + T.bits
    assert sc.basic_bits == (200_000).bit_length() and sc.hours_bits == (2_600 * 100).bit_length()
    assert sc.total_bits == 2 * (T.bits + V.bits + Y.bits) + sc.basic_bits + 2 * sc.hours_bits
    assert sc.triples == 7 and Layout(sc).columns.checks == 7
    cols = Layout(sc).columns
    assert cols.first == 8 + 2 * 5 + 1 and cols.local == cols.first + 21 and cols.opened == cols.first + 7
    assert Columns.from_local(cols.local) == cols == Columns.from_opened(cols.opened)
    assert [cols.kind(k).name for k in range(7)] == ["ONE_HOT", "PRODUCT"] * 3 + ["HOURLY"]
    layout = Layout(sc)
    assert layout.width == sc.vector_length == sc.record_width + 1 + 21 + 1 + 2 * sc.total_bits + 1


def test_encoding_by_hand() -> None:
    rec = Record("male", 40_000, "ops", 2_500, 16_000)  # 160 hours; level 42,500
    vec = encode_record(rec, FULL)
    T, V, Y = FULL.values
    c = FULL.cell(1, 1)
    assert rec.level == 42_500 and rec.hourly == 42_500 * HOURLY_SCALE // 16_000 == 26_562
    assert vec[T.hist_at + c * 3 + 1] == 1 and vec[T.prod_at + c] == 42_500 and vec[T.sq_at + c] == 42_500 ** 2
    assert vec[V.hist_at + c * 4 + 2] == 1 and vec[V.prod_at + c] == 2_500
    assert vec[Y.hist_at + c * 3 + 2] == 1 and vec[Y.prod_at + c] == 26_562
    bits = lambda at, L: sum(vec[at + j] << j for j in range(L))  # noqa: E731
    assert bits(FULL.basic_bits_at, FULL.basic_bits) == 40_000
    rem = bits(FULL.remainder_at, FULL.hours_bits)
    assert rem == 42_500 * HOURLY_SCALE % 16_000 and rem + bits(FULL.slack_at, FULL.hours_bits) == 16_000 - 1
    assert plain_reason(vec, Layout(FULL)) is None


def test_no_variable_pay_is_band_zero() -> None:
    vec = encode_record(Record("female", 50_000, "eng", 0, 100_000), FULL)
    V = FULL.values[1]
    assert vec[V.hist_at + FULL.cell(0, 0) * V.B] == 1 and vec[V.prod_at: V.prod_at + FULL.K] == [0] * FULL.K


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(SCHEMES)), seed=st.integers(0, 2**32), nt=st.sampled_from([(3, 1), (5, 2)]),
       fast=st.booleans())
def test_valid_complete_records_are_never_rejected(name: str, seed: int, nt: tuple[int, int], fast: bool) -> None:
    sc, rng = SCHEMES[name], random.Random(seed)
    recs = [record(sc, rng) for _ in range(4)]
    layout = Layout(sc)
    assert all(plain_reason(encode_record(r, sc), layout) is None for r in recs)
    vecs = [prove(encode_record(r, sc), layout, P) for r in recs]
    assert simulate(vecs, sc, *nt, fast=fast) == [None] * 4


def test_valid_complete_records_pass_over_another_prime() -> None:
    rng = random.Random(3)
    for sc in SCHEMES.values():
        vecs = [prove(encode_record(record(sc, rng), sc), Layout(sc), SMALL_P) for _ in range(3)]
        assert simulate(vecs, sc, p=SMALL_P) == [None] * 3


@settings(max_examples=15, deadline=None)
@given(name=st.sampled_from(sorted(SCHEMES)), seed=st.integers(0, 2**32))
def test_bulk_encoding_and_proof_match_the_per_record_path(name: str, seed: int) -> None:
    sc, rng = SCHEMES[name], random.Random(seed)
    recs = [record(sc, rng) for _ in range(5)]
    bulk = encode_records(recs, sc)
    assert bulk.tolist() == [encode_record(r, sc) for r in recs]
    layout = Layout(sc)
    rand = fastfield.random_elements((5, 2 + 2 * sc.triples))
    limbs = prove_batch_limbs(bulk, layout, rand)
    for k, r in enumerate(recs):
        randomness = [int(x) for x in fastfield.to_ints(rand[k])]
        assert fastfield.to_ints(limbs[k]).tolist() == prove(encode_record(r, sc), layout, P, randomness)


def test_fast_and_plain_openings_agree() -> None:
    rng = random.Random(5)
    layout = Layout(FULL)
    rows = [prove(encode_record(record(FULL, rng), FULL), layout, P) for _ in range(3)]
    rows[1][0] += 1  # an invalid one too
    ch = derive_challenge(b"s" * 32, layout, P)
    plain = local_openings(as_matrix(rows, layout.width), layout, ch, P)
    fast = local_openings(fastfield.from_ints(rows, P), layout, ch, P)  # type: ignore[arg-type]
    assert np.array_equal(fastfield.to_ints(fast), plain.astype(object))
    first = plain[:, : layout.columns.first]
    assert np.array_equal(fastfield.to_ints(second_openings(fast, fastfield.from_ints(first.tolist(), P), P)),
                          second_openings(plain, first, P))
    opened = all_openings(as_matrix(rows, layout.width), layout, ch, P)
    assert decide(opened.tolist(), P) == decide(fastfield.from_ints(opened.tolist(), P), P)


# ------------------------------------------------------------------------- invalid records

REASON_OF = {text: reason for reason, text in REASONS.items()}


@pytest.mark.parametrize("kind", sorted(COMPLETE_KINDS))
@pytest.mark.parametrize("fast", [True, False])
def test_each_new_invalid_kind_is_rejected_with_its_reason(kind: str, fast: bool) -> None:
    """Every kind of demo/bad_contributors.py's COMPLETE_KINDS: the oracle and the nodes give its
    reason; valid records beside them pass."""
    sc, layout = FULL, Layout(FULL)
    rng = random.Random(kind)
    reason = REASON_OF[COMPLETE_KINDS[kind]]
    bad = []
    for _ in range(4):
        vec = encode_record(good_record(sc, rng), sc)
        break_complete(kind, vec, sc)
        assert plain_reason(vec, layout) == reason.value
        bad.append(prove(vec, layout, P))
    good = [prove(encode_record(record(sc, rng), sc), layout, P) for _ in range(2)]
    assert simulate(bad + good, sc, fast=fast) == [reason] * 4 + [None] * 2


@pytest.mark.parametrize("kind", [k for k in KINDS if k not in ("wrong-length", "inconsistent-shares")])
def test_one_figure_kinds_are_caught_in_a_complete_survey(kind: str) -> None:
    m = types.SimpleNamespace(field_modulus=P, scheme=lambda: FULL)
    rng = random.Random(kind)
    vecs = [bad_vector(kind, m, rng) for _ in range(3)]  # type: ignore[arg-type]
    got = simulate(vecs, FULL)
    assert all(r is not None for r in got) and {REASONS[r] for r in got if r} == {KINDS[kind]}


def test_forged_hourly_triple_is_caught() -> None:
    """z = x y + delta, delta chosen to cancel a wrong hourly relation without the challenge:
    the random weight rho keeps it from cancelling."""
    sc, layout = FULL, Layout(FULL)
    vec = encode_record(record(sc, random.Random(9)), sc)
    break_complete("hourly-mismatch", vec, sc)
    full = prove(vec, layout, P)
    at = layout.triple_at(sc.triples - 1) + 2
    full[at] = (full[at] + 1) % P
    assert simulate([full], sc) == [Reason.HOURLY]


def test_make_record_reads_every_component() -> None:
    rec = make_record("Male", "40000", FULL, "ops", variable="2500", hours="160")
    assert rec == Record("male", 40_000, "ops", 2_500, 16_000)
    assert make_record("female", "1000", VARIABLE_ONLY, variable="0").variable == 0
    assert make_record("female", "1000", HOURS_ONLY, "eng", hours="37.5").hours == 3_750
    cases = [
        (dict(variable=None, hours="160"), "variable pay is missing (this survey collects it; 0 is an answer)"),
        (dict(variable="1", hours="0"), "hours must be above 0"),
        (dict(variable="1", hours="2600.01"), "hours above the survey's upper bound of 2600"),
        (dict(variable="50001", hours="160"), "variable pay above the survey's upper bound of 50000"),
        (dict(variable="-1", hours="160"), "variable pay must not be negative"),
        (dict(variable="1", hours="1"), "hourly pay (hundredths) above the survey's upper bound of 100000"),
    ]
    for kw, message in cases:
        with pytest.raises(InvalidSubmission) as exc:
            make_record("male", "40000", FULL, "ops", **kw)  # type: ignore[arg-type]
        assert str(exc.value) == message
    with pytest.raises(InvalidSubmission, match="^this survey does not collect hours; leave it out$"):
        make_record("male", "1", VARIABLE_ONLY, variable="1", hours="3")
    with pytest.raises(InvalidSubmission, match="^salary above the survey's upper bound of 200000$"):
        encode_record(Record("male", 190_000, "ops", 20_000, 100), FULL)
    with pytest.raises(InvalidSubmission, match="one pay figure"):
        make_record("male", "1", Scheme.of(CATS, 10), variable="1")


def test_bulk_encoder_refuses_what_the_record_encoder_refuses() -> None:
    bad = [Record("male", 1, "ops", 0, 100), Record("male", 190_000, "ops", 20_000, 100)]
    with pytest.raises(InvalidSubmission, match="^salary above the survey's upper bound of 200000$"):
        encode_records(bad, FULL)
    with pytest.raises(InvalidSubmission, match="^hours must be above 0$"):
        encode_records([Record("male", 1, "ops", 0, 0)], FULL)


# ------------------------------------------------------------------------------- manifest

def _manifest(**changes: object) -> dict[str, object]:
    import copy
    import json
    from pathlib import Path

    vec = json.loads((Path(__file__).parent / "vectors" / "manifest.json").read_text(encoding="utf-8"))
    d = copy.deepcopy(vec["manifest"])
    d.update(changes)
    return d


COMPLETE = dict(components=["basic", "variable", "hours"], pay_period="annual", salary_max=200_000,
                variable_max=50_000, variable_bands=[1_000, 10_000], hours_max=2_600, hourly_max=100_000,
                hourly_bands=[1_500, 3_000])


def test_complete_manifest_round_trips_and_gives_its_scheme() -> None:
    from protocol.manifest import manifest_from_json

    m = manifest_from_json(_manifest(**COMPLETE))
    assert manifest_from_json(m.canonical_bytes()) == m
    sc = m.scheme()
    assert sc.complete and [v.kind for v in sc.values] == list(ValueKind)
    assert sc.variable is not None and sc.variable.edges == (0, 1, 1_000, 10_000) and sc.hours_max == 2_600
    assert m.vector_length() == sc.vector_length
    plain = manifest_from_json(_manifest())
    assert not any(k in plain.to_json_dict() for k in COMPLETE if k != "salary_max")


@pytest.mark.parametrize("changes, message", [
    (dict(components=["variable"]), "components must be 'basic' followed by any of 'variable', 'hours', in that order"),
    (dict(components=["basic", "hours", "variable"]), "components must be 'basic' followed by"),
    (dict(pay_period="weekly"), "pay_period must be 'annual' or 'monthly' in a survey with components"),
    (dict(components=["basic", "hours"]), "variable_max (above 0) and variable_bands go with the component 'variable'"),
    (dict(components=["basic", "variable"]), "hours_max, hourly_max and hourly_bands go with the component 'hours'"),
    (dict(hours_max=100_001), "hours_max must be 1 to 100000 hours"),
    (dict(hourly_max=0), "hours_max must be 1 to 100000 hours and hourly_max"),
    (dict(variable_bands=[1, 5]), "variable pay bands must be above 1 (band 0 is exactly 'no variable pay')"),
    (dict(variable_max=300_000), "variable_max must be at most the salary bound"),
    (dict(hourly_bands=[3_000, 1_500]), "hourly pay bands must be strictly increasing"),
    (dict(variable_bands=[1_000] + list(range(2_000, 50_000, 2))),
     "genders x job categories x the bands of every value is "),
])
def test_complete_manifest_errors_are_one_line(changes: dict[str, object], message: str) -> None:
    from protocol.errors import InvalidManifest
    from protocol.manifest import manifest_from_json

    with pytest.raises(InvalidManifest) as exc:
        manifest_from_json(_manifest(**{**COMPLETE, **changes}))
    assert str(exc.value).startswith(message) and "\n" not in str(exc.value)
    with pytest.raises(InvalidManifest, match="^pay_period needs components"):
        manifest_from_json(_manifest(pay_period="annual"))
