"""Our system, measured end to end with the installed console scripts, on this machine.

One run = one real survey: ``n`` node directories (``mpc-node keygen``), a survey with N tokens
(``salary-analyst create``), every node's HTTPS server (``mpc-node serve``), N synthetic
employees submitted from an HR file with ``salary-submit --csv`` (bulk batches), close, then
``mpc-node compute`` on every node at once — measured per process (wall, CPU, peak RSS, with its
MPC party child) — and ``salary-analyst results``, whose figures must equal the plaintext
oracle (exact counts, means to 1e-9 relative).  Nothing is mocked; everything listens on
127.0.0.1 only.
"""

from __future__ import annotations

import csv
import json
import os
import random
import re
import shutil
import statistics
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from demo.cluster import LocalCluster, local_party_env, tool  # noqa: E402

from .procstats import ProcStats, run_processes  # noqa: E402

CATEGORIES = ("female", "male", "other")
_PARTY = re.compile(r"MPC party done: (.*) peak_rss=([0-9.]+)MB")
_PREPARED = re.compile(r"prepared (\d+) record\(s\) in ([0-9.]+) s")


def write_staff(path: Path, n: int, seed: int) -> list[tuple[str, int]]:
    """N synthetic employees (45% female, 50% male, 5% other; log-normal monthly salaries)."""
    rng = random.Random(seed)
    base = {"female": 3900, "male": 4400, "other": 4100}
    rows = []
    for i in range(n):
        u = rng.random()
        g = "female" if u < 0.45 else "male" if u < 0.95 else "other"
        rows.append((g, min(1_000_000, max(900, int(rng.lognormvariate(0, 0.35) * base[g])))))
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["employee", "gender", "salary"])
        w.writerows((f"E{i:07d}", g, s) for i, (g, s) in enumerate(rows))
    return rows


def oracle(rows: list[tuple[str, int]], k: int) -> dict[str, Any]:
    """Counts and exact means per gender (None below k), from the plaintext records."""
    out: dict[str, Any] = {}
    for c in CATEGORIES:
        vals = [s for g, s in rows if g == c]
        out[c] = {"count": len(vals), "mean": float(Fraction(sum(vals), len(vals))) if len(vals) >= k else None}
    return out


def _check(result: dict[str, Any], want: dict[str, Any], n: int) -> None:
    if result["submissions"]["accepted"] != n:
        raise AssertionError(f"accepted {result['submissions']['accepted']} != {n}")
    for g in result["groups"]:
        w = want[g["gender"]]
        if g["count"] != w["count"]:
            raise AssertionError(f"{g['gender']}: count {g['count']} != {w['count']}")
        if (g["mean"] is None) != (w["mean"] is None) or (
                w["mean"] is not None and abs(g["mean"] - w["mean"]) > 1e-9 * w["mean"]):
            raise AssertionError(f"{g['gender']}: mean {g['mean']} != {w['mean']}")


def _timed(cmd: list[str], timeout: float) -> tuple[ProcStats, str]:
    st = run_processes([cmd], timeout=timeout, env=local_party_env())[0]
    if st.returncode != 0:
        raise RuntimeError(f"{Path(cmd[0]).name} {cmd[1]} failed ({st.returncode}): "
                           f"{(st.stderr.strip().splitlines() or ['?'])[-1]}")
    return st, st.stdout


