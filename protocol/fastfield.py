"""Fast linear algebra over GF(2^127 - 1) for many submissions at once.

Field elements travel as 16-byte big-endian strings (see :mod:`protocol.field`).  Read as
eight big-endian 16-bit limbs, a batch of them becomes a float64 matrix, and its product with a
matrix of public coefficients (also split into 16-bit limbs) is one BLAS call per batch of rows
(:func:`matmul_limbs`): every partial sum is an integer below 2^53 for rows of up to 2^17
elements, so float64 is exact.  The 15 "diagonals" (limb i of a times limb j of w lands at
2^(16(i+j))) are then carried and folded modulo the Mersenne prime with int64 numpy operations,
and results stay in limbs (:func:`add`, :func:`sub`, :func:`mul`, :func:`is_zero`,
:func:`to_bytes`).  Why: Python big-integer arithmetic made validation the bottleneck of compute
(100,000 gender-only submissions of 151 elements, 3 parties: 11.0 s with Python integers against
4.6 s in limbs, ``scripts/bench_validation.py``).

Only the prime 2^127 - 1 is supported here (the fold uses 2^128 = 2 mod p); callers with another
prime use the plain Python path.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

MERSENNE_127 = (1 << 127) - 1
LIMBS = 8  # 16-bit limbs per element
_MASK16 = 0xFFFF
#: rows per BLAS call: bounds the float64 copy of the batch (rows x K x 8 x 8 bytes) ...
BATCH_ROWS = 65536
#: ... and so does this, for wide rows (K elements each)
BATCH_BYTES = 64 * 1024 * 1024
#: terms per output of :func:`matmul_limbs`: the diagonals, sums of at most 8 K limb products
#: below 2^32, stay exact in float64 (below 2^53)
MAX_TERMS = 1 << 17

U16 = npt.NDArray[np.uint16]


def supported(p: int) -> bool:
    return p == MERSENNE_127


def limbs_from_bytes(data: bytes | bytearray | memoryview | npt.NDArray[Any], rows: int, width: int) -> U16:
    """(rows, width, 8) big-endian limbs, most significant first, viewing the bytes (no copy)."""
    if not isinstance(data, np.ndarray) and len(data) != rows * width * 2 * LIMBS:
        raise ValueError("element buffer has the wrong size")
    arr = np.frombuffer(data, dtype=">u2") if not isinstance(data, np.ndarray) else data.view(">u2")
    if arr.size != rows * width * LIMBS:
        raise ValueError("element buffer has the wrong size")
    return arr.reshape(rows, width, LIMBS)


def below_p(limbs: U16) -> bool:
    """True when every element (last axis = limbs) is a reduced field element (< 2^127 - 1)."""
    if not limbs.size:
        return True
    top = limbs[..., 0]
    if (top > 0x7FFF).any():
        return False
    # the only unreduced value below 2^127 is p itself: 0x7FFF FFFF ... FFFF (check the rare
    # candidates only: this runs over every element of the share matrix)
    cand = top == 0x7FFF
    if not cand.any():
        return True
    return not bool((limbs[cand][:, 1:] == _MASK16).all(axis=-1).any())


def _reduce_le(L: npt.NDArray[np.int64]) -> U16:
    """Little-endian 16-bit-limb sums (..., k), k <= 18, each below 2^58 -> canonical elements mod
    2^127 - 1 as (..., 8) big-endian limbs (native uint16, index 0 most significant)."""
    shape = L.shape[:-1]
    # Limb-major layout: every step below is one pass over contiguous memory (several times
    # faster than striding through the last axis).
    A = np.zeros((max(L.shape[-1], 8),) + shape, dtype=np.int64)
    A[: L.shape[-1]] = np.moveaxis(L, -1, 0)
    # Fold limbs 8.. down first (2^(16 i) = 2 * 2^(16 (i - 8)) mod p): two folds leave 8 limbs,
    # each below 2^58 + 2^59 + 2^60 < 2^61, inside int64.
    while len(A) > 8:
        hi = A[8:]
        A = A[:8].copy() if len(hi) <= 8 else np.concatenate([A[:8], np.zeros((len(hi) - 8,) + shape, np.int64)])
        A[: len(hi)] += 2 * hi
    # Carry passes; the carry out of bit 127 re-enters at bit 0 (2^127 = 1 mod p).  Each pass
    # shrinks the excess by about 16 bits, so a handful of passes reach 16-bit limbs.
    for _ in range(8):
        for i in range(7):
            A[i + 1] += A[i] >> 16
            A[i] &= _MASK16
        A[0] += A[7] >> 15
        A[7] &= 0x7FFF
        if not (A[0] >> 16).any():
            break
    else:
        raise ArithmeticError("limb reduction did not converge")
    is_p = (A[7] == 0x7FFF) & (A[:7] == _MASK16).all(axis=0)
    A[:, is_p] = 0  # p itself is 0
    return np.ascontiguousarray(np.moveaxis(A[::-1], 0, -1).astype(np.uint16))


def decode_matrix(data: bytes | bytearray | memoryview | npt.NDArray[np.void], rows: int, cols: int,
                  p: int) -> U16 | npt.NDArray[np.object_]:
    """(rows, cols) 16-byte big-endian field elements: limbs for p = 2^127 - 1, else an object
    array of Python ints.  The one range check of the project: raises ValueError on a wrong size
    or on any element that is not reduced (>= p)."""
    if isinstance(data, np.ndarray):
        data = data if supported(p) else data.tobytes()
    if supported(p):
        limbs = limbs_from_bytes(data if isinstance(data, np.ndarray) else bytearray(data), rows, cols)
        if not below_p(limbs):
            raise ValueError("value is not a reduced field element")
        return limbs
    raw = bytes(data)
    if len(raw) != 16 * rows * cols:
        raise ValueError("element buffer has the wrong size")
    vals = [int.from_bytes(raw[k: k + 16], "big") for k in range(0, len(raw), 16)]
    if any(v >= p for v in vals):
        raise ValueError("value is not a reduced field element")
    out = np.empty((rows, cols), dtype=object)
    if vals:
        out[:, :] = np.array(vals, dtype=object).reshape(rows, cols)
    return out


def _to_le(A: U16) -> npt.NDArray[np.int64]:
    return np.asarray(A[..., ::-1], dtype=np.int64)


def to_ints(A: U16) -> npt.NDArray[np.object_]:
    """(..., 8) big-endian limbs -> Python ints (for the few values that need them)."""
    u = np.asarray(A, dtype=np.uint64)
    hi = (u[..., 0] << np.uint64(48)) | (u[..., 1] << np.uint64(32)) | (u[..., 2] << np.uint64(16)) | u[..., 3]
    lo = (u[..., 4] << np.uint64(48)) | (u[..., 5] << np.uint64(32)) | (u[..., 6] << np.uint64(16)) | u[..., 7]
    flat = np.empty(hi.size, dtype=object)
    flat[:] = [(h << 64) | l_ for h, l_ in zip(hi.ravel().tolist(), lo.ravel().tolist())]
    return flat.reshape(hi.shape)


def from_ints(values: Sequence[int] | npt.NDArray[np.object_], p: int = MERSENNE_127) -> U16:
    """Python ints (any shape) -> reduced big-endian limbs (..., 8)."""
    arr = np.asarray(values, dtype=object)
    data = b"".join((int(v) % p).to_bytes(16, "big") for v in arr.ravel())
    return np.frombuffer(data, dtype=">u2").astype(np.uint16).reshape(arr.shape + (LIMBS,))


def to_bytes(A: U16) -> bytes:
    """Limbs -> concatenated 16-byte big-endian elements (row-major)."""
    return np.ascontiguousarray(A, dtype=">u2").tobytes()


def add(A: U16, B: U16) -> U16:
    """Element-wise A + B mod p (B broadcasts)."""
    return _reduce_le(_to_le(A) + _to_le(B))


#: p's limbs, little-endian: each is at least the same limb of any reduced element, so p - B
#: needs no borrow
_P_LE = np.array([_MASK16] * (LIMBS - 1) + [0x7FFF], dtype=np.int64)


def neg_le(A: U16) -> npt.NDArray[np.int64]:
    """-A as little-endian limbs before reduction (p - A limb by limb: non-negative, below 2^16)."""
    return _P_LE - _to_le(A)


def sub(A: U16, B: U16) -> U16:
    """Element-wise A - B mod p (B broadcasts; both reduced)."""
    return _reduce_le(_to_le(A) + neg_le(B))


def mul(A: U16, B: U16) -> U16:
    """Element-wise A * B mod p (B broadcasts): 64 limb products per element, int64, exact."""
    return _reduce_le(mul_le(A, B))


def mul_le(A: U16, B: U16) -> npt.NDArray[np.int64]:
    """A * B before reduction: (..., 15) little-endian limb sums, each below 2^35 (sums of such
    arrays can be reduced once: :func:`reduce_le`)."""
    shape = np.broadcast_shapes(np.asarray(A).shape[:-1], np.asarray(B).shape[:-1])
    # limb-major (8, ...) operands so that each of the 64 products is a contiguous pass
    a = np.ascontiguousarray(np.moveaxis(np.broadcast_to(_to_le(A), shape + (LIMBS,)), -1, 0))
    b = np.ascontiguousarray(np.moveaxis(np.broadcast_to(_to_le(B), shape + (LIMBS,)), -1, 0))
    P = np.zeros((2 * LIMBS - 1,) + shape, dtype=np.int64)
    for i in range(LIMBS):
        for j in range(LIMBS):
            P[i + j] += a[i] * b[j]
    return np.moveaxis(P, 0, -1)


def reduce_le(L: npt.NDArray[np.int64]) -> U16:
    """Reduce little-endian limb sums (..., k <= 18), each below 2^58, to canonical limbs."""
    return _reduce_le(L)


def pad_le(L: npt.NDArray[np.int64], k: int) -> npt.NDArray[np.int64]:
    """Little-endian limb sums widened to k limbs (zeros on top)."""
    out = np.zeros(L.shape[:-1] + (k,), dtype=np.int64)
    out[..., : L.shape[-1]] = L
    return out


def scale(A: U16, c: int) -> U16:
    """A * c mod p for one public constant c (limb products stay exact: below 2^50)."""
    c %= MERSENNE_127
    if c < (1 << 32):
        return _reduce_le(_to_le(A) * c)
    return mul(A, from_ints(np.full(np.asarray(A).shape[:-1], c, dtype=object)))


def is_zero(A: U16) -> npt.NDArray[np.bool_]:
    return np.asarray(~np.asarray(A).any(axis=-1), dtype=bool)


@dataclass(frozen=True)
class Block:
    """Rows ``start:stop`` of a coefficient matrix, whose non-zero entries lie in ``columns``: a
    product with a block-sparse matrix multiplies each block alone (:func:`matmul_limbs`)."""

    start: int
    stop: int
    columns: tuple[int, ...]


def blocks_of(weights: Sequence[Sequence[int]], cuts: Sequence[int]) -> list[Block]:
    """``weights`` cut into row blocks at ``cuts``, each keeping its non-zero columns (a block
    without any is left out)."""
    K, O = len(weights), len(weights[0]) if weights else 0
    edges = [0] + sorted(c for c in set(cuts) if 0 < c < K) + [K]
    out = []
    for lo, hi in zip(edges, edges[1:]):
        cols = tuple(o for o in range(O) if any(weights[k][o] for k in range(lo, hi)))
        if cols:
            out.append(Block(lo, hi, cols))
    return out


def matmul_limbs(X: U16, weights: Sequence[Sequence[int]], p: int = MERSENNE_127,
                 const: Sequence[int] | None = None, blocks: Sequence[Block] | None = None) -> U16:
    """(rows, K, 8) limbs times a (K, O) matrix of public ints, plus ``const`` (O) if given ->
    (rows, O, 8) reduced limbs; with ``blocks`` (:func:`blocks_of`) only those parts of the
    matrix are multiplied.  Per batch of rows and block, one float64 product gives the 15 limb
    diagonals (limb a of x times limb b of w weighs 2^(16 (14 - a - b))), every value an integer
    below 8 K 2^32 <= 2^52, so exact:

    - few terms (K < :data:`WIDE`): (rows, K x 8) times the weights spread over the diagonals
      (K x 8, 15 x O): the diagonals come straight out of the product;
    - many terms: (rows x 8 limbs a, K) times (K, O x 8 limbs b), and the diagonals are eight
      shifted additions: half the arithmetic, and K x O x 8 weights instead of K x 120 x O.
    """
    if not supported(p):
        raise ValueError("fast path supports p = 2^127 - 1 only")
    rows, K, _ = X.shape
    O = len(weights[0]) if K else 0
    out = np.zeros((rows, O, LIMBS), dtype=np.uint16)
    if rows == 0 or O == 0:
        return out
    if K > MAX_TERMS:
        raise ValueError("too many terms for exact float64 accumulation")
    plans = [_BlockProduct(b, weights, p) for b in (blocks if blocks is not None else [Block(0, K, tuple(range(O)))])
             ]
    whole = len(plans) == 1 and plans[0].columns == tuple(range(O))
    c_le = _to_le(from_ints(list(const), p)) if const is not None else None  # (O, 8)
    step = max(1, min(BATCH_ROWS, BATCH_BYTES // (8 * LIMBS * K)))
    for start in range(0, rows, step):
        part = X[start: start + step]
        if whole:
            le = plans[0].diagonals(part)
        else:
            le = np.zeros((len(part), O, 2 * LIMBS - 1), dtype=np.int64)
            for plan in plans:
                le[:, plan.columns] += plan.diagonals(part)
        if c_le is not None:
            le[..., :LIMBS] += c_le
        out[start: start + len(part)] = _reduce_le(le)
    return out


#: :func:`matmul_limbs` switches to limb rows from this many terms on (measured crossover)
WIDE = 256


class _BlockProduct:
    """One block of :func:`matmul_limbs`: its weights laid out for the product, and a float
    buffer reused across batches of rows (no page faults per batch)."""

    def __init__(self, block: Block, weights: Sequence[Sequence[int]], p: int) -> None:
        self.start, self.stop, self.columns = block.start, block.stop, block.columns
        sub = [[weights[k][o] for o in block.columns] for k in range(block.start, block.stop)]
        self.K, self.O = block.stop - block.start, len(block.columns)
        self.wide = self.K >= WIDE
        self.Wl = _limb_rows_weights(sub, p) if self.wide else _diagonal_weights(sub, p)
        self.buf = np.empty((0, LIMBS * self.K), dtype=np.float64)

    def diagonals(self, part: U16) -> npt.NDArray[np.int64]:
        """(r, O_block, 15) little-endian limb diagonals of this block's product with ``part``."""
        r, K, O = len(part), self.K, self.O
        if len(self.buf) < r:
            self.buf = np.empty((r, LIMBS * K), dtype=np.float64)
        cols = part[:, self.start: self.stop]
        if self.wide:
            block = self.buf[:r].reshape(r, LIMBS, K)
            np.copyto(block, cols.transpose(0, 2, 1), casting="unsafe")
            prod = (block.reshape(r * LIMBS, K) @ self.Wl).reshape(r, LIMBS, O, LIMBS)
            diag = np.zeros((r, O, 2 * LIMBS - 1), dtype=np.float64)
            for a in range(LIMBS):  # limb a (big-endian) times b lands at little-endian 14 - a - b
                diag[:, :, LIMBS - 1 - a: 2 * LIMBS - 1 - a] += prod[:, a]
            return diag.astype(np.int64)  # exact integers: no rounding needed
        flat = self.buf[:r]
        np.copyto(flat.reshape(r, K, LIMBS), cols, casting="unsafe")
        return (flat @ self.Wl).reshape(r, 2 * LIMBS - 1, O)[:, ::-1, :].astype(np.int64).transpose(0, 2, 1)


