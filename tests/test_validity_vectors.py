"""Validity proofs (protocol.validity) against the known-answer file tests/vectors/validity.json,
computed independently of the project (see its provenance): the prover, the challenge expansion
and the seven openings must reproduce every value exactly, and each tampered submission must be
rejected for its reason."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from protocol import fastfield
from protocol.encoding import Record, encode_record
from protocol.field import share_vector_with_coefficients
from protocol.validity import (
    Opening,
    Challenge,
    Layout,
    as_matrix,
    decide,
    derive_challenge,
    local_openings,
    plain_reason,
    prove,
    prove_batch_limbs,
    query,
    verdicts,
)

V: dict[str, Any] = json.loads((Path(__file__).parent / "vectors" / "validity.json").read_text())
P = int(V["field_modulus"])
CASES: list[dict[str, Any]] = V["cases"]
NEGATIVES = [(case, neg) for case in CASES for neg in case["negatives"]]


def _ints(xs: list[str]) -> list[int]:
    return [int(x) for x in xs]


def _layout(case: dict[str, Any]) -> Layout:
    return Layout.of(case["genders"], case["salary_max"], case["jobs"], case["salary_bands"])


def _challenge(case: dict[str, Any]) -> Challenge:
    c = case["challenge"]
    return Challenge(tuple(_ints(c["sigma"])), int(c["r"]), tuple(_ints(c["rho_onehot"])),
                     tuple(_ints(c["rho_range"])), tuple(_ints(c["rho_product"])))


def _randomness(case: dict[str, Any]) -> tuple[int, int, int]:
    r = case["randomness"]
    return int(r["m"]), int(r["u0"]), int(r["v0"])


def _openings(sub: list[int], layout: Layout, ch: Challenge) -> list[int]:
    """The opened values of an unshared submission: local_openings on a one-row matrix."""
    return [int(v) for v in local_openings(as_matrix([sub], layout.width), layout, ch, P)[0]]


def test_vector_file_states_provenance_and_covers_both_layouts() -> None:
    assert "generate_vectors.py" in V["provenance"] and P == (1 << 127) - 1
    widths = [_layout(c).width for c in CASES]
    assert len(CASES) == 2 and widths == [3 * 17 + 4, 3 * 38 + 4]
    reasons = [sorted(n["reason"] for n in c["negatives"]) for c in CASES]
    assert reasons == [["one-hot", "product", "proof", "range"]] * 2


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_record_and_proof_match_known_answers(case: dict[str, Any]) -> None:
    layout = _layout(case)
    rec = case["record"]
    record = encode_record(Record(rec["gender"], rec["salary"], rec["job"]), layout.scheme)
    assert record == _ints(case["record_vector"])
    sub = prove(record, layout, P, randomness=_randomness(case))
    assert sub == _ints(case["submission"])
    # the limb prover of bulk uploads, with the same randomness, gives the same vector
    rand = fastfield.from_ints(list(_randomness(case))).reshape(1, 3, fastfield.LIMBS)
    limbs = prove_batch_limbs(np.array([record], dtype=np.int64), layout, rand)
    assert fastfield.to_ints(limbs[0]).tolist() == sub


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_challenge_matches_known_answers(case: dict[str, Any]) -> None:
    layout = _layout(case)
    assert derive_challenge(bytes.fromhex(case["seed"]), layout, P) == _challenge(case)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_openings_match_known_answers_on_both_paths(case: dict[str, Any]) -> None:
    layout, ch = _layout(case), _challenge(case)
    sub = _ints(case["submission"])
    expected = _ints(case["openings"])
    assert _openings(sub, layout, ch) == expected
    W, const = query(layout, ch, P)  # the same linear functions, applied by hand
    assert [(sum(x * W[k][o] for k, x in enumerate(sub)) + const[o]) % P for o in range(len(Opening))] == expected
    limbs = local_openings(fastfield.from_ints(sub).reshape(1, layout.width, fastfield.LIMBS), layout, ch, P)
    assert fastfield.to_ints(limbs[0]).tolist() == expected
    assert expected[4:] == [0, 0, 0] and decide([expected], P) == [case["reason"]] == [None]


@pytest.mark.parametrize("case,neg", NEGATIVES, ids=[f"{c['name'][:13]}: {n['name']}" for c, n in NEGATIVES])
def test_tampered_submissions_open_to_known_answers_and_their_reason(case: dict[str, Any], neg: dict[str, Any]) -> None:
    layout, ch = _layout(case), _challenge(case)
    sub, good = _ints(neg["submission"]), _ints(case["submission"])
    if "record_vector" in neg:  # an invalid record, honestly proved: exactly one group fails
        record = _ints(neg["record_vector"])
        assert plain_reason(record, layout) == neg["reason"]
        assert prove(record, layout, P, randomness=_randomness(case)) == sub
    else:  # one proof element changed
        at = neg["tampered_index"]
        assert at >= layout.h_at and [k for k in range(layout.width) if sub[k] != good[k]] == [at]
    opened = _openings(sub, layout, ch)
    assert opened == _ints(neg["openings"])
    assert decide([opened], P) == [neg["reason"]]
    assert decide(fastfield.from_ints(opened).reshape(1, len(Opening), fastfield.LIMBS), P) == [neg["reason"]]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_a_challenge_from_another_seed_gives_other_openings(case: dict[str, Any]) -> None:
    layout = _layout(case)
    seed = bytes.fromhex(case["seed"])
    other_seed = seed[:-1] + bytes([seed[-1] ^ 1])
    other = derive_challenge(other_seed, layout, P)
    assert other != _challenge(case)
    got = _openings(_ints(case["submission"]), layout, other)
    expected = _ints(case["openings"])
    assert all(a != b for a, b in zip(got[:4], expected[:4]))  # Y, F, G, H all move
    assert got[4:] == [0, 0, 0]  # a valid record stays valid under any challenge


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
@pytest.mark.parametrize("nt", [(3, 1), (4, 1)])
def test_a_wrong_share_on_one_node_is_caught_as_inconsistent(case: dict[str, Any], nt: tuple[int, int]) -> None:
    n, t = nt
    layout, ch = _layout(case), _challenge(case)
    sub = _ints(case["submission"])
    rng = random.Random(hashlib.sha256(case["name"].encode()).digest())
    shares = share_vector_with_coefficients(sub, [[rng.randrange(P) for _ in range(t)] for _ in sub], n, P)

    def node_openings(rows: list[list[int]]) -> list[Any]:
        return [local_openings(as_matrix([row], layout.width), layout, ch, P) for row in rows]

    assert verdicts(node_openings(shares), t, P) == ([None], {})  # the honest sharing passes
    for victim in range(n):
        k = (victim * 17) % layout.width
        bad = [list(row) for row in shares]
        bad[victim][k] = (bad[victim][k] + 1) % P
        expect = {0: (victim,)} if n >= 3 * t + 1 else {0: ()}
        assert verdicts(node_openings(bad), t, P) == (["consistency"], expect)
