"""The node's HTTPS API (FastAPI, served by uvicorn with the node's TLS certificate).

Every request first passes mpc_nodes/guard.py (failed requests per address, size, request
bodies held in memory); every upload then passes the checks of mpc_nodes/ingest.py, in order,
and is committed to SQLite *before* the node answers.  A refusal is JSON ``{"error": <kind>,
"detail": <one line>, "reason": <check>}``: a refusal of the request itself (4xx, a
``RejectionReason``) cannot be helped by retrying; the guard's deferrals (408, 429, 503, with
``Retry-After``) and a 5xx can (protocol/rejection.py).  This module only routes: each endpoint
reads the request and calls the ingest checks or the store, and :func:`refusal` turns every
refusal into its answer.  Anonymous callers get the health answer and a survey's manifest;
everything that counts or lists submissions needs a node signature or the analyst credential.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from protocol.errors import SurveyError
from protocol.nodeauth import HEADER, frozen_set_statement, sign_statement, verify_request
from protocol.rejection import RejectionReason, refused_as
from protocol.wire import (
    BULK_CONTENT_TYPE,
    IDS_CONTENT_TYPE,
    ComputeState,
    FrozenSet,
    NodeStatus,
    ResultShare,
    SetSummary,
    SurveyState,
    b64e,
    decode_bucket_list,
    encode_ids,
    id_bucket,
    set_digest,
)

from . import keys, openapi
from .cors import BrowserCors, add_preflight_routes
from .guard import Guard, GuardLimits, answer
from .ingest import Ingest
from .ostools import die_with_parent
from .store import NodeStore
from .webpage import add_page_routes


def refusal(exc: SurveyError) -> JSONResponse:
    """The answer to a refused request: its reason's status and error name (protocol.rejection),
    the exception's one-line detail.  An error no check of the node classified is a 400 under its
    own class name."""
    if exc.reason is None:
        return JSONResponse({"error": type(exc).__name__, "detail": str(exc)}, status_code=400)
    return answer(exc.reason.wire, str(exc), exc.reason.value)


def _bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else None


def _peer_or_analyst(store: NodeStore, survey_id: str, request: Request) -> None:
    """Allow the survey's nodes (signed request) and the analyst (credential)."""
    if request.headers.get(HEADER):
        with refused_as(RejectionReason.CREDENTIAL_REFUSED):
            verify_request(request.headers.get(HEADER), request.method, request.url.path,
                           store.survey(survey_id).manifest)
    else:
        store.check_analyst(survey_id, _bearer(request))


def frozen_set(store: NodeStore, tls_key: bytes, survey_id: str) -> FrozenSet:
    """The submission ids this node holds, signed with its TLS key once the survey is closed."""
    rec = store.survey(survey_id)
    state = store.state(survey_id)
    if state == SurveyState.PURGED:
        raise RejectionReason.SURVEY_PURGED.exception("survey has been purged")
    sub_ids = store.submission_ids(survey_id)
    digest, frozen = set_digest(sub_ids), state != SurveyState.OPEN
    sig = ""
    if frozen:  # a signed statement: see protocol.wire.FrozenSet
        stmt = frozen_set_statement(survey_id, rec.manifest.hash_hex(), rec.node_index, digest)
        sig = b64e(sign_statement(tls_key, stmt))
    return FrozenSet(survey_id, rec.node_index, rec.manifest.hash_hex(), len(sub_ids), digest,
                     sub_ids, frozen, sig, store.refused_ids(survey_id))