def _diagonal_weights(weights: Sequence[Sequence[int]], p: int) -> npt.NDArray[np.float64]:
    """(K, O) public coefficients -> (K x 8, 15 x O) so that X_limbs @ W gives, for output o, the
    diagonal sums D[d] = sum_{a+b=d} sum_k x_{k,a} w_{k,o,b} (big-endian limb order)."""
    K, O = len(weights), len(weights[0]) if weights else 0
    wl = weight_limbs(weights, p)  # (K, O, 8)
    out = np.zeros((K, LIMBS, 2 * LIMBS - 1, O), dtype=np.float64)
    for a in range(LIMBS):
        for b in range(LIMBS):
            out[:, a, a + b, :] += wl[:, :, b]
    return out.reshape(K * LIMBS, (2 * LIMBS - 1) * O)


def _limb_rows_weights(weights: Sequence[Sequence[int]], p: int) -> npt.NDArray[np.float64]:
    """(K, O) public coefficients -> (K, O x 8), each output's limbs least significant first (so
    that every diagonal of :func:`matmul_limbs` is a contiguous slice)."""
    K, O = len(weights), len(weights[0]) if weights else 0
    return np.ascontiguousarray(weight_limbs(weights, p)[:, :, ::-1]).reshape(K, O * LIMBS)


