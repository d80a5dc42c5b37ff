#!/usr/bin/env python3
"""Attack a real node's public HTTPS API as an outsider (or a token holder) would, and measure what
it costs the node.

Two scenarios, each on a survey set up in a temporary directory with the installed console
scripts (``demo.cluster.LocalCluster``: the demo's pay-transparency survey, whose records are wide
enough that a bulk body of the maximum size is also a well-formed batch):

``memory`` (default): only node 0 serves (``mpc-node serve``, one process).  ``--attackers``
clients, each from its own loopback address (127.0.0.10, .11, ...), send bulk bodies of the
maximum size (48 MiB) in a loop for ``--duration`` seconds; meanwhile ``--honest`` contributors
upload single submissions with valid tokens, retrying 503/429 as salary-submit does.  The attack
body is the costliest forgery without a valid token: a batch signed by the attacker's own key,
sealed to node 0, whose shares do not match their commitments -- with made-up tokens, or with
``--insider`` valid ones (the costliest request there is: it passes the token check and is
opened and checked in full).
Measured: node 0's resident memory (VmRSS sampled every 50 ms, and VmHWM, the kernel's peak, from
/proc), the honest uploads' latency (first attempt to acknowledgement: p50, p99, max), how many
were stored, and what the attackers were answered.

``forgeries``: three nodes.  Honest submissions go in with ``salary-submit``; then tokenless
malformed uploads -- single ones and batches of 4,096, each opening and well signed but not
matching their commitments -- are sent to every node.  Before and after: every node's submission
ids and refused ids (``/ids``), counts and audit log.  Then close, compute and fetch the result:
``rejected`` must be 0 and ``accepted`` the number of honest submissions.

``ratelimit``: node 0 of a plain survey.  From one address a forger sends tokenless malformed
single uploads for 10 s as fast as it is answered; meanwhile from another address an office
submits 300 uploads back to back, every tenth token sent a second time without ``replace`` (a
409, a failure).  Measured: how many forgeries were answered before the first 429, the
Retry-After it was given, and that the office was never held up (no 429, every upload stored).

``slowloris``: node 0 of a plain survey.  From one address 200 clients hold connections for
``--duration`` seconds, half sending their headers a line a second, half whole headers
(Content-Length 400,000) and then their body a byte a second; meanwhile 200 uploads from another
address must all be stored at the first attempt (no 503), with their latency.

Exit code 0 if every check holds (``--max-rss-mb`` for memory), 1 otherwise, 2 if set-up failed.
``--json FILE`` writes the summary.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # demo/ is not an installed package
    sys.path.insert(0, str(ROOT))

from demo.cluster import LocalCluster, StepFailed  # noqa: E402
from protocol.commitment import batch_envelope_id, make_batch, make_certificate  # noqa: E402
from protocol.encoding import make_record  # noqa: E402
from protocol.envelope import seal_share_block, seal_shares, sealed_share_length  # noqa: E402
from protocol.field import ELEMENT_BYTES, encode_elements, share_vector  # noqa: E402
from protocol.manifest import Manifest, load_manifest  # noqa: E402
from protocol.tls import pinned_client_context  # noqa: E402
from protocol.validity import encode_submission  # noqa: E402
from protocol.wire import BULK_CONTENT_TYPE, MAX_BULK_BODY_BYTES, BulkBody, b64e  # noqa: E402

SURVEY = dict(survey_id="attack", job_categories="engineering,sales,support", band_width=250, salary_max=20_000)


def cluster_for(root: Path, tokens: int) -> LocalCluster:
    return LocalCluster(root, tokens=tokens, min_group_size=1, **SURVEY)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------
# Requests
# ------------------------------------------------------------------------------------------------
def forged_batch(m: Manifest, node: int, tokens: list[str], records: int | None = None) -> bytes:
    """A bulk body for ``node``: a batch signed by a fresh (the attacker's) key over commitments
    to shares it does not send, and a block of reduced random elements sealed to the node, so that
    it opens and fails only when its shares are compared with their commitments.  ``records``
    (default: as many as fit in the maximum body) records; ``tokens`` cycled over them."""
    width = m.vector_length()
    k = records or max_records(m)
    batch = make_batch(m.hash(), [[secrets.token_bytes(16) for _ in range(m.n)] for _ in range(k)])
    block = bytearray(secrets.token_bytes(k * width * ELEMENT_BYTES))
    block[::ELEMENT_BYTES] = bytes(b & 0x3F for b in block[::ELEMENT_BYTES])  # every element below p
    envelope = seal_share_block(bytes(block), k, width, m.nodes[node].hpke_public_key, m.hash(), node,
                                batch_envelope_id(batch.public_key))
    names = tuple(tokens[r % len(tokens)] for r in range(k)) if len(tokens) >= k else tuple(
        f"{tokens[r % len(tokens)]}{r}" for r in range(k))
    return BulkBody(batch.public_key, batch.signature, names, b"".join(batch.commitments), envelope).to_bytes()


def max_records(m: Manifest, token_chars: int = 48) -> int:
    """Records of a batch whose binary body stays within the maximum size."""
    per = ELEMENT_BYTES * m.vector_length() + 32 * m.n + 2 + token_chars
    return min(4096, (MAX_BULK_BODY_BYTES - 4096) // per)


def forged_single(m: Manifest, node: int, token: str) -> bytes:
    """One record's upload, well signed and sealed to ``node``, whose share is not the committed one."""
    sc = m.scheme()
    vec = encode_submission(make_record(sc.genders[0], 1000, sc, sc.jobs[0] if sc.jobs else None), sc,
                            m.field_modulus)
    shares = share_vector(vec, m.n, m.threshold, m.field_modulus)
    committed = [list(sh) for sh in shares]
    committed[node][0] = (committed[node][0] + 1) % m.field_modulus
    sid, cert = make_certificate(m.hash(), [encode_elements(sh, m.field_modulus) for sh in committed])
    env = seal_shares(shares[node], m.nodes[node].hpke_public_key, m.hash(), node, bytes.fromhex(sid),
                      m.field_modulus)
    return json.dumps({"submission_id": sid, "token": token, "envelope": b64e(env),
                       "certificate": b64e(cert)}).encode()


def honest_single(m: Manifest, node: int, token: str) -> tuple[str, bytes]:
    """(submission id, body) of a single upload to ``node`` that passes every check of the
    node's: a node checks a share's format and commitment, never its content (the MPC validates
    records), so random field elements make an upload as good as a real record's, ten times
    faster to build (no validity proof)."""
    shares = [[secrets.randbelow(m.field_modulus) for _ in range(m.vector_length())] for _ in range(m.n)]
    sid, cert = make_certificate(m.hash(), [encode_elements(sh, m.field_modulus) for sh in shares])
    env = seal_shares(shares[node], m.nodes[node].hpke_public_key, m.hash(), node, bytes.fromhex(sid),
                      m.field_modulus)
    assert len(env) == sealed_share_length(m.vector_length())
    return sid, json.dumps({"submission_id": sid, "token": token, "envelope": b64e(env),
                            "certificate": b64e(cert)}).encode()


def client(m: Manifest, node: int, source: str | None = None, timeout: float = 60.0) -> httpx.Client:
    """A client pinned to the node's certificate, from loopback address ``source`` if given."""
    ctx = pinned_client_context(m.nodes[node].tls_cert_pem)
    transport = httpx.HTTPTransport(verify=ctx, local_address=source) if source else None
    return httpx.Client(base_url=m.nodes[node].url, verify=ctx, transport=transport, timeout=timeout)


# ------------------------------------------------------------------------------------------------
# Measuring
# ------------------------------------------------------------------------------------------------
def proc_status_kb(pid: int, field_name: str) -> int:
    """A ``kB`` field of /proc/<pid>/status (VmRSS, VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise KeyError(field_name)


class RssSampler(threading.Thread):
    """Samples a process's VmRSS every ``every`` seconds until stopped."""

    def __init__(self, pid: int, every: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.samples: list[int] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self.samples.append(proc_status_kb(self.pid, "VmRSS"))
            except (OSError, KeyError):
                return
            self._stop_event.wait(self.every)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q * (len(ordered) - 1)))))]


