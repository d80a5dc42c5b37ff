"""The disclosure rule and the release vector (protocol.disclosure): small cells are suppressed,
and no released figure lets anyone derive a suppressed one by subtraction."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.disclosure import ReleaseLayout, plan
from protocol.encoding import Record, Scheme, encode_record
from protocol.field import DEFAULT_PRIME as P

GENDERS = ("female", "male", "other")


def _sc(jobs: tuple[str, ...] = (), bands: tuple[int, ...] = ()) -> Scheme:
    return Scheme.of(GENDERS, 10_000, jobs, bands)


def test_without_jobs_a_gender_is_released_iff_it_has_k() -> None:
    pl = plan([6, 4, 5], [6, 4, 5], _sc(), k=5)
    assert pl.cells == pl.genders == (True, False, True) and pl.secondary == ()


def test_a_lone_small_cell_takes_the_smallest_other_cell_of_its_gender_with_it() -> None:
    sc = _sc(("eng", "sales", "ops"))
    # female: eng 9, sales 2 (< k), ops 6 -> the female total minus eng and ops would be sales
    cells = [9, 2, 6, 7, 8, 9, 5, 5, 5]
    pl = plan(cells, [17, 24, 15], sc, k=5)
    assert pl.cells == (True, False, False, True, True, True, True, True, True)
    assert pl.secondary == (2,)


def test_two_small_cells_adding_up_to_less_than_k_are_protected_too() -> None:
    sc = _sc(("a", "b", "c", "d"))
    # male: a 1, b 2 (together 3 < k=5), c 20, d 7 -> suppress d as well: 1 + 2 + 7 >= 5
    cells = [5] * 4 + [1, 2, 20, 7] + [5] * 4
    pl = plan(cells, [20, 30, 20], sc, k=5)
    assert pl.cells[4:8] == (False, False, True, False) and pl.secondary == (7,)


def test_a_small_gender_is_suppressed_with_all_its_cells_and_empty_cells_need_no_protection() -> None:
    sc = _sc(("a", "b"))
    pl = plan([10, 0, 7, 7, 3, 1], [10, 14, 4], sc, k=5)
    # female b is empty: nothing to protect, so female a stays; other (4 < k) is suppressed whole
    assert pl.genders == (True, True, False) and pl.cells == (True, False, True, True, False, False)
    # with noisy counts an empty-looking cell is protected like any other
    noisy = plan([10, 0, 7, 7, 3, 1], [10, 14, 4], sc, k=5, noisy=True)
    assert noisy.cells[:2] == (False, False) and noisy.secondary == (0,)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 12), min_size=12, max_size=12), st.integers(1, 8))
def test_no_suppressed_cell_can_be_derived_from_what_is_released(counts: list[int], k: int) -> None:
    sc = _sc(("a", "b", "c", "d"))
    genders = [sum(counts[g * 4: g * 4 + 4]) for g in range(3)]
    pl = plan(counts, genders, sc, k)
    for c, keep in enumerate(pl.cells):
        if keep:
            assert counts[c] >= k and pl.genders[c // 4]
    for g in range(3):
        assert pl.genders[g] == (genders[g] >= k)
        if not pl.genders[g]:
            assert not any(pl.cells[g * 4: g * 4 + 4])
            continue
        # gender total minus its released cells = the union of its suppressed cells: empty, or at
        # least two non-empty cells holding k or more employees
        hidden = [c for c in range(g * 4, g * 4 + 4) if not pl.cells[c] and counts[c]]
        assert not hidden or (len(hidden) >= 2 and sum(counts[c] for c in hidden) >= k)


def test_plan_refuses_counts_of_the_wrong_shape() -> None:
    with pytest.raises(ValueError, match="counts do not match the survey's cells"):
        plan([1, 2], [1, 2, 3], _sc(), 5)


@pytest.mark.parametrize("jobs,bands", [((), ()), (("a", "b"), (100, 5000)), (("x",), tuple(range(500, 10_000, 500)))])
def test_release_vector_from_summed_records_matches_a_plaintext_oracle(jobs: tuple[str, ...],
                                                                       bands: tuple[int, ...]) -> None:
    sc = _sc(jobs, bands)
    rng = random.Random(7)
    recs = [Record(rng.choice(GENDERS), rng.randrange(10_001), rng.choice(jobs) if jobs else "") for _ in range(200)]
    totals = [sum(col) for col in zip(*(encode_record(r, sc)[: sc.aggregate_width] for r in recs))]
    layout = ReleaseLayout(sc)
    vec = layout.build(totals, P)
    assert len(vec) == layout.length == len(layout.kinds())
    cell_counts, gender_counts, cells, genders = layout.split(vec)
    for g, gender in enumerate(GENDERS):
        mine = [r for r in recs if r.gender == gender]
        assert gender_counts[g] == genders[g].count == len(mine)
        assert genders[g].total == sum(r.salary for r in mine)
        assert genders[g].squares == sum(r.salary ** 2 for r in mine)
        assert list(genders[g].bands) == [sum(1 for r in mine if sc.band_of(r.salary) == b) for b in range(sc.B)]
        for j in range(sc.J):
            cell = [r for r in mine if not jobs or r.job == jobs[j]]
            f = cells[sc.cell(g, j)]
            assert (f.count, f.total, f.squares) == (len(cell), sum(r.salary for r in cell),
                                                     sum(r.salary ** 2 for r in cell))
            assert cell_counts[sc.cell(g, j)] == len(cell)
    kinds = layout.kinds()
    assert kinds.count("count") == layout.n_counts and kinds[0] == "count" and kinds[-1] == "band_counts"


def test_released_mask_zeroes_exactly_the_suppressed_groups_figures() -> None:
    sc = _sc(("a", "b"), (5000,))
    layout = ReleaseLayout(sc)
    pl = plan([9, 9, 9, 2, 9, 9], [18, 11, 18], sc, k=5)  # male b suppressed, male a protects it
    mask = layout.released_mask(pl)
    assert mask[: layout.n_counts] == [True] * 9  # counts always
    K, B = sc.K, sc.B
    at = layout.n_counts
    assert mask[at: at + K] == [True, True, False, False, True, True]  # sums per cell
    assert mask[at + 2 * K: at + 2 * K + K * B] == [k for k in (True, True, False, False, True, True) for _ in range(B)]
    assert all(mask[at + K * (2 + B):])  # every gender total is released


# ------------------------------------------------------------------------ complete surveys

def _complete(jobs: tuple[str, ...] = ("a", "b", "c", "d"), hours: bool = True) -> Scheme:
    return Scheme.of(GENDERS, 10_000, jobs, (5_000,), variable_max=4_000, variable_bands=(1_000,),
                     hours_max=200 if hours else 0, hourly_max=1_000_000 if hours else 0)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 12), st.integers(0, 12)), min_size=12, max_size=12), st.integers(1, 8))
def test_no_suppressed_variable_figure_can_be_derived_from_what_is_released(cells: list[tuple[int, int]],
                                                                            k: int) -> None:
    """The rule again on the recipients: a released variable-pay figure covers k recipients, its
    group's pay level is released too, and a gender's released total minus its released cells is
    no recipient, or at least k of them in at least two cells; T's plan is the one-figure rule."""
    sc = _complete()
    counts = [n for n, _ in cells]
    recipients = [min(r, n) for n, r in cells]
    genders = [sum(counts[g * 4: g * 4 + 4]) for g in range(3)]
    g_recipients = [sum(recipients[g * 4: g * 4 + 4]) for g in range(3)]
    layout = ReleaseLayout(sc)
    pl = layout.plan_of(counts + genders + recipients + g_recipients, k)
    assert (pl.cells, pl.genders) == (plan(counts, genders, sc, k).cells, plan(counts, genders, sc, k).genders)
    for c, keep in enumerate(pl.variable_cells):
        if keep:
            assert recipients[c] >= k and pl.cells[c]
    for g in range(3):
        hidden = [c for c in range(g * 4, g * 4 + 4) if not pl.variable_cells[c] and recipients[c]]
        safe = not hidden or (len(hidden) >= 2 and sum(recipients[c] for c in hidden) >= k)
        # released exactly when its group and k recipients allow it and its cells' suppression is safe
        assert pl.variable_genders[g] == (pl.genders[g] and g_recipients[g] >= k and safe)
        if not pl.genders[g] or g_recipients[g] < k:
            assert not any(pl.variable_cells[g * 4: g * 4 + 4])
    # the mask: a variable figure is released exactly under the variable plan, every other as T's
    mask = layout.released_mask(pl)
    at = layout.n_counts
    for v in sc.values:
        flags = pl.variable_cells if v.kind.value == "variable" else pl.cells
        assert mask[at: at + sc.K] == list(flags) and mask[at + 2 * sc.K: at + (2 + v.B) * sc.K] == \
            [f for f in flags for _ in range(v.B)]
        at += sc.K * (2 + v.B)