def combine_small(parts: Sequence[U16], coeffs: Sequence[Sequence[int]]) -> U16:
    """sum_i coeffs[i][o] * parts[i] for each output o: ``parts`` are n arrays of the same shape
    (..., 8), ``coeffs`` an (n, O) matrix of small signed integers (|c| < 2^24) -> (..., O, 8)
    reduced limbs.  Pure int64 limb arithmetic (a negative coefficient multiplies p - part), so
    no float products: what opening degree-t sharings needs, whose Lagrange coefficients at
    integer points are small integers."""
    if any(abs(c) >= (1 << 24) for row in coeffs for c in row):
        raise ValueError("combine_small takes coefficients below 2^24 in absolute value")
    shape = np.asarray(parts[0]).shape[:-1]
    O = len(coeffs[0]) if coeffs else 0
    out = np.zeros(shape + (O, LIMBS), dtype=np.uint16)
    flat = [np.asarray(x).reshape(-1, LIMBS) for x in parts]
    view = out.reshape(-1, O, LIMBS)
    for start in range(0, len(flat[0]) if flat else 0, BATCH_ROWS):
        le = [_to_le(x[start: start + BATCH_ROWS]) for x in flat]
        neg = [_P_LE - v for v in le]
        for o in range(O):
            acc = np.zeros_like(le[0])
            for i, row in enumerate(coeffs):  # every limb sum stays below n 2^40
                c = row[o]
                if c:
                    acc += (le[i] if c > 0 else neg[i]) * abs(c)
            view[start: start + BATCH_ROWS, o] = _reduce_le(acc)
    return out


