"""Shamir sharing over GF(p): known answers, MPyC interoperability, tampering."""

from __future__ import annotations

import itertools
import json
import types
from pathlib import Path
from typing import Any

import mpyc.thresha as thresha
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mpyc.finfields import GF

from protocol.errors import InconsistentShares
from protocol.field import (
    lagrange_coefficients,
    DEFAULT_PRIME,
    ELEMENT_BYTES,
    check_prime_params,
    decode_elements,
    encode_elements,
    inconsistent_nodes,
    lagrange_at_zero,
    reconstruct_vector,
    share_vector,
    share_vector_with_coefficients,
)

VECTORS = Path(__file__).parent / "vectors"
P61 = (1 << 61) - 1


def _load_cases() -> list[dict[str, Any]]:
    data = json.loads((VECTORS / "shamir.json").read_text())
    assert data["provenance"]
    return list(data["cases"])


CASES = _load_cases()


def _ints(xs: list[str]) -> list[int]:
    return [int(x) for x in xs]


def _mpyc_recombine(p: int, points: dict[int, list[int]]) -> list[int]:
    """Recombine with MPyC; ``points`` maps 0-based node index -> share vector."""
    F = GF(p)
    got = thresha.recombine(F, [(i + 1, [F(v) for v in ys]) for i, ys in sorted(points.items())])
    return [int(v.value) % p for v in got]


def _mpyc_split_with(p: int, secrets_: list[int], coeffs: list[list[int]], n: int, t: int) -> list[list[int]]:
    """mpyc.thresha.random_split with its randomness replaced by ``coeffs`` (x^1..x^t per secret)."""
    feed = iter([c for cs in coeffs for c in reversed(cs)])  # random_split draws x^t first
    saved = thresha.secrets
    thresha.secrets = types.SimpleNamespace(randbelow=lambda _order: next(feed))  # type: ignore[assignment]
    try:
        rows = thresha.random_split(GF(p), secrets_, t, n)
    finally:
        thresha.secrets = saved
    return [[int(v) % p for v in row] for row in rows]


# --------------------------------------------------------------------------------- known answers

def test_vector_file_covers_required_parameters() -> None:
    got = {(int(c["p"]), c["n"], c["t"]) for c in CASES}
    assert got == {(DEFAULT_PRIME, 3, 1), (DEFAULT_PRIME, 5, 2), (P61, 3, 1), (P61, 5, 2)}


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_share_with_coefficients_matches_known_answers(case: dict[str, Any]) -> None:
    p, n = int(case["p"]), case["n"]
    coeffs = [_ints(cs) for cs in case["coefficients"]]
    got = share_vector_with_coefficients(_ints(case["secrets"]), coeffs, n, p)
    assert got == [_ints(row) for row in case["shares"]]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_reconstruct_known_answers_from_every_qualified_subset(case: dict[str, Any]) -> None:
    p, n, t = int(case["p"]), case["n"], case["t"]
    shares = [_ints(row) for row in case["shares"]]
    secrets_ = _ints(case["secrets"])
    for size in range(t + 1, n + 1):
        for subset in itertools.combinations(range(n), size):
            assert reconstruct_vector({i: shares[i] for i in subset}, t, p) == secrets_, subset


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_known_answers_agree_with_mpyc_random_split(case: dict[str, Any]) -> None:
    """The same coefficients fed to MPyC's own splitter give the same shares (same convention)."""
    p, n, t = int(case["p"]), case["n"], case["t"]
    coeffs = [_ints(cs) for cs in case["coefficients"]]
    assert _mpyc_split_with(p, _ints(case["secrets"]), coeffs, n, t) == [_ints(r) for r in case["shares"]]


@pytest.mark.parametrize("p", [DEFAULT_PRIME, P61, 101])
def test_lagrange_at_zero_closed_form(p: int) -> None:
    # Interpolating f(0) from x = 1, 2: f(0) = 2 f(1) - f(2); from x = 1, 2, 3: 3 f(1) - 3 f(2) + f(3).
    assert lagrange_at_zero([1, 2], p) == [2, p - 1]
    assert lagrange_at_zero([1, 2, 3], p) == [3, p - 3, 1]
    # From x = 2, 4: f(0) = 2 f(2) - f(4).
    assert lagrange_at_zero([2, 4], p) == [2, p - 1]


# ------------------------------------------------------------------------- MPyC interoperability

@pytest.mark.parametrize("p", [DEFAULT_PRIME, P61])
@pytest.mark.parametrize(("n", "t"), [(3, 1), (5, 2), (7, 3)])
def test_our_shares_recombine_with_mpyc(p: int, n: int, t: int) -> None:
    secrets_ = [0, 1, p - 1, 123_456, 10**12 % p]
    shares = share_vector(secrets_, n, t, p)
    assert len(shares) == n and all(len(row) == len(secrets_) for row in shares)
    assert all(0 <= v < p for row in shares for v in row)
    for subset in [tuple(range(t + 1)), tuple(range(n - t - 1, n)), tuple(range(0, n, 2))[: t + 1]]:
        assert len(subset) == t + 1
        assert _mpyc_recombine(p, {i: shares[i] for i in subset}) == secrets_


