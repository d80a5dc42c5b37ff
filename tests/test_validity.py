"""Validation on shares (protocol.validity), simulated for n nodes without the network: the
verdicts must match the plaintext oracle, and a valid record is never rejected."""

from __future__ import annotations

import random
import secrets

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from demo.bad_contributors import KINDS, bad_vector
from protocol.encoding import Record, encode_record
from protocol.field import DEFAULT_PRIME, share_vector
from protocol.manifest import Manifest
from protocol.validity import (
    GROUPS,
    REASONS,
    Layout,
    as_matrix,
    consistency_terms,
    constraint_terms,
    derive_challenge,
    plain_reason,
    verdicts,
)

P = DEFAULT_PRIME
CATS = ("female", "male", "other")


def _zero_sharing(n: int, degree: int) -> list[int]:
    coeffs = [secrets.randbelow(P) for _ in range(degree)]
    return [sum(c * pow(i + 1, k + 1, P) for k, c in enumerate(coeffs)) % P for i in range(n)]


def simulate(vectors_shares: list[list[list[int]]], layout: Layout, n: int, t: int) -> list[str | None]:
    """What the n nodes conclude: each computes its masked terms, all are exchanged."""
    N = len(vectors_shares)
    X = [as_matrix([sub[i] for sub in vectors_shares], layout.width) for i in range(n)]
    ch = derive_challenge(secrets.token_bytes(32), layout, P)
    R = [share_vector([secrets.randbelow(P)], n, t, P) for _ in range(N)]
    Z = {g: [_zero_sharing(n, 2 * t) for _ in range(N)] for g in GROUPS}
    y = [(consistency_terms(X[i], ch, P) + np.array([R[r][i][0] for r in range(N)], dtype=object)) % P
         for i in range(n)]
    terms = [constraint_terms(X[i], ch, layout, P) for i in range(n)]
    w = {g: [(terms[i][g] + np.array([Z[g][r][i] for r in range(N)], dtype=object)) % P for i in range(n)]
         for g in GROUPS}
    return verdicts(y, w, t, P)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(st.tuples(st.sampled_from(CATS), st.integers(0, 1_000_000)), min_size=1, max_size=12),
       nt=st.sampled_from([(3, 1), (4, 1), (5, 2), (7, 3)]), top=st.sampled_from([1, 7, 1_000_000, 2**40 - 1]))
def test_valid_records_are_never_rejected(records: list[tuple[str, int]], nt: tuple[int, int], top: int) -> None:
    n, t = nt
    layout = Layout.of(CATS, top)
    vecs = [encode_record(Record(g, min(s, top)), CATS, top) for g, s in records]
    assert all(plain_reason(v, layout) is None for v in vecs)
    assert simulate([share_vector(v, n, t, P) for v in vecs], layout, n, t) == [None] * len(vecs)


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
    good = [encode_record(Record("male", 4000 + i), CATS, top) for i in range(3)]
    got = simulate([share_vector(v, n, t, P) for v in vecs + good], layout, n, t)
    oracle = [plain_reason(v, layout) for v in vecs]
    assert got[5:] == [None] * 3
    assert got[:5] == oracle and all(r is not None for r in oracle)
    assert {REASONS[r] for r in got[:5] if r} == {KINDS[kind]}


def test_inconsistent_shares_are_caught_whatever_node(n: int = 4, t: int = 1) -> None:
    top = 1000
    layout = Layout.of(CATS, top)
    subs = []
    for victim in range(n):
        sh = share_vector(encode_record(Record("female", 500), CATS, top), n, t, P)
        sh[victim][victim % layout.width] = (sh[victim][victim % layout.width] + 1) % P
        subs.append(sh)
    assert simulate(subs, layout, n, t) == ["consistency"] * n


def test_challenge_is_deterministic_per_seed_and_differs_between_seeds() -> None:
    layout = Layout.of(CATS, 1000)
    a, b = derive_challenge(b"seed", layout, P), derive_challenge(b"seed", layout, P)
    c = derive_challenge(b"other", layout, P)
    assert list(a.sigma) == list(b.sigma) and list(a.sigma) != list(c.sigma)
    assert len(a.sigma) == layout.width and len(a.rho_range) == 2 * layout.bits + 1
