"""Every check an upload must pass before the node stores it, in the order they run.

:meth:`Ingest.check_upload` (one record) and :meth:`Ingest.check_batch` (a bulk body) each list
their checks top to bottom, then store through :meth:`NodeStore.accept` /
:meth:`NodeStore.accept_batch`.  The order is by cost, cheapest first, so that a request from
someone without a participation token costs the node as little as possible and leaves nothing
behind: size, survey, the strict schema, the survey open, then every token known (a hash look-up
in memory) -- all before any signature check, HPKE open, range check or write.  The store runs,
inside the write transaction, the checks whose answer another upload can change meanwhile (the
submission id not stored with other content, the survey still open, the token known and not
used), so that two uploads racing on one id or token cannot both pass.

Every refusal raises a :class:`SurveyError` that carries its
:class:`~protocol.rejection.RejectionReason` (raised with it, or tagged by
:func:`~protocol.rejection.refused_as` where the check is a protocol function whose failures all
mean one thing).  An upload refused after its share opened (its content is wrong, not its
envelope) is put on record by :meth:`NodeStore.note_refused` -- only if its token is valid and
has no stored submission, once per token -- so that every node counts it as rejected.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from protocol import fastfield
from protocol.commitment import (
    COMMIT_BYTES,
    MAX_BATCH,
    Batch,
    batch_envelope_id,
    batch_record_id,
    check_share,
    share_commitment,
    verify_batch,
    verify_certificate,
)
from protocol.envelope import open_share_block, open_share_elements
from protocol.errors import InvalidSubmission, SurveyError
from protocol.field import ELEMENT_BYTES
from protocol.rejection import RejectionReason as R
from protocol.rejection import refused_as
from protocol.tokens import token_hash
from protocol.wire import (
    MAX_BODY_BYTES,
    MAX_BULK_BODY_BYTES,
    BulkAck,
    BulkBody,
    BulkUpload,
    SubmissionAck,
    SubmissionUpload,
    SurveyState,
    b64d,
)

from .store import NodeStore

#: Bytes of a share block range-checked at once.
_RANGE_CHECK_BYTES = 4 << 20


def too_large(limit: int) -> SurveyError:
    """The refusal of a request body above ``limit`` bytes (also raised by the HTTP layer, which
    stops reading such a body as soon as it passes the limit)."""
    return R.BODY_TOO_LARGE.exception(f"request body above {limit} bytes")


@dataclass(frozen=True)
class Ingest:
    """One node's upload checks: its store and its HPKE private key.  ``opening`` lets one bulk
    upload at a time be opened: the open holds a batch three times over (sealed block, plaintext,
    the shares cut from it), the rest of the checks once."""

    store: NodeStore
    hpke_key: X25519PrivateKey
    opening: threading.Semaphore = field(default_factory=lambda: threading.BoundedSemaphore(1), compare=False)

    def check_upload(self, survey_id: str, body: bytes | bytearray) -> SubmissionAck:
        """Check one record's upload (a JSON :class:`SubmissionUpload`) and store it durably
        before returning its acknowledgement."""
        # Size first (BODY_TOO_LARGE): the cheapest check, and it bounds the work of all others.
        if len(body) > MAX_BODY_BYTES:
            raise too_large(MAX_BODY_BYTES)
        # The survey must be held here (UNKNOWN_SURVEY): its manifest fixes the nodes, the vector
        # length and the field that everything below is checked against.
        rec = self.store.survey(survey_id)
        m, mh, node = rec.manifest, rec.manifest.hash(), rec.node_index
        # Strict schema before any field is used: unknown fields refused, not ignored.
        with refused_as(R.MALFORMED_BODY):
            up = SubmissionUpload.parse(_json(body))
        # The survey open (SURVEY_CLOSED), unless this repeats a stored upload (answered at any time).
        self._open_or_repeat(survey_id, up.submission_id)
        # The token one of the survey's (UNKNOWN_TOKEN): an in-memory look-up, before any
        # cryptography, so that nobody without a token can make the node work or write.
        th = token_hash(up.token)
        if self.store.first_unknown_token(survey_id, [th]) is not None:
            raise R.UNKNOWN_TOKEN.exception("unknown participation token for this survey")
        with refused_as(R.BAD_BASE64):
            sealed, cert_bytes = up.envelope_bytes(), up.certificate_bytes()
        with self._noted_if_malformed(survey_id, [th], [up.submission_id]):
            # Open the share now, so that a tampered, truncated or replayed envelope is refused at
            # once rather than at compute: the HPKE info binds survey, node and submission id
            # (ENVELOPE_DOES_NOT_OPEN); inside, the format and the survey's width (SHARE_MALFORMED).
            with refused_as(R.ENVELOPE_DOES_NOT_OPEN, R.SHARE_MALFORMED):
                share = open_share_elements(sealed, self.hpke_key, mh, node, bytes.fromhex(up.submission_id),
                                            m.vector_length())
            # Every entry a reduced field element (UNREDUCED_ELEMENT): what cannot be a share is
            # refused while the contributor still waits for the answer, not set aside at compute.
            _all_reduced(share, 1, m.vector_length(), m.field_modulus,
                         "share vector is malformed: value is not a reduced field element")
            # The certificate: the layout for this survey's n nodes (CERTIFICATE_MALFORMED), the id
            # the hash of its key, so one id has one key (ID_NOT_BOUND), and the contributor's
            # signature over every node's commitment (SIGNATURE_INVALID).
            cert = verify_certificate(cert_bytes, up.submission_id, m.n, mh)
            # The share must be the one the contributor committed to for this node: this is what
            # lets the nodes tell a lying node from a lying contributor at compute
            # (SHARE_NOT_COMMITTED).
            check_share(cert, mh, up.submission_id, node, share)
        # Atomic with the write (NodeStore.accept): id not stored with other content, a repeat being
        # answered "duplicate" (DUPLICATE_ID); survey open (SURVEY_CLOSED); token known
        # (UNKNOWN_TOKEN); token unused unless replacing (TOKEN_USED).
        return self.store.accept(survey_id, up.submission_id, up.token, sealed, up.replace, cert_bytes, share)

    def check_batch(self, survey_id: str, body: bytes | bytearray, binary: bool) -> BulkAck:
        """Check a bulk upload (:class:`BulkBody` if ``binary``, else JSON :class:`BulkUpload`)
        and store all of its records in one transaction, or none: any refusal refuses the batch.
        A ``bytearray`` body is emptied once parsed, so that the request is held in memory once
        (the HTTP layer reads bulk bodies into one and keeps no other reference)."""
        # Size, survey, strict schema: as for one record.
        if len(body) > MAX_BULK_BODY_BYTES:
            raise too_large(MAX_BULK_BODY_BYTES)
        rec = self.store.survey(survey_id)
        m, mh, node = rec.manifest, rec.manifest.hash(), rec.node_index
        fields = _bulk_fields(body, binary)
        if isinstance(body, bytearray):
            body.clear()
        # At most MAX_BATCH records (MALFORMED_BODY): bounds the per-record work below.
        if not 1 <= len(fields.tokens) <= MAX_BATCH:
            raise R.MALFORMED_BODY.exception(f"a batch holds 1 to {MAX_BATCH} records")
        k, width = len(fields.tokens), m.vector_length()
        # One token per record (TOKEN_REPEATED): a batch cannot store two records under one token.
        th = [token_hash(t) for t in fields.tokens]
        if len(set(th)) != k:
            raise R.TOKEN_REPEATED.exception("a bulk upload uses one participation token twice")
        # The survey open unless the batch is a repeat (its first record stored), then every token
        # known (UNKNOWN_TOKEN, naming the first unknown record): as for one record, before any
        # signature check or HPKE open.
        with refused_as(R.BAD_BASE64):
            batch_key = fields.batch_key if isinstance(fields, BulkBody) else b64d(fields.batch_key, "batch_key")
        self._open_or_repeat(survey_id, batch_record_id(batch_key, 0))
        if (unknown := self.store.first_unknown_token(survey_id, th)) is not None:
            raise R.UNKNOWN_TOKEN.exception(f"record {unknown} of the batch: unknown participation token for this "
                                            "survey")
        up = fields if isinstance(fields, BulkBody) else _decoded(fields)
        del fields
        # The batch certificate: one signature over the Merkle root of all k records' commitments
        # checks them all at once, and fixes the record ids (derived from its key).  Key, signature
        # and commitments of the right lengths (CERTIFICATE_MALFORMED), the signature
        # (SIGNATURE_INVALID).
        batch = verify_batch(up.batch_key, up.signature, up.commitments, k, m.n, mh)
        envelope_id = batch_envelope_id(up.batch_key)
        envelope_sha = hashlib.sha256(up.envelope).hexdigest()
        # One HPKE open for the whole block, bound to this survey, node and batch key
        # (ENVELOPE_DOES_NOT_OPEN); its shape must be k records of the survey's width
        # (SHARE_MALFORMED).
        with self.opening:
            with refused_as(R.ENVELOPE_DOES_NOT_OPEN, R.SHARE_MALFORMED):
                block = open_share_block(up.envelope, self.hpke_key, mh, node, envelope_id, k, width)
            tokens, replace = up.tokens, up.replace
            del up  # the sealed block is not needed any more: free it before the next open
        with self._noted_if_malformed(survey_id, th, batch.ids):
            _all_reduced(block, k, width, m.field_modulus, "share block holds a value that is not a reduced field "
                                                           "element")
            view = memoryview(block)
            rows = [view[ELEMENT_BYTES * width * r: ELEMENT_BYTES * width * (r + 1)] for r in range(k)]
            # Every record's share must be the one committed to, as for one record
            # (SHARE_NOT_COMMITTED, naming the first record that is not).
            _rows_committed(batch, mh, node, rows)
        # NodeStore.accept_batch, atomic with the write: the checks of one record for every record,
        # naming the first offending one.
        statuses, stored_at = self.store.accept_batch(
            survey_id, envelope_id.hex(), batch.ids, tokens, rows, [batch.certificate(r) for r in range(k)],
            envelope_sha, replace)
        return BulkAck(survey_id, node, envelope_id.hex(), envelope_sha, list(batch.ids), [str(s) for s in statuses],
                       stored_at)

    def _open_or_repeat(self, survey_id: str, submission_id: str) -> None:
        """Refuse (SURVEY_CLOSED) unless the survey is open or ``submission_id`` is stored (a
        repeat of a stored upload is answered "duplicate" after closing too)."""
        if self.store.state(survey_id) != SurveyState.OPEN and not self.store.holds(survey_id, submission_id):
            raise R.SURVEY_CLOSED.exception(f"survey {survey_id} is closed and accepts no more submissions")

    @contextmanager
    def _noted_if_malformed(self, survey_id: str, token_hashes: Sequence[str],
                            submission_ids: Sequence[str]) -> Iterator[None]:
        """Note an :class:`InvalidSubmission` raised inside under ``submission_ids`` (then let it
        go on): the envelope was sealed for this node and these ids, so every node must count
        them as rejected, not as never sent -- if their tokens are valid and unused, once per
        token (:meth:`NodeStore.note_refused`).  A :class:`DecryptionFailed` is not noted."""
        try:
            yield
        except InvalidSubmission as exc:
            self.store.note_refused(survey_id, token_hashes, submission_ids, str(exc))
            raise


def _json(body: bytes | bytearray) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise R.MALFORMED_BODY.exception("request body is not valid JSON (or nested too deeply)") from None


def _bulk_fields(body: bytes | bytearray, binary: bool) -> BulkBody | BulkUpload:
    """A bulk upload's fields (strict schema): binary ones as bytes, JSON ones still in base64,
    decoded by :func:`_decoded` only once the tokens are known."""
    with refused_as(R.MALFORMED_BODY):
        if binary:
            return BulkBody.from_bytes(body)
        return BulkUpload.parse(_json(body))


def _decoded(up: BulkUpload) -> BulkBody:
    with refused_as(R.BAD_BASE64):
        return BulkBody.from_upload(up)


def _all_reduced(elements: bytes, rows: int, width: int, p: int, detail: str) -> None:
    """Refuse (``detail``) unless every 16-byte entry is below p (the one range check), a few MB
    at a time so that a large block is not held twice more while it is checked."""
    step = max(1, _RANGE_CHECK_BYTES // (ELEMENT_BYTES * width))
    view = memoryview(elements)
    try:
        for r in range(0, rows, step):
            n = min(step, rows - r)
            fastfield.decode_matrix(view[ELEMENT_BYTES * width * r: ELEMENT_BYTES * width * (r + n)], n, width, p)
    except ValueError:
        raise R.UNREDUCED_ELEMENT.exception(detail) from None


def _rows_committed(batch: Batch, manifest_hash: bytes, node: int, rows: Sequence[memoryview]) -> None:
    """Refuse, naming the first record, unless every row is the share its record commits to for ``node``."""
    at = COMMIT_BYTES * node
    for r, row in enumerate(rows):
        committed = batch.commitments[r][at: at + COMMIT_BYTES]
        if share_commitment(manifest_hash, batch.ids[r], node, bytes(row)) != committed:
            raise R.SHARE_NOT_COMMITTED.exception(f"record {r} of the batch: share does not match the "
                                                  "contributor's signed commitment for this node")
