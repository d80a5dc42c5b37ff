"""The upload loop shared by per-record and batch delivery (contributor/delivery.py), on its own:
how one entry's node answers are filed, and what the loop does with receipts, progress, pending
state and the summary.  The two real kinds are exercised end to end in test_contributor.py."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from conftest import Survey
from contributor.delivery import BatchResult, Delivery, NodeAnswers, send_to_nodes
from contributor.nodes import NodeDown, node_label
from protocol.errors import InvalidSubmission, SurveyError, TokenUsed


def _nodes(n: int) -> list[Any]:
    return [SimpleNamespace(index=i, down=None) for i in range(n)]


@pytest.mark.parametrize("parallel", [False, True])
def test_send_to_nodes_files_every_answer_and_marks_unreachable_nodes_down(parallel: bool) -> None:
    nodes = _nodes(5)
    nodes[0].down = "unreachable (connection refused)"
    called: list[int] = []
    lock = threading.Lock()

    def send(nd: Any) -> str:
        with lock:
            called.append(nd.index)
        if nd.index == 1:
            raise NodeDown("node1 (https://x)", "unreachable (timed out)")
        if nd.index == 2:
            raise TokenUsed("this participation token was already used")
        return f"ack{nd.index}"

    answers: NodeAnswers[str] = NodeAnswers(acks={4: "earlier"})
    send_to_nodes(nodes, [0, 1, 2, 3], send, answers, parallel=parallel)
    assert sorted(called) == [1, 2, 3]  # a node already down is not contacted
    assert answers.acks == {4: "earlier", 3: "ack3"}
    assert answers.pending == {0: "unreachable (connection refused)", 1: "unreachable (timed out)"}
    assert nodes[1].down == "unreachable (timed out)"  # the rest of the run skips it
    assert list(answers.rejected) == [2] and isinstance(answers.rejected[2], TokenUsed)
    assert not answers.complete
    assert NodeAnswers(acks={0: "a"}).complete


@dataclass
class Toy:
    receipt: str
    ids: list[str]
    answers: NodeAnswers[str]
    settled: list[str] = field(default_factory=list)


class ToyDelivery(Delivery[Toy, NodeAnswers[str]]):
    """Answers fixed in advance; every hook records what it was given."""

    finished: list[tuple[Toy, NodeAnswers[str]]] = []

    def upload(self, entry: Toy) -> NodeAnswers[str]:
        return entry.answers

    def receipt_lines(self, entry: Toy, answers: NodeAnswers[str]) -> str:
        return "".join(f"{sid} {sorted(answers.acks)}\n" for sid in entry.ids)

    def rows(self, entry: Toy) -> list[tuple[int | None, str]]:
        return [(k + 2, sid) for k, sid in enumerate(entry.ids)]

    def still_owed(self, answers: NodeAnswers[str]) -> bool:
        return bool(answers.pending) and not answers.rejected

    def refusal(self, entry: Toy, answers: NodeAnswers[str]) -> str:
        return "refused: " + "; ".join(str(e) for e in answers.rejected.values())

    def settle(self, entry: Toy, answers: NodeAnswers[str]) -> None:
        entry.settled.append("settled")

    def finish(self, done: Sequence[tuple[Toy, NodeAnswers[str]]], result: BatchResult[NodeAnswers[str]]) -> None:
        self.finished = list(done)
        result.pending_path = Path("kept") if result.pending else None


def test_the_loop_appends_receipts_counts_progress_and_sums_up(survey: Survey, tmp_path: Path) -> None:
    m = survey.manifest
    log = tmp_path / "receipts.jsonl"
    other = tmp_path / "other.jsonl"
    done = Toy(str(log), ["a", "b"], NodeAnswers(acks={0: "x", 1: "y", 2: "z"}))
    half = Toy(str(log), ["c"], NodeAnswers(acks={0: "x"}, pending={1: "unreachable (timed out)", 2: "down"}))
    refused = Toy(str(other), ["d", "e"], NodeAnswers(rejected={0: InvalidSubmission("bad"), 1: SurveyError("no")}))
    mixed = Toy(str(log), ["f"], NodeAnswers(acks={0: "x"}, pending={1: "down"}, rejected={2: SurveyError("no")}))
    steps: list[int] = []
    delivery = ToyDelivery(m, [], {})
    entries = [done, half, refused, mixed]
    result = delivery.run(entries, concurrency=3, progress=steps.append)

    assert sorted(log.read_text().splitlines()) == ["a [0, 1, 2]", "b [0, 1, 2]", "c [0]", "f [0]"]
    assert not other.exists()  # no node acknowledged anything of that entry: no receipt line
    assert sorted(steps) == [1, 1, 2, 2] and all(e.settled == ["settled"] for e in entries)
    assert result.outcomes == [e.answers for e in entries]
    assert [e for e, _ in delivery.finished] == entries
    assert result.submitted == 2
    assert result.pending == [(2, "c", f"{node_label(m, 1)}, {node_label(m, 2)}")]
    assert result.failed == [(2, "d", "refused: bad; no"), (3, "e", "refused: bad; no"), (2, "f", "refused: no")]
    assert result.pending_path == Path("kept") and not result.ok
