"""The demo's plaintext oracle of a complete survey's components (demo.cluster.compare_components)
agrees with a release tabulated from the same records and names any figure that differs."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path

from demo.cluster import compare_components, synthetic_csv
from test_complete_figures import manifest, records, release_of


def test_the_oracle_agrees_and_names_a_wrong_figure() -> None:
    recs = records(random.Random(5), 80, True, 0.5)
    doc = json.loads(json.dumps(release_of(manifest(3), recs).to_json()))
    checked, problems = compare_components(doc, recs, 3)
    assert problems == [] and checked >= 3
    released = next(i for i, g in enumerate(doc["groups"]) if not g["suppressed"]
                    and g["components"]["variable"]["mean"] is not None)
    for key in ("variable", "variable_all", "basic", "hourly", "total"):
        bad = copy.deepcopy(doc)
        bad["groups"][released]["components"][key]["mean"] += 1
        assert any(f"{key} mean" in p for p in compare_components(bad, recs, 3)[1]), key
    bad = copy.deepcopy(doc)
    bad["groups"][released]["variable_recipients_share"] = 0.0 if doc["groups"][released]["variable_recipients_share"] else 1.0
    assert compare_components(bad, recs, 3)[1]


def test_synthetic_complete_csv_has_basic_variable_and_part_time_hours(tmp_path: Path) -> None:
    synthetic_csv(tmp_path / "s.csv", {"female": 100, "male": 100, "other": 2}, seed=1, salary_max=20_000,
                  complete=True)
    head = (tmp_path / "s.csv").read_text().splitlines()[0]
    assert head == "employee,gender,basic,variable,hours,job"
    rows = [line.split(",") for line in (tmp_path / "s.csv").read_text().splitlines()[1:]]
    assert len(rows) == 202
    assert any(r[3] != "0" for r in rows) and any(r[3] == "0" for r in rows)
    assert any(float(r[4]) < 160 for r in rows) and any(float(r[4]) == 160 for r in rows)
    assert all(int(r[2]) + int(r[3]) <= 20_000 for r in rows)