@dataclass
class HonestResult:
    latencies: list[float] = field(default_factory=list)
    stored: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    attempts: Counter[str] = field(default_factory=Counter)


def honest_upload(c: httpx.Client, path: str, body: bytes, out: HonestResult, tries: int = 8) -> None:
    """POST until acknowledged, waiting Retry-After (or backing off) on 503/429/408 and connection
    errors, as salary-submit retries; records the latency from the first attempt."""
    start = time.monotonic()
    for attempt in range(tries):
        try:
            r = c.post(path, content=body, headers={"content-type": "application/json"})
        except httpx.HTTPError as exc:
            out.attempts[type(exc).__name__] += 1
            time.sleep(min(4.0, 0.25 * 2 ** attempt))
            continue
        out.attempts[str(r.status_code)] += 1
        if r.status_code == 200:
            out.latencies.append(time.monotonic() - start)
            out.stored.append(r.json()["submission_id"])
            return
        if r.status_code not in (408, 429, 503):
            out.failed.append(f"{r.status_code}: {r.text[:200]}")
            return
        time.sleep(float(r.headers.get("retry-after", "1")))
    out.failed.append(f"no acknowledgement after {tries} attempts")


def attacker(m: Manifest, source: str, path: str, body: bytes, deadline: float, seen: Counter[str],
             lock: threading.Lock, pause: float) -> None:
    """Send ``body`` from ``source`` until ``deadline``, ignoring every answer's advice."""
    with client(m, 0, source, timeout=120.0) as c:
        while time.monotonic() < deadline:
            try:
                r = c.post(path, content=body, headers={"content-type": BULK_CONTENT_TYPE})
                what = f"{r.status_code} {r.json().get('reason', '')}" if r.content else str(r.status_code)
            except (httpx.HTTPError, ValueError) as exc:
                what = type(exc).__name__
            with lock:
                seen[what] += 1
            time.sleep(pause)


