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
