#!/usr/bin/env python3
"""Surveys across a slow network: upload and compute times with added latency and a rate limit.

Each run is a whole survey through the console scripts: node keys, survey, ``mpc-node serve``
on every node, ``salary-submit --csv`` (timed: *upload*), ``salary-analyst close``, ``mpc-node
compute`` started on every node at once (timed until the last one exits: *compute*) and
``salary-analyst results``, which must equal the plaintext oracle.  Links:

- ``loopback``: every process on 127.0.0.1 (the baseline; always run, ratios are to it);
- ``direct``: every node in its own network namespace, on a bridge, no loopback;
- ``RTT`` or ``RTT@RATE`` (ms, Mbit/s), e.g. ``150`` or ``0@2``: the namespaces of ``direct``,
  each node behind ``scripts/wan_relay.py``, which adds the round-trip time and limits the rate
  per pair of hosts and direction.  The manifest then names each node's *public* address (the
  relay's) and the node listens on its private one (``serve --host``, ``compute
  --mpc-listen``), as behind a NAT or proxy.

    sudo .venv/bin/python scripts/wan_bench.py --sizes 5000,50000 --nodes 3 \\
        --links direct,50,150,0@20,0@2 --json wan.json --markdown wan.md

Needs Linux and Python 3.11 with the project installed (run it with the project's
interpreter).  Namespaces need root and iproute2 (``ip netns``, veth, bridge); without them
every process runs in this namespace, each node on its own loopback address (127.0.X.Y), the
relays included.  No kernel queueing discipline (netem) is used.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from demo.cluster import compare, free_ports, local_party_env, plaintext_report, read_rows, tool  # noqa: E402

RELAY = Path(__file__).resolve().parent / "wan_relay.py"
HTTPS_PORT, MPC_PORT = 8441, 11365  # in namespaces every node has its own ports
SUBMIT_TIMEOUT = 600  # seconds per network operation of salary-submit (see Survey.upload)


@dataclass(frozen=True)
class Link:
    """How the nodes are reached: ``kind`` loopback | direct | relayed, with RTT and rate."""

    kind: str
    rtt_ms: float = 0.0
    rate_mbit: float = 0.0

    @staticmethod
    def parse(text: str) -> Link:
        text = text.strip()
        if text in ("loopback", "direct"):
            return Link(text)
        rtt, _, rate = text.partition("@")
        return Link("relayed", float(rtt), float(rate or 0))

    @property
    def name(self) -> str:
        if self.kind != "relayed":
            return self.kind
        return f"RTT {self.rtt_ms:g} ms" + (f", {self.rate_mbit:g} Mbit/s" if self.rate_mbit else "")


# -- where the processes run --------------------------------------------------------------------

@dataclass
class Topology:
    """Addresses and command prefixes of one run: node i listens on ``private[i]`` and is named
    by ``public[i]`` in the manifest (the relay's address when relayed)."""

    n: int
    private: list[str]
    public: list[str]
    https_ports: list[int]
    mpc_ports: list[int]
    node_prefix: list[list[str]]
    client_prefix: list[str] = field(default_factory=list)
    relay_prefix: list[str] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)


def netns_usable() -> str | None:
    """None if this process can make network namespaces, else why not."""
    if sys.platform != "linux":
        return "not Linux"
    if os.geteuid() != 0:
        return "not root (network namespaces need CAP_SYS_ADMIN)"
    if shutil.which("ip") is None:
        return "no 'ip' command (install iproute2)"
    probe = f"smpc-probe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"'ip netns add' failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str) -> None:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")


@contextmanager
def namespaces(n: int, relayed: bool) -> Iterator[Topology]:
    """n node namespaces and a client namespace on a bridge in a hub namespace; loopback stays
    down in every node and client namespace, so nothing can take it."""
    tag = f"smpc{os.getpid() % 100000}"
    hub, client = f"{tag}-h", f"{tag}-c"
    nodes = [f"{tag}-n{i}" for i in range(n)]
    made: list[str] = []
    try:
        for ns in (hub, client, *nodes):
            _ip("netns", "add", ns)
            made.append(ns)
        _ip("-n", hub, "link", "add", "br0", "type", "bridge")
        _ip("-n", hub, "link", "set", "br0", "up")
        for k, (ns, addr) in enumerate([(client, "10.77.0.250"), *[(ns, f"10.77.0.{1 + i}") for i, ns in
                                                                    enumerate(nodes)]]):
            _ip("link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", f"v{k}", "netns", hub)
            _ip("-n", hub, "link", "set", f"v{k}", "master", "br0")
            _ip("-n", hub, "link", "set", f"v{k}", "up")
            _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
        public = [f"10.77.0.{101 + i}" for i in range(n)] if relayed else [f"10.77.0.{1 + i}" for i in range(n)]
        if relayed:
            for addr in public:
                _ip("-n", hub, "addr", "add", f"{addr}/24", "dev", "br0")
        yield Topology(n, [f"10.77.0.{1 + i}" for i in range(n)], public, [HTTPS_PORT] * n, [MPC_PORT] * n,
                       [["ip", "netns", "exec", ns] for ns in nodes], ["ip", "netns", "exec", client],
                       ["ip", "netns", "exec", hub], made)
    finally:
        for ns in reversed(made):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@contextmanager
