"""Driver of the naive MPC baseline (:mod:`benchmarks.naive_party`): 3 MPyC parties on 127.0.0.1.

:func:`run_naive` writes synthetic records, starts the three party processes at once, measures
them with :func:`benchmarks.procstats.run_processes`, and checks the opened counts and sums
against a plaintext oracle.  :func:`largest_within` runs increasing sizes until one no longer
fits a time budget.
"""

from __future__ import annotations

import json
import math
import os
import socket
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.naive_party import BIT_LENGTH
from benchmarks.plaintext import CATEGORIES, synthetic_records
from benchmarks.procstats import BenchTimeout, ProcStats, run_processes

__all__ = ["PARTIES", "free_ports", "largest_within", "oracle", "party_env", "run_naive"]

PARTIES = 3
REPO_ROOT = Path(__file__).resolve().parent.parent
_PORT_ATTEMPTS = 3


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports that were free on 127.0.0.1 a moment ago (bound to port 0 by
    the kernel, then released).  Another process may take one before the parties bind it;
    :func:`run_naive` retries with new ports when a party reports the address in use."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def party_env() -> dict[str, str]:
    """Environment for the party processes: this one, plus one BLAS/OpenMP thread per process
    (several parties share this machine's cores) and ``PYTHONPATH`` led by the repository root,
    so that ``python -m benchmarks.naive_party`` imports from any working directory."""
    env = dict(os.environ)
    env["OPENBLAS_NUM_THREADS"] = "1"
    env["OMP_NUM_THREADS"] = "1"
    old = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + old if old else "")
    return env


def oracle(genders: np.ndarray, salaries: np.ndarray, salary_max: int) -> dict[str, Any]:
    """The expected result in plain Python (independent of the numpy code in
    :func:`benchmarks.plaintext.group_means`): counts, sums and :func:`statistics.mean` of the
    salaries of the valid records per category, and the number of invalid records."""
    groups: list[list[int]] = [[] for _ in range(CATEGORIES)]
    invalid = 0
    for g, s in zip(genders.tolist(), salaries.tolist()):
        if 0 <= g < CATEGORIES and 0 <= s <= salary_max:
            groups[g].append(s)
        else:
            invalid += 1
    return {"counts": [len(v) for v in groups], "sums": [sum(v) for v in groups],
            "means": [statistics.mean(v) if v else None for v in groups], "invalid": invalid}


def _commands(ports: list[int], n: int, salary_max: int, records: Path, result: Path) -> list[list[str]]:
    addrs = [a for p in ports for a in ("-P", f"127.0.0.1:{p}")]
    cmds = []
    for i in range(PARTIES):
        cmd = [sys.executable, "-m", "benchmarks.naive_party", f"-M{PARTIES}", "-I", str(i), *addrs,
               "--naive-count", str(n), "--naive-salary-max", str(salary_max)]
        if i == 0:
            cmd += ["--naive-records", str(records), "--naive-result", str(result)]
        cmds.append(cmd)
    return cmds


def _port_clash(stats: list[ProcStats]) -> bool:
    return any(st.returncode != 0 and "address already in use" in st.stderr.lower() for st in stats)


