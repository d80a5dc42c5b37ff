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

DEV, LOST, FOL = AccusationKind.DEVIATION, AccusationKind.LOST, AccusationKind.FOLLOWED


def st_(i: int, kind: AccusationKind, *accused: int, seq: int = 0) -> Statement:
    """Node i's statement (its digest: a name for it, unique per content)."""
    s = Statement(i, kind, frozenset(accused), seq)
    return replace(s, digest=f"{i}-{kind.value}-{sorted(accused)}-{seq}")


def fol(i: int, of: Statement) -> Statement:
    """Node i followed ``of``'s stop statement."""
    s = Statement(i, FOL, frozenset({of.accuser}), follows=of.digest)
    return replace(s, digest=f"{i}-followed-{of.digest}")


def test_everyone_naming_one_node_leaves_it_out_alone() -> None:
    """n = 4, t = 1, node 2 deviates towards everyone: three disputes with node 2 (> t), so node
    2 is faulty for certain and nobody else is left out."""
    s = settle(1, range(4), [st_(0, DEV, 2), st_(1, DEV, 2), st_(3, DEV, 2), st_(2, LOST, 0, 1, 3)])
    assert s.left_out == {2: LeftOut(2, Why.NAMED_BY_MANY)}
    assert s.cost() == 1 and within_budget(4, 1, 0, s)


def test_deviation_towards_one_node_puts_the_pair_in_dispute_and_the_cascade_follows() -> None:
    """Node 2 sends garbage to node 1 only: node 1 names it and stops, and nodes 0 and 3 (and node
    2) follow node 1's stop statement.  Only {1, 2} is in dispute; nodes 0 and 3 go on."""
    root = st_(1, DEV, 2)
    s = settle(1, range(4), [root, fol(0, root), fol(3, root), fol(2, root)])
    assert s.left_out == {1: LeftOut(1, Why.DISPUTE, 2), 2: LeftOut(2, Why.DISPUTE, 1)}
    assert s.pairs == ((1, 2),) and s.lone == () and within_budget(4, 1, 0, s)
    assert s.left_out[1].describe() == "node 1: in dispute with node 2"


def test_a_node_dropping_one_link_and_naming_its_victim_back_is_in_dispute_with_it() -> None:
    root = st_(1, LOST, 2)
    s = settle(1, range(5), [root, st_(2, LOST, 1), fol(0, root), fol(3, root), fol(4, root)])
    assert s.nodes == (1, 2) and s.pairs == ((1, 2),)


def test_a_node_dropping_one_link_and_naming_a_third_as_lost_is_named_by_many() -> None:
    """Node 2 drops its link to node 1 alone and says it lost node 0; the others follow whichever
    stop statement reached them first.  A link closed without a stop statement is a first-hand
    loss, so both losses are disputes with node 2: more than t, node 2 alone is left out."""
    victim, liar = st_(1, LOST, 2), st_(2, LOST, 0)
    for first in (victim, liar):
        s = settle(1, range(4), [victim, liar, fol(0, first), fol(3, first)])
        assert s.left_out == {2: LeftOut(2, Why.NAMED_BY_MANY)}


def test_a_followed_statement_that_is_not_the_followed_nodes_is_a_dispute() -> None:
    """Node 2 stopped node 0 with one signed statement and publishes another: a followed
    statement names the hash of what it received, so 0 and 2 are in dispute (2 lied, or 0)."""
    sent, published = st_(2, LOST, 1), st_(2, LOST, 3)
    s = settle(1, range(4), [published, fol(0, sent), st_(1, LOST, 2), st_(3, LOST, 2)])
    assert s.left_out == {2: LeftOut(2, Why.NAMED_BY_MANY)}
    # what node 0 relays is node 2's too: two statements, an equivocation
    cascade = [fol(0, sent), fol(1, fol(0, sent)), fol(3, fol(0, sent))]
    assert settle(1, range(4), [published, sent, *cascade]).left_out == {2: LeftOut(2, Why.EQUIVOCATED)}
    # a node that follows a statement of someone who has none is not in dispute with it: that one is lost
    assert settle(1, range(4), cascade).left_out == {2: LeftOut(2, Why.LOST)}


def test_a_silent_node_is_lost_and_two_statements_prove_equivocation() -> None:
    s = settle(1, range(4), [st_(0, LOST, 3), st_(1, LOST, 3), st_(2, DEV, 0), st_(2, DEV, 1)])
    assert s.left_out == {3: LeftOut(3, Why.LOST), 2: LeftOut(2, Why.EQUIVOCATED)}
    assert s.lone == (2, 3) and s.cost() == 2
    assert not within_budget(4, 1, 0, s) and within_budget(7, 2, 0, s)


def test_with_three_nodes_nobody_can_be_left_out() -> None:
    s = settle(1, range(3), [st_(0, DEV, 2), st_(1, DEV, 2), st_(2, LOST, 0, 1)])
    assert s.nodes == (2,) and not within_budget(3, 1, 0, s)


