"""A complete survey's figures against a plaintext oracle (statistics): per gender and per
gender within each category, the pay level per period and per hour, basic pay, variable pay
over its recipients and the share receiving it, their gaps, the Art. 10 flags; nothing over
fewer than k contributors (a variable-pay mean over fewer than k recipients is suppressed even
in a large group); the JSON form round-trips."""

from __future__ import annotations

import copy
import json
import random
import statistics
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyst.components import ART10_THRESHOLD
from analyst.release import Component, GroupFigures, Release, parse
from analyst.results import tabulate
from analyst.statistics import gap_percent
from protocol.disclosure import ReleaseLayout
from protocol.encoding import Record, encode_record
from protocol.manifest import Manifest, manifest_from_json

VEC: dict[str, Any] = json.loads((Path(__file__).parent / "vectors" / "manifest.json").read_text(encoding="utf-8"))
JOBS = ("eng", "ops")


def manifest(k: int, hours: bool = True) -> Manifest:
    d = copy.deepcopy(VEC["manifest"])
    # one-value bands for the pay level and variable pay: their medians are exact
    d.update(dict(components=["basic", "variable"] + (["hours"] if hours else []), pay_period="monthly",
                  salary_max=300, salary_bands=list(range(1, 301)), job_categories=list(JOBS), min_group_size=k,
                  variable_max=100, variable_bands=list(range(2, 101)), dp_epsilon=""))
    if hours:
        d.update(hours_max=10, hourly_max=3_000_000, hourly_bands=list(range(10_000, 3_000_000, 10_000)))
    return manifest_from_json(d)


def release_of(m: Manifest, recs: list[Record]) -> Release:
    """Tabulated the way the nodes release: suppressed figures zeroed."""
    sc = m.scheme()
    layout = ReleaseLayout(sc)
    totals = [sum(col) for col in zip(*(encode_record(r, sc)[: sc.aggregate_width] for r in recs))] if recs else \
        [0] * sc.aggregate_width
    vec = layout.build(totals, m.field_modulus)
    pl = layout.plan_of(vec[: layout.n_counts], m.min_group_size)
    vec = [v if keep else 0 for v, keep in zip(vec, layout.released_mask(pl))]
    return tabulate(m, vec, accepted=len(recs), rejected=0)


def records(rng: random.Random, n: int, hours: bool, variable_rate: float) -> list[Record]:
    out = []
    for _ in range(n):
        variable = rng.randint(1, 100) if rng.random() < variable_rate else 0
        h = rng.choice([100, 400, 800, 1000]) if hours else 0
        out.append(Record(rng.choice(("female", "male", "other")), rng.randint(0, 300 - variable), rng.choice(JOBS),
                          variable, h))
    return out


def check_group(g: GroupFigures, mine: list[Record], k: int, hours: bool, variable_shown: bool) -> None:
    assert g.count == len(mine)
    if len(mine) < k:
        assert g.suppressed and g.components is None and g.mean is None
        return
    assert not g.suppressed and g.components is not None
    c = g.components
    levels = [r.level for r in mine]
    assert g.mean == c[Component.TOTAL].mean == statistics.mean(levels)
    assert c[Component.TOTAL].median == statistics.median(levels) and c[Component.TOTAL].median_max_error == 0
    recipients = [r.variable for r in mine if r.variable > 0]
    assert g.variable_recipients_share == round(len(recipients) / len(mine), 4)
    if variable_shown:
        assert len(recipients) >= k
        assert c[Component.VARIABLE].mean == statistics.mean(recipients)
        assert c[Component.VARIABLE].median == statistics.median(recipients)
        assert c[Component.BASIC].mean == statistics.mean(r.salary for r in mine)
        assert c[Component.VARIABLE_ALL].mean == statistics.mean(r.variable for r in mine)
        assert c[Component.VARIABLE_ALL].median is None
    else:  # fewer than k recipients (or protecting another group's): no variable figure, no basic pay
        assert c[Component.VARIABLE].mean is None and c[Component.BASIC].mean is None
        assert c[Component.VARIABLE_ALL].mean is None
    assert (Component.HOURLY in c) == hours
    if hours:
        hourly = [r.hourly / 100 for r in mine]
        assert abs(c[Component.HOURLY].mean - statistics.mean(hourly)) < 1e-6  # type: ignore[operator]
        err = c[Component.HOURLY].median_max_error
        assert err is not None and abs(c[Component.HOURLY].median - statistics.median(hourly)) <= err  # type: ignore[operator]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32), n=st.integers(0, 80), k=st.sampled_from([2, 3, 5]), hours=st.booleans(),
       rate=st.sampled_from([0.05, 0.3, 0.9]))
