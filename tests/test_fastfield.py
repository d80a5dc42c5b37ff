"""protocol.fastfield against Python integers: exact products and sums over 2^127 - 1."""

from __future__ import annotations

import secrets

import numpy as np
import pytest

from protocol.fastfield import MERSENNE_127 as P
from protocol.fastfield import below_p, column_sums, limbs_from_bytes, matmul


def _bytes(rows: list[list[int]]) -> bytes:
    return b"".join(v.to_bytes(16, "big") for r in rows for v in r)


@pytest.mark.parametrize("K,O", [(1, 1), (7, 3), (151, 7), (300, 5)])  # both ways of matmul_limbs
def test_matmul_is_exact_including_extremes(K: int, O: int) -> None:
    N = 300
    X = [[secrets.randbelow(P) for _ in range(K)] for _ in range(N)]
    X[0], X[1] = [P - 1] * K, [0] * K
    X[2] = [(1 << 127) - 2 - (secrets.randbelow(3) << 64) for _ in range(K)]
    W = [[secrets.randbelow(P) for _ in range(O)] for _ in range(K)]
    W[0] = [P - 1] * O
    got = matmul(limbs_from_bytes(_bytes(X), N, K), W)
    assert got.tolist() == [[sum(X[i][k] * W[k][o] for k in range(K)) % P for o in range(O)] for i in range(N)]


def test_batches_and_column_sums() -> None:
    import protocol.fastfield as ff

    N, K = 50, 4
    X = [[secrets.randbelow(P) for _ in range(K)] for _ in range(N)]
    L = limbs_from_bytes(_bytes(X), N, K)
    old, ff.BATCH_ROWS = ff.BATCH_ROWS, 7  # several BLAS calls, last one short
    try:
        got = matmul(L, [[1], [2], [3], [4]])
    finally:
        ff.BATCH_ROWS = old
    assert got[:, 0].tolist() == [(r[0] + 2 * r[1] + 3 * r[2] + 4 * r[3]) % P for r in X]
    mask = np.array([i % 3 == 0 for i in range(N)])
    assert column_sums(L, [1, 3], mask) == [sum(X[i][c] for i in range(N) if i % 3 == 0) % P for c in (1, 3)]


def test_wide_rows_are_exact_and_split_by_bytes() -> None:
    """Rows wider than the survey's widest share vector (about 49,400 elements) stay exact, and a
    batch whose float copy would exceed BATCH_BYTES is split into several BLAS calls."""
    import protocol.fastfield as ff

    N, K = 5, 60_000
    X = [[P - 1 - secrets.randbelow(1 << 64) for _ in range(K)] for _ in range(N)]
    W = [[P - 1 - k, (1 << 127) - 2] for k in range(K)]
    old, ff.BATCH_BYTES = ff.BATCH_BYTES, 2 * 8 * ff.LIMBS * K  # two rows per call
    try:
        got = matmul(limbs_from_bytes(_bytes(X), N, K), W)
    finally:
        ff.BATCH_BYTES = old
    assert got.tolist() == [[sum(X[i][k] * W[k][o] for k in range(K)) % P for o in range(2)] for i in range(N)]
    with pytest.raises(ValueError, match="too many terms"):
        ff.matmul_limbs(np.zeros((1, ff.MAX_TERMS + 1, ff.LIMBS), dtype=np.uint16), [[1]] * (ff.MAX_TERMS + 1))


def test_below_p_finds_unreduced_elements() -> None:
    ok = limbs_from_bytes(_bytes([[P - 1, 0, 5]]), 1, 3)
    assert below_p(ok)
    for bad in (P, P + 1, (1 << 128) - 1):
        assert not below_p(limbs_from_bytes(_bytes([[1, bad]]), 1, 2))


def test_wrong_buffer_size_is_refused() -> None:
    with pytest.raises(ValueError, match="wrong size"):
        limbs_from_bytes(b"\x00" * 30, 1, 2)


