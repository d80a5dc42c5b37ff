"""Submitting: one record to every node, or a CSV file one request per record and node, and
resuming what a node did not get.

Contracts: a submission's pending file is written before its first upload and deleted once
every node acknowledged, so an unreachable node or a crash is finished with ``--resume`` under
the same submission id and bytes; the participation token is sent only to the nodes (over
pinned TLS) and never written or printed; uploads never raise for a node's answer: what each
node said is in the result.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from protocol.encoding import Record
from protocol.errors import InvalidToken, SurveyError
from protocol.manifest import Manifest
from protocol.tokens import token_hash
from protocol.wire import MAX_TOKEN_CHARS, SubmissionAck, SubmissionUpload, b64e

from .delivery import BatchResult, Delivery, send_to_nodes
from .hrfile import CsvRow
from .nodes import (
    NodeClient,
    RetryPolicy,
    check_manifest_served,
    close_nodes,
    connect_nodes,
    mark_unreachable,
    node_label,
)
from .pending import (
    PendingEntry,
    check_no_pending,
    drop_pending_for_tokens,
    read_pending,
    receipt_json,
    run_stamp,
    write_atomic,
    write_pending,
)
from .submission import PreparedSubmission, UploadOutcome, outcome_error, prepare_submission


def upload_submission(prepared: PreparedSubmission, token: str, nodes: Sequence[NodeClient], *,
                      only: Iterable[int] | None = None, parallel: bool = True) -> UploadOutcome:
    """POST ``prepared.envelopes[i]`` to node i for every node (or the ones in ``only``).

    Transient failures are retried by each :class:`NodeClient`; a node that stays unreachable
    (or was already marked down) ends up in ``outcome.pending``, a refusal in
    ``outcome.rejected``.  Never raises for node errors.  Repeating this call re-sends the same
    submission id and the same bytes, which nodes acknowledge as "duplicate".
    """
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise InvalidToken("the participation token is missing or too long")
    targets = sorted(set(only)) if only is not None else list(range(len(nodes)))
    if any(not prepared.envelopes[i] for i in targets):
        raise SurveyError(f"submission {prepared.submission_id}: no prepared envelope for some node")
    outcome = UploadOutcome(prepared=prepared)

    def send(nd: NodeClient) -> SubmissionAck:
        upload = SubmissionUpload(prepared.submission_id, token, b64e(prepared.envelopes[nd.index]),
                                  b64e(prepared.certificate), prepared.replace)
        return nd.submit(upload, prepared.envelope_sha256(nd.index))

    send_to_nodes(nodes, targets, send, outcome, parallel=parallel)
    return outcome


@dataclass
class SubmissionResult:
    """Result of :func:`submit_record` / one entry of :func:`resume_pending`."""

    outcome: UploadOutcome
    receipt_path: Path | None
    pending_path: Path | None
    error: SurveyError | None

    @property
    def submission_id(self) -> str:
        return self.outcome.prepared.submission_id


def submit_record(manifest: Manifest, record: Record, token: str, nodes: Sequence[NodeClient], *,
                  receipt_dir: Path, replace: bool = False,
                  unreachable: Mapping[int, str] | None = None) -> SubmissionResult:
    """Prepare, upload to every node and record one submission.

    ``nodes`` must already have passed :func:`verify_nodes_agree`; nodes listed in
    ``unreachable`` are not contacted (their envelopes go straight to the pending file).  The
    pending file (``receipt_dir/pending-<survey>-<id>.json``) is written before the first upload
    and removed once every node acknowledged.  A receipt (``receipt-<survey>-<id>.json``) is
    written whenever at least one node acknowledged.  Never raises for node answers: the
    problem is in ``result.error``.
    """
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise InvalidToken("the participation token is missing or too long")
    th = token_hash(token)
    receipt_dir.mkdir(parents=True, exist_ok=True)
    superseded = check_no_pending(receipt_dir, manifest, [th], replace)
    prepared = prepare_submission(manifest, record, replace=replace)
    sid = prepared.submission_id
    pending_path = receipt_dir / f"pending-{manifest.survey_id}-{sid}.json"
    receipt_path = receipt_dir / f"receipt-{manifest.survey_id}-{sid}.json"
    entry = PendingEntry(prepared, th, list(range(manifest.n)), {}, str(receipt_path))
    write_pending(pending_path, manifest, [entry])
    if superseded:
        drop_pending_for_tokens(superseded, [th])
    mark_unreachable(nodes, unreachable)
    outcome = upload_submission(prepared, token, nodes)
    return _finish_single(manifest, outcome, entry, pending_path, receipt_path)


def _finish_single(manifest: Manifest, outcome: UploadOutcome, entry: PendingEntry, pending_path: Path,
                   receipt_path: Path) -> SubmissionResult:
    """After one submission's upload: keep what is still owed in its pending file (or delete the
    file), rewrite its receipt if any node acknowledged, and describe what is left."""
    entry.acks.update(outcome.acks)
    outcome.acks = dict(entry.acks)
    kept_pending: Path | None = None
    if outcome.pending and not outcome.refused:
        entry.nodes = sorted(outcome.pending)
        write_pending(pending_path, manifest, [entry])
        kept_pending = pending_path
    else:
        pending_path.unlink(missing_ok=True)
    written: Path | None = None
    if outcome.acks:
        write_atomic(receipt_path, json.dumps(receipt_json(outcome, manifest), indent=1) + "\n")
        written = receipt_path
    return SubmissionResult(outcome, written, kept_pending, outcome_error(outcome, manifest, kept_pending))


class _RecordUploads(Delivery[PendingEntry, UploadOutcome]):
    """Per-record entries of one pending file: each goes to its nodes one after the other (the
    entries run in parallel), its receipt is a line of the run's log, and what is still owed is
    written back to the one pending file at the end (or the file deleted)."""

    def __init__(self, manifest: Manifest, nodes: Sequence[NodeClient], tokens: Mapping[str, str],
                 pending_path: Path) -> None:
        super().__init__(manifest, nodes, tokens)
        self.pending_path = pending_path

    def upload(self, entry: PendingEntry) -> UploadOutcome:
        out = upload_submission(entry.prepared, self.tokens[entry.token_sha256], self.nodes, only=entry.nodes,
                                parallel=False)
        out.line = entry.line
        entry.acks.update(out.acks)
        out.acks = dict(entry.acks)
        return out

    def receipt_lines(self, entry: PendingEntry, answers: UploadOutcome) -> str:
        return json.dumps(receipt_json(answers, self.manifest)) + "\n"

    def rows(self, entry: PendingEntry) -> list[tuple[int | None, str]]:
        return [(entry.line, entry.prepared.submission_id)]

    def still_owed(self, answers: UploadOutcome) -> bool:
        return bool(answers.pending) and not answers.refused

    def refusal(self, entry: PendingEntry, answers: UploadOutcome) -> str:
        return str(outcome_error(answers, self.manifest))

    def settle(self, entry: PendingEntry, answers: UploadOutcome) -> None:
        if self.still_owed(answers):
            entry.nodes = sorted(answers.pending)

    def finish(self, done: Sequence[tuple[PendingEntry, UploadOutcome]],
               result: BatchResult[UploadOutcome]) -> None:
        still = [entry for entry, answers in done if self.still_owed(answers)]
        if still:
            write_pending(self.pending_path, self.manifest, still)
            result.pending_path = self.pending_path
        else:
            self.pending_path.unlink(missing_ok=True)


def submit_csv(manifest: Manifest, rows: Sequence[CsvRow], tokens: Sequence[str], nodes: Sequence[NodeClient], *,
               receipt_dir: Path, replace: bool = False, concurrency: int = 8,
               unreachable: Mapping[int, str] | None = None,
               progress: Callable[[int], None] | None = None) -> BatchResult[UploadOutcome]:
    """Submit many validated rows; row k uses ``tokens[k]``.

    All rows are prepared and written to one pending file before the first upload; uploads run
    on ``concurrency`` threads over the shared keep-alive clients.  Receipts of acknowledged
    submissions are appended to ``receipt_dir/receipts-<survey>-<time>.jsonl``.  Rows whose
    upload some node still lacks stay in the pending file for :func:`resume_pending`.  Never
    raises for node answers; see the :class:`BatchResult`.
    """
    if len(tokens) < len(rows):
        raise InvalidToken(f"{len(tokens)} token(s) for {len(rows)} row(s); every row needs its own token")
    receipt_dir.mkdir(parents=True, exist_ok=True)
    hashes = [token_hash(t) for t in tokens[: len(rows)]]
    superseded = check_no_pending(receipt_dir, manifest, hashes, replace)
    stamp = run_stamp()
    receipts_path = receipt_dir / f"receipts-{manifest.survey_id}-{stamp}.jsonl"
    pending_path = receipt_dir / f"pending-{manifest.survey_id}-batch-{stamp}.json"
    entries = [PendingEntry(prepare_submission(manifest, r.record, replace=replace), h, list(range(manifest.n)), {},
                            str(receipts_path), r.line)
               for r, h in zip(rows, hashes)]
    write_pending(pending_path, manifest, entries)
    if superseded:
        drop_pending_for_tokens(superseded, hashes)
    mark_unreachable(nodes, unreachable)
    uploads = _RecordUploads(manifest, nodes, dict(zip(hashes, tokens)), pending_path)
    result = uploads.run(entries, concurrency, progress)
    result.receipts_path = receipts_path if receipts_path.exists() else None
    return result


def resume_pending(path: Path, tokens: Iterable[str], nodes: Sequence[NodeClient] | None = None, *,
                   manifest: Manifest | None = None, entries: list[PendingEntry] | None = None,
                   concurrency: int = 8, retry: RetryPolicy | None = None, timeout: float = 30.0,
                   progress: Callable[[int], None] | None = None) -> BatchResult[UploadOutcome]:
    """Finish the uploads recorded in a pending file with the *same* submission ids and
    envelope bytes.

    ``tokens`` must include the participation token of every entry (matched by SHA-256; the
    file never holds tokens).  Before sending, each node still owed an envelope must serve the
    pending file's manifest (:class:`InvalidManifest` otherwise); a node still unreachable keeps
    its entries pending.  The pending file is rewritten with what is left, or deleted.
    Receipts go where the original run put them (rewritten ``.json`` or appended ``.jsonl``).
    """
    if manifest is None or entries is None:
        manifest, entries = read_pending(path)
    by_hash = _tokens_for(entries, tokens)
    own = nodes is None
    if nodes is None:
        nodes = connect_nodes(manifest, retry=retry, timeout=timeout, max_connections=max(1, concurrency))
    try:
        check_manifest_served(manifest, nodes, sorted({i for e in entries for i in e.nodes}))
        if len(entries) == 1 and entries[0].receipt.endswith(".json"):
            return _resume_single(path, manifest, entries[0], by_hash[entries[0].token_sha256], nodes, progress)
        br = _RecordUploads(manifest, nodes, by_hash, path).run(entries, concurrency, progress)
        receipts = {Path(e.receipt) for e in entries}
        br.receipts_path = next(iter(receipts)) if len(receipts) == 1 else None
        return br
    finally:
        if own:
            close_nodes(nodes)


def _tokens_for(entries: Sequence[PendingEntry], tokens: Iterable[str]) -> dict[str, str]:
    """``{token_sha256: token}`` of the given tokens; :class:`InvalidToken` unless every entry's
    token is among them."""
    by_hash = {token_hash(t): t for t in tokens if t}
    missing = [e for e in entries if e.token_sha256 not in by_hash]
    if missing:
        if len(entries) == 1:
            raise InvalidToken("the token you gave does not belong to this pending submission"
                               if by_hash else
                               "this pending submission needs its participation token again: give --token,"
                               " --token-file or set SALARY_TOKEN")
        raise InvalidToken(f"{len(missing)} of the {len(entries)} pending submissions have no matching token;"
                           " give the batch's --tokens file")
    return by_hash


def _resume_single(path: Path, manifest: Manifest, entry: PendingEntry, token: str, nodes: Sequence[NodeClient],
                   progress: Callable[[int], None] | None) -> BatchResult[UploadOutcome]:
    """Resume the pending file of one :func:`submit_record` (its receipt is rewritten, not
    appended to), as a one-entry :class:`BatchResult`."""
    out = upload_submission(entry.prepared, token, nodes, only=entry.nodes)
    res = _finish_single(manifest, out, entry, path, Path(entry.receipt))
    if progress is not None:
        progress(1)
    br = BatchResult(outcomes=[res.outcome], receipts_path=res.receipt_path, pending_path=res.pending_path)
    if res.outcome.complete:
        br.submitted = 1
    else:
        if res.outcome.pending and not res.outcome.refused:
            br.pending.append((entry.line, entry.prepared.submission_id,
                               ", ".join(node_label(manifest, i) for i in sorted(res.outcome.pending))))
        if res.outcome.rejected:
            br.failed.append((entry.line, entry.prepared.submission_id, str(res.error)))
    return br