def test_every_figure_against_the_oracle(seed: int, n: int, k: int, hours: bool, rate: float) -> None:
    m = manifest(k, hours)
    recs = records(random.Random(seed), n, hours, rate)
    rel = release_of(m, recs)
    assert parse(json.loads(json.dumps(rel.to_json()))) == rel
    layout = ReleaseLayout(m.scheme())
    counts = [sum(1 for r in recs if (r.gender, r.job) == (g, j)) for g in m.categories for j in JOBS]
    rec_counts = [sum(1 for r in recs if (r.gender, r.job) == (g, j) and r.variable) for g in m.categories for j in JOBS]
    pl = layout.plan_of(counts + [sum(counts[2 * g: 2 * g + 2]) for g in range(3)]
                        + rec_counts + [sum(rec_counts[2 * g: 2 * g + 2]) for g in range(3)], k)
    for gi, g in enumerate(rel.all_employees.groups):
        check_group(g, [r for r in recs if r.gender == g.gender], k, hours, pl.variable_genders[gi])
    for ji, cat in enumerate(rel.categories):
        for gi, g in enumerate(cat.groups):
            mine = [r for r in recs if r.gender == g.gender and r.job == cat.category]
            if pl.cells[gi * 2 + ji]:
                check_group(g, mine, k, hours, pl.variable_cells[gi * 2 + ji])
            else:
                assert g.suppressed and g.components is None
    # gaps of every component and the Art. 10 flags, from the figures
    flags = set()
    for cat in rel.categories:
        ref = next(g for g in cat.groups if g.gender == "male")
        assert cat.component_gaps is not None
        for comp, gaps in cat.component_gaps.items():
            for g in cat.groups:
                if g.gender == "male":
                    continue
                mine = (g.components or {}).get(comp)
                theirs = (ref.components or {}).get(comp)
                want = gap_percent(theirs.mean if theirs else None, mine.mean if mine else None)
                assert gaps.mean[g.gender] == want
                if want is not None and abs(want) >= ART10_THRESHOLD:
                    flags.add((cat.category, comp, g.gender, want, g.count, ref.count))
    assert rel.art10_flags is not None
    assert {(f.category, f.component, f.gender, f.gap_percent, f.count, f.reference_count) for f in rel.art10_flags} \
        == flags


def test_a_variable_mean_over_two_recipients_is_suppressed_in_a_group_of_fifty() -> None:
    m = manifest(5, hours=False)
    recs = [Record("female", 100, "eng", 50 if i < 2 else 0) for i in range(50)]
    recs += [Record("male", 120, "eng", 10 + i % 7) for i in range(50)]
    rel = release_of(m, recs)
    female, male = rel.all_employees.groups[0], rel.all_employees.groups[1]
    assert not female.suppressed and female.mean == 100 + 100 / 50
    assert female.components is not None and female.components[Component.VARIABLE].mean is None
    assert female.variable_recipients_share == 0.04
    assert male.components is not None and male.components[Component.VARIABLE].mean is not None
    # basic pay (level minus variable pay) of the female group would give the 2 recipients' total: withheld
    assert female.components[Component.BASIC].mean is None
    doc = rel.to_json()
    assert doc["groups"][0]["components"]["variable"] == {"mean": None, "median": None, "median_max_error": None}
    assert set(doc["groups"][0]["components"]) == {"basic", "variable", "variable_all", "total"}
    assert "art10_flags" in doc and "component_gap_percent" in doc