@pytest.mark.parametrize("p", [DEFAULT_PRIME, P61])
@pytest.mark.parametrize(("n", "t"), [(3, 1), (5, 2)])
def test_mpyc_shares_reconstruct_with_ours(p: int, n: int, t: int) -> None:
    secrets_ = [5, 0, p - 1, 987_654_321]
    rows = [[int(v) % p for v in row] for row in thresha.random_split(GF(p), secrets_, t, n)]
    assert reconstruct_vector(dict(enumerate(rows)), t, p) == secrets_
    assert inconsistent_nodes(dict(enumerate(rows)), t, p) is None
    # Any t+1 of them, including non-contiguous node sets (x = index + 1 must be respected).
    assert reconstruct_vector({0: rows[0], n - 1: rows[n - 1], **{1: rows[1]}}, t, p) == secrets_


def test_share_vector_is_random_and_of_degree_exactly_t() -> None:
    p, n, t = DEFAULT_PRIME, 5, 2
    a = share_vector([42] * 8, n, t, p)
    b = share_vector([42] * 8, n, t, p)
    assert a != b  # fresh randomness each time (fails with probability ~ 2^-127 * ...)
    # Degree t: consistent as degree-2, but not as degree-1 (top coefficient 0 with prob. 1/p).
    assert inconsistent_nodes(dict(enumerate(a)), t, p) is None
    assert inconsistent_nodes(dict(enumerate(a)), 1, p) is not None
    # Entries use independent polynomials: the shares of equal secrets differ between entries.
    assert len({a[0][j] for j in range(8)}) == 8


def test_share_vector_of_empty_vector() -> None:
    shares = share_vector([], 3, 1, DEFAULT_PRIME)
    assert shares == [[], [], []]
    assert reconstruct_vector(dict(enumerate(shares)), 1, DEFAULT_PRIME) == []


def test_share_vector_with_coefficients_needs_one_coefficient_list_per_secret() -> None:
    with pytest.raises(ValueError):
        share_vector_with_coefficients([1, 2], [[3]], 3, DEFAULT_PRIME)


# --------------------------------------------------------------------------------- tampering

@pytest.mark.parametrize("culprit", range(5))
def test_modified_share_names_the_culprit_n5_t1(culprit: int) -> None:
    p, n, t = DEFAULT_PRIME, 5, 1
    secrets_ = [10, 20, 30]
    shares = share_vector(secrets_, n, t, p)
    shares[culprit][1] = (shares[culprit][1] + 1) % p
    given = dict(enumerate(shares))
    assert inconsistent_nodes(given, t, p) == (culprit,)
    with pytest.raises(InconsistentShares, match=rf"degree-1 polynomial \(node {culprit}\)$"):
        reconstruct_vector(given, t, p)


@pytest.mark.parametrize("culprit", range(5))
def test_one_modified_share_is_not_attributed_below_3t_plus_1(culprit: int) -> None:
    """n=5, t=2: a single node explains the error, but naming it would let two colluders frame
    an honest node (next test), so nobody is named."""
    p, n, t = P61, 5, 2
    shares = share_vector([1, 2, 3, 4], n, t, p)
    shares[culprit][3] = (shares[culprit][3] + 12345) % p
    assert inconsistent_nodes(dict(enumerate(shares)), t, p) == ()
    with pytest.raises(InconsistentShares, match="cannot tell which node"):
        reconstruct_vector(dict(enumerate(shares)), t, p)


def test_two_colluders_could_frame_an_honest_node_when_n_below_3t_plus_1() -> None:
    """Why: nodes 3 and 4 (t=2) put their shares on another degree-2 polynomial through honest
    nodes 1 and 2; then removing honest node 0 alone makes the rest consistent."""
    p, n, t = P61, 5, 2
    shares = share_vector([42], n, t, p)
    xs = [2, 3, 1]  # x of nodes 1, 2 and node 0 (with a shifted value)
    ys = [shares[1][0], shares[2][0], (shares[0][0] + 1) % p]
    for liar in (3, 4):
        lam = lagrange_coefficients(xs, liar + 1, p)
        shares[liar][0] = sum(a * b for a, b in zip(lam, ys)) % p
    given = dict(enumerate(shares))
    rest = {i: given[i] for i in (1, 2, 3, 4)}
    assert inconsistent_nodes(rest, t, p) is None  # consistent without node 0: it would be "the culprit"
    assert inconsistent_nodes(given, t, p) == ()


