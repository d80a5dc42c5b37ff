"""The cost of a rerun after an exclusion: ``mpc-node compute`` on every node of a 4-node cluster
(t = 1, malicious model) over the same kind of closed survey, without a deviation and with one
node deviating at each given step; per case the slowest honest node's wall time (median of
--repeat clusters) and the difference from the run without a deviation.

    python scripts/measure_rerun.py --submissions 2000 --repeat 3 agree garbage@1 drop@1

Every result is checked against the plaintext oracle; a case whose honest nodes do not all exit
0 with the exact result fails the script.  Prints the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from demo.cluster import closed_survey, compare, plaintext_report  # noqa: E402

CHEATER = 2


def one(root: Path, submissions: int, step: str | None, seed: int) -> float:
    """Seconds from starting compute on every node to the last honest node's exit."""
    counts = {"female": submissions * 45 // 100, "male": submissions * 45 // 100}
    counts["other"] = submissions - sum(counts.values())
    c, records = closed_survey(root, counts, seed=seed, n=4, threshold=1, model="malicious")
    try:
        t0 = time.perf_counter()
        results = c.compute(timeout=20, cheat={CHEATER: step} if step else None)
        wall = time.perf_counter() - t0
        target = int(step.partition("@")[2]) if step and "@" in step and not step.startswith("drop") else None
        for i, res in enumerate(results):
            if i not in (CHEATER, target) and res.returncode != 0:
                raise SystemExit(f"measure_rerun: {step}: node {i} failed: {res.stderr.strip().splitlines()[-1]}")
        problems = compare(c.results(root / "r.json"), plaintext_report(records, 5))
        if problems:
            raise SystemExit(f"measure_rerun: {step}: the result differs from the oracle: {problems[0]}")
        return wall
    finally:
        c.stop_all()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--submissions", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("steps", nargs="*", default=["agree", "garbage@1", "drop@1"])
    args = ap.parse_args(argv)
    print(f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}")
    base: float | None = None
    for step in [None, *args.steps]:
        walls = []
        for k in range(args.repeat):
            root = Path(tempfile.mkdtemp(prefix="rerun-"))
            try:
                walls.append(one(root, args.submissions, step, seed=k + 1))
            finally:
                shutil.rmtree(root, ignore_errors=True)
        med = statistics.median(walls)
        base = med if base is None else base
        extra = "" if step is None else f", {med - base:+.2f} s against no deviation"
        print(f"{step or 'no deviation'}: compute {med:.2f} s (median of {args.repeat}: "
              f"{', '.join(f'{w:.2f}' for w in walls)}){extra}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
