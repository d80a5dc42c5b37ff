"""Dispute control: which nodes a rerun of the MPC leaves out after an attempt failed, decided by
every node with the same deterministic rule over the same signed accusations.

When an attempt of the MPC over the frozen set ends, each node that was in it signs an
:class:`~protocol.wire.Accusation` (attempt number, frozen-set digest, whom its party named and
why: a *deviation* it saw, peers it *lost*, that it *followed* a peer's stop statement, or that
it *withdraws* because its own party failed or named it) and publishes it through its compute
state; :func:`exchange` makes the honest nodes agree on the set of signed accusations, and
:func:`settle` turns that set into the nodes to leave out, the same on every honest node.

A party that stops signs that statement itself and sends it to every peer still connected
before it closes its links (the *stop statement*, :mod:`mpc_nodes.party_links`); a party that
receives one stops too, with a *followed* statement naming the sender and the hash of what it
received, and sends that on.  So a cascade of stops is a chain of hash-linked followed
statements (it cannot loop: a loop would need a hash fixpoint) that ends at a first-hand
statement, and a link that closes without a stop statement is a first-hand loss.  The rule:

- of each node's statements for the attempt only those of its highest sequence number count
  (an honest node numbers every accusation it signs above the last, over every compute, so one
  replayed from an earlier compute of the same frozen set is outranked by its current one); a
  node with two different signed statements there *equivocated*: the two signatures prove it,
  and it is left out alone;
- an accusation that cannot be verified puts a *dispute* between the accuser and the accused:
  a deviation or a lost accusation always (either the accused deviated or dropped its link, or
  the accuser lies), a followed one when its hash is not the accused's statement (the accused
  sent one statement and published another, or the accuser invents);
- a node with no statement at all is *lost*, one that withdrew *withdrew*: left out alone, its
  shares an erasure (disputes with them do not count below: an honest node that lost a crashed
  one is not thereby suspect);
- an honest node is in dispute only with faulty nodes, so a node in dispute with more than t
  others is faulty: left out alone (*named by many*), its disputes settled by that; a node that
  withdrew is named so only when more than t others accuse it of a deviation (else it is one
  whose party failed, and the others' losses of it say nothing more);
- of the other disputes a maximal matching, taken in a fixed order, is left out pair by pair:
  each pair holds at least one faulty node, and no dispute remains among the nodes that go on.

Budget: the nodes present must check every opening even if the faulty ones among them lie,
``s + e <= n - t - 1`` (s wrong shares, e missing).  A node left out alone is counted as if it
were honest (a lost node may be), so it costs one erasure and leaves s at most t; a pair costs
two erasures but takes a faulty node with it: with ``lone`` nodes and ``k`` pairs left out,
``(t - k) + lone + 2k <= n - t - 1``, i.e. ``lone + k <= n - 2t - 1`` (:meth:`Settlement.cost`).
Every node charged holds a distinct faulty node or is itself one, so with n >= 3t + 1 and at
most t faulty nodes the budget always holds: the rerun has output guaranteed.  (With pairs
only this is the decoding budget ``2(t - k) + 2k = 2t <= n - t - 1`` too.)

Progress: when an attempt fails some honest node stops first.  If it saw a deviation or a loss
first-hand, its accusation names a faulty node; if it followed a faulty node's stop statement,
the node that follows it relays that statement, so the faulty node's statements hold it, and
either they hold another too (an equivocation), or it is a first-hand accusation by the faulty
node (a dispute with it) or a withdrawal, or a followed statement whose chain ends in a dispute
with a faulty node.  Either way a faulty node is left out.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any
from pathlib import Path

from protocol.errors import SurveyError
from protocol.manifest import Manifest
from protocol.nodeauth import (
    accusation_hash,
    accusation_statement,
    endorsement_statement,
    sign_statement,
    verify_accusation,
    verify_endorsement,
)
from protocol.wire import Accusation, AccusationKind, ComputeState, Endorsement

from . import keys


@dataclass(frozen=True)
class Statement:
    """What one signed accusation says (the part :func:`settle` reads)."""

    accuser: int
    kind: AccusationKind
    accused: frozenset[int]
    sequence: int = 0  # the accuser's accusation count: its newest statement is the one that counts
    digest: str = ""  # :func:`statement_hash` of the signed accusation
    follows: str = ""  # a followed statement: the digest of the statement it followed

    @staticmethod
    def of(a: Accusation) -> Statement:
        return Statement(a.accuser, AccusationKind(a.kind), frozenset(a.accused), a.sequence, statement_hash(a),
                         a.follows)


class Why(StrEnum):
    """Why :func:`settle` leaves a node out."""

    LOST = "lost"  # no signed statement for the attempt: an erasure
    WITHDREW = "withdrew"  # its statement says its own party failed or named it
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
    said = _newest({i: set() for i in present}, statements)
    single = {i: next(iter(ss)) for i, ss in said.items() if len(ss) == 1}
    alone = {i: Why.EQUIVOCATED if len(ss) > 1 else Why.LOST if not ss else Why.WITHDREW
             for i, ss in said.items() if len(ss) != 1 or single[i].kind == AccusationKind.WITHDRAWN}
    edges = _disputes(present, single)
    # a dispute with a node that is left out alone anyway does not count towards being named:
    # an honest node that lost a crashed one is not thereby suspect
    neighbours: dict[int, set[int]] = {i: set() for i in present}
    for a, b in edges:
        if b not in alone:
            neighbours[a].add(b)
        if a not in alone:
            neighbours[b].add(a)
    out: dict[int, LeftOut] = {}
    for i in sorted(present):
        if alone.get(i) in (Why.EQUIVOCATED, Why.LOST):
            out[i] = LeftOut(i, alone[i])
        elif len(_deviation_accusers(i, single, alone) if i in alone else neighbours[i]) > t:
            out[i] = LeftOut(i, Why.NAMED_BY_MANY)
        elif i in alone:
            out[i] = LeftOut(i, alone[i])
    for a, b in sorted(edges):
        if a not in out and b not in out:
            out[a], out[b] = LeftOut(a, Why.DISPUTE, b), LeftOut(b, Why.DISPUTE, a)
    return Settlement(out)


def _deviation_accusers(i: int, single: Mapping[int, Statement], alone: Mapping[int, Why]) -> set[int]:
    """The nodes (not left out alone) that accuse node i of a deviation: what names a node that
    withdrew (its party failed, so the others' losses of it say nothing more)."""
    return {j for j, sj in single.items() if sj.kind == AccusationKind.DEVIATION and i in sj.accused
            and j not in alone}


def _newest(said: dict[int, set[Statement]], statements: Iterable[Statement]) -> dict[int, set[Statement]]:
    """Each node's statements of its highest sequence number, for the nodes keyed in ``said``:
    an honest node numbers every accusation it signs higher than the one before, so a statement
    of an earlier compute, replayed, is outranked by its current one (two at the top are an
    equivocation)."""
    for s in statements:
        if s.accuser in said:
            said[s.accuser].add(s)
    for i, ss in said.items():
        top = max((s.sequence for s in ss), default=0)
        said[i] = {s for s in ss if s.sequence == top}
    return said


def _disputes(present: frozenset[int], single: Mapping[int, Statement]) -> set[tuple[int, int]]:
    """The pairs (low, high) in dispute, from the nodes of the attempt that signed one statement:
    a deviation or a lost accusation of any node of the attempt (an honest party that stops
    sends its signed statement before it closes its links, so a link closed without one is
    first-hand: either the accused dropped it or the accuser lies); a followed statement whose
    hash is not the accused's statement (the accused sent another, or the accuser invents)."""
    edges = set()
    for i, s in single.items():
        for j in s.accused:
            if j == i or j not in present:
                continue
            if s.kind != AccusationKind.FOLLOWED or (j in single and single[j].digest != s.follows):
                edges.add((min(i, j), max(i, j)))
    return edges


def within_budget(n: int, t: int, spent: int, settlement: Settlement) -> bool:
    """Can the nodes go on after ``settlement``, ``spent`` units of the budget used by earlier
    attempts?  (``lone + k <= n - 2t - 1``: see the module docstring.)"""
    return spent + settlement.cost() <= n - 2 * t - 1


# -- signed statements ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Attempt:
    """One attempt of the MPC over a frozen set: its number (0 for the first run of a compute)
    and the nodes in it (the others were left out before it)."""

    number: int
    agreed_digest: str
    parties: tuple[int, ...]


def statement_hash(a: Accusation) -> str:
    return accusation_hash(a)


class Signer:
    """This node's signatures in disputes, with its TLS key (the key of its audit heads)."""

    def __init__(self, node_dir: Path, manifest: Manifest, me: int) -> None:
        self._key = (node_dir / keys.TLS_KEY_FILE).read_bytes()
        self.manifest, self.me = manifest, me

    def accuse(self, attempt: Attempt, kind: AccusationKind, accused: Iterable[int], sequence: int,
               follows: str = "") -> Accusation:
        """This node's signed accusation; ``sequence`` must exceed that of every accusation it
        signed before for the survey (:meth:`mpc_nodes.store.NodeStore.next_accusation`);
        ``follows``: for a followed statement, the hash of the statement it followed."""
        m = self.manifest
        a = Accusation(m.survey_id, m.hash_hex(), attempt.agreed_digest, attempt.number, sequence, self.me,
                       kind.value, sorted(set(accused)), "", follows)
        return replace(a, signature=base64.b64encode(sign_statement(self._key, accusation_statement(a))).decode())

    def endorse(self, a: Accusation) -> Endorsement:
        e = Endorsement(a.agreed_digest, a.attempt, a.accuser, statement_hash(a), self.me, "")
        return replace(e, signature=base64.b64encode(sign_statement(self._key, endorsement_statement(e))).decode())


class Evidence:
    """The verified accusations of one attempt this node has seen, and who signed each: its
    accuser, and every node that endorsed it.  Items about other attempts or not validly
    signed are dropped (a relay cannot forge a statement, only withhold it)."""

    def __init__(self, manifest: Manifest, attempt: Attempt) -> None:
        self.manifest, self.attempt = manifest, attempt
        self.known: dict[str, Accusation] = {}  # statement hash -> accusation
        self.endorsements: dict[str, dict[int, Endorsement]] = {}  # statement hash -> endorser -> endorsement
        self._checked: set[str] = set()  # signatures already looked at

    def _valid(self, item: Accusation | Endorsement, verify: Callable[[Manifest, Any], None]) -> bool:
        """Is ``item`` about this attempt, not looked at before, and validly signed?"""
        if (item.agreed_digest, item.attempt) != (self.attempt.agreed_digest, self.attempt.number) \
                or item.signature in self._checked:
            return False
        self._checked.add(item.signature)
        try:
            verify(self.manifest, item)
        except SurveyError:
            return False
        return True

    def absorb(self, accusations: Iterable[Accusation], endorsements: Iterable[Endorsement]) -> None:
        for a in accusations:
            if self._valid(a, verify_accusation):
                self.known.setdefault(statement_hash(a), a)
        for e in endorsements:
            if self._valid(e, verify_endorsement):
                self.endorsements.setdefault(e.statement_sha256, {}).setdefault(e.endorser, e)

    def signers(self, h: str) -> set[int]:
        a = self.known[h]
        return {a.accuser} | {j for j, e in self.endorsements.get(h, {}).items() if e.accuser == a.accuser}


#: What a node's peers publish, as :func:`exchange` reads it: peer -> its compute state (None: no answer)
Fetch = Callable[[Sequence[int]], Mapping[int, ComputeState | None]]
#: Publish (round, accusations, endorsements) in this node's compute state
Publish = Callable[[int, Sequence[Accusation], Sequence[Endorsement]], None]


def exchange(t: int, attempt: Attempt, own: Accusation, signer: Signer, publish: Publish, fetch: Fetch,
             stall: float, clock: Callable[[], float] = time.monotonic,
             sleep: Callable[[float], None] = time.sleep, relay: Sequence[Accusation] = ()) -> list[Accusation]:
    """Agree with the other honest nodes on the signed accusations of ``attempt``: t + 1 rounds
    of signed relays (Dolev-Strong).  Round 1: every node publishes its own accusation; each
    round r ends when every peer expected has published round r, or ``stall`` seconds per round
    after this node began (a peer silent in round 1 is not waited for again).  At the end of
    round r, an accusation seen with r distinct signatures (its accuser's and endorsers') is
    taken, and, up to round t, endorsed and relayed with its signatures in round r + 1.
    ``relay``: the peer's stop statement this node's party followed, published in round 1
    beside its own (so a faulty node cannot hide the statement it stopped others with).

    Why the honest nodes end with the same set: an accusation an honest node takes in round
    r <= t reaches every honest node with r + 1 signatures in round r + 1; one taken in round
    t + 1 carries t + 1 signatures, so an honest node signed it, having taken it in an earlier
    round, so every honest node took it too.  This holds while the honest nodes start the
    dispute within a stall timeout of each other (they all see the attempt fail within that)."""
    ev = Evidence(signer.manifest, attempt)
    ev.absorb([own, *relay], [])
    accepted = {statement_hash(own)}
    publish(1, [own, *relay], [])
    start, expected = clock(), [j for j in attempt.parties if j != signer.me]
    for r in range(1, t + 2):
        reached = _collect(ev, fetch, expected, (attempt.number, r), start + r * stall, clock, sleep)
        if r == 1:
            expected = reached
        newly = sorted(h for h in ev.known if h not in accepted and len(ev.signers(h)) >= r)
        accepted.update(newly)
        if r <= t:
            publish(r + 1, [ev.known[h] for h in newly],
                    [e for h in newly for e in ev.endorsements.get(h, {}).values()]
                    + [signer.endorse(ev.known[h]) for h in newly])
    return [ev.known[h] for h in sorted(accepted)]


def _collect(ev: Evidence, fetch: Fetch, expected: Sequence[int], until: tuple[int, int], deadline: float,
             clock: Callable[[], float], sleep: Callable[[float], None]) -> list[int]:
    """Read the peers' published items until each of ``expected`` has reached (attempt, round)
    ``until`` or ``deadline`` passes; returns those that reached it."""
    waiting, pause = set(expected), 0.02
    while True:
        for j, cs in fetch(sorted(waiting)).items():
            if cs is None:
                continue
            ev.absorb(cs.accusations, cs.endorsements)
            if (cs.dispute_attempt, cs.dispute_round) >= until:
                waiting.discard(j)
        if not waiting or clock() >= deadline:
            return [j for j in expected if j not in waiting]
        sleep(pause)
        pause = min(0.5, pause * 1.5)
