"""Dispute control (mpc_nodes/dispute.py): the rule that decides which nodes a rerun leaves out,
from the signed accusations of a failed attempt, and the signed accusations themselves."""

from __future__ import annotations

import itertools
import json
import random
import threading
import types
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mpc_nodes.dispute import (
    Attempt,
    Evidence,
    LeftOut,
    Signer,
    Statement,
    Why,
    exchange,
    settle,
    statement_hash,
    within_budget,
)
from protocol.errors import SurveyError
from protocol.manifest import Manifest
from protocol.nodeauth import verify_accusation
from protocol.wire import Accusation, AccusationKind, ComputeState, Endorsement, ResultState
from tests.conftest import Survey, make_survey

DEV, LOST = AccusationKind.DEVIATION, AccusationKind.LOST


def st_(i: int, kind: AccusationKind, *accused: int, seq: int = 0) -> Statement:
    return Statement(i, kind, frozenset(accused), seq)


def test_everyone_naming_one_node_leaves_it_out_alone() -> None:
    """n = 4, t = 1, node 2 deviates towards everyone: three disputes with node 2 (> t), so node
    2 is faulty for certain and nobody else is left out."""
    s = settle(1, range(4), [st_(0, DEV, 2), st_(1, DEV, 2), st_(3, DEV, 2), st_(2, LOST, 0, 1, 3)])
    assert s.left_out == {2: LeftOut(2, Why.NAMED_BY_MANY)}
    assert s.cost() == 1 and within_budget(4, 1, 0, s)


def test_deviation_towards_one_node_puts_the_pair_in_dispute_and_the_cascade_is_explained() -> None:
    """Node 2 sends garbage to node 1 only: node 1 names it and leaves, nodes 0 and 3 (and node 2)
    lose node 1.  Node 1 explains its leaving, so only {1, 2} is in dispute; nodes 0 and 3 go on."""
    s = settle(1, range(4), [st_(1, DEV, 2), st_(0, LOST, 1), st_(3, LOST, 1), st_(2, LOST, 1)])
    assert s.left_out == {1: LeftOut(1, Why.DISPUTE, 2), 2: LeftOut(2, Why.DISPUTE, 1)}
    assert s.pairs == ((1, 2),) and s.lone == () and within_budget(4, 1, 0, s)
    assert s.left_out[1].describe() == "node 1: in dispute with node 2"


def test_a_node_dropping_one_link_and_naming_its_victim_back_is_in_dispute_with_it() -> None:
    s = settle(1, range(5), [st_(1, LOST, 2), st_(2, LOST, 1), st_(0, LOST, 1), st_(3, LOST, 1), st_(4, LOST, 1)])
    assert s.nodes == (1, 2) and s.pairs == ((1, 2),)


def test_a_silent_node_is_lost_and_two_statements_prove_equivocation() -> None:
    s = settle(1, range(4), [st_(0, LOST, 3), st_(1, LOST, 3), st_(2, DEV, 0), st_(2, DEV, 1)])
    assert s.left_out == {3: LeftOut(3, Why.LOST), 2: LeftOut(2, Why.EQUIVOCATED)}
    assert s.lone == (2, 3) and s.cost() == 2
    assert not within_budget(4, 1, 0, s) and within_budget(7, 2, 0, s)


def test_with_three_nodes_nobody_can_be_left_out() -> None:
    s = settle(1, range(3), [st_(0, DEV, 2), st_(1, DEV, 2), st_(2, LOST, 0, 1)])
    assert s.nodes == (2,) and not within_budget(3, 1, 0, s)


def test_earlier_attempts_spend_the_budget() -> None:
    s = settle(1, range(4), [st_(1, DEV, 2), st_(0, LOST, 1), st_(3, LOST, 1), st_(2, LOST, 1)])
    assert within_budget(5, 1, 1, s) and not within_budget(5, 1, 2, s)


def test_statements_of_nodes_outside_the_attempt_are_ignored() -> None:
    s = settle(1, [0, 1, 3], [st_(2, DEV, 0), st_(0, DEV, 2), st_(1, LOST, 0), st_(3, LOST, 0)])
    assert s.nodes == ()