def test_limb_add_mul_and_conversions_are_exact() -> None:
    from protocol.fastfield import add, from_ints, is_zero, mul, sub, to_bytes, to_ints

    vals_a = [0, 1, P - 1, P - 2, 1 << 126, (1 << 127) - 2] + [secrets.randbelow(P) for _ in range(200)]
    vals_b = [P - 1, P - 1, P - 1, 2, 2, (1 << 127) - 2] + [secrets.randbelow(P) for _ in range(200)]
    A, B = from_ints(vals_a), from_ints(vals_b)
    assert to_ints(A).tolist() == vals_a
    assert to_ints(add(A, B)).tolist() == [(a + b) % P for a, b in zip(vals_a, vals_b)]
    assert to_ints(mul(A, B)).tolist() == [a * b % P for a, b in zip(vals_a, vals_b)]
    assert to_ints(sub(A, B)).tolist() == [(a - b) % P for a, b in zip(vals_a, vals_b)]
    assert to_ints(sub(B, A)).tolist() == [(b - a) % P for a, b in zip(vals_a, vals_b)]
    assert to_ints(sub(A, A)).tolist() == [0] * len(vals_a)
    assert is_zero(add(from_ints([1, 5]), from_ints([P - 1, 0]))).tolist() == [True, False]
    assert to_bytes(A) == b"".join(v.to_bytes(16, "big") for v in vals_a)


@pytest.mark.parametrize("p", [P, 2**61 - 1])
def test_decode_matrix_is_the_one_range_check(p: int) -> None:
    """Both paths (limbs for 2^127 - 1, Python ints otherwise) return the elements and refuse
    p itself, anything above, and a buffer of the wrong size."""
    from protocol.fastfield import decode_matrix, to_ints

    rows = [[0, 1, p - 1], [p // 2, 7, 123456789]]
    got = decode_matrix(_bytes(rows), 2, 3, p)
    values = to_ints(got) if got.dtype != np.object_ else got
    assert values.tolist() == rows
    for bad in (p, p + 1, (1 << 128) - 1):
        with pytest.raises(ValueError, match="not a reduced field element"):
            decode_matrix(_bytes([[0, bad, 1]]), 1, 3, p)
    with pytest.raises(ValueError, match="wrong size"):
        decode_matrix(_bytes(rows)[:-1], 2, 3, p)


def test_block_sparse_products_equal_the_dense_one() -> None:
    """blocks_of keeps each row block's non-zero columns; multiplying the blocks alone (both ways
    of matmul_limbs: a narrow and a wide block) gives the dense product, constants included."""
    from protocol.fastfield import Block, blocks_of, from_ints, matmul_limbs, to_ints

    N, K, O = 40, 300, 6
    X = [[secrets.randbelow(P) for _ in range(K)] for _ in range(N)]
    W = [[0] * O for _ in range(K)]
    for k in range(K):
        for o in ((0, 1, 2, 3, 4, 5) if k < 20 else (0, 5) if k < 30 else (0, 3)):  # rows 20..29 narrow
            W[k][o] = P - 1 - secrets.randbelow(1 << 100)
    blocks = blocks_of(W, [20, 30, 30, 1000])
    assert blocks == [Block(0, 20, (0, 1, 2, 3, 4, 5)), Block(20, 30, (0, 5)), Block(30, 300, (0, 3))]
    assert blocks_of([[0, 0], [5, 0]], [1]) == [Block(1, 2, (0,))]
    L = from_ints(X)
    const = [secrets.randbelow(P) for _ in range(O)]
    want = [[(sum(X[i][k] * W[k][o] for k in range(K)) + const[o]) % P for o in range(O)] for i in range(N)]
    assert to_ints(matmul_limbs(L, W, P, const, blocks)).tolist() == want
    assert to_ints(matmul_limbs(L, W, P, const)).tolist() == want


def test_small_integer_combinations_are_exact() -> None:
    from protocol.fastfield import combine_small, from_ints, to_ints

    n, N = 5, 200
    vals = [[secrets.randbelow(P) for _ in range(N)] for _ in range(n)]
    vals[0][:3] = [0, P - 1, (1 << 127) - 2]
    coeffs = [[3, -1, 0], [-(1 << 23), 10, 1], [0, 0, -5], [7, 1 << 23, -1], [1, -2, 2]]
    got = combine_small([from_ints(v) for v in vals], coeffs)
    assert got.shape == (N, 3, 8)
    assert to_ints(got).tolist() == [[sum(coeffs[i][o] * vals[i][r] for i in range(n)) % P for o in range(3)]
                                     for r in range(N)]
    with pytest.raises(ValueError, match="below 2\\^24"):
        combine_small([from_ints([1])], [[1 << 24]])
