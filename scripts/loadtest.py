#!/usr/bin/env python3
"""Load test of one node's HTTPS ingest API: many concurrent contributors, no error, no loss.

Sets up a real survey (3 node key directories, one survey with enough participation tokens) in a
temporary directory with the installed console scripts (``demo.cluster.LocalCluster``), starts
*only node 0's* real HTTPS server (``mpc-node serve``, a separate process), and lets
``--contributors`` contributors upload to it for ``--duration`` seconds.

A contributor is a thread with its own keep-alive ``httpx.Client`` pinned to node 0's certificate.
In a loop it encodes a random record, Shamir-shares it, seals node 0's share to node 0's HPKE key
(bound to the manifest hash, node index 0 and a fresh submission id) and POSTs it with a token of
its own that no other upload uses.  The contributors run in several worker processes (so that the
client side is not serialised by one GIL).  Latency is measured per request from sending the POST
to receiving the acknowledgement; share/seal time is not part of it (``--prepare inline`` builds
each submission just before its POST, ``--prepare ahead`` builds all of a worker's submissions
before the load starts).

Afterwards the server is stopped and the node's SQLite store is read: every acknowledged
submission id must be there (``lost`` = acknowledged but absent), the node's count must equal the
number of acknowledgements, and there must be no error (a non-200 answer, a malformed or
mismatching acknowledgement, or an exception such as a timeout or a dropped connection).

Exit code 0 only if errors == 0, lost == 0, the node's count equals the acknowledgements, the
server stayed up without a traceback in its log, and the contributors did not run out of tokens
(which would cut the load phase short); 1 otherwise; 2 if the set-up itself failed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import multiprocessing as mp
import os
import platform
import queue
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # demo/ is not an installed package
    sys.path.insert(0, str(ROOT))

from demo.cluster import LocalCluster, StepFailed  # noqa: E402
from protocol.commitment import make_certificate  # noqa: E402
from protocol.encoding import make_record  # noqa: E402
from protocol.envelope import seal_shares  # noqa: E402
from protocol.field import encode_elements, share_vector  # noqa: E402
from protocol.manifest import Manifest, load_manifest  # noqa: E402
from protocol.tls import pinned_client_context  # noqa: E402
from protocol.validity import encode_submission  # noqa: E402
from protocol.wire import BULK_CONTENT_TYPE, BulkBody, UploadStatus, b64e  # noqa: E402

NODE = 0
SURVEY_ID = "loadtest"
#: How many characters of an error detail are kept per error kind (the summary stays readable).
DETAIL_CHARS = 300


# ------------------------------------------------------------------------------------------------
# Building one submission for node 0
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Prepared:
    """One submission (or, in bulk mode, one batch) for node 0, ready to POST."""

    submission_id: str
    body: bytes
    envelope_sha256: str
    batch_ids: tuple[str, ...] = ()  # bulk mode: every record id of the batch, in order
    content_type: str = "application/json"  # bulk mode: the binary form salary-submit --csv sends


def prepare_bulk(manifest: Manifest, tokens: Sequence[str], rng: random.Random) -> Prepared:
    """A batch of random records, one per token, as ``salary-submit --csv`` builds it (shared,
    committed, signed once, node 0's block sealed once)."""
    from contributor.bulk import prepare_batch
    from protocol.encoding import Record

    records = [Record(rng.choice(manifest.categories), rng.randint(900, min(20_000, manifest.salary_max)))
               for _ in tokens]
    pb = prepare_batch(manifest, records, [""] * len(tokens), [None] * len(tokens))
    body = BulkBody(pb.batch_key, pb.signature, tuple(tokens), pb.commitments, pb.envelopes[NODE]).to_bytes()
    return Prepared(pb.ids[0], body, pb.envelope_sha256(NODE), pb.ids, BULK_CONTENT_TYPE)


def prepare(manifest: Manifest, token: str, rng: random.Random) -> Prepared:
    """Encode a random record, Shamir-share it over the manifest's field and seal node 0's share.

    The sealed share is bound to the manifest hash, node index 0 and a fresh submission id.
    """
    gender = rng.choice(manifest.categories)
    salary = rng.randint(900, min(20_000, manifest.salary_max))
    record = make_record(gender, salary, manifest.scheme())
    vec = encode_submission(record, manifest.scheme(), manifest.field_modulus)
    p = manifest.field_modulus
    shares = share_vector(vec, manifest.n, manifest.threshold, p)
    sid, cert = make_certificate(manifest.hash(), [encode_elements(s, p) for s in shares])
    sealed = seal_shares(shares[NODE], manifest.nodes[NODE].hpke_public_key, manifest.hash(), NODE,
                         bytes.fromhex(sid), p)
    body = json.dumps({"submission_id": sid, "token": token, "envelope": b64e(sealed), "certificate": b64e(cert),
                       "replace": False}, separators=(",", ":")).encode()
    return Prepared(sid, body, hashlib.sha256(sealed).hexdigest())


# ------------------------------------------------------------------------------------------------
# Worker processes: a few contributor threads each
# ------------------------------------------------------------------------------------------------
@dataclass
class WorkerConfig:
    """What a worker process needs (picklable: passed to a spawned process)."""

    manifest_path: str
    url: str
    survey_id: str
    prepare_ahead: bool
    timeout: float
    seed: int
    bulk: int = 0  # records per request (0: one record per request)


@dataclass
class ContributorResult:
    """Everything one contributor thread saw."""

    acked: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # seconds, acknowledged requests only
    errors: list[tuple[str, str]] = field(default_factory=list)  # (kind, detail)
    requests: int = 0
    first_send: float | None = None  # time.monotonic() (system-wide on Linux)
    last_done: float | None = None
    exhausted: bool = False  # ran out of tokens before the deadline


class Contributor(threading.Thread):
    """One contributor: a keep-alive pinned HTTPS client and its own slice of tokens."""

    def __init__(self, cfg: WorkerConfig, manifest: Manifest, tokens: list[str], seed: int,
                 ready: threading.Barrier, go: EventType, deadline: Any) -> None:
        super().__init__(daemon=True)
        self.cfg, self.manifest, self.tokens = cfg, manifest, tokens
        self.rng = random.Random(seed)
        self.ready, self.go, self.deadline = ready, go, deadline
        self.result = ContributorResult()
        self.setup_error: str | None = None

    def run(self) -> None:
        """Warm up (TLS handshake, optional preparation), wait for the start, upload until the deadline."""
        try:
            ctx = pinned_client_context(self.manifest.nodes[NODE].tls_cert_pem)
            client = httpx.Client(verify=ctx, timeout=self.cfg.timeout,
                                  headers={"content-type": "application/json"})
        except Exception as exc:  # noqa: BLE001 - reported to the coordinator
            self.setup_error = f"{type(exc).__name__}: {exc}"
            self.ready.abort()
            return
        try:
            try:
                client.get(f"{self.cfg.url}/v1/health").raise_for_status()
                pool = ([self._prepare(k) for k in range(len(self._units()))]
                        if self.cfg.prepare_ahead else None)
            except Exception as exc:  # noqa: BLE001 - reported to the coordinator
                self.setup_error = f"{type(exc).__name__}: {exc}"
                self.ready.abort()
                return
            try:
                self.ready.wait()
            except threading.BrokenBarrierError:
                return
            self.go.wait()
            try:
                self._upload(client, pool, float(self.deadline.value))
            except Exception:  # noqa: BLE001 - a bug here must show up as an error, not vanish
                self.result.errors.append(("contributor-crash", traceback.format_exc()[-DETAIL_CHARS:]))
        finally:
            client.close()

    def _units(self) -> list[list[str]]:
        """The tokens of each request: one each, or batches of ``bulk``."""
        size = self.cfg.bulk or 1
        return [self.tokens[i: i + size] for i in range(0, len(self.tokens) - size + 1, size)]

    def _prepare(self, k: int) -> Prepared:
        unit = self._units()[k]
        if self.cfg.bulk:
            return prepare_bulk(self.manifest, unit, self.rng)
        return prepare(self.manifest, unit[0], self.rng)

    def _upload(self, client: httpx.Client, pool: list[Prepared] | None, end: float) -> None:
        """The load loop: one POST per token (or batch of tokens), each timed and checked, until
        ``end`` (monotonic)."""
        res = self.result
        what = "batches" if self.cfg.bulk else "submissions"
        post_url = f"{self.cfg.url}/v1/surveys/{self.cfg.survey_id}/{what}"
        for k in range(len(self._units())):
            if time.monotonic() >= end:
                return
            try:
                sub = pool[k] if pool is not None else self._prepare(k)
            except Exception as exc:  # noqa: BLE001
                res.errors.append(("prepare:" + type(exc).__name__, str(exc)[:DETAIL_CHARS]))
                continue
            res.requests += 1
            t0 = time.monotonic()
            if res.first_send is None:
                res.first_send = t0
            try:
                resp = client.post(post_url, content=sub.body, headers={"content-type": sub.content_type})
                t1 = time.monotonic()
            except Exception as exc:  # noqa: BLE001 - timeouts, resets, TLS errors: all count
                res.last_done = time.monotonic()
                res.errors.append((f"exception:{type(exc).__name__}", str(exc)[:DETAIL_CHARS] or repr(exc)))
                continue
            res.last_done = t1
            problem = check_ack(resp, sub, self.cfg.survey_id)
            if problem is None:
                res.acked.extend(sub.batch_ids or [sub.submission_id])
                res.latencies.append(t1 - t0)
            else:
                res.errors.append(problem)
        res.exhausted = time.monotonic() < end


def check_ack(resp: httpx.Response, sub: Prepared, survey_id: str) -> tuple[str, str] | None:
    """None if ``resp`` acknowledges exactly ``sub`` as newly stored at node 0, else (kind, detail)."""
    if resp.status_code != 200:
        return f"http:{resp.status_code}", resp.text[:DETAIL_CHARS]
    try:
        ack = resp.json()
    except ValueError:
        return "bad-ack", "acknowledgement is not JSON: " + resp.text[:DETAIL_CHARS]
    want: dict[str, Any] = {"survey_id": survey_id, "submission_id": sub.submission_id, "node_index": NODE,
                            "envelope_sha256": sub.envelope_sha256, "status": UploadStatus.STORED}
    if sub.batch_ids:
        want = {"survey_id": survey_id, "node_index": NODE, "envelope_sha256": sub.envelope_sha256,
                "submission_ids": list(sub.batch_ids), "statuses": [UploadStatus.STORED] * len(sub.batch_ids)}
    wrong = {k: ack.get(k) for k, v in want.items() if not isinstance(ack, dict) or ack.get(k) != v}
    if wrong:
        return "bad-ack", f"acknowledgement does not match the upload: {json.dumps(wrong)[:DETAIL_CHARS]}"
    return None


def worker_main(index: int, cfg: WorkerConfig, token_slices: list[list[str]], ready_q: Any, go: EventType,
                deadline: Any, result_q: Any) -> None:
    """Entry point of one worker process: run ``len(token_slices)`` contributor threads."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # the coordinator handles Ctrl-C and stops us
    announced = False
    try:
        manifest = load_manifest(cfg.manifest_path)
        barrier = threading.Barrier(len(token_slices) + 1)
        threads = [Contributor(cfg, manifest, toks, cfg.seed * 1000 + index * 100 + j, barrier, go, deadline)
                   for j, toks in enumerate(token_slices)]
        for t in threads:
            t.start()
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            msgs = [t.setup_error for t in threads if t.setup_error] or ["set-up failed"]
            ready_q.put((index, "failed", msgs[0]))
            return
        ready_q.put((index, "ready", ""))
        announced = True
        for t in threads:
            t.join()
        result_q.put((index, [asdict(t.result) for t in threads]))
    except Exception:  # noqa: BLE001 - the coordinator must hear about it rather than wait
        if not announced:
            ready_q.put((index, "failed", traceback.format_exc()))
        else:
            crashed = ContributorResult(errors=[("worker-crash", traceback.format_exc()[-DETAIL_CHARS:])])
            result_q.put((index, [asdict(crashed)]))


# ------------------------------------------------------------------------------------------------
# Summary
# ------------------------------------------------------------------------------------------------
def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of an ascending sequence; None if it is empty."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def machine() -> dict[str, Any]:
    """nproc, CPU model, memory, Python and OS of this machine."""
    model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return {"nproc": os.cpu_count(), "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else None, "cpu_model": model or platform.processor() or "unknown", "mem_gib": mem_gib,
            "python": platform.python_version(), "implementation": platform.python_implementation(),
            "os": platform.platform()}


def filesystem_of(path: Path) -> str:
    """The file system type holding ``path`` (from /proc/mounts; fsync cost depends on it)."""
    best, fstype = "", "unknown"
    try:
        real = str(path.resolve())
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3:
                mnt = parts[1].replace("\\040", " ")
                if (real == mnt or real.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                    best, fstype = mnt, parts[2]
    except OSError:
        pass
    return f"{fstype} ({best or '?'})"


def print_summary(s: dict[str, Any]) -> None:
    """Human-readable summary on stdout."""
    lat = s["latency_ms"]

    def ms(v: float | None) -> str:
        return "n/a" if v is None else f"{v:,.1f}"

    m = s["machine"]
    print()
    print(f"load test: one node (node 0, real `mpc-node serve --workers {s['server_workers']}` over HTTPS), "
          f"{s['contributors']} concurrent contributors")
    print(f"  layout               {s['processes']} processes x {s['threads_per_process']} threads, "
          f"keep-alive pinned HTTPS client each, one fresh token per upload")
    print(f"  preparation          {s['prepare']} ({s['latency_definition']})")
    print(f"  duration             {s['duration_s']:g} s requested, load phase {s['load_wall_s']:.2f} s wall")
    print(f"  requests             {s['requests']:,}")
    print(f"  acknowledged         {s['acknowledged']:,}")
    print(f"  sustained            {s['submissions_per_s']:,.1f} submissions/s"
          + (f" in {s['requests_per_s']:,.1f} bulk requests/s of {s['bulk']} records" if s["bulk"] else ""))
    print(f"  latency (ms)         p50 {ms(lat['p50'])}   p95 {ms(lat['p95'])}   p99 {ms(lat['p99'])}   "
          f"max {ms(lat['max'])}")
    print(f"  errors               {s['errors']}" + (f"  {s['error_kinds']}" if s["errors"] else ""))
    for kind, detail in s["error_examples"].items():
        print(f"    {kind}: {detail}")
    print(f"  lost                 {s['lost']} (acknowledged but not in the node's store)")
    print(f"  node count           {s['node_count']} in the store, {s['node_status_count']} by /status "
          f"({'equals' if s['node_count_equals_acks'] else 'DIFFERS FROM'} the acknowledgements; "
          f"{s['stored_unacknowledged']} stored without an acknowledgement)")
    print(f"  audit receipts       {s['audit_receipts']} (hash chain {'intact' if s['audit_ok'] else 'BROKEN'})")
    print(f"  server               {'stayed up' if not s['server_died'] else 'DIED during the load'}"
          f"{', traceback in its log' if s['server_log_traceback'] else ''}")
    if s["tokens_exhausted"]:
        print("  tokens               EXHAUSTED before the end (raise --tokens)")
    print(f"  machine              {m['nproc']} CPUs ({m['cpu_model']}), {m['mem_gib']} GiB, "
          f"Python {m['python']}, {m['os']}")
    print(f"  store file system    {s['store_filesystem']}")
    print(f"  result               {'PASS' if s['ok'] else 'FAIL'}")


# ------------------------------------------------------------------------------------------------
# Coordinator
# ------------------------------------------------------------------------------------------------
def split(items: Sequence[str], parts: int) -> list[list[str]]:
    """``parts`` disjoint, nearly equal slices of ``items``."""
    return [list(items[i::parts]) for i in range(parts)]


def status_count(cluster: LocalCluster, survey_id: str) -> int | None:
    """Node 0's own /status count (while it is still serving; asked with the analyst's
    credential, as the live count is not public), or None if it does not answer."""
    from analyst.survey import load_analyst_secret
    from protocol.errors import SurveyError

    try:
        man = load_manifest(cluster.manifest)
        _, _, credential = load_analyst_secret(cluster.survey_dir)
        with httpx.Client(verify=pinned_client_context(man.nodes[NODE].tls_cert_pem), timeout=30) as c:
            r = c.get(f"{cluster.node_url(NODE)}/v1/surveys/{survey_id}/status",
                      headers={"Authorization": f"Bearer {credential}"})
            r.raise_for_status()
            return int(r.json()["submissions"])
    except (httpx.HTTPError, KeyError, ValueError, TypeError, OSError, SurveyError):
        return None


def read_store(node_dir: Path, survey_id: str) -> tuple[set[str], int, int, bool]:
    """(stored ids, count, audit receipts, audit chain intact) from a stopped node's store."""
    from mpc_nodes.store import NodeStore  # the node's own reader; only once the server is stopped

    store = NodeStore(node_dir / "node.db")
    try:
        ids = set(store.submission_ids(survey_id))
        count = store.count(survey_id)
        receipts = sum(1 if row[3] == "receipt" else len(json.loads(row[4])["submission_ids"])
                       for row in store.audit_rows() if row[2] == survey_id and row[3] in ("receipt", "bulk-receipt"))
        try:
            store.verify_audit()
            audit_ok = True
        except Exception:  # noqa: BLE001
            audit_ok = False
        return ids, count, receipts, audit_ok
    finally:
        store.close()


