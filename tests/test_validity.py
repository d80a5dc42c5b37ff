"""Validation on shares (protocol.validity), simulated for n nodes without the network: the
verdicts must match the plaintext oracle, a valid record is never rejected, and a node sending
wrong shares is caught (and located when n >= 3t+1)."""

from __future__ import annotations

import random
import secrets

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from demo.bad_contributors import KINDS, bad_vector
from protocol import fastfield
from protocol.encoding import Record, encode_record, vector_length
from protocol.field import DEFAULT_PRIME, share_vector
from protocol.manifest import Manifest
from protocol.validity import (
    OPENINGS,
    REASONS,
    Layout,
    as_matrix,
    decide,
    derive_challenge,
    encode_submission,
    local_openings,
    open_all,
    plain_reason,
    prove,
    prove_batch,
    verdicts,
)

P = DEFAULT_PRIME
SMALL_P = 2**61 - 1  # exercises the plain Python path (the fast path is for 2^127 - 1 only)
CATS = ("female", "male", "other")


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
    assert layout.record_width == 6 + 40 and layout.width == 3 * 46 + 4 == vector_length(CATS, 1_000_000)
    vec = encode_submission(Record("male", 1234), CATS, 1_000_000, P)
    assert len(vec) == layout.width and vec[: layout.record_width] == encode_record(Record("male", 1234), CATS,
                                                                                 1_000_000)


def test_proof_known_answer() -> None:
    """prove() with fixed randomness on a tiny layout, against values worked out by hand."""
    layout = Layout.of(("a", "b"), 1)  # C = 2, L = 1: record [ind_a, prod_a, ind_b, prod_b, b0, b0'], M = 6
    rec = encode_record(Record("b", 1), ("a", "b"), 1)
    assert rec == [0, 0, 1, 1, 1, 0]
    full = prove(rec, layout, 101, randomness=(7, 3, 5))
    # gate inputs: ind_a^2, ind_b^2, b0^2, b0'^2, s*ind_a, s*ind_b  ->  h(1..6) = 0, 1, 1, 0, 0, 1
    assert full[:6] == rec and full[6:9] == [7, 3, 5]
    h = full[9:]
    assert len(h) == 13 and h[0] == 15 and h[1:7] == [0, 1, 1, 0, 0, 1]
    # h(j) for j > 6 is f(j) g(j) with f = g the degree-6 interpolant of (0,3|5), (1..6, inputs)
    from protocol.field import lagrange_coefficients
    f_pts, g_pts = [3, 0, 1, 1, 0, 1, 1], [5, 0, 1, 1, 0, 0, 1]
    for j in range(7, 13):
        lam = lagrange_coefficients(list(range(7)), j, 101)
        assert h[j] == sum(a * b for a, b in zip(lam, f_pts)) * sum(a * b for a, b in zip(lam, g_pts)) % 101


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(st.tuples(st.sampled_from(CATS), st.integers(0, 1_000_000)), min_size=1, max_size=8),
       nt=st.sampled_from([(3, 1), (4, 1), (5, 2), (7, 2)]), top=st.sampled_from([1, 7, 1_000_000, 2**40 - 1]),
       fast=st.booleans())
def test_valid_records_are_never_rejected(records: list[tuple[str, int]], nt: tuple[int, int], top: int,
                                          fast: bool) -> None:
    n, t = nt
    layout = Layout.of(CATS, top)
    recs = [Record(g, min(s, top)) for g, s in records]
    assert all(plain_reason(encode_record(r, CATS, top), layout) is None for r in recs)
    vecs = [encode_submission(r, CATS, top, P) for r in recs]
    assert simulate([share_vector(v, n, t, P) for v in vecs], layout, n, t, fast=fast) == [None] * len(vecs)


def test_valid_records_pass_over_another_prime() -> None:
    layout = Layout.of(CATS, 5000)
    vecs = [encode_submission(Record(g, s), CATS, 5000, SMALL_P) for g, s in [("male", 5000), ("other", 0)]]
    assert simulate([share_vector(v, 3, 1, SMALL_P) for v in vecs], layout, 3, 1, SMALL_P) == [None, None]


def _manifest_like(top: int) -> Manifest:
    class M:  # the few fields bad_vector reads
        field_modulus = P
        categories = CATS
        salary_max = top
    return M()  # type: ignore[return-value]


