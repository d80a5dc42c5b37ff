"""Statistics from released sums and band histograms, against ``statistics``/numpy oracles."""

from __future__ import annotations

import random
import statistics
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyst.results import tabulate
from analyst.statistics import (banded_median, gap_percent, quartile_boundaries, quarter_counts, quarter_fractions,
                                signed, stdev, value_at_rank)
from conftest import make_survey
from protocol.disclosure import ReleaseLayout
from protocol.encoding import Record, encode_record

MAX = 200


def _hist(values: list[int], edges: list[int]) -> list[int]:
    h = [0] * len(edges)
    for v in values:
        h[sum(v >= e for e in edges) - 1] += 1
    return h


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, MAX), min_size=1, max_size=60))
def test_median_is_exact_with_one_value_bands(values: list[int]) -> None:
    edges = list(range(MAX + 1))
    med, err = banded_median(_hist(values, edges), edges, MAX)  # type: ignore[misc]
    assert med == statistics.median(values) and err == 0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, MAX), min_size=1, max_size=60), st.lists(st.integers(1, MAX), max_size=8))
def test_median_within_its_stated_error_with_coarse_bands(values: list[int], cuts: list[int]) -> None:
    edges = [0] + sorted(set(cuts))
    med, err = banded_median(_hist(values, edges), edges, MAX)  # type: ignore[misc]
    assert abs(med - statistics.median(values)) <= err
    widths = [(edges[b + 1] - 1 if b + 1 < len(edges) else MAX) - edges[b] for b in range(len(edges))]
    assert err in widths


def test_value_at_rank_spreads_values_evenly_inside_a_band() -> None:
    # 4 values in band [100, 199]: at 112.375, 137.125, 161.875, 186.625
    assert value_at_rank([0, 4], [0, 100], 199, 1) == (100 + 99 * 0.5 / 4, 99)
    assert value_at_rank([0, 4], [0, 100], 199, 4) == (100 + 99 * 3.5 / 4, 99)
    with pytest.raises(ValueError, match="rank beyond the histogram"):
        value_at_rank([1, 1], [0, 100], 199, 3)
    assert banded_median([0, 0], [0, 100], 199) is None


def test_noisy_histogram_counts_below_zero_are_ignored() -> None:
    assert banded_median([-3, 1, 0], [0, 10, 20], 29) == (10 + 9 * 0.5, 9)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 10**6), min_size=2, max_size=40))
def test_stdev_from_sums_equals_statistics_stdev(values: list[int]) -> None:
    got = stdev(sum(values), sum(v * v for v in values), len(values))
    assert got == pytest.approx(statistics.stdev(values), rel=1e-9, abs=1e-9)


def test_stdev_edge_cases() -> None:
    assert stdev(5, 25, 1) is None
    assert stdev(10, 30, 3) == 0.0  # noisy sums that make the variance negative are clamped


def _quarter_oracle(values: list[tuple[str, int]]) -> dict[str, list[float]]:
    """Rank quarters over distinct salaries: each gender's share of each quarter's employees."""
    ordered = sorted(values, key=lambda gv: gv[1])
    N = len(ordered)
    out: dict[str, list[float]] = {}
    for q in range(4):
        lo, hi = q * N / 4, (q + 1) * N / 4
        weight: dict[str, float] = {}
        for rank, (g, _) in enumerate(ordered):  # employee at rank r covers [r, r+1)
            share = max(0.0, min(rank + 1, hi) - max(rank, lo))
            weight[g] = weight.get(g, 0.0) + share
        for g in {g for g, _ in values}:
            out.setdefault(g, [0.0] * 4)[q] = weight.get(g, 0.0) / (hi - lo)
    return out


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["female", "male"]), st.integers(0, MAX)), min_size=4, max_size=50,
                unique_by=lambda gv: gv[1]))
