"""A survey on one machine with every role a real process on 127.0.0.1.

Used by ``run_local.sh`` and by the end-to-end tests.  It drives only the installed console
scripts (``mpc-node``, ``salary-analyst``, ``salary-submit``), never the roles' Python APIs, so
what it shows is what an operator would see.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

#: ``salary-analyst results``: released and written, but submissions were set aside (malicious model)
EXIT_SET_ASIDE = 3

BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    """Path of an installed console script next to this interpreter (falls back to PATH)."""
    cand = BIN / name
    return str(cand) if cand.exists() else (shutil.which(name) or name)


#: Ports are drawn below Linux's ephemeral range (32768-60999 by default): a port the kernel
#: handed out for bind(0) can be taken as the source port of any outgoing connection before the
#: node binds it, which made a node fail to start now and then while other tests ran.
PORT_RANGE = (20000, 32768)


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports on 127.0.0.1 that were free a moment ago."""
    ports: list[int] = []
    while len(ports) < count:
        port = secrets.randbelow(PORT_RANGE[1] - PORT_RANGE[0]) + PORT_RANGE[0]
        if port in ports:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.append(port)
    return ports


class StepFailed(Exception):
    """A demo step failed; the message says which and why (the tool's own one-line error)."""


def local_party_env() -> dict[str, str]:
    """Environment for MPC parties that share this one machine: one BLAS thread each (several
    parties each running a multi-threaded BLAS on 2 cores oversubscribe it: measured 1.5x slower
    in scripts/bench_validation.py).  A node on its own machine keeps the BLAS default."""
    env = dict(os.environ)
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def run(cmd: Sequence[str], *, check: bool = True, quiet: bool = False, timeout: float = 600,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, env=env)
    if not quiet and proc.stderr.strip():
        sys.stderr.write(proc.stderr)
    if check and proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        raise StepFailed(f"{Path(cmd[0]).name} {cmd[1] if len(cmd) > 1 else ''}: {last}")
    return proc


