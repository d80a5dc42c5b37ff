"""A bulk run: every valid row of an HR file, prepared in batches on every core, delivered, and
resumed after an interrupt, a crash or a node that was down.

Contracts:

- Before any batch is prepared, the run's pending directory holds its record
  (:class:`~contributor.pending.BulkRun`: the file's path and SHA-256, how it was read, the row
  count, a digest of the rows' tokens, the batch size), so that at any later moment each batch
  of the run is in exactly one state: not prepared (no file), owed to some nodes (its pending
  file), or settled (its done file: delivered, or refused for good).
- A resume delivers every owed batch with the same ids and bytes, prepares the batches that were
  never prepared (from the same file, checked by its SHA-256, and the same tokens, checked by
  their digest), and otherwise reports how many rows were never prepared (:class:`Unprepared`):
  it never counts a run as finished while a row of it was neither sent nor reported.
- Ctrl-C (SIGINT) while preparing or uploading lets the batches under way finish writing their
  files, starts no other, and raises :class:`Interrupted` naming the pending directory.  Worker
  processes ignore SIGINT; the parent alone decides.
- A run's pending directory is removed once every batch is settled.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from protocol.commitment import MAX_BATCH
from protocol.errors import InvalidToken, SurveyError
from protocol.manifest import Manifest
from protocol.tokens import token_hash
from protocol.wire import BulkAck, bulk_batch_limit

from .bulk import (DEFAULT_BATCH_SIZE, DONE_SUFFIX, BatchUploads, PendingBatch, SettledBatch, Stage, StageTimes,
                   batch_index, fsync_dir, pending_token_hashes, prepare_batch, read_pending_batch, read_settled)
from .delivery import BatchResult, NodeAnswers
from .hrfile import CsvRow, ReadOptions, file_sha256, read_csv_records
from .nodes import NodeClient, mark_unreachable
from .pending import (BulkRun, check_no_pending, read_bulk_run, run_stamp, tokens_digest, unfinished_runs,
                      write_bulk_run)

Result = BatchResult[NodeAnswers[BulkAck]]
Progress = Callable[[int], None]


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a bulk run; ``pending_dir`` holds everything needed to finish it."""

    def __init__(self, pending_dir: Path) -> None:
        super().__init__(str(pending_dir))
        self.pending_dir = pending_dir


@dataclass(frozen=True)
class Source:
    """The HR file a run's rows come from, as the run records it."""

    path: Path
    sha256: str
    options: ReadOptions

    @staticmethod
    def of(path: Path, options: ReadOptions) -> Source:
        return Source(path.resolve(), file_sha256(path), options)


@dataclass(frozen=True)
class Unprepared:
    """Rows of a run that were never prepared and could not be now: how many, and why."""

    rows: int
    reason: str


@dataclass
class PendingRun:
    """A run's pending directory as found: its record (None for a directory written without one),
    the batches still owed and those settled."""

    directory: Path
    manifest: Manifest
    run: BulkRun | None
    owed: list[PendingBatch] = field(default_factory=list)
    settled: list[SettledBatch] = field(default_factory=list)

    def missing(self) -> list[int]:
        """The batches of the run that were never prepared."""
        if self.run is None:
            return []
        present = {batch_index(e.path) for e in self.owed} | {s.index for s in self.settled}
        return [b for b in range(self.run.batches) if b not in present]


def load_pending_dir(directory: Path) -> PendingRun:
    """A run's pending directory: its record, owed batches (sealed blocks left on disk until
    upload) and settled ones (raises :class:`SurveyError`)."""
    record = read_bulk_run(directory)
    settled = [read_settled(p) for p in sorted(directory.glob(f"batch-*{DONE_SUFFIX}"))]
    done = {s.index for s in settled}
    owed, manifests = [], [] if record is None else [record[0]]
    for f in sorted(directory.glob("batch-*.json")):
        if batch_index(f) in done:
            continue  # its done file was written; the pending file's removal did not happen
        m, b = read_pending_batch(f)
        b.release()  # read back batch by batch at upload time
        owed.append(b)
        manifests.append(m)
    if not manifests:
        raise SurveyError(f"{directory} holds no pending batch: nothing left to deliver")
    if any(m.hash_hex() != manifests[0].hash_hex() for m in manifests):
        raise SurveyError(f"{directory} mixes batches of different surveys")
    return PendingRun(directory, manifests[0], None if record is None else record[1], owed, settled)


