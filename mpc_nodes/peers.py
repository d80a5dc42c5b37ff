"""Signed, pinned HTTPS requests from this node to the other nodes of one survey.

One kept-alive connection per peer, and :func:`each_peer` to ask every peer at once: on a
wide-area network a request costs a round trip and a new connection two or three more, so
asking the peers one after another multiplies the latency by their number.

The standard library's client, not httpx: ``mpc-node compute`` makes a handful of GETs, and
importing httpx costs about a tenth of a second per node, a tenth of the whole computation over
a thousand submissions (see BENCHMARKS.md).
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from protocol.manifest import Manifest
from protocol.nodeauth import HEADER, sign_request
from protocol.tls import pinned_client_context

from . import keys

T = TypeVar("T")


@dataclass(frozen=True)
class PeerResponse:
    """A peer's answer: status and body (what :func:`protocol.wire.error_detail` reads)."""

    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


class PeerUnreachable(Exception):
    """No answer from a peer (refused, reset, timed out, TLS failure)."""


class Peers:
    """This node's connections to the other nodes of one survey (one per peer; the requests to
    different peers may run in different threads, those to one peer must not)."""

    def __init__(self, node_dir: Path, manifest: Manifest, me: int) -> None:
        self.manifest, self.me = manifest, me
        self._key = (node_dir / keys.TLS_KEY_FILE).read_bytes()
        self._contexts = [pinned_client_context(nd.tls_cert_pem) for nd in manifest.nodes]
        # Kept alive: the commit phase polls the peers every few tens of milliseconds, and a TLS
        # handshake per poll would dominate (more so across a wide-area network).
        self._conns: list[http.client.HTTPSConnection | None] = [None] * manifest.n

    def others(self) -> list[int]:
        return [j for j in range(self.manifest.n) if j != self.me]

    def close(self) -> None:
        for c in self._conns:
            if c is not None:
                c.close()
        self._conns = [None] * self.manifest.n

    def get(self, j: int, what: str, timeout: float = 10.0) -> PeerResponse:
        """GET this survey's ``what`` from node j; raises :class:`PeerUnreachable` without an answer.

        ``timeout`` bounds each wait for bytes, not the whole answer (a large one on a slow link
        takes as long as it takes).  A kept-alive connection that the peer closed meanwhile is
        retried once on a new one (the GETs are idempotent)."""
        path = f"/v1/surveys/{self.manifest.survey_id}/{what}"
        header = sign_request(self._key, self.me, "GET", path.split("?", 1)[0], self.manifest)
        for attempt in (0, 1):
            conn = self._conns[j]
            fresh = conn is None
            if conn is None:
                u = urlsplit(self.manifest.nodes[j].url)
                conn = http.client.HTTPSConnection(u.hostname or "", u.port, timeout=timeout,
                                                   context=self._contexts[j])
                self._conns[j] = conn
            conn.timeout = timeout
            if conn.sock is not None:
                conn.sock.settimeout(timeout)
            try:
                conn.request("GET", path, headers={HEADER: header})
                resp = conn.getresponse()
                body = resp.read()
                if resp.will_close:
                    conn.close()
                    self._conns[j] = None
                return PeerResponse(resp.status, body)
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                self._conns[j] = None
                if fresh or attempt == 1:
                    raise PeerUnreachable(exc.__class__.__name__) from None
        raise AssertionError("unreachable")

    def label(self, j: int) -> str:
        nd = self.manifest.nodes[j]
        return f"node {j} ({nd.name}, {nd.url})"


def each_peer(peers: Peers, fn: Callable[[int], T], only: Sequence[int] | None = None) -> dict[int, T]:
    """``fn(j)`` for every peer j (or those in ``only``) at once, one thread each (they wait on the
    network); the answers by peer.  If any raised, the first in node order is raised."""
    todo = list(peers.others() if only is None else only)
    if len(todo) <= 1:
        return {j: fn(j) for j in todo}
    with ThreadPoolExecutor(max_workers=len(todo)) as pool:
        futures = {j: pool.submit(fn, j) for j in todo}
        for j in todo:  # wait for all before raising: no thread outlives the call
            futures[j].exception()
        return {j: f.result() for j, f in futures.items()}