def matmul(X: U16, weights: Sequence[Sequence[int]], p: int = MERSENNE_127) -> npt.NDArray[np.object_]:
    """(rows, K, 8) limbs times a (K, O) matrix of public ints -> (rows, O) Python ints mod p.

    Exact: checked against Python integers in tests/test_fastfield.py.
    """
    return to_ints(matmul_limbs(X, weights, p))


def column_sums(X: U16, columns: Sequence[int], mask: npt.NDArray[np.bool_] | None = None,
                p: int = MERSENNE_127) -> list[int]:
    """Sum over the selected rows of the given columns, mod p, exactly (int64 limb sums)."""
    out = []
    for c in columns:
        col = X[:, c, :] if mask is None else X[:, c, :][mask]
        limb_sums = col.astype(np.int64).sum(axis=0) if len(col) else np.zeros(LIMBS, dtype=np.int64)
        out.append(sum(int(v) << (16 * (LIMBS - 1 - a)) for a, v in enumerate(limb_sums.tolist())) % p)
    return out


def ints_to_bytes(values: npt.NDArray[np.object_]) -> bytes:
    """Python ints below 2^128 -> concatenated 16-byte big-endian elements (row-major)."""
    return b"".join(int(v).to_bytes(16, "big") for v in values.ravel())