# ------------------------------------------------------------------------------------------------
# Preparing batches: every core, interruptible


_Job = tuple[Manifest, list[CsvRow], list[str], bool, str, Path]


@dataclass(frozen=True)
class _Saved:
    """A worker's answer: the batch's entry (sealed blocks on disk only) and its stage times."""

    entry: PendingBatch
    times: StageTimes


def _prepare_and_save(job: _Job) -> _Saved:
    """Prepare one batch and write its pending file (in a worker process); the sealed blocks are
    dropped from memory once written."""
    manifest, rows, hashes, replace, receipt, path = job
    times = StageTimes()
    pb = prepare_batch(manifest, [r.record for r in rows], hashes, [r.line for r in rows], replace=replace,
                       times=times)
    e = PendingBatch(pb, list(range(manifest.n)), {}, receipt, path)
    with times.measure(Stage.WRITE):
        e.save(manifest)
    e.release()
    return _Saved(e, times)


def _worker_start() -> None:
    """In each worker: ignore SIGINT (the parent decides), then take signals again."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def default_workers() -> int:
    """Worker processes for preparing batches: one per core and one more, at most four.  Each
    worker waits for its pending file's fsync after every batch (about a quarter of a complete
    survey's batch time on this machine's disk); the extra one keeps the cores busy meanwhile."""
    return min((os.cpu_count() or 1) + 1, 4)


def prepare_batches(manifest: Manifest, run: BulkRun, batches: Sequence[int], rows: Sequence[CsvRow],
                    hashes: Sequence[str], directory: Path, progress: Progress | None = None, *,
                    workers: int | None = None, times: StageTimes | None = None) -> list[PendingBatch]:
    """Prepare and save the given batches of ``run`` (``rows`` and ``hashes``: every row of the
    run), on ``workers`` processes (default :func:`default_workers`; 1: in this process), adding
    each stage's seconds to ``times`` if given; in batch order.  Raises :class:`Interrupted` on
    Ctrl-C once the batches under way are written."""
    jobs: list[_Job] = [(manifest, list(rows[r.start: r.stop]), list(hashes[r.start: r.stop]), run.replace,
                         run.receipt, directory / f"batch-{b:06d}.json") for b in batches for r in [run.batch_rows(b)]]
    done: dict[int, PendingBatch] = {}
    total = times if times is not None else StageTimes()
    workers = min(len(jobs), default_workers() if workers is None else workers)
    try:
        if workers <= 1:
            for job in jobs:
                saved = _prepare_and_save(job)
                done[batch_index(job[5])] = saved.entry
                total.add(saved.times)
                if progress is not None:
                    progress(len(job[1]))
        else:
            _prepare_in_pool(jobs, workers, done, total, progress)
    except KeyboardInterrupt:
        raise Interrupted(directory) from None
    fsync_dir(directory)
    return [done[b] for b in sorted(done)]


def _prepare_in_pool(jobs: list[_Job], workers: int, done: dict[int, PendingBatch], times: StageTimes,
                     progress: Progress | None) -> None:
    # SIGINT is blocked while the workers are forked, so that none can die of it before it
    # ignores it; a Ctrl-C meanwhile is delivered to this process when unblocked below.
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_worker_start)
    try:
        futures: dict[Future[_Saved], int] = {pool.submit(_prepare_and_save, job): len(job[1]) for job in jobs}
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
        for fut in as_completed(futures):
            saved = fut.result()
            done[batch_index(saved.entry.path)] = saved.entry
            times.add(saved.times)
            if progress is not None:
                progress(futures[fut])
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
        pool.shutdown(wait=True, cancel_futures=True)


# ------------------------------------------------------------------------------------------------
# A whole file


def _check_tokens(manifest: Manifest, rows: Sequence[CsvRow], tokens: Sequence[str], receipt_dir: Path,
                  replace: bool) -> list[str]:
    """The rows' token hashes, refusing tokens that repeat or belong to an unfinished upload."""
    if len(tokens) < len(rows):
        raise InvalidToken(f"{len(tokens)} token(s) for {len(rows)} row(s); every row needs its own token")
    hashes = [token_hash(t) for t in tokens[: len(rows)]]
    if len(set(hashes)) != len(hashes):
        raise InvalidToken("the tokens file repeats a token; each row needs its own token")
    check_no_pending(receipt_dir, manifest, hashes, replace)
    earlier = unfinished_runs(receipt_dir, manifest.survey_id, tokens_digest(hashes))
    in_bulk = pending_token_hashes(receipt_dir, manifest.survey_id)
    clash = [str(d) for d in earlier] + sorted({str(in_bulk[h].parent) for h in hashes if h in in_bulk})
    if clash:
        raise SurveyError(f"these tokens have an unfinished earlier bulk submission; finish it with: salary-submit "
                          f"--resume {clash[0]} --tokens FILE")
    return hashes


