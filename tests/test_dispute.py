"""Dispute control (mpc_nodes/dispute.py): the rule that decides which nodes a rerun leaves out,
from the signed accusations of a failed attempt, and the signed accusations themselves."""

from __future__ import annotations

import itertools
import json
import random
from dataclasses import asdict, replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mpc_nodes.dispute import LeftOut, Statement, Why, settle, sign_accusation, verified, within_budget
from protocol.errors import SurveyError
from protocol.nodeauth import verify_accusation
from protocol.wire import Accusation, AccusationKind, ComputeState, ResultState
from tests.conftest import make_survey

DEV, LOST = AccusationKind.DEVIATION, AccusationKind.LOST


def st_(i: int, kind: AccusationKind, *accused: int) -> Statement:
    return Statement(i, kind, frozenset(accused))


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


# -- signed accusations ---------------------------------------------------------------------------

def test_signed_accusation_verifies_and_travels_in_the_compute_state(tmp_path: Path) -> None:
    sv = make_survey(tmp_path, n=4, t=1)
    m, digest = sv.manifest, "ab" * 32
    a = sign_accusation(sv.node_dirs[1], m, digest, 0, 1, DEV, [2])
    verify_accusation(m, a)
    cs = ComputeState(m.survey_id, 1, ResultState.NONE.value, None, [], [a])
    wire = ComputeState.parse(json.loads(json.dumps(asdict(cs))))
    assert wire.accusations == [a]
    assert verified(m, digest, 0, wire.accusations) == {Statement(1, DEV, frozenset({2})): a}
    assert verified(m, digest, 1, [a]) == {} and verified(m, "cd" * 32, 0, [a]) == {}
    with pytest.raises(SurveyError, match="^node 1's accusation is not signed by it$"):
        verify_accusation(m, replace(a, accused=[3]))
    with pytest.raises(SurveyError, match="^node 2's accusation is not signed by it$"):
        verify_accusation(m, replace(a, accuser=2))  # signed by node 1's key, claimed by node 2
    assert verified(m, digest, 0, [replace(a, kind=LOST.value)]) == {}


@pytest.mark.parametrize("bad", [
    {"accused": []}, {"accused": [2, 2]}, {"accused": [3, 2]}, {"accused": [1]}, {"kind": "bored"},
    {"attempt": -1}, {"accuser": True}, {"agreed_digest": "xyz"}, {"extra": 1},
])
def test_malformed_accusations_are_refused(bad: dict[str, object]) -> None:
    good = {"survey_id": "s", "manifest_hash": "00" * 32, "agreed_digest": "11" * 32, "attempt": 0, "accuser": 1,
            "kind": "deviation", "accused": [2], "signature": "AA=="}
    assert Accusation.parse(good).accused == [2]
    with pytest.raises(SurveyError, match="^malformed accusation$"):
        Accusation.parse({**good, **bad})