# ------------------------------------------------------------------------------------------------
# Scenario: memory
# ------------------------------------------------------------------------------------------------
def run_memory(root: Path, attackers: int = 32, honest: int = 4, duration: float = 30.0, insider: bool = False,
               say: Callable[[str], None] = print) -> dict[str, Any]:
    """The memory scenario (module docstring); returns its summary."""
    cl = cluster_for(root, tokens=4000)
    cl.setup()
    m = load_manifest(cl.manifest)
    tokens = cl.tokens_file.read_text().split()
    path = f"/v1/surveys/{m.survey_id}"
    say(f"building the attack body ({max_records(m)} records, {'valid' if insider else 'made-up'} tokens)")
    body = forged_batch(m, 0, tokens[:2000] if insider else [secrets.token_urlsafe(32) for _ in range(64)])
    honest_tokens = tokens[2000:]
    say(f"attack body: {len(body) / 2**20:.1f} MiB; preparing honest uploads")
    prepared = [honest_single(m, 0, t) for t in honest_tokens[: honest * int(10 + 8 * duration)]]
    cl.start_node(0)
    try:
        proc = cl.servers[0]
        assert proc is not None
        pid = proc.pid
        baseline_kb = proc_status_kb(pid, "VmRSS")
        sampler = RssSampler(pid)
        sampler.start()
        summary = _memory_load(m, path, body, prepared, attackers, honest, duration)
        sampler.stop()
        peak_kb = proc_status_kb(pid, "VmHWM")
    finally:
        cl.stop_all()
    stored = _stored_ids(cl.node_dirs[0] / "node.db", m.survey_id)
    res: HonestResult = summary.pop("honest")
    return {"attackers": attackers, "honest_clients": honest, "duration_s": duration, "insider": insider,
            "attack_body_mib": round(len(body) / 2**20, 1), "baseline_rss_mb": round(baseline_kb / 1024, 1),
            "peak_rss_mb": round(peak_kb / 1024, 1),
            "max_sampled_rss_mb": round(max(sampler.samples, default=0) / 1024, 1),
            "honest_stored": len(res.stored), "honest_failed": res.failed[:5], "honest_failures": len(res.failed),
            "honest_p50_s": round(percentile(res.latencies, 0.5), 3),
            "honest_p99_s": round(percentile(res.latencies, 0.99), 3),
            "honest_max_s": round(max(res.latencies, default=float("nan")), 3),
            "honest_attempts": dict(res.attempts), "honest_all_in_store": set(res.stored) <= stored,
            "node_count": len(stored), **summary}


