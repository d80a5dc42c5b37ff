"""The analyst's HTTPS connections to the survey's nodes: one kept-alive client per node, pinned to
its certificate, and :func:`each_node` to ask every node at once (over a wide-area network a
request costs a round trip and a new connection two or three more: asked one after another,
the nodes' latencies add up)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import TypeVar

import httpx

from protocol.errors import NodeUnreachable
from protocol.manifest import Manifest
from protocol.tls import pinned_client_context

T = TypeVar("T")


class NodeClients:
    """One client per node of ``manifest`` (created on first use), sending ``credential`` as a
    bearer token when given.  Requests to different nodes may run in different threads."""

    def __init__(self, manifest: Manifest, credential: str | None = None, timeout: float = 15.0) -> None:
        self.manifest, self.credential, self.timeout = manifest, credential, timeout
        self._clients: dict[int, httpx.Client] = {}

    def _client(self, j: int) -> httpx.Client:
        if j not in self._clients:
            headers = {"Authorization": f"Bearer {self.credential}"} if self.credential else {}
            self._clients[j] = httpx.Client(base_url=self.manifest.nodes[j].url, headers=headers,
                                            verify=pinned_client_context(self.manifest.nodes[j].tls_cert_pem),
                                            timeout=self.timeout)
        return self._clients[j]

    def request(self, j: int, method: str, path: str, retries: int = 3) -> httpx.Response:
        """One request to node j about this survey (``path`` below it), retrying connection failures."""
        node = self.manifest.nodes[j]
        last: Exception | None = None
        for _ in range(retries):
            try:
                return self._client(j).request(method, f"/v1/surveys/{self.manifest.survey_id}/{path}")
            except httpx.HTTPError as exc:
                last = exc
        raise NodeUnreachable(f"node {j} ({node.name}) at {node.url} is unreachable ({last.__class__.__name__})")

    def close(self) -> None:
        for c in self._clients.values():
            c.close()
        self._clients.clear()

    def __enter__(self) -> NodeClients:
        return self

    def __exit__(self, typ: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def each_node(manifest: Manifest, fn: Callable[[int], T]) -> list[T]:
    """``fn(j)`` for every node j at once, one thread each; the answers in node order.  If any
    raised, the first in node order is raised (after every call ended)."""
    with ThreadPoolExecutor(max_workers=manifest.n) as pool:
        futures = [pool.submit(fn, j) for j in range(manifest.n)]
        for f in futures:
            f.exception()
        return [f.result() for f in futures]
