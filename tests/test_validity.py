"""Validation on shares (protocol.validity), simulated for n nodes without the network: the
verdicts must match the plaintext oracle, a valid record is never rejected, a forged proof or
triple is caught, and a node sending wrong shares in either round is caught (and located when
n >= 3t+1)."""

from __future__ import annotations

import hashlib
import random
import secrets
import types

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from demo.bad_contributors import FORGERIES, KINDS, bad_vector, forged_vector
from protocol import fastfield
from protocol.encoding import Record, Scheme, encode_record
from protocol.field import DEFAULT_PRIME, share_vector
from protocol.manifest import Manifest
from protocol.validity import (
    FIRST_ROUND,
    GROUP_REASONS,
    REASONS,
    SECOND_ROUND,
    Challenge,
    Held,
    Layout,
    Opening,
    all_openings,
    as_matrix,
    decide,
    derive_challenge,
    encode_submission,
    local_openings,
    plain_reason,
    prove,
    prove_batch_limbs,
    salary_form,
    second_openings,
)
from sharesim import add_to_row, node_matrix, rounds
from sharesim import simulate as simulate_with

P = DEFAULT_PRIME
SMALL_P = 2**61 - 1  # exercises the plain Python path (the fast path is for 2^127 - 1 only)
CATS = ("female", "male", "other")
SCHEME = Scheme.of(CATS, 1_000_000)
#: a survey with job categories and salary bands (bands wide enough for bad_vector's
#: salary-above-max offsets of up to 1000 beyond the top band to fit in L bits)
BANDED = Scheme.of(CATS, 100_000, ("engineering", "sales"), (20_000, 40_000, 60_000))
#: the hand-checkable example of test_encoding: K = 4 cells, bands [0, 9], [10, 19], [20, 30], L = 4
TINY = Scheme.of(("f", "m"), 30, ("a", "b"), (10, 20))


def simulate(vectors_shares: list[list[list[int]]], layout: Layout, n: int, t: int, p: int = P,
             fast: bool = True) -> list[str | None]:
    """Verdicts under a fresh random challenge (``n``: the number of share vectors per submission)."""
    assert all(len(sub) == n for sub in vectors_shares)
    ch = derive_challenge(secrets.token_bytes(32), layout, p)
    return simulate_with(vectors_shares, layout, ch, t, p, fast)[0]  # type: ignore[return-value]


def test_vector_length_counts_the_proof() -> None:
    layout = Layout.of(CATS, 1_000_000)
    assert layout == Layout(SCHEME) and layout.scheme == SCHEME
    assert layout.record_width == 9 + 40 and layout.gates == 40
    # record, m, two triples, w0, and 2G + 1 values of h
    assert layout.width == 49 + 1 + 6 + 1 + 81 == 49 + 4 * 20 + 9 == SCHEME.vector_length == 138
    assert (layout.mask_at, layout.one_hot_triple_at, layout.product_triple_at, layout.seed_at, layout.h_at) == \
        (49, 50, 53, 56, 57)
    vec = encode_submission(Record("male", 1234), SCHEME, P)
    assert len(vec) == layout.width and vec[: layout.record_width] == encode_record(Record("male", 1234), SCHEME)
    x1, y1, z1, x2, y2, z2 = vec[50:56]
    assert (z1, z2) == (x1 * y1 % P, x2 * y2 % P)
    banded = Layout.of(CATS, 100_000, ("engineering", "sales"), (20_000, 40_000, 60_000))
    assert banded.scheme == BANDED
    # K = 6 cells, B = 4 bands, the widest band (60,000..100,000) needs 16 bits
    assert banded.record_width == 6 * 4 + 2 * 6 + 2 * 16 == 68 and banded.gates == 32
    assert banded.width == 68 + 4 * 16 + 9 == BANDED.vector_length
    rec = Record("other", 45_000, "sales")
    vec = encode_submission(rec, BANDED, P)
    assert len(vec) == banded.width and vec[: banded.record_width] == encode_record(rec, BANDED)


