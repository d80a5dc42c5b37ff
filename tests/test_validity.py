"""Validation on shares (protocol.validity), simulated for n nodes without the network: the
verdicts must match the plaintext oracle, a valid record is never rejected, and a node sending
wrong shares is caught (and located when n >= 3t+1)."""

from __future__ import annotations

import hashlib
import random
import secrets
import types

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from demo.bad_contributors import KINDS, bad_vector
from protocol import fastfield
from protocol.encoding import Record, Scheme, encode_record
from protocol.field import DEFAULT_PRIME, lagrange_coefficients, share_vector
from protocol.manifest import Manifest
from protocol.validity import (
    GROUP_REASONS,
    REASONS,
    Layout,
    Opening,
    as_matrix,
    decide,
    derive_challenge,
    encode_submission,
    local_openings,
    open_all,
    plain_reason,
    prove,
    prove_batch,
    salary_form,
    verdicts,
)

P = DEFAULT_PRIME
SMALL_P = 2**61 - 1  # exercises the plain Python path (the fast path is for 2^127 - 1 only)
CATS = ("female", "male", "other")
SCHEME = Scheme.of(CATS, 1_000_000)
#: a survey with job categories and salary bands (bands wide enough for bad_vector's
#: salary-above-max offsets of up to 1000 beyond the top band to fit in L bits)
BANDED = Scheme.of(CATS, 100_000, ("engineering", "sales"), (20_000, 40_000, 60_000))
#: the hand-checkable example of test_encoding: K = 4 cells, bands [0, 9], [10, 19], [20, 30], L = 4
TINY = Scheme.of(("f", "m"), 30, ("a", "b"), (10, 20))


def _limbs(rows: list[list[int]], width: int) -> fastfield.U16:
    data = b"".join(v.to_bytes(16, "big") for r in rows for v in r)
    return fastfield.limbs_from_bytes(data, len(rows), width)


def node_openings(vectors_shares: list[list[list[int]]], layout: Layout, n: int, seed: bytes, p: int = P,
                  fast: bool = True) -> list[np.ndarray]:
    """Each node's (N, 7) shares of the openings, computed as the MPC program does."""
    ch = derive_challenge(seed, layout, p)
    out = []
    for i in range(n):
        rows = [sub[i] for sub in vectors_shares]
        X = _limbs(rows, layout.width) if fast and p == P else as_matrix(rows, layout.width)
        out.append(local_openings(X, layout, ch, p))
    return out


def simulate(vectors_shares: list[list[list[int]]], layout: Layout, n: int, t: int, p: int = P,
             fast: bool = True) -> list[str | None]:
    shares = node_openings(vectors_shares, layout, n, secrets.token_bytes(32), p, fast)
    return verdicts(shares, t, p)[0]


def test_vector_length_counts_the_proof() -> None:
    layout = Layout.of(CATS, 1_000_000)
    assert layout == Layout(SCHEME) and layout.scheme == SCHEME
    assert layout.record_width == layout.gates == 9 + 40
    assert layout.width == 3 * 49 + 4 == SCHEME.vector_length
    assert (layout.mask_at, layout.h_at) == (49, 52)
    vec = encode_submission(Record("male", 1234), SCHEME, P)
    assert len(vec) == layout.width and vec[: layout.record_width] == encode_record(Record("male", 1234), SCHEME)
    banded = Layout.of(CATS, 100_000, ("engineering", "sales"), (20_000, 40_000, 60_000))
    assert banded.scheme == BANDED
    # K = 6 cells, B = 4 bands, the widest band (60,000..100,000) needs 16 bits
    assert banded.record_width == banded.gates == 6 * 4 + 2 * 6 + 2 * 16 == 68
    assert banded.width == 3 * 68 + 4 == BANDED.vector_length
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
    # K = 2, B = 1, L = 1: record [H_a, H_b, P_a, P_b, Q_a, Q_b, d1, d2], M = 8
    layout = Layout.of(("a", "b"), 1)
    rec = encode_record(Record("b", 1), layout.scheme)
    assert rec == [0, 1, 0, 1, 0, 1, 1, 0]
    full = prove(rec, layout, 101, randomness=(7, 3, 5))
    # gate inputs: H_a^2, H_b^2, d1^2, d2^2, s*ind_a, s*ind_b, s*P_a, s*P_b  ->  h(1..8) = 0, 1, 1, 0, 0, 1, 0, 1
    assert len(full) == layout.width == 28
    assert full[:8] == rec and full[8:11] == [7, 3, 5]
    h = full[11:]
    assert len(h) == 17 and h[0] == 15 and h[1:9] == [0, 1, 1, 0, 0, 1, 0, 1]
    # h(j) for j > 8 is f(j) g(j) with f, g the degree-8 interpolants of (0, 3|5), (1..8, inputs)
    f_pts, g_pts = [3, 0, 1, 1, 0, 1, 1, 1, 1], [5, 0, 1, 1, 0, 0, 1, 0, 1]
    for j in range(9, 17):
        lam = lagrange_coefficients(list(range(9)), j, 101)
        assert h[j] == sum(a * b for a, b in zip(lam, f_pts)) * sum(a * b for a, b in zip(lam, g_pts)) % 101