@pytest.mark.parametrize("kind", [k for k in KINDS if k not in ("wrong-length", "inconsistent-shares")])
@pytest.mark.parametrize("nt", [(3, 1), (5, 2)])
def test_each_invalid_kind_is_caught_with_its_reason(kind: str, nt: tuple[int, int]) -> None:
    n, t = nt
    top = 1_000_000
    layout = Layout.of(CATS, top)
    rng = random.Random(kind)
    vecs = [bad_vector(kind, _manifest_like(top), rng) for _ in range(5)]
    good = [encode_submission(Record("male", 4000 + i), CATS, top, P) for i in range(3)]
    got = simulate([share_vector(v, n, t, P) for v in vecs + good], layout, n, t)
    assert got[5:] == [None] * 3
    if kind == "forged-proof":  # the record breaks one-hot, the proof claims it does not
        assert all(plain_reason(v[: layout.record_width], layout) == "one-hot" for v in vecs)
        assert got[:5] == ["proof"] * 5
    else:
        oracle = [plain_reason(v[: layout.record_width], layout) for v in vecs]
        assert got[:5] == oracle and all(r is not None for r in oracle)
    assert {REASONS[r] for r in got[:5] if r} == {KINDS[kind]}


def test_forged_proof_would_have_passed_the_constraints_alone() -> None:
    """The forged proof satisfies every constraint group: only the proof check H = F G stops it."""
    layout = Layout.of(CATS, 1000)
    v = bad_vector("forged-proof", _manifest_like(1000), random.Random(1))
    shares = node_openings([share_vector(v, 3, 1, P)], layout, 3, b"seed")
    values, suspects = open_all(shares, 1, P)
    assert not suspects
    row = fastfield.to_ints(values[0]).tolist()
    assert row[4:] == [0, 0, 0] and row[1] * row[2] % P != row[3]
    assert decide([row], P) == ["proof"]


def test_inconsistent_shares_are_caught_whatever_node(n: int = 4, t: int = 1) -> None:
    top = 1000
    layout = Layout.of(CATS, top)
    subs = []
    for victim in range(n):
        sh = share_vector(encode_submission(Record("female", 500), CATS, top, P), n, t, P)
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
    layout = Layout.of(CATS, 1000)
    vecs = [encode_submission(Record("male", 10 * i), CATS, 1000, P) for i in range(6)]
    bad = bad_vector("not-one-hot-1000", _manifest_like(1000), random.Random(2))
    subs = [share_vector(v, n, t, P) for v in vecs + [bad]]
    shares = node_openings(subs, layout, n, b"x")
    liar = n - 1
    lied = fastfield.to_ints(shares[liar])
    for row in range(len(subs)):
        lied[row, row % len(OPENINGS)] = (lied[row, row % len(OPENINGS)] + 1 + row) % P
    reasons, suspects = verdicts(shares[:liar] + [fastfield.from_ints(lied)], t, P)
    assert reasons == ["consistency"] * len(subs)  # an invalid row never turns valid, a valid one is set aside
    expect = (liar,) if n >= 3 * t + 1 else ()
    assert suspects == {row: expect for row in range(len(subs))}


def test_challenge_is_deterministic_per_seed_and_differs_between_seeds() -> None:
    layout = Layout.of(CATS, 1000)
    a, b = derive_challenge(b"seed", layout, P), derive_challenge(b"seed", layout, P)
    c = derive_challenge(b"other", layout, P)
    assert a == b and a.sigma != c.sigma and a.r != c.r
    assert len(a.sigma) == layout.width and len(a.rho_range) == 2 * layout.bits + 1
    assert a.r > 2 * layout.gates


def test_fast_and_plain_paths_agree() -> None:
    layout = Layout.of(CATS, 10**6)
    rows = [[secrets.randbelow(P) for _ in range(layout.width)] for _ in range(20)]
    rows[0] = [P - 1] * layout.width
    ch = derive_challenge(b"s", layout, P)
    fast = local_openings(_limbs(rows, layout.width), layout, ch, P)
    plain = local_openings(as_matrix(rows, layout.width), layout, ch, P)
    assert fastfield.to_ints(fast).tolist() == plain.tolist()
    assert decide(fast, P) == decide(plain.tolist(), P)


def test_batch_prover_matches_the_single_prover_and_passes() -> None:
    layout = Layout.of(CATS, 10**6)
    recs = [encode_record(Record(g, s), CATS, 10**6) for g, s in [("male", 0), ("female", 10**6), ("other", 31337)]]
    for p in (P, SMALL_P):
        batch = prove_batch(np.array(recs, dtype=np.int64), layout, p)
        for row, rec in zip(batch.tolist(), recs):
            m, u0, v0 = row[layout.record_width: layout.record_width + 3]
            assert row == prove(rec, layout, p, randomness=(m, u0, v0))
    vecs = [list(r) for r in prove_batch(np.array(recs, dtype=np.int64), layout, P).tolist()]
    assert simulate([share_vector(v, 4, 1, P) for v in vecs], layout, 4, 1) == [None] * 3
