"""Validation throughput: 3 (or n) real MPyC parties over TLS validate N synthetic submissions.

    python scripts/bench_validation.py --submissions 100000 [--layout demo] [--nodes 3 --threshold 1] [--repeat 3]

Each party gets its share matrix (N rows, one per submission) exactly as `mpc-node compute` hands
it over, and runs the party program: joint seed, the validation openings, verdicts, aggregation
of the valid rows, disclosure rule, result shares.  Reported: wall seconds from start to the last
party's exit (median of --repeat runs), submissions validated per second, and the CPU seconds of
all parties (load from other work on the machine stretches the wall time, not the CPU).  Setting up the
shares is not timed: the submissions repeat a pool of a few thousand proved records (every row
shared afresh), since proving is not what is measured.  ``--layout`` is one of
benchmarks/proof.py's survey layouts (gender-only, demo, 3x12x60).  Prints the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from analyst.survey import create_survey  # noqa: E402
from benchmarks.proof import LAYOUTS, bands, sample_records  # noqa: E402
from demo.cluster import free_ports, local_party_env  # noqa: E402
from mpc_nodes.compute import run_mpc  # noqa: E402
from mpc_nodes.keys import keygen  # noqa: E402
from mpc_nodes.party_job import PartyOutcome  # noqa: E402
from protocol import fastfield  # noqa: E402
from protocol.manifest import Manifest  # noqa: E402
from protocol.validity import Layout, prove_batch_limbs  # noqa: E402

POOL = 4000  # distinct proved records the submissions cycle through
CHUNK = 2000  # rows shared at a time


def write_share_files(m: Manifest, layout_name: str, N: int, bad_every: int, paths: list[Path]) -> None:
    """Every node's share matrix file (row order): row r is pool record r mod POOL, Shamir-shared
    afresh; with ``bad_every``, rows r with r mod bad_every == 0 are not one-hot (with a proof of
    their true gate outputs)."""
    pool = POOL - POOL % bad_every if bad_every else POOL
    recs = sample_records(layout_name, pool, seed=secrets.randbits(32))
    if bad_every:
        recs[::bad_every, 0] = 1000
    proved = prove_batch_limbs(recs, Layout(m.scheme()))
    files = [open(p, "wb") for p in paths]
    try:
        for start in range(0, N, CHUNK):
            rows = proved[np.arange(start, min(N, start + CHUNK)) % pool]
            for fh, share in zip(files, fastfield.shamir_shares(rows, m.n, m.threshold)):
                fh.write(fastfield.to_bytes(share))
    finally:
        for fh in files:
            fh.close()


def run_parties(root: Path, m: Manifest, paths: list[Path], rows: int
                ) -> tuple[float, float, float, list[PartyOutcome]] | BaseException:
    """One run of every party over its matrix file: wall seconds, the slowest party's validation
    phase, the CPU seconds of all parties (and the processes they waited for), the outcomes."""
    results: dict[int, PartyOutcome | BaseException] = {}

    def party(i: int) -> None:
        try:
            results[i] = run_mpc(root / f"node{i}", m, i, paths[i], rows, "ab" * 32, 1800)
        except BaseException as exc:  # reported by the caller
            results[i] = exc

    threads = [threading.Thread(target=party, args=(i,)) for i in range(len(paths))]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    bad = [r for r in results.values() if not isinstance(r, PartyOutcome)]
    if bad:
        return bad[0]
    outs = [r for r in results.values() if isinstance(r, PartyOutcome)]
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return wall, max(o.seconds.get("validation", 0.0) for o in outs), cpu, outs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--submissions", type=int, default=100_000)
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--threshold", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--bad-every", type=int, default=100, help="every k-th submission is invalid (0: none)")
    ap.add_argument("--layout", choices=sorted(LAYOUTS), default="gender-only")
    ap.add_argument("--json", type=Path, help="write the medians and the runs here")
    args = ap.parse_args()
    jobs, salary_max, band_width = LAYOUTS[args.layout]
    os.environ.update(local_party_env())  # the parties (subprocesses) share this machine
    with tempfile.TemporaryDirectory(prefix="bench-validation-") as tmp:
        root = Path(tmp)
        ports = free_ports(2 * args.nodes)
        infos = [keygen(root / f"node{i}", f"node{i}", f"https://127.0.0.1:{ports[2 * i]}",
                        f"127.0.0.1:{ports[2 * i + 1]}") for i in range(args.nodes)]
        m = create_survey(root / "survey", infos, survey_id="bench", threshold=args.threshold, tokens=1,
                          salary_max=salary_max, job_categories=jobs, salary_bands=bands(salary_max, band_width))
        t0 = time.perf_counter()
        (root / "shares").mkdir()
        kept = [root / "shares" / f"node{i}.bin" for i in range(args.nodes)]
        write_share_files(m, args.layout, args.submissions, args.bad_every, kept)
        paths = [root / f"node{i}" / "m.bin" for i in range(args.nodes)]
        print(f"prepared {args.submissions} submissions x {m.vector_length()} entries ({args.layout} layout) for "
              f"{args.nodes} nodes in {time.perf_counter() - t0:.1f} s (not timed below)")
        walls: list[float] = []
        phases: list[float] = []
        cpus: list[float] = []
        for rep in range(args.repeat):
            for src, dst in zip(kept, paths):  # a run consumes its matrix file: link a fresh name each time
                dst.unlink(missing_ok=True)
                os.link(src, dst)
            run = run_parties(root, m, paths, args.submissions)
            if isinstance(run, BaseException):
                print(f"run {rep + 1} failed: {run}")
                return 1
            wall, phase, cpu_s, outs = run
            walls.append(wall)
            phases.append(phase)
            cpus.append(cpu_s)
            print(f"run {rep + 1}: {wall:.2f} s in all ({args.submissions / wall:,.0f} submissions/s), validation "
                  f"phase {phase:.2f} s ({args.submissions / phase:,.0f}/s), parties' CPU {cpu_s:.1f} s, invalid "
                  f"{ {len(r.invalid) for r in outs} }, phases of party 0: {outs[0].seconds}")
        med = statistics.median(walls)
        med_phase = statistics.median(phases)
        cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")),
                   platform.processor())
        if args.json:
            args.json.write_text(json.dumps({
                "layout": args.layout, "submissions": args.submissions, "nodes": args.nodes,
                "threshold": args.threshold, "width": m.vector_length(), "wall_s": walls, "validation_s": phases,
                "cpu_s": cpus, "median_wall_s": med, "median_validation_s": med_phase,
                "median_cpu_s": statistics.median(cpus)}) + "\n")
        print(f"median {med:.2f} s for {args.submissions} submissions with n={args.nodes}, t={args.threshold}: "
              f"{args.submissions / med:,.0f} submissions/s from party start to result shares; validation "
              f"phase (openings, exchange, verdicts) median {med_phase:.2f} s = {args.submissions / med_phase:,.0f} "
              f"submissions/s; the parties' CPU median {statistics.median(cpus):.1f} s (machine: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
