"""Validation on shares as the MPC parties run it, simulated for n nodes without the network:
both rounds of openings (protocol.validity), every node computing its shares from its share
vectors, the second round with the first round's opened values."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from protocol import fastfield
from protocol.validity import (
    Challenge,
    Layout,
    Opened,
    Reason,
    as_matrix,
    local_openings,
    open_all,
    second_openings,
    verdicts,
)

P = fastfield.MERSENNE_127

#: a node's deviation: (round 1 or 2, node index, its (N, O) opening shares) -> what it sends
Lie = Callable[[int, int, Any], Any]


def node_matrix(rows: Sequence[Sequence[int]], width: int, p: int, fast: bool) -> Any:
    """One node's share vectors as limbs (fast path, p = 2^127 - 1) or an object matrix."""
    if fast and p == P:
        data = b"".join(v.to_bytes(16, "big") for r in rows for v in r)
        return fastfield.limbs_from_bytes(data, len(rows), width)
    return as_matrix(rows, width)


def rounds(vectors_shares: Sequence[Sequence[Sequence[int]]], layout: Layout, ch: Challenge, t: int, p: int = P,
           fast: bool = True, lie: Lie | None = None, absent: Sequence[int] = ()) -> tuple[Opened, Opened]:
    """Both rounds' opened values; ``vectors_shares[k][i]`` is node i's share vector of submission k;
    the ``absent`` nodes are left out of the run (their shares are erasures)."""
    n = len(vectors_shares[0])
    nodes = [i for i in range(n) if i not in absent]
    local = {i: local_openings(node_matrix([sub[i] for sub in vectors_shares], layout.width, p, fast), layout, ch, p)
             for i in nodes}
    sent = {i: loc[:, : layout.columns.first] for i, loc in local.items()}
    if lie is not None:
        sent = {i: lie(1, i, s) for i, s in sent.items()}
    first = open_all(sent, t, p)
    second = {i: second_openings(loc, first.values, p) for i, loc in local.items()}
    if lie is not None:
        second = {i: lie(2, i, s) for i, s in second.items()}
    return first, open_all(second, t, p)


def simulate(vectors_shares: Sequence[Sequence[Sequence[int]]], layout: Layout, ch: Challenge, t: int, p: int = P,
             fast: bool = True, lie: Lie | None = None) -> tuple[list[Reason | None], dict[int, tuple[int, ...]]]:
    """Verdicts and suspects, as every honest party computes them."""
    first, second = rounds(vectors_shares, layout, ch, t, p, fast, lie)
    return verdicts(first, second, p)


def add_to_row(shares: Any, row: int, column: int, delta: int, p: int = P) -> Any:
    """A copy of (N, O) opening shares (ints or limbs) with ``delta`` added to one entry."""
    if shares.dtype == np.object_:
        out = shares.copy()
        out[row, column] = (out[row, column] + delta) % p
        return out
    vals = fastfield.to_ints(shares)
    vals[row, column] = (vals[row, column] + delta) % p
    return fastfield.from_ints(vals)