def test_a_variable_mean_over_two_recipients_is_suppressed_in_a_large_group() -> None:
    sc = _complete(jobs=(), hours=False)
    layout = ReleaseLayout(sc)
    pl = layout.plan_of([50, 50, 50] + [2, 30, 30], k=5)
    assert pl.cells == (True, True, True) and pl.variable_cells == (False, True, True)


@pytest.mark.parametrize("jobs, hours", [((), False), (("a", "b"), True), (("x",), True)])
def test_complete_release_vector_matches_a_plaintext_oracle(jobs: tuple[str, ...], hours: bool) -> None:
    sc = _complete(jobs, hours)
    rng = random.Random(11)
    recs = []
    for _ in range(300):
        variable = 0 if rng.random() < 0.4 else rng.randint(1, 4_000)
        recs.append(Record(rng.choice(GENDERS), rng.randint(0, 10_000 - variable), rng.choice(jobs) if jobs else "",
                           variable, rng.randint(10_000, 20_000) if hours else 0))
    totals = [sum(col) for col in zip(*(encode_record(r, sc)[: sc.aggregate_width] for r in recs))]
    layout = ReleaseLayout(sc)
    vec = layout.build(totals, P)
    assert len(vec) == layout.length == len(layout.kinds()) == len(layout.released_mask(layout.plan_of(
        vec[: layout.n_counts], 5)))
    parts = layout.split_values(vec)
    value = {"level": lambda r: r.level, "variable": lambda r: r.variable, "hourly": lambda r: r.hourly}
    for g, gender in enumerate(GENDERS):
        for j in range(sc.J):
            groups = [([r for r in recs if r.gender == gender], parts.genders)]
            groups.append(([r for r in groups[0][0] if not jobs or r.job == jobs[j]],
                           {k: [f[sc.cell(g, j)]] * (g + 1) for k, f in parts.cells.items()}))
            for mine, figs in groups:
                for v in sc.values:
                    f, x = figs[v.kind][g], value[v.kind.value]
                    assert (f.count, f.total, f.squares) == (len(mine), sum(x(r) for r in mine),
                                                             sum(x(r) ** 2 for r in mine))
                    assert list(f.bands) == [sum(1 for r in mine if v.banding.band_of(x(r)) == b) for b in range(v.B)]
                    assert f.recipients == sum(1 for r in mine if r.variable > 0)