def from_small(values: npt.NDArray[np.int64]) -> U16:
    """Non-negative int64 values (any shape) -> limbs (..., 8); exact, no Python ints."""
    v = np.asarray(values, dtype=np.int64)
    if v.size and int(v.min()) < 0:
        raise ValueError("from_small takes non-negative values")
    out = np.zeros(v.shape + (LIMBS,), dtype=np.uint16)
    u = v.astype(np.uint64)
    for k in range(4):  # the low 64 bits are the last four limbs
        out[..., LIMBS - 1 - k] = ((u >> np.uint64(16 * k)) & np.uint64(_MASK16)).astype(np.uint16)
    return out


def random_elements(shape: tuple[int, ...]) -> U16:
    """Uniform field elements (p = 2^127 - 1) as limbs, from os.urandom: 127 random bits each;
    the one value equal to p (probability 2^-127) is drawn again."""
    count = int(np.prod(shape, dtype=np.int64))
    raw = np.frombuffer(os.urandom(16 * count), dtype=">u2").astype(np.uint16).reshape(-1, LIMBS)
    raw[:, 0] &= 0x7FFF
    while True:
        is_p = (raw[:, 0] == 0x7FFF) & (raw[:, 1:] == _MASK16).all(axis=-1)
        if not is_p.any():
            return raw.reshape(tuple(shape) + (LIMBS,))
        fresh = np.frombuffer(os.urandom(16 * int(is_p.sum())), dtype=">u2").astype(np.uint16).reshape(-1, LIMBS)
        fresh[:, 0] &= 0x7FFF
        raw[is_p] = fresh


