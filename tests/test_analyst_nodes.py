"""The analyst asks every node at once, over one kept-alive connection per node."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from analyst import nodes as nodes_module
from analyst.nodes import NodeClients, each_node
from conftest import make_survey
from protocol.errors import NodeUnreachable, SurveyError


def test_each_node_asks_all_at_once_in_node_order(tmp_path: Path) -> None:
    m = make_survey(tmp_path, n=4).manifest
    starts: list[float] = []
    lock = threading.Lock()

    def slow(j: int) -> str:
        with lock:
            starts.append(time.monotonic())
        time.sleep(0.3 - 0.05 * j)  # later nodes answer first: the order is still node order
        return f"node {j}"

    t0 = time.monotonic()
    assert each_node(m, slow) == ["node 0", "node 1", "node 2", "node 3"]
    assert time.monotonic() - t0 < 0.6 and max(starts) - min(starts) < 0.2

    def failing(j: int) -> int:
        if j in (1, 3):
            raise SurveyError(f"node {j} failed")
        return j

    with pytest.raises(SurveyError, match="node 1 failed"):
        each_node(m, failing)


def test_one_kept_alive_client_per_node_with_the_credential(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = make_survey(tmp_path, n=3)
    made: list[dict[str, Any]] = []
    seen: list[tuple[str, str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), request.method, request.headers.get("authorization", "")))
        return httpx.Response(200, json={"ok": True})

    real = httpx.Client

    def client(**kw: Any) -> httpx.Client:
        made.append(kw)
        kw.pop("verify")
        return real(transport=httpx.MockTransport(handler), **kw)

    monkeypatch.setattr(nodes_module.httpx, "Client", client)
    with NodeClients(s.manifest, "secret-credential") as nc:
        for _ in range(3):
            for j in range(3):
                assert nc.request(j, "GET", "status").status_code == 200
    assert len(made) == 3  # one per node, reused for every request
    assert [kw["base_url"] for kw in made] == [nd.url for nd in s.manifest.nodes]
    assert seen[0] == (f"{s.manifest.nodes[0].url}/v1/surveys/test-survey/status", "GET", "Bearer secret-credential")


def test_an_unreachable_node_is_named(tmp_path: Path) -> None:
    s = make_survey(tmp_path, n=3)
    with NodeClients(s.manifest, timeout=2) as nc:
        with pytest.raises(NodeUnreachable, match=r"node 1 \(node1\) at https://127\.0\.0\.1:\d+ is unreachable"):
            nc.request(1, "GET", "status", retries=1)