def loopback_addresses(n: int, relayed: bool, spread: bool) -> Iterator[Topology]:
    """Every process in this namespace: on 127.0.0.1 (``spread`` False), or node i on
    127.0.2.(i+1) behind a relay on 127.0.1.(i+1)."""
    ports = free_ports(2 * n)
    private = [f"127.0.2.{1 + i}" if spread else "127.0.0.1" for i in range(n)]
    public = [f"127.0.1.{1 + i}" for i in range(n)] if relayed else private
    yield Topology(n, private, public, ports[::2], ports[1::2], [[] for _ in range(n)])


# -- one survey ---------------------------------------------------------------------------------

@dataclass
class RunResult:
    link: str
    nodes: int
    submissions: int
    upload_s: float
    compute_s: float
    results_s: float
    exact: bool
    network: str  # namespaces | loopback addresses
    party: str = ""  # node 0's "MPC party done: ..." line (the party's phases)


class RunFailed(Exception):
    pass


def _run(cmd: Sequence[str], env: dict[str, str] | None = None, timeout: float = 3600) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, env=env, timeout=timeout)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        raise RunFailed(f"{' '.join(cmd[-6:])}: {last}")
    return proc


def _wait_for_line(proc: subprocess.Popen[str], log: Path, needle: str, what: str, limit: float = 60) -> str:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        text = log.read_text() if log.exists() else ""
        for line in text.splitlines():
            if needle in line:
                return line
        if proc.poll() is not None:
            raise RunFailed(f"{what} exited: {text.strip()[-300:]}")
        time.sleep(0.05)
    raise RunFailed(f"{what} did not start within {limit:g} s")


