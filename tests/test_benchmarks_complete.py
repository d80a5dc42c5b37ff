"""The complete-survey benchmark's oracle (benchmarks/complete.py): a release tabulated from the
synthetic employees passes it with every figure compared, and a release with one figure off (a
mean, a median beyond its banding error, a suppressed group, a count) fails it naming that figure."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from analyst.results import tabulate
from benchmarks.complete import JOBS, LAYOUT, Employee, OracleMismatch, check_release, write_staff
from protocol.disclosure import ReleaseLayout
from protocol.encoding import Record, encode_record
from protocol.manifest import manifest_from_json

VEC: dict[str, Any] = json.loads((Path(__file__).parent / "vectors" / "manifest.json").read_text(encoding="utf-8"))


def _release(staff: list[Employee]) -> dict[str, Any]:
    """The result document the nodes and the analyst would produce from these employees."""
    d = copy.deepcopy(VEC["manifest"])
    lay = LAYOUT
    d.update(components=["basic", "variable", "hours"], pay_period="monthly", salary_max=lay.salary_max,
             salary_bands=list(range(lay.band_width, lay.salary_max, lay.band_width)), job_categories=list(JOBS),
             min_group_size=lay.min_group_size, variable_max=lay.variable_max,
             variable_bands=list(range(lay.variable_band_width, lay.variable_max, lay.variable_band_width)),
             hours_max=lay.hours_max, hourly_max=lay.hourly_max * 100,
             hourly_bands=list(range(lay.hourly_band_width * 100, lay.hourly_max * 100, lay.hourly_band_width * 100)),
             dp_epsilon="")
    m = manifest_from_json(d)
    sc = m.scheme()
    layout = ReleaseLayout(sc)
    recs = [Record(e.gender, e.basic, e.job, e.variable, e.hours) for e in staff]
    totals = [sum(col) for col in zip(*(encode_record(r, sc)[: sc.aggregate_width] for r in recs))]
    vec = layout.build(totals, m.field_modulus)
    pl = layout.plan_of(vec[: layout.n_counts], m.min_group_size)
    vec = [v if keep else 0 for v, keep in zip(vec, layout.released_mask(pl))]
    return dict(json.loads(json.dumps(tabulate(m, vec, accepted=len(recs), rejected=0).to_json())))


@pytest.fixture(scope="module")
def staff_and_release(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Employee], dict[str, Any]]:
    staff = write_staff(tmp_path_factory.mktemp("staff") / "staff.csv", 1500, seed=3)
    return staff, _release(staff)


def test_the_synthetic_release_equals_the_oracle(staff_and_release: tuple[list[Employee], dict[str, Any]]) -> None:
    staff, result = staff_and_release
    assert {e.gender for e in staff} == {"female", "male", "other"} and any(e.variable for e in staff)
    assert any(e.hours != 17333 for e in staff)
    assert check_release(result, staff) > 500


@pytest.mark.parametrize("path, value, message", [
    (("groups", 0, "mean"), 1.0, "all/female mean: released 1.0"),
    (("groups", 1, "count"), 3, "all/male count: released 3"),
    (("groups", 0, "components", "hourly", "mean"), 0.5, "all/female hourly mean: released 0.5"),
    (("groups", 1, "components", "variable", "median"), 9999.0, "all/male variable median: released 9999.0"),
    (("groups", 0, "suppressed"), True, "all/female: suppressed with"),
    (("groups", 0, "variable_recipients_share"), 0.9, "all/female variable_recipients_share: released 0.9"),
])
def test_one_figure_off_fails_naming_it(staff_and_release: tuple[list[Employee], dict[str, Any]],
                                         path: tuple[Any, ...], value: Any, message: str) -> None:
    staff, result = staff_and_release
    bad = copy.deepcopy(result)
    at = bad
    for key in path[:-1]:
        at = at[key]
    at[path[-1]] = value
    with pytest.raises(OracleMismatch, match="^" + message.replace("(", r"\(")):
        check_release(bad, staff)