def test_proof_known_answer_with_bands() -> None:
    """One cell, bands [0, 1] and [2, 3] (L = 1): the salary wire carries the band's lower edge."""
    layout = Layout.of(("a",), 3, (), (2,))
    rec = encode_record(Record("a", 3), layout.scheme)
    # H = [0, 1] (band 1), P = 3, Q = 9, d1 = 3 - 2 = 1, d2 = 3 - 3 = 0
    assert rec == [0, 1, 3, 9, 1, 0]
    full = prove(rec, layout, 101, randomness=(1, 2, 4))
    # left inputs:  H0, H1, d1, d2, s = 2 H1 + d1 = 3, s = 3
    # right inputs: H0, H1, d1, d2, ind = H0 + H1 = 1, P = 3   ->  h(1..6) = 0, 1, 1, 0, 3, 9
    assert len(full) == layout.width == 6 + 3 + 13
    assert full[:6] == rec and full[6:9] == [1, 2, 4]
    h = full[9:]
    assert h[0] == 8 and h[1:7] == [0, 1, 1, 0, 3, 9]
    f_pts, g_pts = [2, 0, 1, 1, 0, 3, 3], [4, 0, 1, 1, 0, 1, 3]
    for j in range(7, 13):
        lam = lagrange_coefficients(list(range(7)), j, 101)
        assert h[j] == sum(a * b for a, b in zip(lam, f_pts)) * sum(a * b for a, b in zip(lam, g_pts)) % 101


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
    if kind == "forged-proof":  # the record breaks one-hot, the proof claims it does not
        assert all(plain_reason(v[: layout.record_width], layout) == "one-hot" for v in vecs)
        assert got[:5] == ["proof"] * 5
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


def test_forged_proof_would_have_passed_the_constraints_alone() -> None:
    """The forged proof satisfies every constraint group: only the proof check H = F G stops it."""
    sc = Scheme.of(CATS, 1000)
    layout = Layout(sc)
    v = bad_vector("forged-proof", _manifest_like(sc), random.Random(1))
    shares = node_openings([share_vector(v, 3, 1, P)], layout, 3, b"seed")
    values, suspects = open_all(shares, 1, P)
    assert not suspects
    row = fastfield.to_ints(values[0]).tolist()
    assert row[4:] == [0, 0, 0] and row[1] * row[2] % P != row[3]
    assert decide([row], P) == ["proof"]


def test_inconsistent_shares_are_caught_whatever_node(n: int = 4, t: int = 1) -> None:
    for sc, rec in [(Scheme.of(CATS, 1000), Record("female", 500)), (TINY, Record("f", 12, "b"))]:
        layout = Layout(sc)
        subs = []
        for victim in range(n):
            sh = share_vector(encode_submission(rec, sc, P), n, t, P)
            k = (victim * 17) % layout.width
            sh[victim][k] = (sh[victim][k] + 1) % P
            subs.append(sh)
        shares = node_openings(subs, layout, n, secrets.token_bytes(16))
        reasons, suspects = verdicts(shares, t, P)
        assert reasons == ["consistency"] * n
        assert suspects == {i: (i,) for i in range(n)}  # n >= 3t+1: the off share is located


