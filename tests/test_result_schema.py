"""docs/result.schema.json describes the result document: every release the analyst builds (one
figure or complete, with job categories, suppressed groups, differential privacy, labels)
validates, and documents the parser refuses are refused by the schema too."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from analyst.release import Release
from test_complete_figures import manifest, records, release_of
from test_release import _release_of

SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "docs" / "result.schema.json").read_text())
VALIDATOR = jsonschema_rs.validator_for(SCHEMA)


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("schema")
    one_figure = [
        _release_of(tmp / "plain", 40, 1),
        _release_of(tmp / "jobs", 60, 2, k=4, salary_max=5000, job_categories=("eng", "sales", "ops"),
                    salary_bands=tuple(range(250, 5000, 250))),
        _release_of(tmp / "dp", 80, 3, noise=2, k=4, salary_max=5000, job_categories=("eng", "sales"),
                    salary_bands=tuple(range(500, 5000, 500)), dp_epsilon="1.0",
                    gender_labels=(("female", "F"),)),
    ]
    complete = [release_of(manifest(k, hours), records(random.Random(k), n, hours, rate))
                for k, n, hours, rate in ((3, 60, True, 0.4), (5, 30, False, 0.1), (2, 0, True, 0.5))]
    docs = [json.loads(json.dumps(r.to_json())) for r in one_figure + complete]
    assert all(isinstance(r, Release) for r in one_figure + complete)
    return docs


def test_every_release_validates(documents: list[dict[str, Any]]) -> None:
    for doc in documents:
        errors = [e.message for e in VALIDATOR.iter_errors(doc)]
        assert errors == [], errors[:3]
    assert any("art10_flags" in d for d in documents) and any("art10_flags" not in d for d in documents)
    assert any("labels" in d for d in documents)


@pytest.mark.parametrize("mutate", [
    lambda d: d.pop("groups"),
    lambda d: d.update(extra=1),
    lambda d: d["groups"][0].update(count="3"),
    lambda d: d["groups"][0].update(quartile_shares=[0.5, 0.5]),
    lambda d: d["groups"][0]["components"].update(bonus={"mean": 1, "median": None, "median_max_error": None}),
    lambda d: d["groups"][0]["components"]["total"].pop("median"),
    lambda d: d["groups"][0].pop("variable_recipients_share"),
    lambda d: d["art10_flags"].append({"category": "eng", "component": "bonus", "gender": "female",
                                       "gap_percent": 7.0, "count": 5, "reference_count": 5}),
    lambda d: d.update(model="honest"),
], ids=["no groups", "unknown key", "count as text", "three quartile shares", "unknown component",
        "component without median", "components without recipients share", "flag of an unknown component",
        "unknown model"])
def test_malformed_documents_are_refused(documents: list[dict[str, Any]], mutate: Any) -> None:
    doc = copy.deepcopy(documents[3])
    mutate(doc)
    assert not VALIDATOR.is_valid(doc)


def test_robust_output_fields_validate_and_parse(documents: list[dict[str, Any]]) -> None:
    """A release with submissions set aside, a node left out and signed audit heads validates,
    and the parser reads it back to the same document."""
    from analyst.release import parse

    doc = copy.deepcopy(documents[0])
    doc["submissions"]["set_aside"] = 3
    doc.update(audit_heads=[{"node": j, "seq": 7, "head": f"{j:064x}"} for j in (0, 1, 3)], left_out_nodes=[2])
    assert [e.message for e in VALIDATOR.iter_errors(doc)] == []
    assert json.loads(json.dumps(parse(doc).to_json())) == doc
    for bad in ({"set_aside": 0}, {"audit_heads": [{"node": 0, "seq": 1, "head": "xyz"}]}, {"left_out_nodes": []}):
        broken = copy.deepcopy(doc)
        if "set_aside" in bad:
            broken["submissions"].update(bad)
        else:
            broken.update(bad)
        assert not VALIDATOR.is_valid(broken), bad