def submit_csv_bulk(manifest: Manifest, rows: Sequence[CsvRow], tokens: Sequence[str],
                    nodes: Sequence[NodeClient], *, receipt_dir: Path, replace: bool = False,
                    batch_size: int = DEFAULT_BATCH_SIZE, concurrency: int = 4,
                    unreachable: Mapping[int, str] | None = None, source: Source | None = None,
                    progress: Progress | None = None, prepare_progress: Progress | None = None,
                    prepared: Callable[[int, float], None] | None = None) -> Result:
    """Submit many validated rows in batches of ``batch_size``; row k uses ``tokens[k]``.

    Writes the run's record (with ``source``, the file the rows were read from, so that a resume
    can prepare rows an interrupt left unprepared), prepares every batch (``prepared(records,
    seconds)`` is called at the end), then uploads.  Never raises for node answers (see the
    result); raises :class:`Interrupted` on Ctrl-C.
    """
    if not 1 <= batch_size <= MAX_BATCH:
        raise SurveyError(f"--batch-size must be between 1 and {MAX_BATCH}")
    # A wide survey (job categories x salary bands) has long share vectors: keep each request
    # under the nodes' body limit.
    batch_size = min(batch_size, bulk_batch_limit(manifest.vector_length(), manifest.n))
    receipt_dir.mkdir(parents=True, exist_ok=True)
    hashes = _check_tokens(manifest, rows, tokens, receipt_dir, replace)
    stamp = run_stamp()
    pending_dir = receipt_dir / f"pending-{manifest.survey_id}-bulk-{stamp}"
    pending_dir.mkdir()
    run = BulkRun(source=str(source.path) if source else "", source_sha256=source.sha256 if source else "",
                  read_options=source.options.to_json() if source else {}, rows=len(rows),
                  tokens_sha256=tokens_digest(hashes), batch_size=batch_size, replace=replace,
                  receipt=str(receipt_dir / f"receipts-{manifest.survey_id}-{stamp}.jsonl"))
    write_bulk_run(pending_dir, manifest, run)
    started = time.perf_counter()
    entries = prepare_batches(manifest, run, range(run.batches), rows, hashes, pending_dir, prepare_progress)
    if prepared is not None:
        prepared(len(rows), time.perf_counter() - started)
    mark_unreachable(nodes, unreachable)
    pending = PendingRun(pending_dir, manifest, run, entries)
    return _deliver(pending, dict(zip(hashes, tokens)), nodes, concurrency, progress)