def test_salary_form_is_band_edges_plus_offset_bits() -> None:
    assert salary_form(SCHEME) == {SCHEME.d1_at + j: 1 << j for j in range(20)}
    # TINY: H[c, b] sits at 3c + b; bands 1 and 2 start at 10 and 20 (band 0's edge 0 is left out)
    assert salary_form(TINY) == {1: 10, 2: 20, 4: 10, 5: 20, 7: 10, 8: 20, 10: 10, 11: 20,
                                 20: 1, 21: 2, 22: 4, 23: 8}
    for s in range(31):
        vec = encode_record(Record("m", s, "a"), TINY)
        assert sum(c * vec[i] for i, c in salary_form(TINY).items()) == s


def test_proof_known_answer() -> None:
    """prove() with fixed randomness on a tiny layout, against values worked out by hand."""
    # K = 2, B = 1, L = 1: record [H_a, H_b, P_a, P_b, Q_a, Q_b, d1, d2], G = 2 bits
    layout = Layout.of(("a", "b"), 1)
    rec = encode_record(Record("b", 1), layout.scheme)
    assert rec == [0, 1, 0, 1, 0, 1, 1, 0]
    full = prove(rec, layout, 101, randomness=(7, 3, 5, 2, 9, 4))
    assert len(full) == layout.width == 8 + 1 + 6 + 1 + 5 == 21
    # m; x1 y1 z1 = 3 * 5; x2 y2 z2 = 2 * 9; w0
    assert full[:8] == rec and full[8:16] == [7, 3, 5, 15, 2, 9, 18, 4]
    # w through (0, 4), (1, d1 = 1), (2, d2 = 0) is (x - 2)^2: w(3) = 1, w(4) = 4; h = w^2 at 0..4
    assert full[16:] == [16, 1, 0, 1, 16]


def test_proof_and_openings_known_answer_with_bands() -> None:
    """One cell, bands [0, 1] and [2, 3] (L = 1): the proof and all ten openings under a
    hand-picked challenge, worked out by hand over p = 101."""
    layout = Layout.of(("a",), 3, (), (2,))
    rec = encode_record(Record("a", 3), layout.scheme)
    # H = [0, 1] (band 1), P = 3, Q = 9, d1 = 3 - 2 = 1, d2 = 3 - 3 = 0
    assert rec == [0, 1, 3, 9, 1, 0]
    full = prove(rec, layout, 101, randomness=(1, 2, 4, 5, 6, 10))
    # w through (0, 10), (1, 1), (2, 0) is 4x^2 - 13x + 10: w(3) = 7, w(4) = 22; h = w^2 mod 101
    assert full == rec + [1, 2, 4, 8, 5, 6, 30, 10] + [100, 1, 0, 49, 80]
    ch = Challenge(sigma=(1,) * 19, r=5, beta1=(3, 7), gamma1=(2, 5), mu1=11, beta2=(13,), gamma2=(17,),
                   beta3=(19, 23), mu3=29)
    # Y = sum of the vector = 310; e1 = 7 - 2; f1 = 5 - 4; e2 = s - x2 = 3 - 5; f2 = 13 * 1 + 17 * 3 - 6;
    # w(5) = 45, h(5) = 45^2; Z_range = 19 (1 - 1) + 23 (0 - 0) + 29 (1 + 0 - 1);
    # Z1 = 7 * 5 - 8 - 5 * 1 - 5 * 4 - 1 * 2; Z2 = 13 * 3 + 17 * 9 - 30 + 2 * 58 + 2 * 6 - 58 * 5
    want = [310 % 101, 5, 1, -2 % 101, 58, 45, 45 * 45 % 101, 0, 0, 0]
    assert all_openings(as_matrix([full], layout.width), layout, ch, 101)[0].tolist() == want
    assert decide([want], 101) == [None]


