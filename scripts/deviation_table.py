"""Every ``--cheat`` step on real local clusters: what each node's ``mpc-node compute`` returns and
what the analyst gets, against the plaintext oracle (the outcome table of docs/THREAT_MODEL.md).

    python scripts/deviation_table.py --nodes 3 4 5 --models malicious semi-honest

Node 2 deviates (``STEP@1``: towards node 1 alone); 15 synthetic employees per cluster, t = 1.
Prints one Markdown row per (n, model, step): the nodes' exit codes and the release: "exact"
(equal to the oracle) with the nodes named or left out, or why nothing was released.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from demo.cluster import StepFailed, closed_survey, compare, plaintext_report  # noqa: E402

STEPS = ["agree", "equivocate", "garbage", "pickle", "validate", "open", "result", "crash", "stall", "agree@1",
         "garbage@1", "pickle@1", "drop@1"]


def outcome(n: int, model: str, step: str) -> str:
    root = Path(tempfile.mkdtemp(prefix="deviation-"))
    c, records = closed_survey(root, {"female": 7, "male": 6, "other": 2}, seed=n, n=n, threshold=1, model=model)
    try:
        codes = [r.returncode for r in c.compute(timeout=5 if step == "stall" else 20, cheat={2: step})]
        try:
            out = c.results(root / "r.json")
        except StepFailed as exc:
            why = "compute stopped before any result" if "no result yet" in str(exc) else str(exc).split("error: ")[-1]
            return f"| {n} | {model} | `{step}` | {codes} | nothing released: {why} |"
        diff = compare(out, plaintext_report(records, 5))
        subs = out["submissions"]
        got = "exact" if not diff else f"{subs.get('set_aside', 0)} set aside, reported" if subs.get("set_aside") \
            else f"DIFFERS: {diff[0]}"
        return (f"| {n} | {model} | `{step}` | {codes} | {got}; named {out.get('cheating_nodes')}, left out "
                f"{out.get('left_out_nodes') or []} |")
    finally:
        c.stop_all()
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, nargs="+", default=[3, 4, 5])
    ap.add_argument("--models", nargs="+", default=["malicious", "semi-honest"])
    ap.add_argument("steps", nargs="*", default=STEPS)
    args = ap.parse_args(argv)
    print("| n | model | step | exit codes (node 0..n-1) | release |\n|---|---|---|---|---|", flush=True)
    for n in args.nodes:
        for model in args.models:
            for step in args.steps:
                print(outcome(n, model, step), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
