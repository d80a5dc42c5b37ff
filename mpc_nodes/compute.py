"""``mpc-node compute``: agree on the submission set, run the MPyC party, store the sealed result.

Steps (every node runs the same code path on the same shapes):

1. **Agreement.** The survey must be closed here.  The node fetches every peer's frozen set
   (ids, count, digest) over HTTPS pinned to the peer's certificate, retrying until the peer is
   closed too or the timeout passes.  Everyone computes the same intersection (counted) and
   union (``rejected = |union| - |intersection|``: held by some node but not by all).  The set is
   frozen in the store; a rerun must find the same set.
2. **Local aggregation.** Open each agreed sealed share with the node's key and add the vectors
   modulo p: the node's share of the per-category counts and sums (linear, no communication).
3. **MPC.** :mod:`mpc_nodes.mpc_program` runs as a subprocess under a supervisor with a timeout:
   a missing or stalled peer makes compute fail with a clear message instead of hanging.
4. **Seal.** The node's result share is sealed to the analyst and stored; it is released only
   through the analyst-authenticated ``/result`` endpoint.  The node never sees the result.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from protocol.encoding import vector_length
from protocol.envelope import open_shares, seal_result
from protocol.errors import ComputeFailed, SurveyClosed, SurveyError
from protocol.manifest import Manifest
from protocol.tls import pinned_client_context
from protocol.wire import STATE_COMPUTED, STATE_OPEN, STATE_PURGED, FrozenSet

from . import keys
from .store import NodeStore

DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True)
class ComputeSummary:
    survey_id: str
    node_index: int
    accepted: int
    rejected: int
    agreed_digest: str
    seconds: float


def fetch_frozen(manifest: Manifest, j: int, deadline: float, say: Callable[[str], None]) -> FrozenSet:
    """Fetch node j's frozen set, retrying (peer not closed yet, or not up) until ``deadline``."""
    node = manifest.nodes[j]
    url = f"{node.url}/v1/surveys/{manifest.survey_id}/frozen"
    ctx = pinned_client_context(node.tls_cert_pem)
    last = "no answer"
    announced = False
    while True:
        try:
            r = httpx.get(url, verify=ctx, timeout=10.0)
            if r.status_code == 200:
                fs = FrozenSet.parse(r.json())
                if fs.node_index != j or fs.manifest_hash != manifest.hash_hex():
                    raise ComputeFailed(f"node {j} ({node.name}) answered for another node or manifest")
                return fs
            try:
                last = r.json().get("detail", r.text)
            except ValueError:
                last = f"HTTP {r.status_code}"
        except httpx.HTTPError as exc:
            last = f"unreachable ({exc.__class__.__name__})"
        if time.monotonic() >= deadline:
            raise ComputeFailed(f"node {j} ({node.name}, {node.url}) did not provide its frozen submission set "
                                f"in time: {last}")
        if not announced:
            say(f"waiting for node {j} ({node.name}): {last}")
            announced = True
        time.sleep(0.5)


def local_totals(store: NodeStore, node_dir: Path, survey_id: str, ids: list[str],
                 progress: Callable[[int], None] | None = None) -> list[int]:
    """This node's share of the summed record vectors over ``ids``."""
    rec = store.survey(survey_id)
    m = rec.manifest
    sk = keys.load_hpke_private(node_dir)
    p, length, mh = m.field_modulus, vector_length(m.categories), m.hash()
    acc = [0] * length
    for count, (sid, sealed) in enumerate(store.envelopes(survey_id, ids), 1):
        vec = open_shares(sealed, sk, mh, rec.node_index, bytes.fromhex(sid), length, p)
        for e in range(length):
            acc[e] += vec[e]
        if progress and count % 1000 == 0:
            progress(count)
    return [a % p for a in acc]


def _write_tls_config(workdir: Path, node_dir: Path, manifest: Manifest, pid: int) -> None:
    cfg = workdir / ".config"
    cfg.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(node_dir / keys.TLS_CERT_FILE, cfg / f"party_{pid}.crt")
    shutil.copyfile(node_dir / keys.TLS_KEY_FILE, cfg / f"party_{pid}.key")
    os.chmod(cfg / f"party_{pid}.key", 0o600)
    # Trust exactly the survey's node certificates (each self-signed, pinned by fingerprint too).
    (cfg / "mpyc_ca.crt").write_text("".join(nd.tls_cert_pem for nd in manifest.nodes))


