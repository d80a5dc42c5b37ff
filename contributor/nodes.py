"""The survey's nodes as the contributor sees them: the manifest, one pinned HTTPS client per
node with retries, and the check that every node serves the manifest we loaded.

Contracts:

- The manifest is loaded from a file or fetched over HTTPS with ordinary certificate checks
  (optionally pinned to an expected SHA-256); plain ``http://`` is refused.
- Every node is then asked for its copy, and any node answering with different bytes (or not
  knowing the survey) makes us refuse.  A node that cannot be reached is tolerated only if at
  least ``t + 1`` nodes confirmed the manifest, so that at least one honest node vouches for the
  keys we seal to; it is marked *down* and its uploads are left pending.
- Nodes are reached over TLS pinned to the certificate in the manifest; nothing else is
  trusted.  A certificate that does not match stops us at once (never retried).
- A node's error answer becomes one of a fixed set of :mod:`protocol.errors` classes (a node
  cannot make us raise an arbitrary class), and any text it sends is printed on one line
  without control characters.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from protocol.errors import (
    DecryptionFailed,
    DuplicateSubmission,
    InvalidManifest,
    InvalidSubmission,
    InvalidToken,
    NodeUnreachable,
    SurveyClosed,
    SurveyError,
    TokenUsed,
)
from protocol.manifest import Manifest, NodeInfo, manifest_from_json
from protocol.tls import pinned_client_context
from protocol.wire import BULK_CONTENT_TYPE, BulkAck, BulkBody, SubmissionAck, SubmissionUpload

AckT = TypeVar("AckT")


#: Error names a node may send back, mapped to our exception classes.  Anything else is a
#: plain :class:`SurveyError` (a node cannot make us raise an arbitrary class).
_NODE_ERRORS: dict[str, type[SurveyError]] = {
    cls.__name__: cls
    for cls in (InvalidSubmission, DecryptionFailed, InvalidToken, TokenUsed, SurveyClosed,
                DuplicateSubmission, InvalidManifest, SurveyError)
}
_BY_STATUS: dict[int, type[SurveyError]] = {400: InvalidSubmission, 403: InvalidToken, 413: InvalidSubmission}
_CTRL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


class NodeDown(NodeUnreachable):
    """A node stayed unreachable through every retry; ``problem`` is the short reason
    (e.g. ``unreachable (connection refused)``) without the node's name."""

    def __init__(self, label: str, problem: str) -> None:
        super().__init__(f"{label} is {problem}")
        self.problem = problem


def _clean(text: object, limit: int = 300) -> str:
    """A node-supplied string made safe to print on one line (no control characters, bounded)."""
    s = _CTRL.sub(" ", str(text)).strip()
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _reason(exc: BaseException) -> str:
    """A short human reason for a transport failure."""
    text = str(exc).strip()
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        if "refused" in text.lower():
            return "connection refused"
        return _clean(text, 120) or "cannot connect"
    return _clean(text, 120) or exc.__class__.__name__


#: the longest Retry-After a client honours (a node asking for more is treated as asking this)
MAX_RETRY_AFTER = 60.0


def _retry_after(resp: httpx.Response) -> float:
    """Seconds a node's Retry-After header (delta-seconds) asks us to wait, at most
    :data:`MAX_RETRY_AFTER`; 0 when absent or not a number."""
    try:
        return min(MAX_RETRY_AFTER, max(0.0, float(resp.headers.get("retry-after", "0"))))
    except ValueError:
        return 0.0


def _is_cert_failure(exc: BaseException) -> bool:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(cur):
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def _detail(resp: httpx.Response) -> str:
    """The cleaned ``detail`` of a node's JSON error answer ("" if it has none)."""
    try:
        body = resp.json()
    except ValueError:
        return ""
    if isinstance(body, dict) and body.get("detail"):
        return _clean(body["detail"])
    return ""


def node_label(manifest: Manifest, index: int) -> str:
    """How a node is named in messages: ``node1 (https://host:port)``."""
    nd = manifest.nodes[index]
    return f"{nd.name} ({nd.url})"


def labelled(manifest: Manifest, index: int, exc: BaseException) -> str:
    """A node's error message, prefixed with the node's label unless it already starts with it."""
    label, msg = node_label(manifest, index), str(exc)
    return msg if msg.startswith(label) else f"{label}: {msg}"