def add_compact_id_routes(app: FastAPI, store: NodeStore, tls_key: bytes) -> None:
    """The id set as the other nodes fetch it for the agreement: a summary first, then only the
    ids that differ, in binary (mpc_nodes/agreement.py)."""

    @app.get("/v1/surveys/{survey_id}/ids/summary", responses=openapi.read_errors(403, 404, 409))
    def ids_summary(survey_id: str, request: Request) -> SetSummary:
        """The id set's count, signed digest and bucket digests, without the ids (for peers)."""
        _peer_or_analyst(store, survey_id, request)
        return SetSummary.of(frozen_set(store, tls_key, survey_id))

    @app.get("/v1/surveys/{survey_id}/ids/binary", responses=openapi.ids_binary_responses())
    def ids_binary(survey_id: str, request: Request, buckets: str | None = None) -> Response:
        """The ids this node holds, 16 bytes each and sorted; only those of ``buckets`` (two hex
        digits per bucket, an id's bucket being its first byte) when given (for peers)."""
        _peer_or_analyst(store, survey_id, request)
        wanted = None if buckets is None else set(decode_bucket_list(buckets))
        ids = frozen_set(store, tls_key, survey_id).submission_ids
        return Response(encode_ids(sid for sid in ids if wanted is None or id_bucket(sid) in wanted),
                        media_type=IDS_CONTENT_TYPE)


def release(store: NodeStore, survey_id: str) -> ResultShare:
    """This node's committed result share (the release is audited)."""
    rec = store.survey(survey_id)
    res = store.result(survey_id)
    if res is None:
        raise RejectionReason.NOT_COMPUTED.exception("no result yet: the nodes have not finished 'mpc-node compute'")
    store.note_release(survey_id)
    return ResultShare(survey_id, rec.node_index, rec.manifest.hash_hex(), b64e(res.sealed), res.accepted,
                       res.rejected, res.agreed_digest, res.computed_at, res.run_id, list(res.caught),
                       res.set_aside, res.anchor, list(res.left_out))


async def read_body(request: Request) -> bytearray:
    """The request body in one buffer, allocated once when Content-Length is given (joining the
    received pieces at the end would hold a large body twice)."""
    declared = request.headers.get("content-length", "")
    buf = bytearray(int(declared)) if declared.isdigit() else bytearray()
    filled = 0
    async for chunk in request.stream():
        end = filled + len(chunk)
        if end <= len(buf):
            buf[filled:end] = chunk
        else:
            del buf[filled:]
            buf += chunk
        filled = end
    del buf[filled:]
    return buf


def version() -> str:
    """This program's version (what ``/v1/health`` tells anyone)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("salary-mpc")
    except PackageNotFoundError:
        return "unknown"


def _upload_routes(app: FastAPI, ingest: Ingest) -> None:
    """POST .../submissions and .../batches: the body read once, the checks and the durable
    commit in a worker thread (HPKE open and fsync block; the event loop must not)."""

    @app.post("/v1/surveys/{survey_id}/submissions", responses=openapi.SUBMISSION_RESPONSES,
              openapi_extra=openapi.SUBMISSION_BODY)
    async def submit(survey_id: str, request: Request) -> JSONResponse:
        """Store one node's sealed share of one record (durably, before answering)."""
        body = await read_body(request)
        return JSONResponse((await run_in_threadpool(ingest.check_upload, survey_id, body)).__dict__)

    @app.post("/v1/surveys/{survey_id}/batches", responses=openapi.BATCH_RESPONSES, openapi_extra=openapi.BATCH_BODY)
    async def submit_batch(survey_id: str, request: Request) -> JSONResponse:
        """Store one node's sealed shares of a batch of records (an HR file): one certificate, one
        sealed block, one transaction — all records or none, durably, before answering."""
        binary = request.headers.get("content-type", "").split(";")[0].strip().lower() == BULK_CONTENT_TYPE
        body = await read_body(request)
        # check_batch empties the buffer once parsed: no other reference to it may stay here.
        return JSONResponse((await run_in_threadpool(ingest.check_batch, survey_id, body, binary)).__dict__)


