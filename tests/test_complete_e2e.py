"""A complete survey through the real console scripts: salary-analyst create --components,
salary-submit --basic/--variable/--hours for one employee and --csv (basic, variable, hours
columns, bulk) for the others, every node's compute, salary-analyst results and its report:
the figures are the plaintext oracle's."""

from __future__ import annotations

import csv
import random
import statistics
from pathlib import Path

import pytest

from conftest import release
from demo.cluster import LocalCluster, run, tool

pytestmark = pytest.mark.slow

JOBS = ("eng", "ops")


def _staff(path: Path, rng: random.Random) -> list[tuple[str, str, int, int, float]]:
    rows = []
    for g, n in (("female", 14), ("male", 14), ("other", 2)):
        for _ in range(n):
            basic = rng.randint(2_000, 6_000)
            variable = rng.choice([0, 0, rng.randint(100, 900)])
            hours = rng.choice([173.33, 160, 86.5])
            rows.append((g, rng.choice(JOBS), basic, variable, hours))
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["gender", "job", "basic", "variable", "hours"])
        w.writerows(rows[1:])
    return rows


def test_complete_survey_end_to_end(tmp_path: Path) -> None:
    rows = _staff(tmp_path / "staff.csv", random.Random(16))
    c = LocalCluster(tmp_path / "run", tokens=len(rows), salary_max=8_000, job_categories=",".join(JOBS),
                     band_width=100, min_group_size=3,
                     create_args=("--components", "basic,variable,hours", "--pay-period", "monthly",
                                  "--variable-max", "1000", "--variable-band-width", "50", "--hours-max", "200",
                                  "--hourly-max", "100", "--hourly-band-width", "0.25"))
    c.setup()
    try:
        c.start_all()
        tokens = c.tokens_file.read_text().split()
        g, j, basic, variable, hours = rows[0]
        (tmp_path / "token.txt").write_text(tokens[0] + "\n")
        run([tool("salary-submit"), "--survey", str(c.manifest), "--token-file", str(tmp_path / "token.txt"),
             "--gender", g, "--category", j, "--basic", str(basic), "--variable", str(variable), "--hours",
             str(hours), "--receipt-dir", str(tmp_path / "receipts")], quiet=True)
        (tmp_path / "rest.txt").write_text("\n".join(tokens[1:]) + "\n")
        run([tool("salary-submit"), "--survey", str(c.manifest), "--csv", str(tmp_path / "staff.csv"), "--tokens",
             str(tmp_path / "rest.txt"), "--receipt-dir", str(tmp_path / "receipts")], quiet=True)
        out = release(c, tmp_path / "r.json", report=tmp_path / "report.md")
    finally:
        c.stop_all()
    assert out["submissions"] == {"accepted": len(rows), "rejected": 0}
    for group in out["groups"]:
        mine = [r for r in rows if r[0] == group["gender"]]
        assert group["count"] == len(mine)
        if len(mine) < 3:
            assert group["suppressed"] and "components" not in group
            continue
        comps = group["components"]
        assert comps["total"]["mean"] == pytest.approx(statistics.mean(b + v for _, _, b, v, _ in mine))
        recipients = [v for *_, v, _ in mine if v]
        assert comps["variable"]["mean"] == pytest.approx(statistics.mean(recipients))
        assert comps["basic"]["mean"] == pytest.approx(statistics.mean(b for _, _, b, _, _ in mine))
        hourly = [(b + v) * 10_000 // round(h * 100) / 100 for _, _, b, v, h in mine]
        assert comps["hourly"]["mean"] == pytest.approx(statistics.mean(hourly))
        assert abs(comps["hourly"]["median"] - statistics.median(hourly)) <= comps["hourly"]["median_max_error"]
        assert group["variable_recipients_share"] == round(len(recipients) / len(mine), 4)
    assert isinstance(out["art10_flags"], list)
    report = (tmp_path / "report.md").read_text()
    assert "(e) The proportion of female and male workers receiving complementary or variable components" in report
    assert "Not collected" not in report