@st.composite
def scheme_and_records(draw: st.DrawFn) -> tuple[Scheme, list[Record]]:
    top = draw(st.sampled_from([1, 7, 30, 1_000_000, 2**40 - 1]))
    jobs = draw(st.sampled_from([(), ("a",), ("eng", "hr", "ops")]))
    bands = sorted(draw(st.sets(st.integers(1, top), max_size=3)))
    sc = Scheme.of(CATS, top, jobs, bands)
    salary = st.one_of(st.integers(0, top), st.sampled_from(sc.edges + (top,)),
                       st.sampled_from([max(0, e - 1) for e in sc.edges]))
    recs = draw(st.lists(st.builds(Record, st.sampled_from(CATS), salary, st.sampled_from(jobs or ("",))),
                         min_size=1, max_size=8))
    return sc, recs


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=scheme_and_records(), nt=st.sampled_from([(3, 1), (4, 1), (5, 2), (7, 2)]), fast=st.booleans())
def test_valid_records_are_never_rejected(case: tuple[Scheme, list[Record]], nt: tuple[int, int],
                                          fast: bool) -> None:
    n, t = nt
    sc, recs = case
    layout = Layout(sc)
    assert all(plain_reason(encode_record(r, sc), layout) is None for r in recs)
    vecs = [encode_submission(r, sc, P) for r in recs]
    assert simulate([share_vector(v, n, t, P) for v in vecs], layout, n, t, fast=fast) == [None] * len(vecs)


def test_valid_records_pass_over_another_prime() -> None:
    for sc, recs in [(Scheme.of(CATS, 5000), [Record("male", 5000), Record("other", 0)]),
                     (TINY, [Record("m", 30, "b"), Record("f", 10, "a"), Record("f", 9, "b")])]:
        vecs = [encode_submission(r, sc, SMALL_P) for r in recs]
        assert simulate([share_vector(v, 3, 1, SMALL_P) for v in vecs], Layout(sc), 3, 1, SMALL_P) == \
            [None] * len(recs)


def _manifest_like(sc: Scheme) -> Manifest:
    # the few things bad_vector reads
    return types.SimpleNamespace(field_modulus=P, scheme=lambda: sc)  # type: ignore[return-value]


@pytest.mark.parametrize("kind", [k for k in KINDS if k not in ("wrong-length", "inconsistent-shares")])
@pytest.mark.parametrize("nt", [(3, 1), (5, 2)])
@pytest.mark.parametrize("sc", [SCHEME, BANDED], ids=["plain", "jobs-bands"])
def test_each_invalid_kind_is_caught_with_its_reason(kind: str, nt: tuple[int, int], sc: Scheme) -> None:
    n, t = nt
    layout = Layout(sc)
    rng = random.Random(kind)
    vecs = [bad_vector(kind, _manifest_like(sc), rng) for _ in range(5)]
    good = [encode_submission(Record("male", 4000 + i, sc.jobs[i % len(sc.jobs)] if sc.jobs else ""), sc, P)
            for i in range(3)]
    got = simulate([share_vector(v, n, t, P) for v in vecs + good], layout, n, t)
    assert got[5:] == [None] * 3
    if kind == "forged-proof":  # the record's bits are not bits, the proof claims their squares are
        assert all(plain_reason(v[: layout.record_width], layout) == "range" for v in vecs)
        assert got[:5] == ["proof"] * 5
    elif kind == "forged-triple":  # the record is not one-hot, the triple was tuned to hide it
        assert all(plain_reason(v[: layout.record_width], layout) == "one-hot" for v in vecs)
        assert got[:5] == ["one-hot"] * 5
    else:
        oracle = [plain_reason(v[: layout.record_width], layout) for v in vecs]
        assert got[:5] == oracle and all(r is not None for r in oracle)
    assert {REASONS[r] for r in got[:5] if r} == {KINDS[kind]}


def test_reasons_and_kinds() -> None:
    assert REASONS["one-hot"] == "gender, job and salary-band part is not one-hot"
    assert REASONS["range"] == "salary outside its band or [0, max] (bits)"
    assert REASONS["product"] == "salary-by-cell entries do not match the salary, gender and job"
    assert REASONS["proof"] == "validity proof does not verify"
    assert REASONS["consistency"] == "shares do not lie on one degree-t polynomial"
    assert set(GROUP_REASONS.values()) <= set(REASONS) and set(KINDS.values()) - {None} <= set(REASONS.values())
    assert KINDS["two-genders"] == KINDS["not-one-hot-1000"] == REASONS["one-hot"]
    assert KINDS["salary-above-max"] == KINDS["negative-salary"] == REASONS["range"]
    assert KINDS["product-mismatch"] == REASONS["product"] and KINDS["forged-proof"] == REASONS["proof"]
    assert KINDS["forged-triple"] == REASONS["one-hot"] and set(FORGERIES) == {"forged-proof", "forged-triple"}