def test_modified_share_without_enough_redundancy_is_detected_but_not_attributed() -> None:
    p, n, t = DEFAULT_PRIME, 3, 1
    shares = share_vector([7, 8], n, t, p)
    shares[2][0] = (shares[2][0] + 1) % p
    assert inconsistent_nodes(dict(enumerate(shares)), t, p) == ()
    with pytest.raises(InconsistentShares, match="cannot tell which node"):
        reconstruct_vector(dict(enumerate(shares)), t, p)


def test_two_modified_shares_are_not_blamed_on_one_node() -> None:
    p, n, t = DEFAULT_PRIME, 5, 1
    shares = share_vector([7, 8], n, t, p)
    shares[1][0] = (shares[1][0] + 1) % p
    shares[3][1] = (shares[3][1] + 1) % p
    assert inconsistent_nodes(dict(enumerate(shares)), t, p) == ()
    with pytest.raises(InconsistentShares, match="cannot tell which node"):
        reconstruct_vector(dict(enumerate(shares)), t, p)


def test_shares_of_a_subset_of_nodes_still_name_the_culprit() -> None:
    # Nodes 0, 1, 3, 4 answered (node 2 missing); node 3 lies: 4 shares, t=1 -> attributable.
    p, t = DEFAULT_PRIME, 1
    shares = share_vector([99], 5, t, p)
    given = {i: shares[i] for i in (0, 1, 3, 4)}
    assert reconstruct_vector(given, t, p) == [99]
    given[3] = [(given[3][0] + 5) % p]
    assert inconsistent_nodes(given, t, p) == (3,)


def test_wrong_length_vector_is_refused() -> None:
    p = DEFAULT_PRIME
    shares = share_vector([1, 2, 3], 3, 1, p)
    shares[1] = shares[1][:2]
    with pytest.raises(InconsistentShares, match="different lengths"):
        reconstruct_vector(dict(enumerate(shares)), 1, p)
    shares = share_vector([1, 2, 3], 3, 1, p)
    shares[2] = shares[2] + [0]
    with pytest.raises(InconsistentShares, match="different lengths"):
        reconstruct_vector(dict(enumerate(shares)), 1, p)


@pytest.mark.parametrize(("t", "given"), [(1, 1), (2, 2), (2, 0), (1, 0)])
def test_too_few_shares_are_refused(t: int, given: int) -> None:
    p = DEFAULT_PRIME
    shares = share_vector([5, 6], 2 * t + 1, t, p)
    with pytest.raises(InconsistentShares, match=rf"need at least {t + 1} shares, got {given}"):
        reconstruct_vector({i: shares[i] for i in range(given)}, t, p)


# ------------------------------------------------------------------------ wire encoding of elements

def test_encode_elements_known_answer() -> None:
    p = DEFAULT_PRIME
    data = encode_elements([0, 1, p - 1, 0x0102], p)
    assert ELEMENT_BYTES == 16
    assert data.hex() == (
        "00" * 16
        + "00" * 15 + "01"
        + "7f" + "ff" * 14 + "fe"
        + "00" * 14 + "0102"
    )
    assert decode_elements(data, 4, p) == [0, 1, p - 1, 0x0102]


@pytest.mark.parametrize("bad", [-1, DEFAULT_PRIME, DEFAULT_PRIME + 5, 1 << 128])
def test_encode_elements_refuses_unreduced_values(bad: int) -> None:
    with pytest.raises(ValueError, match="not a reduced field element"):
        encode_elements([1, bad], DEFAULT_PRIME)


def test_decode_elements_refuses_wrong_length_and_unreduced_values() -> None:
    p = DEFAULT_PRIME
    data = encode_elements([1, 2], p)
    with pytest.raises(ValueError, match="expected 3 field elements, got 32 bytes"):
        decode_elements(data, 3, p)
    with pytest.raises(ValueError, match="expected 2 field elements, got 31 bytes"):
        decode_elements(data[:-1], 2, p)
    with pytest.raises(ValueError, match="not a reduced field element"):
        decode_elements(p.to_bytes(16, "big"), 1, p)
    # Valid for a larger field, not for a smaller one.
    assert decode_elements((P61 + 1).to_bytes(16, "big"), 1, p) == [P61 + 1]
    with pytest.raises(ValueError, match="not a reduced field element"):
        decode_elements((P61 + 1).to_bytes(16, "big"), 1, P61)


# ------------------------------------------------------------------------------ parameters

@pytest.mark.parametrize(("p", "n", "t"), [(DEFAULT_PRIME, 3, 1), (DEFAULT_PRIME, 5, 2), (P61, 7, 3), (7, 5, 2)])
def test_check_prime_params_accepts_valid(p: int, n: int, t: int) -> None:
    check_prime_params(p, n, t)


