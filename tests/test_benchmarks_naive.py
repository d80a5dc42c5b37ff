"""Baseline parts of the benchmark suite: plaintext statistic, process measurement, naive MPC, plot."""

from __future__ import annotations

import statistics
import time
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.plaintext import CATEGORIES, group_means, run_plaintext, synthetic_records
from benchmarks.procstats import BenchTimeout, machine, run_processes


def test_group_means_matches_statistics_and_excludes_invalid() -> None:
    salary_max = 1000
    genders, salaries = synthetic_records(203, seed=7, salary_max=salary_max, bad_every=10)
    res = group_means(genders, salaries, CATEGORIES, salary_max)
    # hand-checked validity: the generator's four kinds of invalid records are all present
    bad = [i for i in range(203) if not (0 <= genders[i] <= 2 and 0 <= salaries[i] <= salary_max)]
    assert bad == list(range(0, 203, 10))
    assert {"above", "negative", "gender3", "gender-1"} == {
        "above" if salaries[i] > salary_max else "negative" if salaries[i] < 0
        else "gender3" if genders[i] == 3 else "gender-1" for i in bad}
    assert res["invalid"] == len(bad) and res["valid"] == 203 - len(bad)
    for c in range(CATEGORIES):
        vals = [int(salaries[i]) for i in range(203) if i not in bad and genders[i] == c]
        assert res["counts"][c] == len(vals)
        assert res["sums"][c] == sum(vals)
        assert res["means"][c] == pytest.approx(statistics.mean(vals), rel=1e-12)


def test_group_means_empty_category_and_exact_large_sums() -> None:
    g = np.array([0, 0, 2, 5], dtype=np.int64)
    s = np.array([2**40, 2**40 + 1, 3, 4], dtype=np.int64)
    res = group_means(g, s, 3, 2**41)
    assert res["counts"] == [2, 0, 1] and res["sums"] == [2**41 + 1, 0, 3]
    assert res["means"][1] is None and res["invalid"] == 1


def test_run_plaintext_keys() -> None:
    r = run_plaintext(1000, repeat=3)
    assert r["kind"] == "plaintext" and r["submissions"] == 1000 and r["invalid"] == 10
    assert r["wall_s"] > 0 and r["cpu_s"] >= 0 and r["peak_rss_mb"] > 10


def test_run_processes_measures_peak_rss_and_exit_codes() -> None:
    big = "x = b'1' * (400 * 2**20); print(len(x))"
    stats = run_processes([[sys.executable, "-c", big],
                           [sys.executable, "-c", "import sys; sys.stderr.write('oops'); sys.exit(3)"]],
                          timeout=30)
    assert stats[0].returncode == 0 and stats[0].stdout.strip() == str(400 * 2**20)
    assert stats[0].peak_rss_mb >= 390
    # a forked child's high-water mark can include the parent's pages before exec (this test may
    # run in a large pytest worker), so the small process is compared with the big one
    assert stats[1].returncode == 3 and stats[1].stderr == "oops"
    assert stats[1].peak_rss_mb < stats[0].peak_rss_mb - 150
    assert all(st.wall_s > 0 and st.cpu_s >= 0 for st in stats)


def test_run_processes_timeout_kills_process_group(tmp_path: Path) -> None:
    marker = tmp_path / "child-survived"
    # the shell starts a grandchild that would write the marker after 3 s: killing the group stops it
    script = f"(sleep 3; touch {marker}) & sleep 30"
    with pytest.raises(BenchTimeout, match="timeout after 1 s") as info:
        run_processes([["sleep", "30"], ["sh", "-c", script], ["true"]], timeout=1)
    assert info.value.unfinished == [["sleep", "30"], ["sh", "-c", script]]
    assert info.value.stats[0] is None and info.value.stats[2] is not None
    time.sleep(3.5)
    assert not marker.exists()


def test_machine_describes_this_machine() -> None:
    m = machine()
    assert m["cores"] and m["cores"] >= 1 and m["python"] and m["mpyc"] and m["numpy"]
    assert m["memory_gib"] is None or m["memory_gib"] > 0
    assert m["date"].endswith("+00:00")


@pytest.mark.slow
def test_run_naive_matches_plaintext_oracle() -> None:
    from benchmarks.naive import run_naive

    salary_max = 1_000_000
    r = run_naive(60, salary_max=salary_max, timeout=120, bad_every=7)  # 9 invalid records, all kinds
    genders, salaries = synthetic_records(60, 1, salary_max, bad_every=7)
    expect = group_means(genders, salaries, CATEGORIES, salary_max)
    assert r["kind"] == "naive-mpc" and r["submissions"] == 60 and r["parties"] == 3
    assert r["counts"] == expect["counts"] and r["sums"] == expect["sums"]
    assert sum(r["counts"]) == 60 - 9 == 60 - r["invalid"]
    assert len(r["peak_rss_mb"]) == 3 and r["wall_s"] > 0 and r["cpu_s"] > 0


def test_largest_within_stops_on_prediction_or_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    import benchmarks.naive as naive

    calls: list[int] = []
    cost = {"f": lambda n: 0.05 * n + 1}

    def fake_run(n: int, salary_max: int, seed: int, timeout: float, bad_every: int) -> dict[str, object]:
        calls.append(n)
        if n >= 10_000:
            raise BenchTimeout("timeout", timeout, [], [])
        return {"kind": "naive-mpc", "submissions": n, "wall_s": cost["f"](n)}

    monkeypatch.setattr(naive, "run_naive", fake_run)
    runs = naive.largest_within(60.0, [1000, 100, 300, 3000])  # linear: 51 s at 1000 -> 153 s at 3000
    assert calls == [100, 300, 1000]
    assert [r["submissions"] for r in runs] == [100, 300, 1000, 3000]
    assert runs[-1]["skipped"] and runs[-1]["predicted_s"] == pytest.approx(153.0)
    runs = naive.largest_within(1000.0, [5000, 10_000, 20_000])
    assert runs[-1] == {"kind": "naive-mpc", "submissions": 10_000, "timed_out": True, "budget_s": 1000.0}
    calls.clear()
    cost["f"] = lambda n: 0.001 * n ** 1.5  # superlinear: 1 s, 8 s, then 27 s predicted (linear: 18 s)
    runs = naive.largest_within(15.0, [100, 400, 900])
    assert calls == [100, 400] and runs[-1]["skipped"]
    assert runs[-1]["predicted_s"] == pytest.approx(27.0)


def test_plot_scaling_writes_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from benchmarks.plot import plot_scaling

    runs = [{"series": "plaintext (numpy)", "submissions": n, "wall_s": 1e-6 * n} for n in (10, 100, 1000)]
    runs += [{"series": "naive MPC (MPyC comparisons)", "submissions": 100, "wall_s": 7.0},
             {"series": "naive MPC (MPyC comparisons)", "submissions": 1000, "timed_out": True}]
    out = tmp_path / "scaling.png"
    plot_scaling(runs, str(out), title="test")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
