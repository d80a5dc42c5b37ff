"""The contributor's logic: load and check the survey, share and seal a record, upload it to
every node, keep receipts, and resume unfinished uploads.

Security contracts (DESIGN.md §2):

- The manifest is loaded from a file or fetched over HTTPS with normal certificate checks
  (optionally pinned to ``--expect-hash``), then every node is asked for its copy.  Any node that
  answers with different bytes makes us refuse.  A node that cannot be reached is tolerated only if
  at least ``t + 1`` nodes confirmed the manifest (so at least one honest node vouched for the keys
  we seal to); its upload is then left *pending*.
- Each node's share is sealed to that node's HPKE key from the confirmed manifest, bound to the
  manifest hash, the node index and the submission id.  Nodes are reached over TLS pinned to the
  certificate in the manifest; nothing else is trusted.
- Uploads are idempotent: one submission id per record, and every retry or resume re-sends the
  *same* id and the *same* envelope bytes, so a node that already stored it answers "duplicate".
  The prepared envelopes are written to a pending file *before* the first upload, so a crash or an
  unreachable node never forces a new submission id.
- The participation token is sent only to the nodes (over pinned TLS).  It is never printed and
  never written to disk: files keep only its SHA-256, and ``--resume`` asks for the token again.

This module imports only :mod:`protocol` (never ``mpyc``, ``mpc_nodes`` or ``analyst``).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
import secrets
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from protocol.commitment import make_certificate
from protocol.encoding import Record, make_record
from protocol.envelope import seal_shares
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
from protocol.field import encode_elements, share_vector
from protocol.manifest import Manifest, NodeInfo, format_time, manifest_from_json
from protocol.tls import pinned_client_context
from protocol.tokens import token_hash
from protocol.validity import encode_submission
from protocol.wire import (
    BULK_CONTENT_TYPE,
    MAX_TOKEN_CHARS,
    BulkAck,
    BulkBody,
    SubmissionAck,
    SubmissionUpload,
    b64d,
    b64e,
)

PENDING_FORMAT = "salary-submit/pending/v2"  # v2: with the submission certificate
RECEIPT_FORMAT = "salary-submit/receipt/v1"
DEFAULT_RECEIPT_DIR = "receipts"
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


class CsvInvalid(InvalidSubmission):
    """Some CSV rows are invalid; ``problems`` lists ``(line number, message)`` for every one."""

    def __init__(self, message: str, problems: list[tuple[int, str]]) -> None:
        super().__init__(message)
        self.problems = problems


# ------------------------------------------------------------------------------------------------
# Small helpers
# ------------------------------------------------------------------------------------------------


def _clean(text: object, limit: int = 300) -> str:
    """A node-supplied string made safe to print on one line (no control characters, bounded)."""
    s = _CTRL.sub(" ", str(text)).strip()
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _now() -> str:
    return format_time(dt.datetime.now(dt.timezone.utc))


def _write_atomic(path: Path, data: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


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


def _is_cert_failure(exc: BaseException) -> bool:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(cur):
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def node_label(manifest: Manifest, index: int) -> str:
    """How a node is named in messages: ``node1 (https://host:port)``."""
    nd = manifest.nodes[index]
    return f"{nd.name} ({nd.url})"


# ------------------------------------------------------------------------------------------------
# Manifest
# ------------------------------------------------------------------------------------------------


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


# ------------------------------------------------------------------------------------------------
# Talking to nodes
# ------------------------------------------------------------------------------------------------


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
        kwargs: dict[str, Any] = {}
        if transport is not None:
            kwargs["transport"] = transport
        self._client = httpx.Client(
            base_url=self.node.url,
            verify=pinned_client_context(self.node.tls_cert_pem),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            follow_redirects=False,
            **kwargs,
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
                    resp = self._client.request(method, path, content=body,
                                                headers={"content-type": content_type or "application/octet-stream"})
                else:
                    resp = self._client.request(method, path, json=body)
                if resp.status_code < 500 and resp.status_code not in (408, 429):
                    return resp
                problem = f"HTTP {resp.status_code}" + (f": {d}" if (d := _detail(resp)) else "")
            except httpx.HTTPError as exc:
                if _is_cert_failure(exc):
                    raise SurveyError(f"{self.label} presented a TLS certificate that does not match the survey"
                                      " manifest; refusing to talk to it") from None
                problem = _reason(exc)
            delay = next(delays, None)
            if delay is None:
                raise NodeDown(self.label, f"unreachable ({problem})")
            self._sleep(delay)

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

    def status(self) -> dict[str, Any]:
        """The node's ``/status`` document for the survey."""
        resp = self._request("GET", self._path("status"))
        if resp.status_code != 200:
            raise self._error(resp)
        data = resp.json()
        if not isinstance(data, dict):
            raise SurveyError(f"{self.label} sent a malformed status")
        return data

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


def _problem(exc: NodeUnreachable) -> str:
    return exc.problem if isinstance(exc, NodeDown) else str(exc)


def _detail(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return ""
    if isinstance(body, dict) and body.get("detail"):
        return _clean(body["detail"])
    return ""


def connect_nodes(manifest: Manifest, *, retry: RetryPolicy | None = None, timeout: float = 30.0,
                  max_connections: int = 8,
                  transport_factory: Callable[[int], httpx.BaseTransport] | None = None) -> list[NodeClient]:
    """One :class:`NodeClient` per node of the manifest (caller closes them)."""
    return [NodeClient(manifest, i, retry=retry, timeout=timeout, max_connections=max_connections,
                       transport=transport_factory(i) if transport_factory else None)
            for i in range(manifest.n)]


def close_nodes(nodes: Iterable[NodeClient]) -> None:
    for nd in nodes:
        nd.close()


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
            nd.down = _problem(exc)
            return nd.index, "unreachable", nd.down
        except SurveyError as exc:
            return nd.index, "differs", _labelled(manifest, nd.index, exc)
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


# ------------------------------------------------------------------------------------------------
# Records and envelopes
# ------------------------------------------------------------------------------------------------


def validate_record(manifest: Manifest, gender: str, salary: str | int, job: str | None = None) -> Record:
    """The validated record (raises :class:`InvalidSubmission` with a user-facing message).
    ``job`` is the job category; required exactly when the survey declares job categories."""
    return make_record(gender, salary, manifest.scheme(), job)


@dataclass(frozen=True)
class PreparedSubmission:
    """One record, Shamir-shared and sealed: ``envelopes[i]`` is node i's sealed share vector."""

    survey_id: str
    manifest_hash: str  # hex
    submission_id: str  # 32 lowercase hex, the same at every node (hash of the certificate's key)
    replace: bool
    envelopes: tuple[bytes, ...]
    certificate: bytes  # signed commitments to every node's share (protocol.commitment), same for all

    def envelope_sha256(self, index: int) -> str:
        return hashlib.sha256(self.envelopes[index]).hexdigest()


def prepare_submission(manifest: Manifest, record: Record, *, replace: bool = False) -> PreparedSubmission:
    """Encode ``record`` with its validity proof, share every entry with a random degree-t
    polynomial over the manifest's field (node i gets f(i+1)), sign a commitment to every node's
    share vector with a fresh one-time key (whose hash is the submission id), and seal node i's
    share vector to node i's HPKE key, bound to the manifest hash, i and the submission id."""
    p = manifest.field_modulus
    vec = encode_submission(record, manifest.scheme(), p)
    if len(vec) != manifest.vector_length():
        raise InvalidSubmission("record encoding has the wrong length")  # pragma: no cover
    shares = share_vector(vec, manifest.n, manifest.threshold, p)
    mh = manifest.hash()
    sid, cert = make_certificate(mh, [encode_elements(s, p) for s in shares])
    envelopes = tuple(seal_shares(shares[i], nd.hpke_public_key, mh, i, bytes.fromhex(sid), p)
                      for i, nd in enumerate(manifest.nodes))
    return PreparedSubmission(manifest.survey_id, mh.hex(), sid, replace, envelopes, cert)


# ------------------------------------------------------------------------------------------------
# Uploading
# ------------------------------------------------------------------------------------------------


@dataclass
class UploadOutcome:
    """What each node said about one submission."""

    prepared: PreparedSubmission
    acks: dict[int, SubmissionAck] = field(default_factory=dict)
    pending: dict[int, str] = field(default_factory=dict)  # node -> why not delivered (transient)
    rejected: dict[int, SurveyError] = field(default_factory=dict)  # node -> permanent refusal
    line: int | None = None  # CSV line, for batch runs

    @property
    def complete(self) -> bool:
        return not self.pending and not self.rejected and len(self.acks) == len(self.prepared.envelopes)

    @property
    def refused(self) -> bool:
        """Refused outright: some node said no and none accepted (nothing left to resume)."""
        return bool(self.rejected) and not self.acks


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
    targets = [nodes[i] for i in (sorted(set(only)) if only is not None else range(len(nodes)))]
    if any(not prepared.envelopes[nd.index] for nd in targets):
        raise SurveyError(f"submission {prepared.submission_id}: no prepared envelope for some node")
    outcome = UploadOutcome(prepared)
    lock = threading.Lock()

    def one(nd: NodeClient) -> None:
        if nd.down is not None:
            with lock:
                outcome.pending[nd.index] = nd.down
            return
        upload = SubmissionUpload(prepared.submission_id, token, b64e(prepared.envelopes[nd.index]),
                                  b64e(prepared.certificate), prepared.replace)
        try:
            ack = nd.submit(upload, prepared.envelope_sha256(nd.index))
        except NodeUnreachable as exc:
            nd.down = _problem(exc)
            with lock:
                outcome.pending[nd.index] = nd.down
        except SurveyError as exc:
            with lock:
                outcome.rejected[nd.index] = exc
        else:
            with lock:
                outcome.acks[nd.index] = ack

    if parallel and len(targets) > 1:
        with ThreadPoolExecutor(max_workers=len(targets)) as pool:
            list(pool.map(one, targets))
    else:
        for nd in targets:
            one(nd)
    return outcome


def outcome_error(outcome: UploadOutcome, manifest: Manifest, pending_file: Path | None = None) -> SurveyError | None:
    """The one error that describes an unfinished outcome (None if every node acknowledged).

    - every node refused with the same kind of error: that error with the node's message
      (a used token also says to use ``--replace``);
    - some nodes unreachable: :class:`NodeUnreachable` naming them, their URLs and the pending
      file to ``--resume``;
    - nodes disagree (some accepted, some refused): :class:`SurveyError` naming each.
    """
    if outcome.complete:
        return None
    parts: list[str] = []
    if outcome.refused:
        kinds = {type(e) for e in outcome.rejected.values()}
        details = {str(e) for e in outcome.rejected.values()}
        if len(kinds) == 1 and len(details) == 1:
            exc = next(iter(outcome.rejected.values()))
            msg = str(exc)
            if isinstance(exc, TokenUsed) and "--replace" not in msg:
                msg += " (use --replace to replace your earlier answer)"
            return type(exc)(msg)
        return type(next(iter(outcome.rejected.values())))(
            "the nodes refused the submission: "
            + "; ".join(_labelled(manifest, i, e) for i, e in sorted(outcome.rejected.items())))
    if outcome.rejected:
        parts.append("refused by " + "; ".join(_labelled(manifest, i, e) for i, e in sorted(outcome.rejected.items())))
    if outcome.pending:
        parts.append("not yet delivered to " + ", ".join(
            f"{node_label(manifest, i)}: {why}" for i, why in sorted(outcome.pending.items())))
    if outcome.acks:
        parts.append("accepted by " + ", ".join(manifest.nodes[i].name for i in sorted(outcome.acks)))
    msg = f"submission {outcome.prepared.submission_id} is incomplete: " + "; ".join(parts)
    if outcome.pending and pending_file is not None:
        msg += f"; finish it later with: salary-submit --resume {pending_file} (and the same token)"
    if outcome.rejected:
        msg += "; the nodes disagree, tell the survey organiser"
    if outcome.pending and not outcome.rejected:
        return NodeUnreachable(msg)
    return SurveyError(msg)


def _labelled(manifest: Manifest, index: int, exc: BaseException) -> str:
    label, msg = node_label(manifest, index), str(exc)
    return msg if msg.startswith(label) else f"{label}: {msg}"


def ack_summary(outcome: UploadOutcome, manifest: Manifest) -> str:
    """``node0 stored, node1 PENDING, node2 stored`` for the receipt line."""
    out = []
    for i, nd in enumerate(manifest.nodes):
        if i in outcome.acks:
            out.append(f"{nd.name} {outcome.acks[i].status}")
        elif i in outcome.pending:
            out.append(f"{nd.name} PENDING")
        elif i in outcome.rejected:
            out.append(f"{nd.name} REFUSED")
    return ", ".join(out)


# ------------------------------------------------------------------------------------------------
# Receipts and pending files
# ------------------------------------------------------------------------------------------------


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
        "written_at": _now(),
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
           "manifest": json.loads(manifest.canonical_bytes()), "written_at": _now(),
           "submissions": [e.to_json() for e in entries]}
    _write_atomic(path, json.dumps(doc, indent=1) + "\n")


def read_pending_doc(path: Path, fmt: str, what: str) -> tuple[dict[str, Any], Manifest]:
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
    doc, manifest = read_pending_doc(path, PENDING_FORMAT, "pending file")
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
            _write_atomic(path, json.dumps(doc, indent=1) + "\n")
        else:
            path.unlink(missing_ok=True)


def _check_no_pending(receipt_dir: Path, manifest: Manifest, hashes: Sequence[str], replace: bool) -> list[Path]:
    """Refuse to start a new submission for a token whose earlier one is still pending (that
    would leave the nodes holding different submissions for it), unless ``replace``."""
    found = find_pending_for_tokens(receipt_dir, manifest.survey_id, hashes)
    if found and not replace:
        files = sorted(set(found.values()))
        what = "this token has" if len(hashes) == 1 else f"{len(found)} of these tokens have"
        raise SurveyError(f"{what} an unfinished earlier submission; finish it with: salary-submit --resume "
                          + " / ".join(str(f) for f in files) + " (or submit with --replace to supersede it)")
    return sorted(set(found.values()))


# ------------------------------------------------------------------------------------------------
# High level: one record
# ------------------------------------------------------------------------------------------------


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
    superseded = _check_no_pending(receipt_dir, manifest, [th], replace)
    prepared = prepare_submission(manifest, record, replace=replace)
    sid = prepared.submission_id
    pending_path = receipt_dir / f"pending-{manifest.survey_id}-{sid}.json"
    receipt_path = receipt_dir / f"receipt-{manifest.survey_id}-{sid}.json"
    entry = PendingEntry(prepared, th, list(range(manifest.n)), {}, str(receipt_path))
    write_pending(pending_path, manifest, [entry])
    if superseded:
        drop_pending_for_tokens(superseded, [th])
    for i, why in (unreachable or {}).items():
        if nodes[i].down is None:
            nodes[i].down = why
    outcome = upload_submission(prepared, token, nodes)
    return _finish_single(manifest, outcome, entry, pending_path, receipt_path)


def _finish_single(manifest: Manifest, outcome: UploadOutcome, entry: PendingEntry, pending_path: Path,
                   receipt_path: Path) -> SubmissionResult:
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
        _write_atomic(receipt_path, json.dumps(receipt_json(outcome, manifest), indent=1) + "\n")
        written = receipt_path
    return SubmissionResult(outcome, written, kept_pending, outcome_error(outcome, manifest, kept_pending))


# ------------------------------------------------------------------------------------------------
# High level: CSV batch
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CsvRow:
    line: int  # line number in the file (the header is line 1)
    record: Record


def read_csv_records(path: Path, manifest: Manifest) -> list[CsvRow]:
    """Read and validate every row of an HR CSV file (header with at least ``gender`` and
    ``salary``, and ``job`` when the survey declares job categories; case-insensitive; other
    columns ignored; blank lines skipped).

    Raises :class:`CsvInvalid` listing *every* bad row with its line number, so nothing is sent
    unless the whole file is valid.
    """
    try:
        fh = open(path, newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidSubmission(f"cannot read {path}: {exc.strerror}") from None
    rows: list[CsvRow] = []
    problems: list[tuple[int, str]] = []
    with fh:
        try:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise InvalidSubmission(f"{path} is empty; expected a header line with gender,salary")
            cols = [h.strip().lower() for h in header]
            missing = [c for c in ("gender", "salary") if c not in cols]
            if missing:
                raise InvalidSubmission(f"{path}: the header line has no {' or '.join(missing)} column"
                                        " (expected at least gender,salary)")
            if manifest.job_categories and "job" not in cols:
                raise InvalidSubmission(f"{path}: the header line has no job column (this survey asks for a job "
                                        f"category: {', '.join(manifest.job_categories)})")
            gi, si = cols.index("gender"), cols.index("salary")
            ji = cols.index("job") if manifest.job_categories else None
            need = max(gi, si, ji if ji is not None else 0)
            for raw in reader:
                line = reader.line_num
                if not raw or all(not c.strip() for c in raw):
                    continue
                if len(raw) <= need:
                    problems.append((line, f"has {len(raw)} fields, expected at least {need + 1}"))
                    continue
                try:
                    rows.append(CsvRow(line, validate_record(manifest, raw[gi], raw[si],
                                                             raw[ji] if ji is not None else None)))
                except InvalidSubmission as exc:
                    problems.append((line, str(exc)))
        except csv.Error as exc:
            raise InvalidSubmission(f"{path} is not a valid CSV file: {exc}") from None
        except UnicodeDecodeError:
            raise InvalidSubmission(f"{path} is not UTF-8 text") from None
    if problems:
        raise CsvInvalid(f"{len(problems)} invalid row(s) in {path}; nothing was sent", problems)
    if not rows:
        raise InvalidSubmission(f"{path} has no data rows")
    return rows


def read_tokens(path: Path, needed: int | None = None) -> list[str]:
    """The first ``needed`` tokens of a tokens file (one per line, blank lines ignored; all of
    them if ``needed`` is None).

    Raises :class:`InvalidToken` (never quoting a token) if there are fewer tokens than rows or
    a token repeats.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidToken(f"cannot read tokens file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    tokens = [t.strip() for t in text.splitlines() if t.strip()]
    if needed is None:
        needed = len(tokens)
    if len(tokens) < needed:
        raise InvalidToken(f"{path} has {len(tokens)} token(s) but the CSV has {needed} data row(s);"
                           " every row needs its own token; nothing was sent")
    tokens = tokens[:needed]
    seen: dict[str, int] = {}
    for k, t in enumerate(tokens, 1):
        if len(t) > MAX_TOKEN_CHARS:
            raise InvalidToken(f"{path}: token on line {k} is too long")
        if t in seen:
            raise InvalidToken(f"{path}: tokens {seen[t]} and {k} are the same; each row needs its own token")
        seen[t] = k
    return tokens


@dataclass
class BatchResult:
    """Summary of :func:`submit_csv` or of resuming a batch."""

    submitted: int = 0
    failed: list[tuple[int | None, str, str]] = field(default_factory=list)  # (line, submission id, reason)
    pending: list[tuple[int | None, str, str]] = field(default_factory=list)  # (line, submission id, nodes)
    receipts_path: Path | None = None
    pending_path: Path | None = None
    outcomes: list[UploadOutcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.pending


def _run_entries(manifest: Manifest, entries: list[PendingEntry], tokens: Mapping[str, str],
                 nodes: Sequence[NodeClient], concurrency: int, pending_path: Path,
                 progress: Callable[[int], None] | None) -> BatchResult:
    """Upload every entry's envelopes to its nodes, append receipts, keep what is still pending."""
    result = BatchResult(pending_path=None)
    log_lock = threading.Lock()
    results: list[UploadOutcome | None] = [None] * len(entries)

    def work(k: int) -> None:
        e = entries[k]
        out = upload_submission(e.prepared, tokens[e.token_sha256], nodes, only=e.nodes, parallel=False)
        out.line = e.line
        e.acks.update(out.acks)
        out.acks = dict(e.acks)
        results[k] = out
        if out.acks:
            line = json.dumps(receipt_json(out, manifest)) + "\n"
            with log_lock:
                _append(Path(e.receipt), line)
        if progress is not None:
            progress(1)

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        for fut in [pool.submit(work, k) for k in range(len(entries))]:
            fut.result()
    for receipt in {e.receipt for e in entries}:
        _sync(Path(receipt))
    still: list[PendingEntry] = []
    for e, out in zip(entries, results):
        assert out is not None
        result.outcomes.append(out)
        if out.complete:
            result.submitted += 1
            continue
        err = outcome_error(out, manifest)
        if out.pending and not out.refused:
            e.nodes = sorted(out.pending)
            still.append(e)
            result.pending.append((e.line, e.prepared.submission_id,
                                   ", ".join(node_label(manifest, i) for i in e.nodes)))
        if out.rejected:
            result.failed.append((e.line, e.prepared.submission_id, str(err)))
    if still:
        write_pending(pending_path, manifest, still)
        result.pending_path = pending_path
    else:
        pending_path.unlink(missing_ok=True)
    return result


def _append(path: Path, line: str) -> None:
    # No fsync per line: until the batch ends, the pending file (written durably first) still
    # holds every entry, and a resume re-sends them as duplicates and re-writes their receipts.
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line)


def _sync(path: Path) -> None:
    if path.exists():
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())


def submit_csv(manifest: Manifest, rows: Sequence[CsvRow], tokens: Sequence[str], nodes: Sequence[NodeClient], *,
               receipt_dir: Path, replace: bool = False, concurrency: int = 8,
               unreachable: Mapping[int, str] | None = None,
               progress: Callable[[int], None] | None = None) -> BatchResult:
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
    superseded = _check_no_pending(receipt_dir, manifest, hashes, replace)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    receipts_path = receipt_dir / f"receipts-{manifest.survey_id}-{stamp}.jsonl"
    pending_path = receipt_dir / f"pending-{manifest.survey_id}-batch-{stamp}.json"
    entries = [PendingEntry(prepare_submission(manifest, r.record, replace=replace), h, list(range(manifest.n)), {},
                            str(receipts_path), r.line)
               for r, h in zip(rows, hashes)]
    write_pending(pending_path, manifest, entries)
    if superseded:
        drop_pending_for_tokens(superseded, hashes)
    for i, why in (unreachable or {}).items():
        if nodes[i].down is None:
            nodes[i].down = why
    by_hash = dict(zip(hashes, tokens))
    result = _run_entries(manifest, entries, by_hash, nodes, concurrency, pending_path, progress)
    result.receipts_path = receipts_path if receipts_path.exists() else None
    return result


# ------------------------------------------------------------------------------------------------
# Resume
# ------------------------------------------------------------------------------------------------


def load_pending(path: Path) -> tuple[Manifest, list[PendingEntry]]:
    """Alias of :func:`read_pending` for callers that want to inspect before resuming."""
    return read_pending(path)


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
            nd.down = _problem(exc)
            continue
        except SurveyError as exc:
            differ.append(_labelled(manifest, i, exc))
            continue
        if hashlib.sha256(got).digest() != want:
            differ.append(f"{nd.label} serves manifest {hashlib.sha256(got).hexdigest()[:16]}…")
    if differ:
        raise InvalidManifest("refusing to resume: not every node serves the survey's manifest: " + "; ".join(differ))


def resume_pending(path: Path, tokens: Iterable[str], nodes: Sequence[NodeClient] | None = None, *,
                   manifest: Manifest | None = None, entries: list[PendingEntry] | None = None,
                   concurrency: int = 8, retry: RetryPolicy | None = None, timeout: float = 30.0,
                   progress: Callable[[int], None] | None = None) -> BatchResult:
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
    own = nodes is None
    if nodes is None:
        nodes = connect_nodes(manifest, retry=retry, timeout=timeout, max_connections=max(1, concurrency))
    try:
        check_manifest_served(manifest, nodes, sorted({i for e in entries for i in e.nodes}))
        single = len(entries) == 1 and entries[0].receipt.endswith(".json")
        if single:
            e = entries[0]
            out = upload_submission(e.prepared, by_hash[e.token_sha256], nodes, only=e.nodes)
            res = _finish_single(manifest, out, e, path, Path(e.receipt))
            if progress is not None:
                progress(1)
            br = BatchResult(outcomes=[res.outcome], receipts_path=res.receipt_path, pending_path=res.pending_path)
            if res.outcome.complete:
                br.submitted = 1
            else:
                if res.outcome.pending and not res.outcome.refused:
                    br.pending.append((e.line, e.prepared.submission_id,
                                       ", ".join(node_label(manifest, i) for i in sorted(res.outcome.pending))))
                if res.outcome.rejected:
                    br.failed.append((e.line, e.prepared.submission_id, str(res.error)))
            return br
        br = _run_entries(manifest, entries, by_hash, nodes, concurrency, path, progress)
        receipts = {Path(e.receipt) for e in entries}
        br.receipts_path = next(iter(receipts)) if len(receipts) == 1 else None
        return br
    finally:
        if own:
            close_nodes(nodes)
