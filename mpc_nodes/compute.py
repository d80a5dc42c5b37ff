"""``mpc-node compute``: agree on the submission set, run the MPyC party, commit the sealed result.

Steps (every node runs the same code path on the same shapes):

1. **Agreement** (:mod:`mpc_nodes.agreement`).  The survey must be closed here.  The node asks
   every peer at once for its frozen set, over HTTPS pinned to the peer's certificate, with a
   request signed by its own TLS key, retrying until the peer is closed too or the stall timeout
   passes; ids travel only where the sets differ.  Everyone computes the same intersection
   (counted) and union; ``rejected`` counts the submissions held by some node but not all, plus
   the uploads every node refused as malformed (e.g. a vector of the wrong length).
   The set is frozen in the store; a rerun must find the same set.
2. **Local shares.** Each agreed submission's share (kept opened since upload; a row kept only
   as its sealed envelope is opened with the node's key) is written to the party's share bucket
   files, reading the node's table once in its physical order.
3. **MPC.** :mod:`mpc_nodes.mpc_program` runs as a subprocess (it dies with its parent), given a
   :class:`~mpc_nodes.party_job.PartyJob`: it validates every submission on shares, aggregates
   the valid rows, applies the disclosure rule and yields this node's result share and a public
   run id (a :class:`~mpc_nodes.party_job.PartyOutcome`).  There is no limit on how long it
   takes: a peer that does not join, sends nothing for the stall timeout or drops its link makes
   compute fail with a one-line message naming it (:mod:`mpc_nodes.party_links`); a deviation
   the parties detect makes it fail with :class:`CheatingDetected` naming the node.  When an
   attempt fails and the budget allows leaving nodes out, the nodes of the attempt settle who is
   left out by dispute control (:mod:`mpc_nodes.dispute`: signed accusations, agreed on through
   the compute state, one deterministic rule) and rerun over the same frozen set without them.
4. **Two-phase commit.** The node stores its share of the result, sealed to the analyst, as
   *prepared*, then waits until every peer reports the same run prepared (or committed), and only
   then *commits* it: only committed shares are served.  A crash anywhere before that leaves no
   node serving anything; a rerun recomputes over the same frozen set (same result), or just
   completes the commit when a peer already committed that run.  A committed survey refuses a
   second compute: the result is released once.  The node never sees the result.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from protocol.envelope import open_share_elements, seal_result
from protocol.errors import CheatingDetected, ComputeFailed, SurveyClosed, SurveyError
from protocol.labels import Label
from protocol.manifest import Manifest
from protocol.pagecache import drop_from_page_cache
from protocol.validity import Reason
from protocol.wire import Accusation, AccusationKind, ComputeState, Endorsement, ResultState, SurveyState

from . import keys
from .agreement import Agreement, agree
from .anchors import head_signer, keep_peer_anchors
from .dispute import Attempt, Settlement, Signer, Statement, Why, exchange, settle, within_budget
from .ostools import die_with_parent
from .party_job import (
    STOP_FILE,
    BucketFiles,
    CertificateLookup,
    Cheat,
    DpSpec,
    FaultKind,
    MatrixFile,
    PartyConfig,
    PartyFault,
    PartyFileError,
    PartyJob,
    PartyOutcome,
    SchemeSpec,
    SetStatement,
    ShareFiles,
    StopRecord,
)
from .peers import Peers, PeerUnreachable, each_peer
from .store import NodeStore

#: Seconds a peer may send nothing (or stay away) before compute fails naming it: long enough
#: for a wide-area network and for a peer's silent local work (it reads and checks its shares,
#: about half a minute per million submissions on a small machine).
DEFAULT_STALL_TIMEOUT = 120.0


@dataclass(frozen=True)
class ComputeSummary:
    survey_id: str
    node_index: int
    accepted: int
    rejected: int
    agreed_digest: str
    run_id: str
    seconds: float
    resumed: bool = False  # True when a rerun only completed the commit of an earlier run
    set_aside: int = 0  # of the rejected: validation shares off the polynomial, culprit not located
    excluded: tuple[int, ...] = ()  # nodes left out of the run that produced the result
    named: tuple[int, ...] = ()  # of those, the ones named for a deviation
    disputes: tuple[tuple[int, int], ...] = ()  # of those, the pairs left out after a dispute


def fetch_compute_state(peers: Peers, j: int) -> ComputeState | None:
    try:
        r = peers.get(j, "compute", timeout=5.0)
    except PeerUnreachable:
        return None
    if r.status_code != 200:
        return None
    try:
        cs = ComputeState.parse(r.json())
    except (ValueError, SurveyError):  # not JSON, or not a compute state: no confirmation
        return None
    return cs if cs.node_index == j else None


#: bytes of rows per bucket file (memory the party holds while sorting one bucket)
BUCKET_BYTES = 100 * 1024 * 1024
#: bytes of shares fetched from the table at a time (the node holds them while writing buckets)
SCAN_BYTES = 32 * 1024 * 1024
IDS_FILE = "ids.bin"  # the agreed submission ids, 16 bytes each, in agreed order (for the party)


@dataclass(frozen=True)
class ShareBuckets:
    """The share bucket files of :func:`write_share_buckets`, inside one directory."""

    files: list[str]
    bucket_rows: int
    width: int


def write_share_buckets(store: NodeStore, node_dir: Path, survey_id: str, ids: list[str], out_dir: Path,
                        progress: Callable[[int], None] | None = None,
                        bucket_rows: int | None = None) -> ShareBuckets:
    """Write every agreed submission's share elements (16 bytes each) into bucket files in
    ``out_dir`` for the party program (``mpc_program.ShareMatrix.from_buckets``), and the agreed
    ids to ``IDS_FILE`` there (the party looks the certificates of the rare rows it must reveal
    up by id).  Row k is ``ids[k]``: the share kept at upload, or (a row kept only as its sealed
    envelope) that envelope opened now.

    The table is read once in its physical order (one seek per row would make a million rows
    take many minutes); row k goes to bucket ``k // bucket_rows`` (by default as many rows
    as fit in about 100 MB) as its 4-byte row number and its elements.  The party sorts each
    bucket in memory, so the rows are written and read once each, sequentially.  Raises
    :class:`SurveyError` if an agreed submission is missing.
    """
    rec = store.survey(survey_id)
    m = rec.manifest
    sk = keys.load_hpke_private(node_dir)
    width, mh = m.vector_length(), m.hash()
    stride = 16 * width
    bucket_rows = bucket_rows or max(1, min(65536, BUCKET_BYTES // (4 + stride)))
    index = {sid: k for k, sid in enumerate(ids)}
    count = max(1, -(-len(ids) // bucket_rows))
    names = [f"shares-{b:04d}.bin" for b in range(count)]
    with open(out_dir / IDS_FILE, "wb") as fh:
        fh.write(b"".join(bytes.fromhex(sid) for sid in ids))
    files = [open(out_dir / name, "wb", buffering=1 << 20) for name in names]
    seen = scanned = 0
    try:
        for sid, share, sealed in store.scan_shares(survey_id, batch=max(1, min(5000, SCAN_BYTES // stride))):
            scanned += 1
            if scanned % 65536 == 0:
                drop_from_page_cache(store.path)
            k = index.get(sid)
            if k is None:
                continue  # held here only: not agreed, does not count
            if share is None or len(share) != stride:
                if sealed is None:
                    raise SurveyError(f"submission {sid}: stored share has the wrong length")
                share = open_share_elements(sealed, sk, mh, rec.node_index, bytes.fromhex(sid), width)
            files[k // bucket_rows].write(k.to_bytes(4, "big") + share)
            seen += 1
            if progress and seen % 100000 == 0:
                progress(seen)
    finally:
        for f in files:
            f.close()
    drop_from_page_cache(store.path)
    if seen != len(ids):  # the table's primary key rules out an id seen twice
        raise SurveyError(f"{len(ids) - seen} agreed submission(s) are missing from this node's store")
    return ShareBuckets(names, bucket_rows, width)


def _write_tls_config(workdir: Path, node_dir: Path, manifest: Manifest, pid: int) -> None:
    cfg = workdir / ".config"
    cfg.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(node_dir / keys.TLS_CERT_FILE, cfg / f"party_{pid}.crt")
    shutil.copyfile(node_dir / keys.TLS_KEY_FILE, cfg / f"party_{pid}.key")
    os.chmod(cfg / f"party_{pid}.key", 0o600)
    # Trust exactly the survey's node certificates (each self-signed, pinned by fingerprint too).
    (cfg / "mpyc_ca.crt").write_text("".join(nd.tls_cert_pem for nd in manifest.nodes))


WORK_DIR = "compute-work"  # in the node directory: one sub-directory per running compute


def remove_stale_work(parent: Path) -> list[Path]:
    """Delete the work directories (``party-<pid>-*``) of computes whose process is gone, e.g.
    killed: they hold share files and a copy of the node's TLS key.  Returns what was removed."""
    removed = []
    for d in sorted(parent.glob("party-*-*")):
        try:
            owner = int(d.name.split("-")[1])
        except ValueError:
            continue
        try:
            os.kill(owner, 0)
            continue  # still running (or another user's process with that id)
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        shutil.rmtree(d, ignore_errors=True)
        removed.append(d)
    return removed