@pytest.mark.parametrize(
    ("p", "n", "t", "message"),
    [
        (DEFAULT_PRIME, 3, 0, "threshold t=0 needs 1 <= t and 2t < n (n=3)"),
        (DEFAULT_PRIME, 4, 2, "threshold t=2 needs 1 <= t and 2t < n (n=4)"),
        (DEFAULT_PRIME, 3, -1, "threshold t=-1"),
        (2, 3, 1, "odd prime below 2^128"),
        ((1 << 129) - 1, 3, 1, "odd prime below 2^128"),
        (5, 5, 2, "more parties than field elements"),
    ],
)
def test_check_prime_params_refuses(p: int, n: int, t: int, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        check_prime_params(p, n, t)
    assert message in str(exc.value)


@pytest.mark.parametrize("p", [1 << 127, 15, (1 << 128) - 1])
def test_check_prime_params_refuses_non_prime_modulus(p: int) -> None:
    with pytest.raises(ValueError):
        check_prime_params(p, 3, 1)


@pytest.mark.parametrize("count", [1, 2, 3, 8, 41])
def test_lagrange_consecutive_equals_the_general_formula(count: int) -> None:
    """The O(count) coefficients for the nodes 0..count-1 (used by the validity proofs, whose
    extension interpolates over thousands of nodes) equal the general O(count^2) ones."""
    from protocol.field import lagrange_coefficients, lagrange_consecutive

    p = DEFAULT_PRIME
    for x in (0, count - 1, count, count + 7, 2 * count + 1, 12345678901234567890, p - 3):
        assert lagrange_consecutive(count, x, p) == lagrange_coefficients(list(range(count)), x, p)
    f = [3, 1, 4, 1, 5, 9, 2, 6][: min(count, 8)]  # a polynomial of degree < count: exact extrapolation
    vals = [sum(c * k ** e for e, c in enumerate(f)) % p for k in range(count)]
    x = count + 5
    assert sum(l * v for l, v in zip(lagrange_consecutive(count, x, p), vals)) % p == \
        sum(c * x ** e for e, c in enumerate(f)) % p


@pytest.mark.parametrize(("m", "t", "expect"), [(4, 1, 1), (3, 1, 0), (2, 1, 0), (7, 2, 2), (6, 2, 1), (5, 2, 0),
                                                (10, 3, 3), (9, 3, 2), (8, 3, 1), (7, 3, 0), (16, 3, 3)])
def test_correctable_is_what_t_liars_cannot_frame_with(m: int, t: int, expect: int) -> None:
    from protocol.field import correctable

    assert correctable(m, t) == expect


def _poly_shares(secret: list[int], nodes: list[int], t: int, rng: Any, p: int) -> dict[int, list[int]]:
    coeffs = [[rng.randrange(p) for _ in range(t)] for _ in secret]
    return {j: [(s + sum(c * (j + 1) ** (e + 1) for e, c in enumerate(cs))) % p for s, cs in zip(secret, coeffs)]
            for j in nodes}


@given(st.integers(1, 3), st.integers(0, 3), st.data())
@settings(max_examples=120, deadline=None)
def test_robust_reconstruct_with_erasures_corrects_within_budget_and_never_frames(t: int, extra: int,
                                                                                 data: Any) -> None:
    """n = 3t+1+extra nodes, some absent (erasures), up to t of those present lying (at least t+1
    honest ones present): within :func:`correctable` the true values come back and exactly the liars are named;
    beyond it either the true values with liars only named, or CheatingDetected naming nobody
    -- never a wrong value, never an honest node named."""
    import random

    from protocol.errors import CheatingDetected
    from protocol.field import correctable, robust_reconstruct

    p = DEFAULT_PRIME
    n = 3 * t + 1 + extra
    rng = random.Random(data.draw(st.integers(0, 2**32)))
    present = sorted(data.draw(st.sets(st.integers(0, n - 1), min_size=t + 2, max_size=n)))
    # at least t + 1 honest shares present: with fewer, t liars can pick the polynomial unseen
    liars = data.draw(st.sets(st.sampled_from(present), max_size=min(t, len(present) - t - 1)))
    secret = [rng.randrange(p) for _ in range(3)]
    shares = _poly_shares(secret, present, t, rng, p)
    fake = _poly_shares([rng.randrange(p) for _ in secret], present, t, rng, p)  # colluding liars: one polynomial
    for j in liars:
        shares[j] = fake[j] if data.draw(st.booleans()) else [(v + 1 + rng.randrange(p - 1)) % p for v in shares[j]]
    try:
        values, culprits = robust_reconstruct(shares, t, p)
    except CheatingDetected as exc:
        assert exc.culprits == ()
        assert len(liars) > correctable(len(present), t)
        return
    assert values == secret and set(culprits) <= liars
    if len(liars) <= correctable(len(present), t):
        assert set(culprits) == liars  # every liar's shares are off the true polynomial (but with chance 1/p)

