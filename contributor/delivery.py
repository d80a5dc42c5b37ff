"""The upload loop shared by per-record and batch delivery.

An *entry* is something prepared and written to a pending file before its first upload: one
record's envelopes (:mod:`contributor.submit`) or one batch's sealed blocks
(:mod:`contributor.bulk`).  :meth:`Delivery.run` sends every entry, on a pool of threads, to each
node it still owes, and for each entry records what the nodes answered (:class:`NodeAnswers`),
appends its receipt lines, brings its pending state up to date, and sums everything up in a
:class:`BatchResult`.  What differs between the two kinds (the request, the receipt lines, the
pending files, when an entry counts as still owed) is in their :class:`Delivery` subclasses.

Contracts: an entry is only ever re-sent with the same ids and bytes, so a node that already
stored it answers "duplicate"; a node that stays unreachable is marked down and not retried for
the rest of the run (its envelopes stay pending); receipt lines are appended without an fsync
per line and every receipt file is synced once the run ends (until then the pending files,
written durably before the first upload, still hold every entry, and a resume rewrites the
receipts).
"""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from protocol.errors import NodeUnreachable, SurveyError
from protocol.manifest import Manifest

from .nodes import NodeClient, down_reason, node_label

AckT = TypeVar("AckT")


@dataclass
class NodeAnswers(Generic[AckT]):
    """What the nodes said about one entry: ``acks`` (this run's and earlier runs'),
    ``pending`` (node -> why it was not reached: transient, resumable) and ``rejected``
    (node -> its refusal: permanent)."""

    acks: dict[int, AckT] = field(default_factory=dict)
    pending: dict[int, str] = field(default_factory=dict)
    rejected: dict[int, SurveyError] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """Nothing pending and nothing refused."""
        return not self.pending and not self.rejected


def send_to_nodes(nodes: Sequence[NodeClient], targets: Sequence[int], send: Callable[[NodeClient], AckT],
                  answers: NodeAnswers[AckT], *, parallel: bool) -> None:
    """Call ``send`` for each node in ``targets`` (in parallel threads if ``parallel``) and file
    its answer in ``answers``: an acknowledgement, a refusal (:class:`SurveyError`), or pending
    when the node is down or stays unreachable through its retries (it is then marked down).
    Never raises for node answers."""
    lock = threading.Lock()

    def one(i: int) -> None:
        nd = nodes[i]
        if nd.down is not None:
            with lock:
                answers.pending[i] = nd.down
            return
        try:
            ack = send(nd)
        except NodeUnreachable as exc:
            nd.down = down_reason(exc)
            with lock:
                answers.pending[i] = nd.down
        except SurveyError as exc:
            with lock:
                answers.rejected[i] = exc
        else:
            with lock:
                answers.acks[i] = ack

    if parallel and len(targets) > 1:
        with ThreadPoolExecutor(max_workers=len(targets)) as pool:
            list(pool.map(one, targets))
    else:
        for i in targets:
            one(i)


AnswersT = TypeVar("AnswersT", bound="NodeAnswers[Any]")


@dataclass
class BatchResult(Generic[AnswersT]):
    """Summary of a run over many entries (a CSV submit, a bulk submit or a resume)."""

    submitted: int = 0
    failed: list[tuple[int | None, str, str]] = field(default_factory=list)  # (line, submission id, reason)
    pending: list[tuple[int | None, str, str]] = field(default_factory=list)  # (line, submission id, nodes)
    receipts_path: Path | None = None
    pending_path: Path | None = None
    outcomes: list[AnswersT] = field(default_factory=list)  # per entry, in order

    @property
    def ok(self) -> bool:
        return not self.failed and not self.pending


class Entry(Protocol):
    """What the loop needs of an entry: where its receipt lines go."""

    receipt: str


EntryT = TypeVar("EntryT", bound=Entry)


class Delivery(ABC, Generic[EntryT, AnswersT]):
    """One kind of entry's delivery to ``nodes``; ``tokens`` maps a token's SHA-256 to the token
    (pending files hold hashes only)."""

    def __init__(self, manifest: Manifest, nodes: Sequence[NodeClient], tokens: Mapping[str, str]) -> None:
        self.manifest = manifest
        self.nodes = nodes
        self.tokens = tokens

    @abstractmethod
    def upload(self, entry: EntryT) -> AnswersT:
        """Send the entry to every node it still owes (with :func:`send_to_nodes`); the answers
        include the entry's earlier acknowledgements."""

    @abstractmethod
    def receipt_lines(self, entry: EntryT, answers: AnswersT) -> str:
        """The lines to append to the entry's receipt log (called only if some node acknowledged)."""

    @abstractmethod
    def rows(self, entry: EntryT) -> list[tuple[int | None, str]]:
        """``(CSV line, submission id)`` of every record of the entry."""

    @abstractmethod
    def still_owed(self, answers: AnswersT) -> bool:
        """Whether the entry is reported pending (to finish with ``--resume``)."""

    @abstractmethod
    def refusal(self, entry: EntryT, answers: AnswersT) -> str:
        """The reason reported for each record of an entry some node refused."""

    def settle(self, entry: EntryT, answers: AnswersT) -> None:
        """After the entry's upload and receipt: bring its pending state up to date."""

    def finish(self, done: Sequence[tuple[EntryT, AnswersT]], result: BatchResult[AnswersT]) -> None:
        """After every entry: write or delete what remains pending, set ``result.pending_path``."""

    def run(self, entries: Sequence[EntryT], concurrency: int,
            progress: Callable[[int], None] | None = None) -> BatchResult[AnswersT]:
        """Deliver every entry (``concurrency`` at a time); ``progress`` is called with each
        entry's number of records once it is done.  Never raises for node answers."""
        lock = threading.Lock()

        def work(entry: EntryT) -> AnswersT:
            answers = self.upload(entry)
            if answers.acks:
                lines = self.receipt_lines(entry, answers)
                with lock:
                    append_line(Path(entry.receipt), lines)
            self.settle(entry, answers)
            if progress is not None:
                progress(len(self.rows(entry)))
            return answers

        pool = ThreadPoolExecutor(max_workers=max(1, concurrency))
        try:
            done = list(zip(entries, pool.map(work, entries)))
        finally:  # on Ctrl-C: the entries under way finish and settle, no other starts
            pool.shutdown(wait=True, cancel_futures=True)
        for receipt in {e.receipt for e in entries}:
            sync_file(Path(receipt))
        result: BatchResult[AnswersT] = BatchResult()
        for entry, answers in done:
            self._tally(entry, answers, result)
        self.finish(done, result)
        return result

    def _tally(self, entry: EntryT, answers: AnswersT, result: BatchResult[AnswersT]) -> None:
        result.outcomes.append(answers)
        rows = self.rows(entry)
        if answers.complete:
            result.submitted += len(rows)
            return
        if self.still_owed(answers):
            where = ", ".join(node_label(self.manifest, i) for i in sorted(answers.pending))
            result.pending += [(line, sid, where) for line, sid in rows]
        if answers.rejected:
            why = self.refusal(entry, answers)
            result.failed += [(line, sid, why) for line, sid in rows]


def append_line(path: Path, text: str) -> None:
    """Append ``text`` to a receipt log.  No fsync per line: until the run ends, the pending
    file (written durably first) still holds every entry, and a resume re-sends them as
    duplicates and re-writes their receipts; :func:`sync_file` follows at the end."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)


def sync_file(path: Path) -> None:
    """fsync ``path`` if it exists."""
    if path.exists():
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())