def down_reason(exc: NodeUnreachable) -> str:
    """The short reason a node is down (``unreachable (timed out)``), to keep in
    :attr:`NodeClient.down` and print after the node's label."""
    return exc.problem if isinstance(exc, NodeDown) else str(exc)


def load_survey_manifest(source: str, *, expect_hash: str | None = None, cafile: str | None = None,
                         timeout: float = 30.0) -> Manifest:
    """Load the survey manifest from a file path or an ``https://`` URL.

    A URL is fetched with ordinary certificate verification (system trust store, or ``cafile``
    if given).  If ``expect_hash`` is given it must equal ``manifest.hash_hex()``.
    Raises :class:`InvalidManifest` (bad or unexpected manifest) or :class:`SurveyError`
    (cannot fetch).
    """
    if source.startswith("https://"):
        try:
            verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=cafile) if cafile else True
        except (OSError, ssl.SSLError) as exc:
            raise SurveyError(f"cannot use --cafile {cafile}: {_clean(exc, 120)}") from None
        try:
            with httpx.Client(verify=verify, timeout=timeout, follow_redirects=True) as client:
                resp = client.get(source)
        except httpx.HTTPError as exc:
            if _is_cert_failure(exc):
                raise SurveyError(f"cannot fetch the manifest from {source}: its TLS certificate is not trusted"
                                  " (pass the right CA or certificate with --cafile)") from None
            raise SurveyError(f"cannot fetch the manifest from {source}: {_reason(exc)}") from None
        if resp.url.scheme != "https":
            raise SurveyError(f"cannot fetch the manifest from {source}: it redirects to a non-https address")
        if resp.status_code != 200:
            raise SurveyError(f"cannot fetch the manifest from {source}: HTTP {resp.status_code}")
        manifest = manifest_from_json(resp.content)
    elif source.startswith("http://"):
        raise InvalidManifest("refusing to fetch the manifest over plain http://; use https:// or a file")
    else:
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise InvalidManifest(f"cannot read manifest {source}: {exc.strerror}") from None
        manifest = manifest_from_json(data)
    if expect_hash is not None:
        want = expect_hash.strip().lower()
        if want != manifest.hash_hex():
            raise InvalidManifest(f"the manifest's hash is {manifest.hash_hex()}, not the expected {want};"
                                  " refusing to submit")
    return manifest


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff for transient failures (connection errors, timeouts, 5xx).

    At most ``1 + retries`` attempts; the k-th wait is ``base_delay * 2**k`` capped at
    ``max_delay``, with jitter in [50%, 100%].
    """

    retries: int = 5
    base_delay: float = 0.5
    max_delay: float = 10.0

    def delays(self) -> Iterator[float]:
        for k in range(self.retries):
            d = min(self.max_delay, self.base_delay * (2**k))
            yield d * (0.5 + secrets.randbelow(501) / 1000)  # jitter in [50%, 100%]


class NodeClient:
    """One node's HTTPS session: keep-alive, TLS pinned to the node's certificate from the
    manifest, retries with :class:`RetryPolicy`.  Thread-safe (httpx clients are).

    Methods raise :class:`NodeUnreachable` (after retries) or the :class:`SurveyError` subclass
    that matches the node's error answer; messages name the node and its URL.
    """

    def __init__(self, manifest: Manifest, index: int, *, retry: RetryPolicy | None = None, timeout: float = 30.0,
                 max_connections: int = 8, transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.index = index
        self.node: NodeInfo = manifest.nodes[index]
        self.survey_id = manifest.survey_id
        self.label = node_label(manifest, index)
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        #: Set (to a short reason) once the node stayed unreachable through a full retry cycle; later
        #: uploads in the same run skip it and leave their envelope pending.
        self.down: str | None = None
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        verify = pinned_client_context(self.node.tls_cert_pem)
        self._client = httpx.Client(
            base_url=self.node.url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            follow_redirects=False,
            transport=transport or httpx.HTTPTransport(verify=verify, limits=limits, socket_options=[
                (socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)]),
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> NodeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _path(self, what: str) -> str:
        return f"/v1/surveys/{self.survey_id}/{what}"

    def _request(self, method: str, path: str, body: dict[str, Any] | bytes | None = None,
                 content_type: str | None = None) -> httpx.Response:
        """Send with retries (``body``: JSON, or bytes of ``content_type``); returns the first
        non-transient response."""
        delays = self.retry.delays()
        while True:
            try:
                if isinstance(body, bytes):
                    resp = self._client.request(method, path, content=_pieces(body), headers={
                        "content-type": content_type or "application/octet-stream",
                        "content-length": str(len(body))})
                else:
                    resp = self._client.request(method, path, json=body)
                if resp.status_code < 500 and resp.status_code not in (408, 429):
                    return resp
                problem = f"HTTP {resp.status_code}" + (f": {d}" if (d := _detail(resp)) else "")
                asked = _retry_after(resp)
            except httpx.HTTPError as exc:
                if _is_cert_failure(exc):
                    raise SurveyError(f"{self.label} presented a TLS certificate that does not match the survey"
                                      " manifest; refusing to talk to it") from None
                problem, asked = _reason(exc), 0.0
            delay = next(delays, None)
            if delay is None:
                raise NodeDown(self.label, f"unreachable ({problem})")
            # A busy node (503) or one counting our failures (429) says when to come back: sooner
            # would only be refused again and, for 429, cost more of this address's allowance.
            self._sleep(max(delay, asked))

    def _error(self, resp: httpx.Response) -> SurveyError:
        """The exception for a node's (non-2xx, non-transient) error answer."""
        name: object = None
        try:
            body = resp.json()
            if isinstance(body, dict):
                name = body.get("error")
        except ValueError:
            pass
        detail = _detail(resp)
        cls = _NODE_ERRORS.get(str(name)) if name else None
        if cls is None:
            cls = _BY_STATUS.get(resp.status_code, SurveyError)
        if resp.status_code == 404 and not detail:
            detail = f"{self.label} does not know survey {self.survey_id!r}"
        if resp.status_code == 413 and not detail:
            detail = "the node refused the upload as too large"
        exc = cls(detail or f"{self.label} answered HTTP {resp.status_code}")
        exc.node_index = self.index  # type: ignore[attr-defined]
        return exc

    def fetch_manifest(self) -> bytes:
        """The exact bytes of the manifest this node serves for the survey."""
        resp = self._request("GET", self._path("manifest"))
        if resp.status_code != 200:
            raise self._error(resp)
        return resp.content

    def _post(self, what: str, body: Any, parse: Callable[[Any], AckT], kind: str,
              content_type: str | None = None) -> AckT:
        """POST to this survey's ``what`` endpoint; the answer parsed, or :class:`SurveyError`."""
        resp = self._request("POST", self._path(what), body, content_type)
        if resp.status_code != 200:
            raise self._error(resp)
        try:
            return parse(resp.json())
        except (ValueError, SurveyError):
            raise SurveyError(f"{self.label} sent a malformed {kind}") from None

    def submit(self, upload: SubmissionUpload, envelope_sha256: str) -> SubmissionAck:
        """POST one sealed share; returns the checked acknowledgement.

        The acknowledgement must name this survey, this submission, this node and the SHA-256 of
        the envelope we sent, else :class:`SurveyError`.
        """
        ack = self._post("submissions", upload.to_json(), SubmissionAck.parse, "acknowledgement")
        if (ack.survey_id != self.survey_id or ack.submission_id != upload.submission_id
                or ack.node_index != self.index or ack.envelope_sha256 != envelope_sha256):
            raise SurveyError(f"{self.label} acknowledged something other than what was sent")
        return ack

    def submit_batch(self, upload: BulkBody, envelope_sha256: str, ids: Sequence[str]) -> BulkAck:
        """POST one node's sealed block of a batch (in the binary form); the acknowledgement
        must name this survey, this node, the SHA-256 of the block sent and every record id,
        else :class:`SurveyError`."""
        ack = self._post("batches", upload.to_bytes(), BulkAck.parse, "bulk acknowledgement", BULK_CONTENT_TYPE)
        if (ack.survey_id != self.survey_id or ack.node_index != self.index
                or ack.envelope_sha256 != envelope_sha256 or tuple(ack.submission_ids) != tuple(ids)):
            raise SurveyError(f"{self.label} acknowledged something other than what was sent")
        return ack


