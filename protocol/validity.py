"""Validity of submissions, checked by the nodes on Shamir shares (DESIGN.md §3-4).

Every node holds, per submission, its share of the vector of :mod:`protocol.encoding`:
indicators ``ind_c`` and products ``prod_c`` (interleaved, 2C entries), then the L bits of the
salary ``b_j`` and the L bits of ``max - s`` ``b'_j``.  A submission is *valid* when

- one-hot:  ind_c (ind_c - 1) = 0 for every c, and sum_c ind_c = 1;
- range:    b_j (b_j - 1) = 0 and b'_j (b'_j - 1) = 0 for every j, and
            sum_j 2^j b_j + sum_j 2^j b'_j = max        (so 0 <= s <= max);
- product:  prod_c = s * ind_c for every c, with s = sum_j 2^j b_j.

The nodes never open a share of the record.  Per submission they open, to every node:

1. ``y = sum_k sigma_k x_k + R`` with R a fresh random degree-t sharing: all n shares of y must lie
   on one degree-t polynomial, or the contributor's shares were inconsistent;
2. per group g, ``w_g = sum_q rho_q C_q(x) + Z_g`` with Z_g a fresh random degree-2t sharing of
   zero, computed locally from products of shares (degree 2t) and reconstructed from 2t+1
   shares: the group holds iff ``w_g = 0``.

R and Z_g make the opened values uniformly random apart from the verdict, so a valid
submission reveals nothing.  The coefficients sigma and rho are public and derived from a seed
the nodes draw jointly *after* the submission set is frozen, so a contributor cannot choose
shares that cancel: an invalid submission escapes with probability at most (number of
constraints)/p per group, below 2^-120 for p = 2^127 - 1.

Everything here is plain arithmetic on numpy object arrays (one row per submission), shared by
the node's MPC program and the tests; it imports no MPC runtime.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .encoding import aggregate_length, salary_bits
from .field import lagrange_at_zero, lagrange_coefficients

GROUPS = ("one-hot", "range", "product")
REASONS = {
    "consistency": "shares do not lie on one degree-t polynomial",
    "one-hot": "gender part is not one-hot",
    "range": "salary outside [0, max] (bits)",
    "product": "salary-by-gender entry does not match the salary and gender",
}

ObjArray = npt.NDArray[np.object_]


@dataclass(frozen=True)
class Layout:
    """Where each part of a record vector sits."""

    categories: int
    bits: int
    salary_max: int

    @staticmethod
    def of(categories: Sequence[str], salary_max: int) -> Layout:
        return Layout(len(categories), salary_bits(salary_max), salary_max)

    @property
    def width(self) -> int:
        return 2 * self.categories + 2 * self.bits

    @property
    def bits_start(self) -> int:
        return aggregate_length(["c"] * self.categories)


@dataclass(frozen=True)
class Challenge:
    """The public random coefficients of one validation run."""

    sigma: ObjArray  # one per vector entry (consistency)
    rho_onehot: ObjArray  # C + 1
    rho_range: ObjArray  # 2L + 1
    rho_product: ObjArray  # C


def derive_challenge(seed: bytes, layout: Layout, p: int) -> Challenge:
    """Expand a jointly drawn seed into field coefficients (SHAKE-256, 24 bytes per element so the
    reduction bias is below 2^-64)."""
    C, L = layout.categories, layout.bits
    counts = (layout.width, C + 1, 2 * L + 1, C)
    stream = hashlib.shake_256(b"salary-mpc/v1 validation challenge\x00" + seed).digest(24 * sum(counts))
    vals = [int.from_bytes(stream[24 * k: 24 * (k + 1)], "big") % p for k in range(sum(counts))]
    out, at = [], 0
    for c in counts:
        out.append(np.array(vals[at: at + c], dtype=object))
        at += c
    return Challenge(*out)


def as_matrix(rows: Sequence[Sequence[int]], width: int) -> ObjArray:
    """An (N, width) object array of Python ints (an empty N gives shape (0, width))."""
    m = np.empty((len(rows), width), dtype=object)
    for i, r in enumerate(rows):
        m[i, :] = list(r)
    return m


def consistency_terms(X: ObjArray, ch: Challenge, p: int) -> ObjArray:
    """Local share of sum_k sigma_k x_k per submission (linear, degree t)."""
    return np.asarray(X.dot(ch.sigma), dtype=object) % p if len(X) else np.zeros(0, dtype=object)


def constraint_terms(X: ObjArray, ch: Challenge, layout: Layout, p: int) -> dict[str, ObjArray]:
    """Local shares (degree 2t) of the three random combinations of constraints per submission.

    Each is zero for a valid submission.  Constants (1, max) enter as the constant sharing.
    """
    if not len(X):
        return {g: np.zeros(0, dtype=object) for g in GROUPS}
    C, L, A = layout.categories, layout.bits, layout.bits_start
    ind = X[:, 0: 2 * C: 2]
    prod = X[:, 1: 2 * C: 2]
    bits = X[:, A: A + 2 * L]  # b_0..b_{L-1}, b'_0..b'_{L-1}: adjacent, checked in one pass
    pow2 = np.array([1 << j for j in range(L)] * 2, dtype=object)
    # Python ints do not overflow: reduce once at the end of each combination (fewer operations).
    s = np.asarray(bits[:, :L].dot(pow2[:L]), dtype=object) % p
    r1, r2, r3 = ch.rho_onehot, ch.rho_range, ch.rho_product
    onehot = ((ind * (ind - 1)).dot(r1[:C]) + r1[C] * (ind.sum(axis=1) - 1)) % p
    # sum_j rho_j b_j (b_j - 1) over both decompositions, plus rho * (s + (max - s) - max)
    rng = ((bits * (bits - 1)).dot(r2[: 2 * L]) + r2[2 * L] * (bits.dot(pow2) - layout.salary_max)) % p
    product = (prod.dot(r3) - s * ind.dot(r3)) % p
    return {"one-hot": np.asarray(onehot, dtype=object), "range": np.asarray(rng, dtype=object),
            "product": np.asarray(product, dtype=object)}


def consistent_rows(shares: Sequence[ObjArray], degree: int, p: int) -> npt.NDArray[np.bool_]:
    """Per submission: do the n shares (node i's vector at index i) lie on one polynomial of the
    given degree?  Needs n > degree + 1 to mean anything (else all True)."""
    n = len(shares)
    N = len(shares[0]) if n else 0
    ok = np.ones(N, dtype=bool)
    base = list(range(degree + 1))
    xs = [i + 1 for i in base]
    for k in range(degree + 1, n):
        row = lagrange_coefficients(xs, k + 1, p)
        pred = sum((c * shares[i] for c, i in zip(row, base)), np.zeros(N, dtype=object)) % p
        ok &= np.asarray(pred == shares[k] % p, dtype=bool)
    return ok


def open_at_zero(shares: Sequence[ObjArray], degree: int, p: int) -> ObjArray:
    """f(0) per submission from the first degree+1 nodes' shares."""
    base = list(range(degree + 1))
    lam = lagrange_at_zero([i + 1 for i in base], p)
    N = len(shares[0])
    return sum((l * shares[i] for l, i in zip(lam, base)), np.zeros(N, dtype=object)) % p


def verdicts(y_shares: Sequence[ObjArray], w_shares: Mapping[str, Sequence[ObjArray]], t: int,
             p: int, groups: Sequence[str] = GROUPS) -> list[str | None]:
    """Per submission: None if valid, else the first failed check (a key of :data:`REASONS`, or
    a name from ``groups``)."""
    consistent = consistent_rows(y_shares, t, p)
    opened = {g: open_at_zero(w_shares[g], 2 * t, p) for g in groups}
    out: list[str | None] = []
    for i in range(len(consistent)):
        if not consistent[i]:
            out.append("consistency")
            continue
        out.append(next((g for g in groups if opened[g][i] != 0), None))
    return out


def plain_reason(vec: Sequence[int], layout: Layout) -> str | None:
    """The plaintext oracle: why this (unshared) vector is invalid, or None."""
    C, L, A = layout.categories, layout.bits, layout.bits_start
    if len(vec) != layout.width:
        return "length"
    ind, prod = vec[0: 2 * C: 2], vec[1: 2 * C: 2]
    b, bp = vec[A: A + L], vec[A + L: A + 2 * L]
    if any(v not in (0, 1) for v in ind) or sum(ind) != 1:
        return "one-hot"
    s = sum(v << j for j, v in enumerate(b))
    if any(v not in (0, 1) for v in list(b) + list(bp)) or s + sum(v << j for j, v in enumerate(bp)) != layout.salary_max:
        return "range"
    if any(pc != s * ic for pc, ic in zip(prod, ind)):
        return "product"
    return None
