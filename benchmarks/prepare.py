"""HR bulk preparation (``salary-submit --csv`` before its upload), end to end and per stage.

    python -m benchmarks.proof prepare [LAYOUT] [--records N] [--repeat R] [--workers 1,2]

Prepares ``N`` uniformly drawn valid records of a layout (default ``3x12-complete``, the layout of
``python -m benchmarks.proof prove 3x12-complete``) exactly as a bulk run does
(:func:`contributor.bulkrun.prepare_batches`: encode, prove, share, commit and sign, seal, write
each batch's pending file with fsync), in batches of the size ``salary-submit --csv`` would use
for that survey, on 1 and on 2 worker processes.  Reports records per second from the first
batch's start to the last pending file's fsync, and each stage's milliseconds per record, wall-clock
and CPU time (summed over the workers; CPU time leaves out fsync waits and time lost to other
programs on a shared machine), medians of ``R`` runs.  The nodes' keys are fresh HPKE keys;
nothing is uploaded.  Run with ``OPENBLAS_NUM_THREADS=1`` as ``salary-submit`` does.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

DEFAULT_LAYOUT = "3x12-complete"


def bench_manifest(layout: str, nodes: int = 3, threshold: int = 1) -> Any:
    """A manifest of the layout with ``nodes`` nodes holding fresh HPKE keys (no TLS: nothing is
    sent)."""
    from benchmarks.proof import COMPLETE_LAYOUTS, LAYOUTS, bands
    from protocol.envelope import generate_keypair
    from protocol.manifest import Manifest, NodeInfo

    infos = tuple(NodeInfo(f"node{i}", f"https://127.0.0.1:{8441 + i}", f"127.0.0.1:{9441 + i}",
                           generate_keypair()[1].hex(), "", "") for i in range(nodes))
    common: dict[str, Any] = dict(survey_id="bench-prepare", title="bench", model="malicious", threshold=threshold,
                                  nodes=infos, analyst_public_key=generate_keypair()[1].hex(),
                                  closes_at="2099-01-01T00:00:00Z")
    if layout in COMPLETE_LAYOUTS:
        jobs, (top, width), (vtop, vwidth), hours, (ytop, ywidth) = COMPLETE_LAYOUTS[layout]
        return Manifest(**common, salary_max=top, job_categories=jobs, salary_bands=bands(top, width),
                        components=("basic", "variable", "hours"), pay_period="monthly", variable_max=vtop,
                        variable_bands=bands(vtop, vwidth), hours_max=hours, hourly_max=ytop,
                        hourly_bands=bands(ytop, ywidth))
    jobs, salary_max, width = LAYOUTS[layout]
    return Manifest(**common, salary_max=salary_max, job_categories=jobs, salary_bands=bands(salary_max, width))


def _rows(manifest: Any, count: int) -> list[Any]:
    from contributor.hrfile import CsvRow
    from demo.bad_contributors import good_record

    sc, rng = manifest.scheme(), random.Random(1)
    return [CsvRow(k + 2, good_record(sc, rng)) for k in range(count)]


def prepare_once(manifest: Any, rows: list[Any], workers: int, workdir: Path) -> dict[str, Any]:
    """One bulk preparation of ``rows`` on ``workers`` processes: seconds, and seconds per stage."""
    from contributor.bulk import StageTimes
    from contributor.bulkrun import prepare_batches
    from contributor.pending import BulkRun, tokens_digest
    from protocol.wire import bulk_batch_limit

    hashes = [hashlib.sha256(b"token %d" % k).hexdigest() for k in range(len(rows))]
    size = bulk_batch_limit(manifest.vector_length(), manifest.n)
    directory = Path(tempfile.mkdtemp(prefix="bench-prepare-", dir=workdir))
    run = BulkRun("", "", {}, len(rows), tokens_digest(hashes), size, False, str(directory / "receipts.jsonl"))
    times = StageTimes()
    try:
        started = time.perf_counter()
        prepare_batches(manifest, run, range(run.batches), rows, hashes, directory, workers=workers, times=times)
        seconds = time.perf_counter() - started
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return {"seconds": seconds, "batch_size": size, "stages": {s.value: v for s, v in times.seconds.items()},
            "cpu": {s.value: v for s, v in times.cpu.items()}}


def measure_prepare(layout: str = DEFAULT_LAYOUT, records: int = 2000, repeat: int = 3,
                    workers: tuple[int, ...] = (1, 2), workdir: Path | None = None) -> dict[str, Any]:
    """Medians over ``repeat`` runs per worker count: records/s end to end and ms per record per
    stage (JSON-ready)."""
    manifest = bench_manifest(layout)
    rows = _rows(manifest, records)
    where = workdir or Path(tempfile.gettempdir())
    prepare_once(manifest, rows[: min(len(rows), 8)], 1, where)  # warm the proof's cached tables
    out: dict[str, Any] = {"layout": layout, "width": manifest.vector_length(), "records": records,
                           "repeats": repeat, "runs": []}
    for w in workers:
        runs = [prepare_once(manifest, rows, w, where) for _ in range(repeat)]
        seconds = statistics.median(r["seconds"] for r in runs)
        stages = {s: round(1000 * statistics.median(r["stages"][s] for r in runs) / records, 4)
                  for s in runs[0]["stages"]}
        cpu = {s: round(1000 * statistics.median(r["cpu"][s] for r in runs) / records, 4) for s in runs[0]["cpu"]}
        out["batch_size"] = runs[0]["batch_size"]
        out["runs"].append({"workers": w, "records_per_s": round(records / seconds), "seconds": round(seconds, 3),
                            "stage_ms_per_record": stages, "stage_cpu_ms_per_record": cpu,
                            "cpu_ms_per_record": round(sum(cpu.values()), 4)})
    return out


def describe(result: dict[str, Any]) -> str:
    """A few lines for people: records/s per worker count and the stages' cost."""
    lines = [f"{result['layout']}: {result['records']:,} records of {result['width']:,} elements, batches of "
             f"{result['batch_size']}, median of {result['repeats']}"]
    for r in result["runs"]:
        stages = ", ".join(f"{s} {v:.3f}" for s, v in r["stage_ms_per_record"].items())
        cpu = ", ".join(f"{s} {v:.3f}" for s, v in r["stage_cpu_ms_per_record"].items())
        lines.append(f"  {r['workers']} worker(s): {r['records_per_s']:,} records/s end to end\n"
                     f"    ms per record per stage, wall (summed over workers): {stages}\n"
                     f"    ms per record per stage, CPU: {cpu}; total {r['cpu_ms_per_record']:.3f}")
    return "\n".join(lines)