def dp_noise_seed(node_dir: Path, manifest: Manifest) -> bytes:
    """This node's secret seed for its differential-privacy noise in one survey: a hash of its
    HPKE private key (kept secret, never shared) and the manifest hash.  Deterministic on purpose:
    a rerun after a crash draws the same noise, so the figures are never released (or opened
    to the nodes) twice with independent noise, which would average it away."""
    sk = (node_dir / keys.HPKE_KEY_FILE).read_bytes()
    return hashlib.sha256(Label.DP_NOISE_SEED.value + sk + manifest.hash()).digest()


class PeersLost(ComputeFailed):
    """The MPC ended because ``peers`` did not join, fell silent or dropped their links."""

    def __init__(self, message: str, peers: Sequence[int]) -> None:
        super().__init__(message)
        self.peers = tuple(peers)


class PartyProcess:
    """The MPyC party subprocess of this node, started *before* the job is known.

    Starting Python and importing MPyC, numpy and the protocol takes a few tenths of a second;
    ``mpc-node compute`` starts the party at once and lets it import while the node agrees on the
    submission set with its peers and writes its share matrix.  The party then waits for "go" on
    its standard input (EOF: it exits without doing anything).  :meth:`run` hands it the job and
    waits for it, however long it takes: the party itself fails when a peer stalls
    (``stall_timeout``).  ``listen_host``: the address its MPC port binds (None: the host of this
    node's ``mpc_address``).  Use as a context manager: leaving kills a party still waiting.
    """

    def __init__(self, node_dir: Path, manifest: Manifest, pid: int, stall_timeout: float = DEFAULT_STALL_TIMEOUT,
                 listen_host: str | None = None, excluded: Sequence[int] = ()) -> None:
        self.manifest, self.pid, self.node_dir = manifest, pid, node_dir
        # Inside the node directory, not the system's temporary directory: the party's copy of
        # the TLS key and the share files get the node directory's protection, and a compute
        # that was killed (SIGKILL skips every clean-up) leaves them where the next one removes them.
        parent = node_dir / WORK_DIR
        parent.mkdir(mode=0o700, exist_ok=True)
        remove_stale_work(parent)
        self._tmp = tempfile.TemporaryDirectory(prefix=f"party-{os.getpid()}-", dir=parent)
        self.work = Path(self._tmp.name)
        self.stop_record: StopRecord | None = None  # the party's stop statement, after a run that failed
        _write_tls_config(self.work, node_dir, manifest, pid)
        self.config = PartyConfig(manifest.n, pid, manifest.threshold,
                                  tuple(nd.mpc_address for nd in manifest.nodes),
                                  tuple(nd.tls_cert_sha256 for nd in manifest.nodes), listen_host, stall_timeout,
                                  tuple(sorted(excluded)))
        (self.work / "party.json").write_text(self.config.to_json())
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parent.parent),
                                                          env.get("PYTHONPATH", "")]))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mpc_nodes.mpc_program", "--wait", "job.json", "out.json"],
            cwd=self.work, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=die_with_parent if sys.platform.startswith("linux") else None)

    def __enter__(self) -> PartyProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()
        self._tmp.cleanup()

    def run(self, shares: Path | ShareBuckets, rows: int, agreed_digest: str,
            cheat: Cheat | None = None, statements: Sequence[SetStatement] = (),
            store_path: Path | None = None, batch_rows: int | None = None,
            cheat_towards: int | None = None, attempt: int = 0, sequence: int = 0) -> PartyOutcome:
        """Run the MPC over this node's shares of ``rows`` submissions: a matrix file in row order
        (moved into the party's directory), or bucket files already written there
        (:func:`write_share_buckets`, with :attr:`work` as their directory); see :func:`run_mpc`.
        ``attempt`` and ``sequence``: the attempt's number and the sequence number of the stop
        statement the party signs if the run fails (0: none; it is then in :attr:`stop_record`)."""
        job = replace(self.job(shares, rows, agreed_digest, cheat, statements, store_path, batch_rows),
                      cheat_towards=cheat_towards, attempt=attempt, sequence=sequence)
        (self.work / "job.json").write_text(job.to_json())
        _, err = self.proc.communicate(input="go\n")
        stop = self.work / STOP_FILE
        try:
            self.stop_record = StopRecord.parse(stop.read_text()) if stop.exists() else None
        except PartyFileError as exc:
            raise ComputeFailed(f"the MPC party wrote a file this node cannot read: {exc}") from None
        return self._outcome(err or "")

    def job(self, shares: Path | ShareBuckets, rows: int, agreed_digest: str, cheat: Cheat | None,
            statements: Sequence[SetStatement], store_path: Path | None, batch_rows: int | None) -> PartyJob:
        """The job for the party (a matrix file given as a path is moved into its directory)."""
        m = self.manifest
        files: ShareFiles
        if isinstance(shares, ShareBuckets):
            files = BucketFiles(tuple(shares.files), shares.bucket_rows)
        else:
            shutil.move(str(shares), self.work / "shares.bin")
            files = MatrixFile("shares.bin")
        # The party reads the certificates of the few rows it must reveal from the node's
        # database (read-only), by id: the agreed ids are in IDS_FILE.
        lookup = (CertificateLookup(IDS_FILE, str(store_path.resolve()))
                  if store_path is not None and (self.work / IDS_FILE).exists() else None)
        return PartyJob(
            self.config, m.survey_id, m.hash_hex(), tuple(nd.tls_cert_pem for nd in m.nodes), m.field_modulus,
            m.min_group_size, scheme_spec(m), files, rows,
            m.vector_length(), bytes.fromhex(agreed_digest), tuple(statements), lookup,
            DpSpec(m.dp_epsilon, dp_noise_seed(self.node_dir, m)) if m.dp_epsilon else None, batch_rows, cheat)

    def _outcome(self, err: str) -> PartyOutcome:
        """What the party wrote: its outcome, or the deviation it caught, or why it failed."""
        code, fault, out = self.proc.returncode, self.work / "fault.json", self.work / "out.json"
        try:
            if code != 0 and fault.exists():
                f = PartyFault.parse(fault.read_text())
                if f.kind == FaultKind.DEVIATION:
                    raise CheatingDetected(f.message, culprits=f.culprits)
                raise PeersLost(self._link_failure(f), f.peers if f.kind != FaultKind.SETUP else ())
            if code == 0 and out.exists():
                return PartyOutcome.parse(out.read_text())
        except PartyFileError as exc:
            raise ComputeFailed(f"the MPC party wrote a file this node cannot read: {exc}") from None
        lines = [ln for ln in err.strip().splitlines() if ln.strip()]
        why = lines[-1] if lines else f"exit code {code}"
        if "ConnectionResetError" in why or "IncompleteReadError" in why or code < 0:
            why = f"a peer dropped out of the MPC ({why}); nothing was released. Rerun on every node."
        raise ComputeFailed(f"the MPC failed: {why}")

    def _link_failure(self, f: PartyFault) -> str:
        """One line for a party that ended because of its peers (or could not start)."""
        if f.kind == FaultKind.SETUP:
            return f"the MPC could not start: {f.message}"
        who = ", ".join(f"node {j} ({self.manifest.nodes[j].name}, {self.manifest.nodes[j].mpc_address})"
                        for j in f.peers) or "a peer"
        stall, rerun = self.config.stall_timeout, "nothing was released. Rerun 'mpc-node compute' on every node."
        if f.kind == FaultKind.NOT_JOINED:
            return (f"the MPC could not start: {who} did not join within {stall:g} s; nothing was released. Start "
                    "'mpc-node compute' on every node (each node's MPC port must be reachable from the "
                    "lower-numbered nodes), then rerun.")
        if f.kind == FaultKind.SILENT:
            return f"the MPC stalled: {who} sent nothing for {stall:g} s; {rerun}"
        if f.kind == FaultKind.FOLLOWED:
            return f"the MPC stopped: {who} stopped the run (its signed stop statement says why); {rerun}"
        return (f"the MPC stopped: {who} closed its MPC link (its compute ended, or the network dropped the "
                f"connection); {rerun}")