class Survey:
    """One survey on ``topo``: set up, served, uploaded, closed, computed, checked."""

    def __init__(self, topo: Topology, link: Link, root: Path, size: int, seed: int = 1) -> None:
        self.topo, self.link, self.root, self.size, self.seed = topo, link, root, size, seed
        self.nodes = [root / f"node{i}" for i in range(topo.n)]
        self.survey = root / "survey"
        self.procs: list[subprocess.Popen[str]] = []

    def setup(self) -> None:
        t = self.topo
        for i, d in enumerate(self.nodes):
            host = t.public[i]
            _run([tool("mpc-node"), "keygen", "--dir", str(d), "--name", f"node{i}",
                  "--url", f"https://{host}:{t.https_ports[i]}", "--mpc-address", f"{host}:{t.mpc_ports[i]}"])
        cmd = [tool("salary-analyst"), "create", "--out", str(self.survey), "--survey-id", "wan",
               "--tokens", str(self.size), "--min-group-size", "5", "--closes-in", "1d",
               "--model", "semi-honest" if t.n < 4 else "malicious"]
        for d in self.nodes:
            cmd += ["--node", str(d / "node.json")]
        _run(cmd)
        for d in self.nodes:
            _run([tool("mpc-node"), "init", "--dir", str(d), "--bundle", str(self.survey / "node-bundle.json")])

    def _spawn(self, prefix: list[str], cmd: list[str], log: Path) -> subprocess.Popen[str]:
        fh = open(log, "w")
        proc = subprocess.Popen([*prefix, *cmd], stdout=fh, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        self.procs.append(proc)
        return proc

    def start(self) -> list[str]:
        """Relays (if any) and servers; returns each server's start-up line."""
        t = self.topo
        if self.link.kind == "relayed":
            routes = [f"--route={t.public[i]}:{port}={t.private[i]}:{port}" for i in range(t.n)
                      for port in (t.https_ports[i], t.mpc_ports[i])]
            log = self.root / "relay.log"
            relay = self._spawn(t.relay_prefix, [sys.executable, str(RELAY), *routes, "--rtt-ms", str(self.link.rtt_ms),
                                                 "--rate-mbit", str(self.link.rate_mbit)], log)
            _wait_for_line(relay, log, "relay ready", "the relay")
        lines = []
        for i, d in enumerate(self.nodes):
            host = ["--host", t.private[i]] if self.link.kind == "relayed" else []
            log = self.root / f"serve{i}.log"
            proc = self._spawn(t.node_prefix[i], [tool("mpc-node"), "serve", "--dir", str(d), *host], log)
            lines.append(_wait_for_line(proc, log, "listening on", f"node {i}'s server"))
        return lines

    def upload(self) -> float:
        data = self.root / "staff.csv"
        write_staff(data, self.size, self.seed)
        t0 = time.monotonic()
        # --timeout: salary-submit's default (30 s without progress per network operation) is too
        # short at 2 Mbit/s through the relay: 8 concurrent batches of 1,000 records (2.4 MB each)
        # per node take about 80 s to drain, and the answer to a batch comes only after its last
        # byte, which waits meanwhile in the relay's socket buffers.
        _run([*self.topo.client_prefix, tool("salary-submit"), "--survey", str(self.survey / "manifest.json"),
              "--csv", str(data), "--tokens", str(self.survey / "tokens.txt"), "--receipt-dir", str(self.root / "r"),
              "--timeout", str(SUBMIT_TIMEOUT)])
        return time.monotonic() - t0

    def compute(self) -> float:
        _run([*self.topo.client_prefix, tool("salary-analyst"), "close", "--survey", str(self.survey)])
        t = self.topo
        t0 = time.monotonic()
        procs = []
        for i, d in enumerate(self.nodes):
            listen = ["--mpc-listen", t.private[i]] if self.link.kind == "relayed" else []
            procs.append(subprocess.Popen([*t.node_prefix[i], tool("mpc-node"), "compute", "--dir", str(d), *listen],
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                          env=local_party_env()))
        outs = [p.communicate(timeout=3600) for p in procs]
        wall = time.monotonic() - t0
        for i, (p, (_, err)) in enumerate(zip(procs, outs)):
            (self.root / f"compute{i}.log").write_text(err)
            if p.returncode != 0:
                raise RunFailed(f"node {i}'s compute: {(err.strip().splitlines() or ['?'])[-1]}")
        return wall

    def results(self) -> tuple[float, bool]:
        out = self.root / "result.json"
        t0 = time.monotonic()
        _run([*self.topo.client_prefix, tool("salary-analyst"), "results", "--survey", str(self.survey),
              "--format", "json", "--out", str(out)])
        wall = time.monotonic() - t0
        problems = compare(json.loads(out.read_text()), plaintext_report(read_rows(self.root / "staff.csv"), 5))
        return wall, not problems

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in self.procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def write_staff(path: Path, n: int, seed: int) -> None:
    """n synthetic employees (45% female, 50% male, 5% other; log-normal monthly salaries)."""
    import csv
    import random

    rng = random.Random(seed)
    base = {"female": 3900, "male": 4400, "other": 4100}
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["employee", "gender", "salary"])
        for i in range(n):
            u = rng.random()
            g = "female" if u < 0.45 else "male" if u < 0.95 else "other"
            w.writerow([f"E{i:07d}", g, min(1_000_000, max(900, int(rng.lognormvariate(0, 0.35) * base[g])))])


@contextmanager
def topology(n: int, link: Link, use_netns: bool) -> Iterator[Topology]:
    if link.kind == "loopback":
        with loopback_addresses(n, False, spread=False) as t:
            yield t
    elif use_netns:
        with namespaces(n, link.kind == "relayed") as t:
            yield t
    else:
        with loopback_addresses(n, link.kind == "relayed", spread=True) as t:
            yield t


def run_survey(n: int, size: int, link: Link, use_netns: bool, workdir: Path, seed: int = 1,
               say: Any = print) -> RunResult:
    """One whole survey over ``link``; raises :class:`RunFailed` with the failing step's last line."""
    root = Path(tempfile.mkdtemp(prefix=f"wan-{n}-{size}-", dir=workdir))
    try:
        with topology(n, link, use_netns) as topo:
            s = Survey(topo, link, root, size, seed)
            s.setup()
            try:
                s.start()
                upload = s.upload()
                say(f"  {link.name}, {n} nodes, {size:,}: upload {upload:.2f} s")
                comp = s.compute()
                fetch, exact = s.results()
            finally:
                s.stop()
        network = "loopback" if link.kind == "loopback" else ("namespaces" if use_netns else "loopback addresses")
        say(f"  {link.name}, {n} nodes, {size:,}: compute {comp:.2f} s, results {fetch:.2f} s, "
            f"{'exact' if exact else 'WRONG'}")
        party = next((ln for ln in (root / "compute0.log").read_text().splitlines() if "MPC party done" in ln), "")
        return RunResult(link.name, n, size, round(upload, 3), round(comp, 3), round(fetch, 3), exact, network, party)
    finally:
        shutil.rmtree(root, ignore_errors=True)


