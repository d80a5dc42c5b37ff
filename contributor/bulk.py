"""Bulk submission of an HR file: batches of records, one certificate and one sealed block per
node per batch (``POST /v1/surveys/{id}/batches``).

Why batches: per record, a single upload costs a fresh Ed25519 key and signature, n HPKE seals
and n HTTPS requests at the contributor, and a signature check and an HPKE open at each node.
A batch of K records shares one one-time key (its signature covers a Merkle root of the records'
commitments, protocol.commitment "Batches"), one HPKE seal per node, one request per node and
one database transaction per node; the records are encoded and proved for the whole batch at
once (int64 records, the proof in limb arithmetic: protocol.fastfield), and shared straight into
each node's sealed plaintext (protocol.sharing), which is hashed for the commitments and sealed
without a copy.  Every record keeps its own id, token and stand-alone certificate, so the nodes
treat it exactly as a single upload afterwards.

Durability: every batch is prepared and written to its own pending file (in the run's pending
directory, fsynced) before the first upload; once every node acknowledged it (or it was refused
for good) its pending file gives way to a small done file.  :mod:`contributor.bulkrun` runs
whole files and resumes them.  A batch is all-or-nothing at a node: one bad record refuses the
batch, naming the record.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from protocol import fastfield, sharing
from protocol.pagecache import drop_from_page_cache
from protocol.commitment import MAX_BATCH, batch_envelope_id, make_batch
from protocol.encoding import Record, encode_record, encode_records, fast_encodable
from protocol.envelope import BLOCK_HEADER_BYTES, seal_share_plaintext, share_block_header
from protocol.errors import SurveyError, TokenUsed
from protocol.field import encode_elements, share_vector
from protocol.manifest import Manifest
from protocol.validity import Layout, proof_limbs, prove
from protocol.wire import BulkAck, BulkBody, b64d, b64e

from .delivery import BatchResult, Delivery, NodeAnswers, send_to_nodes
from .nodes import NodeClient, labelled
from .pending import RECEIPT_FORMAT, check_pending_doc, now, write_atomic

PENDING_BATCH_FORMAT = "salary-submit/pending-batch/v1"
DONE_BATCH_FORMAT = "salary-submit/done-batch/v1"
DONE_SUFFIX = ".done"
DEFAULT_BATCH_SIZE = 1000


@dataclass
class PreparedBatch:
    """K records shared, committed, signed and sealed: ``envelopes[i]`` is node i's sealed block
    (empty once delivered)."""

    survey_id: str
    manifest_hash: str  # hex
    replace: bool
    batch_key: bytes
    signature: bytes
    commitments: bytes  # K x n x 32
    ids: tuple[str, ...]
    token_hashes: tuple[str, ...]
    lines: tuple[int | None, ...]
    envelopes: list[bytes]

    def envelope_sha256(self, index: int) -> str:
        return hashlib.sha256(self.envelopes[index]).hexdigest()


class Stage(StrEnum):
    """The steps of preparing a batch, as :class:`StageTimes` counts them."""

    ENCODE = "encode"
    PROVE = "prove"
    SHARE = "share"
    COMMIT = "commit"  # SHA-256 per node share, the Merkle tree and the batch's one signature
    SEAL = "seal"
    WRITE = "write"  # the pending file, fsynced


@dataclass
class StageTimes:
    """Seconds spent per :class:`Stage`, wall-clock and this process's CPU time (summed over
    batches and worker processes; the CPU time leaves out waiting, e.g. for fsync or for a core
    that other programs hold)."""

    seconds: dict[Stage, float] = field(default_factory=lambda: {s: 0.0 for s in Stage})
    cpu: dict[Stage, float] = field(default_factory=lambda: {s: 0.0 for s in Stage})

    @contextmanager
    def measure(self, stage: Stage) -> Iterator[None]:
        started, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - started
            self.cpu[stage] += time.process_time() - cpu

    def add(self, other: StageTimes) -> None:
        for s in Stage:
            self.seconds[s] += other.seconds[s]
            self.cpu[s] += other.cpu[s]


_reuse = threading.local()


def _node_buffers(n: int, size: int) -> list[npt.NDArray[np.uint8]]:
    """n plaintext buffers of ``size`` bytes, the same ones for every batch of that size in this
    thread: their pages stay mapped (first touching 100 MB of fresh pages per batch costs as
    much as sharing it).  Nothing outlives a batch in them: sealing copies, and
    :func:`share_rows` returns copies."""
    cached: list[npt.NDArray[np.uint8]] = getattr(_reuse, "buffers", [])
    if len(cached) != n or cached[0].size != size:
        cached = [np.empty(size, dtype=np.uint8) for _ in range(n)]
        _reuse.buffers = cached
    return cached


def _plaintexts(manifest: Manifest, records: Sequence[Record], times: StageTimes) -> list[npt.NDArray[np.uint8]]:
    """Every node's sealed plaintext for these records: :func:`share_block_header`, then node i's
    K share vectors (record, validity proof), 16-byte big-endian elements, row-major.  Shared in
    place by :mod:`protocol.sharing` for p = 2^127 - 1."""
    p, n, t = manifest.field_modulus, manifest.n, manifest.threshold
    scheme = manifest.scheme()
    layout = Layout(scheme)
    k, width = len(records), layout.width
    head = np.frombuffer(share_block_header(k, width), dtype=np.uint8)
    if fastfield.supported(p) and fast_encodable(scheme):
        with times.measure(Stage.ENCODE):
            rec = encode_records(records, scheme)
        with times.measure(Stage.PROVE):
            tail = sharing.words_from_limbs(proof_limbs(rec, layout))
        with times.measure(Stage.SHARE):
            outs = _node_buffers(n, BLOCK_HEADER_BYTES + 16 * k * width)
            for o in outs:
                o[:BLOCK_HEADER_BYTES] = head
            sharing.share_submissions(sharing.Submissions(rec, tail), n, t, [o[BLOCK_HEADER_BYTES:] for o in outs])
        return outs
    blocks = [bytearray(head.tobytes()) for _ in range(n)]  # any other prime or bound: Python ints, one by one
    with times.measure(Stage.SHARE):
        for rec_ in records:
            for i, sh in enumerate(share_vector(prove(encode_record(rec_, scheme), layout, p), n, t, p)):
                blocks[i] += encode_elements(sh, p)
    return [np.frombuffer(b, dtype=np.uint8) for b in blocks]


def share_rows(manifest: Manifest, records: Sequence[Record]) -> list[bytes]:
    """Every node's share block for these records: node i's K share vectors (record, validity
    proof), 16-byte big-endian elements, row-major."""
    return [pt[BLOCK_HEADER_BYTES:].tobytes() for pt in _plaintexts(manifest, records, StageTimes())]


def prepare_batch(manifest: Manifest, records: Sequence[Record], token_hashes: Sequence[str],
                  lines: Sequence[int | None], *, replace: bool = False, times: StageTimes | None = None
                  ) -> PreparedBatch:
    """Encode, prove, share, commit, sign (one fresh key) and seal one batch of records (adding
    each stage's seconds to ``times`` if given)."""
    k = len(records)
    if not 1 <= k <= MAX_BATCH:
        raise ValueError(f"a batch holds 1 to {MAX_BATCH} records")
    times = times if times is not None else StageTimes()
    width, mh = manifest.vector_length(), manifest.hash()
    plaintexts = _plaintexts(manifest, records, times)
    rb = 16 * width
    with times.measure(Stage.COMMIT):
        blocks = [pt.data[BLOCK_HEADER_BYTES:] for pt in plaintexts]
        batch = make_batch(mh, [[blk[r * rb: (r + 1) * rb] for blk in blocks] for r in range(k)])
    with times.measure(Stage.SEAL):
        env_id = batch_envelope_id(batch.public_key)
        envelopes = [seal_share_plaintext(plaintexts[i].data, k, width, nd.hpke_public_key, mh, i, env_id)
                     for i, nd in enumerate(manifest.nodes)]
    return PreparedBatch(manifest.survey_id, mh.hex(), replace, batch.public_key, batch.signature,
                         b"".join(batch.commitments), batch.ids, tuple(token_hashes), tuple(lines), envelopes)


# ------------------------------------------------------------------------------------------------
# Pending batch files
# ------------------------------------------------------------------------------------------------


@dataclass
class PendingBatch:
    prepared: PreparedBatch
    nodes: list[int]  # still to deliver to
    acks: dict[int, BulkAck]
    receipt: str  # the run's receipt log (.jsonl)
    path: Path  # this batch's pending file

    def header(self, manifest: Manifest) -> dict[str, Any]:
        pb = self.prepared
        return {"format": PENDING_BATCH_FORMAT, "survey_id": manifest.survey_id,
                "manifest_hash": manifest.hash_hex(), "manifest": json.loads(manifest.canonical_bytes()),
                "written_at": now(), "replace": pb.replace, "batch_key": b64e(pb.batch_key),
                "signature": b64e(pb.signature), "commitments": b64e(pb.commitments), "ids": list(pb.ids),
                "token_sha256": list(pb.token_hashes), "lines": list(pb.lines), "receipt": self.receipt,
                "envelopes": {str(i): len(pb.envelopes[i]) for i in self.nodes},
                "acks": [asdict(a) for _, a in sorted(self.acks.items())]}

    def save(self, manifest: Manifest) -> None:
        """Write the pending file atomically and durably: one JSON header line, then the sealed
        blocks still owed, raw, in node order (their lengths are in the header).  Once on disk its
        pages leave the cache (:mod:`protocol.pagecache`): it is read back only at its upload."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(json.dumps(self.header(manifest)).encode() + b"\n")
            for i in self.nodes:
                fh.write(self.prepared.envelopes[i])
            fh.flush()
            os.fsync(fh.fileno())
        drop_from_page_cache(tmp)
        os.replace(tmp, self.path)

    def release(self) -> None:
        """Drop the sealed blocks from memory (they are in the pending file): a million-row file
        would otherwise hold gigabytes until its upload."""
        self.prepared.envelopes = [b""] * len(self.prepared.envelopes)

    def reload(self) -> None:
        """Read the sealed blocks still owed back from the pending file."""
        if any(self.prepared.envelopes[i] for i in self.nodes) or not self.nodes:
            return
        _, again = read_pending_batch(self.path)
        if again.prepared.ids != self.prepared.ids:
            raise SurveyError(f"pending file {self.path} changed under us")
        self.prepared.envelopes = again.prepared.envelopes


def read_pending_batch(path: Path) -> tuple[Manifest, PendingBatch]:
    """Parse one pending batch file (raises :class:`SurveyError`)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SurveyError(f"cannot read pending file {path}: {exc.strerror}") from None
    head, _, blobs = data.partition(b"\n")
    try:
        doc = json.loads(head)
    except ValueError:
        raise SurveyError(f"{path} is not a salary-submit pending batch file") from None
    manifest = check_pending_doc(doc, path, PENDING_BATCH_FORMAT, "pending batch file")
    try:
        envs = [b""] * manifest.n
        at = 0
        for key, size in sorted(doc["envelopes"].items(), key=lambda kv: int(kv[0])):
            envs[int(key)] = blobs[at: at + int(size)]
            at += int(size)
        if at != len(blobs):
            raise ValueError("sealed blocks do not match the header")
        acks = {a.node_index: a for a in (BulkAck.parse(x) for x in doc["acks"])}
        pb = PreparedBatch(manifest.survey_id, manifest.hash_hex(), bool(doc["replace"]),
                           b64d(doc["batch_key"], "batch_key"), b64d(doc["signature"], "signature"),
                           b64d(doc["commitments"], "commitments"), tuple(str(s) for s in doc["ids"]),
                           tuple(str(h) for h in doc["token_sha256"]), tuple(doc["lines"]), envs)
        if not (len(pb.ids) == len(pb.token_hashes) == len(pb.lines)):
            raise ValueError("lengths differ")
        nodes = sorted(int(k) for k in doc["envelopes"])
    except SurveyError:
        raise
    except (KeyError, TypeError, ValueError, IndexError):
        raise SurveyError(f"pending file {path} is damaged") from None
    return manifest, PendingBatch(pb, nodes, acks, str(doc["receipt"]), path)


@dataclass(frozen=True)
class SettledBatch:
    """A batch whose upload ended (its ``batch-NNNNNN.done`` file): delivered to every node, or
    refused for good (``reason`` says why; its ids and CSV lines are kept to report it again)."""

    index: int
    records: int
    reason: str = ""
    lines: tuple[int | None, ...] = ()
    ids: tuple[str, ...] = ()


def batch_index(path: Path) -> int:
    """The batch number in a batch file's name (``batch-000012.json``: 12)."""
    return int(path.name.split(".")[0].removeprefix("batch-"))


def settle_batch(entry: PendingBatch, reason: str) -> None:
    """Replace a batch's pending file by its small done file (atomically and durably, the done
    file first), so that its run knows the batch's rows were sent ("" reason) or refused."""
    pb = entry.prepared
    doc: dict[str, Any] = {"format": DONE_BATCH_FORMAT, "records": len(pb.ids), "reason": reason}
    if reason:
        doc.update(ids=list(pb.ids), lines=list(pb.lines))
    done = entry.path.with_suffix(DONE_SUFFIX)
    write_atomic(done, json.dumps(doc) + "\n")
    fsync_dir(done.parent)
    entry.path.unlink(missing_ok=True)


def read_settled(path: Path) -> SettledBatch:
    """Parse a done file (raises :class:`SurveyError`)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("format") != DONE_BATCH_FORMAT:
            raise ValueError("not a done file")
        return SettledBatch(batch_index(path), int(doc["records"]), str(doc["reason"]),
                            tuple(doc.get("lines", ())), tuple(str(i) for i in doc.get("ids", ())))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise SurveyError(f"{path} is damaged") from None


def pending_token_hashes(receipt_dir: Path, survey_id: str) -> dict[str, Path]:
    """``{token_sha256: pending batch file}`` of unfinished bulk runs in ``receipt_dir``."""
    found: dict[str, Path] = {}
    for path in sorted(receipt_dir.glob("pending-*/batch-*.json")) if receipt_dir.is_dir() else []:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and doc.get("survey_id") == survey_id:
            for th in doc.get("token_sha256", []):
                found.setdefault(str(th), path)
    return found


# ------------------------------------------------------------------------------------------------
# Upload
# ------------------------------------------------------------------------------------------------


def submit_batch_to(node: NodeClient, pb: PreparedBatch, tokens: Sequence[str]) -> BulkAck:
    """POST node ``node.index``'s sealed block of the batch (checked acknowledgement)."""
    i = node.index
    upload = BulkBody(pb.batch_key, pb.signature, tuple(tokens), pb.commitments, pb.envelopes[i], pb.replace)
    return node.submit_batch(upload, pb.envelope_sha256(i), pb.ids)


def _receipt_lines(manifest: Manifest, pb: PreparedBatch, answers: NodeAnswers[BulkAck]) -> str:
    complete = answers.complete
    out = []
    for r, sid in enumerate(pb.ids):
        d: dict[str, Any] = {
            "format": RECEIPT_FORMAT, "submission_id": sid, "survey_id": manifest.survey_id,
            "manifest_hash": manifest.hash_hex(), "replace": pb.replace, "complete": complete,
            "batch_id": batch_envelope_id(pb.batch_key).hex(), "batch_index": r,
            "acks": [{"node_index": i, "node": manifest.nodes[i].name, "status": a.statuses[r],
                      "envelope_sha256": a.envelope_sha256, "stored_at": a.stored_at}
                     for i, a in sorted(answers.acks.items())],
            "pending_nodes": [manifest.nodes[i].name for i in sorted(answers.pending)],
            "refused_by": {manifest.nodes[i].name: str(e) for i, e in sorted(answers.rejected.items())},
            "written_at": now()}
        if pb.lines[r] is not None:
            d["line"] = pb.lines[r]
        out.append(json.dumps(d))
    return "\n".join(out) + "\n"


class BatchUploads(Delivery[PendingBatch, NodeAnswers[BulkAck]]):
    """Batch entries, each with its own pending file: a batch goes to its nodes in parallel
    (each stores it independently), its receipt is one line per record of the run's log, and
    its pending file is rewritten with the blocks still owed, or deleted, as soon as its upload
    ends."""

    def upload(self, entry: PendingBatch) -> NodeAnswers[BulkAck]:
        entry.reload()
        pb = entry.prepared
        toks = [self.tokens[h] for h in pb.token_hashes]
        answers: NodeAnswers[BulkAck] = NodeAnswers(acks=dict(entry.acks))
        send_to_nodes(self.nodes, entry.nodes, lambda nd: submit_batch_to(nd, pb, toks), answers, parallel=True)
        return answers

    def receipt_lines(self, entry: PendingBatch, answers: NodeAnswers[BulkAck]) -> str:
        return _receipt_lines(self.manifest, entry.prepared, answers)

    def rows(self, entry: PendingBatch) -> list[tuple[int | None, str]]:
        return list(zip(entry.prepared.lines, entry.prepared.ids))

    def still_owed(self, answers: NodeAnswers[BulkAck]) -> bool:
        return bool(answers.pending) and not answers.rejected

    def refusal(self, entry: PendingBatch, answers: NodeAnswers[BulkAck]) -> str:
        pb, rejected = entry.prepared, answers.rejected
        texts = {_for_user(str(exc), pb) for exc in rejected.values()}
        why = (texts.pop() if len(texts) == 1 and len(rejected) == self.manifest.n else
               "; ".join(_for_user(labelled(self.manifest, i, exc), pb) for i, exc in sorted(rejected.items())))
        if any(isinstance(x, TokenUsed) for x in rejected.values()) and "--replace" not in why:
            why += " (use --replace to replace earlier answers)"
        return f"the batch of {len(pb.ids)} was refused: {why}" if len(pb.ids) > 1 else why

    def settle(self, entry: PendingBatch, answers: NodeAnswers[BulkAck]) -> None:
        entry.acks = dict(answers.acks)
        if answers.complete:
            settle_batch(entry, "")
        elif answers.rejected and not answers.pending:
            settle_batch(entry, self.refusal(entry, answers))  # refused for good (reported as failed)
        else:
            entry.nodes = sorted(answers.pending)
            for i in range(self.manifest.n):
                if i not in answers.pending:
                    entry.prepared.envelopes[i] = b""
            entry.save(self.manifest)
        entry.release()

    def finish(self, done: Sequence[tuple[PendingBatch, NodeAnswers[BulkAck]]],
               result: BatchResult[NodeAnswers[BulkAck]]) -> None:
        for entry, answers in done:
            if self.still_owed(answers):
                result.pending_path = entry.path.parent


def _for_user(message: str, pb: PreparedBatch) -> str:
    """A node names a record by its index in the batch; the user knows it by its CSV line."""
    def line(m: re.Match[str]) -> str:
        r = int(m.group(1))
        if 0 <= r < len(pb.lines) and pb.lines[r] is not None:
            return f"line {pb.lines[r]}"
        return f"submission {pb.ids[r]}" if 0 <= r < len(pb.ids) else m.group(0)
    return re.sub(r"record (\d+) of the batch", line, message)


def fsync_dir(path: Path) -> None:
    """fsync a directory (its entries' creation, renaming and removal)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = ["DEFAULT_BATCH_SIZE", "Stage", "StageTimes", "PreparedBatch", "PendingBatch", "SettledBatch", "prepare_batch",
           "share_rows", "read_pending_batch", "read_settled", "settle_batch"]