#: A request body goes out in pieces of this size: the client's write timeout then bounds the
#: wait for each piece (a stall), not the whole body, which over a slow uplink (an HR file's
#: batches of several MB at 2 Mbit/s) takes longer than any sensible timeout.
UPLOAD_PIECE = 64 * 1024
#: The kernel's send buffer per connection.  After the last piece the client waits for the
#: answer, which comes only once the node has read what is still buffered: with the kernel's
#: default of up to 4 MB, and 8 batches sharing a 2 Mbit/s uplink, that took longer than the
#: timeout.  256 KB drains in 8 s there and still allows 1.7 MB/s per connection at 150 ms.
SEND_BUFFER = 256 * 1024


def _pieces(body: bytes) -> Iterator[bytes]:
    view = memoryview(body)
    for k in range(0, len(body), UPLOAD_PIECE):
        yield bytes(view[k: k + UPLOAD_PIECE])


def connect_nodes(manifest: Manifest, *, retry: RetryPolicy | None = None, timeout: float = 30.0,
                  max_connections: int = 8,
                  transport_factory: Callable[[int], httpx.BaseTransport] | None = None) -> list[NodeClient]:
    """One :class:`NodeClient` per node of the manifest (caller closes them)."""
    return [NodeClient(manifest, i, retry=retry, timeout=timeout, max_connections=max_connections,
                       transport=transport_factory(i) if transport_factory else None)
            for i in range(manifest.n)]