def run_mpc(node_dir: Path, manifest: Manifest, pid: int, matrix: Path, rows: int, agreed_digest: str,
            stall_timeout: float, cheat: Cheat | None = None, statements: Sequence[SetStatement] = (),
            batch_rows: int | None = None) -> PartyOutcome:
    """Run the MPyC party subprocess over a share matrix file in row order (``rows`` submissions).

    ``batch_rows``: rows the party reads at a time (default: its own; tests make it small so that
    a few rows span several batches).

    ``statements``: every node's signed frozen-set digest as this node fetched them (see
    :func:`mpc_nodes.agreement.set_statements`); the parties compare them to catch a node that
    equivocated.
    """
    with PartyProcess(node_dir, manifest, pid, stall_timeout) as party:
        return party.run(matrix, rows, agreed_digest, cheat, statements, batch_rows=batch_rows)


def _check_computable(store: NodeStore, survey_id: str, m: Manifest) -> None:
    """Compute runs on a closed survey, and once."""
    state = store.state(survey_id)
    if state == SurveyState.OPEN:
        raise SurveyClosed("the survey is still open: close it first ('salary-analyst close') or wait until "
                           f"its closing time {m.closes_at}")
    if state == SurveyState.COMPUTED:
        raise SurveyError("this survey's result has already been computed; it is released only once")
    if state == SurveyState.PURGED:
        raise SurveyError("this survey has been purged")