# -- the matrix ---------------------------------------------------------------------------------

def _median(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2


def markdown(runs: list[dict[str, Any]], note: str) -> str:
    """One row per link, node count and size: the median of its runs (each run listed when
    repeated) and its ratio to loopback: the median, over the repetitions, of the run's time
    divided by the loopback run's of the same repetition (taken just before it, so both met
    about the same load on the machine)."""
    groups: dict[tuple[str, int, int], list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault((r["link"], r["nodes"], r["submissions"]), []).append(r)
    out = [note, "", "| link | nodes | submissions | upload s | × loopback | compute s | × loopback | exact |",
           "|---|---:|---:|---:|---:|---:|---:|---|"]
    for (link, n, size), rs in groups.items():
        ok = [(k, r) for k, r in enumerate(rs) if "error" not in r]
        failed = [r["error"] for r in rs if "error" in r]
        if not ok:
            out.append(f"| {link} | {n} | {size:,} | – | – | – | – | failed: {failed[0]} |")
            continue
        base = groups.get(("loopback", n, size), [])

        def cell(key: str) -> str:
            each = f" ({', '.join(f'{r[key]:.2f}' for _, r in ok)})" if len(ok) > 1 else ""
            ratios = [r[key] / base[k][key] for k, r in ok if k < len(base) and "error" not in base[k]]
            return f"{_median([r[key] for _, r in ok]):.2f}{each} | " + (f"{_median(ratios):.2f}" if ratios else "–")

        verdict = "yes" if all(r["exact"] for _, r in ok) else "NO"
        verdict += f"; {len(failed)} failed: {failed[0]}" if failed else ""
        out.append(f"| {link} | {n} | {size:,} | {cell('upload_s')} | {cell('compute_s')} | {verdict} |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="5000", help="submissions per survey, comma-separated")
    ap.add_argument("--nodes", default="3", help="node counts, comma-separated")
    ap.add_argument("--links", default="direct,50,150,0@20,0@2",
                    help="links besides the loopback baseline: direct, RTT or RTT@RATE (ms, Mbit/s)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each link, taken in turn (medians reported)")
    ap.add_argument("--no-netns", action="store_true", help="use loopback addresses even when namespaces work")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()))
    ap.add_argument("--json", type=Path, help="write every run here")
    ap.add_argument("--markdown", type=Path, help="write the table here")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up namespaces and processes
    why_not = "disabled (--no-netns)" if args.no_netns else netns_usable()
    use_netns = why_not is None
    print(f"network namespaces: {'yes' if use_netns else 'no: ' + str(why_not)}")
    links = [Link("loopback")] + [Link.parse(x) for x in args.links.split(",") if x.strip()]
    runs: list[dict[str, Any]] = []
    started = time.time()
    for n in [int(x) for x in args.nodes.split(",")]:
        for size in [int(x) for x in args.sizes.split(",")]:
            for rep in range(args.repeat):
                for link in links:
                    runs.append(_one(n, size, link, use_netns, args.workdir, seed=1 + rep))
                    if args.json:
                        args.json.write_text(json.dumps({"runs": runs, "machine": _machine(), "netns": use_netns},
                                                        indent=2))
    note = (f"`scripts/wan_bench.py` on {_machine()}, {time.strftime('%Y-%m-%d')}, {time.time() - started:.0f} s; "
            f"{'each node in its own network namespace' if use_netns else 'nodes on loopback addresses'}; "
            "ratios to the loopback run of the same size and node count in this invocation"
            + (f"; {args.repeat} runs of each, taken in turn: medians, and the median of each run's ratio to the "
               "loopback run just before it." if args.repeat > 1 else "."))
    table = markdown(runs, note)
    print(table)
    if args.markdown:
        args.markdown.write_text(table)
    if any("error" in r or not r.get("exact") for r in runs):
        sys.exit(1)


def _one(n: int, size: int, link: Link, use_netns: bool, workdir: Path, seed: int) -> dict[str, Any]:
    try:
        return asdict(run_survey(n, size, link, use_netns, workdir, seed))
    except (RunFailed, subprocess.TimeoutExpired, RuntimeError) as exc:
        print(f"  {link.name}, {n} nodes, {size:,}: FAILED {exc}")
        return {"link": link.name, "nodes": n, "submissions": size, "error": str(exc)}


def _machine() -> str:
    return f"{os.cpu_count()} cores, Python {sys.version.split()[0]}"


if __name__ == "__main__":
    main()