# -- hand-made invalid records in the TINY layout: 12 H entries (cell c, band b at 3c + b), P at 12..15,
# -- Q at 16..19, d1 at 20..23, d2 at 24..27.  The honest m/b record with salary 23:
HONEST = [0] * 11 + [1] + [0, 0, 0, 23] + [0, 0, 0, 529] + [1, 1, 0, 0] + [1, 1, 1, 0]


def _set(vec: list[int], changes: dict[int, int]) -> list[int]:
    out = list(vec)
    for i, v in changes.items():
        out[i] = v % P
    return out


def _cell_entries(s: int, c: int = 3) -> dict[int, int]:
    """P and Q entries that match salary s in cell c (and are zero elsewhere)."""
    return {**{12 + k: (s if k == c else 0) for k in range(4)}, **{16 + k: (s * s if k == c else 0) for k in range(4)}}


def _bits(v: int) -> list[int]:
    return [(v >> j) & 1 for j in range(4)]


INVALID_TINY: dict[str, tuple[str, list[int]]] = {
    # H
    "no cell at all": ("one-hot", _set(HONEST, {11: 0})),
    "two bands of one cell": ("one-hot", _set(HONEST, {10: 1})),
    "two cells": ("one-hot", _set(HONEST, {2: 1})),
    "an entry of 2": ("one-hot", _set(HONEST, {11: 2})),
    "2 and -1 summing to one": ("one-hot", _set(HONEST, {11: 2, 5: -1})),
    # band and bits: 15 claimed in band 0 ([0, 9]): d1 = 15 is four honest bits, but 15 + 0 != 9
    "salary above its band": ("range", _set(HONEST, {11: 0, 9: 1, **_cell_entries(15),
                                                     **dict(zip(range(20, 24), _bits(15))),
                                                     **dict(zip(range(24, 28), _bits(0)))})),
    # 31 > max in the top band: d1 = 11, d2 = 0, and 11 != 10
    "salary above the bound": ("range", _set(HONEST, {**_cell_entries(31), **dict(zip(range(20, 24), _bits(11))),
                                                      **dict(zip(range(24, 28), _bits(0)))})),
    # 23 claimed in band 1 ([10, 19]): d1 = 13, and d2 = -4 makes d1 + d2 = 9, the band's width
    "bits that pretend to fit the band": ("range", _set(HONEST, {11: 0, 10: 1, **_cell_entries(23),
                                                                 **dict(zip(range(20, 24), _bits(13))),
                                                                 24: -4, 25: 0, 26: 0, 27: 0})),
    # 5 claimed in band 1: d1 = -5 (a field element, not a bit) and d2 = 14 add up to 9
    "below its band": ("range", _set(HONEST, {11: 0, 10: 1, **_cell_entries(5), 20: -5, 21: 0, 22: 0, 23: 0,
                                              **dict(zip(range(24, 28), _bits(14)))})),
    # 24 as d1 = (0, 2, 0, 0) with d2 = 6: adds up to the band's width 10, but 2 is no bit
    "a bit of 2": ("range", _set(HONEST, {20: 0, 21: 2, 24: 0, 25: 1, 26: 1, 27: 0, **_cell_entries(24)})),
    # P and Q
    "wrong P": ("product", _set(HONEST, {15: 24})),
    "P in another cell": ("product", _set(HONEST, {15: 0, 14: 23})),
    "P missing": ("product", _set(HONEST, {15: 0})),
    "wrong Q": ("product", _set(HONEST, {19: 530})),
    "Q of another salary": ("product", _set(HONEST, {19: 0, 18: 529})),
    "Q negative": ("product", _set(HONEST, {19: -529})),
    "P and Q of another salary": ("product", _set(HONEST, _cell_entries(22))),
    "H in one cell, P and Q in another": ("product", _set(HONEST, {11: 0, 2: 1})),
}