def collect(q: Any, workers: Sequence[mp.process.BaseProcess], timeout: float, what: str) -> list[Any]:
    """One message per worker from ``q`` (a tuple starting with the worker's index), in index order;
    fails fast if a worker exits without sending one, and after ``timeout`` seconds."""
    got: dict[int, Any] = {}
    deadline = time.monotonic() + timeout
    gone_since: dict[int, float] = {}
    while len(got) < len(workers):
        try:
            msg = q.get(timeout=0.5)
        except queue.Empty:
            now = time.monotonic()
            for i, wp in enumerate(workers):
                if i not in got and wp.exitcode is not None:
                    # A worker's last message may still be in the pipe just after it exits.
                    if now - gone_since.setdefault(i, now) > 5:
                        raise StepFailed(f"worker {i} exited (code {wp.exitcode}) without a {what}") from None
            if now > deadline:
                raise StepFailed(f"timed out after {timeout:g} s waiting for every worker's {what}") from None
            continue
        got[msg[0]] = msg
    return [got[i] for i in sorted(got)]


def run_load(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Set up the survey, serve node 0, drive the load, check for loss; returns the summary."""
    contributors = args.contributors
    processes = max(1, min(args.processes or min(contributors, 4), contributors))
    cluster = LocalCluster(work / "cluster", n=3, tokens=args.tokens, survey_id=SURVEY_ID)
    workers: list[mp.process.BaseProcess] = []
    t_setup = time.monotonic()
    print(f"setting up a survey with {args.tokens:,} tokens in {work} ...", flush=True)
    try:
        cluster.setup()
        tokens = cluster.tokens_file.read_text().split()
        cluster.start_node(NODE, workers=args.server_workers)
        print(f"node 0 serving at {cluster.node_url(NODE)} (set-up {time.monotonic() - t_setup:.1f} s); "
              f"starting {contributors} contributors in {processes} processes ...", flush=True)
        ctx = mp.get_context("spawn")
        ready_q, result_q = ctx.Queue(), ctx.Queue()
        go = ctx.Event()
        deadline = ctx.Value("d", 0.0)
        per_contributor = split(tokens, contributors)
        groups = [per_contributor[i::processes] for i in range(processes)]
        cfg = WorkerConfig(str(cluster.manifest), cluster.node_url(NODE), SURVEY_ID, args.prepare == "ahead",
                           args.request_timeout, args.seed, args.bulk)
        for i, g in enumerate(groups):
            proc = ctx.Process(target=worker_main, args=(i, cfg, g, ready_q, go, deadline, result_q), daemon=True)
            proc.start()
            workers.append(proc)
        for idx, kind, msg in collect(ready_q, workers, args.setup_timeout, "start"):
            if kind != "ready":
                raise StepFailed(f"worker {idx} failed to start: {msg.strip().splitlines()[-1] if msg else ''}")
        t_go = time.monotonic()
        deadline.value = t_go + args.duration
        go.set()
        print(f"load running for {args.duration:g} s ...", flush=True)
        results: list[dict[str, Any]] = []
        for _, per_thread in collect(result_q, workers, args.duration + args.request_timeout + 120, "report"):
            results.extend(per_thread)
        for wp in workers:
            wp.join(30)
        server = cluster.servers[NODE]
        server_died = server is None or server.poll() is not None
        node_status_count = None if server_died else status_count(cluster, SURVEY_ID)
    finally:
        for wp in workers:
            if wp.is_alive():
                wp.terminate()
                wp.join(5)
        cluster.stop_all()
    log_path = work / "cluster" / f"node{NODE}-serve.log"
    log = log_path.read_text(errors="replace") if log_path.exists() else ""

    acked = [sid for r in results for sid in r["acked"]]
    latencies = sorted(x * 1000 for r in results for x in r["latencies"])
    errors = [tuple(e) for r in results for e in r["errors"]]
    ends = [r["last_done"] for r in results if r["last_done"] is not None]
    wall = (max(ends) - t_go) if ends else 0.0
    stored, count, receipts, audit_ok = read_store(cluster.node_dirs[NODE], SURVEY_ID)
    acked_set = set(acked)
    lost = len(acked_set - stored)
    examples: dict[str, str] = {}
    for kind, detail in errors:
        examples.setdefault(kind, detail)
    summary: dict[str, Any] = {
        "duration_s": args.duration,
        "contributors": contributors,
        "server_workers": args.server_workers,
        "processes": processes,
        "threads_per_process": "/".join(sorted({str(len(g)) for g in groups}, reverse=True)),
        "prepare": f"{args.prepare}: " + ("all of a worker's submissions were encoded, shared and sealed before the "
                                          "load started" if args.prepare == "ahead" else
                                          "each submission was encoded, shared and sealed just before its POST"),
        "latency_definition": "latency = POST sent -> acknowledgement received; share/seal time excluded",
        "tokens": args.tokens,
        "load_wall_s": round(wall, 3),
        "requests": sum(r["requests"] for r in results),
        "acknowledged": len(acked),
        "duplicate_acks": len(acked) - len(acked_set),
        "submissions_per_s": round(len(acked) / wall, 1) if wall > 0 else 0.0,
        "bulk": args.bulk,
        "requests_per_s": round(sum(len(r["latencies"]) for r in results) / wall, 1) if wall > 0 else 0.0,
        "latency_ms": {
            "p50": _r(percentile(latencies, 50)), "p95": _r(percentile(latencies, 95)),
            "p99": _r(percentile(latencies, 99)), "max": _r(latencies[-1] if latencies else None),
            "mean": _r(sum(latencies) / len(latencies) if latencies else None),
        },
        "errors": len(errors),
        "error_kinds": dict(Counter(k for k, _ in errors)),
        "error_examples": examples,
        "lost": lost,
        "lost_ids": sorted(acked_set - stored)[:20],
        "node_count": count,
        "node_status_count": node_status_count,
        "node_count_equals_acks": count == len(acked) and len(acked_set) == len(acked),
        "stored_unacknowledged": len(stored - acked_set),
        "audit_receipts": receipts,
        "audit_ok": audit_ok,
        "server_died": server_died,
        "server_log_traceback": "Traceback" in log,
        "server_log_tail": log.strip().splitlines()[-20:],
        "tokens_exhausted": any(r["exhausted"] for r in results),
        "machine": machine(),
        "store_filesystem": filesystem_of(cluster.node_dirs[NODE]),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    summary["ok"] = (summary["errors"] == 0 and lost == 0 and summary["node_count_equals_acks"]
                     and len(acked) > 0 and not server_died and not summary["server_log_traceback"]
                     and not summary["tokens_exhausted"])
    return summary


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 2)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see ``--help``)."""
    ap = argparse.ArgumentParser(
        prog="loadtest.py",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: python scripts/loadtest.py --duration 60 --contributors 20 --json load.json",
    )
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of load (default: %(default)s)")
    ap.add_argument("--contributors", type=int, default=20,
                    help="concurrent contributors, each with its own connection (default: %(default)s)")
    ap.add_argument("--processes", type=int, default=None,
                    help="worker processes the contributors are spread over (default: min(contributors, 4))")
    ap.add_argument("--tokens", type=int, default=60_000,
                    help="participation tokens to issue; one per upload, so this caps the uploads "
                         "(default: %(default)s)")
    ap.add_argument("--prepare", choices=("inline", "ahead"), default="inline",
                    help="build each submission just before its POST (inline), or all of them before the load "
                         "starts (ahead); latency never includes it (default: %(default)s)")
    ap.add_argument("--request-timeout", type=float, default=30.0,
                    help="seconds before a request counts as an error (default: %(default)s)")
    ap.add_argument("--setup-timeout", type=float, default=300.0,
                    help="seconds the workers may take to connect and prepare (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the synthetic records (default: %(default)s)")
    ap.add_argument("--bulk", type=int, default=0, metavar="K",
                    help="bulk mode: K records per request (POST /batches, as salary-submit --csv sends them); "
                         "latency is then per batch (default: one record per request)")
    ap.add_argument("--server-workers", type=int, default=1, metavar="W",
                    help="node 0's server processes (mpc-node serve --workers; default: %(default)s)")
    ap.add_argument("--json", type=Path, metavar="OUT.json", help="also write the summary as JSON")
    ap.add_argument("--workdir", type=Path,
                    help="keep the survey, node directories and server log here (default: a temporary "
                         "directory, deleted at exit)")
    args = ap.parse_args(argv)
    if args.duration <= 0 or args.contributors < 1 or args.tokens < args.contributors:
        ap.error("need --duration > 0, --contributors >= 1 and --tokens >= --contributors")
    if args.server_workers < 1:
        ap.error("--server-workers must be at least 1")
    if args.processes is not None and args.processes < 1:
        ap.error("--processes must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the load test; returns the exit code (0 pass, 1 fail, 2 set-up failed or interrupted)."""
    args = parse_args(argv)

    def _terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)  # so that `finally` stops the server on SIGTERM too
    work = args.workdir.resolve() if args.workdir else Path(tempfile.mkdtemp(prefix="salary-mpc-load-"))
    try:
        try:
            summary = run_load(args, work)
        except KeyboardInterrupt:
            print("interrupted; the node server and the workers were stopped", file=sys.stderr)
            return 2
        except (StepFailed, OSError, ValueError, EOFError, RuntimeError) as exc:
            print(f"loadtest: error: {exc or type(exc).__name__}", file=sys.stderr)
            log = work / "cluster" / f"node{NODE}-serve.log"
            if log.exists():
                sys.stderr.write(log.read_text(errors="replace")[-4000:])
            return 2
        print_summary(summary)
        if args.json:
            args.json.write_text(json.dumps(summary, indent=2) + "\n")
            print(f"  JSON                 {args.json}")
        if not summary["ok"] and summary["server_log_tail"]:
            print("server log (last lines):\n  " + "\n  ".join(summary["server_log_tail"]))
        return 0 if summary["ok"] else 1
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