@pytest.mark.parametrize("nt", [(3, 1), (4, 1), (5, 2), (7, 2)])
def test_a_node_sending_wrong_opening_shares_is_detected_and_located_when_n_allows(nt: tuple[int, int]) -> None:
    """A node lying about its share of any opening makes the row inconsistent: never a wrong verdict.
    With n >= 3t+1 every lie is attributed to the liar."""
    n, t = nt
    sc = Scheme.of(CATS, 1000)
    layout = Layout(sc)
    vecs = [encode_submission(Record("male", 10 * i), sc, P) for i in range(6)]
    bad = bad_vector("not-one-hot-1000", _manifest_like(sc), random.Random(2))
    subs = [share_vector(v, n, t, P) for v in vecs + [bad]]
    shares = node_openings(subs, layout, n, b"x")
    liar = n - 1
    lied = fastfield.to_ints(shares[liar])
    for row in range(len(subs)):
        lied[row, row % len(Opening)] = (lied[row, row % len(Opening)] + 1 + row) % P
    reasons, suspects = verdicts(shares[:liar] + [fastfield.from_ints(lied)], t, P)
    assert reasons == ["consistency"] * len(subs)  # an invalid row never turns valid, a valid one is set aside
    expect = (liar,) if n >= 3 * t + 1 else ()
    assert suspects == {row: expect for row in range(len(subs))}


def test_challenge_is_deterministic_per_seed_and_differs_between_seeds() -> None:
    for layout in (Layout.of(CATS, 1000), Layout(BANDED), Layout(TINY)):
        sc = layout.scheme
        a, b = derive_challenge(b"seed", layout, P), derive_challenge(b"seed", layout, P)
        c = derive_challenge(b"other", layout, P)
        assert a == b and a.sigma != c.sigma and a.r != c.r
        assert len(a.sigma) == layout.width and len(a.rho_range) == 2 * sc.bits + 1
        assert len(a.rho_onehot) == sc.K * sc.B + 1 and len(a.rho_product) == 2 * sc.K
        assert a.r > 2 * layout.gates
    # the expansion, recomputed with hashlib: SHAKE-256 of the v3 label and the seed, 24 bytes per element
    layout = Layout(TINY)
    ch = derive_challenge(b"seed", layout, P)
    counts = [layout.width, 1, 13, 9, 8]
    stream = hashlib.shake_256(b"salary-mpc/v3 validation challenge\x00seed").digest(24 * sum(counts))
    vals = [int.from_bytes(stream[24 * k: 24 * (k + 1)], "big") % P for k in range(sum(counts))]
    assert list(ch.sigma) == vals[: layout.width]
    assert ch.r == 2 * layout.gates + 1 + vals[layout.width] % (P - 2 * layout.gates - 1)
    assert list(ch.rho_onehot) == vals[layout.width + 1: layout.width + 14]
    assert list(ch.rho_range) == vals[layout.width + 14: layout.width + 23]
    assert list(ch.rho_product) == vals[layout.width + 23:]


@pytest.mark.parametrize("sc", [Scheme.of(CATS, 10**6), BANDED, TINY], ids=["plain", "banded", "tiny"])
def test_fast_and_plain_paths_agree(sc: Scheme) -> None:
    layout = Layout(sc)
    rows = [[secrets.randbelow(P) for _ in range(layout.width)] for _ in range(20)]
    rows[0] = [P - 1] * layout.width
    ch = derive_challenge(b"s", layout, P)
    fast = local_openings(_limbs(rows, layout.width), layout, ch, P)
    plain = local_openings(as_matrix(rows, layout.width), layout, ch, P)
    assert fastfield.to_ints(fast).tolist() == plain.tolist()
    assert decide(fast, P) == decide(plain.tolist(), P)


@pytest.mark.parametrize("sc,records", [
    (Scheme.of(CATS, 10**6), [Record("male", 0), Record("female", 10**6), Record("other", 31337)]),
    (BANDED, [Record("male", 0, "sales"), Record("female", 100_000, "engineering"), Record("other", 20_000, "sales"),
              Record("male", 59_999, "engineering")]),
], ids=["plain", "jobs-bands"])
def test_batch_prover_matches_the_single_prover_and_passes(sc: Scheme, records: list[Record]) -> None:
    layout = Layout(sc)
    recs = [encode_record(r, sc) for r in records]
    for p in (P, SMALL_P):
        batch = prove_batch(np.array(recs, dtype=np.int64), layout, p)
        for row, rec in zip(batch.tolist(), recs):
            m, u0, v0 = row[layout.record_width: layout.record_width + 3]
            assert row == prove(rec, layout, p, randomness=(m, u0, v0))
    vecs = [list(r) for r in prove_batch(np.array(recs, dtype=np.int64), layout, P).tolist()]
    assert simulate([share_vector(v, 4, 1, P) for v in vecs], layout, 4, 1) == [None] * len(records)