def run_ours(workdir: Path, n_records: int, nodes: int, threshold: int, model: str, seed: int = 1,
             timeout: float = 3600.0, batch_size: int = 1000, keep: bool = False) -> dict[str, Any]:
    """One survey of ``n_records`` employees through the whole system; returns the run record."""
    root = workdir / f"ours-{model}-{nodes}-{n_records}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    k = 5
    c = LocalCluster(root / "cluster", n=nodes, threshold=threshold, tokens=n_records, model=model,
                     survey_id=f"bench-{n_records}", min_group_size=k)
    t0 = time.perf_counter()
    c.setup()
    setup_s = time.perf_counter() - t0
    staff = root / "staff.csv"
    rows = write_staff(staff, n_records, seed)
    try:
        c.start_all()
        sub, _ = _timed([tool("salary-submit"), "--survey", str(c.manifest), "--csv", str(staff), "--tokens",
                         str(c.tokens_file), "--receipt-dir", str(root / "receipts"), "--batch-size",
                         str(batch_size), "--concurrency", "4"], timeout)
        m = _PREPARED.search(sub.stderr)
        prep_s = float(m.group(2)) if m else float("nan")
        c.close()
        cmds = [[tool("mpc-node"), "compute", "--dir", str(d), "--timeout", str(timeout)] for d in c.node_dirs]
        stats = run_processes(cmds, timeout=3 * timeout + 60, env=local_party_env())
        bad = [s for s in stats if s.returncode != 0]
        if bad:
            raise RuntimeError("mpc-node compute failed: " + (bad[0].stderr.strip().splitlines() or ["?"])[-1])
        phases: list[dict[str, float]] = []
        party_rss: list[float] = []
        for s in stats:
            pm = _PARTY.search(s.stderr)
            if pm:
                phases.append({kv.split("=")[0]: float(kv.split("=")[1].rstrip("s")) for kv in pm.group(1).split()})
                party_rss.append(float(pm.group(2)))
        out_json = root / "result.json"
        ana, _ = _timed([tool("salary-analyst"), "results", "--survey", str(c.survey_dir), "--format", "json",
                         "--out", str(out_json)], 600)
        result = json.loads(out_json.read_text())
        _check(result, oracle(rows, k), n_records)
    finally:
        c.stop_all()
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    validation = max((p.get("validation", 0.0) for p in phases), default=0.0)
    return {
        "kind": "ours", "series": f"ours {model} ({nodes} nodes, t={threshold})", "model": model,
        "nodes": nodes, "threshold": threshold, "submissions": n_records,
        "wall_s": round(max(s.wall_s for s in stats), 3),
        "cpu_s": round(sum(s.cpu_s for s in stats), 3),
        "peak_rss_mb": [round(s.peak_rss_mb, 1) for s in stats],
        "party_peak_rss_mb": party_rss,
        "party_phases_s": phases,
        "validation_s": validation,
        "validation_per_s": round(n_records / validation) if validation else None,
        "submit": {"wall_s": round(sub.wall_s, 3), "cpu_s": round(sub.cpu_s, 3),
                   "peak_rss_mb": round(sub.peak_rss_mb, 1), "prepare_s": prep_s,
                   "prepare_per_s": round(n_records / prep_s) if prep_s == prep_s and prep_s > 0 else None,
                   "batch_size": batch_size},
        "analyst": {"wall_s": round(ana.wall_s, 3), "cpu_s": round(ana.cpu_s, 3),
                    "peak_rss_mb": round(ana.peak_rss_mb, 1)},
        "setup_s": round(setup_s, 2),
        "checked_against_oracle": True,
    }


def run_ingest(workdir: Path, mode: str, duration: float, contributors: int, bulk: int = 0) -> dict[str, Any]:
    """scripts/loadtest.py against one real node (single-record or bulk uploads); its JSON."""
    out = workdir / f"ingest-{mode}.json"
    # tokens cap the uploads; every upload is prepared before the load starts, so not many more
    # than the node can take in ``duration`` (if they run out, the rate is still measured over
    # the load phase, which then ends early)
    per = contributors * max(bulk, 1)
    tokens = max(per * 4, int(duration * (30_000 if bulk else 700)) // per * per)
    workers = os.cpu_count() or 1  # mpc-node serve --workers: one server process per core
    cmd = [sys.executable, str(ROOT / "scripts" / "loadtest.py"), "--duration", str(duration),
           "--contributors", str(contributors), "--tokens", str(tokens), "--prepare", "ahead",
           "--server-workers", str(workers), "--json", str(out)]
    if bulk:
        cmd += ["--bulk", str(bulk)]
    st = run_processes([cmd], timeout=duration + 1200, env=dict(os.environ, PYTHONPATH=str(ROOT)))[0]
    s = json.loads(out.read_text()) if out.exists() else None
    if s is None or s["errors"] or s["lost"] or not s["node_count_equals_acks"] or s["server_died"]:
        raise RuntimeError(f"loadtest ({mode}) failed: {(st.stdout + st.stderr).strip().splitlines()[-3:]}")
    out.unlink()
    return {"kind": "ingest", "mode": mode, "bulk": bulk, "contributors": contributors, "server_workers": workers,
            "duration_s": duration,
            "records_per_s": s["submissions_per_s"], "requests_per_s": s.get("requests_per_s"),
            "latency_ms": s["latency_ms"], "errors": s["errors"], "lost": s["lost"], "ok": s["ok"],
            "wall_s": s["load_wall_s"], "acknowledged": s["acknowledged"], "tokens_exhausted": s["tokens_exhausted"]}


def median(xs: list[float]) -> float:
    return float(statistics.median(xs))


__all__ = ["run_ours", "run_ingest", "write_staff", "oracle", "median"]