def _resume_commit(store: NodeStore, peers: Peers, survey_id: str) -> str | None:
    """A rerun after a crash between prepare and commit: if a peer already committed the run this
    node prepared, every node held its share of it, so finishing the commit is all that is left.
    Returns that run's id once committed here, or None."""
    state, prepared = store.result_state(survey_id)
    if state != ResultState.PREPARED or prepared is None:
        return None
    states = each_peer(peers, lambda j: fetch_compute_state(peers, j))
    if any(cs is not None and cs.state == ResultState.COMMITTED and cs.run_id == prepared for cs in states.values()):
        store.commit_result(survey_id, prepared)
        return prepared
    return None


def _reason_text(reason: Reason, off: list[int] | None) -> str:
    text = reason.text
    if off and reason == Reason.CONSISTENCY:
        text += f" (shares off at node {', '.join(map(str, off))}: that node, or the contributor)"
    return text


def set_aside_message(outcome: PartyOutcome, peers: Peers) -> str:
    """What compute says about the submissions set aside because their validation shares were
    off the polynomial: how many, where, and what it means."""
    who = sorted({j for v in outcome.off_polynomial.values() for j in v})
    n, t = peers.manifest.n, peers.manifest.threshold
    where = (f" at {', '.join(peers.label(j) for j in who)} (that node cheated, or those contributors sent it bad "
             "shares)" if who else "")
    meaning = ("; they are set aside and do not count, and the analyst is told. Either their contributors sent "
               "inconsistent shares, or a node lied in the validation openings")
    if n < 3 * t + 1:
        meaning += f", which {n} nodes cannot tell apart (n < 3t+1 = {3 * t + 1}): if many are set aside, suspect a node"
    return f"{len(outcome.off_polynomial)} submission(s) had validation shares off the polynomial{where}{meaning}"