# -- property: any choice of t faulty nodes; the honest nodes agree and the budget holds ----------

def honest_statements(rng: random.Random, n: int, faulty: frozenset[int]) -> list[Statement]:
    """What the honest nodes say after a failed attempt, in a run where they leave one after the
    other: the first names a faulty node; each later one names faulty nodes or lost honest nodes
    that left before it (never one that left after it: it was still running then)."""
    honest = [i for i in range(n) if i not in faulty]
    rng.shuffle(honest)
    out = []
    for pos, h in enumerate(honest):
        kind = rng.choice([DEV, LOST])
        pool = sorted(faulty) if kind == DEV or pos == 0 else sorted(faulty | set(honest[:pos]))
        out.append(Statement(h, kind, frozenset(rng.sample(pool, rng.randint(1, len(pool))))))
    return out


def faulty_statements(rng: random.Random, n: int, faulty: frozenset[int]) -> list[Statement]:
    """Anything: silent, one statement naming anyone, or several different ones."""
    out = []
    for f in sorted(faulty):
        others = [j for j in range(n) if j != f]
        for _ in range(rng.choice([0, 1, 1, 2])):
            out.append(Statement(f, rng.choice([DEV, LOST]), frozenset(rng.sample(others, rng.randint(1, n - 1)))))
    return out


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(t=st.sampled_from([1, 2]), seed=st.integers(0, 2**32 - 1), faulty_count=st.integers(1, 2))
def test_rule_leaves_out_only_pairs_with_a_faulty_node_and_keeps_the_budget(t: int, seed: int,
                                                                           faulty_count: int) -> None:
    n, rng = 3 * t + 1, random.Random(seed)
    faulty = frozenset(rng.sample(range(n), min(t, faulty_count)))
    statements = honest_statements(rng, n, faulty) + faulty_statements(rng, n, faulty)
    s = settle(t, range(n), statements)
    for x in s.left_out.values():
        if x.why in (Why.LOST, Why.EQUIVOCATED, Why.NAMED_BY_MANY):
            assert x.node in faulty, (x, statements)
    for a, b in s.pairs:
        assert a in faulty or b in faulty, ((a, b), statements)
    assert s.cost() <= len(faulty) and within_budget(n, t, 0, s)
    # every honest node evaluates the same rule over the same set, in whatever order it came
    shuffled = list(statements)
    rng.shuffle(shuffled)
    assert settle(t, range(n), shuffled + statements[:2]) == s
    # no dispute is left among the nodes that go on
    rest = [i for i in range(n) if i not in s.left_out]
    assert settle(t, rest, [x for x in statements if x.accuser in rest]).nodes == ()


@pytest.mark.parametrize("t", [1, 2])
def test_a_deviation_seen_by_an_honest_node_always_leaves_a_faulty_node_out(t: int) -> None:
    """Progress: the first honest node names a faulty one for a deviation; whatever the faulty
    nodes say, the rerun goes on without at least one faulty node."""
    n = 3 * t + 1
    for faulty in itertools.combinations(range(n), t):
        for seed in range(30):
            rng = random.Random(seed)
            honest = honest_statements(rng, n, frozenset(faulty))
            honest[0] = replace(honest[0], kind=DEV)
            s = settle(t, range(n), honest + faulty_statements(rng, n, frozenset(faulty)))
            assert set(s.nodes) & set(faulty), (faulty, seed)



def test_a_statement_replayed_from_an_earlier_compute_is_outranked_not_an_equivocation() -> None:
    """Attempts are numbered from 0 in every compute, so node 1's statement for attempt 0 of an
    earlier compute of the same frozen set is a valid signature a faulty node can replay: node
    1's current one (a higher sequence number) counts, and node 1 is no equivocator.  Two
    statements at one node's highest sequence number are an equivocation."""
    now = [st_(1, DEV, 2, seq=2), st_(0, LOST, 2, seq=5), st_(3, LOST, 2, seq=1), st_(2, LOST, 0, 1, 3, seq=1)]
    replayed = st_(1, LOST, 3, seq=1)
    assert settle(1, range(4), now + [replayed]) == settle(1, range(4), now)
    assert settle(1, range(4), now).left_out == {2: LeftOut(2, Why.NAMED_BY_MANY)}
    twice = settle(1, range(4), now + [st_(1, LOST, 3, seq=2)])
    assert twice.left_out[1] == LeftOut(1, Why.EQUIVOCATED)