def test_quartile_shares_are_exact_with_one_value_bands(values: list[tuple[str, int]]) -> None:
    edges = list(range(MAX + 1))
    hists = {g: _hist([v for gg, v in values if gg == g], edges) for g in ("female", "male")}
    total = [a + b for a, b in zip(hists["female"], hists["male"])]
    fr = quarter_fractions(total)
    everyone = quarter_counts(total, fr)
    oracle = _quarter_oracle(values)
    for g in {g for g, _ in values}:
        mine = quarter_counts(hists[g], fr)
        assert [m / e for m, e in zip(mine, everyone)] == pytest.approx(oracle[g])
    th = quartile_boundaries(total, edges, MAX)
    ordered = sorted(v for _, v in values)
    N = len(ordered)
    assert th == [ordered[-(-q * N // 4) - 1] for q in (1, 2, 3)]


def test_quarter_fractions_split_a_band_a_cut_goes_through() -> None:
    # 8 employees: 2 in band 0, 4 in band 1, 2 in band 2: the cuts at ranks 2, 4, 6
    fr = quarter_fractions([2, 4, 2])
    assert fr == [[1.0, 0.0, 0.0, 0.0], [0.0, 0.5, 0.5, 0.0], [0.0, 0.0, 0.0, 1.0]]
    assert quarter_fractions([0, 0]) == [[0.0] * 4, [0.0] * 4]
    assert quartile_boundaries([1, 2], [0, 10], 19) is None  # fewer than 4 employees


def test_signed_and_gap() -> None:
    p = 2**127 - 1
    assert (signed(5, p), signed(p - 5, p)) == (5, -5)
    assert gap_percent(4500.0, 4100.0) == 8.89
    assert gap_percent(None, 1.0) is None and gap_percent(0.0, 1.0) is None


def test_tabulate_matches_plaintext_oracles_per_gender_and_job(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A whole report from an unnoised release vector: every figure of every released group
    against statistics/numpy on the raw records (one-value bands, so medians are exact)."""
    jobs = ("eng", "sales")
    s = make_survey(tmp_path, n=3, t=1, k=3, salary_max=MAX, job_categories=jobs, salary_bands=tuple(range(1, MAX + 1)))
    m = s.manifest
    sc = m.scheme()
    rng = random.Random(11)
    recs = ([Record("female", rng.randrange(MAX + 1), rng.choice(jobs)) for _ in range(40)]
            + [Record("male", rng.randrange(MAX + 1), rng.choice(jobs)) for _ in range(50)]
            + [Record("other", rng.randrange(MAX + 1), "eng") for _ in range(2)])
    totals = [sum(col) for col in zip(*(encode_record(r, sc)[: sc.aggregate_width] for r in recs))]
    layout = ReleaseLayout(sc)
    from protocol.disclosure import plan
    vec = layout.build(totals, m.field_modulus)
    cc, gc, _, _ = layout.split(vec)
    pl = plan(cc, gc, sc, m.min_group_size)
    vec = [v if keep else 0 for v, keep in zip(vec, layout.released_mask(pl))]
    report = tabulate(m, vec, accepted=len(recs), rejected=0)
    by = {g.gender: g for g in report.all_employees.groups}
    for gender in ("female", "male"):
        vals = [r.salary for r in recs if r.gender == gender]
        g = by[gender]
        assert g.count == len(vals) and not g.suppressed
        assert g.mean == pytest.approx(statistics.mean(vals))
        assert g.median == statistics.median(vals) and g.median_max_error == 0
        assert g.stdev == pytest.approx(float(np.std(vals, ddof=1)))
    assert by["other"].suppressed and by["other"].mean is None and by["other"].median is None
    male_mean = statistics.mean(r.salary for r in recs if r.gender == "male")
    female_mean = statistics.mean(r.salary for r in recs if r.gender == "female")
    assert report.all_employees.pay_gap_percent["female"] == round(float((Fraction(male_mean) - Fraction(female_mean))
                                                          / Fraction(male_mean) * 100), 2)
    male_med = statistics.median(r.salary for r in recs if r.gender == "male")
    female_med = statistics.median(r.salary for r in recs if r.gender == "female")
    assert report.all_employees.median_pay_gap_percent["female"] == gap_percent(male_med, female_med)
    # quartile shares over the released genders: each quarter's shares add up to 1
    shares = [by[g].quartile_shares for g in ("female", "male")]
    assert all(sh is not None for sh in shares)
    assert [a + b for a, b in zip(*shares)] == pytest.approx([1.0] * 4)  # type: ignore[arg-type]
    for c in report.categories:
        for g in c.groups:
            vals = [r.salary for r in recs if r.gender == g.gender and r.job == c.category]
            assert g.count == len(vals)
            if not g.suppressed:
                assert len(vals) >= m.min_group_size
                assert g.mean == pytest.approx(statistics.mean(vals))
                assert g.median == statistics.median(vals)
    assert [g.suppressed for g in report.categories[0].groups][2] is True  # other/eng: 2 < k


def test_projection_of_noisy_band_counts() -> None:
    from analyst.statistics import project_histogram

    # a valid histogram with the right total is its own projection
    assert project_histogram([3, 0, 5], 8) == [3.0, 0.0, 5.0]
    # noise in empty bands: clamping would keep every +2; the projection subtracts a common
    # threshold and keeps the total at the released count
    noisy = [2, -1, 2, 40, 2, -3, 2, 2]
    got = project_histogram(noisy, 40)
    assert min(got) >= 0 and abs(sum(got) - 40) < 1e-9
    assert got[3] == max(got) and sum(v > 0 for v in got) <= sum(v > 0 for v in noisy)
    assert project_histogram([1, 2], 0) == [0.0, 0.0] and project_histogram([], 5) == []
    # the median of the projected histogram stays in the band that holds the group; clamping
    # the noise at zero drags it towards the middle of the range
    edges = list(range(0, 800, 100))
    med_proj = banded_median(got, edges, 799)
    med_clamped = banded_median([max(0, v) for v in noisy], edges, 799)
    assert med_proj is not None and med_clamped is not None
    assert 300 <= med_proj[0] <= 399
    assert abs(med_proj[0] - 349.5) < abs(med_clamped[0] - 349.5)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-20, 60), min_size=1, max_size=30), st.integers(0, 400))
def test_projection_is_non_negative_with_the_given_total_and_idempotent(noisy: list[int], total: int) -> None:
    from analyst.statistics import project_histogram

    got = project_histogram(noisy, total)
    assert all(v >= 0 for v in got)
    if total > 0:
        assert abs(sum(got) - total) < 1e-6 * max(1, total)
        again = project_histogram(got, total)
        assert all(abs(a - b) < 1e-6 for a, b in zip(again, got))
