"""Validation throughput: 3 (or n) real MPyC parties over TLS validate N synthetic submissions.

    python scripts/bench_validation.py --submissions 100000 [--nodes 3 --threshold 1] [--repeat 3]

Each party gets its share matrix (N rows, one per submission) exactly as `mpc-node compute` hands
it over, and runs the party program: joint seed, seven linear openings, verdicts, aggregation of
the valid rows, disclosure rule, result shares.  Reported: wall seconds from start to the last
party's exit (median of --repeat runs) and submissions validated per second.  Setting up the
shares is not timed.  Prints the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
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
from demo.cluster import free_ports, local_party_env  # noqa: E402
from mpc_nodes.compute import run_mpc  # noqa: E402
from mpc_nodes.keys import keygen  # noqa: E402
from mpc_nodes.party_job import PartyOutcome  # noqa: E402
from protocol.encoding import Record, encode_record  # noqa: E402
from protocol.manifest import Manifest  # noqa: E402
from protocol.validity import Layout, prove_batch  # noqa: E402


def shares_matrices(m: Manifest, N: int, bad_every: int) -> list[bytes]:
    """Every node's share matrix as bytes (vectorised Shamir sharing with numpy object arrays)."""
    p, n, t = m.field_modulus, m.n, m.threshold
    rng = np.random.default_rng(secrets.randbits(64))
    genders = rng.integers(0, len(m.categories), N)
    salaries = rng.integers(0, m.salary_max + 1, N)
    recs = np.array([encode_record(Record(m.categories[g], int(s)), m.scheme())
                     for g, s in zip(genders, salaries)], dtype=np.int64)
    if bad_every:
        recs[::bad_every, 0] = 1000  # not one-hot (with a proof of its true gate outputs)
    rows = prove_batch(recs, Layout(m.scheme()), p)
    coeffs = [np.array([[secrets.randbelow(p) for _ in range(rows.shape[1])] for _ in range(N)], dtype=object)
              for _ in range(t)]
    out = []
    for i in range(n):
        x = i + 1
        sh = rows.copy()
        for k, c in enumerate(coeffs, 1):
            sh = sh + c * pow(x, k, p)
        sh = sh % p
        out.append(b"".join(int(v).to_bytes(16, "big") for v in sh.ravel()))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--submissions", type=int, default=100_000)
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--threshold", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--bad-every", type=int, default=100, help="every k-th submission is invalid (0: none)")
    args = ap.parse_args()
    os.environ.update(local_party_env())  # the parties (subprocesses) share this machine
    with tempfile.TemporaryDirectory(prefix="bench-validation-") as tmp:
        root = Path(tmp)
        ports = free_ports(2 * args.nodes)
        infos = [keygen(root / f"node{i}", f"node{i}", f"https://127.0.0.1:{ports[2 * i]}",
                        f"127.0.0.1:{ports[2 * i + 1]}") for i in range(args.nodes)]
        m = create_survey(root / "survey", infos, survey_id="bench", threshold=args.threshold, tokens=1)
        t0 = time.perf_counter()
        mats = shares_matrices(m, args.submissions, args.bad_every)
        print(f"prepared {args.submissions} submissions x {m.vector_length()} entries for {args.nodes} nodes "
              f"in {time.perf_counter() - t0:.1f} s (not timed below)")
        walls: list[float] = []
        phases: list[float] = []
        for rep in range(args.repeat):
            results: dict[int, PartyOutcome | BaseException] = {}

            def party(i: int) -> None:
                path = root / f"node{i}" / "m.bin"
                path.write_bytes(mats[i])
                try:
                    results[i] = run_mpc(root / f"node{i}", m, i, path, args.submissions, "ab" * 32, 600)
                except BaseException as exc:  # reported below
                    results[i] = exc

            threads = [threading.Thread(target=party, args=(i,)) for i in range(args.nodes)]
            t0 = time.perf_counter()
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            wall = time.perf_counter() - t0
            bad = [r for r in results.values() if not isinstance(r, PartyOutcome)]
            if bad:
                print(f"run {rep + 1} failed: {bad[0]}")
                return 1
            outs = [r for r in results.values() if isinstance(r, PartyOutcome)]
            invalid = {len(r.invalid) for r in outs}
            phase = max(o.seconds.get("validation", 0.0) for o in outs)  # the slowest party
            walls.append(wall)
            phases.append(phase)
            print(f"run {rep + 1}: {wall:.2f} s in all ({args.submissions / wall:,.0f} submissions/s), validation "
                  f"phase {phase:.2f} s ({args.submissions / phase:,.0f}/s), invalid {invalid}, "
                  f"phases of party 0: {outs[0].seconds}")
        med = statistics.median(walls)
        med_phase = statistics.median(phases)
        cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")),
                   platform.processor())
        print(f"median {med:.2f} s for {args.submissions} submissions with n={args.nodes}, t={args.threshold}: "
              f"{args.submissions / med:,.0f} submissions/s from party start to result shares; validation "
              f"phase (openings, exchange, verdicts) median {med_phase:.2f} s = {args.submissions / med_phase:,.0f} "
              f"submissions/s (machine: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
