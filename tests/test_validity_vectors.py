"""Validity proofs (protocol.validity) against the known-answer file tests/vectors/validity.json,
computed independently of the project (see its provenance): the prover, the challenge expansion
and both rounds' openings must reproduce every value exactly, each tampered or forged submission
must be rejected for its reason, and a forgery tuned to a challenge the prover chose (or derived
the wrong way) passes there and fails under the nodes' challenge."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

import json

import numpy as np
import pytest

from protocol import fastfield
from protocol.encoding import Record, encode_record
from protocol.field import share_vector_with_coefficients
from protocol.validity import (
    FIRST_ROUND,
    Challenge,
    Held,
    Layout,
    Opening,
    all_openings,
    as_matrix,
    decide,
    derive_challenge,
    plain_reason,
    prove,
    prove_batch_limbs,
    query,
)
from sharesim import simulate

V: dict[str, Any] = json.loads((Path(__file__).parent / "vectors" / "validity.json").read_text())
P = int(V["field_modulus"])
CASES: list[dict[str, Any]] = V["cases"]
NEGATIVES = [(case, neg) for case in CASES for neg in case["negatives"]]
FORGED = [(case, neg) for case, neg in NEGATIVES if "forged_against" in neg]
RANDOMNESS = ("m", "x1", "y1", "x2", "y2", "w0")


def _ints(xs: list[str]) -> list[int]:
    return [int(x) for x in xs]


def _layout(case: dict[str, Any]) -> Layout:
    return Layout.of(case["genders"], case["salary_max"], case["jobs"], case["salary_bands"])


def _challenge(c: dict[str, Any]) -> Challenge:
    return Challenge(tuple(_ints(c["sigma"])), int(c["r"]), tuple(_ints(c["beta1"])), tuple(_ints(c["gamma1"])),
                     int(c["mu1"]), tuple(_ints(c["beta2"])), tuple(_ints(c["gamma2"])), tuple(_ints(c["beta3"])),
                     int(c["mu3"]))


def _randomness(case: dict[str, Any]) -> list[int]:
    return [int(case["randomness"][k]) for k in RANDOMNESS]


def _openings(sub: list[int], layout: Layout, ch: Challenge) -> list[int]:
    """The opened values of an unshared submission: both rounds on a one-row matrix."""
    return [int(v) for v in all_openings(as_matrix([sub], layout.width), layout, ch, P)[0]]


def test_vector_file_states_provenance_and_covers_both_layouts() -> None:
    assert "generate_vectors.py" in V["provenance"] and P == (1 << 127) - 1
    widths = [_layout(c).width for c in CASES]
    assert len(CASES) == 2 and widths == [17 + 4 * 4 + 9, 38 + 4 * 4 + 9]
    reasons = [sorted(n["reason"] for n in c["negatives"]) for c in CASES]
    assert reasons == [["one-hot", "one-hot", "one-hot", "product", "product", "proof", "proof", "range"]] * 2
    assert [len(c["negatives"]) for c in CASES] == [8, 8] and len(FORGED) == 4


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_record_and_proof_match_known_answers(case: dict[str, Any]) -> None:
    layout = _layout(case)
    rec = case["record"]
    record = encode_record(Record(rec["gender"], rec["salary"], rec["job"]), layout.scheme)
    assert record == _ints(case["record_vector"])
    sub = prove(record, layout, P, randomness=_randomness(case))
    assert sub == _ints(case["submission"])
    # the limb prover of bulk uploads, with the same randomness, gives the same vector
    rand = fastfield.from_ints(_randomness(case)).reshape(1, 6, fastfield.LIMBS)
    limbs = prove_batch_limbs(np.array([record], dtype=np.int64), layout, rand)
    assert fastfield.to_ints(limbs[0]).tolist() == sub


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_challenge_matches_known_answers(case: dict[str, Any]) -> None:
    layout = _layout(case)
    assert derive_challenge(bytes.fromhex(case["seed"]), layout, P) == _challenge(case["challenge"])


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_openings_match_known_answers_on_both_paths(case: dict[str, Any]) -> None:
    layout, ch = _layout(case), _challenge(case["challenge"])
    sub = _ints(case["submission"])
    expected = _ints(case["openings"])
    assert _openings(sub, layout, ch) == expected
    # the same linear functions, applied by hand, and the second round from the held terms
    W, const = query(layout, ch, P)
    lin = [(sum(x * W[k][o] for k, x in enumerate(sub)) + const[o]) % P for o in range(len(W[0]))]
    assert lin[: len(FIRST_ROUND)] == expected[: len(FIRST_ROUND)]
    x1, y1, _, x2, y2, _ = sub[layout.one_hot_triple_at: layout.one_hot_triple_at + 6]
    e1, f1, e2, f2 = (expected[o] for o in (Opening.ONE_HOT_E, Opening.ONE_HOT_F, Opening.PRODUCT_E,
                                            Opening.PRODUCT_F))
    assert (lin[Held.ONE_HOT_TERMS] - e1 * f1 - e1 * y1 - f1 * x1) % P == expected[Opening.ONE_HOT]
    assert (lin[Held.PRODUCT_TERMS] - e2 * f2 - e2 * y2 - f2 * x2) % P == expected[Opening.PRODUCT]
    limbs = all_openings(fastfield.from_ints(sub).reshape(1, layout.width, fastfield.LIMBS), layout, ch, P)
    assert fastfield.to_ints(limbs[0]).tolist() == expected
    assert expected[Opening.RANGE:] == [0, 0, 0] and decide([expected], P) == [case["reason"]] == [None]
    assert expected[Opening.WIRE] ** 2 % P == expected[Opening.SQUARE]


@pytest.mark.parametrize("case,neg", NEGATIVES, ids=[f"{c['name'][:13]}: {n['name']}" for c, n in NEGATIVES])
def test_tampered_submissions_open_to_known_answers_and_their_reason(case: dict[str, Any], neg: dict[str, Any]) -> None:
    layout, ch = _layout(case), _challenge(case["challenge"])
    sub, good = _ints(neg["submission"]), _ints(case["submission"])
    if "forged_against" in neg:  # an invalid record with a forged proof: the record breaks a group
        assert plain_reason(_ints(neg["record_vector"]), layout) in ("one-hot", "range")
        assert sub[: layout.record_width] == _ints(neg["record_vector"])
    elif "record_vector" in neg:  # an invalid record, honestly proved: exactly one group fails
        record = _ints(neg["record_vector"])
        assert plain_reason(record, layout) == neg["reason"]
        assert prove(record, layout, P, randomness=_randomness(case)) == sub
    else:  # one proof element changed
        at = neg["tampered_index"]
        assert at > layout.mask_at and [k for k in range(layout.width) if sub[k] != good[k]] == [at]
    opened = _openings(sub, layout, ch)
    assert opened == _ints(neg["openings"])
    assert decide([opened], P) == [neg["reason"]]
    assert decide(fastfield.from_ints(opened).reshape(1, len(Opening), fastfield.LIMBS), P) == [neg["reason"]]


@pytest.mark.parametrize("case,neg", FORGED, ids=[f"{c['name'][:13]}: {n['name']}" for c, n in FORGED])
def test_a_forgery_passes_only_under_the_challenge_it_was_built_for(case: dict[str, Any], neg: dict[str, Any]) -> None:
    """Built against a challenge the prover chose (its own seed, or the right seed derived the
    wrong way), the forged proof passes every check there, and fails under the nodes' challenge."""
    layout = _layout(case)
    sub = _ints(neg["submission"])
    against = neg["forged_against"]
    theirs = _challenge(against["challenge"])
    assert theirs != derive_challenge(bytes.fromhex(case["seed"]), layout, P)
    if "seed" in against:  # the prover's own seed, the right derivation
        assert derive_challenge(bytes.fromhex(against["seed"]), layout, P) == theirs
    passes = _openings(sub, layout, theirs)
    assert passes == _ints(against["openings"]) and decide([passes], P) == [None]
    assert decide([_openings(sub, layout, _challenge(case["challenge"]))], P) == [neg["reason"]] != [None]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_a_challenge_from_another_seed_gives_other_openings(case: dict[str, Any]) -> None:
    layout = _layout(case)
    seed = bytes.fromhex(case["seed"])
    other_seed = seed[:-1] + bytes([seed[-1] ^ 1])
    other = derive_challenge(other_seed, layout, P)
    assert other != _challenge(case["challenge"])
    got = _openings(_ints(case["submission"]), layout, other)
    expected = _ints(case["openings"])
    moved = [o for o in Opening if o < Opening.RANGE and got[o] != expected[o]]
    assert moved == [o for o in Opening if o < Opening.RANGE and o != Opening.PRODUCT_E]  # e2 = s - x2 has no coefficient
    assert got[Opening.RANGE:] == [0, 0, 0]  # a valid record stays valid under any challenge


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
@pytest.mark.parametrize("nt", [(3, 1), (4, 1)])
def test_a_wrong_share_on_one_node_is_caught_as_inconsistent(case: dict[str, Any], nt: tuple[int, int]) -> None:
    n, t = nt
    layout, ch = _layout(case), _challenge(case["challenge"])
    sub = _ints(case["submission"])
    rng = random.Random(hashlib.sha256(case["name"].encode()).digest())
    shares = share_vector_with_coefficients(sub, [[rng.randrange(P) for _ in range(t)] for _ in sub], n, P)
    assert simulate([shares], layout, ch, t, fast=False) == ([None], {})  # the honest sharing passes
    for victim in range(n):
        k = (victim * 17) % layout.width
        bad = [list(row) for row in shares]
        bad[victim][k] = (bad[victim][k] + 1) % P
        expect = {0: (victim,)} if n >= 3 * t + 1 else {0: ()}
        assert simulate([bad], layout, ch, t, fast=False) == (["consistency"], expect)