def note_outcome(store: NodeStore, peers: Peers, survey_id: str, agreed: list[str], outcome: PartyOutcome,
                 say: Callable[[str], None]) -> int:
    """Report and audit what the MPC found (cheaters corrected, rows off the polynomial, invalid
    submissions); returns the number of submissions that count."""
    say("MPC party done: " + " ".join(f"{k}={v:.3f}s" for k, v in outcome.seconds.items())
        + f" peak_rss={outcome.peak_rss_mb:.1f}MB")
    if outcome.corrected:
        say("cheating detected and corrected: " + ", ".join(peers.label(j) for j in outcome.corrected)
            + " sent wrong shares; the honest nodes' shares determined the result")
        store.note_event(survey_id, "cheating", {"corrected_nodes": outcome.corrected})
    if outcome.off_polynomial:
        say(set_aside_message(outcome, peers))
    if outcome.invalid:
        say(f"{len(outcome.invalid)} submission(s) failed validation and do not count")
        store.note_invalid(survey_id, [(agreed[i], _reason_text(r, outcome.off_polynomial.get(i)))
                                       for i, r in outcome.invalid])
    return len(agreed) - len(outcome.invalid)


def _commit_when_all_prepared(store: NodeStore, peers: Peers, survey_id: str, run_id: str, deadline: float,
                              say: Callable[[str], None], excluded: Sequence[int] = ()) -> None:
    """Phase two: commit once every peer of the run (not ``excluded`` from it) holds a share of
    ``run_id`` (prepared or committed)."""
    waiting = [j for j in peers.others() if j not in excluded]
    announced: set[int] = set()
    pause = 0.02
    while waiting:
        states = each_peer(peers, lambda j: fetch_compute_state(peers, j), only=waiting)
        waiting = [j for j, cs in states.items()
                   if cs is None or cs.run_id != run_id or cs.state not in (ResultState.PREPARED, ResultState.COMMITTED)]
        unsigned = keep_peer_anchors(store, peers.manifest, {j: cs for j, cs in states.items() if j not in waiting})
        for j in unsigned:
            say(f"{peers.label(j)} holds its share of this run but sent no valid signed audit-log head")
        for j in set(waiting) - announced:
            say(f"waiting for {peers.label(j)} to hold its share of this run")
            announced.add(j)
        if not waiting:
            break
        if time.monotonic() >= deadline:
            raise ComputeFailed("the result is not released: " + ", ".join(peers.label(j) for j in waiting)
                                + " did not confirm this MPC run in time. Rerun 'mpc-node compute' on every node.")
        time.sleep(pause)
        pause = min(0.5, pause * 1.5)  # peers usually prepare within milliseconds of each other
    store.commit_result(survey_id, run_id)