def test_plain_reason_catches_each_invalid_kind_in_the_layout_with_jobs_and_bands() -> None:
    layout = Layout(TINY)
    assert HONEST == encode_record(Record("m", 23, "b"), TINY)
    assert plain_reason(HONEST, layout) is None
    for name, (reason, vec) in INVALID_TINY.items():
        assert vec != HONEST and len(vec) == 28
        assert plain_reason(vec, layout) == reason, name
    assert plain_reason(HONEST[:-1], layout) == "length"
    assert plain_reason(HONEST + [0], layout) == "length"


def test_range_edge_cases_in_the_layout_with_jobs_and_bands() -> None:
    """Every salary 0..30 in every cell is valid; the same offset claimed in a narrower band is not."""
    layout = Layout(TINY)
    for g in ("f", "m"):
        for job in ("a", "b"):
            for s in range(31):
                assert plain_reason(encode_record(Record(g, s, job), TINY), layout) is None
    # 30 is d1 = 10 in band 2 (width 10); the same bits in band 0 or 1 (width 9) are out of range
    top = encode_record(Record("f", 30, "a"), TINY)
    for b in (0, 1):
        moved = _set(top, {2: 0, b: 1, 12: 10 * b + 10, 16: (10 * b + 10) ** 2})
        assert plain_reason(moved, layout) == "range"


@pytest.mark.parametrize("nt", [(3, 1), (4, 1)])
def test_every_invalid_kind_is_rejected_on_shares_with_its_reason(nt: tuple[int, int]) -> None:
    """The hand-made invalid records with honest proofs of their true gate outputs: the nodes give
    the plaintext oracle's reason, and honest records among them pass."""
    n, t = nt
    layout = Layout(TINY)
    cases = list(INVALID_TINY.items())
    vecs = [prove(v, layout, P) for _, (_, v) in cases]
    good = [encode_submission(r, TINY, P) for r in (Record("m", 23, "b"), Record("f", 0, "a"), Record("f", 30, "b"))]
    got = simulate([share_vector(v, n, t, P) for v in vecs + good], layout, n, t)
    assert got == [reason for _, (reason, _) in cases] + [None] * 3
    assert simulate([share_vector(v, n, t, P) for v in vecs], layout, n, t, fast=False) == got[: len(cases)]


@pytest.mark.parametrize("sc", [Scheme.of(CATS, 1000), BANDED, TINY], ids=["plain", "banded", "tiny"])
def test_forgeries_pass_their_own_challenge_and_only_the_forged_check_stops_them(sc: Scheme) -> None:
    """A forger tunes its proof to a challenge it drew itself: there every check passes.  Under the
    nodes' challenge every constraint group still holds but the one it forged."""
    layout = Layout(sc)
    m = _manifest_like(sc)
    for kind, caught_by in (("forged-proof", "proof"), ("forged-triple", "one-hot")):
        v = forged_vector(kind, m, random.Random(kind), b"the forger's own seed")
        assert plain_reason(v[: layout.record_width], layout) == ("range" if kind == "forged-proof" else "one-hot")
        own = derive_challenge(b"the forger's own seed", layout, P)
        first, second = rounds([share_vector(v, 3, 1, P)], layout, own, 1)
        assert not first.suspects and not second.suspects
        assert decide(np.concatenate([first.values, second.values], axis=1), P) == [None]
        first, second = rounds([share_vector(v, 3, 1, P)], layout, derive_challenge(b"the nodes' seed", layout, P), 1)
        row = fastfield.to_ints(np.concatenate([first.values, second.values], axis=1)[0]).tolist()
        zeros = {o for o in (Opening.ONE_HOT, Opening.RANGE, Opening.PRODUCT) if row[o] == 0}
        if kind == "forged-proof":
            assert zeros == {Opening.ONE_HOT, Opening.RANGE, Opening.PRODUCT} and row[Opening.WIRE] ** 2 % P != row[
                Opening.SQUARE]
        else:
            assert zeros == {Opening.RANGE, Opening.PRODUCT} and row[Opening.WIRE] ** 2 % P == row[Opening.SQUARE]
        assert decide([row], P) == [caught_by]


