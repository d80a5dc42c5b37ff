"""Pending files and receipts: what the contributor keeps on disk between an upload and its
last acknowledgement.

Contracts:

- A pending file holds the survey's manifest and every prepared envelope still owed to some
  node; it is written (atomically and durably: a temporary file, fsync, rename) *before* the
  first upload, so a crash or an unreachable node never forces a new submission id, and
  ``--resume`` re-sends the same ids and bytes.  Its manifest is checked against its hash on
  reading.
- No file holds a participation token: pending files and receipts keep its SHA-256 only, and
  ``--resume`` asks for the token again.  Receipts hold no salary, gender or share either.
- A token with an unfinished earlier submission gets no new one (the nodes would end up holding
  different submissions for it) unless the new one replaces it, which drops the stale pending
  entry so that resuming it cannot undo the replacement.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from protocol.errors import InvalidManifest, SurveyError
from protocol.manifest import Manifest, format_time, manifest_from_json
from protocol.wire import SubmissionAck, b64d, b64e

from .submission import PreparedSubmission, UploadOutcome

PENDING_FORMAT = "salary-submit/pending/v2"  # v2: with the submission certificate
RECEIPT_FORMAT = "salary-submit/receipt/v1"
DEFAULT_RECEIPT_DIR = "receipts"


def now() -> str:
    """The current UTC time as written in pending files and receipts."""
    return format_time(dt.datetime.now(dt.timezone.utc))


def run_stamp() -> str:
    """A UTC time stamp (to the microsecond) naming one run's receipt log and pending file(s)."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def write_atomic(path: Path, data: str) -> None:
    """Replace ``path`` with ``data`` atomically and durably (temporary file, fsync, rename)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _ack_json(manifest: Manifest, ack: SubmissionAck) -> dict[str, Any]:
    return {"node_index": ack.node_index, "node": manifest.nodes[ack.node_index].name, "status": ack.status,
            "envelope_sha256": ack.envelope_sha256, "stored_at": ack.stored_at,
            "replaced_submission_id": ack.replaced_submission_id}


def receipt_json(outcome: UploadOutcome, manifest: Manifest) -> dict[str, Any]:
    """The receipt for one submission (no salary, gender, share or token in it)."""
    d: dict[str, Any] = {
        "format": RECEIPT_FORMAT,
        "submission_id": outcome.prepared.submission_id,
        "survey_id": manifest.survey_id,
        "manifest_hash": manifest.hash_hex(),
        "replace": outcome.prepared.replace,
        "complete": outcome.complete,
        "acks": [_ack_json(manifest, outcome.acks[i]) for i in sorted(outcome.acks)],
        "pending_nodes": [manifest.nodes[i].name for i in sorted(outcome.pending)],
        "refused_by": {manifest.nodes[i].name: str(e) for i, e in sorted(outcome.rejected.items())},
        "written_at": now(),
    }
    if outcome.line is not None:
        d["line"] = outcome.line
    return d


@dataclass
class PendingEntry:
    """One submission with envelopes not yet acknowledged by some nodes."""

    prepared: PreparedSubmission
    token_sha256: str
    nodes: list[int]  # node indices still to deliver to
    acks: dict[int, SubmissionAck]
    receipt: str  # receipt file (.json: rewritten) or batch receipt log (.jsonl: appended)
    line: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The entry as the pending file holds it: the envelopes still owed, never the token."""
        return {
            "submission_id": self.prepared.submission_id,
            "token_sha256": self.token_sha256,
            "replace": self.prepared.replace,
            "line": self.line,
            "receipt": self.receipt,
            "envelopes": {str(i): b64e(self.prepared.envelopes[i]) for i in self.nodes},
            "certificate": b64e(self.prepared.certificate),
            "acks": [asdict(ack) for _, ack in sorted(self.acks.items())],
        }


def write_pending(path: Path, manifest: Manifest, entries: Sequence[PendingEntry]) -> None:
    """Write (atomically) the pending file: the manifest and the prepared envelopes still to
    deliver, with the token's SHA-256 only."""
    doc = {"format": PENDING_FORMAT, "survey_id": manifest.survey_id, "manifest_hash": manifest.hash_hex(),
           "manifest": json.loads(manifest.canonical_bytes()), "written_at": now(),
           "submissions": [e.to_json() for e in entries]}
    write_atomic(path, json.dumps(doc, indent=1) + "\n")