def two_phase_commit(store: NodeStore, peers: Peers, node_dir: Path, run: MpcRun, accepted: int,
                     rejected: int, digest: str, stall_timeout: float, say: Callable[[str], None]) -> None:
    """Step 4: store this node's result share sealed to the analyst as prepared, with its signed
    audit-log head, and commit it once every peer of the run holds a share of it (waiting at most
    ``stall_timeout`` for them), keeping the peers' signed heads."""
    survey_id = peers.manifest.survey_id
    m, outcome = peers.manifest, run.outcome
    sealed = seal_result(outcome.shares, m.analyst_public_key, m.hash(), peers.me, m.field_modulus)
    store.store_result(survey_id, sealed, accepted, rejected, digest, outcome.run_id,
                       sorted(set(outcome.corrected) | set(run.named)), len(outcome.off_polynomial),
                       head_signer(node_dir, m, peers.me),
                       [j for j in run.excluded if j not in run.named and not any(j in p for p in run.disputes)],
                       run.disputes)
    _commit_when_all_prepared(store, peers, survey_id, outcome.run_id, time.monotonic() + stall_timeout, say,
                              run.excluded)


@dataclass(frozen=True)
class MpcRun:
    """The MPC run that produced this node's result share, and the parties left out of it."""

    outcome: PartyOutcome
    excluded: tuple[int, ...] = ()  # parties left out (named for a deviation, lost, or in a dispute)
    named: tuple[int, ...] = ()  # of those, the ones named for a deviation
    disputes: tuple[tuple[int, int], ...] = ()  # of those, the pairs left out after a dispute


class LeftOutAfterDispute(ComputeFailed):
    """This node was left out of the rerun with its partner in a dispute (the others go on)."""


@dataclass(frozen=True)
class Exclusions:
    """Who the runs so far left out, and how much of the budget ``lone + k <= n - 2t - 1`` that
    used (:mod:`mpc_nodes.dispute`)."""

    excluded: tuple[int, ...] = ()
    named: tuple[int, ...] = ()
    disputes: tuple[tuple[int, int], ...] = ()
    spent: int = 0

    def after(self, s: Settlement) -> Exclusions:
        named = {x.node for x in s.left_out.values() if x.why in (Why.EQUIVOCATED, Why.NAMED_BY_MANY)}
        return Exclusions(tuple(sorted(set(self.excluded) | set(s.nodes))), tuple(sorted(set(self.named) | named)),
                          tuple(sorted(set(self.disputes) | set(s.pairs))), self.spent + s.cost())


def _accusation(exc: SurveyError, me: int) -> tuple[AccusationKind, tuple[int, ...]]:
    """What this node says about a failed attempt: whom its party named or lost, or that it
    withdraws (its party failed by itself, or named nobody, or named this node)."""
    if isinstance(exc, CheatingDetected) and exc.culprits and me not in exc.culprits:
        return AccusationKind.DEVIATION, tuple(exc.culprits)
    if isinstance(exc, PeersLost) and exc.peers and me not in exc.peers:
        return AccusationKind.LOST, exc.peers
    return AccusationKind.WITHDRAWN, ()