def test_a_triple_with_z_not_xy_is_caught_whatever_the_challenge() -> None:
    """A contributor-chosen triple error z - x y is a constant of the check: it cannot cancel a
    random-coefficient error, and with a valid record it alone fails the check every time."""
    layout = Layout(TINY)
    full = encode_submission(Record("m", 23, "b"), TINY, P)
    for at, reason in ((layout.one_hot_triple_at + 2, "one-hot"), (layout.product_triple_at + 2, "product")):
        bad = list(full)
        bad[at] = (bad[at] + 1 + secrets.randbelow(P - 1)) % P
        for seed in range(20):
            ch = derive_challenge(bytes([seed]), layout, P)
            assert decide(all_openings(as_matrix([bad], layout.width), layout, ch, P).tolist(), P) == [reason]


def test_inconsistent_shares_are_caught_whatever_node(n: int = 4, t: int = 1) -> None:
    for sc, rec in [(Scheme.of(CATS, 1000), Record("female", 500)), (TINY, Record("f", 12, "b"))]:
        layout = Layout(sc)
        subs = []
        for victim in range(n):
            sh = share_vector(encode_submission(rec, sc, P), n, t, P)
            k = (victim * 17) % layout.width
            sh[victim][k] = (sh[victim][k] + 1) % P
            subs.append(sh)
        reasons, suspects = simulate_with(subs, layout, derive_challenge(secrets.token_bytes(16), layout, P), t)
        assert reasons == ["consistency"] * n
        assert suspects == {i: (i,) for i in range(n)}  # n >= 3t+1: the off share is located


@pytest.mark.parametrize("nt", [(3, 1), (4, 1), (5, 2), (7, 2)])
@pytest.mark.parametrize("lying_round", [1, 2])
def test_a_node_sending_wrong_opening_shares_is_detected_and_located_when_n_allows(nt: tuple[int, int],
                                                                                  lying_round: int) -> None:
    """A node lying about its share of any opening, in either round, makes the row inconsistent:
    never a wrong verdict.  With n >= 3t+1 every lie is attributed to the liar."""
    n, t = nt
    sc = Scheme.of(CATS, 1000)
    layout = Layout(sc)
    vecs = [encode_submission(Record("male", 10 * i), sc, P) for i in range(6)]
    bad = bad_vector("not-one-hot-1000", _manifest_like(sc), random.Random(2))
    subs = [share_vector(v, n, t, P) for v in vecs + [bad]]
    liar = n - 1
    columns = len(FIRST_ROUND if lying_round == 1 else SECOND_ROUND)

    def lie(rnd: int, node: int, shares: np.ndarray) -> np.ndarray:
        if rnd != lying_round or node != liar:
            return shares
        for row in range(len(subs)):
            shares = add_to_row(shares, row, row % columns, 1 + row)
        return shares

    reasons, suspects = simulate_with(subs, layout, derive_challenge(b"x", layout, P), t, lie=lie)
    assert reasons == ["consistency"] * len(subs)  # an invalid row never turns valid, a valid one is set aside
    expect = (liar,) if n >= 3 * t + 1 else ()
    assert suspects == {row: expect for row in range(len(subs))}


def _three_tiny_records() -> tuple[Layout, Challenge, list[list[int]]]:
    """The TINY layout, a challenge, and three valid submission vectors of it."""
    layout = Layout(TINY)
    return layout, derive_challenge(b"c", layout, P), [encode_submission(Record("f", s, "a"), TINY, P)
                                                        for s in (0, 17, 30)]


def test_located_errors_are_corrected_before_the_second_round() -> None:
    """With n >= 3t+1 the first round's values of a row with a located wrong share are the
    corrected ones, so every honest party computes its second-round shares with the true e, f."""
    layout, ch, vecs = _three_tiny_records()
    subs = [share_vector(v, 4, 1, P) for v in vecs]
    honest_first, honest_second = rounds(subs, layout, ch, 1)

    def lie(rnd: int, node: int, shares: np.ndarray) -> np.ndarray:
        return add_to_row(shares, 1, Opening.ONE_HOT_E, 5) if (rnd, node) == (1, 2) else shares

    first, second = rounds(subs, layout, ch, 1, lie=lie)
    assert first.suspects == {1: (2,)} and not second.suspects
    assert fastfield.to_ints(first.values).tolist() == fastfield.to_ints(honest_first.values).tolist()
    assert fastfield.to_ints(second.values).tolist() == fastfield.to_ints(honest_second.values).tolist() == \
        [[0, 0]] * 3
    first_obj, _ = rounds(subs, layout, ch, 1, fast=False, lie=lie)  # the plain Python path alike
    assert first_obj.suspects == {1: (2,)}
    assert first_obj.values.tolist() == fastfield.to_ints(honest_first.values).tolist()
    # with n = 3 nothing can be located: the row holds zeros (and is set aside)
    first3, _ = rounds([share_vector(v, 3, 1, P) for v in vecs], layout, ch, 1, lie=lie)
    assert first3.suspects == {1: ()} and fastfield.to_ints(first3.values[1]).tolist() == [0] * len(FIRST_ROUND)


