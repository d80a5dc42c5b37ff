"""The HR bulk-preparation benchmark (python -m benchmarks.proof prepare) runs the real
preparation on 1 and 2 workers and reports every stage."""

from __future__ import annotations

from pathlib import Path

from benchmarks.prepare import bench_manifest, describe, measure_prepare
from contributor.bulk import Stage


def test_prepare_benchmark_reports_both_worker_counts_and_every_stage(tmp_path: Path) -> None:
    result = measure_prepare("demo", records=40, repeat=1, workers=(1, 2), workdir=tmp_path)
    assert result["width"] == bench_manifest("demo").vector_length()
    assert [r["workers"] for r in result["runs"]] == [1, 2]
    for r in result["runs"]:
        assert r["records_per_s"] > 0
        assert set(r["stage_ms_per_record"]) == set(r["stage_cpu_ms_per_record"]) == {s.value for s in Stage}
        assert all(v > 0 for v in r["stage_ms_per_record"].values())
    assert list(tmp_path.iterdir()) == []  # the pending directories are removed
    assert "2 worker(s)" in describe(result)
