"""Validity of submissions, proved by the contributor and checked by the nodes on Shamir shares.

A record (:mod:`protocol.encoding`, K cells, B bands, L offset bits) holds the one-hot
(cell, band) indicators H, the salary-by-cell entries P and Q, and the bits d1, d2 of the salary's
offset inside its band.  With ``s = sum e_b H[c, b] + sum 2^j d1_j`` and ``ind_c = sum_b H[c, b]``
it is *valid* when

- one-hot:  H (H - 1) = 0 for all K*B entries, and sum H = 1;
- range:    d (d - 1) = 0 for all 2L bits, and sum 2^j d1_j + sum 2^j d2_j = sum_{c,b} width_b H[c, b]
            (so e_b <= s <= hi_b for the chosen band b, hence 0 <= s <= max);
- product:  P_c = s * ind_c and Q_c = s * P_c for every cell c.

These are M = K*B + 2L + 2K multiplications ("gates"): H * H, d * d, s * ind_c and s * P_c; M is
also the record's width W.  The contributor appends a *fully linear proof* (Boneh, Boyle,
Corrigan-Gibbs, Gilboa, Ishai, CRYPTO 2019; the construction behind Prio3) and shares the whole
vector like the record:

    [record (W)] [m] [u0] [v0] [h(0) .. h(2M)]

with m, u0, v0 uniformly random.  f and g are the polynomials of degree M through (0, u0),
(k, left input of gate k) and (0, v0), (k, right input of gate k) for k = 1..M, and h = f * g is
given by its values at 0..2M.  The gate outputs the constraints use are h(k), k = 1..M.

With a random point r and random coefficients drawn jointly by the nodes *after* the submission
set is frozen, each node computes seven **linear** functions of its share vector (so every
opened value is a degree-t sharing: detectable with n >= 2t+1 shares, correctable with n >= 3t+1):

    Y = sum_k sigma_k x_k           consistency of all shares (m makes Y uniformly random)
    F = f(r), G = g(r), H = h(r)    the proof: H = F G, else some h(k) is not the gate output
    V_one-hot, V_range, V_product   random combinations of each group's constraints, with h(k)
                                    standing for the products: zero for a valid record

A valid record opens to a uniformly random (Y, F, G), H = F G and three zeros: nothing else.
An invalid one passes with probability at most (2M + 1)/p for the proof plus (constraints)/p per
group — below 2^-110 for p = 2^127 - 1 and M <= 20,000.

Plain numpy/Python arithmetic, shared by the node's MPC program, the contributor and the tests;
no MPC runtime.  The node's hot path uses :mod:`protocol.fastfield` for the products.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from . import fastfield
from .encoding import Record, Scheme, encode_record
from .field import lagrange_coefficients, lagrange_consecutive
from .labels import Label


class Opening(IntEnum):
    """The seven opened linear functions of a submission, by their column in the output of
    :func:`local_openings` (and of :func:`query`'s coefficient matrix)."""

    CONSISTENCY = 0  # Y = sum_k sigma_k x_k
    F = 1  # f(r)
    G = 2  # g(r)
    H = 3  # h(r)
    ONE_HOT = 4  # random combination of the one-hot constraints
    RANGE = 5  # ... of the range constraints
    PRODUCT = 6  # ... of the salary-by-cell product constraints


class Reason(StrEnum):
    """Why a submission does not count.  The values are what the party reports and the audit
    log keys on; :data:`REASONS` holds the text shown to people."""

    CONSISTENCY = "consistency"
    SIGNED_INCONSISTENT = "signed-inconsistent"
    EQUIVOCATING_CONTRIBUTOR = "equivocating-contributor"
    PROOF = "proof"
    ONE_HOT = "one-hot"
    RANGE = "range"
    PRODUCT = "product"

    @property
    def text(self) -> str:
        return REASONS[self]


#: the constraint groups' openings and the reason each gives, in the order a failure is
#: reported (a row failing several groups is reported for the first)
GROUP_REASONS: dict[Opening, Reason] = {
    Opening.ONE_HOT: Reason.ONE_HOT,
    Opening.RANGE: Reason.RANGE,
    Opening.PRODUCT: Reason.PRODUCT,
}
REASONS: dict[Reason, str] = {
    Reason.CONSISTENCY: "shares do not lie on one degree-t polynomial",
    Reason.SIGNED_INCONSISTENT: "the contributor's signed shares do not lie on one degree-t polynomial (revealed)",
    Reason.EQUIVOCATING_CONTRIBUTOR: "the contributor signed two different sets of share commitments",
    Reason.PROOF: "validity proof does not verify",
    Reason.ONE_HOT: "gender, job and salary-band part is not one-hot",
    Reason.RANGE: "salary outside its band or [0, max] (bits)",
    Reason.PRODUCT: "salary-by-cell entries do not match the salary, gender and job",
}

ObjArray = npt.NDArray[np.object_]


@dataclass(frozen=True)
class Layout:
    """Where each part of a submission vector sits (the record's :class:`Scheme`, then the
    proof)."""

    scheme: Scheme

    @staticmethod
    def of(genders: Sequence[str], salary_max: int, jobs: Sequence[str] = (), bands: Sequence[int] = ()) -> Layout:
        return Layout(Scheme.of(genders, salary_max, jobs, bands))

    @property
    def record_width(self) -> int:
        return self.scheme.record_width

    @property
    def gates(self) -> int:
        return self.scheme.record_width

    @property
    def width(self) -> int:
        """Field elements per submission: record, m, u0, v0 and 2M + 1 values of h."""
        return self.record_width + 3 + 2 * self.gates + 1

    @property
    def mask_at(self) -> int:
        return self.record_width

    @property
    def h_at(self) -> int:
        return self.record_width + 3


def salary_form(sc: Scheme) -> dict[int, int]:
    """The salary as a sparse linear form of the record: band lower edges plus the d1 bits."""
    form = {c * sc.B + b: sc.edges[b] for c in range(sc.K) for b in range(sc.B) if sc.edges[b]}
    form.update({sc.d1_at + j: 1 << j for j in range(sc.bits)})
    return form


def _gate_wires(layout: Layout) -> list[tuple[dict[int, int], dict[int, int]]]:
    """Per gate k = 1..M: (left, right) inputs as sparse linear forms {index: coefficient}."""
    sc = layout.scheme
    s = salary_form(sc)
    wires: list[tuple[dict[int, int], dict[int, int]]] = []
    wires += [({i: 1}, {i: 1}) for i in range(sc.K * sc.B)]
    wires += [({sc.d1_at + j: 1}, {sc.d1_at + j: 1}) for j in range(2 * sc.bits)]
    wires += [(dict(s), {c * sc.B + b: 1 for b in range(sc.B)}) for c in range(sc.K)]
    wires += [(dict(s), {sc.prod_at + c: 1}) for c in range(sc.K)]
    return wires


@lru_cache(maxsize=16)
def _extension(M: int, p: int) -> tuple[tuple[int, ...], ...]:
    """Rows j = M+1..2M: Lagrange coefficients over the nodes 0..M (degree-M extrapolation)."""
    return tuple(tuple(lagrange_consecutive(M + 1, x, p)) for x in range(M + 1, 2 * M + 1))


def prove(record: Sequence[int], layout: Layout, p: int,
          randomness: tuple[int, int, int] | None = None) -> list[int]:
    """The full submission vector for a record vector: record, then m, u0, v0, h(0..2M).

    ``randomness`` fixes (m, u0, v0) for known-answer tests; by default they come from
    :mod:`secrets`.  A record that is not valid still gets a proof of its true gate outputs, so
    the nodes reject it for the constraint it breaks.
    """
    if len(record) != layout.record_width:
        raise ValueError("record vector has the wrong length for this layout")
    m, u0, v0 = randomness if randomness is not None else tuple(secrets.randbelow(p) for _ in range(3))
    rec = [v % p for v in record]
    left = [u0] + [sum(c * rec[i] for i, c in lw.items()) % p for lw, _ in _gate_wires(layout)]
    right = [v0] + [sum(c * rec[i] for i, c in rw.items()) % p for _, rw in _gate_wires(layout)]
    ext = _extension(layout.gates, p)
    f = left + [sum(c * v for c, v in zip(row, left)) % p for row in ext]
    g = right + [sum(c * v for c, v in zip(row, right)) % p for row in ext]
    return rec + [m % p, u0 % p, v0 % p] + [a * b % p for a, b in zip(f, g)]


def prove_batch(records: npt.NDArray[np.int64], layout: Layout, p: int) -> ObjArray:
    """:func:`prove` for many honest record vectors at once (rows of non-negative int64 entries,
    as :func:`protocol.encoding.encode_record` gives), with fresh randomness per row; returns an
    (N, width) object array.  Uses the fast path for p = 2^127 - 1 (benchmarks, bulk files)."""
    N, W, M = len(records), layout.record_width, layout.gates
    out = np.empty((N, layout.width), dtype=object)
    if not N:
        return out
    rec = records.astype(object)
    wires = _gate_wires(layout)
    rand = np.array([[secrets.randbelow(p) for _ in range(3)] for _ in range(N)], dtype=object)
    left = np.empty((N, M + 1), dtype=object)
    right = np.empty((N, M + 1), dtype=object)
    left[:, 0], right[:, 0] = rand[:, 1], rand[:, 2]
    for k, (lw, rw) in enumerate(wires, start=1):
        left[:, k] = sum((c * rec[:, i] for i, c in lw.items()), np.zeros(N, dtype=object)) % p
        right[:, k] = sum((c * rec[:, i] for i, c in rw.items()), np.zeros(N, dtype=object)) % p
    ext = [list(col) for col in zip(*_extension(M, p))]  # (M + 1) x M
    if fastfield.supported(p):
        def extend(vals: ObjArray) -> ObjArray:
            return fastfield.matmul(fastfield.from_ints(vals, p), ext, p)
    else:
        def extend(vals: ObjArray) -> ObjArray:
            return np.asarray(vals.dot(np.array(ext, dtype=object)), dtype=object) % p
    f = np.concatenate([left, extend(left)], axis=1)
    g = np.concatenate([right, extend(right)], axis=1)
    out[:, :W] = rec % p
    out[:, W: W + 3] = rand
    out[:, W + 3:] = (f * g) % p
    return out


def prove_batch_limbs(records: npt.NDArray[np.int64], layout: Layout,
                      randomness: fastfield.U16 | None = None) -> fastfield.U16:
    """:func:`prove` for many record vectors at once, entirely in limb arithmetic (p = 2^127 - 1):
    (N, width, 8) limbs.  ``records`` are non-negative int64 rows as
    :func:`protocol.encoding.encode_record` gives; ``randomness`` (N, 3, 8) fixes (m, u0, v0) for
    tests, else fresh from os.urandom.  The gate inputs are small integers (indicators, bits and
    salaries below 2^31), so they are formed exactly in int64; the extension to 2M + 1 points is
    one exact BLAS product and h = f * g a limb product."""
    N, W, M = len(records), layout.record_width, layout.gates
    if records.shape[1:] != (W,):
        raise ValueError("record vectors have the wrong length for this layout")
    if layout.scheme.salary_max >= (1 << 31):
        raise ValueError("salary bound too large for the int64 record entries (s^2)")
    rand = fastfield.random_elements((N, 3)) if randomness is None else np.asarray(randomness, dtype=np.uint16)
    wires = _gate_wires(layout)
    lmat = np.zeros((W, M), dtype=np.int64)
    rmat = np.zeros((W, M), dtype=np.int64)
    for k, (lw, rw) in enumerate(wires):
        for i, c in lw.items():
            lmat[i, k] = c
        for i, c in rw.items():
            rmat[i, k] = c
    rec = np.asarray(records, dtype=np.int64)
    lsmall, rsmall = rec @ lmat, rec @ rmat  # the gate inputs: (N, M) small integers
    e0, erest = _extension_limbs(M)

    def wire(seed: fastfield.U16, small: npt.NDArray[np.int64]) -> fastfield.U16:
        """The wire polynomial's 2M + 1 values: seed, the M inputs, and M extrapolated values
        (seed times the first Lagrange column plus the small inputs times the rest)."""
        if int(small.max(initial=0)) >= (1 << 32):  # a bound of more than 32 bits: general product
            vals = np.concatenate([seed[:, None], fastfield.from_small(small)], axis=1)
            ext = [list(col) for col in zip(*_extension(M, fastfield.MERSENNE_127))]
            return np.concatenate([vals, fastfield.matmul_limbs(vals, ext)], axis=1)
        # one reduction for both terms: limb sums below 2^54 + 2^35
        extended = fastfield.reduce_le(fastfield.pad_le(fastfield.matmul_small_le(small, erest), 15)
                                       + fastfield.mul_le(seed[:, None], e0[None]))
        return np.concatenate([seed[:, None], fastfield.from_small(small), extended], axis=1)

    f, g = wire(rand[:, 1], lsmall), wire(rand[:, 2], rsmall)
    return np.concatenate([fastfield.from_small(rec), rand, fastfield.mul(f, g)], axis=1)


@lru_cache(maxsize=16)
def _extension_limbs(M: int) -> tuple[fastfield.U16, npt.NDArray[np.float64]]:
    """The extension's first column as limbs (M, 8), and its other M columns as float limbs."""
    ext = _extension(M, fastfield.MERSENNE_127)  # M rows (points M+1..2M) x (M + 1) coefficients
    e0 = fastfield.from_ints([row[0] for row in ext])
    rest = [[ext[e][k] for e in range(M)] for k in range(1, M + 1)]  # (M, M): input k -> point e
    return e0, fastfield.weight_limbs(rest)


def encode_submission(record: Record, scheme: Scheme, p: int) -> list[int]:
    """What a contributor shares: the record's vector and its validity proof."""
    return prove(encode_record(record, scheme), Layout(scheme), p)


@dataclass(frozen=True)
class Challenge:
    """The public random values of one validation run."""

    sigma: tuple[int, ...]  # one per vector entry (consistency)
    r: int  # query point, outside 0..2M
    rho_onehot: tuple[int, ...]  # K*B + 1
    rho_range: tuple[int, ...]  # 2L + 1
    rho_product: tuple[int, ...]  # 2K


def derive_challenge(seed: bytes, layout: Layout, p: int) -> Challenge:
    """Expand a jointly drawn seed into field elements (SHAKE-256, 24 bytes per element so the
    reduction bias is below 2^-64)."""
    sc = layout.scheme
    counts = (layout.width, 1, sc.K * sc.B + 1, 2 * sc.bits + 1, 2 * sc.K)
    stream = hashlib.shake_256(Label.VALIDATION_CHALLENGE.value + seed).digest(24 * sum(counts))
    vals = [int.from_bytes(stream[24 * k: 24 * (k + 1)], "big") % p for k in range(sum(counts))]
    out, at = [], 0
    for c in counts:
        out.append(tuple(vals[at: at + c]))
        at += c
    top = 2 * layout.gates
    r = top + 1 + out[1][0] % (p - top - 1)  # never one of the interpolation nodes 0..2M
    return Challenge(out[0], r, out[2], out[3], out[4])


def query(layout: Layout, ch: Challenge, p: int) -> tuple[list[list[int]], list[int]]:
    """The seven opened functions as a (width x 7) coefficient matrix and 7 constants.

    A node's share of opening o is ``sum_k x_k * W[k][o] + const[o]`` (a public constant is its
    own sharing at every node).
    """
    sc, M = layout.scheme, layout.gates
    W = [[0] * len(Opening) for _ in range(layout.width)]
    const = [0] * len(Opening)
    for k, s in enumerate(ch.sigma):
        W[k][Opening.CONSISTENCY] = s
    lam = lagrange_consecutive(M + 1, ch.r, p)
    u0, v0 = layout.mask_at + 1, layout.mask_at + 2
    W[u0][Opening.F], W[v0][Opening.G] = lam[0], lam[0]
    for k, (lw, rw) in enumerate(_gate_wires(layout), start=1):
        for i, c in lw.items():
            W[i][Opening.F] = (W[i][Opening.F] + lam[k] * c) % p
        for i, c in rw.items():
            W[i][Opening.G] = (W[i][Opening.G] + lam[k] * c) % p
    for j, c in enumerate(lagrange_consecutive(2 * M + 1, ch.r, p)):
        W[layout.h_at + j][Opening.H] = c
    h = [layout.h_at + k for k in range(M + 1)]  # h[k]: where gate k's output sits (k >= 1)

    def add(i: int, o: Opening, c: int) -> None:
        W[i][o] = (W[i][o] + c) % p

    r1, r2, r3 = ch.rho_onehot, ch.rho_range, ch.rho_product
    KB, L, K = sc.K * sc.B, sc.bits, sc.K
    for i in range(KB):  # H^2 - H = 0, and sum H - 1 = 0
        add(h[1 + i], Opening.ONE_HOT, r1[i])
        add(i, Opening.ONE_HOT, r1[KB] - r1[i])
    const[Opening.ONE_HOT] = -r1[KB] % p
    for j in range(2 * L):  # d^2 - d = 0, and d1 + d2 - width(band) = 0
        add(h[1 + KB + j], Opening.RANGE, r2[j])
        add(sc.d1_at + j, Opening.RANGE, (r2[2 * L] << (j % L)) - r2[j])
    for c in range(K):
        for b in range(sc.B):
            add(c * sc.B + b, Opening.RANGE, -r2[2 * L] * sc.band_width(b))
    for c in range(K):  # P_c - s ind_c = 0, Q_c - s P_c = 0
        add(sc.prod_at + c, Opening.PRODUCT, r3[c])
        add(h[1 + KB + 2 * L + c], Opening.PRODUCT, -r3[c])
        add(sc.sq_at + c, Opening.PRODUCT, r3[K + c])
        add(h[1 + KB + 2 * L + K + c], Opening.PRODUCT, -r3[K + c])
    return W, const


def local_openings(shares: ObjArray | fastfield.U16, layout: Layout, ch: Challenge, p: int
                   ) -> ObjArray | fastfield.U16:
    """A node's shares of the seven openings: (N, 7) Python ints from an (N, width) object matrix,
    or (N, 7, 8) limbs from (N, width, 8) limbs (fast path, p = 2^127 - 1)."""
    W, const = query(layout, ch, p)
    if shares.dtype == np.object_:
        out = np.asarray(shares.dot(np.array(W, dtype=object)), dtype=object) if len(shares) else \
            np.zeros((0, len(Opening)), dtype=object)
        return (out + np.array(const, dtype=object)) % p
    limbs: fastfield.U16 = shares  # type: ignore[assignment]  # not object: limbs
    return fastfield.matmul_limbs(limbs, W, p, const)


def decide(opened: Sequence[Sequence[int]] | fastfield.U16, p: int) -> list[Reason | None]:
    """From opened (Y, F, G, H, V...) rows (ints, or (N, 7, 8) limbs): None if valid, else the
    first failed check."""
    if isinstance(opened, np.ndarray) and opened.dtype != np.object_:
        out_arr = np.full(len(opened), None, dtype=object)
        for o, reason in reversed(GROUP_REASONS.items()):  # the first failed group wins: assign it last
            out_arr[~fastfield.is_zero(opened[:, o])] = reason
        proved = (fastfield.mul(opened[:, Opening.F], opened[:, Opening.G]) == opened[:, Opening.H]).all(axis=-1)
        out_arr[~proved] = Reason.PROOF
        return list(out_arr.tolist())
    out: list[Reason | None] = []
    for row in opened:
        if row[Opening.F] * row[Opening.G] % p != row[Opening.H] % p:
            out.append(Reason.PROOF)
            continue
        out.append(next((reason for o, reason in GROUP_REASONS.items() if row[o] % p), None))
    return out


def as_matrix(rows: Sequence[Sequence[int]], width: int) -> ObjArray:
    """An (N, width) object array of Python ints (an empty N gives shape (0, width))."""
    m = np.empty((len(rows), width), dtype=object)
    for i, r in enumerate(rows):
        m[i, :] = list(r)
    return m


def plain_reason(vec: Sequence[int], layout: Layout) -> str | None:
    """The plaintext oracle: why this (unshared) record vector is invalid, or None."""
    sc = layout.scheme
    if len(vec) != layout.record_width:
        return "length"
    H = vec[: sc.K * sc.B]
    d1, d2 = vec[sc.d1_at: sc.d2_at], vec[sc.d2_at: sc.d2_at + sc.bits]
    if any(v not in (0, 1) for v in H) or sum(H) != 1:
        return "one-hot"
    at = H.index(1)
    c, b = divmod(at, sc.B)
    off = sum(v << j for j, v in enumerate(d1))
    dist = sum(v << j for j, v in enumerate(d2))
    if any(v not in (0, 1) for v in list(d1) + list(d2)) or off + dist != sc.band_width(b):
        return "range"
    s = sc.edges[b] + off
    for cc in range(sc.K):
        ind = 1 if cc == c else 0
        if vec[sc.prod_at + cc] != s * ind or vec[sc.sq_at + cc] != s * s * ind:
            return "product"
    return None


def _check_matrix(n: int, t: int, p: int) -> list[list[int]]:
    """(n x (1 + n - t - 1)): column 0 interpolates f(0) from nodes 0..t; column j >= 1 is
    (prediction of node t+j's share from nodes 0..t) minus node t+j's share: zero iff consistent."""
    xs = [i + 1 for i in range(t + 1)]
    cols = [lagrange_coefficients(xs, 0, p)]
    for k in range(t + 1, n):
        col = lagrange_coefficients(xs, k + 1, p) + [0] * (n - t - 1)
        col[k] = p - 1
        cols.append(col)
    cols[0] = cols[0] + [0] * (n - t - 1)
    return [[cols[j][i] for j in range(len(cols))] for i in range(n)]


def open_all(node_shares: Sequence[ObjArray | fastfield.U16], t: int, p: int
             ) -> tuple[ObjArray | fastfield.U16, dict[int, tuple[int, ...]]]:
    """Open n nodes' shares of the (N, 7) openings.

    Returns the values (rows that are not consistent hold zeros) and, for every row whose n
    shares do not lie on one degree-t polynomial, the nodes whose shares are off — identified
    only when n >= 3t+1 (error correction), else the empty tuple.  ``node_shares[i]`` is node i's
    (N, 7) object matrix, or its (N, 7, 8) limbs for the fast path.
    """
    n = len(node_shares)
    N, O = node_shares[0].shape[0], node_shares[0].shape[1]
    Wc = _check_matrix(n, t, p)
    if node_shares[0].dtype == np.object_:
        stacked = np.stack([np.asarray(s, dtype=object).reshape(N * O) for s in node_shares], axis=1)
        res = np.asarray(stacked.dot(np.array(Wc, dtype=object)), dtype=object) % p if N else \
            np.zeros((0, len(Wc[0])), dtype=object)
        res = res.reshape(N, O, len(Wc[0]))
        values = res[:, :, 0]
        nonzero = (res[:, :, 1:] != 0).any(axis=(1, 2))
    else:  # limbs: (N * 7, n, 8) times the check matrix, all in limb arithmetic
        stacked = np.stack([np.asarray(s).reshape(N * O, fastfield.LIMBS) for s in node_shares], axis=1)
        lres = fastfield.matmul_limbs(stacked, Wc, p).reshape(N, O, len(Wc[0]), fastfield.LIMBS)
        values = lres[:, :, 0]
        nonzero = lres[:, :, 1:].any(axis=(1, 2, 3))
    bad_rows = np.nonzero(nonzero)[0] if n > t + 1 else np.zeros(0, dtype=int)
    suspects: dict[int, tuple[int, ...]] = {}
    for i in bad_rows.tolist():
        values[i] = 0
        suspects[i] = _off_nodes([row_values(s, i, p) for s in node_shares], t, p)
    return values, suspects


def row_values(shares: ObjArray | fastfield.U16, i: int, p: int) -> list[int]:
    """Row i of a node's opening shares as Python ints (object matrix or limbs)."""
    if shares.dtype == np.object_:
        return [int(v) % p for v in shares[i]]
    return [int(v) for v in fastfield.to_ints(shares[i])]


def _off_nodes(rows: list[list[int]], t: int, p: int) -> tuple[int, ...]:
    """Nodes whose shares are off the polynomial, when n >= 3t+1 lets us tell; else ()."""
    from .errors import CheatingDetected
    from .field import robust_reconstruct

    if len(rows) < 3 * t + 1:
        return ()
    try:
        return robust_reconstruct(dict(enumerate(rows)), t, p)[1]
    except CheatingDetected:
        return ()


def verdicts(node_shares: Sequence[ObjArray | fastfield.U16], t: int, p: int
             ) -> tuple[list[Reason | None], dict[int, tuple[int, ...]]]:
    """Per submission None (valid) or the reason, from every node's shares of the openings;
    plus the nodes off the polynomial for each inconsistent row (see :func:`open_all`)."""
    values, suspects = open_all(node_shares, t, p)
    reasons = decide(values.tolist() if values.dtype == np.object_ else values, p)  # type: ignore[arg-type]
    for i in suspects:
        reasons[i] = Reason.CONSISTENCY
    return reasons, suspects
