"""What the node's OpenAPI document (``/openapi.json``) says about bodies and answers that FastAPI
cannot infer: the upload bodies (read raw and parsed by protocol.wire, the authority) and the
error answers.  Flat tables, used by mpc_nodes/server.py's routes."""

from __future__ import annotations

from typing import Any

from protocol.rejection import Deferral, RejectionReason
from protocol.wire import BULK_CONTENT_TYPE, IDS_CONTENT_TYPE, UploadStatus

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
    "properties": {
        "error": {"type": "string", "description": "the kind of error: an exception class of protocol/errors.py"},
        "detail": {"type": "string", "description": "one line for a person"},
        "reason": {"type": "string", "enum": [r.value for r in RejectionReason] + [d.value for d in Deferral],
                   "description": "the check that refused the request, or why the node did not look at it "
                                  "(protocol/rejection.py); a client may branch on it"},
    },
}
_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before sending the request again",
                                "schema": {"type": "integer", "minimum": 1}}}

_ERROR_CONTENT = {"content": {"application/json": {"schema": ERROR_SCHEMA}}}
_READ_ERRORS: dict[int, Any] = {
    code: {"description": why, **_ERROR_CONTENT}
    for code, why in ((400, "bad request"), (403, "credential or node signature missing or wrong"),
                      (404, "unknown survey, or no result yet"), (409, "wrong survey state"))}
#: What any endpoint may answer before looking at the request (mpc_nodes/guard.py).
_DEFERRALS: dict[int | str, Any] = {
    429: {"description": "too many failed requests from this address: retry after Retry-After seconds",
          "headers": _RETRY_AFTER, **_ERROR_CONTENT}}
#: ... and an endpoint that takes a body.
_BODY_DEFERRALS: dict[int | str, Any] = {
    **_DEFERRALS,
    408: {"description": "the request body stopped arriving", **_ERROR_CONTENT},
    503: {"description": "the node holds as many request bodies as it may: retry after Retry-After seconds",
          "headers": _RETRY_AFTER, **_ERROR_CONTENT}}


def read_errors(*codes: int) -> dict[int | str, Any]:
    """The OpenAPI answers ``codes`` of a read or close endpoint, and the guard's answers."""
    return {**_DEFERRALS, **{code: _READ_ERRORS[code] for code in codes}}


def ids_binary_responses() -> dict[int | str, Any]:
    """The OpenAPI answers of ``/ids/binary``: sorted 16-byte ids, or a read error."""
    return {200: {"description": "the ids, 16 bytes each, sorted (protocol.wire.encode_ids)",
                  "content": {IDS_CONTENT_TYPE: {"schema": {"type": "string", "format": "binary"}}}},
            **read_errors(400, 403, 404, 409)}


def _upload_responses(ok: str, ok_schema: dict[str, Any] | None, refused: str) -> dict[int | str, Any]:
    """The OpenAPI answers of an upload endpoint (single record or batch)."""
    ok_doc: dict[str, Any] = {"description": ok}
    if ok_schema is not None:
        ok_doc["content"] = {"application/json": {"schema": ok_schema}}
    return {200: ok_doc, 400: {"description": refused, **_ERROR_CONTENT},
            403: {"description": "unknown token", **_ERROR_CONTENT},
            404: {"description": "unknown survey", **_ERROR_CONTENT},
            409: {"description": "token used, survey closed, id reused", **_ERROR_CONTENT},
            413: {"description": "body too large", **_ERROR_CONTENT}, **_BODY_DEFERRALS}


SUBMISSION_RESPONSES = _upload_responses("stored (or a repeat of a stored upload)", SUBMISSION_ACK_SCHEMA,
                                         "malformed body or sealed share")
SUBMISSION_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": SUBMISSION_UPLOAD_SCHEMA}}}}
BATCH_RESPONSES = _upload_responses("every record stored (or a repeat of a stored batch); one status per record",
                                    None, "malformed body, certificate or share block (the whole batch is refused)")
BATCH_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": BULK_UPLOAD_SCHEMA},
    BULK_CONTENT_TYPE: {"schema": {
        "type": "string", "format": "binary",
        "description": "the same fields without base64 or JSON (protocol.wire.BulkBody): what salary-submit --csv "
                       "sends"}}}}}