def dispute(store: NodeStore, peers: Peers, node_dir: Path, attempt: Attempt, exc: SurveyError,
            stop: StopRecord | None, stall: float) -> Settlement:
    """Publish this node's signed accusation about the failed ``attempt`` (the stop statement its
    party sent its peers, and the one it followed, if any; else one signed here from ``exc``),
    agree with the other nodes on everyone's (:func:`mpc_nodes.dispute.exchange`) and settle who
    the rerun leaves out."""
    m, me = peers.manifest, peers.me
    signer = Signer(node_dir, m, me)
    if stop is not None:
        own = Accusation.parse(json.loads(stop.statement))
        relay = [Accusation.parse(json.loads(stop.followed))] if stop.followed else []
    else:
        kind, accused = _accusation(exc, me)
        own, relay = signer.accuse(attempt, kind, accused, store.next_accusation(m.survey_id)), []

    def publish(rnd: int, accusations: Sequence[Accusation], endorsements: Sequence[Endorsement]) -> None:
        store.publish_dispute(m.survey_id, attempt.number, rnd, accusations, endorsements)

    def fetch(only: Sequence[int]) -> dict[int, ComputeState | None]:
        return each_peer(peers, lambda j: fetch_compute_state(peers, j), only=only)

    agreed = exchange(m.threshold, attempt, own, signer, publish, fetch, stall, relay=relay)
    return settle(m.threshold, attempt.parties, [Statement.of(a) for a in agreed])


def _say_settlement(peers: Peers, s: Settlement, after: Exclusions, say: Callable[[str], None]) -> None:
    m = peers.manifest
    go_on = (f": {m.n - len(after.excluded)} of {m.n} nodes go on over the same frozen set; its shares are erasures "
             "(2s + e <= n - t - 1)")
    for j in s.lone:
        why = "named for a deviation" if s.left_out[j].why in (Why.EQUIVOCATED, Why.NAMED_BY_MANY) else "lost"
        say(f"excluding {peers.label(j)} ({why}){go_on}")
    for a, b in s.pairs:
        say(f"excluding {peers.label(a)} and {peers.label(b)} (in dispute: at least one of the two deviated){go_on}")


def _settled(peers: Peers, s: Settlement, done: Exclusions, exc: SurveyError) -> Exclusions:
    """The exclusions after settlement ``s``, or the error that ends this node's compute: it is
    left out itself, nobody is, or the budget does not allow the rerun."""
    m, me = peers.manifest, peers.me
    mine = s.left_out.get(me)
    if mine is not None and mine.why == Why.DISPUTE:
        raise LeftOutAfterDispute(f"left out with node {mine.partner} after a dispute: at least one of the two "
                                  "deviated; the other nodes go on")
    if mine is not None:
        raise exc
    if not s.left_out:
        raise ComputeFailed(f"{exc} (the nodes' signed accusations left nobody out, so a rerun would meet the "
                            "same fault; nothing was released)")
    if not within_budget(m.n, m.threshold, done.spent, s):
        left = ", ".join(x.describe() for x in sorted(s.left_out.values(), key=lambda x: x.node))
        raise ComputeFailed(f"{exc} (the nodes cannot go on without {left}: at most n - 2t - 1 = "
                            f"{m.n - 2 * m.threshold - 1} may be left out; nothing was released)")
    return done.after(s)


def run_excluding(store: NodeStore, peers: Peers, node_dir: Path, survey_id: str, agreement: Agreement,
                  parties: list[PartyProcess], options: ComputeOptions, say: Callable[[str], None]) -> MpcRun:
    """Step 3, with the reruns: when an attempt of the MPC fails (a deviation named, a node lost,
    this node's party failed), every node of the attempt settles who is left out by dispute
    control (:func:`dispute`: signed accusations, agreed on, one deterministic rule) and, when
    the budget allows, runs the MPC again over the same frozen set without them.  A node left
    out in a dispute stops (:class:`LeftOutAfterDispute`).  ``parties``: the started party
    process; every process started here is appended (the caller closes them)."""
    m, me = peers.manifest, peers.me
    done = Exclusions(agreement.down, spent=len(agreement.down))
    for number in range(m.n):
        party = parties[-1]
        buckets = write_share_buckets(store, node_dir, survey_id, agreement.ids, party.work,
                                      progress=lambda c: say(f"  {c}/{len(agreement.ids)} shares read"))
        without = " without " + ", ".join(peers.label(j) for j in done.excluded) if done.excluded else ""
        say(f"rerunning the MPC{without}" if number else
            f"joining the MPC with the other nodes{without} (validation, then aggregation)")
        try:
            outcome = party.run(buckets, len(agreement.ids), agreement.digest, options.cheat, agreement.statements,
                                store.path, cheat_towards=options.cheat_towards, attempt=number,
                                sequence=store.next_accusation(survey_id))
            return MpcRun(outcome, done.excluded, done.named, done.disputes)
        except (CheatingDetected, ComputeFailed) as exc:
            if done.spent >= m.n - 2 * m.threshold - 1:
                raise  # no node can be left out: nothing to settle
            say(f"{exc}")
            say("settling who is left out with the other nodes (signed accusations)")
            attempt = Attempt(number, agreement.digest, tuple(j for j in range(m.n) if j not in done.excluded))
            s = dispute(store, peers, node_dir, attempt, exc, party.stop_record, options.stall_timeout)
            nxt = _settled(peers, s, done, exc)
            _say_settlement(peers, s, nxt, say)
            _note_settlement(store, survey_id, s, str(exc))
            done = nxt
            party.close()
            parties.append(PartyProcess(node_dir, m, me, options.stall_timeout, options.mpc_listen, done.excluded))
    raise ComputeFailed("the MPC could not complete")  # unreachable: each rerun leaves out one more node


