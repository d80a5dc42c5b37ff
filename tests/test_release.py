"""The release model (analyst/release.py): its one JSON form, its one parser, and the report CLI over it."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from analyst.cli import main
from analyst.formats import CSV_COLUMNS, OutputFormat, render
from analyst.release import (Bands, CategoryFigures, DifferentialPrivacy, GenderBreakdown, GroupFigures, GroupNoise,
                             MalformedRelease, Quartiles, Release, Submissions, ThreatModel, parse)
from analyst.results import tabulate
from conftest import make_survey
from protocol.disclosure import ReleaseLayout, plan
from protocol.encoding import Record, encode_record
from protocol.manifest import MODELS


def _release_of(tmp: Path, n_records: int, seed: int, noise: int = 0, **survey: Any) -> Release:
    """A release tabulated from random records the way the nodes release them (suppressed figures
    zeroed; under differential privacy, every released entry shifted by up to ``noise``)."""
    m = make_survey(tmp, **survey).manifest
    sc, rng = m.scheme(), random.Random(seed)
    layout = ReleaseLayout(sc)
    recs = [Record(rng.choice(sc.genders), rng.randrange(sc.salary_max + 1), rng.choice(sc.jobs) if sc.jobs else "")
            for _ in range(n_records)]
    totals = [sum(col) for col in zip(*(encode_record(r, sc)[: sc.aggregate_width] for r in recs))]
    vec = [v + rng.randint(-noise, noise) for v in layout.build(totals, m.field_modulus)]
    cc, gc, _, _ = layout.split(vec)
    pl = plan(cc, gc, sc, m.min_group_size, noisy=bool(noise))
    vec = [v if keep else 0 for v, keep in zip(vec, layout.released_mask(pl))]
    return tabulate(m, vec, accepted=len(recs), rejected=1, cheating_nodes=[2] if noise else [])


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> list[Release]:
    """Real releases: plain; job categories with bands (some groups suppressed); the same under
    differential privacy."""
    tmp = tmp_path_factory.mktemp("releases")
    jobs = ("eng", "sales", "ops")
    return [
        _release_of(tmp / "plain", 40, 1),
        _release_of(tmp / "jobs", 60, 2, k=4, salary_max=5000, job_categories=jobs,
                    salary_bands=tuple(range(250, 5000, 250))),
        _release_of(tmp / "dp", 80, 3, noise=2, k=4, salary_max=5000, job_categories=jobs[:2],
                    salary_bands=tuple(range(500, 5000, 500)), dp_epsilon="1.0"),
    ]


def test_real_releases_round_trip_through_json_text(releases: list[Release]) -> None:
    shapes = set()
    for r in releases:
        text = json.dumps(r.to_json(), allow_nan=False)
        assert parse(json.loads(text)) == r
        assert json.dumps(parse(json.loads(text)).to_json(), allow_nan=False) == text
        shapes.add((bool(r.categories), r.differential_privacy is not None, r.quartiles.thresholds is not None,
                    any(g.suppressed for s in r.scopes() for g in s.groups)))
    # the fixture covers what it says: categories, DP, quartiles and suppression each occur
    assert all(any(s[i] for s in shapes) for i in range(4))


def test_json_keys_are_the_documented_ones(releases: list[Release]) -> None:
    doc = releases[2].to_json()
    assert list(doc) == ["survey_id", "title", "model", "submissions", "groups", "pay_gap_percent",
                         "median_pay_gap_percent", "quartiles", "categories", "bands", "differential_privacy",
                         "min_group_size", "salary_unit", "warnings", "cheating_nodes", "filing"]
    assert list(doc["groups"][0]) == ["gender", "count", "mean", "suppressed", "median", "median_max_error", "stdev",
                                      "quartile_shares", "dp_sd"]
    assert list(doc["categories"][0]) == ["category", "groups", "pay_gap_percent", "median_pay_gap_percent"]
    assert list(doc["quartiles"]) == ["thresholds", "population", "note"]
    assert list(doc["bands"]) == ["edges", "salary_max"]
    assert list(doc["differential_privacy"]) == ["epsilon", "description", "noise_sd"]
    assert list(doc["differential_privacy"]["noise_sd"]) == ["count", "sum", "sum_of_squares", "band_counts"]
    released = next(g for g in doc["groups"] if not g["suppressed"])
    assert list(released["dp_sd"]) == ["count", "mean"] and len(released["quartile_shares"]) == 4
    assert doc["model"] == "semi-honest" and doc["cheating_nodes"] == [2]
    assert set(doc["pay_gap_percent"]) == {"female", "other"}  # every gender but the reference


def test_threat_models_are_the_manifests() -> None:
    assert tuple(m.value for m in ThreatModel) == MODELS


# --------------------------------------------------------------------------------------------
# Random releases

_finite = st.floats(allow_nan=False, allow_infinity=False)
_maybe = st.none() | _finite
_name = st.text(max_size=10)
_groups = st.lists(st.builds(
    GroupFigures, gender=_name, count=st.integers(-10**6, 10**12), suppressed=st.booleans(), mean=_maybe,
    median=_maybe, median_max_error=_maybe, stdev=_maybe,
    quartile_shares=st.none() | st.tuples(_finite, _finite, _finite, _finite),
    dp_sd=st.none() | st.builds(GroupNoise, count=_finite, mean=_finite)), max_size=4).map(tuple)
_gaps = st.dictionaries(_name, _maybe, max_size=4)

_releases = st.builds(
    Release, survey_id=_name, title=_name, model=st.sampled_from(ThreatModel),
    submissions=st.builds(Submissions, accepted=st.integers(0, 10**9), rejected=st.integers(0, 10**9)),
    all_employees=st.builds(GenderBreakdown, groups=_groups, pay_gap_percent=_gaps, median_pay_gap_percent=_gaps),
    quartiles=st.builds(Quartiles, thresholds=st.none() | st.tuples(_finite, _finite, _finite), population=_finite,
                        note=st.text()),
    categories=st.lists(st.builds(CategoryFigures, category=_name, groups=_groups, pay_gap_percent=_gaps,
                                  median_pay_gap_percent=_gaps), max_size=3).map(tuple),
    bands=st.builds(Bands, edges=st.lists(st.integers(0, 10**7), max_size=5).map(tuple), salary_max=st.integers(1)),
    differential_privacy=st.none() | st.builds(DifferentialPrivacy, epsilon=_name, description=st.text(),
                                               noise_sd=st.dictionaries(_name, _finite, max_size=4)),
    min_group_size=st.integers(1, 100), salary_unit=_name, warnings=st.lists(st.text(), max_size=3).map(tuple),
    cheating_nodes=st.lists(st.integers(0, 20), max_size=3).map(tuple))


@settings(max_examples=150, deadline=None)
@given(_releases)
def test_random_releases_round_trip(r: Release) -> None:
    assert parse(json.loads(json.dumps(r.to_json(), allow_nan=False))) == r


# --------------------------------------------------------------------------------------------
# Parser errors


def _doc(releases: list[Release]) -> dict[str, Any]:
    return releases[2].to_json()


def _set(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    at = doc
    for key in path[:-1]:
        at = at[key]
    if value is _DELETE:
        del at[path[-1]]
    else:
        at[path[-1]] = value
    return doc


_DELETE = object()


@pytest.mark.parametrize("path,value,message", [
    (("survey_id",), _DELETE, "result document: survey_id is missing"),
    (("surprise",), 1, 'result document has an unexpected field "surprise"'),
    (("groups", 0, "extra"), None, 'result document: groups[0] has an unexpected field "extra"'),
    (("model",), "honest-ish", "result document: model must be one of semi-honest, malicious"),
    (("submissions", "accepted"), "12", "result document: submissions.accepted must be an integer"),
    (("submissions", "accepted"), True, "result document: submissions.accepted must be an integer"),
    (("groups", 1, "count"), 3.0, "result document: groups[1].count must be an integer"),
    (("groups", 0, "suppressed"), 0, "result document: groups[0].suppressed must be true or false"),
    (("groups", 0, "mean"), "4100", "result document: groups[0].mean must be a finite number or null"),
    (("groups", 0, "mean"), float("nan"), "result document: groups[0].mean must be a finite number or null"),
    (("groups", 0, "stdev"), 10**400, "result document: groups[0].stdev must be a finite number or null"),
    (("groups", 0, "quartile_shares"), [0.5, 0.5],
     "result document: groups[0].quartile_shares must be null or a list of 4 finite numbers"),
    (("groups", 0, "dp_sd"), {"count": 1.0}, "result document: groups[0].dp_sd.mean is missing"),
    (("groups",), {}, "result document: groups must be a list"),
    (("groups", 2), [], "result document: groups[2] must be an object"),
    (("pay_gap_percent", "female"), "x",
     'result document: pay_gap_percent["female"] must be a finite number or null'),
    (("categories", 1, "median_pay_gap_percent", "a\nb"), "x",
     'result document: categories[1].median_pay_gap_percent["a\\nb"] must be a finite number or null'),
    (("categories", 0, "category"), None, "result document: categories[0].category must be a string"),
    (("quartiles", "thresholds"), [1, 2],
     "result document: quartiles.thresholds must be null or a list of 3 finite numbers"),
    (("bands", "edges"), [0, 0.5], "result document: bands.edges[1] must be an integer"),
    (("differential_privacy", "noise_sd"), [], "result document: differential_privacy.noise_sd must be an object"),
    (("warnings",), [None], "result document: warnings[0] must be a string"),
    (("cheating_nodes",), ["1"], "result document: cheating_nodes[0] must be an integer"),
])
def test_malformed_documents_are_refused_naming_the_field(releases: list[Release], path: tuple[Any, ...],
                                                          value: Any, message: str) -> None:
    doc = _set(_doc(releases), path, value)
    with pytest.raises(MalformedRelease) as exc:
        parse(doc)
    assert str(exc.value) == message
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("doc", [[], "x", None, 3])
def test_a_document_that_is_not_an_object_is_refused(doc: Any) -> None:
    with pytest.raises(MalformedRelease, match="^result document must be a JSON object$"):
        parse(doc)


def test_parse_does_not_mutate_or_alias_the_document(releases: list[Release]) -> None:
    doc = _doc(releases)
    before = json.dumps(doc)
    r = parse(doc)
    doc["pay_gap_percent"]["female"] = 99.0
    doc["differential_privacy"]["noise_sd"]["count"] = 0.0
    assert parse(json.loads(before)) == r and json.dumps(r.to_json()) == before


def test_release_is_frozen_and_keyword_only(releases: list[Release]) -> None:
    r = releases[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.title = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        Submissions(1, 2)  # type: ignore[call-arg]


# --------------------------------------------------------------------------------------------
# Text formats and the report command


def test_csv_has_one_row_per_group_of_every_scope(releases: list[Release]) -> None:
    r = releases[1]
    rows = render(r, OutputFormat.CSV).splitlines()
    assert rows[0].split(",") == list(CSV_COLUMNS)
    assert len(rows) == 1 + sum(len(s.groups) for s in r.scopes())
    assert rows[1].startswith("all,,female,") and rows[1 + len(r.all_employees.groups)].startswith("category,eng,")
    assert json.loads(render(r, OutputFormat.JSON)) == r.to_json()


def test_report_command_renders_a_saved_result(tmp_path: Path, releases: list[Release]) -> None:
    saved = tmp_path / "result.json"
    saved.write_text(render(releases[1], OutputFormat.JSON))
    res = CliRunner().invoke(main, ["report", str(saved), "--report", str(tmp_path / "r.md")])
    assert res.exit_code == 0, res.output
    md = (tmp_path / "r.md").read_text(encoding="utf-8")
    assert "## (g) The gender pay gap by category of workers" in md and "### Category: sales" in md
    assert (tmp_path / "r.png").read_bytes().startswith(b"\x89PNG")


def test_report_command_refuses_a_malformed_result_in_one_line(tmp_path: Path, releases: list[Release]) -> None:
    runner = CliRunner()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_set(releases[0].to_json(), ("groups", 0, "count"), "many")))
    res = runner.invoke(main, ["report", str(bad), "--report", str(tmp_path / "r.html")])
    assert res.exit_code == 1
    assert res.output.strip() == "salary-analyst: error: result document: groups[0].count must be an integer"
    bad.write_text("{not json")
    res = runner.invoke(main, ["report", str(bad), "--report", str(tmp_path / "r.html")])
    assert res.exit_code == 1 and res.output.startswith(f"salary-analyst: error: cannot read the result {bad}: ")
    assert len(res.output.strip().splitlines()) == 1 and not (tmp_path / "r.html").exists()
    res = runner.invoke(main, ["report", str(bad), "--report", str(tmp_path / "r.docx")])
    assert res.exit_code == 2 and "the report file must end in .html, .md or .pdf" in res.output