@pytest.mark.parametrize("liar", [0, 2, 3])
def test_a_liar_beside_a_node_left_out_is_corrected_from_the_shares_present(liar: int) -> None:
    """n = 5, t = 1, node 1 left out (an erasure): the four present shares still correct one
    liar, whichever it is (the first t + 1 present included), and name it; with n = 4 and node 1
    left out the three present can only detect it (the row holds zeros and is set aside)."""
    layout, ch, vecs = _three_tiny_records()
    subs = [share_vector(v, 5, 1, P) for v in vecs]
    honest_first, honest_second = rounds(subs, layout, ch, 1)

    def lie(rnd: int, node: int, shares: np.ndarray) -> np.ndarray:
        return add_to_row(shares, 2, Opening.CONSISTENCY, 9) if (rnd, node) == (1, liar) else shares

    first, second = rounds(subs, layout, ch, 1, lie=lie, absent=[1])
    assert first.suspects == {2: (liar,)} and not second.suspects
    assert fastfield.to_ints(first.values).tolist() == fastfield.to_ints(honest_first.values).tolist()
    assert fastfield.to_ints(second.values).tolist() == fastfield.to_ints(honest_second.values).tolist()
    first4, _ = rounds([share_vector(v, 4, 1, P) for v in vecs], layout, ch, 1, lie=lie, absent=[1])
    assert first4.suspects == {2: ()} and fastfield.to_ints(first4.values[2]).tolist() == [0] * len(FIRST_ROUND)


def test_valid_openings_are_masks_and_zeros() -> None:
    """Two proofs of one record open to different e, f and w(r) (fresh masks), h(r) = w(r)^2 and
    zeros; the consistency value moves with the mask m."""
    layout = Layout(BANDED)
    ch = derive_challenge(b"zk", layout, P)
    rec = Record("female", 31_337, "sales")
    a, b = (all_openings(as_matrix([encode_submission(rec, BANDED, P)], layout.width), layout, ch, P)[0].tolist()
            for _ in range(2))
    masked = [Opening.CONSISTENCY, Opening.ONE_HOT_E, Opening.ONE_HOT_F, Opening.PRODUCT_E, Opening.PRODUCT_F,
              Opening.WIRE, Opening.SQUARE]
    assert all(a[o] != b[o] for o in masked)
    for row in (a, b):
        assert row[Opening.SQUARE] == row[Opening.WIRE] ** 2 % P and row[Opening.RANGE:] == [0, 0, 0]


def test_challenge_is_deterministic_per_seed_and_differs_between_seeds() -> None:
    for layout in (Layout.of(CATS, 1000), Layout(BANDED), Layout(TINY)):
        sc = layout.scheme
        a, b = derive_challenge(b"seed", layout, P), derive_challenge(b"seed", layout, P)
        c = derive_challenge(b"other", layout, P)
        assert a == b and a.sigma != c.sigma and a.r != c.r and a.beta1 != c.beta1
        assert len(a.sigma) == layout.width and len(a.beta3) == 2 * sc.bits
        assert len(a.beta1) == len(a.gamma1) == sc.K * sc.B and len(a.beta2) == len(a.gamma2) == sc.K
        assert a.r > 2 * layout.gates
    # the expansion, recomputed with hashlib: SHAKE-256 of the v4 label and the seed, 24 bytes per element
    layout = Layout(TINY)
    ch = derive_challenge(b"seed", layout, P)
    counts = [layout.width, 1, 12, 12, 1, 4, 4, 8, 1]
    stream = hashlib.shake_256(b"salary-mpc/v4 validation challenge\x00seed").digest(24 * sum(counts))
    vals = [int.from_bytes(stream[24 * k: 24 * (k + 1)], "big") % P for k in range(sum(counts))]
    w = layout.width
    assert list(ch.sigma) == vals[:w]
    assert ch.r == 2 * layout.gates + 1 + vals[w] % (P - 2 * layout.gates - 1)
    assert (list(ch.beta1), list(ch.gamma1), ch.mu1) == (vals[w + 1: w + 13], vals[w + 13: w + 25], vals[w + 25])
    assert (list(ch.beta2), list(ch.gamma2)) == (vals[w + 26: w + 30], vals[w + 30: w + 34])
    assert (list(ch.beta3), ch.mu3) == (vals[w + 34: w + 42], vals[w + 42])