def create_app(node_dir: Path, store: NodeStore | None = None, limits: GuardLimits | None = None) -> FastAPI:
    """The API of the node in ``node_dir`` (keys from keygen, surveys from ``mpc-node init``);
    ``limits``: the admission limits of mpc_nodes.guard (default: the production ones)."""
    store = store or NodeStore(node_dir / keys.DB_FILE)
    store.preload_tokens()
    ingest = Ingest(store, keys.load_hpke_private(node_dir))
    tls_key = (node_dir / keys.TLS_KEY_FILE).read_bytes()
    app = FastAPI(title="salary-mpc node", version="1", description=__doc__)

    @app.exception_handler(SurveyError)
    async def _refused(request: Request, exc: SurveyError) -> JSONResponse:
        return refusal(exc)

    running = version()

    @app.get("/v1/health", responses=openapi.read_errors())
    def health() -> dict[str, Any]:
        """Up or not, and the program's version: nothing a stranger could not know anyway."""
        return {"ok": True, "version": running}

    @app.get("/v1/surveys/{survey_id}/manifest", responses=openapi.read_errors(404))
    def manifest(survey_id: str) -> Response:
        return Response(store.survey(survey_id).manifest_bytes, media_type="application/json")

    @app.get("/v1/surveys/{survey_id}/status", responses=openapi.read_errors(403, 404))
    def status(survey_id: str, request: Request) -> NodeStatus:
        """State and live submission count: for the survey's nodes and its analyst only (watching
        the count move would tell a stranger when a colleague submits)."""
        _peer_or_analyst(store, survey_id, request)
        rec = store.survey(survey_id)
        return NodeStatus(survey_id, rec.node_index, rec.manifest.hash_hex(), store.state(survey_id),
                          store.count(survey_id), rec.manifest.closes_at)

    _upload_routes(app, ingest)
    add_preflight_routes(app)
    add_page_routes(app, store, node_dir)

    @app.post("/v1/surveys/{survey_id}/close", responses=openapi.read_errors(403, 404))
    def close(survey_id: str, request: Request) -> dict[str, Any]:
        store.check_analyst(survey_id, _bearer(request))
        closed_now = store.close_survey(survey_id, "organiser")
        return {"survey_id": survey_id, "state": store.state(survey_id), "closed_now": closed_now,
                "submissions": store.count(survey_id)}

    @app.get("/v1/surveys/{survey_id}/ids", responses=openapi.read_errors(403, 404, 409))
    def ids(survey_id: str, request: Request) -> FrozenSet:
        """The submission ids this node holds (``frozen`` once closed): for peers and the analyst."""
        _peer_or_analyst(store, survey_id, request)
        return frozen_set(store, tls_key, survey_id)

    add_compact_id_routes(app, store, tls_key)

    @app.get("/v1/surveys/{survey_id}/compute", responses=openapi.read_errors(403, 404))
    def compute_state(survey_id: str, request: Request) -> ComputeState:
        """Where this node is in the two-phase commit of the result (for peers)."""
        _peer_or_analyst(store, survey_id, request)
        rec = store.survey(survey_id)
        state, run_id = store.result_state(survey_id)
        return ComputeState(survey_id, rec.node_index, state, run_id, store.anchors(survey_id))

    @app.get("/v1/surveys/{survey_id}/result", responses=openapi.read_errors(403, 404))
    def result(survey_id: str, request: Request) -> Any:
        """This node's committed result share, sealed to the analyst (analyst credential required)."""
        store.check_analyst(survey_id, _bearer(request))
        return release(store, survey_id)

    # The guard outside every route: every limit applies before any route reads the request.
    # BrowserCors outside the guard (inside only Starlette's handler of unexpected errors): an
    # allowed page can read the guard's answers too.
    app.add_middleware(Guard, limits=limits)
    app.add_middleware(BrowserCors, origins=lambda sid: store.survey(sid).manifest.browser_origins())
    return app


KEEP_ALIVE_SECONDS = 60


def _serve_on(node_dir: Path, sock: Any, log_level: str) -> None:
    import uvicorn

    # Idle connections stay open for a minute (uvicorn's default is 5 s): a peer polls again
    # after its MPC, and over a long path each new TLS connection costs two more round trips.
    config = uvicorn.Config(create_app(node_dir), ssl_certfile=str(node_dir / keys.TLS_CERT_FILE),
                            ssl_keyfile=str(node_dir / keys.TLS_KEY_FILE), log_level=log_level, access_log=False,
                            timeout_keep_alive=KEEP_ALIVE_SECONDS)
    uvicorn.Server(config).run(sockets=[sock])