def run_mpc(node_dir: Path, manifest: Manifest, pid: int, totals: list[int], agreed_digest: str,
            timeout: float) -> list[int]:
    """Run the MPyC party subprocess; return this node's result shares or raise ComputeFailed."""
    with tempfile.TemporaryDirectory(prefix="mpc-node-compute-") as tmp:
        work = Path(tmp)
        _write_tls_config(work, node_dir, manifest, pid)
        job = {
            "n": manifest.n, "pid": pid, "threshold": manifest.threshold,
            "parties": [nd.mpc_address for nd in manifest.nodes],
            "fingerprints": [nd.tls_cert_sha256 for nd in manifest.nodes],
            "field_modulus": str(manifest.field_modulus), "min_group_size": manifest.min_group_size,
            "agreed_digest": agreed_digest, "local_totals": [str(v) for v in totals],
        }
        (work / "job.json").write_text(json.dumps(job))
        out = work / "out.json"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parent.parent),
                                                          env.get("PYTHONPATH", "")]))
        proc = subprocess.Popen([sys.executable, "-m", "mpc_nodes.mpc_program", "job.json", "out.json"],
                                cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            others = ", ".join(f"node {j} ({nd.mpc_address})" for j, nd in enumerate(manifest.nodes) if j != pid)
            raise ComputeFailed(f"the MPC did not complete within {timeout:g} s: a peer is missing or stalled "
                                f"(peers: {others}); nothing was released. Start 'mpc-node compute' on every "
                                "node, then rerun.") from None
        if proc.returncode != 0 or not out.exists():
            lines = [ln for ln in (err or "").strip().splitlines() if ln.strip()]
            why = lines[-1] if lines else f"exit code {proc.returncode}"
            raise ComputeFailed(f"the MPC failed: {why}")
        data = json.loads(out.read_text())
        return [int(v) for v in data["result_shares"]]


def compute(node_dir: Path, survey_id: str, timeout: float = DEFAULT_TIMEOUT,
            say: Callable[[str], None] = lambda s: None) -> ComputeSummary:
    """Run the whole compute step for this node; raises SurveyError subclasses with clear messages."""
    started = time.monotonic()
    store = NodeStore(node_dir / keys.DB_FILE)
    try:
        rec = store.survey(survey_id)
        m, me = rec.manifest, rec.node_index
        state = store.state(survey_id)
        if state == STATE_OPEN:
            raise SurveyClosed("the survey is still open: close it first ('salary-analyst close') or wait until "
                               f"its closing time {m.closes_at}")
        if state == STATE_COMPUTED:
            raise SurveyError("this survey's result has already been computed; it is released only once")
        if state == STATE_PURGED:
            raise SurveyError("this survey has been purged")
        deadline = time.monotonic() + timeout
        own = store.submission_ids(survey_id)
        sets = {me: set(own)}
        say(f"node {me}: {len(own)} submissions stored; fetching the other nodes' frozen sets")
        for j in range(m.n):
            if j != me:
                sets[j] = set(fetch_frozen(m, j, deadline, say).submission_ids)
        agreed = sorted(set.intersection(*sets.values()))
        union = set.union(*sets.values())
        rejected = len(union) - len(agreed)
        if rejected:
            say(f"{rejected} submission(s) are not held by every node and will not count")
        digest = store.record_agreement(survey_id, agreed)
        say(f"agreed on {len(agreed)} submissions (digest {digest[:16]}…); aggregating local shares")
        totals = local_totals(store, node_dir, survey_id, agreed,
                              progress=lambda c: say(f"  opened {c}/{len(agreed)} shares"))
        say("joining the MPC with the other nodes")
        # A fresh budget for the MPC itself: peers join after their own (variable) aggregation.
        shares = run_mpc(node_dir, m, me, totals, digest, timeout)
        sealed = seal_result(shares, m.analyst_public_key, m.hash(), me, m.field_modulus)
        store.store_result(survey_id, sealed, len(agreed), rejected, digest)
        return ComputeSummary(survey_id, me, len(agreed), rejected, digest, time.monotonic() - started)
    finally:
        store.close()