def test_the_store_numbers_accusations_across_computes(tmp_path: Path) -> None:
    from mpc_nodes.store import NodeStore

    store = NodeStore(tmp_path / "node.db")
    assert [store.next_accusation("s"), store.next_accusation("s"), store.next_accusation("other")] == [1, 2, 1]
    store.clear_dispute("s")  # a new compute
    store.close()
    again = NodeStore(tmp_path / "node.db")
    assert again.next_accusation("s") == 3
    again.close()

# -- signed accusations and the exchange ----------------------------------------------------------

DIGEST = "ab" * 32


def test_signed_accusation_verifies_and_travels_in_the_compute_state(tmp_path: Path) -> None:
    sv = make_survey(tmp_path, n=4, t=1)
    m = sv.manifest
    attempt = Attempt(0, DIGEST, (0, 1, 2, 3))
    signer = Signer(sv.node_dirs[1], m, 1)
    a = signer.accuse(attempt, DEV, [2], 1)
    e = Signer(sv.node_dirs[3], m, 3).endorse(a)
    verify_accusation(m, a)
    cs = ComputeState(m.survey_id, 1, ResultState.NONE.value, None, [], [a], [e], 0, 2)
    wire = ComputeState.parse(json.loads(json.dumps(asdict(cs))))
    assert wire == cs
    ev = Evidence(m, attempt)
    ev.absorb(wire.accusations, wire.endorsements)
    assert ev.known == {statement_hash(a): a} and ev.signers(statement_hash(a)) == {1, 3}
    for other in (Attempt(1, DIGEST, attempt.parties), Attempt(0, "cd" * 32, attempt.parties)):
        late = Evidence(m, other)
        late.absorb([a], [e])
        assert late.known == {} and late.endorsements == {}
    with pytest.raises(SurveyError, match="^node 1's accusation is not signed by it$"):
        verify_accusation(m, replace(a, accused=[3]))
    with pytest.raises(SurveyError, match="^node 2's accusation is not signed by it$"):
        verify_accusation(m, replace(a, accuser=2))  # signed by node 1's key, claimed by node 2
    with pytest.raises(SurveyError, match="^node 1's accusation is not signed by it$"):
        verify_accusation(m, replace(a, sequence=2))  # the sequence number is signed too
    forged = Evidence(m, attempt)
    forged.absorb([replace(a, kind=LOST.value)], [replace(e, endorser=2)])
    assert forged.known == {} and forged.endorsements == {}


@pytest.mark.parametrize("bad", [
    {"accused": []}, {"accused": [2, 2]}, {"accused": [3, 2]}, {"accused": [1]}, {"kind": "bored"},
    {"attempt": -1}, {"accuser": True}, {"agreed_digest": "xyz"}, {"extra": 1}, {"sequence": -1},
    {"sequence": "1"},
    {"kind": "withdrawn"},
])
def test_malformed_accusations_are_refused(bad: dict[str, object]) -> None:
    good = {"survey_id": "s", "manifest_hash": "00" * 32, "agreed_digest": "11" * 32, "attempt": 0, "sequence": 3,
            "accuser": 1, "kind": "deviation", "accused": [2], "signature": "AA=="}
    assert Accusation.parse(good).accused == [2]
    assert Accusation.parse({**good, "kind": "withdrawn", "accused": []}).accused == []
    with pytest.raises(SurveyError, match="^malformed accusation$"):
        Accusation.parse({**good, **bad})