def _read_pending_doc(path: Path, fmt: str, what: str) -> tuple[dict[str, Any], Manifest]:
    """A pending document of format ``fmt`` and the manifest it carries, checked against its hash
    (raises :class:`SurveyError`; ``what`` names the kind of file in messages)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SurveyError(f"cannot read pending file {path}: {exc.strerror}") from None
    except ValueError:
        raise SurveyError(f"{path} is not a salary-submit {what}") from None
    return doc, check_pending_doc(doc, path, fmt, what)


def check_pending_doc(doc: Any, path: Path, fmt: str, what: str) -> Manifest:
    """The manifest of a parsed pending document of format ``fmt``, checked against its hash."""
    if not isinstance(doc, dict) or doc.get("format") != fmt:
        raise SurveyError(f"{path} is not a salary-submit {what}")
    mdoc = doc.get("manifest")
    if not isinstance(mdoc, dict):
        raise SurveyError(f"pending file {path} is damaged")
    manifest = manifest_from_json(mdoc)
    if manifest.hash_hex() != doc.get("manifest_hash"):
        raise InvalidManifest(f"pending file {path}: its manifest does not match its manifest hash")
    return manifest


def read_pending(path: Path) -> tuple[Manifest, list[PendingEntry]]:
    """Parse a pending file written by :func:`write_pending` (raises :class:`SurveyError`)."""
    doc, manifest = _read_pending_doc(path, PENDING_FORMAT, "pending file")
    entries = []
    try:
        for s in doc["submissions"]:
            sid = s["submission_id"]
            if not re.fullmatch(r"[0-9a-f]{32}", sid):
                raise ValueError("bad submission id")
            envs: list[bytes] = [b""] * manifest.n
            idx = []
            for k, v in s["envelopes"].items():
                i = int(k)
                if not 0 <= i < manifest.n:
                    raise ValueError("bad node index")
                envs[i] = b64d(v, "envelope")
                idx.append(i)
            acks = {}
            for a in s.get("acks", []):
                ack = SubmissionAck.parse(a)
                acks[ack.node_index] = ack
            prepared = PreparedSubmission(manifest.survey_id, manifest.hash_hex(), sid, bool(s["replace"]), tuple(envs),
                                          b64d(s["certificate"], "certificate"))
            entries.append(PendingEntry(prepared, str(s["token_sha256"]), sorted(idx), acks, str(s["receipt"]),
                                        s.get("line")))
    except (KeyError, TypeError, ValueError, SurveyError):
        raise SurveyError(f"pending file {path} is damaged") from None
    return manifest, entries


def find_pending_for_tokens(receipt_dir: Path, survey_id: str, token_hashes: Iterable[str]) -> dict[str, Path]:
    """``{token_sha256: pending file}`` for the given tokens' unfinished submissions."""
    wanted = set(token_hashes)
    found: dict[str, Path] = {}
    if not receipt_dir.is_dir():
        return found
    for path in sorted(receipt_dir.glob("pending-*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(doc, dict) or doc.get("survey_id") != survey_id:
            continue
        for s in doc.get("submissions", []):
            th = s.get("token_sha256") if isinstance(s, dict) else None
            if th in wanted:
                found.setdefault(th, path)
    return found


def drop_pending_for_tokens(files: Iterable[Path], token_hashes: Iterable[str]) -> None:
    """Remove the given tokens' entries from pending files (a replacement supersedes them, and
    resuming them later could undo the replacement); delete files left empty."""
    hashes = set(token_hashes)
    for path in set(files):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        doc["submissions"] = [s for s in doc.get("submissions", []) if s.get("token_sha256") not in hashes]
        if doc["submissions"]:
            write_atomic(path, json.dumps(doc, indent=1) + "\n")
        else:
            path.unlink(missing_ok=True)


def check_no_pending(receipt_dir: Path, manifest: Manifest, hashes: Sequence[str], replace: bool) -> list[Path]:
    """Refuse to start a new submission for a token whose earlier one is still pending (that
    would leave the nodes holding different submissions for it), unless ``replace``; returns
    the pending files the new submissions supersede (for :func:`drop_pending_for_tokens`)."""
    found = find_pending_for_tokens(receipt_dir, manifest.survey_id, hashes)
    if found and not replace:
        files = sorted(set(found.values()))
        what = "this token has" if len(hashes) == 1 else f"{len(found)} of these tokens have"
        raise SurveyError(f"{what} an unfinished earlier submission; finish it with: salary-submit --resume "
                          + " / ".join(str(f) for f in files) + " (or submit with --replace to supersede it)")
    return sorted(set(found.values()))


# ------------------------------------------------------------------------------------------------
# The record of a bulk run: which rows of which file its pending directory covers

BULK_RUN_FORMAT = "salary-submit/bulk-run/v1"
BULK_RUN_FILE = "run.json"


@dataclass(frozen=True)
class BulkRun:
    """What one bulk run covers, written to its pending directory before any batch is prepared:
    the HR file (absolute path, SHA-256 and how it was read; "" when the rows did not come from a
    file), its number of valid rows, a SHA-256 over the rows' token hashes in order, and how the
    rows are cut into batches (batch b holds rows ``b * batch_size`` onwards).  A resume compares
    it with the batch files present, so no row goes unsent without being reported."""

    source: str
    source_sha256: str
    read_options: dict[str, Any]
    rows: int
    tokens_sha256: str
    batch_size: int
    replace: bool
    receipt: str

    @property
    def batches(self) -> int:
        return -(-self.rows // self.batch_size)

    def batch_rows(self, b: int) -> range:
        """Row indices (0-based, among the file's valid rows) of batch ``b``."""
        return range(b * self.batch_size, min(self.rows, (b + 1) * self.batch_size))


def tokens_digest(token_hashes: Sequence[str]) -> str:
    """SHA-256 over the rows' token hashes in order (a run's tokens without holding any)."""
    import hashlib

    return hashlib.sha256("\n".join(token_hashes).encode()).hexdigest()


def write_bulk_run(directory: Path, manifest: Manifest, run: BulkRun) -> None:
    """Write ``run.json`` (atomically and durably) with the survey's manifest."""
    doc = {"format": BULK_RUN_FORMAT, "survey_id": manifest.survey_id, "manifest_hash": manifest.hash_hex(),
           "manifest": json.loads(manifest.canonical_bytes()), "written_at": now(), **asdict(run)}
    write_atomic(directory / BULK_RUN_FILE, json.dumps(doc, indent=1, ensure_ascii=False) + "\n")


def read_bulk_run(directory: Path) -> tuple[Manifest, BulkRun] | None:
    """The run record of a pending directory; None when it has none (raises :class:`SurveyError`
    when it is damaged)."""
    path = directory / BULK_RUN_FILE
    if not path.exists():
        return None
    doc, manifest = _read_pending_doc(path, BULK_RUN_FORMAT, "bulk run record")
    try:
        run = BulkRun(source=str(doc["source"]), source_sha256=str(doc["source_sha256"]),
                      read_options=dict(doc["read_options"]), rows=int(doc["rows"]),
                      tokens_sha256=str(doc["tokens_sha256"]), batch_size=int(doc["batch_size"]),
                      replace=bool(doc["replace"]), receipt=str(doc["receipt"]))
        if run.rows < 0 or run.batch_size < 1:
            raise ValueError("bad sizes")
    except (KeyError, TypeError, ValueError):
        raise SurveyError(f"bulk run record {path} is damaged") from None
    return manifest, run


def unfinished_runs(receipt_dir: Path, survey_id: str, tokens_sha256: str) -> list[Path]:
    """Pending directories of unfinished bulk runs of this survey over the same tokens."""
    out = []
    for path in sorted(receipt_dir.glob(f"pending-*/{BULK_RUN_FILE}")) if receipt_dir.is_dir() else []:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and doc.get("survey_id") == survey_id and doc.get("tokens_sha256") == tokens_sha256:
            out.append(path.parent)
    return out
