"""Dispute control: which nodes a rerun of the MPC leaves out after an attempt failed, decided by
every node with the same deterministic rule over the same signed accusations.

When an attempt of the MPC over the frozen set ends, each node that was in it signs an
:class:`~protocol.wire.Accusation` (attempt number, frozen-set digest, whom its party named and
why: a *deviation* it saw, or peers it *lost*) and publishes it, with the accusations of its
peers it has collected, through its compute state.  :func:`settle` turns the statements into the
nodes to leave out:

- a node with two different signed statements for one attempt *equivocated*: the two signatures
  prove it, and it is left out alone;
- a node with no statement at all is *lost*: left out alone, its shares an erasure;
- an accusation that cannot be verified puts a *dispute* between the accuser and the accused:
  a deviation accusation always (either the accused deviated or the accuser lies), a lost
  accusation when the accused (alive: it signed a statement) names the accuser back (a node
  that left because of a third node explains the links it dropped, so the nodes that lost it
  after that are not in dispute with it);
- an honest node is in dispute only with faulty nodes, so a node in dispute with more than t
  others is faulty: left out alone (*named by many*), its disputes settled by that;
- of the other disputes a maximal matching, taken in a fixed order, is left out pair by pair:
  each pair holds at least one faulty node, and no dispute remains among the nodes that go on.

Budget: the nodes present must check every opening even if the faulty ones among them lie,
``s + e <= n - t - 1`` (s wrong shares, e missing).  A node left out alone is counted as if it
were honest (a lost node may be), so it costs one erasure and leaves s at most t; a pair costs
two erasures but takes a faulty node with it: with ``lone`` nodes and ``k`` pairs left out,
``(t - k) + lone + 2k <= n - t - 1``, i.e. ``lone + k <= n - 2t - 1`` (:meth:`Settlement.cost`).
Every node charged holds a distinct faulty node or is itself one, so with n >= 3t + 1 and at
most t faulty nodes the budget always holds: the rerun has output guaranteed.

Agreement on the statements: :mod:`mpc_nodes.compute` collects every peer's statement for the
attempt (waiting at most the stall timeout), then publishes its collection and takes the union
of every peer's collection; :func:`settle` depends only on that union.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from protocol.errors import SurveyError
from protocol.manifest import Manifest
from protocol.nodeauth import accusation_statement, sign_statement, verify_accusation
from protocol.wire import Accusation, AccusationKind

from . import keys


@dataclass(frozen=True)
class Statement:
    """What one signed accusation says (the part :func:`settle` reads)."""

    accuser: int
    kind: AccusationKind
    accused: frozenset[int]

    @staticmethod
    def of(a: Accusation) -> Statement:
        return Statement(a.accuser, AccusationKind(a.kind), frozenset(a.accused))


class Why(StrEnum):
    """Why :func:`settle` leaves a node out."""

    LOST = "lost"  # no signed statement for the attempt: an erasure
    EQUIVOCATED = "equivocated"  # two different signed statements for one attempt: proven
    NAMED_BY_MANY = "named by many"  # in dispute with more than t nodes: at least one of each pair is faulty
    DISPUTE = "dispute"  # one of a pair in dispute: at least one of the two deviated


@dataclass(frozen=True)
class LeftOut:
    """One node left out of the rerun, and why (``partner``: the other node of its dispute)."""

    node: int
    why: Why
    partner: int | None = None

    def describe(self) -> str:
        if self.why == Why.DISPUTE:
            return f"node {self.node}: in dispute with node {self.partner}"
        return f"node {self.node}: {self.why.value}"


@dataclass(frozen=True)
class Settlement:
    """The nodes :func:`settle` leaves out of the rerun, by node index."""

    left_out: Mapping[int, LeftOut] = field(default_factory=dict)

    @property
    def nodes(self) -> tuple[int, ...]:
        return tuple(sorted(self.left_out))

    @property
    def pairs(self) -> tuple[tuple[int, int], ...]:
        return tuple(sorted({(min(x.node, x.partner), max(x.node, x.partner)) for x in self.left_out.values()
                             if x.why == Why.DISPUTE and x.partner is not None}))

    @property
    def lone(self) -> tuple[int, ...]:
        return tuple(j for j, x in sorted(self.left_out.items()) if x.why != Why.DISPUTE)

    def cost(self) -> int:
        """Units of the budget ``lone + k <= n - 2t - 1`` this settlement uses."""
        return len(self.lone) + len(self.pairs)


def settle(t: int, parties: Iterable[int], statements: Iterable[Statement]) -> Settlement:
    """The nodes to leave out of the rerun, given every signed statement of the attempt from the
    nodes in it (``parties``; statements by others, and accusations of others, are ignored).
    Deterministic: it depends only on the set of statements, not on their order."""
    present = frozenset(parties)
    said: dict[int, set[Statement]] = {i: set() for i in present}
    for s in statements:
        if s.accuser in present:
            said[s.accuser].add(s)
    out: dict[int, LeftOut] = {}
    for i in sorted(present):
        if not said[i]:
            out[i] = LeftOut(i, Why.LOST)
        elif len(said[i]) > 1:
            out[i] = LeftOut(i, Why.EQUIVOCATED)
    alive = {i: next(iter(ss)) for i, ss in said.items() if i not in out}
    edges = _disputes(alive)
    neighbours: dict[int, set[int]] = {i: set() for i in alive}
    for a, b in edges:
        neighbours[a].add(b)
        neighbours[b].add(a)
    for i in sorted(alive):
        if len(neighbours[i]) > t:
            out[i] = LeftOut(i, Why.NAMED_BY_MANY)
    for a, b in sorted(edges):
        if a not in out and b not in out:
            out[a], out[b] = LeftOut(a, Why.DISPUTE, b), LeftOut(b, Why.DISPUTE, a)
    return Settlement(out)


def _disputes(alive: Mapping[int, Statement]) -> set[tuple[int, int]]:
    """The pairs (low, high) in dispute among the nodes that signed exactly one statement."""
    edges = set()
    for i, s in alive.items():
        for j in s.accused:
            if j == i or j not in alive:
                continue  # the accused is left out anyway (lost or equivocated), or not in this attempt
            if s.kind == AccusationKind.DEVIATION or i in alive[j].accused:
                edges.add((min(i, j), max(i, j)))
    return edges


def within_budget(n: int, t: int, spent: int, settlement: Settlement) -> bool:
    """Can the nodes go on after ``settlement``, ``spent`` units of the budget used by earlier
    attempts?  (``lone + k <= n - 2t - 1``: see the module docstring.)"""
    return spent + settlement.cost() <= n - 2 * t - 1


# -- signed statements ---------------------------------------------------------------------------

def sign_accusation(node_dir: Path, manifest: Manifest, agreed_digest: str, attempt: int, me: int,
                    kind: AccusationKind, accused: Iterable[int]) -> Accusation:
    """This node's signed accusation for one attempt, with its TLS key (as its audit heads)."""
    a = Accusation(manifest.survey_id, manifest.hash_hex(), agreed_digest, attempt, me, kind.value,
                   sorted(set(accused)), "")
    sig = sign_statement((node_dir / keys.TLS_KEY_FILE).read_bytes(), accusation_statement(a))
    return Accusation(a.survey_id, a.manifest_hash, a.agreed_digest, a.attempt, a.accuser, a.kind, a.accused,
                      base64.b64encode(sig).decode())


def verified(manifest: Manifest, agreed_digest: str, attempt: int,
             seen: Iterable[Accusation]) -> dict[Statement, Accusation]:
    """The accusations of ``seen`` that are about this attempt over this frozen set and signed
    by their accuser, by what they say (others are dropped: a relay cannot forge, only withhold)."""
    out: dict[Statement, Accusation] = {}
    for a in seen:
        if a.agreed_digest != agreed_digest or a.attempt != attempt:
            continue
        try:
            verify_accusation(manifest, a)
        except SurveyError:
            continue
        out.setdefault(Statement.of(a), a)
    return out
