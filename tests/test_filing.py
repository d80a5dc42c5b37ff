"""A report that can be filed: the manifest's organisation and reporting period (absent when not
set, so older manifests keep their hash), `salary-analyst create --organisation
--reporting-period`, and the release's filing details (release date, manifest hash, the Directive
and UK provision of every table, method notes) in the JSON, the schema and the reports."""

from __future__ import annotations

import copy
import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from click.testing import CliRunner

from analyst.cli import main
from analyst.release import parse
from analyst.report import render_html, render_markdown
from analyst.i18n import using
from protocol.errors import InvalidManifest
from protocol.manifest import manifest_from_json
from test_complete_figures import VEC, manifest, records, release_of

SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "docs" / "result.schema.json").read_text())
VALIDATOR = jsonschema_rs.validator_for(SCHEMA)


def test_a_manifest_without_filing_fields_keeps_its_bytes_and_hash() -> None:
    m = manifest_from_json(copy.deepcopy(VEC["manifest"]))
    assert m.canonical_bytes().decode() == VEC["canonical"] and m.hash_hex() == VEC["sha256"]
    assert "organisation" not in m.to_json_dict() and "reporting_period" not in m.to_json_dict()


def test_filing_fields_are_written_when_set_and_read_back() -> None:
    d = dict(copy.deepcopy(VEC["manifest"]), organisation="Acme GmbH", reporting_period="2026")
    m = manifest_from_json(d)
    assert m.to_json_dict()["organisation"] == "Acme GmbH" and m.to_json_dict()["reporting_period"] == "2026"
    assert manifest_from_json(json.loads(m.canonical_bytes())) == m
    assert m.hash_hex() != VEC["sha256"]


@pytest.mark.parametrize("field,value", [("organisation", " Acme"), ("organisation", "Acme\nGmbH"),
                                         ("reporting_period", "x" * 201), ("reporting_period", 2026)])
def test_bad_filing_fields_are_refused_in_one_line(field: str, value: Any) -> None:
    with pytest.raises(InvalidManifest) as exc:
        manifest_from_json(dict(copy.deepcopy(VEC["manifest"]), **{field: value}))
    assert field in str(exc.value) and "\n" not in str(exc.value)


def _node_files(tmp: Path) -> list[str]:
    args = []
    for i, nd in enumerate(VEC["manifest"]["nodes"]):
        (tmp / f"node{i}.json").write_text(json.dumps(nd))
        args += ["--node", str(tmp / f"node{i}.json")]
    return args


def test_create_takes_organisation_and_reporting_period(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["create", "--out", str(tmp_path / "s"), "--survey-id", "acme-2026",
                                    *_node_files(tmp_path), "--organisation", "Acme GmbH",
                                    "--reporting-period", "2026"])
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert m["organisation"] == "Acme GmbH" and m["reporting_period"] == "2026"
    bad = CliRunner().invoke(main, ["create", "--out", str(tmp_path / "t"), "--survey-id", "acme-2026",
                                    *_node_files(tmp_path), "--organisation", "Acme\tGmbH"])
    assert bad.exit_code != 0 and "organisation" in bad.output and len(bad.output.strip().splitlines()) == 1


def _filed_release(dp: bool = False) -> Any:
    d = manifest(3).to_json_dict()
    d.update(organisation="Acme <GmbH>", reporting_period="2026")
    m = manifest_from_json(d)
    return m, release_of(m, records(random.Random(7), 60, True, 0.4))


def test_the_release_carries_its_filing_details_and_validates() -> None:
    m, rel = _filed_release()
    f = rel.filing
    assert f is not None and f.organisation == "Acme <GmbH>" and f.reporting_period == "2026"
    assert f.manifest_hash == m.hash_hex()
    assert f.released_on == dt.datetime.now(dt.timezone.utc).date().isoformat()
    assert [b.directive for b in f.legal_basis] == [f"Art. 9(1)({x})" for x in "abcdefg"] + ["Art. 10"]
    assert f.legal_basis[0].uk.startswith("reg. 2(1)(a)") and f.legal_basis[6].uk == ""
    assert any("k = 3" in n for n in f.method_notes) and any("multiparty" in n for n in f.method_notes)
    assert not any("Differential privacy" in n for n in f.method_notes)
    doc = json.loads(json.dumps(rel.to_json()))
    assert [e.message for e in VALIDATOR.iter_errors(doc)] == []
    assert parse(doc) == rel
    for mutate in (lambda d: d["filing"].pop("manifest_hash"), lambda d: d["filing"].update(released_on="today"),
                   lambda d: d["filing"]["legal_basis"][0].pop("uk")):
        bad = copy.deepcopy(doc)
        mutate(bad)
        assert not VALIDATOR.is_valid(bad)


def test_the_reports_show_the_filing_details_the_legal_basis_and_the_method() -> None:
    m, rel = _filed_release()
    md, page = render_markdown(rel, None), render_html(rel, None)
    for text in ("Acme \\<GmbH\\>", "Reporting period: 2026", m.hash_hex(), "## Legal basis", "## Method",
                 "| (a) The gender pay gap (mean) | Art. 9(1)(a) | reg. 2(1)(a), reg. 8 |", "k = 3"):
        assert text in md, text
    assert "Acme &lt;GmbH&gt;" in page and "Art. 9(1)(f)" in page and m.hash_hex() in page
    with using("zh_TW"):
        zh = render_markdown(rel, None)
    assert "申報資料" in zh and "法源依據" in zh and m.hash_hex() in zh and "Art. 10" in zh
