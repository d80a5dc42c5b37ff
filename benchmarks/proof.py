"""The validity proof's cost: submission width, proving rate, bulk preparation and node validation
for three survey layouts (the proof table of ``python -m benchmarks``).

    python -m benchmarks --proof                            # this table alone, into BENCHMARKS.md
    python -m benchmarks.proof prove LAYOUT [--seconds S]   # one layout's prove rate, one core (JSON)
    python -m benchmarks.proof prepare [LAYOUT] [--records N] [--repeat R] [--workers 1,2]
                                       # HR bulk preparation per stage, 1 and 2 cores (benchmarks.prepare)

Layouts (all with genders female, male, other):

- ``gender-only``: no job categories, one band, salary max 1,000,000 (record 49);
- ``demo``: 3 jobs x 80 bands of 250 up to 20,000, the local demo's survey (record 754);
- ``3x12x60``: 12 job categories x 60 bands of 250 up to 15,000, an employer's Art. 9 survey (2,248).

Proving is :func:`protocol.validity.prove_batch_limbs` (what ``salary-submit --csv`` and the
benchmarks' share generation use), measured in a child process with one BLAS thread
(``OPENBLAS_NUM_THREADS=1``): records per second over batches of 256 records, median of the
batches run within the time given.  Bulk preparation is ``salary-submit --csv``'s own report
(encode, prove, share, commit, sign, seal, write the pending files, on every core) for the demo
layout against a real local cluster.  Node validation is ``scripts/bench_validation.py --layout
demo``: 3 MPC parties validating N submissions (median of its runs).  The previous proof's figures
(:data:`PREVIOUS`) were measured on this machine before the proof changed, and are shown beside
the new ones.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

GENDERS = ("female", "male", "other")
#: name -> (job categories, salary max, band width or 0 for one band)
LAYOUTS: dict[str, tuple[tuple[str, ...], int, int]] = {
    "gender-only": ((), 1_000_000, 0),
    "demo": (("engineering", "sales", "support"), 20_000, 250),
    "3x12x60": (tuple(f"job{j:02d}" for j in range(12)), 15_000, 250),
}

#: The "cells-bands-flp/v3" proof (width 3W + 4, proving O(W^2) per record), measured on this
#: machine (2 cores shared with other work) before it was replaced: prove rates per layout (one
#: core, the issue's figures); ``salary-submit --csv`` preparing 10,000 demo-layout records
#: (:func:`bulk_prepare`: 115.8 s); 3 parties validating 1e5 demo-layout submissions
#: (``scripts/bench_validation.py --layout demo --submissions 100000 --repeat 3``, medians: from
#: the parties' start to their result shares, and the validation phase); the semi-honest
#: gender-only compute of 1e6 submissions (BENCHMARKS.md).
PREVIOUS: dict[str, Any] = {
    "encoding": "cells-bands-flp/v3",
    "width": {"gender-only": 151, "demo": 2266, "3x12x60": 6748},
    "prove_per_s": {"gender-only": 12_600, "demo": 291, "3x12x60": 31},
    "bulk_prepare_per_s_demo": 86,
    "validation_1e5_demo": {"wall_s": 194.56, "validation_s": 169.36},
    "semi_honest_1e6_gender_only_s": 62.45,
}


#: complete surveys (basic and variable pay, hours; docs/COMPLETE_SURVEY.md), measured by the
#: ``prove`` and ``prepare`` subcommands: name -> (job categories, salary max and band width,
#: variable pay max and band width, hours max, hourly pay max and band width in hundredths);
#: ``3x12-complete-h5`` is the layout of the 50,000-employee benchmark (benchmarks/complete.py)
COMPLETE_LAYOUTS: dict[str, tuple[tuple[str, ...], tuple[int, int], tuple[int, int], int, tuple[int, int]]] = {
    "3x12-complete": (tuple(f"job{j:02d}" for j in range(12)), (15_000, 250), (5_000, 250), 300, (20_000, 100)),
    "3x12-complete-h5": (tuple(f"job{j:02d}" for j in range(12)), (15_000, 250), (5_000, 250), 300, (20_000, 500)),
}


def bands(salary_max: int, width: int) -> tuple[int, ...]:
    """Band boundaries above 0 of ``width`` each (the analyst's ``--band-width``)."""
    return tuple(range(width, salary_max, width)) if width else ()


def scheme(name: str) -> Any:
    from protocol.encoding import Scheme

    if name in COMPLETE_LAYOUTS:
        jobs, (top, width), (vtop, vwidth), hours, (ytop, ywidth) = COMPLETE_LAYOUTS[name]
        return Scheme.of(GENDERS, top, jobs, bands(top, width), variable_max=vtop,
                         variable_bands=bands(vtop, vwidth), hours_max=hours, hourly_max=ytop,
                         hourly_bands=bands(ytop, ywidth))
    jobs, salary_max, width = LAYOUTS[name]
    return Scheme.of(GENDERS, salary_max, jobs, bands(salary_max, width))


def sample_records(name: str, count: int, seed: int = 1) -> Any:
    """``count`` uniformly drawn valid records of a layout, encoded (int64 rows)."""
    import random

    from protocol.encoding import Record, encode_records

    sc = scheme(name)
    rng = random.Random(seed)
    if sc.complete:
        from demo.bad_contributors import good_record

        return encode_records([good_record(sc, rng) for _ in range(count)], sc)
    recs = [Record(rng.choice(sc.genders), rng.randrange(sc.salary_max + 1), rng.choice(sc.jobs) if sc.jobs else "")
            for _ in range(count)]
    return encode_records(recs, sc)


def prove_rate(name: str, seconds: float) -> dict[str, Any]:
    """Records proved per second on this process's core (call with one BLAS thread)."""
    from protocol.validity import Layout, prove_batch_limbs

    sc = scheme(name)
    layout = Layout(sc)
    batch = 256
    recs = sample_records(name, batch)
    prove_batch_limbs(recs[:8], layout)  # warm the cached interpolation tables
    rates: list[float] = []
    started = time.perf_counter()
    while not rates or time.perf_counter() - started < seconds:
        t0 = time.perf_counter()
        prove_batch_limbs(recs, layout)
        rates.append(batch / (time.perf_counter() - t0))
    return {"layout": name, "record_width": sc.record_width, "width": layout.width,
            "ratio": round(layout.width / sc.record_width, 3), "prove_per_s": round(statistics.median(rates)),
            "batches": len(rates)}


def measure_prove(name: str, seconds: float = 5.0) -> dict[str, Any]:
    """:func:`prove_rate` in a child process with one BLAS thread."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-m", "benchmarks.proof", "prove", name, "--seconds", str(seconds)],
                         env=env, capture_output=True, text=True, timeout=600 + 10 * seconds, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"prove rate of {name} failed: {(out.stderr.strip().splitlines() or ['?'])[-1]}")
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def bulk_prepare(workdir: Path, rows: int) -> dict[str, Any]:
    """``salary-submit --csv`` of ``rows`` demo-layout employees to a local 3-node cluster: its
    own report of the preparation (records per second, on every core)."""
    from demo.cluster import LocalCluster, run, synthetic_csv, tool

    jobs, salary_max, width = LAYOUTS["demo"]
    root = workdir / f"proof-bulk-{rows}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    data = root / "staff.csv"
    third = rows // 3
    synthetic_csv(data, {"female": third, "male": third, "other": rows - 2 * third}, seed=1, jobs=jobs,
                  salary_max=salary_max)
    c = LocalCluster(root / "cluster", tokens=rows, salary_max=salary_max, job_categories=",".join(jobs),
                     band_width=width, survey_id="bench-proof")
    c.setup()
    try:
        c.start_all()
        out = run([tool("salary-submit"), "--survey", str(c.manifest), "--csv", str(data), "--tokens",
                   str(c.tokens_file), "--receipt-dir", str(root / "receipts")], quiet=True, timeout=3600)
    finally:
        c.stop_all()
        shutil.rmtree(root, ignore_errors=True)
    m = re.search(r"prepared (\d+) record\(s\) in ([0-9.]+) s", out.stdout + out.stderr)
    if not m:
        raise RuntimeError("salary-submit --csv did not report its preparation")
    seconds = float(m.group(2))
    return {"kind": "proof-bulk", "layout": "demo", "records": rows, "prepare_s": seconds,
            "prepare_per_s": round(rows / seconds)}


def node_validation(workdir: Path, rows: int, repeat: int) -> dict[str, Any]:
    """``scripts/bench_validation.py --layout demo``: 3 parties validating ``rows`` submissions."""
    out = workdir / "proof-validation.json"
    cmd = [sys.executable, str(ROOT / "scripts" / "bench_validation.py"), "--layout", "demo", "--submissions",
           str(rows), "--repeat", str(repeat), "--json", str(out)]
    st = subprocess.run(cmd, capture_output=True, text=True, timeout=7200, cwd=ROOT,
                        env=dict(os.environ, PYTHONPATH=str(ROOT)))
    if st.returncode != 0 or not out.exists():
        raise RuntimeError(f"bench_validation failed: {(st.stdout + st.stderr).strip().splitlines()[-1:]}")
    doc: dict[str, Any] = json.loads(out.read_text())
    out.unlink()
    return {"kind": "proof-validation", "layout": "demo", "records": rows, "width": doc["width"],
            "repeats": repeat, "median_wall_s": round(doc["median_wall_s"], 2),
            "median_validation_s": round(doc["median_validation_s"], 2)}


def run_proof(cfg: dict[str, Any], workdir: Path, say: Any) -> list[dict[str, Any]]:
    """The proof table's runs: prove rates of every layout, bulk preparation and node validation
    on the demo layout (``cfg``: prove_s, bulk_rows, validation_rows, validation_repeat)."""
    runs: list[dict[str, Any]] = []
    for name in LAYOUTS:
        r = {"kind": "proof", **measure_prove(name, cfg["prove_s"])}
        runs.append(r)
        say(f"proof {name}: width {r['width']:,} ({r['ratio']}x the record), {r['prove_per_s']:,} records/s")
    r = bulk_prepare(workdir, cfg["bulk_rows"])
    runs.append(r)
    say(f"proof: salary-submit --csv prepared {r['records']:,} demo records at {r['prepare_per_s']:,}/s")
    r = node_validation(workdir, cfg["validation_rows"], cfg["validation_repeat"])
    runs.append(r)
    say(f"proof: {r['records']:,} demo submissions validated by 3 parties in {r['median_wall_s']} s "
        f"(validation phase {r['median_validation_s']} s)")
    return runs


def proof_markdown(runs: list[dict[str, Any]]) -> list[str]:
    """The proof table, with the previous proof's figures beside this run's (empty without runs)."""
    proofs = [r for r in runs if r.get("kind") == "proof"]
    if not proofs:
        return []
    old = PREVIOUS
    lines = ["", f"Validity proof (encoding {_encoding()}; previous: {old['encoding']}), prove rate on one core "
                 "(`OPENBLAS_NUM_THREADS=1`, `prove_batch_limbs`). Layouts, all with 3 genders: gender-only (no job "
                 "categories or bands, salary bound 10^6); demo (3 job categories x 80 bands of 250 up to 20,000); "
                 "3x12x60 (12 categories x 60 bands of 250 up to 15,000). The previous proof's prove rates are the "
                 "issue's, measured on this machine.", "",
             "| layout | record | width (previous) | width | width / record | prove, previous | prove | speed-up |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in proofs:
        name = r["layout"]
        before = old["prove_per_s"].get(name)
        lines.append(f"| {name} | {r['record_width']:,} | {old['width'].get(name, 0):,} | {r['width']:,} | "
                     f"{r['ratio']:.3f} | {before:,} records/s | {r['prove_per_s']:,} records/s | "
                     f"{_times(r['prove_per_s'] / before)} |")
    for r in runs:
        if r.get("kind") == "proof-bulk":
            before = old["bulk_prepare_per_s_demo"]
            lines.append(f"\n`salary-submit --csv`, demo layout, {r['records']:,} records: prepared at "
                         f"{r['prepare_per_s']:,} records/s" + (f" (previous proof: {before:,}/s)" if before else ""))
        if r.get("kind") == "proof-validation":
            v = old["validation_1e5_demo"]
            lines.append(f"\nNode validation, 3 parties, {r['records']:,} demo-layout submissions "
                         f"(`scripts/bench_validation.py --layout demo`, median of {r['repeats']}): "
                         f"{r['median_wall_s']} s from the parties' start to their result shares, validation "
                         f"phase {r['median_validation_s']} s" +
                         (f" (previous proof at 100,000: {v['wall_s']} s and {v['validation_s']} s)"
                          if r["records"] == 100_000 else ""))
    return lines


def _times(x: float) -> str:
    return f"{x:,.1f}×" if x < 10 else f"{x:,.0f}×"


def _encoding() -> str:
    from protocol.encoding import ENCODING_ID

    return ENCODING_ID


def main(argv: list[str]) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m benchmarks.proof", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    pr = sub.add_parser("prove", help="one layout's prove rate in this process (JSON on stdout)")
    pr.add_argument("layout", choices=sorted(LAYOUTS) + sorted(COMPLETE_LAYOUTS))
    pr.add_argument("--seconds", type=float, default=5.0)
    pp = sub.add_parser("prepare", help="HR bulk preparation records/s, end to end and per stage, on 1 and 2 "
                                        "worker processes (JSON on stdout, a summary on stderr)")
    pp.add_argument("layout", nargs="?", default="3x12-complete", choices=sorted(LAYOUTS) + sorted(COMPLETE_LAYOUTS))
    pp.add_argument("--records", type=int, default=2000)
    pp.add_argument("--repeat", type=int, default=3)
    pp.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    args = ap.parse_args(argv)
    if args.what == "prepare":
        from benchmarks.prepare import describe, measure_prepare

        result = measure_prepare(args.layout, args.records, args.repeat,
                                 tuple(int(w) for w in args.workers.split(",")), ROOT)
        print(describe(result), file=sys.stderr)
        print(json.dumps(result))
        return 0
    print(json.dumps(prove_rate(args.layout, args.seconds)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
