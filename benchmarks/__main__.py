"""``python -m benchmarks``: the reproducible benchmark, side by side in one invocation.

    python -m benchmarks --quick      # under 3 minutes; CI runs it so that it cannot rot
    python -m benchmarks --full       # adds 1e5 / 1e6 submissions and longer ingest runs
    python -m benchmarks --proof      # the validity proof's table alone (about 5 minutes on 2 cores)
    python -m benchmarks --complete   # the complete survey's series alone: 50,000 employees (about 3-4 minutes on 2 cores)

Runs, on this machine, all on 127.0.0.1:

- the plaintext limit: numpy group-by mean over the same kind of records;
- naive MPC: an MPyC program (3 parties) that validates every record with secure comparisons and
  accumulates with ``if_else``, at growing sizes up to the largest that finishes in the budget
  (2 minutes in full mode);
- our system end to end (benchmarks/ours.py): semi-honest with 3 nodes and malicious with 4
  nodes (t = 1), the compute of every node measured as a process (wall, CPU, peak RSS), results
  checked against the plaintext oracle; also at naive MPC's largest size, so that the two meet;
- ingest throughput of one node over HTTPS with durable commit (single-record and bulk uploads,
  p50/p99 latency), contributor sharing throughput (``salary-submit --csv``'s own report) and the
  analyst's reconstruction time;
- the validity proof (benchmarks/proof.py): submission width and prove rate on one core for three
  survey layouts, bulk preparation and node validation on the demo's layout, beside the previous
  proof's figures;
- a complete survey end to end (benchmarks/complete.py): 3 genders x 12 job categories with
  banded pay level, variable pay and hourly pay; submission width, HR preparation rate, upload,
  compute time and peak memory per node (its MPC party included), every released figure checked
  against the plaintext oracle (2,000 employees in quick mode, 50,000 in full and complete modes).

Writes one JSON file (machine, every run with its parameters, ratios), regenerates this mode's
section of BENCHMARKS.md and a log-log PNG of time against submissions.  Ratios come only from
runs of the same invocation.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .naive import largest_within
from .complete import complete_markdown, run_complete
from .ours import run_ingest, run_ours
from .plaintext import run_plaintext
from .procstats import machine
from .proof import proof_markdown, run_proof

ROOT = Path(__file__).resolve().parent.parent

MODES: dict[str, dict[str, Any]] = {
    "quick": {
        "plaintext": [1_000, 10_000, 100_000],
        "naive_budget_s": 30.0, "naive_sizes": [100, 300],
        "semi": [1_000, 10_000], "malicious": [1_000, 10_000], "repeat_small": 1,
        "ingest": {"single": (6.0, 8, 0), "bulk": (6.0, 2, 500)},
        "proof": {"prove_s": 0.5, "bulk_rows": 500, "validation_rows": 2000, "validation_repeat": 1},
        "complete": [2_000],
    },
    "full": {
        "plaintext": [1_000, 10_000, 100_000, 1_000_000],
        "naive_budget_s": 120.0, "naive_sizes": [100, 300, 1_000, 3_000, 10_000],
        "semi": [1_000, 10_000, 100_000, 1_000_000], "malicious": [1_000, 10_000, 100_000, 1_000_000],
        "repeat_small": 3,  # sizes up to 1e4 are dominated by fixed costs: median of 3 surveys
        "ingest": {"single": (30.0, 16, 0), "bulk": (30.0, 8, 1000)},
        "proof": {"prove_s": 5.0, "bulk_rows": 10_000, "validation_rows": 100_000, "validation_repeat": 3},
        "complete": [50_000],
    },
    "proof": {"proof": {"prove_s": 5.0, "bulk_rows": 10_000, "validation_rows": 100_000, "validation_repeat": 3}},
    "complete": {"complete": [50_000]},
}
#: modes that draw no time-against-submissions plot (one table each)
TABLE_ONLY = ("proof", "complete")


def _say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


#: The project's packages; they are compiled to bytecode before anything is measured.
PACKAGES = ("protocol", "contributor", "analyst", "mpc_nodes", "demo", "benchmarks")


def compile_bytecode() -> None:
    """Compile the project's modules to ``__pycache__`` as ``pip install`` does at install time.

    The editable install used here leaves that to the first import, and with
    PYTHONDONTWRITEBYTECODE set (as in some sandboxes and containers) every node process would
    compile the project from source again: about a tenth of a second per process, which is not
    what a deployed node pays.
    """
    import compileall

    for pkg in PACKAGES:
        compileall.compile_dir(str(ROOT / pkg), quiet=1)


def run_all(mode: str, workdir: Path) -> dict[str, Any]:
    cfg = MODES[mode]
    compile_bytecode()
    runs: list[dict[str, Any]] = []
    started = time.perf_counter()

    for n in cfg.get("plaintext", []):
        r = run_plaintext(n)
        r["series"] = "plaintext (numpy)"
        runs.append(r)
        _say(f"plaintext {n:>9,}: {r['wall_s'] * 1000:.2f} ms")

    naive = largest_within(cfg["naive_budget_s"], cfg["naive_sizes"]) if "naive_sizes" in cfg else []
    for r in naive:
        r["series"] = "naive MPC (MPyC comparisons)"
        runs.append(r)
        _say(f"naive MPC {r['submissions']:>7,}: " + (f"{r['wall_s']:.2f} s" if "wall_s" in r else
                                                     "over budget" if r.get("timed_out") else "skipped"))
    naive_done = [r["submissions"] for r in naive if "wall_s" in r]
    common = max(naive_done) if naive_done else None

    for model, nodes, sizes in (("semi-honest", 3, cfg.get("semi", [])), ("malicious", 4, cfg.get("malicious", []))):
        extra = [common] if common and model == "semi-honest" and common not in sizes else []
        for n in sorted(set(sizes + extra)):
            try:
                reps = [run_ours(workdir, n, nodes, 1, model)
                        for _ in range(cfg["repeat_small"] if n <= 10_000 else 1)]
                r = sorted(reps, key=lambda x: x["wall_s"])[len(reps) // 2]  # the median run
                r["repeats_wall_s"] = [x["wall_s"] for x in reps]
            except Exception as exc:  # recorded, and the invocation fails at the end
                runs.append({"kind": "ours", "series": f"ours {model} ({nodes} nodes, t=1)", "model": model,
                             "nodes": nodes, "submissions": n, "failed": f"{type(exc).__name__}: {exc}"})
                _say(f"ours {model:<11} {n:>9,}: FAILED: {exc}")
                continue
            runs.append(r)
            _say(f"ours {model:<11} {n:>9,}: compute {r['wall_s']:.2f} s, party RSS max "
                 f"{max(r['party_peak_rss_mb'] or [0]):.0f} MB, contributor {r['submit']['prepare_per_s']}/s")

    for label, (duration, contributors, bulk) in cfg.get("ingest", {}).items():
        r = run_ingest(workdir, label, duration, contributors, bulk)
        runs.append(r)
        _say(f"ingest {label}: {r['records_per_s']:,.0f} records/s, p50 {r['latency_ms']['p50']} ms, "
             f"p99 {r['latency_ms']['p99']} ms, errors {r['errors']}, lost {r['lost']}")

    if "proof" in cfg:
        runs += run_proof(cfg["proof"], workdir, _say)

    for n in cfg.get("complete", []):
        runs.append(_complete_run(workdir, n))

    return {"mode": mode, "machine": machine(), "command": " ".join(["python", "-m", "benchmarks", f"--{mode}"]),
            "seconds": round(time.perf_counter() - started, 1), "runs": runs, "ratios": ratios(runs)}


def _complete_run(workdir: Path, n: int) -> dict[str, Any]:
    """One complete survey (benchmarks/complete.py); a failure (the oracle's included) is recorded
    and fails the invocation at the end."""
    try:
        r = run_complete(workdir, n)
    except Exception as exc:
        _say(f"complete survey {n:,}: FAILED: {exc}")
        return {"kind": "complete", "series": "ours complete survey (3 nodes, t=1)", "submissions": n,
                "failed": f"{type(exc).__name__}: {exc}"}
    _say(f"complete survey {n:,}: width {r['width']:,} ({r['ratio']}x the record), HR prepare "
         f"{r['prepare_per_s']:,}/s, upload {r['upload_s']:.1f} s, compute {r['wall_s']:.1f} s, per node peak "
         f"RSS {', '.join(f'{x:,.0f}' for x in r['node_tree_peak_rss_mb'])} MB, {r['figures_checked']:,} figures "
         "= oracle")
    return r


def _by(runs: list[dict[str, Any]], series_prefix: str) -> dict[int, dict[str, Any]]:
    return {r["submissions"]: r for r in runs if r.get("series", "").startswith(series_prefix) and "wall_s" in r}


def ratios(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Every ratio from runs of this invocation."""
    plain, naive = _by(runs, "plaintext"), _by(runs, "naive")
    semi, mal = _by(runs, "ours semi-honest"), _by(runs, "ours malicious")
    out: dict[str, Any] = {
        "ours_semi_over_plaintext": {n: round(semi[n]["wall_s"] / plain[n]["wall_s"], 1) for n in semi if n in plain},
        "malicious_over_semi_honest": {n: round(mal[n]["wall_s"] / semi[n]["wall_s"], 2) for n in mal if n in semi},
    }
    common = sorted(set(naive) & set(semi))
    if common:
        n = common[-1]
        out["naive_over_ours"] = {"submissions": n, "ratio": round(naive[n]["wall_s"] / semi[n]["wall_s"], 1)}
    for name, series in (("semi-honest", semi), ("malicious", mal)):
        if 100_000 in series and 1_000_000 in series:
            out[f"{name}_1e6_over_1e5"] = round(series[1_000_000]["wall_s"] / series[100_000]["wall_s"], 2)
    return out


def _f(x: float | None, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:,.{digits}f}"


def _sig(x: float | None) -> str:
    """Seconds with 4 significant digits (plaintext runs take microseconds)."""
    if x is None:
        return "–"
    return f"{x:,.2f}" if x >= 100 else f"{x:.4g}"


def markdown(report: dict[str, Any], plot_name: str) -> str:
    m, runs, rt = report["machine"], report["runs"], report["ratios"]
    header = (f"Generated by `{report['command']}` on {m.get('date', '?')} in {report['seconds']:.0f} s. "
              f"Machine: {m.get('cores')} cores, {m.get('cpu')}, {m.get('memory_gib')} GiB, Python "
              f"{m.get('python')}, numpy {m.get('numpy')}, mpyc {m.get('mpyc')}.")
    if runs and all(_is_proof(r) for r in runs):  # python -m benchmarks --proof: that table alone
        return "\n".join([header] + proof_markdown(runs)) + "\n"
    if runs and all(r.get("kind") == "complete" for r in runs):  # --complete: that table alone
        return "\n".join([header] + _failed_complete(runs) + complete_markdown(runs)) + "\n"
    lines = [header, "", f"![time against submissions]({plot_name})", "",
             "| series | submissions | wall s | CPU s (all processes) | peak RSS MB per process | notes |",
             "|---|---:|---:|---:|---|---|"]
    for r in runs:
        if r.get("kind") in ("ingest", "complete") or _is_proof(r):
            continue
        if "wall_s" not in r:
            note = (f"FAILED: {r['failed']}" if r.get("failed") else
                    f"over the {r['budget_s']:.0f} s budget" if r.get("timed_out") else
                    f"skipped: predicted {r.get('predicted_s', 0):.0f} s > budget")
            lines.append(f"| {r['series']} | {r['submissions']:,} | – | – | – | {note} |")
            continue
        rss = r.get("peak_rss_mb")
        rss_s = ", ".join(f"{x:,.0f}" for x in rss) if isinstance(rss, list) else _f(rss, 0)
        note = ""
        if r.get("kind") == "ours":
            reps = r.get("repeats_wall_s", [])
            note = ((f"median of {len(reps)} surveys ({', '.join(f'{x:.2f}' for x in reps)} s); " if len(reps) > 1
                     else "") + f"party RSS {', '.join(f'{x:,.0f}' for x in r['party_peak_rss_mb'])} MB; validation phase "
                    f"{_f(r['validation_s'])} s = {_f(r.get('validation_per_s'), 0)} submissions/s; "
                    "result = oracle")
        elif r.get("kind") == "plaintext":
            note = f"median of {r['repeat']}"
        lines.append(f"| {r['series']} | {r['submissions']:,} | {_sig(r['wall_s'])} | {_sig(r.get('cpu_s'))} | "
                     f"{rss_s} | {note} |")
    lines += ["", "Ratios (same invocation):", ""]
    if "naive_over_ours" in rt:
        lines.append(f"- naive MPC / ours (semi-honest) at {rt['naive_over_ours']['submissions']:,} submissions "
                     f"(naive's largest within its budget): **{rt['naive_over_ours']['ratio']}×**")
    for n, v in sorted(rt["malicious_over_semi_honest"].items()):
        lines.append(f"- malicious (4 nodes) / semi-honest (3 nodes) at {int(n):,}: **{v}×**")
    for n, v in sorted(rt["ours_semi_over_plaintext"].items()):
        lines.append(f"- ours (semi-honest) / plaintext numpy at {int(n):,}: {v:,}×")
    for name in ("semi-honest", "malicious"):
        if f"{name}_1e6_over_1e5" in rt:
            lines.append(f"- {name}: time at 1e6 / time at 1e5 = **{rt[f'{name}_1e6_over_1e5']}** (linear would be 10)")
    lines += ["", "| ingest, one node, HTTPS, durable commit | server processes | contributors | records/s | "
              "requests/s | p50 ms | p99 ms | errors | lost |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in runs:
        if r.get("kind") == "ingest":
            what = f"bulk ({r['bulk']} records per request)" if r["bulk"] else "single record per request"
            lines.append(f"| {what} | {r.get('server_workers', 1)} | {r['contributors']} | {r['records_per_s']:,.0f} | "
                         f"{_f(r['requests_per_s'], 0)} | {_f(r['latency_ms']['p50'], 1)} | "
                         f"{_f(r['latency_ms']['p99'], 1)} | {r['errors']} | {r['lost']} |")
    lines += ["", "| our runs | submissions | contributor: shared + sealed per s | `salary-submit --csv` wall s | "
              "analyst results wall s |", "|---|---:|---:|---:|---:|"]
    for r in runs:
        if r.get("kind") == "ours":
            lines.append(f"| {r['series']} | {r['submissions']:,} | {_f(r['submit']['prepare_per_s'], 0)} | "
                         f"{_f(r['submit']['wall_s'])} | {_f(r['analyst']['wall_s'])} |")
    lines += proof_markdown(runs)
    lines += _failed_complete(runs) + complete_markdown(runs)
    return "\n".join(lines) + "\n"


def _failed_complete(runs: list[dict[str, Any]]) -> list[str]:
    return [f"\nComplete survey of {r['submissions']:,} employees FAILED: {r['failed']}"
            for r in runs if r.get("kind") == "complete" and r.get("failed")]


def _is_proof(run: dict[str, Any]) -> bool:
    return str(run.get("kind", "")).startswith("proof")


def update_markdown(path: Path, mode: str, body: str) -> None:
    begin, end = f"<!-- BEGIN {mode} (generated by python -m benchmarks --{mode}) -->", f"<!-- END {mode} -->"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{begin}\n{body}{end}"
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + f"\n\n## {mode.capitalize()} mode\n\n{block}\n"
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_const", const="quick", dest="mode", help="under 3 minutes (default)")
    g.add_argument("--full", action="store_const", const="full", dest="mode",
                   help="1e6 submissions, 2-minute naive budget (about 35 minutes on 2 cores)")
    g.add_argument("--proof", action="store_const", const="proof", dest="mode",
                   help="the validity proof's table alone (about 5 minutes on 2 cores)")
    g.add_argument("--complete", action="store_const", const="complete", dest="mode",
                   help="the complete survey's series alone: 50,000 employees end to end (about 3-4 minutes "
                        "on 2 cores; up to about 25 GB of scratch space, freed at the end)")
    ap.add_argument("--json", type=Path, help="output JSON (default: benchmarks/results-MODE.json)")
    ap.add_argument("--markdown", type=Path, default=ROOT / "BENCHMARKS.md",
                    help="the Markdown file whose MODE section is regenerated (default: BENCHMARKS.md)")
    ap.add_argument("--plot", type=Path, help="output PNG (default: docs/benchmark-MODE.png)")
    ap.add_argument("--workdir", type=Path, help="scratch directory (default: a temporary one, deleted)")
    ap.add_argument("--render", type=Path, metavar="RESULTS.json",
                    help="run nothing: regenerate the Markdown section and the plot from an earlier JSON")
    args = ap.parse_args(argv)
    if args.render:
        report = json.loads(args.render.read_text())
        mode = report["mode"]
    else:
        mode = args.mode or "quick"
    out_json = args.json or ROOT / "benchmarks" / f"results-{mode}.json"
    plot = args.plot or ROOT / "docs" / f"benchmark-{mode}.png"
    if not args.render:
        work = args.workdir or Path(tempfile.mkdtemp(prefix="salary-mpc-bench-"))
        try:
            report = run_all(mode, work)
        except Exception as exc:  # one clear line; the JSON is not written for a failed run
            print(f"benchmarks: error: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        finally:
            if not args.workdir:
                shutil.rmtree(work, ignore_errors=True)
        out_json.parent.mkdir(parents=True, exist_ok=True)
        out_json.write_text(json.dumps(report, indent=1) + "\n")
    report["ratios"] = {k: ({int(n): v for n, v in val.items()} if isinstance(val, dict) and k != "naive_over_ours"
                            else val) for k, val in report["ratios"].items()}
    if mode not in TABLE_ONLY:  # one table each, no time-against-submissions series
        plot.parent.mkdir(parents=True, exist_ok=True)
        from .plot import plot_scaling

        plot_scaling(report["runs"], str(plot),
                     title=f"salary-mpc, {mode} mode, {report['machine'].get('cores')} cores")
    try:
        rel = plot.resolve().relative_to(args.markdown.resolve().parent)
    except ValueError:
        rel = plot.resolve()
    update_markdown(args.markdown, mode, markdown(report, str(rel)))
    _say(f"wrote {'' if args.render else f'{out_json}, '}{'' if mode in TABLE_ONLY else f'{plot} and '}the {mode} "
         f"section of {args.markdown}")
    failed = [r for r in report["runs"] if r.get("failed")]
    if failed:
        print(f"benchmarks: error: {len(failed)} run(s) failed, e.g. {failed[0]['failed']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