@pytest.mark.parametrize("sc", [Scheme.of(CATS, 10**6), BANDED, TINY], ids=["plain", "banded", "tiny"])
def test_fast_and_plain_paths_agree(sc: Scheme) -> None:
    layout = Layout(sc)
    rows = [[secrets.randbelow(P) for _ in range(layout.width)] for _ in range(20)]
    rows[0] = [P - 1] * layout.width
    ch = derive_challenge(b"s", layout, P)
    fast = local_openings(node_matrix(rows, layout.width, P, True), layout, ch, P)
    plain = local_openings(as_matrix(rows, layout.width), layout, ch, P)
    assert fastfield.to_ints(fast).tolist() == plain.tolist()
    assert plain[:, Held.ONE_HOT_X].tolist() == [r[layout.one_hot_triple_at] for r in rows]
    public = [[secrets.randbelow(P) for _ in FIRST_ROUND] for _ in rows]
    public[1] = [P - 1] * len(FIRST_ROUND)
    second_fast = second_openings(fast, fastfield.from_ints(public), P)
    second_plain = second_openings(plain, np.array(public, dtype=object), P)
    assert fastfield.to_ints(second_fast).tolist() == second_plain.tolist()
    opened_fast = np.concatenate([fast[:, : len(FIRST_ROUND)], second_fast], axis=1)
    opened_plain = np.concatenate([plain[:, : len(FIRST_ROUND)], second_plain], axis=1)
    assert decide(opened_fast, P) == decide(opened_plain.tolist(), P)


@pytest.mark.parametrize("sc,records", [
    (Scheme.of(CATS, 10**6), [Record("male", 0), Record("female", 10**6), Record("other", 31337)]),
    (BANDED, [Record("male", 0, "sales"), Record("female", 100_000, "engineering"), Record("other", 20_000, "sales"),
              Record("male", 59_999, "engineering")]),
], ids=["plain", "jobs-bands"])
def test_batch_prover_matches_the_single_prover_and_passes(sc: Scheme, records: list[Record]) -> None:
    layout = Layout(sc)
    recs = [encode_record(r, sc) for r in records]
    W = layout.record_width
    batch = fastfield.to_ints(prove_batch_limbs(np.array(recs, dtype=np.int64), layout)).tolist()
    for row, rec in zip(batch, recs):
        m, x1, y1, _, x2, y2, _, w0 = row[W: W + 8]
        assert row == prove(rec, layout, P, randomness=(m, x1, y1, x2, y2, w0))
    assert len({row[W] for row in batch}) == len(batch)  # fresh randomness per row
    assert simulate([share_vector(v, 4, 1, P) for v in batch], layout, 4, 1) == [None] * len(records)


def test_batch_prover_takes_records_that_are_not_valid() -> None:
    """Entries beyond 32 bits where the bits belong (an invalid record): the general product."""
    layout = Layout(TINY)
    rec = encode_record(Record("f", 12, "b"), TINY)
    rec[TINY.d1_at] = (1 << 40) + 3
    rand = fastfield.random_elements((1, 6))
    row = fastfield.to_ints(prove_batch_limbs(np.array([rec], dtype=np.int64), layout, rand)[0]).tolist()
    assert row == prove(rec, layout, P, randomness=fastfield.to_ints(rand[0]).tolist())
    assert simulate([share_vector(row, 3, 1, P)], layout, 3, 1) == ["range"]