class Board:
    """Every node's published dispute items, in memory; a faulty node shows each reader what
    ``faulty_view(reader)`` returns."""

    def __init__(self, m: Manifest, n: int) -> None:
        self.m, self.lock = m, threading.RLock()
        self.items: dict[int, tuple[list[Accusation], list[Endorsement], int]] = {i: ([], [], 0) for i in range(n)}
        self.faulty: dict[int, Callable[[int], tuple[list[Accusation], list[Endorsement]] | None]] = {}

    def publish(self, i: int) -> Callable[[int, Sequence[Accusation], Sequence[Endorsement]], None]:
        def pub(rnd: int, acc: Sequence[Accusation], end: Sequence[Endorsement]) -> None:
            with self.lock:
                a, e, _ = self.items[i]
                self.items[i] = (a + list(acc), e + list(end), rnd)
        return pub

    def fetch(self, reader: int) -> Callable[[Sequence[int]], dict[int, ComputeState | None]]:
        def get(peers: Sequence[int]) -> dict[int, ComputeState | None]:
            out: dict[int, ComputeState | None] = {}
            with self.lock:
                for j in peers:
                    if j in self.faulty:
                        shown = self.faulty[j](reader)
                        out[j] = None if shown is None else ComputeState("s", j, "none", None, [], *shown, 0, 99)
                    else:
                        a, e, rnd = self.items[j]
                        out[j] = ComputeState("s", j, "none", None, [], list(a), list(e), 0, rnd)
            return out
        return get

    def round_of(self, i: int) -> int:
        with self.lock:
            return self.items[i][2]


def run_exchange(sv: Survey, t: int, board: Board, own: dict[int, Accusation], stall: float = 1.0
                 ) -> dict[int, set[Statement]]:
    attempt = Attempt(0, DIGEST, tuple(range(sv.manifest.n)))
    got: dict[int, set[Statement]] = {}

    def node(i: int) -> None:
        signer = Signer(sv.node_dirs[i], sv.manifest, i)
        got[i] = {Statement.of(a) for a in exchange(t, attempt, own[i], signer, board.publish(i), board.fetch(i),
                                                     stall)}

    threads = [threading.Thread(target=node, args=(i,)) for i in own]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return got


def test_exchange_honest_nodes_take_the_same_set_when_a_faulty_node_shows_its_statement_to_one(
        tmp_path: Path) -> None:
    """n = 4, t = 1: node 3 shows its accusation to node 0 alone in round 1 (node 0 relays it
    with its endorsement: everyone takes it), and a second, different one to node 1 alone in
    round 2 (one signature in round 2: nobody takes it)."""
    sv = make_survey(tmp_path, n=4, t=1)
    m, attempt = sv.manifest, Attempt(0, DIGEST, (0, 1, 2, 3))
    board = Board(m, 4)
    faulty = Signer(sv.node_dirs[3], m, 3)
    first, second = faulty.accuse(attempt, DEV, [0], 1), faulty.accuse(attempt, DEV, [2], 1)

    def view(reader: int) -> tuple[list[Accusation], list[Endorsement]] | None:
        if reader == 0:
            return [first], []
        if reader == 1 and board.round_of(1) >= 2:
            return [second], []
        return [], []

    board.faulty[3] = view
    own = {i: Signer(sv.node_dirs[i], m, i).accuse(attempt, DEV if i == 0 else LOST, [3 if i == 0 else 0], 1)
           for i in range(3)}
    got = run_exchange(sv, 1, board, own)
    assert got[0] == got[1] == got[2] == {Statement.of(a) for a in own.values()} | {Statement.of(first)}
    assert settle(1, range(4), got[0]).left_out[3] == LeftOut(3, Why.DISPUTE, 0)