def _deliver(pending: PendingRun, tokens: Mapping[str, str], nodes: Sequence[NodeClient], concurrency: int,
             progress: Progress | None) -> Result:
    """Upload the owed batches; remove the pending directory once every batch is settled."""
    try:
        result = BatchUploads(pending.manifest, nodes, tokens).run(pending.owed, concurrency, progress)
    except KeyboardInterrupt:
        raise Interrupted(pending.directory) from None
    directory = pending.directory
    if not list(directory.glob("batch-*.json")) and not load_missing(pending):
        shutil.rmtree(directory, ignore_errors=True)
    receipts = {e.receipt for e in pending.owed} | ({pending.run.receipt} if pending.run else set())
    existing = [Path(r) for r in receipts if Path(r).exists()]
    result.receipts_path = existing[0] if len(existing) == 1 else None
    return result


def load_missing(pending: PendingRun) -> list[int]:
    """The run's batches with no file at all (never prepared), looked up on disk again."""
    if pending.run is None:
        return []
    present = {batch_index(p) for p in pending.directory.glob("batch-*") if p.suffix in (".json", DONE_SUFFIX)}
    return [b for b in range(pending.run.batches) if b not in present]


# ------------------------------------------------------------------------------------------------
# Resume


def _unpreparable(run: BulkRun, tokens: Sequence[str]) -> str | None:
    """Why the run's missing rows cannot be prepared now (None: they can)."""
    if not run.source:
        return "the run did not record the file its rows came from"
    path = Path(run.source)
    if not path.is_file():
        return f"{path} is no longer there"
    if file_sha256(path) != run.source_sha256:
        return f"{path} has changed since the run began"
    if len(tokens) < run.rows or tokens_digest([token_hash(t) for t in tokens[: run.rows]]) != run.tokens_sha256:
        return "the tokens file is not the one the run used"
    return None


def resume_bulk(pending: PendingRun, tokens: Sequence[str], nodes: Sequence[NodeClient], *,
                concurrency: int = 4, progress: Progress | None = None, prepare_progress: Progress | None = None,
                read_progress: Progress | None = None) -> tuple[Result, Unprepared | None]:
    """Finish a bulk run: prepare its never-prepared batches when the file and tokens allow it,
    deliver every owed batch (same ids and bytes), and count the run's settled batches in the
    result.  ``tokens`` must include every owed record's token (matched by SHA-256).  Returns
    the result and the rows that could not be prepared (None when none)."""
    by_hash = {token_hash(t): t for t in tokens if t}
    missing = pending.missing()
    unprepared: Unprepared | None = None
    if missing and pending.run is not None:
        run = pending.run
        why = _unpreparable(run, tokens)
        rows: list[CsvRow] = []
        if why is None:
            rows = read_csv_records(Path(run.source), pending.manifest, ReadOptions.parse(run.read_options),
                                    read_progress)
            if len(rows) != run.rows:
                why = f"{run.source} now reads as {len(rows)} rows, the run had {run.rows}"
        if why is None:
            hashes = [token_hash(t) for t in tokens[: run.rows]]
            pending.owed += prepare_batches(pending.manifest, run, missing, rows, hashes, pending.directory,
                                            prepare_progress)
        else:
            unprepared = Unprepared(sum(len(run.batch_rows(b)) for b in missing), why)
    absent = sum(h not in by_hash for e in pending.owed for h in e.prepared.token_hashes)
    if absent:
        raise InvalidToken(f"{absent} pending record(s) have no matching token; give the run's --tokens file")
    result = _deliver(pending, by_hash, nodes, concurrency, progress)
    for s in pending.settled:
        if s.reason:
            result.failed += [(line, sid, s.reason) for line, sid in zip(s.lines, s.ids)]
        else:
            result.submitted += s.records
    return result, unprepared


__all__ = ["Interrupted", "Source", "Unprepared", "PendingRun", "load_pending_dir", "prepare_batches",
           "submit_csv_bulk", "resume_bulk"]