def close_nodes(nodes: Iterable[NodeClient]) -> None:
    """Close every client of :func:`connect_nodes`."""
    for nd in nodes:
        nd.close()


def mark_unreachable(nodes: Sequence[NodeClient], unreachable: Mapping[int, str] | None) -> None:
    """Mark the nodes :func:`verify_nodes_agree` could not reach as down (keeping a reason
    already set), so that uploads leave their envelopes pending instead of waiting for them."""
    for i, why in (unreachable or {}).items():
        if nodes[i].down is None:
            nodes[i].down = why


def verify_nodes_agree(manifest: Manifest, nodes: Sequence[NodeClient]) -> dict[int, str]:
    """Ask every node for its manifest and check it is byte-for-byte the one we loaded.

    Returns ``{node index: short reason}`` for nodes that could not be reached (their uploads will be
    left pending).  Raises :class:`InvalidManifest` naming every node that serves a different
    manifest (or does not know the survey), and :class:`NodeUnreachable` if fewer than ``t + 1``
    nodes confirmed it (then too few nodes vouch for the keys to trust the manifest).
    """
    want = manifest.hash()

    def check(nd: NodeClient) -> tuple[int, str, str]:
        try:
            got = nd.fetch_manifest()
        except NodeUnreachable as exc:
            nd.down = down_reason(exc)
            return nd.index, "unreachable", nd.down
        except SurveyError as exc:
            return nd.index, "differs", labelled(manifest, nd.index, exc)
        h = hashlib.sha256(got).digest()
        if h != want:
            return nd.index, "differs", f"{nd.label} serves manifest {h.hex()[:16]}…"
        return nd.index, "ok", ""

    with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
        results = list(pool.map(check, nodes))
    differ = [msg for _, kind, msg in results if kind == "differs"]
    unreachable = {i: msg for i, kind, msg in results if kind == "unreachable"}
    ok = [i for i, kind, _ in results if kind == "ok"]
    if differ:
        raise InvalidManifest(
            f"refusing to submit: not every node serves the manifest you loaded ({manifest.hash_hex()[:16]}…): "
            + "; ".join(differ))
    if len(ok) < manifest.threshold + 1:
        raise NodeUnreachable(
            f"only {len(ok)} of {manifest.n} nodes could confirm the survey manifest (at least "
            f"{manifest.threshold + 1} must): "
            + "; ".join(f"{node_label(manifest, i)} is {why}" for i, why in sorted(unreachable.items())))
    return unreachable


def check_manifest_served(manifest: Manifest, nodes: Sequence[NodeClient], needed: Iterable[int]) -> None:
    """Before resuming: every node still owed an upload must serve exactly this manifest
    (:class:`InvalidManifest` otherwise); one that is unreachable is marked down."""
    want = manifest.hash()
    differ = []
    for i in needed:
        nd = nodes[i]
        try:
            got = nd.fetch_manifest()
        except NodeUnreachable as exc:
            nd.down = down_reason(exc)
            continue
        except SurveyError as exc:
            differ.append(labelled(manifest, i, exc))
            continue
        if hashlib.sha256(got).digest() != want:
            differ.append(f"{nd.label} serves manifest {hashlib.sha256(got).hexdigest()[:16]}…")
    if differ:
        raise InvalidManifest("refusing to resume: not every node serves the survey's manifest: " + "; ".join(differ))