def test_exchange_with_two_faulty_nodes_needs_three_rounds(tmp_path: Path) -> None:
    """n = 7, t = 2: nodes 5 and 6 show node 5's accusation, endorsed by node 6, to node 0 alone
    and only once node 0 is in round 2; node 0 takes it there (two signatures) and relays it, so
    every honest node takes it in round 3."""
    sv = make_survey(tmp_path, n=7, t=2)
    m, attempt = sv.manifest, Attempt(0, DIGEST, tuple(range(7)))
    board = Board(m, 7)
    late = Signer(sv.node_dirs[5], m, 5).accuse(attempt, DEV, [1], 1)
    endorsed = Signer(sv.node_dirs[6], m, 6).endorse(late)
    board.faulty[5] = lambda reader: ([late], [endorsed]) if reader == 0 and board.round_of(0) >= 2 else ([], [])
    board.faulty[6] = lambda reader: None
    own = {i: Signer(sv.node_dirs[i], m, i).accuse(attempt, DEV, [6], 1) for i in range(5)}
    got = run_exchange(sv, 2, board, own)
    assert all(got[i] == got[0] for i in range(5)) and Statement.of(late) in got[0]
    s = settle(2, range(7), got[0])
    assert s.left_out[6] == LeftOut(6, Why.NAMED_BY_MANY) and s.left_out[5] == LeftOut(5, Why.DISPUTE, 1)
    assert within_budget(7, 2, 0, s)


def test_exchange_a_faulty_node_replaying_an_old_statement_does_not_frame_its_signer(tmp_path: Path) -> None:
    """n = 4, t = 1: node 3 relays, with its endorsement, node 1's accusation signed in an
    earlier compute for the same attempt number (sequence 1); node 1 now signs another (sequence
    2).  Every honest node takes both, counts node 1's newest, and leaves out node 3 alone."""
    sv = make_survey(tmp_path, n=4, t=1)
    m, attempt = sv.manifest, Attempt(0, DIGEST, (0, 1, 2, 3))
    board = Board(m, 4)
    old = Signer(sv.node_dirs[1], m, 1).accuse(attempt, LOST, [0], 1)
    relayed = Signer(sv.node_dirs[3], m, 3).endorse(old)
    own3 = Signer(sv.node_dirs[3], m, 3).accuse(attempt, DEV, [2], 1)
    board.faulty[3] = lambda reader: ([old, own3], [relayed])
    own = {i: Signer(sv.node_dirs[i], m, i).accuse(attempt, DEV, [3], 2) for i in range(3)}
    got = run_exchange(sv, 1, board, own)
    assert got[0] == got[1] == got[2] and Statement.of(old) in got[0]
    assert settle(1, range(4), got[0]).left_out == {3: LeftOut(3, Why.NAMED_BY_MANY)}


def test_the_store_publishes_dispute_items_and_a_new_compute_clears_them(tmp_path: Path) -> None:
    from mpc_nodes.store import NodeStore

    sv = make_survey(tmp_path, n=4, t=1)
    attempt = Attempt(0, DIGEST, (0, 1, 2, 3))
    a = Signer(sv.node_dirs[1], sv.manifest, 1).accuse(attempt, DEV, [2], 1)
    e = Signer(sv.node_dirs[0], sv.manifest, 0).endorse(a)
    store = NodeStore(tmp_path / "node.db")
    try:
        assert store.dispute("s") == ([], [], -1, 0)
        store.publish_dispute("s", 0, 1, [a], [])
        store.publish_dispute("s", 0, 2, [a], [e])  # the same accusation again is kept once
        assert store.dispute("s") == ([a], [e], 0, 2)
        store.clear_dispute("s")
        assert store.dispute("s") == ([], [], -1, 0)
    finally:
        store.close()


def test_the_analyst_needs_no_check_once_t_disputes_are_vouched_for() -> None:
    """n = 4, t = 1, two shares missing: released only when the nodes report a dispute pair (it
    holds the one faulty node, so the two shares present are honest)."""
    from analyst.results import _Erasures, _voted_pairs

    m: Any = types.SimpleNamespace(n=4, threshold=1)  # all the vote reads of the manifest
    missing = _Erasures()
    missing.add(1, SurveyError("node 1 has no result for you"), False)
    missing.add(2, SurveyError("node 2 has no result for you"), False)
    with pytest.raises(SurveyError, match="^node 1 has no result for you$"):
        missing.check_budget(4, 1)
    assert _voted_pairs(m, [[[2, 1]], [[1, 2]]]) == [(1, 2)]
    assert _voted_pairs(m, [[[1, 2]], []]) == []  # one report: t liars could say anything
    missing.check_budget(4, 1, disputes=len(_voted_pairs(m, [[[1, 2]], [[1, 2]]])))
