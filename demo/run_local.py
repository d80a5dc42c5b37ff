"""The local demo: a whole survey on 127.0.0.1, checked against the plaintext oracle.

Run it through ``./run_local.sh`` (which installs the project first).  Exits 0 only when the
analyst's released table equals the plaintext figures.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any

from mpc_nodes.party_job import Cheat
from protocol.errors import InvalidSubmission
from protocol.manifest import load_manifest

from contributor.hrfile import ReadOptions
from demo.bad_contributors import KINDS, mixed_kinds, submit_bad
from demo.derive import Unusable, median_misses, plan_survey
from demo.cluster import (
    Chaos,
    LocalCluster,
    StepFailed,
    compare,
    compare_components,
    file_records,
    file_rows,
    plaintext_report,
    run,
    synthetic_csv,
    tool,
)


#: --cheat steps after which the honest nodes leave the deviating node out and rerun (n >= 3t+1, or a
#: lost node with n >= 2t+2)
EXCLUDED_STEPS = ("agree", "equivocate", "garbage", "pickle", "crash", "stall")

def noisy_compare(mpc: dict[str, Any], plain: dict[str, Any]) -> list[str]:
    """With differential privacy: every released mean within six of its stated noise standard
    deviations of the oracle (a wider miss has probability below 10^-3 per figure)."""
    problems = []
    by = {g["gender"]: g for g in mpc["groups"]}
    for g in plain["groups"]:
        m = by.get(g["gender"])
        if m is None or m["suppressed"] or g["mean"] is None or not m.get("dp_sd"):
            continue
        if abs(m["mean"] - g["mean"]) > 6 * m["dp_sd"]["mean"]:
            problems.append(f"{g['gender']}: noisy mean {m['mean']:.2f} is more than 6 sd from {g['mean']:.2f}")
    return problems


#: the default survey's complete-survey options: monthly basic and variable pay (bands of 100 up
#: to 2,000) and hours (up to 200 a month; hourly pay in bands of 2 up to 300)
COMPLETE_SURVEY = ("--components", "basic,variable,hours", "--pay-period", "monthly", "--variable-max", "2000",
                   "--variable-band-width", "100", "--hours-max", "200", "--hourly-max", "300",
                   "--hourly-band-width", "2")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@dataclass(frozen=True)
class _Survey:
    """The demo survey's shape: given by the options, or sized to ``--input``."""

    jobs: tuple[str, ...]
    salary_max: int
    band_width: int | None
    bands: tuple[int, ...] = ()
    rows: int = 0
    #: ``salary-analyst create`` options of a complete survey (basic and variable pay, hours)
    complete: tuple[str, ...] = ()

    def describe(self) -> str:
        return (f"{len(self.jobs)} job categories, salary bound {self.salary_max:,}, "
                + (f"{len(self.bands) + 1} salary bands" if self.bands else f"bands of {self.band_width}"))


