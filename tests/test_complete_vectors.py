"""A complete survey's validity proof against the known-answer file
tests/vectors/validity_complete.json, computed independently of the project (see its
provenance): the encoder, the prover (both arithmetics), the challenge expansion and both
rounds' openings reproduce every value, and each tampered submission is rejected for its
reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from protocol import fastfield
from protocol.encoding import Record, Scheme, encode_record, encode_records
from protocol.validity import Layout, all_openings, as_matrix, decide, derive_challenge, prove, prove_batch_limbs

V: dict[str, Any] = json.loads((Path(__file__).parent / "vectors" / "validity_complete.json").read_text())
P = int(V["field_modulus"])
S = V["survey"]
SCHEME = Scheme.of(S["genders"], S["salary_max"], S["jobs"], S["salary_bands"], variable_max=S["variable_max"],
                   variable_bands=S["variable_bands"], hours_max=S["hours_max"], hourly_max=S["hourly_max"],
                   hourly_bands=S["hourly_bands"])
LAYOUT = Layout(SCHEME)


def _ints(xs: list[str]) -> list[int]:
    return [int(x) for x in xs]


def test_vector_has_provenance() -> None:
    assert "independently of protocol/validity.py and protocol/encoding.py" in V["provenance"]


def test_record_and_proof() -> None:
    r = V["record"]
    rec = Record(r["gender"], r["basic"], r["job"], r["variable"], r["hours"])
    assert encode_record(rec, SCHEME) == _ints(V["record_vector"])
    assert encode_records([rec], SCHEME).tolist() == [_ints(V["record_vector"])]
    rand = _ints(V["randomness"])
    assert prove(_ints(V["record_vector"]), LAYOUT, P, rand) == _ints(V["submission"])
    limbs = prove_batch_limbs(np.array([_ints(V["record_vector"])], dtype=np.int64), LAYOUT,
                              fastfield.from_ints([rand], P))
    assert fastfield.to_ints(limbs[0]).tolist() == _ints(V["submission"])


def test_challenge_expansion() -> None:
    ch = derive_challenge(bytes.fromhex(V["seed"]), LAYOUT, P)
    c = V["challenge"]
    assert (list(ch.sigma), ch.r, list(ch.beta3), ch.mu3) == (_ints(c["sigma"]), int(c["r"]), _ints(c["beta3"]),
                                                              int(c["mu3_T"]))
    assert (list(ch.beta1), list(ch.gamma1), ch.mu1, list(ch.beta2), list(ch.gamma2)) == (
        _ints(c["beta1_T"]), _ints(c["gamma1_T"]), int(c["mu1_T"]), _ints(c["beta2_T"]), _ints(c["gamma2_T"]))
    for more, name in zip(ch.more, ("V", "Y")):
        assert (list(more.beta1), list(more.gamma1), more.mu1, list(more.beta2), list(more.gamma2), more.mu3) == (
            _ints(c[f"beta1_{name}"]), _ints(c[f"gamma1_{name}"]), int(c[f"mu1_{name}"]), _ints(c[f"beta2_{name}"]),
            _ints(c[f"gamma2_{name}"]), int(c[f"mu3_{name}"]))
    assert (list(ch.alpha), ch.mu_basic, ch.rho) == (_ints(c["alpha"]), int(c["mu_basic"]), int(c["rho"]))


def _opened(sub: list[int], fast: bool) -> list[int]:
    ch = derive_challenge(bytes.fromhex(V["seed"]), LAYOUT, P)
    if fast:
        limbs = fastfield.from_ints([sub], P)
        return [int(x) for x in fastfield.to_ints(all_openings(limbs, LAYOUT, ch, P)[0])]  # type: ignore[arg-type]
    return [int(x) for x in all_openings(as_matrix([sub], LAYOUT.width), LAYOUT, ch, P)[0]]


@pytest.mark.parametrize("fast", [True, False])
def test_openings_of_the_valid_submission(fast: bool) -> None:
    got = _opened(_ints(V["submission"]), fast)
    assert got == _ints(V["openings"]) and decide([got], P) == [None]


@pytest.mark.parametrize("neg", V["negatives"], ids=[n["name"] for n in V["negatives"]])
@pytest.mark.parametrize("fast", [True, False])
def test_each_negative_is_rejected_for_its_reason(neg: dict[str, Any], fast: bool) -> None:
    want = prove(_ints(neg["record_vector"]), LAYOUT, P, _ints(V["randomness"]))
    if "tampered_index" in neg:
        want[neg["tampered_index"]] = (want[neg["tampered_index"]] + neg["added"]) % P
    assert want == _ints(neg["submission"])
    got = _opened(_ints(neg["submission"]), fast)
    assert got == _ints(neg["openings"])
    verdict = decide(fastfield.from_ints([got], P), P) if fast else decide([got], P)
    assert [None if r is None else r.value for r in verdict] == [neg["reason"]]