def _memory_load(m: Manifest, path: str, body: bytes, prepared: list[tuple[str, bytes]], attackers: int,
                 honest: int, duration: float) -> dict[str, Any]:
    """Run the attackers and the honest contributors for ``duration`` seconds."""
    seen: Counter[str] = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + duration
    threads = [threading.Thread(target=attacker, args=(m, f"127.0.0.{10 + i}", f"{path}/batches", body, deadline,
                                                       seen, lock, 0.02), daemon=True) for i in range(attackers)]
    res = HonestResult()
    queue = list(prepared)

    def contributor() -> None:
        with client(m, 0) as c:
            while time.monotonic() < deadline:
                with lock:
                    if not queue:
                        return
                    _, b = queue.pop()
                honest_upload(c, f"{path}/submissions", b, res)
                time.sleep(0.05)

    threads += [threading.Thread(target=contributor, daemon=True) for _ in range(honest)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(duration + 180)
    return {"attack_answers": dict(seen), "attack_requests": sum(seen.values()), "honest": res}


def _stored_ids(db: Path, survey_id: str) -> set[str]:
    import sqlite3

    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {r[0] for r in con.execute("SELECT submission_id FROM submissions WHERE survey_id=?", (survey_id,))}
    finally:
        con.close()


# ------------------------------------------------------------------------------------------------
# Scenario: forgeries
# ------------------------------------------------------------------------------------------------
def node_view(m: Manifest, credential: str, node: int, db: Path) -> dict[str, Any]:
    """What node ``node`` shows: its /ids (submission and refused ids), /status count, audit lines."""
    import sqlite3

    auth = {"Authorization": f"Bearer {credential}"}
    with client(m, node) as c:
        ids = c.get(f"/v1/surveys/{m.survey_id}/ids", headers=auth).json()
        count = c.get(f"/v1/surveys/{m.survey_id}/status", headers=auth).json()["submissions"]
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        audit = [tuple(r) for r in con.execute("SELECT seq, event, details FROM audit ORDER BY seq")]
    finally:
        con.close()
    return {"submission_ids": ids["submission_ids"], "refused_ids": ids["refused_ids"], "count": count,
            "audit": audit}


def send_forgeries(m: Manifest, singles: int, batches: int, batch_records: int) -> Counter[str]:
    """Tokenless malformed uploads to every node: ``singles`` single ones and ``batches`` batches."""
    seen: Counter[str] = Counter()
    for node in range(m.n):
        with client(m, node, f"127.0.0.{20 + node}") as c:
            for _ in range(singles):
                r = c.post(f"/v1/surveys/{m.survey_id}/submissions",
                           content=forged_single(m, node, secrets.token_urlsafe(32)),
                           headers={"content-type": "application/json"})
                seen[f"single {r.status_code} {r.json().get('reason')}"] += 1
            body = forged_batch(m, node, [secrets.token_urlsafe(32) for _ in range(batch_records)], batch_records)
            for _ in range(batches):
                r = c.post(f"/v1/surveys/{m.survey_id}/batches", content=body,
                           headers={"content-type": BULK_CONTENT_TYPE})
                seen[f"batch {r.status_code} {r.json().get('reason')}"] += 1
    return seen


def run_forgeries(root: Path, honest: int = 12, singles: int = 20, batches: int = 3, batch_records: int = 4096,
                  say: Callable[[str], None] = print) -> dict[str, Any]:
    """The forgeries scenario (module docstring); returns its summary."""
    from analyst.survey import load_analyst_secret

    cl = LocalCluster(root, tokens=50, min_group_size=1, survey_id="forgeries")
    cl.setup()
    m = load_manifest(cl.manifest)
    _, _, cred = load_analyst_secret(cl.survey_dir)
    cl.start_all()
    try:
        csv = root / "staff.csv"
        csv.write_text("gender,salary\n" + "".join(f"{('female', 'male')[i % 2]},{3000 + 100 * i}\n"
                                                   for i in range(honest)))
        cl.submit_csv(csv, ["--batch-size", "0"])
        before = [node_view(m, cred, j, cl.node_dirs[j] / "node.db") for j in range(m.n)]
        say(f"{honest} honest submissions stored; sending tokenless forgeries to every node")
        answers = send_forgeries(m, singles, batches, batch_records)
        after = [node_view(m, cred, j, cl.node_dirs[j] / "node.db") for j in range(m.n)]
        cl.close()
        done = cl.compute(timeout=120)
        if any(p.returncode != 0 for p in done):
            raise StepFailed("compute failed: " + " | ".join(p.stderr.strip()[-300:] for p in done))
        result = cl.results(root / "result.json")
    finally:
        cl.stop_all()
    return {"honest": honest, "forged_singles_per_node": singles, "forged_batches_per_node": batches,
            "batch_records": batch_records, "answers": dict(answers),
            "unchanged": [b == a for b, a in zip(before, after)],
            "refused_ids_after": [len(a["refused_ids"]) for a in after],
            "accepted": result["submissions"]["accepted"], "rejected": result["submissions"]["rejected"]}


# ------------------------------------------------------------------------------------------------
# Scenario: ratelimit
# ------------------------------------------------------------------------------------------------
def forger(m: Manifest, source: str, duration: float) -> dict[str, Any]:
    """Tokenless malformed single uploads from ``source`` for ``duration`` seconds, as fast as the
    node answers: what it was answered, and the Retry-After of its 429s."""
    body = forged_single(m, 0, secrets.token_urlsafe(32))
    seen: Counter[str] = Counter()
    waits: list[int] = []
    first_429: int | None = None
    deadline = time.monotonic() + duration
    with client(m, 0, source) as c:
        while time.monotonic() < deadline:
            r = c.post(f"/v1/surveys/{m.survey_id}/submissions", content=body,
                       headers={"content-type": "application/json"})
            seen[f"{r.status_code} {r.json().get('reason')}"] += 1
            if r.status_code == 429:
                waits.append(int(r.headers["retry-after"]))
                first_429 = sum(seen.values()) - 1 if first_429 is None else first_429
    return {"answers": dict(seen), "requests_before_first_429": first_429,
            "retry_after_range": [min(waits, default=0), max(waits, default=0)]}


def office(m: Manifest, source: str, tokens: list[str], repeats_every: int) -> dict[str, Any]:
    """Contributors behind one address (``source``) submitting one upload per token back to back;
    every ``repeats_every``-th token is sent a second time without ``replace`` (409: a failure)."""
    bodies = [honest_single(m, 0, t) for t in tokens]
    seen: Counter[str] = Counter()
    stored: list[str] = []
    start = time.monotonic()
    with client(m, 0, source) as c:
        for k, (sid, body) in enumerate(bodies):
            r = c.post(f"/v1/surveys/{m.survey_id}/submissions", content=body,
                       headers={"content-type": "application/json"})
            seen[str(r.status_code)] += 1
            if r.status_code == 200:
                stored.append(sid)
            if k % repeats_every == 0:
                again = honest_single(m, 0, tokens[k])[1]
                seen[str(c.post(f"/v1/surveys/{m.survey_id}/submissions", content=again,
                                headers={"content-type": "application/json"}).status_code)] += 1
    elapsed = time.monotonic() - start
    return {"uploads": len(bodies), "answers": dict(seen), "stored": stored, "seconds": round(elapsed, 2),
            "per_minute": round(sum(seen.values()) / elapsed * 60)}


def run_rate_limit(root: Path, forger_seconds: float = 10.0, office_uploads: int = 300,
                   say: Callable[[str], None] = print) -> dict[str, Any]:
    """A forger and an office, each behind its own address, at once (module docstring)."""
    cl = LocalCluster(root, tokens=office_uploads + 10, survey_id="ratelimit")
    cl.setup()
    m = load_manifest(cl.manifest)
    tokens = cl.tokens_file.read_text().split()
    cl.start_node(0)
    try:
        out: dict[str, Any] = {}
        t = threading.Thread(target=lambda: out.update(forger=forger(m, "127.0.0.30", forger_seconds)))
        t.start()
        out["office"] = office(m, "127.0.0.31", tokens[:office_uploads], repeats_every=10)
        t.join()
        # once the forger waited as told, it is heard again (and refused for what it sent)
        time.sleep(max(out["forger"]["retry_after_range"]))
        with client(m, 0, "127.0.0.30") as c:
            r = c.post(f"/v1/surveys/{m.survey_id}/submissions", content=forged_single(m, 0, "made-up"),
                       headers={"content-type": "application/json"})
            out["forger_after_waiting"] = r.status_code
    finally:
        cl.stop_all()
    stored = _stored_ids(cl.node_dirs[0] / "node.db", m.survey_id)
    out["office_all_stored"] = set(out["office"].pop("stored")) <= stored
    out["node_count"] = len(stored)
    return out


# ------------------------------------------------------------------------------------------------
# Scenario: slowloris
# ------------------------------------------------------------------------------------------------
async def _slow_connection(m: Manifest, source: str, body_phase: bool, until: float, seen: Counter[str]) -> None:
    """One slow client: headers a line at a time, or whole headers (Content-Length: 400,000)
    and then the body a byte a second, until ``until`` or the node answers."""
    import asyncio
    from urllib.parse import urlparse

    url = urlparse(m.nodes[0].url)
    try:
        reader, writer = await asyncio.open_connection(url.hostname, url.port, local_addr=(source, 0),
                                                       ssl=pinned_client_context(m.nodes[0].tls_cert_pem),
                                                       server_hostname=url.hostname)
    except OSError as exc:
        seen[f"connect {type(exc).__name__}"] += 1
        return
    head = (f"POST /v1/surveys/{m.survey_id}/submissions HTTP/1.1\r\nHost: {url.hostname}\r\n"
            "Content-Type: application/json\r\n")
    try:
        if body_phase:
            writer.write((head + "Content-Length: 400000\r\n\r\n").encode())
        else:
            writer.write(head.encode())
        await writer.drain()
        answer = asyncio.ensure_future(reader.read(200))
        while asyncio.get_running_loop().time() < until and not answer.done():
            writer.write(b"x" if body_phase else b"X-Slow: 1\r\n")
            await writer.drain()
            await asyncio.wait([answer], timeout=1.0)
        seen[(answer.result().split(b"\r\n", 1)[0].decode(errors="replace") or "closed") if answer.done()
             else "held open"] += 1
        answer.cancel()
    except OSError as exc:
        seen[type(exc).__name__] += 1
    finally:
        writer.close()


def slowloris(m: Manifest, source: str, connections: int, seconds: float) -> dict[str, int]:
    """``connections`` slow clients from ``source`` for ``seconds``, half slow in their headers,
    half in their bodies."""
    import asyncio

    seen: Counter[str] = Counter()

    async def all_of_them() -> None:
        until = asyncio.get_running_loop().time() + seconds
        await asyncio.gather(*(_slow_connection(m, source, k % 2 == 1, until, seen) for k in range(connections)))

    asyncio.run(all_of_them())
    return dict(seen)


def run_slowloris(root: Path, connections: int = 200, seconds: float = 30.0, honest_uploads: int = 200,
                  say: Callable[[str], None] = print) -> dict[str, Any]:
    """Slow clients from one address hold connections while contributors from another upload."""
    cl = LocalCluster(root, tokens=honest_uploads + 10, survey_id="slowloris")
    cl.setup()
    m = load_manifest(cl.manifest)
    tokens = cl.tokens_file.read_text().split()
    bodies = [honest_single(m, 0, t)[1] for t in tokens[:honest_uploads]]
    cl.start_node(0)
    try:
        out: dict[str, Any] = {}
        t = threading.Thread(target=lambda: out.update(slow=slowloris(m, "127.0.0.40", connections, seconds)))
        t.start()
        time.sleep(3.0)  # let the slow connections settle in
        res = HonestResult()
        with client(m, 0, "127.0.0.41") as c:
            for body in bodies:
                honest_upload(c, f"/v1/surveys/{m.survey_id}/submissions", body, res)
                time.sleep(seconds / 2 / honest_uploads)
        t.join()
    finally:
        cl.stop_all()
    stored = _stored_ids(cl.node_dirs[0] / "node.db", m.survey_id)
    return {"slow_connections": connections, "seconds": seconds, "slow_outcomes": out.get("slow", {}),
            "honest_stored": len(res.stored), "honest_failures": len(res.failed), "honest_attempts": dict(res.attempts),
            "honest_p50_s": round(percentile(res.latencies, 0.5), 3),
            "honest_p99_s": round(percentile(res.latencies, 0.99), 3), "honest_all_in_store": set(res.stored) <= stored}


# ------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenario", nargs="?", choices=["memory", "forgeries", "ratelimit", "slowloris"],
                    default="memory")
    ap.add_argument("--attackers", type=int, default=32)
    ap.add_argument("--honest", type=int, default=4, help="honest contributor threads (memory)")
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--insider", action="store_true", help="attack bodies carry valid tokens (memory)")
    ap.add_argument("--max-rss-mb", type=float, default=400.0)
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    root = args.workdir or Path(tempfile.mkdtemp(prefix=f"attack-{args.scenario}-"))
    try:
        if args.scenario == "memory":
            s = run_memory(root, args.attackers, args.honest, args.duration, args.insider)
            ok = (s["peak_rss_mb"] <= args.max_rss_mb and s["honest_failures"] == 0 and s["honest_stored"] > 0
                  and s["honest_all_in_store"])
        elif args.scenario == "forgeries":
            s = run_forgeries(root)
            ok = all(s["unchanged"]) and s["rejected"] == 0 and s["accepted"] == s["honest"]
        elif args.scenario == "slowloris":
            s = run_slowloris(root, seconds=args.duration)
            ok = (s["honest_failures"] == 0 and s["honest_stored"] == 200 and s["honest_all_in_store"]
                  and s["honest_attempts"] == {"200": 200})
        else:
            s = run_rate_limit(root)
            ok = (s["office"]["answers"].get("429", 0) == 0 and s["office_all_stored"]
                  and s["forger"]["answers"].get("429 too-many-failures", 0) > 0 and s["forger_after_waiting"] == 403)
    except StepFailed as exc:
        print(f"set-up failed: {exc}", file=sys.stderr)
        return 2
    s["ok"] = ok
    print(json.dumps(s, indent=2, default=str))
    if args.json:
        args.json.write_text(json.dumps(s, indent=2, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    sys.exit(main())