def test_quartiles_rank_by_the_hourly_level_when_hours_are_collected() -> None:
    m = manifest(2, hours=True)
    # the same period pay, the women paid for a tenth of the hours: per hour they earn ten times as much
    recs = [Record("female", 200, "eng", 0, 100) for _ in range(4)] + [Record("male", 200, "eng", 0, 1000)
                                                                        for _ in range(4)]
    rel = release_of(m, recs)
    female = rel.all_employees.groups[0]
    assert female.quartile_shares == (0.0, 0.0, 1.0, 1.0)
    assert "hourly" in rel.quartiles.note
    assert rel.all_employees.component_gaps is not None
    assert rel.all_employees.component_gaps[Component.HOURLY].mean["female"] == -900.0
    assert rel.all_employees.component_gaps[Component.TOTAL].mean["female"] == 0.0


def test_one_figure_release_documents_keep_their_keys() -> None:
    d = copy.deepcopy(VEC["manifest"])
    d.update(salary_max=300, salary_bands=[], job_categories=list(JOBS), min_group_size=2)
    m = manifest_from_json(d)
    rel = release_of(m, [Record(g, 100 + i, j) for i in range(3) for g in ("female", "male") for j in JOBS])
    doc = rel.to_json()
    assert "art10_flags" not in doc and "components" not in doc["groups"][0]
    assert "component_gap_percent" not in doc and rel.art10_flags is None


def test_a_recipient_count_above_its_group_is_refused() -> None:
    import pytest

    from protocol.errors import InconsistentShares

    m = manifest(2, hours=False)
    sc = m.scheme()
    layout = ReleaseLayout(sc)
    recs = [Record(g, 100, j, 5) for g in ("female", "male") for j in JOBS for _ in range(3)]
    totals = [sum(col) for col in zip(*(encode_record(r, sc)[: sc.aggregate_width] for r in recs))]
    vec = layout.build(totals, m.field_modulus)
    vec[layout.n_groups] += 1  # the first cell's recipients: 4 of 3
    with pytest.raises(InconsistentShares, match="recipients exceeds its group's count"):
        tabulate(m, vec, accepted=len(recs), rejected=0)


def test_differential_privacy_covers_every_released_figure() -> None:
    """The budget is split over every query a complete survey releases (4 kinds of the pay level,
    3 per further value, the recipient counts; per family), each value's sums calibrated to its
    own bound; a noisy release tabulates (figures from noisy sums and histograms)."""
    from protocol.dp import parse_epsilon

    d = copy.deepcopy(VEC["manifest"])
    d.update(dict(components=["basic", "variable", "hours"], pay_period="monthly", salary_max=300,
                  salary_bands=[100, 200], job_categories=list(JOBS), min_group_size=3, variable_max=100,
                  hours_max=10, hourly_max=3_000_000, hourly_bands=[500_000], dp_epsilon="2"))
    m = manifest_from_json(d)
    layout = ReleaseLayout(m.scheme())
    budget = layout.budget(parse_epsilon("2"))
    assert budget.queries == 2 * (4 + 3 + 3 + 1) and budget.salary_max == 300
    assert [budget.sensitivity(k) for k in ("sum", "sum:1", "sum:2", "sum_of_squares:2", "count")] == \
        [300, 100, 3_000_000, 3_000_000 ** 2, 1]
    assert set(layout.kinds()) == {"count", "sum", "sum_of_squares", "band_counts", "sum:1", "sum_of_squares:1",
                                   "sum:2", "sum_of_squares:2"}
    rng = random.Random(4)
    recs = records(rng, 60, True, 0.5)
    sc = m.scheme()
    totals = [sum(col) for col in zip(*(encode_record(r, sc)[: sc.aggregate_width] for r in recs))]
    vec = [v + rng.randint(-2, 2) for v in layout.build(totals, m.field_modulus)]
    pl = layout.plan_of(vec[: layout.n_counts], 3, noisy=True)
    vec = [v if keep else 0 for v, keep in zip(vec, layout.released_mask(pl))]
    rel = tabulate(m, vec, accepted=len(recs), rejected=0)
    assert rel.differential_privacy is not None and "22 queries" in rel.differential_privacy.description
    assert parse(json.loads(json.dumps(rel.to_json()))) == rel