def _survey_for(args: argparse.Namespace) -> _Survey:
    """The survey's job categories, bound and bands (raises :class:`Unusable` for a file that
    cannot be run as it is)."""
    given = None if args.jobs is None else tuple(j.strip() for j in args.jobs.split(",") if j.strip())
    if args.input is None:
        return _Survey(given if given is not None else ("engineering", "sales", "support"), args.salary_max or 20_000,
                       250 if args.band_width is None else args.band_width or None,
                       complete=() if args.one_figure else COMPLETE_SURVEY)
    options = ReadOptions.of(args.column, args.decimal, args.encoding, args.delimiter)
    plan = plan_survey(args.input, options, args.gender_labels, args.unit, given, args.salary_max)
    bands = plan.bands if args.band_width is None else ()
    return _Survey(plan.job_categories, plan.salary_max, args.band_width or None, bands, plan.rows, plan.complete)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="run_local.sh", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", type=Path,
                    help="an HR file (CSV with any delimiter and encoding, .xlsx, .xls or .ods; columns gender, salary "
                         "(or basic) and optionally job, variable and hours: with variable or hours a complete survey): the survey is sized to it (its job categories, a salary bound, bands "
                         "that put every median within 1%% of the plaintext one). Default: 1,000 synthetic employees")
    ap.add_argument("--column", action="append", default=[], metavar="FIELD=HEADER",
                    help="with --input: the column of FIELD (gender, category, pay), as salary-submit --column")
    ap.add_argument("--gender-labels", default="", metavar="KEY=LABEL,...",
                    help="the organiser's gender labels, e.g. female=女,male=男,other=其他 (the file may use them)")
    ap.add_argument("--unit", default="EUR/month", help="the salary unit, e.g. TWD/month (default EUR/month)")
    ap.add_argument("--decimal", metavar=", | . | LOCALE", help="with --input: the amounts' decimal mark")
    ap.add_argument("--encoding", help="with --input: the file's text encoding")
    ap.add_argument("--delimiter", help="with --input: the CSV field separator")
    ap.add_argument("--lang", default="en", help="language of the table and the report (en, zh_TW)")
    ap.add_argument("--employees", type=int, default=1000, help="synthetic employees when no --input (default 1000)")
    ap.add_argument("--one-figure", action="store_true",
                    help="without --input: a one-figure survey (a salary per employee) instead of the default complete "
                         "one (basic pay, variable pay for some, part-time hours for some)")
    ap.add_argument("--nodes", type=int, default=3, help="number of MPC nodes (default 3)")
    ap.add_argument("--threshold", type=int, help="collusion threshold t, 1 <= t < n/2 (default (n-1)//2)")
    ap.add_argument("--min-group-size", type=int, default=5, help="k: smaller groups get no salary figure (default 5)")
    ap.add_argument("--out", type=Path, help="write the analyst's JSON result here")
    ap.add_argument("--workdir", type=Path, help="keep all files here (default: a temporary directory, removed)")
    ap.add_argument("--seed", type=int, help="seed for the synthetic data (and the chaos)")
    ap.add_argument("--bad-contributors", type=int, default=0, metavar="N",
                    help="also upload N malicious submissions of mixed kinds (not one-hot, out of range, "
                         "product mismatch, inconsistent shares, a forged validity proof, a forged product triple, "
                         "wrong length); none may count")
    ap.add_argument("--model", choices=["semi-honest", "malicious"], default="semi-honest",
                    help="threat model written into the manifest (default semi-honest)")
    ap.add_argument("--cheat", metavar="NODE:STEP",
                    help="fault injection: node NODE deviates at STEP: agree (another submission set), "
                         "equivocate (different signed messages to different peers), garbage, pickle, validate "
                         "(wrong shares in the validation openings), open (a wrong share when the counts are "
                         "opened), result (a wrong result share to the analyst). The run must name it: with the "
                         "correct result when n >= 3t+1 allows correcting it (open, result: exit 0), else by "
                         "aborting before anything is released (exit 3); 'validate' sets the affected "
                         "submissions aside and names the node (exit 3, see docs/THREAT_MODEL.md)")
    ap.add_argument("--jobs", default=None,
                    help="job categories of the survey ('' for none; default engineering,sales,support, or those of "
                         "--input)")
    ap.add_argument("--band-width", type=int, default=None,
                    help="salary band width for medians and quartile pay bands (0: no bands; default 250, or bands "
                         "sized to --input)")
    ap.add_argument("--salary-max", type=int, default=None,
                    help="the survey's salary upper bound (default 20000, or just above the largest amount of --input)")
    ap.add_argument("--epsilon", default="", help="differential privacy budget (default: none)")
    ap.add_argument("--report", type=Path, help="write the pay-transparency report here (.html or .md; default: "
                                                "report.html beside --out, else in the current directory)")
    ap.add_argument("--chaos", action="store_true",
                    help="kill -9 and restart random nodes during ingest, and kill one node's compute mid-run; "
                         "the result must still be exact")
    args = ap.parse_args(argv)
    cheat: dict[int, str] = {}
    if args.cheat:
        node_s, _, step = args.cheat.partition(":")
        steps = [c.value for c in Cheat]
        if not node_s.isdigit() or int(node_s) >= args.nodes or step not in steps:
            ap.error(f"--cheat takes NODE:STEP with NODE < --nodes and STEP one of {', '.join(steps)}")
        cheat = {int(node_s): step}
    signal.signal(signal.SIGTERM, _interrupt)
    read_flags = [x for c in args.column for x in ("--column", c)] + [
        x for name in ("decimal", "encoding", "delimiter") if getattr(args, name) for x in (f"--{name}", getattr(args, name))]
    try:
        survey = _survey_for(args)
    except (Unusable, InvalidSubmission) as exc:
        print(f"run_local.sh: error: {exc}", file=sys.stderr)
        return 2

    root = args.workdir or Path(tempfile.mkdtemp(prefix="salary-mpc-demo-"))
    cluster: LocalCluster | None = None
    started = time.monotonic()
    try:
        root.mkdir(parents=True, exist_ok=True)
        data = root / f"employees{args.input.suffix.lower() if args.input else '.csv'}"
        if args.input:
            shutil.copyfile(args.input, data)
        else:
            n_other = max(1, args.employees // 250)  # a small group, to show suppression below k
            n_female = (args.employees - n_other) // 2
            synthetic_csv(data, {"female": n_female, "male": args.employees - n_other - n_female, "other": n_other},
                          seed=args.seed, jobs=survey.jobs or ("engineering", "sales", "support"),
                          salary_max=survey.salary_max, complete=bool(survey.complete))
        rows = survey.rows or args.employees
        cluster = LocalCluster(root, n=args.nodes, threshold=args.threshold, min_group_size=args.min_group_size,
                               tokens=rows + args.bad_contributors, survey_id="local-demo", model=args.model,
                               salary_max=survey.salary_max, job_categories=",".join(survey.jobs),
                               band_width=survey.band_width, bands=survey.bands, epsilon=args.epsilon,
                               unit=args.unit, gender_labels=args.gender_labels, create_args=survey.complete)
        print(f"[1/6] setting up {args.nodes} nodes and the survey in {root}"
              + (f" (sized to {args.input}: {survey.describe()})" if args.input else ""))
        cluster.setup()
        try:
            records = file_rows(data, cluster.manifest, read_flags)
        except (ValueError, InvalidSubmission) as exc:
            raise StepFailed(f"{args.input}: {exc}") from None
        jobs = load_manifest(cluster.manifest).job_categories
        print("[2/6] starting the nodes' HTTPS servers")
        cluster.start_all()
        print(f"[3/6] {len(records)} employees submit through salary-submit --csv"
              + (" while nodes are killed (-9) and restarted" if args.chaos else ""))
        t0 = time.monotonic()
        if args.chaos:
            chaos = Chaos(cluster, seed=args.seed)
            chaos.start()
            first = run([tool("salary-submit"), "--survey", str(cluster.manifest), "--csv", str(data), "--tokens",
                         str(cluster.tokens_file), "--receipt-dir", str(root / "receipts"), *read_flags], check=False)
            chaos.stop()
            print(f"      chaos: killed node(s) {', '.join(map(str, chaos.kills)) or 'none'} during ingest")
            for attempt in range(4):
                pending = sorted((root / "receipts").glob("pending-*"))
                if not pending:
                    break
                print(f"      resuming {len(pending)} pending upload file(s) (attempt {attempt + 1})")
                for pf in pending:
                    run([tool("salary-submit"), "--resume", str(pf), "--tokens", str(cluster.tokens_file)],
                        check=False)
            if list((root / "receipts").glob("pending-*")) or (first.returncode != 0 and "pending" not in
                                                                     first.stderr):
                raise StepFailed("uploads could not be completed after the chaos")
        else:
            cluster.submit_csv(data, read_flags)
        submit_s = time.monotonic() - t0
        expected_rejected = 0
        if args.bad_contributors:
            m = load_manifest(cluster.manifest)
            bad_tokens = cluster.tokens_file.read_text().split()[rows: rows + args.bad_contributors]
            bad = submit_bad(m, bad_tokens, mixed_kinds(args.bad_contributors), seed=args.seed)
            refused = [b for b in bad if KINDS[b.kind] is None]
            if any(set(b.statuses) != {400} for b in refused) or any(set(b.statuses) != {200} for b in bad
                                                                      if KINDS[b.kind] is not None):
                raise StepFailed("a malicious upload was not handled as expected: "
                                 + "; ".join(f"{b.kind}: {b.statuses}" for b in bad))
            expected_rejected = len(bad)  # refused at upload or caught in the MPC: all count as rejected
            print(f"      + {len(bad)} malicious submissions: {len(refused)} refused at upload (wrong length), "
                  f"{len(bad) - len(refused)} stored, to be caught by validation inside the MPC")
        print("[4/6] the organiser closes the survey")
        cluster.close()
        print("[5/6] every node runs mpc-node compute")
        t0 = time.monotonic()
        if args.chaos:
            import random

            victim = random.Random(args.seed).randrange(cluster.n)
            print(f"      chaos: killing node {victim}'s compute as soon as its MPC party starts")
            for res in cluster.compute_with_fault(victim, "kill", timeout=10):
                last = (res.stderr.strip().splitlines() or ["?"])[-1]
                print(f"      survivor: {last}")
            print("      rerunning mpc-node compute on every node over the same frozen submission set")
        if cheat:
            print(f"      fault injection: node {next(iter(cheat))} deviates at step '{next(iter(cheat.values()))}'")
        caught = []
        reported: list[str] = []
        for i, res in enumerate(cluster.compute(cheat=cheat)):
            if i not in cheat:
                reported += [ln.strip() for ln in res.stderr.splitlines()
                             if "cheating detected and corrected" in ln or "off the polynomial" in ln
                             or ln.startswith("excluding node")]
            if res.returncode != 0:
                last = (res.stderr.strip().splitlines() or ["?"])[-1]
                if "cheating detected" in last and i not in cheat:
                    caught.append(f"node {i}: {last.removeprefix('mpc-node: error: ')}")
                    continue
                if i in cheat:
                    continue
                sys.stderr.write(res.stderr)
                raise StepFailed("mpc-node compute failed: " + last)
        if caught:
            print("\nthe honest nodes caught the cheater and released nothing:")
            for line in caught:
                print("  " + line)
            return 3
        for line in dict.fromkeys(reported):  # each honest node says it; print each message once
            print("      honest nodes: " + line)
        compute_s = time.monotonic() - t0
        print("[6/6] the analyst fetches, verifies and reconstructs the result\n")
        out = args.out or root / "result.json"
        report = args.report or (args.out.parent if args.out else Path.cwd()) / "report.html"
        for path in (out, report):
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            mpc = cluster.results(out, report, args.lang)
        except StepFailed as exc:
            if not cheat:
                raise
            print("\nthe analyst detected a wrong result share and released nothing:\n  "
                  + str(exc).rsplit("error: ", 1)[-1])
            return 3
        print(cluster.table(args.lang))
        print(f"pay-transparency report: {report}")
        plain = plaintext_report(records, args.min_group_size, jobs=jobs)
        print("plaintext oracle (computed in the clear from the same CSV, for this demo only):")
        for g in plain["groups"]:
            mean = f"{g['mean']:,.2f}" if g["mean"] is not None else "suppressed"
            median = f"{g['median']:,.2f}" if g["median"] is not None else ""
            print(f"  {g['gender']:<8} {g['count']:>7} {mean:>14} {median:>14}")
        print(f"  pay gap vs male: {json.dumps(plain['pay_gap_percent'])}; median gap: "
              f"{json.dumps(plain['median_pay_gap_percent'])}")
        problems = noisy_compare(mpc, plain) if args.epsilon else compare(mpc, plain)
        if survey.bands and not args.epsilon:
            problems += median_misses(mpc, plain)
        if survey.complete and not args.epsilon:
            checked, more = compare_components(mpc, file_records(data, cluster.manifest, read_flags),
                                               args.min_group_size)
            problems += more
            print(f"components (basic, variable over recipients and over all, hourly) of {checked} released groups "
                  "checked against the plaintext")
        if cheat and next(iter(cheat.values())) == "result":
            if mpc.get("cheating_nodes") != list(cheat):
                problems.append(f"the analyst did not name node {next(iter(cheat))} (named {mpc.get('cheating_nodes')})")
            else:
                print(f"the analyst named node(s) {mpc['cheating_nodes']} for a wrong result share and corrected it")
        step_node, step = next(iter(cheat.items()), (None, None))
        set_aside = mpc["submissions"]["rejected"] - expected_rejected
        if step == "validate" and set_aside:  # n < 3t+1: the lies could not be located
            print(f"\nnode {step_node} lied in the validation openings: {set_aside} submission(s) were set aside "
                  "(nothing invalid counted); with n < 3t+1 the liar cannot be identified.\nThe result above "
                  "covers the remaining submissions only; every node's audit log lists the ones set aside "
                  "(see docs/THREAT_MODEL.md).")
            return 3
        if step in ("validate", "open"):
            if not any(f"cheating detected and corrected: node {step_node} " in ln for ln in reported):
                problems.append(f"the honest nodes did not name node {step_node}")
        if step in EXCLUDED_STEPS:
            if not any(ln.startswith(f"excluding node {step_node} ") for ln in reported):
                problems.append(f"the honest nodes did not exclude node {step_node}")
            elif step in ("crash", "stall") or mpc.get("cheating_nodes") == [step_node]:
                print(f"the honest nodes left node {step_node} out and released the result without it"
                      + ("" if step in ("crash", "stall") else f"; the analyst named node(s) {mpc['cheating_nodes']}"))
            else:
                problems.append(f"the analyst did not name node {step_node} (named {mpc.get('cheating_nodes')})")
        if mpc["submissions"]["rejected"] != expected_rejected:
            problems.append(f"rejected {mpc['submissions']['rejected']} != {expected_rejected} malicious submissions")
        if args.bad_contributors:
            audit = run([tool("mpc-node"), "audit", "--dir", str(cluster.node_dirs[0])], quiet=True).stdout
            reasons: dict[str, int] = {}
            for line in audit.splitlines():
                if " invalid " in line or " refused " in line:
                    why = json.loads(line.split(None, 4)[4])["reason"]
                    reasons[why] = reasons.get(why, 0) + 1
            print("node 0's audit log, submissions that did not count:")
            for why, cnt in sorted(reasons.items()):
                print(f"  {cnt:>5}  {why}")
        print(f"\nsubmit {submit_s:.1f} s ({1000 * submit_s / max(1, len(records)):.1f} ms per employee), "
              f"close-to-result {compute_s:.1f} s, end to end {time.monotonic() - started:.1f} s")
        if problems:
            print("MISMATCH between MPC and plaintext: " + "; ".join(problems), file=sys.stderr)
            return 1
        print(("OK: the noisy MPC result is within six noise standard deviations of the plaintext figures"
               if args.epsilon else "OK: the MPC result equals the plaintext figures")
              + (f"; JSON in {out}" if args.out else ""))
        return 0
    except StepFailed as exc:
        print(f"run_local.sh: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("run_local.sh: interrupted; stopping the nodes", file=sys.stderr)
        return 130
    finally:
        if cluster is not None:
            cluster.stop_all()
        if args.workdir is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
