"""Validity of submissions, proved by the contributor and checked by the nodes on Shamir shares.

A record (:mod:`protocol.encoding`, K cells, B bands, L offset bits) holds the one-hot
(cell, band) indicators H, the salary-by-cell entries P and Q, and the bits d1, d2 of the salary's
offset inside its band.  With ``s = sum e_b H[c, b] + sum 2^j d1_j`` and ``ind_c = sum_b H[c, b]``
it is *valid* when

- one-hot:  H H^T = diag(H) (every entry a bit, no two set) and sum H = 1;
- range:    d (d - 1) = 0 for all G = 2L bits, and sum 2^j d1_j + sum 2^j d2_j = sum_{c,b} width_b H[c, b]
            (so e_b <= s <= hi_b for the chosen band b, hence 0 <= s <= max);
- product:  P_c = s * ind_c and Q_c = s * P_c for every cell c.

The contributor appends a short proof and shares the whole vector like the record:

    [record (W)] [m] [x1 y1 z1] [x2 y2 z2] [w0] [h(0) .. h(2G)]        width W + 4L + 9

m, x1, y1, x2, y2 and w0 are uniformly random, z1 = x1 y1 and z2 = x2 y2 are two Beaver
triples, and h = w^2 is given by its values at 0..2G, where w is the polynomial of degree G
through (0, w0) and (k, d_k) for k = 1..G (a fully linear proof of the bits' squares: Boneh,
Boyle, Corrigan-Gibbs, Gilboa, Ishai, CRYPTO 2019).

Every random coefficient is drawn by the nodes *after* the submission set is frozen (the joint
seed), so a contributor cannot choose its shares to suit them.  Each group becomes one equation
between random linear forms of the record:

- one-hot:  (beta1 . H)(gamma1 . H) = sum_i beta1_i gamma1_i H_i, plus mu1 (sum H - 1);
- product:  s (beta2 . ind + gamma2 . P) = beta2 . P + gamma2 . Q;
- range:    h(r) = w(r)^2 at a random r outside 0..2G, and sum_k beta3_k (h(k) - d_k) plus
            mu3 (the band-width relation) is 0.

The two products are checked with the contributor's triples.  In the first round every node
opens eight **linear** functions of its share vector (:class:`Opening` 0..7): the consistency
value Y = sigma . x, e1 = beta1 . H - x1, f1 = gamma1 . H - y1, e2 = s - x2,
f2 = beta2 . ind + gamma2 . P - y2, w(r), h(r) and the range combination.  Once e and f are
public, Z = C - e f - e y - f x - z (C the right-hand side) is linear in the shares too, and the
second round opens Z1 and Z2 (:class:`Opening` 8, 9).  Every opened value is a degree-t sharing:
a wrong share is detected with n >= 2t+1 shares and corrected with n >= 3t+1.

A valid record opens to uniformly random Y, e1, f1, e2, f2 and w(r) (each masked by its own
random element), h(r) = w(r)^2, and zeros: nothing else.  An invalid one passes with probability
at most (4L + 5)/(p - 4L - 1), below 2^-119 for p = 2^127 - 1 and any salary bound the manifest
allows, whatever its shares and triples (docs/THREAT_MODEL.md derives it).

A complete survey's record (several banded values on one cell: pay level T, variable pay V,
hourly pay Y; docs/COMPLETE_SURVEY.md) is checked the same way, group by group: a one-hot and a
product check per value, each with its own triple and coefficients; a linear cell-agreement
opening (the values' indicators on the same cell, reason ``cells``); the hourly relation
rho (S T - R) = Y (rho h) with one more triple (reason ``hourly``); every bit in the one FLP and
every linear relation among bits (each value's band width, basic pay T - V) in the range
combination.  :class:`Columns` places the openings for any number of checks; with one value
they are :class:`Opening` and :class:`Held`, and the challenge stream is v4's, so a one-figure
survey's submissions, challenge and openings are unchanged.  The escape probability becomes
(2G + 3V + 3)/(p - 2G - 1) for V values, below 2^-117 for every survey the manifest allows.

Plain numpy/Python arithmetic, shared by the node's MPC program, the contributor and the tests;
no MPC runtime.  The node's hot path uses :mod:`protocol.fastfield`.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum, StrEnum
import functools
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from . import fastfield
from .encoding import Record, Scheme, ValueBlock, ValueKind, encode_record, fast_encodable
from .field import lagrange_coefficients, lagrange_consecutive
from .labels import Label


class Opening(IntEnum):
    """The opened values of a submission, by their column: the first round's eight are the
    first columns of :func:`local_openings` (and of :func:`query`), the second round's two
    follow them in the opened matrix :func:`decide` reads."""

    CONSISTENCY = 0  # Y = sum_k sigma_k x_k
    ONE_HOT_E = 1  # e1 = beta1 . H - x1
    ONE_HOT_F = 2  # f1 = gamma1 . H - y1
    PRODUCT_E = 3  # e2 = s - x2
    PRODUCT_F = 4  # f2 = beta2 . ind + gamma2 . P - y2
    WIRE = 5  # w(r)
    SQUARE = 6  # h(r)
    RANGE = 7  # sum_k beta3_k (h(k) - d_k) + mu3 (band-width relation)
    ONE_HOT = 8  # Z1, second round: (beta1 . H)(gamma1 . H) against sum beta1_i gamma1_i H_i, and sum H = 1
    PRODUCT = 9  # Z2, second round: s (beta2 . ind + gamma2 . P) against beta2 . P + gamma2 . Q


#: the values each round opens
FIRST_ROUND: tuple[Opening, ...] = tuple(o for o in Opening if o < Opening.ONE_HOT)
SECOND_ROUND: tuple[Opening, ...] = (Opening.ONE_HOT, Opening.PRODUCT)


class Held(IntEnum):
    """The columns of :func:`local_openings` after the first round's: a node's shares of what
    the second round needs, kept until e and f are public."""

    ONE_HOT_TERMS = 8  # sum_i (beta1_i gamma1_i + mu1) H_i - mu1 - z1
    PRODUCT_TERMS = 9  # beta2 . P + gamma2 . Q - z2
    ONE_HOT_X = 10  # x1
    ONE_HOT_Y = 11  # y1
    PRODUCT_X = 12  # x2
    PRODUCT_Y = 13  # y2


#: columns of :func:`local_openings`
LOCAL_COLUMNS = len(FIRST_ROUND) + len(Held)


class Check(IntEnum):
    """The kind of a Beaver-checked product (one contributor triple each)."""

    ONE_HOT = 0
    PRODUCT = 1
    HOURLY = 2


@dataclass(frozen=True)
class Columns:
    """Column positions for a layout with ``checks`` Beaver checks: per value its one-hot and
    product checks, then the hourly relation when hours are collected.  With the one-figure
    survey's two checks they are :class:`Opening` and :class:`Held`.  The first round opens the
    consistency value, e and f of checks 0 and 1, w(r), h(r), the range combination, e and f of
    the further checks and, with several values, the cell agreement; a node holds then every
    check's terms and every triple's x and y; the second round opens each check's Z."""

    checks: int

    @staticmethod
    def from_local(width: int) -> Columns:
        """The columns of a :func:`local_openings` matrix ``width`` wide."""
        return Columns(2 if width == LOCAL_COLUMNS else (width - 5) // 5)

    @staticmethod
    def from_opened(width: int) -> Columns:
        """The columns of a joined (both rounds) opened matrix ``width`` wide."""
        return Columns(2 if width == len(Opening) else (width - 5) // 3)

    @property
    def several(self) -> bool:
        return self.checks > 2

    @property
    def first(self) -> int:
        return len(FIRST_ROUND) + 2 * (self.checks - 2) + (1 if self.several else 0)

    @property
    def local(self) -> int:
        return self.first + 3 * self.checks

    @property
    def opened(self) -> int:
        return self.first + self.checks

    @property
    def cells(self) -> int:
        return self.first - 1

    def kind(self, k: int) -> Check:
        return Check.HOURLY if k == self.checks - 1 and self.checks % 2 else Check(k % 2)

    def e(self, k: int) -> int:
        return 1 + 2 * k if k < 2 else len(FIRST_ROUND) + 2 * (k - 2)

    def f(self, k: int) -> int:
        return self.e(k) + 1

    def terms(self, k: int) -> int:
        return self.first + k

    def x(self, k: int) -> int:
        return self.first + self.checks + 2 * k

    def y(self, k: int) -> int:
        return self.x(k) + 1

    def z(self, k: int) -> int:
        """Check k's Z in the joined opened matrix."""
        return self.first + k

    @functools.cached_property
    def reasons(self) -> tuple[tuple[int, Reason], ...]:
        """(joined column, reason) in the order a failure is reported: the one-hot checks, the
        cell agreement, the range combination, the product checks, the hourly relation."""
        by_kind = {Check.ONE_HOT: Reason.ONE_HOT, Check.PRODUCT: Reason.PRODUCT, Check.HOURLY: Reason.HOURLY}
        out = [(self.z(k), Reason.ONE_HOT) for k in range(self.checks) if self.kind(k) == Check.ONE_HOT]
        out += [(self.cells, Reason.CELLS)] if self.several else []
        out.append((int(Opening.RANGE), Reason.RANGE))
        out += [(self.z(k), by_kind[self.kind(k)]) for k in range(self.checks) if self.kind(k) != Check.ONE_HOT]
        return tuple(out)


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
    CELLS = "cells"
    HOURLY = "hourly"

    @property
    def text(self) -> str:
        return REASONS[self]


#: the constraint groups' openings and the reason each gives, in the order a failure is
#: reported (a row failing several groups is reported for the first).  A forged triple fails
#: the group whose product it was meant for.
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
    Reason.CELLS: "the pay values are not on the same gender and job category",
    Reason.HOURLY: "hourly pay does not match the period's pay and hours",
}

ObjArray = npt.NDArray[np.object_]
Matrix = ObjArray | fastfield.U16


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
        """G: the squares the proof's polynomial h carries, one per bit of the record (d1 and d2
        of every value, and the basic-pay and hours bits of a complete survey)."""
        return self.scheme.total_bits

    @property
    def width(self) -> int:
        """Field elements per submission: record, m, the triples, w0 and 2G + 1 values of h."""
        return self.h_at + 2 * self.gates + 1

    @property
    def columns(self) -> Columns:
        return Columns(self.scheme.triples)

    @property
    def mask_at(self) -> int:
        return self.record_width

    def triple_at(self, k: int) -> int:
        """x, y, z of Beaver check k (:class:`Columns`)."""
        return self.record_width + 1 + 3 * k

    @property
    def one_hot_triple_at(self) -> int:
        """x1, y1, z1."""
        return self.triple_at(0)

    @property
    def product_triple_at(self) -> int:
        """x2, y2, z2."""
        return self.triple_at(1)

    @property
    def seed_at(self) -> int:
        """w0, the wire polynomial's value at 0."""
        return self.triple_at(self.scheme.triples)

    @property
    def h_at(self) -> int:
        return self.seed_at + 1


def salary_form(sc: Scheme) -> dict[int, int]:
    """The salary (the pay level T) as a sparse linear form of the record: band lower edges plus
    the d1 bits."""
    return value_form(sc.values[0], sc.K)


def value_form(v: ValueBlock, K: int) -> dict[int, int]:
    """One value as a sparse linear form of the record: its band lower edges plus its d1 bits."""
    edges = v.banding.edges
    form = {v.hist_at + c * v.B + b: edges[b] for c in range(K) for b in range(v.B) if edges[b]}
    form.update({v.d1_at + j: 1 << j for j in range(v.bits)})
    return form


@lru_cache(maxsize=16)
def _extension(G: int, p: int) -> tuple[tuple[int, ...], ...]:
    """Rows j = G+1..2G: Lagrange coefficients over the nodes 0..G (degree-G extrapolation)."""
    return tuple(tuple(lagrange_consecutive(G + 1, x, p)) for x in range(G + 1, 2 * G + 1))


def prove(record: Sequence[int], layout: Layout, p: int,
          randomness: Sequence[int] | None = None) -> list[int]:
    """The full submission vector for a record vector: record, m, x1 y1 z1, x2 y2 z2 (and the
    further triples of a complete survey), w0, h(0..2G).

    ``randomness`` fixes (m, x1, y1, x2, y2, ..., w0) for known-answer tests; by default they come
    from :mod:`secrets`.  A record that is not valid still gets honest triples and the true
    squares of its d entries, so the nodes reject it for the constraint it breaks.
    """
    if len(record) != layout.record_width:
        raise ValueError("record vector has the wrong length for this layout")
    C = layout.scheme.triples
    rand = [v % p for v in (randomness if randomness is not None else [secrets.randbelow(p) for _ in range(2 + 2 * C)])]
    if len(rand) != 2 + 2 * C:
        raise ValueError("randomness must be m, x and y of every triple, and w0")
    sc, G, w0 = layout.scheme, layout.gates, rand[-1]
    rec = [v % p for v in record]
    w = [w0] + rec[sc.d1_at: sc.d1_at + G]
    w += [sum(c * v for c, v in zip(row, w)) % p for row in _extension(G, p)]
    triples = [v for k in range(C) for v in (rand[1 + 2 * k], rand[2 + 2 * k], rand[1 + 2 * k] * rand[2 + 2 * k] % p)]
    return rec + [rand[0]] + triples + [w0] + [v * v % p for v in w]


def prove_batch_limbs(records: npt.NDArray[np.int64], layout: Layout,
                      randomness: fastfield.U16 | None = None) -> fastfield.U16:
    """:func:`prove` for many record vectors at once, entirely in limb arithmetic (p = 2^127 - 1):
    (N, width, 8) limbs.  ``records`` are non-negative int64 rows as
    :func:`protocol.encoding.encode_records` gives; ``randomness`` (N, 2 + 2C, 8) fixes
    (m, x and y of every triple, w0) for tests, else fresh from os.urandom.  The wire's inputs are the
    record's bits, so its extension to 2G + 1 points is one exact small-integer BLAS product and
    their squares are integers."""
    rec = np.asarray(records, dtype=np.int64)
    tail = proof_limbs(rec, layout, randomness)
    return np.concatenate([fastfield.from_small(rec), tail], axis=1)


def proof_limbs(records: npt.NDArray[np.int64], layout: Layout,
                randomness: fastfield.U16 | None = None) -> fastfield.U16:
    """The proof part of :func:`prove_batch_limbs` alone, (N, width - record_width, 8): what
    follows each record in its submission (the record's own entries are its int64 values)."""
    N, W, G, C = len(records), layout.record_width, layout.gates, layout.scheme.triples
    if records.shape[1:] != (W,):
        raise ValueError("record vectors have the wrong length for this layout")
    if not fast_encodable(layout.scheme):
        raise ValueError("salary bound too large for the int64 record entries (s^2)")
    rand = fastfield.random_elements((N, 2 + 2 * C)) if randomness is None else np.asarray(randomness, dtype=np.uint16)
    h = _squares_limbs(records[:, layout.scheme.d1_at: layout.scheme.d1_at + G], rand[:, -1], G)
    z = fastfield.mul(rand[:, 1: 1 + 2 * C: 2], rand[:, 2: 2 + 2 * C: 2])  # z_k = x_k y_k
    triples = np.stack([rand[:, 1: 1 + 2 * C: 2], rand[:, 2: 2 + 2 * C: 2], z], axis=2).reshape(N, 3 * C, -1)
    return np.concatenate([rand[:, 0:1], triples, rand[:, -1:], h], axis=1)


def _squares_limbs(bits: npt.NDArray[np.int64], seed: fastfield.U16, G: int) -> fastfield.U16:
    """h(0..2G) as limbs: the squares of the wire through (0, w0) and the bits, extended."""
    if int(bits.max(initial=0)) >= (1 << 31):  # not bits (an invalid record): the general products
        vals = np.concatenate([seed[:, None], fastfield.from_small(bits)], axis=1)
        ext = [list(col) for col in zip(*_extension(G, fastfield.MERSENNE_127))]
        wire = np.concatenate([vals, fastfield.matmul_limbs(vals, ext)], axis=1)
        return fastfield.mul(wire, wire)
    # one reduction for both terms of the extension (limb sums below 2^54 + 2^35); the inputs'
    # squares are small integers
    e0, erest = _extension_limbs(G)
    extended = fastfield.reduce_le(fastfield.pad_le(fastfield.matmul_small_le(bits, erest), 15)
                                   + fastfield.mul_le(seed[:, None], e0[None]))
    return np.concatenate([fastfield.mul(seed, seed)[:, None], fastfield.from_small(bits * bits),
                           fastfield.mul(extended, extended)], axis=1)


@lru_cache(maxsize=16)
def _extension_limbs(G: int) -> tuple[fastfield.U16, npt.NDArray[np.float64]]:
    """The extension's first column as limbs (G, 8), and its other G columns as float limbs."""
    ext = _extension(G, fastfield.MERSENNE_127)  # G rows (points G+1..2G) x (G + 1) coefficients
    e0 = fastfield.from_ints([row[0] for row in ext])
    rest = [[ext[e][k] for e in range(G)] for k in range(1, G + 1)]  # (G, G): input k -> point e
    return e0, fastfield.weight_limbs(rest)


def encode_submission(record: Record, scheme: Scheme, p: int) -> list[int]:
    """What a contributor shares: the record's vector and its validity proof."""
    return prove(encode_record(record, scheme), Layout(scheme), p)


@dataclass(frozen=True)
class ValueChallenge:
    """The coefficients of one further value's checks (a complete survey's V and Y)."""

    beta1: tuple[int, ...]  # K*B_i: its one-hot check ...
    gamma1: tuple[int, ...]
    mu1: int
    beta2: tuple[int, ...]  # K: its product check
    gamma2: tuple[int, ...]
    mu3: int  # its band-width relation in the range combination


@dataclass(frozen=True)
class Challenge:
    """The public random values of one validation run.  The first fields are the one-figure
    survey's (and the pay level's in a complete survey); a complete survey draws the further
    ones after them from the same stream."""

    sigma: tuple[int, ...]  # one per vector entry (consistency)
    r: int  # query point of the bits' proof, outside 0..2G
    beta1: tuple[int, ...]  # K*B: the one-hot check's two linear forms ...
    gamma1: tuple[int, ...]  # K*B
    mu1: int  # ... and the weight of sum H = 1
    beta2: tuple[int, ...]  # K: the product check's weights of P = s ind ...
    gamma2: tuple[int, ...]  # K: ... and of Q = s P
    beta3: tuple[int, ...]  # G: the range check's weights of the bits' squares ...
    mu3: int  # ... and of the band-width relation
    more: tuple[ValueChallenge, ...] = ()  # the further values, in record order
    alpha: tuple[int, ...] = ()  # K per further value: the cell agreement's weights
    mu_basic: int = 0  # the weight of T - V = sum 2^j u_j in the range combination
    rho: int = 0  # the hourly relation's weight

    def value(self, i: int) -> ValueChallenge:
        if i == 0:
            return ValueChallenge(self.beta1, self.gamma1, self.mu1, self.beta2, self.gamma2, self.mu3)
        return self.more[i - 1]


def derive_challenge(seed: bytes, layout: Layout, p: int) -> Challenge:
    """Expand a jointly drawn seed into field elements (SHAKE-256, 24 bytes per element so the
    reduction bias is below 2^-64), in the order of :class:`Challenge`'s fields (a further
    value's in the order of :class:`ValueChallenge`'s)."""
    sc = layout.scheme
    KB, K, G = sc.K * sc.B, sc.K, layout.gates
    counts = [layout.width, 1, KB, KB, 1, K, K, G, 1]
    for v in sc.values[1:]:
        counts += [K * v.B, K * v.B, 1, K, K, 1]
    if sc.complete:
        counts += [K * (len(sc.values) - 1), 1, 1]
    stream = hashlib.shake_256(Label.VALIDATION_CHALLENGE.value + seed).digest(24 * sum(counts))
    vals = [int.from_bytes(stream[24 * k: 24 * (k + 1)], "big") % p for k in range(sum(counts))]
    out, at = [], 0
    for c in counts:
        out.append(tuple(vals[at: at + c]))
        at += c
    top = 2 * G
    r = top + 1 + out[1][0] % (p - top - 1)  # never one of the interpolation nodes 0..2G
    more = tuple(ValueChallenge(o[0], o[1], o[2][0], o[3], o[4], o[5][0])
                 for o in (out[9 + 6 * i: 15 + 6 * i] for i in range(len(sc.values) - 1)))
    tail = out[9 + 6 * len(more):] if sc.complete else [(), (0,), (0,)]
    return Challenge(out[0], r, out[2], out[3], out[4][0], out[5], out[6], out[7], out[8][0], more, tail[0],
                     tail[1][0], tail[2][0])


Add = Callable[[int, int, int], None]


def query(layout: Layout, ch: Challenge, p: int) -> tuple[list[list[int]], list[int]]:
    """The first round's openings and every check's held terms as a (width x (F + C))
    coefficient matrix and F + C constants (:class:`Columns`: for a one-figure survey the
    columns :data:`FIRST_ROUND`, then :attr:`Held.ONE_HOT_TERMS` and :attr:`Held.PRODUCT_TERMS`).

    A node's share of column o is ``sum_k x_k * W[k][o] + const[o]`` (a public constant is its
    own sharing at every node).
    """
    sc, cols = layout.scheme, layout.columns
    W = [[0] * (cols.first + cols.checks) for _ in range(layout.width)]
    const = [0] * (cols.first + cols.checks)

    def add(i: int, o: int, c: int) -> None:
        W[i][o] = (W[i][o] + c) % p

    for k, s in enumerate(ch.sigma):
        add(k, Opening.CONSISTENCY, s)
    for i, v in enumerate(sc.values):
        const[cols.terms(2 * i)] = _one_hot_columns(layout, 2 * i, v, ch.value(i), p, add)
        _product_columns(layout, 2 * i + 1, v, ch.value(i), add)
    if sc.hourly is not None:
        const[cols.f(cols.checks - 1)] = ch.rho % p  # f = rho h - y, h = 1 + R + slack
        _hourly_columns(layout, cols.checks - 1, ch, add)
    _range_columns(layout, ch, p, add)
    if sc.complete:
        _cell_columns(layout, ch, add)
    return W, const


def _beaver(layout: Layout, k: int, add: Add) -> None:
    """The triple's part of check k: e = ... - x, f = ... - y, terms = ... - z."""
    cols, at = layout.columns, layout.triple_at(k)
    add(at, cols.e(k), -1)
    add(at + 1, cols.f(k), -1)
    add(at + 2, cols.terms(k), -1)


def _one_hot_columns(layout: Layout, k: int, v: ValueBlock, ch: ValueChallenge, p: int, add: Add) -> int:
    """e = beta1 . H - x, f = gamma1 . H - y and sum_i (beta1_i gamma1_i + mu1) H_i - mu1 - z;
    returns the terms' constant -mu1."""
    cols = layout.columns
    for i in range(layout.scheme.K * v.B):
        add(v.hist_at + i, cols.e(k), ch.beta1[i])
        add(v.hist_at + i, cols.f(k), ch.gamma1[i])
        add(v.hist_at + i, cols.terms(k), ch.beta1[i] * ch.gamma1[i] + ch.mu1)
    _beaver(layout, k, add)
    return -ch.mu1 % p


def _product_columns(layout: Layout, k: int, v: ValueBlock, ch: ValueChallenge, add: Add) -> None:
    """e = s - x, f = beta2 . ind + gamma2 . P - y, terms = beta2 . P + gamma2 . Q - z."""
    cols, K = layout.columns, layout.scheme.K
    for i, c in value_form(v, K).items():
        add(i, cols.e(k), c)
    for c in range(K):
        for b in range(v.B):
            add(v.hist_at + c * v.B + b, cols.f(k), ch.beta2[c])
        add(v.prod_at + c, cols.f(k), ch.gamma2[c])
        add(v.prod_at + c, cols.terms(k), ch.beta2[c])
        add(v.sq_at + c, cols.terms(k), ch.gamma2[c])
    _beaver(layout, k, add)


def _hourly_columns(layout: Layout, k: int, ch: Challenge, add: Add) -> None:
    """e = Y - x, f = rho (R + slack) - y (+ rho, the constant), terms = rho (S T - R) - z."""
    from .encoding import HOURLY_SCALE

    sc, cols = layout.scheme, layout.columns
    hourly, level = sc.value(ValueKind.HOURLY), sc.values[0]
    assert hourly is not None
    for i, c in value_form(hourly, sc.K).items():
        add(i, cols.e(k), c)
    for j in range(sc.hours_bits):
        add(sc.remainder_at + j, cols.f(k), ch.rho << j)
        add(sc.slack_at + j, cols.f(k), ch.rho << j)
        add(sc.remainder_at + j, cols.terms(k), -(ch.rho << j))
    for i, c in value_form(level, sc.K).items():
        add(i, cols.terms(k), ch.rho * HOURLY_SCALE * c)
    _beaver(layout, k, add)


def _cell_columns(layout: Layout, ch: Challenge, add: Add) -> None:
    """sum over the further values i and cells c of alpha_{i,c} (ind_i[c] - ind_T[c])."""
    sc, o = layout.scheme, layout.columns.cells
    first = sc.values[0]
    for i, v in enumerate(sc.values[1:]):
        for c in range(sc.K):
            a = ch.alpha[i * sc.K + c]
            for b in range(v.B):
                add(v.hist_at + c * v.B + b, o, a)
            for b in range(first.B):
                add(first.hist_at + c * first.B + b, o, -a)


def _range_columns(layout: Layout, ch: Challenge, p: int, add: Add) -> None:
    """w(r), h(r), and sum_k beta3_k (h(k) - d_k) plus every linear relation among the bits: per
    value mu3_i (sum_j 2^j d1_j + sum_j 2^j d2_j - sum_{c,b} width_b H[c, b]), and with variable
    pay mu_basic (T - V - sum_j 2^j u_j)."""
    sc, G = layout.scheme, layout.gates
    lam = lagrange_consecutive(G + 1, ch.r, p)
    add(layout.seed_at, Opening.WIRE, lam[0])
    for k in range(1, G + 1):
        add(sc.d1_at + k - 1, Opening.WIRE, lam[k])
    for j, c in enumerate(lagrange_consecutive(2 * G + 1, ch.r, p)):
        add(layout.h_at + j, Opening.SQUARE, c)
    for k in range(G):
        add(layout.h_at + 1 + k, Opening.RANGE, ch.beta3[k])
        add(sc.d1_at + k, Opening.RANGE, -ch.beta3[k])
    for i, v in enumerate(sc.values):
        mu = ch.value(i).mu3
        for j in range(v.bits):
            add(v.d1_at + j, Opening.RANGE, mu << j)
            add(v.d2_at + j, Opening.RANGE, mu << j)
        for c in range(sc.K):
            for b in range(v.B):
                add(v.hist_at + c * v.B + b, Opening.RANGE, -mu * v.banding.band_width(b))
    if sc.basic_bits:
        _basic_relation(layout, ch.mu_basic, add)


def _basic_relation(layout: Layout, mu: int, add: Add) -> None:
    """mu (T - V - sum_j 2^j u_j) into the range combination: basic pay is not negative."""
    sc = layout.scheme
    variable = sc.value(ValueKind.VARIABLE)
    assert variable is not None
    for i, c in value_form(sc.values[0], sc.K).items():
        add(i, Opening.RANGE, mu * c)
    for i, c in value_form(variable, sc.K).items():
        add(i, Opening.RANGE, -mu * c)
    for j in range(sc.basic_bits):
        add(sc.basic_bits_at + j, Opening.RANGE, -(mu << j))


def local_openings(shares: Matrix, layout: Layout, ch: Challenge, p: int) -> Matrix:
    """A node's shares of the first round's openings and of what it holds for the second:
    (N, :data:`LOCAL_COLUMNS`) Python ints from an (N, width) object matrix, or limbs
    (N, LOCAL_COLUMNS, 8) from (N, width, 8) limbs (fast path, p = 2^127 - 1).  Columns
    :data:`FIRST_ROUND` are broadcast; :class:`Held` stays with the node."""
    W, const = query(layout, ch, p)
    entries = [layout.triple_at(k) + e for k in range(layout.columns.checks) for e in (0, 1)]  # x, y per triple
    if shares.dtype == np.object_:
        out = np.asarray(shares.dot(np.array(W, dtype=object)), dtype=object) if len(shares) else \
            np.zeros((0, len(W[0])), dtype=object)
        linear = (out + np.array(const, dtype=object)) % p
        return np.concatenate([linear, np.asarray(shares[:, entries], dtype=object) % p], axis=1)
    limbs: fastfield.U16 = shares  # type: ignore[assignment]  # not object: limbs
    # Each block of the record touches few of the columns (a value's histogram: consistency, its
    # own checks, the range combination and the cells; h: Y, h(r) and the range combination):
    # multiplied block by block, only those columns are computed.
    cuts = [layout.h_at] + [at for v in layout.scheme.values for at in (v.hist_at, v.prod_at, v.sq_at, v.d1_at)]
    blocks = fastfield.blocks_of(W, cuts)
    return np.concatenate([fastfield.matmul_limbs(limbs, W, p, const, blocks), limbs[:, entries]], axis=1)


def second_openings(local: Matrix, first: Matrix, p: int) -> Matrix:
    """A node's shares of every check's Z (:data:`SECOND_ROUND` for a one-figure survey): (N, C),
    from its :func:`local_openings` and the first round's opened values (N, F) — Z = C - e f
    - e y - f x - z, with C - z the held terms and e, f public."""
    cols = Columns.from_local(local.shape[1])
    beaver = [(cols.terms(k), cols.e(k), cols.f(k), cols.x(k), cols.y(k)) for k in range(cols.checks)]
    if local.dtype == np.object_:
        out = np.zeros((len(local), cols.checks), dtype=object)
        for k, (terms, e, f, x, y) in enumerate(beaver):
            out[:, k] = (local[:, terms] - first[:, e] * (first[:, f] + local[:, y]) - first[:, f] * local[:, x]) % p
        return out
    ff = fastfield
    held: fastfield.U16 = local  # type: ignore[assignment]  # not object: limbs
    public: fastfield.U16 = first  # type: ignore[assignment]
    out_cols = []
    for terms, e, f, x, y in beaver:
        # e (f + y) + f x, reduced once (limb sums below 2^36), then subtracted from the terms
        prod = ff.mul_le(public[:, e], ff.add(public[:, f], held[:, y])) + ff.mul_le(public[:, f], held[:, x])
        out_cols.append(ff.sub(held[:, terms], ff.reduce_le(prod)))
    return np.stack(out_cols, axis=1)


def all_openings(shares: Matrix, layout: Layout, ch: Challenge, p: int, first: Matrix | None = None) -> Matrix:
    """Both rounds' openings of these share vectors (N, 10), the second round's with the public
    first-round values ``first`` (N, 8); without ``first`` the vectors are taken as unshared
    submissions, whose own first openings are the opened values."""
    local = local_openings(shares, layout, ch, p)
    mine = local[:, : layout.columns.first]
    return np.concatenate([mine, second_openings(local, mine if first is None else first, p)], axis=1)


def decide(opened: Sequence[Sequence[int]] | fastfield.U16, p: int) -> list[Reason | None]:
    """From opened rows of both rounds' values (ints, or (N, F + C, 8) limbs; ten for a
    one-figure survey): None if valid, else the first failed check (the bits' proof h(r) =
    w(r)^2, then the groups in :attr:`Columns.reasons`' order)."""
    if isinstance(opened, np.ndarray) and opened.dtype != np.object_:
        out_arr = np.full(len(opened), None, dtype=object)
        for o, reason in reversed(Columns.from_opened(opened.shape[1]).reasons):  # the first failed group wins
            out_arr[~fastfield.is_zero(opened[:, o])] = reason
        wire = opened[:, Opening.WIRE]
        proved = (fastfield.mul(wire, wire) == opened[:, Opening.SQUARE]).all(axis=-1)
        out_arr[~proved] = Reason.PROOF
        return list(out_arr.tolist())
    out: list[Reason | None] = []
    for row in opened:
        if row[Opening.WIRE] * row[Opening.WIRE] % p != row[Opening.SQUARE] % p:
            out.append(Reason.PROOF)
            continue
        out.append(next((reason for o, reason in Columns.from_opened(len(row)).reasons if row[o] % p), None))
    return out


def as_matrix(rows: Sequence[Sequence[int]], width: int) -> ObjArray:
    """An (N, width) object array of Python ints (an empty N gives shape (0, width))."""
    m = np.empty((len(rows), width), dtype=object)
    for i, r in enumerate(rows):
        m[i, :] = list(r)
    return m


def plain_reason(vec: Sequence[int], layout: Layout) -> str | None:
    """The plaintext oracle: why this (unshared) record vector is invalid, or None (in
    :attr:`Columns.reasons`' order)."""
    sc = layout.scheme
    if len(vec) != layout.record_width:
        return "length"
    chosen = [_one_hot_at(vec, v, sc.K) for v in sc.values]
    if any(at is None for at in chosen):
        return Reason.ONE_HOT.value
    cells = {at // v.B for at, v in zip(chosen, sc.values) if at is not None}
    if len(cells) > 1:
        return Reason.CELLS.value
    values = [_plain_value(vec, v, at % v.B) for at, v in zip(chosen, sc.values) if at is not None]
    if any(x is None for x in values) or any(x not in (0, 1) for x in vec[sc.basic_bits_at: sc.record_width]):
        return Reason.RANGE.value
    xs = [int(x) for x in values if x is not None]
    if sc.basic_bits and xs[0] - xs[1] != _number(vec, sc.basic_bits_at, sc.basic_bits):
        return Reason.RANGE.value
    c = cells.pop()
    for v, x in zip(sc.values, xs):
        for cc in range(sc.K):
            ind = 1 if cc == c else 0
            if vec[v.prod_at + cc] != x * ind or vec[v.sq_at + cc] != x * x * ind:
                return Reason.PRODUCT.value
    if sc.hourly is not None:
        from .encoding import HOURLY_SCALE

        rem, slack = _number(vec, sc.remainder_at, sc.hours_bits), _number(vec, sc.slack_at, sc.hours_bits)
        if xs[-1] * (1 + rem + slack) + rem != xs[0] * HOURLY_SCALE:
            return Reason.HOURLY.value
    return None


def _one_hot_at(vec: Sequence[int], v: ValueBlock, K: int) -> int | None:
    """Where value v's one-hot block holds its 1, or None if it is not one-hot."""
    H = list(vec[v.hist_at: v.hist_at + K * v.B])
    return H.index(1) if all(x in (0, 1) for x in H) and sum(H) == 1 else None


def _number(vec: Sequence[int], at: int, L: int) -> int:
    return sum(x << j for j, x in enumerate(vec[at: at + L]))


def _plain_value(vec: Sequence[int], v: ValueBlock, b: int) -> int | None:
    """Value v from its band b and offset bits, or None if they are not bits or do not span the
    band's width."""
    d = vec[v.d1_at: v.d2_at + v.bits]
    if any(x not in (0, 1) for x in d):
        return None
    off, dist = _number(vec, v.d1_at, v.bits), _number(vec, v.d2_at, v.bits)
    return v.banding.edges[b] + off if off + dist == v.banding.band_width(b) else None


def _check_matrix(nodes: Sequence[int], t: int, p: int) -> list[list[int]]:
    """(m x (1 + m - t - 1)) for the m ``nodes`` present (0-based, ascending): column 0
    interpolates f(0) from the first t + 1 of them; column j >= 1 is (prediction of the
    (t+j)-th node's share from the first t + 1) minus that share: zero iff consistent."""
    xs, m = [i + 1 for i in nodes[: t + 1]], len(nodes)
    cols = [lagrange_coefficients(xs, 0, p)]
    for k in range(t + 1, m):
        col = lagrange_coefficients(xs, nodes[k] + 1, p) + [0] * (m - t - 1)
        col[k] = p - 1
        cols.append(col)
    cols[0] = cols[0] + [0] * (m - t - 1)
    return [[cols[j][i] for j in range(len(cols))] for i in range(m)]


@dataclass(frozen=True)
class Opened:
    """One round's opened values (N, O) and, for every row whose shares do not lie on one
    degree-t polynomial, the nodes whose shares are off — identified only when the shares present
    allow error correction (n >= 3t+1 with every node; the row then holds the corrected values),
    else the empty tuple (the row holds zeros)."""

    values: Matrix
    suspects: dict[int, tuple[int, ...]]


def open_all(node_shares: Sequence[Matrix] | Mapping[int, Matrix], t: int, p: int) -> Opened:
    """Open the nodes' shares of (N, O) values: node i's (N, O) object matrix, or its (N, O, 8)
    limbs for the fast path, by node index (a sequence: every node; a mapping: the nodes present,
    the others erasures).  Rows off the polynomial are corrected within
    :func:`protocol.field.correctable` of the shares present."""
    by_node = dict(node_shares) if isinstance(node_shares, Mapping) else dict(enumerate(node_shares))
    nodes = sorted(by_node)
    present = [by_node[i] for i in nodes]
    values, nonzero = _interpolate_and_check(present, _check_matrix(nodes, t, p), p)
    bad_rows = np.nonzero(nonzero)[0] if len(nodes) > t + 1 else np.zeros(0, dtype=int)
    suspects: dict[int, tuple[int, ...]] = {}
    for i in bad_rows.tolist():
        corrected, suspects[i] = _correct({j: row_values(by_node[j], i, p) for j in nodes}, t, p)
        values[i] = (np.array(corrected, dtype=object) if values.dtype == np.object_
                     else fastfield.from_ints(corrected, p))
    return Opened(values, suspects)


def _interpolate_and_check(node_shares: Sequence[Matrix], Wc: list[list[int]], p: int
                           ) -> tuple[Matrix, npt.NDArray[np.bool_]]:
    """Every row's values at 0 (N, O) and whether its shares are off one degree-t polynomial (N)."""
    N, O = node_shares[0].shape[0], node_shares[0].shape[1]
    if node_shares[0].dtype == np.object_:
        stacked = np.stack([np.asarray(s, dtype=object).reshape(N * O) for s in node_shares], axis=1)
        res = np.asarray(stacked.dot(np.array(Wc, dtype=object)), dtype=object) % p if N else \
            np.zeros((0, len(Wc[0])), dtype=object)
        res = res.reshape(N, O, len(Wc[0]))
        return res[:, :, 0], (res[:, :, 1:] != 0).any(axis=(1, 2))
    # the check matrix's entries are small integers (Lagrange coefficients at integer points)
    signed = [[c if c <= p // 2 else c - p for c in row] for row in Wc]
    flat: list[fastfield.U16] = [np.asarray(s, dtype=np.uint16).reshape(N * O, fastfield.LIMBS) for s in node_shares]
    if all(abs(c) < (1 << 24) for row in signed for c in row):
        combined = fastfield.combine_small(flat, signed)
    else:
        combined = fastfield.matmul_limbs(np.stack(flat, axis=1), Wc, p)
    lres = combined.reshape(N, O, len(Wc[0]), fastfield.LIMBS)
    return lres[:, :, 0], np.asarray(lres[:, :, 1:].any(axis=(1, 2, 3)), dtype=bool)


def row_values(shares: Matrix, i: int, p: int) -> list[int]:
    """Row i of a node's opening shares as Python ints (object matrix or limbs)."""
    if shares.dtype == np.object_:
        return [int(v) % p for v in shares[i]]
    return [int(v) for v in fastfield.to_ints(shares[i])]


def _correct(rows: Mapping[int, list[int]], t: int, p: int) -> tuple[list[int], tuple[int, ...]]:
    """The values and the nodes whose shares are off the polynomial, when the shares present
    let us tell (:func:`protocol.field.correctable`); else zeros and ()."""
    from .errors import CheatingDetected
    from .field import correctable, robust_reconstruct

    zeros = [0] * len(next(iter(rows.values())))
    if not correctable(len(rows), t):
        return zeros, ()
    try:
        return robust_reconstruct(rows, t, p)
    except CheatingDetected:
        return zeros, ()


def joined(first: Matrix, second: Matrix) -> Matrix:
    """Both rounds' (N, F) and (N, C) values (8 and 2 for a one-figure survey) as the rows
    :func:`decide` reads."""
    return np.concatenate([first, second], axis=1)


def verdicts(first: Opened, second: Opened, p: int) -> tuple[list[Reason | None], dict[int, tuple[int, ...]]]:
    """Per submission None (valid) or the reason, from both rounds' opened values; plus the
    nodes off the polynomial for each inconsistent row of either round (the union when both
    rounds located them, () when either could not)."""
    values = joined(first.values, second.values)
    reasons = decide(values.tolist() if values.dtype == np.object_ else values, p)  # type: ignore[arg-type]
    suspects = dict(first.suspects)
    for i, who in second.suspects.items():
        earlier = suspects.get(i)
        suspects[i] = who if earlier is None else (tuple(sorted(set(earlier) | set(who))) if earlier and who else ())
    for i in suspects:
        reasons[i] = Reason.CONSISTENCY
    return reasons, suspects
