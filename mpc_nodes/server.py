"""The node's HTTPS ingest API (FastAPI, served by uvicorn with the node's TLS certificate).

Every upload is validated (strict schema, then the sealed share is opened with the node's key
and checked for length and field range) and committed to SQLite *before* the node answers.
Errors are JSON ``{"error": <kind>, "detail": <one line>}`` with a status that tells a client
whether retrying can help (4xx: no; 5xx: yes).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from protocol import fastfield
from protocol.commitment import (
    COMMIT_BYTES,
    batch_envelope_id,
    check_share,
    share_commitment,
    verify_batch,
    verify_certificate,
)
from protocol.envelope import open_share_block, open_shares
from protocol.field import encode_elements
from protocol.errors import (
    DecryptionFailed,
    DuplicateSubmission,
    InvalidManifest,
    InvalidSubmission,
    InvalidToken,
    SurveyClosed,
    SurveyError,
    TokenUsed,
    UnknownSurvey,
)
from protocol.nodeauth import HEADER, frozen_set_statement, sign_statement, verify_request
from protocol.wire import (
    SurveyState,
    UploadStatus,
    MAX_BODY_BYTES,
    MAX_BULK_BODY_BYTES,
    BULK_CONTENT_TYPE,
    BulkAck,
    BulkBody,
    BulkUpload,
    ComputeState,
    FrozenSet,
    NodeStatus,
    ResultShare,
    SubmissionUpload,
    b64e,
    set_digest,
)

from . import keys
from .ostools import die_with_parent
from .store import NodeStore


#: JSON schemas published in the OpenAPI document (the parser in protocol.wire is the authority).
SUBMISSION_UPLOAD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["submission_id", "token", "envelope", "certificate"],
    "additionalProperties": False,
    "properties": {
        "submission_id": {"type": "string", "pattern": "^[0-9a-f]{32}$",
                          "description": "hash of the certificate's key, hex; the same at every node"},
        "token": {"type": "string", "minLength": 1, "maxLength": 256},
        "envelope": {"type": "string", "format": "byte",
                     "description": "base64 of the HPKE-sealed share vector (protocol/envelope.py)"},
        "certificate": {"type": "string", "format": "byte",
                        "description": "base64 of the contributor's signed commitments to every node's share "
                                       "(protocol/commitment.py)"},
        "replace": {"type": "boolean", "default": False},
    },
}
BULK_UPLOAD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["batch_key", "signature", "tokens", "commitments", "envelope"],
    "additionalProperties": False,
    "properties": {
        "batch_key": {"type": "string", "format": "byte",
                      "description": "base64 of the batch's one-time Ed25519 public key; record r's id is "
                                     "derived from it and r (protocol/commitment.py)"},
        "signature": {"type": "string", "format": "byte",
                      "description": "base64 of its signature over the Merkle root of the records' commitments"},
        "tokens": {"type": "array", "minItems": 1, "maxItems": 4096,
                   "items": {"type": "string", "minLength": 1, "maxLength": 256},
                   "description": "one participation token per record, in order"},
        "commitments": {"type": "string", "format": "byte",
                        "description": "base64 of every record's commitments to every node's share, record-major"},
        "envelope": {"type": "string", "format": "byte",
                     "description": "base64 of this node's share block, HPKE-sealed (protocol/envelope.py)"},
        "replace": {"type": "boolean", "default": False},
    },
}
SUBMISSION_ACK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["survey_id", "submission_id", "node_index", "envelope_sha256", "status", "stored_at"],
    "properties": {
        "survey_id": {"type": "string"}, "submission_id": {"type": "string"}, "node_index": {"type": "integer"},
        "envelope_sha256": {"type": "string"}, "status": {"type": "string", "enum": [s.value for s in UploadStatus]},
        "stored_at": {"type": "string"}, "replaced_submission_id": {"type": ["string", "null"]},
    },
}
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["error", "detail"],
    "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
}


def _status_for(exc: SurveyError) -> int:
    if isinstance(exc, (TokenUsed, DuplicateSubmission, SurveyClosed)):
        return 409
    if isinstance(exc, InvalidToken):
        return 403
    if isinstance(exc, UnknownSurvey):
        return 404
    if isinstance(exc, (InvalidSubmission, DecryptionFailed, InvalidManifest)):
        return 400
    return 400


def _error(status: int, kind: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": kind, "detail": detail}, status_code=status)


class BodyLimit:
    """Refuse request bodies above ``limit`` bytes (``bulk_limit`` for bulk uploads) with 413,
    whether or not Content-Length is sent."""

    def __init__(self, app: ASGIApp, limit: int, bulk_limit: int = MAX_BULK_BODY_BYTES) -> None:
        self.app, self.base_limit, self.bulk_limit = app, limit, bulk_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.bulk_limit if str(scope.get("path", "")).endswith("/batches") else self.base_limit
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > limit
                except ValueError:
                    too_big = True
                if too_big:
                    await _error(413, "PayloadTooLarge", f"request body above {limit} bytes")(scope, receive, send)
                    return
        received = 0

        async def limited() -> Message:
            nonlocal received
            msg = await receive()
            if msg["type"] == "http.request":
                received += len(msg.get("body", b""))
                if received > limit:
                    raise _TooLarge()
            return msg

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await _error(413, "PayloadTooLarge", f"request body above {limit} bytes")(scope, receive, send)


class _TooLarge(Exception):
    pass


def _json_body(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidSubmission("request body is not valid JSON (or nested too deeply)") from None


def _upload_responses(ok: str, ok_schema: dict[str, Any] | None, refused: str) -> dict[int | str, Any]:
    """The OpenAPI answers of an upload endpoint (single record or batch)."""
    err = {"content": {"application/json": {"schema": ERROR_SCHEMA}}}
    ok_doc: dict[str, Any] = {"description": ok}
    if ok_schema is not None:
        ok_doc["content"] = {"application/json": {"schema": ok_schema}}
    return {200: ok_doc, 400: {"description": refused, **err}, 403: {"description": "unknown token", **err},
            404: {"description": "unknown survey", **err},
            409: {"description": "token used, survey closed, id reused", **err},
            413: {"description": "body too large", **err}}


def _bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else None


def create_app(node_dir: Path, store: NodeStore | None = None) -> FastAPI:
    """The ingest API for the node in ``node_dir`` (keys from keygen, surveys from ``mpc-node init``)."""
    store = store or NodeStore(node_dir / keys.DB_FILE)
    store.preload_token_uses()
    hpke_sk = keys.load_hpke_private(node_dir)
    tls_key = (node_dir / keys.TLS_KEY_FILE).read_bytes()
    app = FastAPI(title="salary-mpc node", version="1", description=__doc__)

    @app.exception_handler(SurveyError)
    async def _survey_error(request: Request, exc: SurveyError) -> JSONResponse:
        return _error(_status_for(exc), exc.__class__.__name__, str(exc))

    @app.get("/v1/health")
    def health() -> dict[str, Any]:
        return {"ok": True, "surveys": store.survey_ids()}

    errors = {code: {"description": why, "content": {"application/json": {"schema": ERROR_SCHEMA}}}
              for code, why in ((400, "bad request"), (403, "credential or node signature missing or wrong"),
                                (404, "unknown survey, or no result yet"), (409, "wrong survey state"))}

    @app.get("/v1/surveys/{survey_id}/manifest", responses={404: errors[404]})
    def manifest(survey_id: str) -> Response:
        return Response(store.survey(survey_id).manifest_bytes, media_type="application/json")

    @app.get("/v1/surveys/{survey_id}/status", responses={404: errors[404]})
    def status(survey_id: str) -> NodeStatus:
        rec = store.survey(survey_id)
        return NodeStatus(survey_id, rec.node_index, rec.manifest.hash_hex(), store.state(survey_id),
                          store.count(survey_id), rec.manifest.closes_at)

    def _submit(survey_id: str, raw: bytes) -> JSONResponse:
        rec = store.survey(survey_id)
        up = SubmissionUpload.parse(_json_body(raw))
        sealed = up.envelope_bytes()
        cert_bytes = up.certificate_bytes()
        m = rec.manifest
        # Open the share now so a tampered or truncated upload is refused at once, not at compute;
        # then check that it is the share the contributor signed a commitment to (see
        # protocol.commitment: this is what lets the nodes tell a lying node from a lying contributor).
        try:
            shares = open_shares(sealed, hpke_sk, m.hash(), rec.node_index, bytes.fromhex(up.submission_id),
                                 m.vector_length(), m.field_modulus)
            cert = verify_certificate(cert_bytes, up.submission_id, m.n, m.hash())
            share_bytes = encode_elements(shares, m.field_modulus)
            check_share(cert, m.hash(), up.submission_id, rec.node_index, share_bytes)
        except InvalidSubmission as exc:
            # Authentic (it opened) but malformed inside, e.g. a vector of the wrong length: a
            # modified contributor program.  Refused, and kept on record with the reason.
            store.note_refused(survey_id, [up.submission_id], str(exc))
            raise
        ack = store.accept(survey_id, up.submission_id, up.token, sealed, up.replace, cert_bytes, share_bytes)
        return JSONResponse(ack.__dict__)

    def _submit_batch(survey_id: str, raw: bytes, binary: bool) -> JSONResponse:
        rec = store.survey(survey_id)
        m = rec.manifest
        up = BulkBody.from_bytes(raw) if binary else BulkBody.from_upload(BulkUpload.parse(_json_body(raw)))
        pk, sig, commitments, sealed = up.batch_key, up.signature, up.commitments, up.envelope
        k, width, mh = len(up.tokens), m.vector_length(), m.hash()
        # The signature first (one per batch), then the block (one HPKE open per batch), then
        # every record's share against its commitment.  Any failure refuses the whole batch.
        batch = verify_batch(pk, sig, commitments, k, m.n, mh)
        block = open_share_block(sealed, hpke_sk, mh, rec.node_index, batch_envelope_id(pk), k, width)
        try:
            try:
                fastfield.decode_matrix(block, k, width, m.field_modulus)
            except ValueError:
                raise InvalidSubmission("share block holds a value that is not a reduced field element") from None
            rows = [block[16 * width * r: 16 * width * (r + 1)] for r in range(k)]
            at = COMMIT_BYTES * rec.node_index
            for r, row in enumerate(rows):
                if share_commitment(mh, batch.ids[r], rec.node_index, row) != batch.commitments[r][at: at + COMMIT_BYTES]:
                    raise InvalidSubmission(f"record {r} of the batch: share does not match the contributor's "
                                            "signed commitment for this node")
        except InvalidSubmission as exc:
            # authentic (it opened) but malformed inside: on record, as for one upload
            store.note_refused(survey_id, batch.ids, str(exc))
            raise
        statuses, stored_at = store.accept_batch(
            survey_id, batch_envelope_id(pk).hex(), batch.ids, up.tokens, rows,
            [batch.certificate(r) for r in range(k)], hashlib.sha256(sealed).hexdigest(), up.replace)
        return JSONResponse(BulkAck(survey_id, rec.node_index, batch_envelope_id(pk).hex(),
                                    hashlib.sha256(sealed).hexdigest(), list(batch.ids), [str(s) for s in statuses],
                                    stored_at).__dict__)

    @app.post("/v1/surveys/{survey_id}/submissions",
              responses=_upload_responses("stored (or a repeat of a stored upload)", SUBMISSION_ACK_SCHEMA,
                                          "malformed body or sealed share"),
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                  "schema": SUBMISSION_UPLOAD_SCHEMA}}}})
    async def submit(survey_id: str, request: Request) -> JSONResponse:
        """Store one node's sealed share of one record (durably, before answering)."""
        raw = await request.body()
        # HPKE open and the SQLite commit (fsync) block: keep them off the event loop.
        return await run_in_threadpool(_submit, survey_id, raw)

    @app.post("/v1/surveys/{survey_id}/batches",
              responses=_upload_responses("every record stored (or a repeat of a stored batch); one status per "
                                          "record", None, "malformed body, certificate or share block (the whole "
                                          "batch is refused)"),
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": BULK_UPLOAD_SCHEMA},
                  BULK_CONTENT_TYPE: {"schema": {
                      "type": "string", "format": "binary",
                      "description": "the same fields without base64 or JSON (protocol.wire.BulkBody): what "
                                     "salary-submit --csv sends"}}}}})
    async def submit_batch(survey_id: str, request: Request) -> JSONResponse:
        """Store one node's sealed shares of a batch of records (an HR file): one certificate, one
        sealed block, one transaction — all records or none, durably, before answering."""
        raw = await request.body()
        binary = request.headers.get("content-type", "").split(";")[0].strip().lower() == BULK_CONTENT_TYPE
        return await run_in_threadpool(_submit_batch, survey_id, raw, binary)

    @app.post("/v1/surveys/{survey_id}/close", responses={403: errors[403], 404: errors[404]})
    def close(survey_id: str, request: Request) -> dict[str, Any]:
        store.check_analyst(survey_id, _bearer(request))
        closed_now = store.close_survey(survey_id, "organiser")
        return {"survey_id": survey_id, "state": store.state(survey_id), "closed_now": closed_now,
                "submissions": store.count(survey_id)}

    def _peer_or_analyst(survey_id: str, request: Request) -> None:
        """Allow the survey's nodes (signed request) and the analyst (credential)."""
        if request.headers.get(HEADER):
            verify_request(request.headers.get(HEADER), request.method, request.url.path,
                           store.survey(survey_id).manifest)
        else:
            store.check_analyst(survey_id, _bearer(request))

    @app.get("/v1/surveys/{survey_id}/ids", responses={403: errors[403], 404: errors[404], 409: errors[409]})
    def ids(survey_id: str, request: Request) -> FrozenSet:
        """The submission ids this node holds (``frozen`` once closed): for peers and the analyst."""
        _peer_or_analyst(survey_id, request)
        rec = store.survey(survey_id)
        state = store.state(survey_id)
        if state == SurveyState.PURGED:
            raise SurveyClosed("survey has been purged")
        sub_ids = store.submission_ids(survey_id)
        digest, frozen = set_digest(sub_ids), state != SurveyState.OPEN
        sig = ""
        if frozen:  # a signed statement: see protocol.wire.FrozenSet
            stmt = frozen_set_statement(survey_id, rec.manifest.hash_hex(), rec.node_index, digest)
            sig = b64e(sign_statement(tls_key, stmt))
        return FrozenSet(survey_id, rec.node_index, rec.manifest.hash_hex(), len(sub_ids), digest,
                         sub_ids, frozen, sig, store.refused_ids(survey_id))

    @app.get("/v1/surveys/{survey_id}/compute", responses={403: errors[403], 404: errors[404]})
    def compute_state(survey_id: str, request: Request) -> ComputeState:
        """Where this node is in the two-phase commit of the result (for peers)."""
        _peer_or_analyst(survey_id, request)
        rec = store.survey(survey_id)
        state, run_id = store.result_state(survey_id)
        return ComputeState(survey_id, rec.node_index, state, run_id)

    @app.get("/v1/surveys/{survey_id}/result", responses={403: errors[403], 404: errors[404]})
    def result(survey_id: str, request: Request) -> Any:
        """This node's committed result share, sealed to the analyst (analyst credential required)."""
        store.check_analyst(survey_id, _bearer(request))
        rec = store.survey(survey_id)
        res = store.result(survey_id)
        if res is None:
            return _error(404, "NotComputed", "no result yet: the nodes have not finished 'mpc-node compute'")
        store.note_release(survey_id)
        return ResultShare(survey_id, rec.node_index, rec.manifest.hash_hex(), b64e(res.sealed), res.accepted,
                           res.rejected, res.agreed_digest, res.computed_at, res.run_id, list(res.caught))

    # Wrap once, outermost: the limit applies before any parsing.
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)
    return app