def shamir_shares(X: U16, n: int, t: int) -> list[U16]:
    """Shamir shares of every element of X (limbs): node i (0-based) gets f(i + 1) where
    f(0) = X and the t other coefficients are uniform (os.urandom), as protocol.field does for
    Python ints.  Returns n arrays shaped like X."""
    coeffs = [random_elements(X.shape[:-1]) for _ in range(t)]
    small = all(pow(i + 1, k) < (1 << 32) for i in range(n) for k in range(1, t + 1))
    x_le, c_le = _to_le(X), [_to_le(c) for c in coeffs]
    out = []
    for i in range(n):
        x = i + 1
        if small:  # one reduction per node: every limb sum stays below 2^16 + t * 2^48
            acc = x_le.copy()
            for k, c in enumerate(c_le, 1):
                acc += c * pow(x, k)
            out.append(_reduce_le(acc))
            continue
        share = np.asarray(X, dtype=np.uint16)
        for k, cc in enumerate(coeffs, 1):
            share = add(share, scale(cc, pow(x, k, MERSENNE_127)))
        out.append(share)
    return out


def weight_limbs(weights: Sequence[Sequence[int]], p: int = MERSENNE_127) -> npt.NDArray[np.float64]:
    """(K, O) public field elements -> (K, O, 8) big-endian 16-bit limbs as float64 (for
    :func:`matmul_small`; compute once per weight matrix)."""
    w = from_ints(np.array([[int(v) % p for v in row] for row in weights], dtype=object).reshape(
        len(weights), len(weights[0]) if weights else 0), p)
    return w.astype(np.float64)


def matmul_small(S: npt.NDArray[np.int64], Wl: npt.NDArray[np.float64]) -> U16:
    """(N, K) small non-negative integers (below 2^32) times public field elements given as
    :func:`weight_limbs` (K, O, 8) -> (N, O, 8) reduced limbs.  Two float64 products (low and
    high 16 bits of S); every entry stays below K * 2^32 < 2^53, so the sums are exact."""
    return _reduce_le(matmul_small_le(S, Wl))


def matmul_small_le(S: npt.NDArray[np.int64], Wl: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """:func:`matmul_small` before reduction: (N, O, 9) little-endian limb sums below 2^54."""
    S = np.asarray(S, dtype=np.int64)
    N, K = S.shape
    O = Wl.shape[1]
    if K > (1 << 20):
        raise ValueError("too many terms for exact float64 accumulation")
    if S.size and (int(S.min()) < 0 or int(S.max()) >= (1 << 32)):
        raise ValueError("matmul_small takes integers in [0, 2^32)")
    flat = Wl.reshape(K, O * LIMBS)
    lo = ((S & _MASK16).astype(np.float64) @ flat).reshape(N, O, LIMBS)
    hi = ((S >> 16).astype(np.float64) @ flat).reshape(N, O, LIMBS)
    le = np.zeros((N, O, LIMBS + 1), dtype=np.int64)
    le[..., :LIMBS] += np.rint(lo[..., ::-1]).astype(np.int64)
    le[..., 1:] += np.rint(hi[..., ::-1]).astype(np.int64)
    return le
