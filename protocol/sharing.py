"""Shamir sharing of a batch of submissions straight into the bytes each node receives
(p = 2^127 - 1).

An element is two uint64 words, ``hi`` (bits 64..126, below 2^63) and ``lo`` (bits 0..63)
(:class:`Words`), so the sum of two elements never overflows a word and one fold (2^127 = 1 mod p)
brings it back below 2^127.  Node i (0-based) gets f(i + 1), f(0) the secret and its t other
coefficients uniform in [0, p), as :func:`protocol.field.share_vector` does with Python ints.
The n evaluations f(1), ..., f(n) are walked by forward differences: f(1) and the differences
Delta^j f(1) (each a combination of the coefficients with small non-negative integer weights)
are computed once, then every next point costs t additions.  For t = 1 that is three additions
for three nodes.  Shares are written as 16-byte big-endian elements (the wire's encoding, see
:mod:`protocol.field`) into one buffer per node, chunk by chunk so that the words stay in cache.

Randomness: the coefficients come from a ChaCha20 keystream under a fresh 256-bit key from
``os.urandom`` per call (:class:`KeyStream`), the construction of the kernel's own random number
generator, at a tenth of the cost of ``os.urandom`` itself for the 170 KB a complete survey's
record needs per coefficient (measured: 0.32 against 2.9-3.3 ns per byte on this machine).
Each word pair is masked to 127 bits and the one value equal to p is drawn again, so the
coefficients are uniform in [0, p).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import comb

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

P = (1 << 127) - 1
_M63 = np.uint64((1 << 63) - 1)
_M64 = np.uint64((1 << 64) - 1)
_SHIFT63 = np.uint64(63)
#: elements per chunk: a few arrays of this many words stay in the core's 2 MB L2 cache
CHUNK = 1 << 15

U64 = npt.NDArray[np.uint64]
U16 = npt.NDArray[np.uint16]


@dataclass(frozen=True)
class Words:
    """Field elements as two equally shaped uint64 arrays: value = hi * 2^64 + lo, hi < 2^63."""

    hi: U64
    lo: U64

    @staticmethod
    def of_ints(values: Sequence[int]) -> Words:
        """Python ints in [0, 2^127) (for tests and the few values that come as ints)."""
        if any(not 0 <= v < 1 << 127 for v in values):
            raise ValueError("element out of range")
        return Words(np.array([v >> 64 for v in values], dtype=np.uint64),
                     np.array([v & ((1 << 64) - 1) for v in values], dtype=np.uint64))

    def to_ints(self) -> list[int]:
        return [(int(h) << 64) | int(lo) for h, lo in zip(self.hi.ravel().tolist(), self.lo.ravel().tolist())]


def words_from_limbs(limbs: U16) -> Words:
    """(..., 8) big-endian 16-bit limbs (:mod:`protocol.fastfield`) -> words of shape (...)."""
    u = np.asarray(limbs, dtype=np.uint64)
    hi = (u[..., 0] << np.uint64(48)) | (u[..., 1] << np.uint64(32)) | (u[..., 2] << np.uint64(16)) | u[..., 3]
    lo = (u[..., 4] << np.uint64(48)) | (u[..., 5] << np.uint64(32)) | (u[..., 6] << np.uint64(16)) | u[..., 7]
    return Words(hi, lo)


# ------------------------------------------------------------------------------------------------
# Randomness


RandomBytes = Callable[[int], bytes]


class KeyStream:
    """A ChaCha20 keystream under a key of 32 bytes from ``os.urandom``, used by one sharing
    call and dropped with it (well below the cipher's 2^38-byte counter limit per key)."""

    def __init__(self) -> None:
        self._cipher = Cipher(algorithms.ChaCha20(os.urandom(32), bytes(16)), None).encryptor()
        self._zeros = np.zeros(0, dtype=np.uint8)

    def __call__(self, size: int) -> bytes:
        return self._cipher.update(self._zero_view(size))

    def fill(self, out: npt.NDArray[np.uint8]) -> None:
        """Overwrite ``out`` (contiguous bytes, 64 spare bytes at its end) with the next
        ``len(out) - 64`` keystream bytes."""
        self._cipher.update_into(self._zero_view(len(out) - 64), out.data)

    def _zero_view(self, size: int) -> memoryview:
        if len(self._zeros) < size:
            self._zeros = np.zeros(size, dtype=np.uint8)
        return self._zeros.data[:size]


def random_words(count: int, source: RandomBytes | None = None) -> Words:
    """``count`` uniform elements of [0, p): 127 bits of ``source`` (default: a fresh
    :class:`KeyStream`) each, and the value p (probability 2^-127) drawn again, never mapped."""
    draw = source or KeyStream()
    raw = np.frombuffer(draw(16 * count), dtype=np.uint64)
    lo, hi = raw[:count].copy(), raw[count:] & _M63
    _redraw_p(hi, lo, draw)
    return Words(hi, lo)


def _redraw_p(hi: U64, lo: U64, draw: RandomBytes) -> None:
    """Draw again, in place, every element equal to p."""
    while True:
        top = hi == _M63
        if not top.any():
            return
        at = np.flatnonzero(top & (lo == _M64))
        if not len(at):
            return
        fresh = np.frombuffer(draw(16 * len(at)), dtype=np.uint64)
        lo[at], hi[at] = fresh[: len(at)], fresh[len(at):] & _M63


# ------------------------------------------------------------------------------------------------
# Arithmetic on words


class _Scratch:
    """Reusable temporaries of one chunk size."""

    def __init__(self, size: int) -> None:
        self.carry = np.empty(size, dtype=bool)
        self.top = np.empty(size, dtype=np.uint64)

    def view(self, size: int) -> tuple[npt.NDArray[np.bool_], U64]:
        return self.carry[:size], self.top[:size]


def _add_into(ah: U64, al: U64, bh: U64, bl: U64, scratch: _Scratch) -> None:
    """(ah, al) += (bh, bl) mod p, below 2^127 afterwards (p itself may remain: see
    :func:`_canonical`).  Both below 2^127, so the sum is below 2^128 and no word overflows
    but the low one, whose carry is added to the high word.  Flat arrays."""
    carry, _ = scratch.view(len(al))
    np.add(al, bl, out=al)
    np.less(al, bl, out=carry)
    np.add(ah, bh, out=ah)
    np.add(ah, carry, out=ah, casting="unsafe")
    _fold(ah, al, scratch)


def _fold(hi: U64, lo: U64, scratch: _Scratch) -> None:
    """Fold bit 127 into bit 0 (2^127 = 1 mod p), in place: a value of at most 2^128 - 2 ends
    below 2^127."""
    carry, top = scratch.view(len(lo))
    np.right_shift(hi, _SHIFT63, out=top)
    np.bitwise_and(hi, _M63, out=hi)
    np.add(lo, top, out=lo)
    np.less(lo, top, out=carry)
    np.add(hi, carry, out=hi, casting="unsafe")


def _canonical(hi: U64, lo: U64) -> None:
    """Replace p (all 127 bits set) by 0, in place."""
    top = hi == _M63
    if top.any():
        at = top & (lo == _M64)
        hi[at], lo[at] = 0, 0


def _scaled(h: U64, lo: U64, m: int, scratch: _Scratch) -> tuple[U64, U64]:
    """m * (h, lo) mod p for a public integer m >= 1, by doubling and adding (new arrays)."""
    m %= P
    acc_h, acc_l = np.zeros_like(h), np.zeros_like(lo)
    dh, dl = h.copy(), lo.copy()
    while m:
        if m & 1:
            _add_into(acc_h, acc_l, dh, dl, scratch)
        m >>= 1
        if m:
            dh2, dl2 = dh.copy(), dl.copy()
            _add_into(dh, dl, dh2, dl2, scratch)
    return acc_h, acc_l


def difference_weights(t: int) -> list[list[int]]:
    """w[j][k] = Delta^j (x^k) at x = 1 for j, k in 0..t: Delta^j f(1) = sum_k w[j][k] c_k for
    f(x) = sum_k c_k x^k.  Non-negative integers, zero for k < j."""
    return [[sum((-1) ** (j - i) * comb(j, i) * (1 + i) ** k for i in range(j + 1)) for k in range(t + 1)]
            for j in range(t + 1)]


class _Evaluator:
    """f(1), f(2), ... for one chunk of elements: the t + 1 forward differences at the current
    point, advanced in place."""

    def __init__(self, secret_plus_c1: tuple[U64, U64], coeffs: Sequence[Words], scratch: _Scratch) -> None:
        """``secret_plus_c1`` (the secret plus the first coefficient, below 2^127) becomes the
        evaluator's (it is overwritten); ``coeffs`` are only read."""
        t = len(coeffs)
        terms = [Words(*secret_plus_c1), *coeffs]
        weights = difference_weights(t)
        self.scratch = scratch
        self.diffs: list[tuple[U64, U64]] = []
        for j in range(t + 1):
            acc: tuple[U64, U64] | None = None
            for k in range(j, t + 1):
                m = weights[j][k]
                if not m or (j, k) == (0, 1):  # f(1) = (secret + c1) + c2 + ... + ct
                    continue
                term = (terms[k].hi, terms[k].lo) if m == 1 else _scaled(terms[k].hi, terms[k].lo, m, scratch)
                if acc is None:
                    # the secret and scaled terms are owned; the last difference is never advanced
                    owned = k == 0 or m != 1 or j == t
                    acc = term if owned else (term[0].copy(), term[1].copy())
                else:
                    _add_into(*acc, *term, scratch)
            assert acc is not None  # weights[j][j] = j! > 0
            self.diffs.append(acc)

    def value(self) -> tuple[U64, U64]:
        """f at the current point, canonical (the arrays are the evaluator's: copy or use now)."""
        h, lo = self.diffs[0]
        _canonical(h, lo)
        return h, lo

    def advance(self) -> None:
        for j in range(len(self.diffs) - 1):
            _add_into(*self.diffs[j], *self.diffs[j + 1], self.scratch)


def share_words(secret: Words, coeffs: Sequence[Words], n: int) -> list[Words]:
    """f(1), ..., f(n) element-wise for f(x) = secret + sum_k coeffs[k - 1] x^k (coefficients
    reduced below p); canonical elements, shaped like ``secret``."""
    if any(c.hi.shape != secret.hi.shape for c in coeffs):
        raise ValueError("coefficients must be shaped like the secret")
    flat = [Words(np.ascontiguousarray(w.hi, dtype=np.uint64).ravel(), np.ascontiguousarray(w.lo, dtype=np.uint64).ravel())
            for w in (secret, *coeffs)]
    scratch = _Scratch(flat[0].hi.size)
    start = flat[0].hi.copy(), flat[0].lo.copy()
    if coeffs:
        _add_into(*start, flat[1].hi, flat[1].lo, scratch)
    ev = _Evaluator(start, flat[1:], scratch)
    out = []
    for i in range(n):
        if i:
            ev.advance()
        h, lo = ev.value()
        out.append(Words(h.copy().reshape(secret.hi.shape), lo.copy().reshape(secret.hi.shape)))
    return out


# ------------------------------------------------------------------------------------------------
# A batch of submissions into the nodes' bytes


@dataclass(frozen=True)
class Submissions:
    """N submissions of width R + T: the record part as non-negative int64 (N, R) and the
    proof's tail as words (N, T)."""

    records: npt.NDArray[np.int64]
    tail: Words

    @property
    def rows(self) -> int:
        return int(self.records.shape[0])

    @property
    def width(self) -> int:
        return int(self.records.shape[1] + self.tail.hi.shape[1])

    def plus(self, r0: int, r1: int, c0: int, c1: int, c: Words, scratch: _Scratch) -> tuple[U64, U64]:
        """Elements [r0:r1, c0:c1] plus ``c`` (flat, below p) mod p, as fresh flat (hi, lo) below
        2^127.  The record part's high word is 0, so its sum is three passes; the fold is needed
        only where c's high word is 2^63 - 1 (almost never)."""
        R = self.records.shape[1]
        rows, cols = r1 - r0, c1 - c0
        ch, cl = c.hi.reshape(rows, cols), c.lo.reshape(rows, cols)
        hi, lo = np.empty((rows, cols), dtype=np.uint64), np.empty((rows, cols), dtype=np.uint64)
        mid = min(max(R, c0), c1) - c0  # the record part's columns in this chunk
        if mid:
            rec = self.records[r0:r1, c0: c0 + mid].view(np.uint64)
            np.add(cl[:, :mid], rec, out=lo[:, :mid])
            np.add(ch[:, :mid], np.less(lo[:, :mid], rec), out=hi[:, :mid], casting="unsafe")
        if mid < cols:
            a, b = c0 + mid - R, c1 - R
            th, tl = self.tail.hi[r0:r1, a:b].flatten(), self.tail.lo[r0:r1, a:b].flatten()  # copies
            _add_into(th, tl, ch[:, mid:].ravel(), cl[:, mid:].ravel(), _Scratch(th.size))
            hi[:, mid:], lo[:, mid:] = th.reshape(rows, -1), tl.reshape(rows, -1)
        flat_hi, flat_lo = hi.ravel(), lo.ravel()
        if mid and int(hi[:, :mid].max()) >> 63:
            _fold(flat_hi, flat_lo, scratch)
        return flat_hi, flat_lo


def _chunks(rows: int, width: int) -> list[tuple[int, int, int, int]]:
    """(r0, r1, c0, c1) blocks of about :data:`CHUNK` elements covering rows x width."""
    if width >= CHUNK:
        return [(r, r + 1, c, min(width, c + CHUNK)) for r in range(rows) for c in range(0, width, CHUNK)]
    step = CHUNK // width
    return [(r, min(rows, r + step), 0, width) for r in range(0, rows, step)]


def _fresh_coefficients(stream: KeyStream, raw: npt.NDArray[np.uint8], t: int, size: int) -> list[Words]:
    """t flat arrays of ``size`` uniform elements below p, in ``raw`` (overwritten by the next
    chunk's)."""
    stream.fill(raw[: 16 * t * size + 64])
    words = raw[: 16 * t * size].view(np.uint64)
    out = []
    for k in range(t):
        lo, hi = words[2 * k * size: (2 * k + 1) * size], words[(2 * k + 1) * size: (2 * k + 2) * size]
        np.bitwise_and(hi, _M63, out=hi)
        _redraw_p(hi, lo, stream)
        out.append(Words(hi, lo))
    return out


def share_submissions(subs: Submissions, n: int, t: int, outs: Sequence[npt.NDArray[np.uint8]],
                      coeffs: Sequence[Words] | None = None) -> None:
    """Write node i's shares of every submission into ``outs[i]`` (N x width 16-byte big-endian
    elements, row-major: exactly ``16 * N * width`` bytes).  Coefficients are fresh
    (:class:`KeyStream`) unless ``coeffs`` (t arrays of words shaped (N, width), below p) fixes
    them for tests."""
    N, W = subs.rows, subs.width
    if not 1 <= t < n:
        raise ValueError("sharing needs 1 <= t < n")
    if len(outs) != n or any(o.size != 16 * N * W for o in outs):
        raise ValueError("one output buffer of 16 x rows x width bytes per node")
    if subs.records.size and int(subs.records.min()) < 0:
        raise ValueError("record entries must be non-negative")
    if coeffs is not None and (len(coeffs) != t or any(c.hi.shape != (N, W) for c in coeffs)):
        raise ValueError("t coefficient arrays shaped (rows, width)")
    views = [o.view(">u8").reshape(N, W, 2) for o in outs]
    stream = KeyStream() if coeffs is None else None
    raw = np.empty(16 * t * min(CHUNK, N * W) + 64, dtype=np.uint8)
    scratch = _Scratch(CHUNK)
    for r0, r1, c0, c1 in _chunks(N, W):
        if stream is not None:
            cs = _fresh_coefficients(stream, raw, t, (r1 - r0) * (c1 - c0))
        else:
            cs = [Words(np.ascontiguousarray(c.hi[r0:r1, c0:c1]).ravel(), np.ascontiguousarray(c.lo[r0:r1, c0:c1]).ravel())
                  for c in coeffs or ()]
        ev = _Evaluator(subs.plus(r0, r1, c0, c1, cs[0], scratch), cs, scratch)
        for i, view in enumerate(views):
            if i:
                ev.advance()
            h, lo = ev.value()
            view[r0:r1, c0:c1, 0] = h.reshape(r1 - r0, c1 - c0)
            view[r0:r1, c0:c1, 1] = lo.reshape(r1 - r0, c1 - c0)