def run_naive(n_records: int, salary_max: int = 1_000_000, seed: int = 1, timeout: float = 120.0,
              *, bad_every: int = 100) -> dict[str, Any]:
    """Run the naive MPC baseline on ``synthetic_records(n_records, seed, salary_max, bad_every)``.

    Three party processes (``python -m benchmarks.naive_party``, MPyC, no SSL, free ports on
    127.0.0.1 passed with ``-P``) run with :func:`party_env`; the whole run, process start-up and
    MPyC connection set-up included, must end within ``timeout`` seconds, else
    :class:`benchmarks.procstats.BenchTimeout` is raised (the parties are killed).  If a party
    fails, ``RuntimeError`` is raised with its stderr tail; if the opened counts or sums differ
    from :func:`oracle`, ``AssertionError`` is raised saying which.  Writing the records and
    computing the oracle are not timed.

    Returns ``{"kind": "naive-mpc", "submissions": n, "parties": 3, "wall_s": the slowest party's
    wall seconds, "cpu_s": CPU seconds summed over the parties, "peak_rss_mb": [per party, MiB],
    "counts": [3 ints], "sums": [3 ints], "means": [3 floats or None], "invalid": number of
    invalid records (excluded), "salary_max", "seed", "bit_length": secint bits,
    "party0_seconds": party 0's own split {"connect", "input", "compute"}}``.
    """
    if n_records * salary_max >= 2 ** (BIT_LENGTH - 1):
        raise ValueError(f"n_records * salary_max must be below 2**{BIT_LENGTH - 1}")
    genders, salaries = synthetic_records(n_records, seed, salary_max, bad_every)
    expect = oracle(genders, salaries, salary_max)
    with tempfile.TemporaryDirectory(prefix="naive-mpc-") as tmp:
        records, result = Path(tmp) / "records.npy", Path(tmp) / "result.json"
        np.save(records, np.stack([genders, salaries], axis=1).astype(np.int64))
        for attempt in range(_PORT_ATTEMPTS):
            cmds = _commands(free_ports(PARTIES), n_records, salary_max, records, result)
            stats = run_processes(cmds, timeout, env=party_env(), cwd=tmp)
            if not (_port_clash(stats) and attempt + 1 < _PORT_ATTEMPTS):
                break
        for i, st in enumerate(stats):
            if st.returncode != 0:
                tail = "\n".join(st.stderr.strip().splitlines()[-5:]) or st.stdout.strip()[-500:]
                raise RuntimeError(f"naive MPC party {i} exited with code {st.returncode} "
                                   f"(n={n_records}): {tail}")
        if not result.exists():
            raise RuntimeError(f"naive MPC party 0 exited normally but wrote no result (n={n_records})")
        got = json.loads(result.read_text(encoding="utf-8"))
    for key in ("counts", "sums"):
        if got[key] != expect[key]:
            raise AssertionError(f"naive MPC {key} {got[key]} != plaintext oracle {expect[key]} "
                                 f"(n={n_records}, seed={seed}, {expect['invalid']} invalid records)")
    return {"kind": "naive-mpc", "submissions": n_records, "parties": PARTIES,
            "wall_s": max(st.wall_s for st in stats), "cpu_s": sum(st.cpu_s for st in stats),
            "peak_rss_mb": [st.peak_rss_mb for st in stats],
            "counts": got["counts"], "sums": got["sums"], "means": expect["means"],
            "invalid": expect["invalid"], "salary_max": salary_max, "seed": seed,
            "bit_length": BIT_LENGTH, "party0_seconds": got.get("seconds", {})}


def _predict(done: list[tuple[int, float]], n: int) -> float:
    """Wall seconds for ``n`` records extrapolated from completed ``(n, seconds)`` runs (sorted
    by n): proportionally to the last run (linear in n), or, if the last two runs grew faster
    than linearly, along the power law through them (``w2 * (n / n2) ** k``), whichever is
    larger.  The naive program does grow faster than linearly (MPyC schedules every record's
    work at once: measured about n**1.3 between 300 and 1000 records), and a purely linear
    extrapolation then starts runs that are sure to time out."""
    n2, w2 = done[-1]
    pred = w2 * n / n2 if n2 else w2
    if len(done) >= 2:
        n1, w1 = done[-2]
        if n2 > n1 > 0 and w2 > w1 > 0:
            k = math.log(w2 / w1) / math.log(n2 / n1)
            pred = max(pred, w2 * (n / n2) ** k)
    return pred


def largest_within(budget_s: float, sizes: list[int], salary_max: int = 1_000_000, seed: int = 1,
                   *, bad_every: int = 100) -> list[dict[str, Any]]:
    """Run :func:`run_naive` for ``sizes`` in increasing order, each with timeout ``budget_s``.

    Stops at the first size that times out, recorded as ``{"kind": "naive-mpc", "submissions":
    n, "timed_out": True, "budget_s": budget_s}``, or at the first size whose extrapolated time
    (linear, or power law if growth was superlinear: :func:`_predict`) exceeds 1.5 x
    ``budget_s``, recorded without running it as ``{"kind": "naive-mpc", "submissions": n,
    "skipped": True, "predicted_s": seconds, "budget_s": budget_s}``.  Completed runs are the dicts of :func:`run_naive` plus
    ``"budget_s"``.  Returns every record in order of size (larger sizes after the stop are not
    listed).  Failures other than the timeout (party errors, wrong results) propagate.
    """
    runs: list[dict[str, Any]] = []
    done: list[tuple[int, float]] = []
    for n in sorted(set(sizes)):
        if done:
            pred = _predict(done, n)
            if pred > 1.5 * budget_s:
                runs.append({"kind": "naive-mpc", "submissions": n, "skipped": True,
                             "predicted_s": pred, "budget_s": budget_s})
                break
        try:
            r = run_naive(n, salary_max, seed, timeout=budget_s, bad_every=bad_every)
        except BenchTimeout:
            runs.append({"kind": "naive-mpc", "submissions": n, "timed_out": True, "budget_s": budget_s})
            break
        r["budget_s"] = budget_s
        runs.append(r)
        done.append((n, float(r["wall_s"])))
    return runs