def _note_settlement(store: NodeStore, survey_id: str, s: Settlement, reason: str) -> None:
    for j in s.lone:
        proven = s.left_out[j].why in (Why.EQUIVOCATED, Why.NAMED_BY_MANY)
        store.note_event(survey_id, "excluded", {"nodes": [j], "deviation": proven, "reason": reason,
                                                 "why": s.left_out[j].why.value})
    for a, b in s.pairs:
        store.note_event(survey_id, "excluded", {"nodes": [a, b], "deviation": True, "reason": reason,
                                                 "why": Why.DISPUTE.value})


@dataclass(frozen=True)
class ComputeOptions:
    """How this node runs compute (``mpc-node compute`` flags, or the node's configuration file)."""

    stall_timeout: float = DEFAULT_STALL_TIMEOUT  # seconds a peer may stay away or silent
    mpc_listen: str | None = None  # the address the MPC port binds (None: the host of this node's mpc_address)
    cheat: Cheat | None = None  # TESTING ONLY: deviate at one step
    cheat_towards: int | None = None  # TESTING ONLY: aim that deviation at this one peer (None: every peer)


def compute(node_dir: Path, survey_id: str, options: ComputeOptions = ComputeOptions(),
            say: Callable[[str], None] = lambda s: None) -> ComputeSummary:
    """Run the whole compute step for this node; raises SurveyError subclasses with clear messages."""
    started = time.monotonic()
    store = NodeStore(node_dir / keys.DB_FILE)
    peers: Peers | None = None
    parties: list[PartyProcess] = []
    try:
        rec = store.survey(survey_id)
        m, me = rec.manifest, rec.node_index
        _check_computable(store, survey_id, m)
        peers = Peers(node_dir, m, me)
        resumed = _resume_commit(store, peers, survey_id)
        if resumed is not None:
            res = store.result(survey_id)
            assert res is not None
            say(f"completed the commit of run {resumed[:12]}… (a peer had committed it)")
            return ComputeSummary(survey_id, me, res.accepted, res.rejected, res.agreed_digest, resumed,
                                  time.monotonic() - started, resumed=True, set_aside=res.set_aside)
        stall = options.stall_timeout
        store.clear_dispute(survey_id)  # a new compute numbers its attempts from 0 again
        parties.append(PartyProcess(node_dir, m, me, stall, options.mpc_listen))  # imports while this node agrees
        agreement = agree(store, peers, node_dir, survey_id, time.monotonic() + stall, say,
                          may_lose=max(0, m.n - 2 * m.threshold - 1))
        if agreement.down:  # the party was started for every node: start it again without those
            parties[-1].close()
            parties.append(PartyProcess(node_dir, m, me, stall, options.mpc_listen, agreement.down))
        run = run_excluding(store, peers, node_dir, survey_id, agreement, parties, options, say)
        outcome = run.outcome
        accepted = note_outcome(store, peers, survey_id, agreement.ids, outcome, say)
        rejected = agreement.rejected + len(outcome.invalid)
        two_phase_commit(store, peers, node_dir, run, accepted, rejected, agreement.digest, stall, say)
        return ComputeSummary(survey_id, me, accepted, rejected, agreement.digest, outcome.run_id,
                              time.monotonic() - started, set_aside=len(outcome.off_polynomial),
                              excluded=run.excluded, named=run.named, disputes=run.disputes)
    finally:
        for party in parties:
            party.close()
        if peers is not None:
            peers.close()
        store.close()


def scheme_spec(m: Manifest) -> SchemeSpec:
    """The manifest's record scheme as the party job carries it."""
    sc = m.scheme()
    return SchemeSpec(m.categories, m.job_categories, m.salary_bands, m.salary_max,
                      sc.variable.top if sc.variable is not None else 0, m.variable_bands if sc.variable else (),
                      sc.hours_max, m.hourly_max if sc.hours_max else 0, m.hourly_bands if sc.hours_max else ())