@dataclass
class LocalCluster:
    """n nodes (directories, HTTPS servers) and one survey, all under ``root``."""

    root: Path
    n: int = 3
    threshold: int | None = None
    min_group_size: int = 5
    tokens: int = 100
    salary_max: int = 1_000_000
    survey_id: str = "local-demo"
    closes_in: str = "14d"
    model: str = "semi-honest"
    job_categories: str = ""  # "a,b,c": a pay-transparency survey with categories of workers
    band_width: int | None = None  # salary bands for medians and quartile pay bands
    bands: tuple[int, ...] = ()  # or explicit band boundaries
    epsilon: str = ""  # differential privacy budget
    unit: str = ""  # the salary unit, e.g. TWD/month ("": the analyst's default)
    gender_labels: str = ""  # the organiser's labels, e.g. female=女,male=男,other=其他
    create_args: tuple[str, ...] = ()  # further ``salary-analyst create`` options (e.g. a complete survey's)
    servers: list[subprocess.Popen[bytes] | None] = field(default_factory=list)
    node_dirs: list[Path] = field(default_factory=list)

    @property
    def survey_dir(self) -> Path:
        return self.root / "survey"

    @property
    def manifest(self) -> Path:
        return self.survey_dir / "manifest.json"

    @property
    def tokens_file(self) -> Path:
        return self.survey_dir / "tokens.txt"

    def setup(self) -> None:
        """keygen every node, create the survey, import it at every node."""
        self.root.mkdir(parents=True, exist_ok=True)
        ports = free_ports(2 * self.n)
        for i in range(self.n):
            d = self.root / f"node{i}"
            run([tool("mpc-node"), "keygen", "--dir", str(d), "--name", f"node{i}",
                 "--url", f"https://127.0.0.1:{ports[2 * i]}", "--mpc-address", f"127.0.0.1:{ports[2 * i + 1]}"],
                quiet=True)
            self.node_dirs.append(d)
        cmd = [tool("salary-analyst"), "create", "--out", str(self.survey_dir), "--survey-id", self.survey_id,
               "--tokens", str(self.tokens), "--min-group-size", str(self.min_group_size),
               "--salary-max", str(self.salary_max), "--closes-in", self.closes_in, "--model", self.model]
        if self.threshold is not None:
            cmd += ["--threshold", str(self.threshold)]
        if self.job_categories:
            cmd += ["--job-categories", self.job_categories]
        if self.band_width:
            cmd += ["--band-width", str(self.band_width)]
        if self.bands:
            cmd += ["--bands", ",".join(map(str, self.bands))]
        if self.unit:
            cmd += ["--unit", self.unit]
        if self.gender_labels:
            cmd += ["--gender-labels", self.gender_labels]
        if self.epsilon:
            cmd += ["--epsilon", self.epsilon]
        cmd += list(self.create_args)
        for d in self.node_dirs:
            cmd += ["--node", str(d / "node.json")]
        run(cmd, quiet=True)
        for d in self.node_dirs:
            run([tool("mpc-node"), "init", "--dir", str(d), "--bundle", str(self.survey_dir / "node-bundle.json")],
                quiet=True)
        self.servers = [None] * self.n

    def node_url(self, i: int) -> str:
        return str(json.loads((self.node_dirs[i] / "node.json").read_text())["url"])

    def start_node(self, i: int, wait: float = 30.0, workers: int = 1) -> None:
        log = open(self.root / f"node{i}-serve.log", "ab")
        self.servers[i] = subprocess.Popen([tool("mpc-node"), "serve", "--dir", str(self.node_dirs[i]),
                                            "--workers", str(workers)],
                                           stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_healthy(i, wait)

    def wait_healthy(self, i: int, wait: float) -> None:
        ctx = ssl.create_default_context(cafile=str(self.node_dirs[i] / "tls.crt"))
        deadline = time.monotonic() + wait
        while True:
            try:
                with urllib.request.urlopen(f"{self.node_url(i)}/v1/health", context=ctx, timeout=2):
                    return
            except OSError:
                proc = self.servers[i]
                if proc is not None and proc.poll() is not None:
                    raise StepFailed(f"node {i} exited at start; see {self.root / f'node{i}-serve.log'}") from None
                if time.monotonic() > deadline:
                    raise StepFailed(f"node {i} did not come up within {wait:g} s") from None
                time.sleep(0.1)

    def start_all(self) -> None:
        for i in range(self.n):
            self.start_node(i)

    def stop_node(self, i: int, sig: int = signal.SIGTERM) -> None:
        proc = self.servers[i]
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.servers[i] = None

    def stop_all(self) -> None:
        for i in range(len(self.servers)):
            self.stop_node(i)

    def submit_csv(self, csv_path: Path, extra: Sequence[str] = ()) -> subprocess.CompletedProcess[str]:
        return run([tool("salary-submit"), "--survey", str(self.manifest), "--csv", str(csv_path),
                    "--tokens", str(self.tokens_file), "--receipt-dir", str(self.root / "receipts"), *extra])

    def close(self) -> None:
        run([tool("salary-analyst"), "close", "--survey", str(self.survey_dir)], quiet=True)

    def start_compute(self, nodes: Sequence[int], timeout: float,
                      cheat: dict[int, str] | None = None) -> list[subprocess.Popen[str]]:
        cheat = cheat or {}
        return [subprocess.Popen([tool("mpc-node"), "compute", "--dir", str(self.node_dirs[i]), "--timeout",
                                  str(timeout), *(["--cheat", cheat[i]] if i in cheat else [])],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 start_new_session=True, env=local_party_env()) for i in nodes]

    def compute(self, timeout: float = 60, nodes: Sequence[int] | None = None,
                cheat: dict[int, str] | None = None) -> list[subprocess.CompletedProcess[str]]:
        """Start ``mpc-node compute`` on the given nodes at once and wait for all of them
        (``cheat``: node -> step at which that node deviates, for the cheating-node tests)."""
        procs = self.start_compute(range(self.n) if nodes is None else nodes, timeout, cheat)
        out = []
        for p in procs:
            stdout, stderr = p.communicate(timeout=3 * timeout + 60)
            out.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
        return out

    def compute_with_fault(self, victim: int, fault: str, timeout: float) -> list[subprocess.CompletedProcess[str]]:
        """Run compute on every node; as soon as ``victim``'s MPyC party process exists, ``fault`` it:
        "kill" (SIGKILL the node's whole compute) or "hang" (SIGSTOP its party, killed at the end)."""
        procs = self.start_compute(range(self.n), timeout)
        party = wait_for_child(procs[victim].pid, "mpc_nodes.mpc_program", limit=3 * timeout)
        if party is None:
            raise StepFailed(f"node {victim}'s MPC party never started")
        if fault == "kill":
            os.killpg(procs[victim].pid, signal.SIGKILL)
        elif fault == "hang":
            os.kill(party, signal.SIGSTOP)
        else:
            raise ValueError(fault)
        out = []  # the survivors only
        for i, p in enumerate(procs):
            if i != victim:
                stdout, stderr = p.communicate(timeout=3 * timeout + 60)
                out.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
        if fault == "hang":  # the party shares the compute's process group
            try:
                os.killpg(procs[victim].pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        procs[victim].communicate()
        return out

    def results(self, out_json: Path, report: Path | None = None, lang: str = "en") -> dict[str, Any]:
        """The analyst's result document (also when it exits 3: released, with submissions set aside)."""
        proc = run([tool("salary-analyst"), "results", "--survey", str(self.survey_dir), "--format", "json",
                    *(["--report", str(report), "--lang", lang] if report else []),
                    "--out", str(out_json)], quiet=True, check=False)
        if proc.returncode not in (0, EXIT_SET_ASIDE):
            last = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
            raise StepFailed(f"salary-analyst results: {last}")
        return dict(json.loads(out_json.read_text()))

    def table(self, lang: str = "en") -> str:
        return run([tool("salary-analyst"), "results", "--survey", str(self.survey_dir), "--lang", lang],
                   quiet=True, check=False).stdout


def closed_survey(tmp: Path, counts: dict[str, int], seed: int, jobs: Sequence[str] = ("engineering", "sales", "support"),
                  **cluster_args: Any) -> tuple[LocalCluster, list[tuple[str, int, str]]]:
    """A running cluster whose survey holds ``counts`` synthetic employees and is closed; the
    (gender, salary, job) rows come back for the oracle.  ``jobs`` label the CSV rows (the survey
    asks for them only with ``job_categories=`` among ``cluster_args``).

    The caller owns the cluster (``stop_all()`` in a ``finally``).
    """
    data = tmp / "staff.csv"
    synthetic_csv(data, counts, seed=seed, jobs=jobs, salary_max=cluster_args.get("salary_max", 1_000_000))
    records = read_rows(data)
    c = LocalCluster(tmp / "run", tokens=len(records), **cluster_args)
    c.setup()
    try:
        c.start_all()
        c.submit_csv(data)
        c.close()
    except BaseException:
        c.stop_all()
        raise
    return c, records


def children(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of the live child processes of ``pid`` (Linux /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                out.append((int(entry.name), (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()))
        except (OSError, ValueError, IndexError):
            continue
    return out


def wait_for_child(pid: int, needle: str, limit: float) -> int | None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        for cpid, cmd in children(pid):
            if needle in cmd:
                return cpid
        time.sleep(0.005)
    return None


class Chaos(threading.Thread):
    """Kill -9 a random node's server every few seconds and restart it after a moment."""

    def __init__(self, cluster: LocalCluster, seed: int | None = None, gap: tuple[float, float] = (1.5, 4.0),
                 down: tuple[float, float] = (0.2, 1.5)) -> None:
        super().__init__(daemon=True)
        import random
        import secrets

        self.cluster, self.gap, self.down = cluster, gap, down
        self.rng = random.Random(seed if seed is not None else secrets.randbits(64))
        self.stop_event = threading.Event()
        self.kills: list[int] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop_event.wait(self.rng.uniform(*self.gap)):
                i = self.rng.randrange(self.cluster.n)
                self.cluster.stop_node(i, signal.SIGKILL)
                self.kills.append(i)
                time.sleep(self.rng.uniform(*self.down))
                self.cluster.start_node(i)
        except BaseException as exc:  # reported by stop()
            self.error = exc

    def stop(self) -> None:
        self.stop_event.set()
        self.join()
        if self.error is not None:
            raise StepFailed(f"chaos: could not restart a node: {self.error}")
        for i in range(self.cluster.n):  # every node up again at the end
            if self.cluster.servers[i] is None:
                self.cluster.start_node(i)


# -- plaintext oracle ----------------------------------------------------------------------------
def read_records(csv_path: Path) -> list[tuple[str, int]]:
    """(gender, salary) of every row."""
    return [(g, v) for g, v, _ in read_rows(csv_path)]


def read_rows(csv_path: Path) -> list[tuple[str, int, str]]:
    """(gender, salary, job) of every row (job "" when the file has no job column)."""
    with open(csv_path, newline="") as fh:
        reader = csv.DictReader(fh)
        cols = {c.lower().strip(): c for c in reader.fieldnames or []}
        return [(row[cols["gender"]].strip().lower(), int(row[cols["salary"]]),
                 row[cols["job"]].strip().lower() if "job" in cols else "") for row in reader]


def _group(name: str, vals: list[int], released: bool) -> dict[str, Any]:
    mean = Fraction(sum(vals), len(vals)) if released and vals else None
    return {"gender": name, "count": len(vals), "mean": float(mean) if mean is not None else None,
            "suppressed": not released,
            "stdev": statistics.stdev(vals) if released and len(vals) >= 2 else None,
            "median": statistics.median(vals) if released and vals else None}


def _gaps(groups: list[dict[str, Any]], key: str) -> dict[str, float | None]:
    male = next((g[key] for g in groups if g["gender"] == "male"), None)
    return {g["gender"]: (round(float((Fraction(male) - Fraction(g[key])) / Fraction(male) * 100), 2)
                          if male and g[key] is not None else None) for g in groups if g["gender"] != "male"}


def plaintext_report(records: Sequence[tuple[str, int] | tuple[str, int, str]], k: int,
                     categories: Sequence[str] = ("female", "male", "other"),
                     jobs: Sequence[str] = ()) -> dict[str, Any]:
    """What the MPC must release, computed in the clear (exact arithmetic, ``statistics``): per
    gender and per gender within each job category; suppression by the disclosure rule applied
    to the plaintext counts (protocol.disclosure.plan, the rule itself being the specification)."""
    from protocol.disclosure import plan
    from protocol.encoding import Scheme

    rows = [(r[0], r[1], r[2] if len(r) > 2 else "") for r in records]
    sc = Scheme.of(categories, 1, tuple(jobs))
    by_gender = [[s for g, s, _ in rows if g == c] for c in categories]
    by_cell = [[s for g, s, j in rows if g == c and (not jobs or j == job)] for c in categories
               for job in (jobs or [""])]
    pl = plan([len(v) for v in by_cell], [len(v) for v in by_gender], sc, k)
    groups = [_group(c, v, keep) for c, v, keep in zip(categories, by_gender, pl.genders)]
    cats = []
    for jx, job in enumerate(jobs):
        cg = [_group(c, by_cell[sc.cell(g, jx)], pl.cells[sc.cell(g, jx)]) for g, c in enumerate(categories)]
        cats.append({"category": job, "groups": cg, "pay_gap_percent": _gaps(cg, "mean")})
    return {"groups": groups, "pay_gap_percent": _gaps(groups, "mean"), "accepted": len(rows), "categories": cats,
            "median_pay_gap_percent": _gaps(groups, "median")}


def file_rows(path: Path, manifest_path: Path, read_flags: Sequence[str] = ()) -> list[tuple[str, int, str]]:
    """(gender, salary, job) of every row of an HR file, read by the contributor's reader as
    ``salary-submit --csv`` with ``read_flags`` (``--column``, ``--decimal``, ...) reads it: keys,
    whole units.  Raises ``ValueError`` with the first bad rows."""
    check = _check_file(path, manifest_path, read_flags)
    if check.problems:
        raise ValueError("; ".join(str(p) for p in check.problems[:3]))
    return [(r.record.gender, r.record.level, r.record.job) for r in check.rows]


def file_records(path: Path, manifest_path: Path, read_flags: Sequence[str] = ()) -> list[Any]:
    """Every row of an HR file as the contributor reads it (:class:`protocol.encoding.Record`:
    basic pay, variable pay, hours in hundredths), for the component oracle."""
    return [r.record for r in _check_file(path, manifest_path, read_flags).rows]


def _check_file(path: Path, manifest_path: Path, read_flags: Sequence[str]) -> Any:
    """The contributor's ``check_file`` of ``path`` with ``salary-submit``'s reading flags."""
    from contributor.hrfile import ReadOptions, check_file
    from protocol.manifest import load_manifest

    flags = list(read_flags)
    opts: dict[str, Any] = {"columns": []}
    for name, value in zip(flags[::2], flags[1::2]):
        if name == "--column":
            opts["columns"].append(value)
        else:
            opts[name.lstrip("-")] = value
    return check_file(path, load_manifest(manifest_path), ReadOptions.of(**opts))


def _near(got: Any, want: float, tol: float) -> bool:
    return got is not None and abs(got - want) <= tol


def _compare_components(name: str, m: dict[str, Any], mine: Sequence[Any], k: int) -> list[str]:
    """One released group's components against its records (plaintext, ``statistics``)."""
    problems: list[str] = []
    c = m["components"]
    levels = [r.level for r in mine]
    if not _near(c["total"]["mean"], statistics.mean(levels), 1e-6 * max(1, statistics.mean(levels))):
        problems.append(f"{name}: total mean {c['total']['mean']} != {statistics.mean(levels)}")
    if "variable" in c:
        recipients = [r.variable for r in mine if r.variable > 0]
        if m["variable_recipients_share"] != round(len(recipients) / len(mine), 4):
            problems.append(f"{name}: share receiving variable pay {m['variable_recipients_share']}")
        v = c["variable"]
        if v["mean"] is not None:
            want = {"variable": statistics.mean(recipients) if recipients else 0.0,
                    "variable_all": statistics.mean(r.variable for r in mine),
                    "basic": statistics.mean(r.salary for r in mine)}
            if len(recipients) < k:
                problems.append(f"{name}: variable pay released over {len(recipients)} < k recipients")
            for key, x in want.items():
                if not _near(c[key]["mean"], x, 1e-6 * max(1.0, x)):
                    problems.append(f"{name}: {key} mean {c[key]['mean']} != {x}")
            if v["median"] is not None and not _near(v["median"], statistics.median(recipients),
                                                     (v["median_max_error"] or 0) + 1e-6):
                problems.append(f"{name}: variable median {v['median']} is further than its error from "
                                f"{statistics.median(recipients)}")
    if "hourly" in c:
        hourly = [r.hourly / 100 for r in mine]
        h = c["hourly"]
        if not _near(h["mean"], statistics.mean(hourly), 1e-6 * max(1.0, statistics.mean(hourly))):
            problems.append(f"{name}: hourly mean {h['mean']} != {statistics.mean(hourly)}")
        if h["median"] is not None and not _near(h["median"], statistics.median(hourly),
                                                 (h["median_max_error"] or 0) + 1e-6):
            problems.append(f"{name}: hourly median {h['median']} is further than its error from "
                            f"{statistics.median(hourly)}")
    return problems


def compare_components(mpc: dict[str, Any], records: Sequence[Any], k: int) -> tuple[int, list[str]]:
    """A complete survey's figures per component (every released group, overall and within each
    category) against the plaintext records: how many groups were checked, and the differences."""
    checked, problems = 0, []
    scopes = [("", mpc["groups"], None)] + [(f"{c['category']}/", c["groups"], c["category"])
                                            for c in mpc.get("categories", [])]
    for where, groups, job in scopes:
        for g in groups:
            if g["suppressed"] or "components" not in g:
                continue
            mine = [r for r in records if r.gender == g["gender"] and (job is None or r.job == job)]
            problems += _compare_components(where + g["gender"], g, mine, k)
            checked += 1
    return checked, problems


def _compare_groups(where: str, mine: list[dict[str, Any]], plain: list[dict[str, Any]], rel: float) -> list[str]:
    problems = []
    by = {g["gender"]: g for g in mine}
    for g in plain:
        m = by.get(g["gender"])
        name = f"{where}{g['gender']}"
        if m is None:
            problems.append(f"{name}: missing")
            continue
        if m["count"] != g["count"] or m["suppressed"] != g["suppressed"]:
            problems.append(f"{name}: count/suppression {m['count']}/{m['suppressed']} != "
                            f"{g['count']}/{g['suppressed']}")
        if g["mean"] is None:
            if any(m.get(key) is not None for key in ("mean", "median", "stdev", "quartile_shares")):
                problems.append(f"{name}: a suppressed group's salary figure was released")
            continue
        if m["mean"] is None or abs(m["mean"] - g["mean"]) > rel * abs(g["mean"]):
            problems.append(f"{name}: mean {m['mean']} != {g['mean']}")
        if (m.get("stdev") is None) != (g["stdev"] is None) or (
                g["stdev"] is not None and abs(m["stdev"] - g["stdev"]) > rel * max(1.0, g["stdev"])):
            problems.append(f"{name}: stdev {m.get('stdev')} != {g['stdev']}")
        if m.get("median") is not None and abs(m["median"] - g["median"]) > (m.get("median_max_error") or 0) + 1e-6:
            problems.append(f"{name}: median {m['median']} is further than its stated error "
                            f"{m.get('median_max_error')} from {g['median']}")
    return problems


def compare(mpc: dict[str, Any], plain: dict[str, Any], rel: float = 1e-6) -> list[str]:
    """Differences between the analyst's JSON and the oracle (empty when they agree)."""
    problems = []
    if mpc["submissions"]["accepted"] != plain["accepted"]:
        problems.append(f"accepted {mpc['submissions']['accepted']} != {plain['accepted']}")
    problems += _compare_groups("", mpc["groups"], plain["groups"], rel)
    for c, v in plain["pay_gap_percent"].items():
        if mpc["pay_gap_percent"].get(c) != v:
            problems.append(f"pay gap {c}: {mpc['pay_gap_percent'].get(c)} != {v}")
    mine = {c["category"]: c for c in mpc.get("categories", [])}
    for c in plain.get("categories", []):
        if c["category"] not in mine:
            problems.append(f"category {c['category']}: missing")
            continue
        problems += _compare_groups(f"{c['category']}/", mine[c["category"]]["groups"], c["groups"], rel)
        for g, v in c["pay_gap_percent"].items():
            if mine[c["category"]]["pay_gap_percent"].get(g) != v:
                problems.append(f"pay gap {c['category']}/{g}: {mine[c['category']]['pay_gap_percent'].get(g)} != {v}")
    return problems


def synthetic_csv(path: Path, counts: dict[str, int], seed: int | None = None,
                  jobs: Sequence[str] = ("engineering", "sales", "support"), salary_max: int = 1_000_000,
                  complete: bool = False) -> None:
    """Employees with realistic-looking monthly salaries and a job category; every salary is
    distinct (canaries), at most ``salary_max``.  ``complete``: columns basic, variable and hours
    instead of salary: variable pay for some (more often men), part-time hours for some, the pay
    level basic + variable at most ``salary_max``.

    Synthetic test data, not a secret: a seeded PRNG makes a run reproducible (``--seed``).
    """
    import random
    import secrets

    rng = random.Random(seed if seed is not None else secrets.randbits(64))
    used: set[int] = set()
    rows = []
    base = {"female": 3900, "male": 4400, "other": 4100}
    pay = [1.15, 1.0, 0.8, 0.9, 1.1]  # job categories pay differently
    mix = [0.45, 0.35, 0.2, 0.15, 0.1]
    for g, cnt in counts.items():
        for _ in range(cnt):
            j = rng.choices(range(len(jobs)), weights=mix[: len(jobs)])[0] if jobs else 0
            while True:
                s = min(salary_max, max(900, int(rng.lognormvariate(0, 0.3) * base[g] * (pay[j % 5] if jobs else 1))))
                if s not in used:
                    used.add(s)
                    break
            rows.append((g, s, jobs[j] if jobs else ""))
    rng.shuffle(rows)
    if complete:
        _complete_csv(path, rows, rng, salary_max)
        return
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["employee", "gender", "salary", "job"])
        for i, (g, s, job) in enumerate(rows):
            w.writerow([f"E{i:05d}", g, s, job])


#: the synthetic complete survey: share receiving variable pay per gender, its range, the
#: part-time share and hours (full time: 160 hours a month)
VARIABLE_RATE = {"female": 0.25, "male": 0.45, "other": 0.35}
VARIABLE_RANGE = (50, 1500)
PART_TIME_RATE = 0.2
PART_TIME_HOURS = (80, 100, 120, 130.5)
FULL_TIME_HOURS = 160


def _complete_csv(path: Path, rows: Sequence[tuple[str, int, str]], rng: Any, salary_max: int) -> None:
    """The rows as a complete survey's HR file: the salary is the pay level, split into basic and
    variable pay; part-timers are paid pro rata for their hours."""
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["employee", "gender", "basic", "variable", "hours", "job"])
        for i, (g, s, job) in enumerate(rows):
            hours: float = FULL_TIME_HOURS
            if rng.random() < PART_TIME_RATE:
                hours = rng.choice(PART_TIME_HOURS)
                s = max(1, int(s * hours / FULL_TIME_HOURS))
            variable = rng.randint(*VARIABLE_RANGE) if rng.random() < VARIABLE_RATE.get(g, 0.3) else 0
            variable = min(variable, salary_max - s)
            w.writerow([f"E{i:05d}", g, s, variable, hours, job])
