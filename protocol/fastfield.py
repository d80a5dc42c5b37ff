"""Fast linear algebra over GF(2^127 - 1) for many submissions at once.

Field elements travel as 16-byte big-endian strings (see :mod:`protocol.field`).  Read as
eight big-endian 16-bit limbs, a batch of them becomes a float64 matrix, and a product with a
matrix of public coefficients (also split into 16-bit limbs) is one BLAS call: every partial sum
of limb products is below 2^53 for up to 2^17 terms, so float64 is exact.  The 15 "diagonals"
(limb i of a times limb j of w lands at 2^(16(i+j))) are then carried and folded modulo the
Mersenne prime with int64 numpy operations.  This replaces Python big-integer arithmetic, which
was the bottleneck of validation (about 10x slower).

Only the prime 2^127 - 1 is supported here (the fold uses 2^128 = 2 mod p); callers with another
prime use the plain Python path.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

MERSENNE_127 = (1 << 127) - 1
LIMBS = 8  # 16-bit limbs per element
_MASK16 = 0xFFFF
#: rows per BLAS call: bounds the float64 copy of the batch (rows x K x 8 x 8 bytes)
BATCH_ROWS = 8192

U16 = npt.NDArray[np.uint16]


def supported(p: int) -> bool:
    return p == MERSENNE_127


def limbs_from_bytes(data: bytes | bytearray | memoryview | npt.NDArray[np.uint8], rows: int, width: int) -> U16:
    """(rows, width, 8) big-endian limbs, most significant first, viewing the bytes (no copy)."""
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
    # the only unreduced value below 2^127 is p itself: 0x7FFF FFFF ... FFFF
    is_p = (top == 0x7FFF) & (limbs[..., 1:] == _MASK16).all(axis=-1)
    return not bool(is_p.any())


def _weight_limbs(weights: Sequence[Sequence[int]], p: int) -> npt.NDArray[np.float64]:
    """(K, O) public coefficients -> (K*8, 15*O) float64 so that X_limbs @ Wl gives, for output o,
    the diagonal sums D[d] = sum_{a+b=d} sum_k x_{k,a} w_{k,o,b}, in big-endian limb order."""
    K, O = len(weights), len(weights[0]) if weights else 0
    wl = np.zeros((K, O, LIMBS), dtype=np.float64)
    for k in range(K):
        for o in range(O):
            v = weights[k][o] % p
            for b in range(LIMBS):
                wl[k, o, b] = (v >> (16 * (LIMBS - 1 - b))) & _MASK16
    out = np.zeros((K, LIMBS, 2 * LIMBS - 1, O), dtype=np.float64)
    for a in range(LIMBS):
        for b in range(LIMBS):
            # big-endian: limb a weighs 2^(16(7-a)); the product weighs 2^(16(14-a-b))
            out[:, a, a + b, :] += wl[:, :, b]
    return out.reshape(K * LIMBS, (2 * LIMBS - 1) * O)


def _reduce_diagonals(D: npt.NDArray[np.int64]) -> npt.NDArray[np.object_]:
    """D[..., d] (d = 0..14, big-endian: weight 2^(16(14-d))) -> Python ints mod 2^127-1."""
    shape = D.shape[:-1]
    # little-endian limbs with room for carries: value = sum L[i] 2^(16 i)
    L = np.zeros(shape + (18,), dtype=np.int64)
    L[..., :15] = D[..., ::-1]
    for _ in range(12):  # carry, then fold 2^(16 i) = 2 * 2^(16 (i - 8)) for i >= 8, until < 2^128
        for i in range(17):
            carry = L[..., i] >> 16
            L[..., i] &= _MASK16
            L[..., i + 1] += carry
        if not L[..., 8:].any():
            break
        hi = L[..., 8:].copy()
        L[..., 8:] = 0
        L[..., :10] += 2 * hi
    else:  # each fold shrinks the excess by about 2^127; 12 rounds is far more than needed
        raise ArithmeticError("limb reduction did not converge")
    u = L[..., :8].astype(np.uint64)
    lo = u[..., 0] | (u[..., 1] << np.uint64(16)) | (u[..., 2] << np.uint64(32)) | (u[..., 3] << np.uint64(48))
    hi64 = u[..., 4] | (u[..., 5] << np.uint64(16)) | (u[..., 6] << np.uint64(32)) | (u[..., 7] << np.uint64(48))
    flat = np.empty(lo.size, dtype=object)
    p = MERSENNE_127
    flat[:] = [((h << 64) | l_) % p for h, l_ in zip(hi64.ravel().tolist(), lo.ravel().tolist())]
    return flat.reshape(shape)


def matmul(X: U16, weights: Sequence[Sequence[int]], p: int = MERSENNE_127) -> npt.NDArray[np.object_]:
    """(rows, K, 8) limbs times a (K, O) matrix of public ints -> (rows, O) Python ints mod p.

    Exact: checked against Python integers in tests/test_fastfield.py.
    """
    if not supported(p):
        raise ValueError("fast path supports p = 2^127 - 1 only")
    rows, K, _ = X.shape
    O = len(weights[0]) if K else 0
    out = np.empty((rows, O), dtype=object)
    if rows == 0 or O == 0:
        return out
    if K > (1 << 17) // LIMBS:
        raise ValueError("too many terms for exact float64 accumulation")
    Wl = _weight_limbs(weights, p)
    for start in range(0, rows, BATCH_ROWS):
        block = X[start: start + BATCH_ROWS].reshape(-1, K * LIMBS).astype(np.float64)
        D = (block @ Wl).reshape(-1, 2 * LIMBS - 1, O)
        out[start: start + BATCH_ROWS] = _reduce_diagonals(np.rint(D).astype(np.int64).transpose(0, 2, 1))
    return out


def column_sums(X: U16, columns: Sequence[int], mask: npt.NDArray[np.bool_] | None = None,
                p: int = MERSENNE_127) -> list[int]:
    """Sum over the selected rows of the given columns, mod p, exactly (int64 limb sums)."""
    sel = X if mask is None else X[mask]
    out = []
    for c in columns:
        limb_sums = sel[:, c, :].astype(np.int64).sum(axis=0) if len(sel) else np.zeros(LIMBS, dtype=np.int64)
        out.append(sum(int(v) << (16 * (LIMBS - 1 - a)) for a, v in enumerate(limb_sums.tolist())) % p)
    return out


def ints_to_bytes(values: npt.NDArray[np.object_]) -> bytes:
    """Python ints below 2^128 -> concatenated 16-byte big-endian elements (row-major)."""
    return b"".join(int(v).to_bytes(16, "big") for v in values.ravel())