def _serve_on(node_dir: Path, sock: Any, log_level: str) -> None:
    import uvicorn

    config = uvicorn.Config(create_app(node_dir), ssl_certfile=str(node_dir / keys.TLS_CERT_FILE),
                            ssl_keyfile=str(node_dir / keys.TLS_KEY_FILE), log_level=log_level, access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


def listen_socket(host: str, port: int) -> Any:
    """A listening TCP socket on (host, port), declared IPPROTO_TCP: asyncio sets TCP_NODELAY
    only on connections from sockets that say so (``socket.create_server`` leaves the protocol
    number 0).  Without it an answer written in two pieces (headers, body) waited for the
    client's delayed acknowledgement: 40 ms on every upload, which capped a node near 330
    single uploads/s.  Raises :class:`SurveyError` if the address cannot be bound."""
    import socket

    try:
        listening = socket.create_server((host, port), backlog=2048)
    except OSError as exc:
        raise SurveyError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return socket.socket(listening.family, listening.type, socket.IPPROTO_TCP, fileno=listening.detach())


def run_server(node_dir: Path, host: str = "127.0.0.1", port: int | None = None, log_level: str = "warning",
               workers: int = 1) -> None:
    """Serve the node's API over HTTPS with the node's certificate (blocks).

    ``workers`` processes accept connections from one listening socket, each with its own
    database connection: an upload's work (TLS, parsing, HPKE, signature and commitment checks)
    runs on every core, and SQLite's write lock serialises the transactions, so every
    acknowledgement still follows its own durable commit.  Extra workers are forked before any
    of them opens the database, and die with the main process (Linux).
    """
    import os
    import signal

    if port is None:
        from urllib.parse import urlparse

        port = urlparse(keys.load_public(node_dir).url).port
        if port is None:
            raise SurveyError("this node's URL has no port; pass --port")
    if workers < 1:
        raise SurveyError("--workers must be at least 1")
    sock = listen_socket(host, port)
    children: list[int] = []
    try:
        for _ in range(workers - 1):
            pid = os.fork()
            if pid == 0:  # pragma: no cover - a worker: serves until told to stop
                code = 0
                try:
                    die_with_parent()
                    _serve_on(node_dir, sock, log_level)
                except BaseException:  # noqa: BLE001 - reported, then the worker exits
                    import traceback

                    traceback.print_exc()
                    code = 1
                finally:
                    os._exit(code)
            children.append(pid)
        _serve_on(node_dir, sock, log_level)
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid in children:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        sock.close()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Serve a node's HTTPS ingest API (prefer 'mpc-node serve').")
    ap.add_argument("--dir", required=True, type=Path)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args(argv)
    try:
        run_server(args.dir, args.host, args.port, workers=args.workers)
    except SurveyError as exc:
        print(f"mpc-node: error: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