def listen_socket(host: str, port: int) -> Any:
    """A listening TCP socket on (host, port), declared IPPROTO_TCP: asyncio sets TCP_NODELAY
    only on connections from sockets that say so (``socket.create_server`` leaves the protocol
    number 0).  Without it an answer written in two pieces (headers, body) waited for the
    client's delayed acknowledgement: 40 ms on every upload, which capped a node near 330
    single uploads/s.  Raises :class:`SurveyError` if the address cannot be bound."""
    import errno
    import socket

    try:
        listening = socket.create_server((host, port), backlog=2048)
    except OSError as exc:
        hint = (" (an address of another machine, e.g. behind a proxy or NAT: pass --host with this machine's "
                "address, or 0.0.0.0)" if exc.errno == errno.EADDRNOTAVAIL else "")
        raise SurveyError(f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}") from None
    return socket.socket(listening.family, listening.type, socket.IPPROTO_TCP, fileno=listening.detach())


def listen_address(node_dir: Path, host: str | None = None, port: int | None = None) -> tuple[str, int]:
    """Where ``serve`` listens: ``host`` and ``port``, each defaulting to the node's own URL's
    (so that a node reachable at https://10.0.0.5:8441 listens there, not on 127.0.0.1).
    Raises :class:`SurveyError` when the URL leaves one undetermined."""
    from urllib.parse import urlsplit

    url = urlsplit(keys.load_public(node_dir).url)
    if port is None:
        port = url.port
        if port is None:
            raise SurveyError("this node's URL has no port; pass --port")
    if host is None:
        host = url.hostname
        if not host:
            raise SurveyError("this node's URL has no host; pass --host")
    return host, port


def startup_lines(node_dir: Path, host: str, port: int, workers: int) -> list[str]:
    """What ``serve`` prints once it listens: where, and every survey it serves with its state."""
    pub = keys.load_public(node_dir)
    shown = f"[{host}]" if ":" in host else host
    lines = [f"mpc-node serve: {pub.name} listening on https://{shown}:{port} ({workers} worker"
             f"{'s' if workers != 1 else ''}); its URL in the manifest: {pub.url}"]
    store = NodeStore(node_dir / keys.DB_FILE)
    try:
        sids = store.survey_ids()
        for sid in sids:
            rec = store.survey(sid)
            lines.append(f"  survey {sid}: node {rec.node_index} of {rec.manifest.n}, {store.state(sid)}, "
                         f"{store.count(sid)} submissions, closes {rec.manifest.closes_at}")
    finally:
        store.close()
    if not sids:
        lines.append("  no survey imported yet ('mpc-node init --bundle node-bundle.json')")
    return lines


def run_server(node_dir: Path, host: str | None = None, port: int | None = None, log_level: str = "warning",
               workers: int = 1, say: Callable[[str], None] | None = None) -> None:
    """Serve the node's API over HTTPS with the node's certificate (blocks).

    ``host`` and ``port`` default to those of the node's URL (:func:`listen_address`); once the
    socket listens, ``say`` gets :func:`startup_lines`.

    ``workers`` processes accept connections from one listening socket, each with its own
    database connection: an upload's work (TLS, parsing, HPKE, signature and commitment checks)
    runs on every core, and SQLite's write lock serialises the transactions, so every
    acknowledgement still follows its own durable commit.  Extra workers are forked before any
    of them opens the database, and die with the main process (Linux).
    """
    import os
    import signal

    host, port = listen_address(node_dir, host, port)
    if workers < 1:
        raise SurveyError("--workers must be at least 1")
    sock = listen_socket(host, port)
    if say is not None:
        for line in startup_lines(node_dir, host, port, workers):
            say(line)
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
    ap.add_argument("--host", help="address to listen on (default: the host of the node's URL)")
    ap.add_argument("--port", type=int)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args(argv)
    try:
        run_server(args.dir, args.host, args.port, workers=args.workers, say=lambda s: print(s, flush=True))
    except SurveyError as exc:
        print(f"mpc-node: error: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