def test_earlier_attempts_spend_the_budget() -> None:
    root = st_(1, DEV, 2)
    s = settle(1, range(4), [root, fol(0, root), fol(3, root), st_(2, LOST, 1)])
    assert within_budget(5, 1, 1, s) and not within_budget(5, 1, 2, s)


def test_statements_of_nodes_outside_the_attempt_are_ignored() -> None:
    root = st_(0, DEV, 2)
    s = settle(1, [0, 1, 3], [st_(2, DEV, 0), root, fol(1, root), fol(3, root)])
    assert s.nodes == ()


# -- property: any choice of t faulty nodes; the honest nodes agree and the budget holds ----------

def attempt_statements(rng: random.Random, n: int, faulty: frozenset[int], first_hand: bool = False
                       ) -> tuple[list[Statement], list[Statement]]:
    """(honest, faulty) statements after a failed attempt.  The honest nodes stop one after the
    other: each says what it saw first-hand (a deviation of faulty nodes, or faulty nodes' links
    closed without a stop statement) or follows a stop statement it received from a node that
    stopped before it (an honest one, or any statement a faulty node signed).  The faulty nodes
    say anything: nothing, one statement or several, first-hand claims about anyone, or followed
    statements naming a hash they made up or one of an honest first-hand statement (they cannot
    name one that depends on their own: that would be a hash fixpoint).  ``first_hand``: the
    first honest node to stop saw it itself."""
    honest = [i for i in range(n) if i not in faulty]
    rng.shuffle(honest)
    roots = {h for pos, h in enumerate(honest) if (pos == 0 and first_hand) or rng.random() < 0.3}
    said: dict[int, Statement] = {}
    for h in (h for h in honest if h in roots):
        kind = rng.choice([DEV, LOST])
        said[h] = st_(h, kind, *rng.sample(sorted(faulty), rng.randint(1, len(faulty))))
    bad: list[Statement] = []
    for f in sorted(faulty):
        others = [j for j in range(n) if j != f]
        for k in range(rng.choice([0, 1, 1, 2])):
            kind = rng.choice([DEV, LOST, FOL])
            if kind != FOL:
                bad.append(st_(f, kind, *rng.sample(others, rng.randint(1, n - 1)), seq=k))
            elif said and rng.random() < 0.5:
                bad.append(fol(f, said[rng.choice(sorted(said))]))
            else:
                made_up = st_(rng.choice(others), DEV, f, seq=99)
                bad.append(replace(fol(f, made_up), digest=f"{f}-followed-made-up-{k}"))
    for pos, h in enumerate(honest):
        if h in roots:
            continue
        before = [said[x] for x in honest[:pos] if x in said] + bad
        if not before:  # the first to stop with nothing to follow: it saw the failure itself
            said[h] = st_(h, rng.choice([DEV, LOST]), *rng.sample(sorted(faulty), 1))
        else:
            said[h] = fol(h, rng.choice(before))
    return [said[h] for h in honest], bad


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(t=st.sampled_from([1, 2]), seed=st.integers(0, 2**32 - 1), faulty_count=st.integers(1, 2))
def test_rule_leaves_out_only_pairs_with_a_faulty_node_and_keeps_the_budget(t: int, seed: int,
                                                                           faulty_count: int) -> None:
    n, rng = 3 * t + 1, random.Random(seed)
    faulty = frozenset(rng.sample(range(n), min(t, faulty_count)))
    honest, bad = attempt_statements(rng, n, faulty)
    statements = honest + bad
    s = settle(t, range(n), statements)
    assert set(s.nodes) & faulty, statements  # progress: some faulty node is left out
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
def test_a_failure_seen_first_hand_by_an_honest_node_always_leaves_a_faulty_node_out(t: int) -> None:
    """Progress: the first honest node to stop saw the deviation or loss itself; whatever the
    faulty nodes say, the rerun goes on without at least one faulty node."""
    n = 3 * t + 1
    for faulty in itertools.combinations(range(n), t):
        for seed in range(30):
            honest, bad = attempt_statements(random.Random(seed), n, frozenset(faulty), first_hand=True)
            s = settle(t, range(n), honest + bad)
            assert set(s.nodes) & set(faulty), (faulty, seed)


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
    round 2 (one signature in round 2: nobody takes it).  Nodes 1 and 2 followed node 0."""
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
    own = {0: Signer(sv.node_dirs[0], m, 0).accuse(attempt, DEV, [3], 1)}
    own.update({i: Signer(sv.node_dirs[i], m, i).accuse(attempt, FOL, [0], 1, statement_hash(own[0])) for i in (1, 2)})
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
    assert s.left_out[6] == LeftOut(6, Why.LOST) and s.left_out[5] == LeftOut(5, Why.DISPUTE, 1)  # 6 said nothing
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
