"""Every check an upload must pass before the node stores it, in the order they run.

:meth:`Ingest.check_upload` (one record) and :meth:`Ingest.check_batch` (a bulk body) each list
their checks top to bottom, then store through :meth:`NodeStore.accept` /
:meth:`NodeStore.accept_batch`.  The split: the checks here depend only on the request, the
survey's manifest and the node's HPKE key, and run outside any lock.  The store runs the checks
its own rules rest on (one submission per token, one content per id, nothing new once closed):
a batch naming one token twice, and, inside the write transaction, the checks whose answer
another upload can change meanwhile (the submission id not stored with other content, the
survey still open, the token known and not used), so that two uploads racing on one id or token
cannot both pass.

Every refusal raises a :class:`SurveyError` that carries its
:class:`~protocol.rejection.RejectionReason` (raised with it, or tagged by
:func:`~protocol.rejection.refused_as` where the check is a protocol function whose failures all
mean one thing).  A refusal after the share opened is also noted in the audit log and listed in
``/ids`` (:meth:`NodeStore.note_refused`), so that every node counts that submission as rejected.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from protocol import fastfield
from protocol.commitment import (
    COMMIT_BYTES,
    Batch,
    batch_envelope_id,
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
from protocol.wire import (
    MAX_BODY_BYTES,
    MAX_BULK_BODY_BYTES,
    BulkAck,
    BulkBody,
    BulkUpload,
    SubmissionAck,
    SubmissionUpload,
)

from .store import NodeStore


def too_large(limit: int) -> SurveyError:
    """The refusal of a request body above ``limit`` bytes (also raised by the HTTP layer, which
    stops reading such a body as soon as it passes the limit)."""
    return R.BODY_TOO_LARGE.exception(f"request body above {limit} bytes")


@dataclass(frozen=True)
class Ingest:
    """One node's upload checks: its store and its HPKE private key."""

    store: NodeStore
    hpke_key: X25519PrivateKey

    def check_upload(self, survey_id: str, body: bytes) -> SubmissionAck:
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
        with refused_as(R.BAD_BASE64):
            sealed, cert_bytes = up.envelope_bytes(), up.certificate_bytes()
        with self._noted_if_malformed(survey_id, [up.submission_id]):
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

    def check_batch(self, survey_id: str, body: bytes, binary: bool) -> BulkAck:
        """Check a bulk upload (:class:`BulkBody` if ``binary``, else JSON :class:`BulkUpload`)
        and store all of its records in one transaction, or none: any refusal refuses the batch."""
        # Size, survey, strict schema, base64: as for one record.
        if len(body) > MAX_BULK_BODY_BYTES:
            raise too_large(MAX_BULK_BODY_BYTES)
        rec = self.store.survey(survey_id)
        m, mh, node = rec.manifest, rec.manifest.hash(), rec.node_index
        up = _bulk_body(body, binary)
        k, width = len(up.tokens), m.vector_length()
        # The batch certificate first: one signature over the Merkle root of all k records'
        # commitments checks them all at once, and fixes the record ids (derived from its key).
        # At most MAX_BATCH records (MALFORMED_BODY), key, signature and commitments of the right
        # lengths (CERTIFICATE_MALFORMED), the signature (SIGNATURE_INVALID).
        batch = verify_batch(up.batch_key, up.signature, up.commitments, k, m.n, mh)
        envelope_id = batch_envelope_id(up.batch_key)
        # One HPKE open for the whole block, bound to this survey, node and batch key
        # (ENVELOPE_DOES_NOT_OPEN); its shape must be k records of the survey's width
        # (SHARE_MALFORMED).
        with refused_as(R.ENVELOPE_DOES_NOT_OPEN, R.SHARE_MALFORMED):
            block = open_share_block(up.envelope, self.hpke_key, mh, node, envelope_id, k, width)
        with self._noted_if_malformed(survey_id, batch.ids):
            _all_reduced(block, k, width, m.field_modulus, "share block holds a value that is not a reduced field "
                                                           "element")
            rows = [block[ELEMENT_BYTES * width * r: ELEMENT_BYTES * width * (r + 1)] for r in range(k)]
            # Every record's share must be the one committed to, as for one record
            # (SHARE_NOT_COMMITTED, naming the first record that is not).
            _rows_committed(batch, mh, node, rows)
        # NodeStore.accept_batch: no token twice in the batch (TOKEN_REPEATED), then, atomic with
        # the write, the checks of one record for every record, naming the first offending one.
        envelope_sha = hashlib.sha256(up.envelope).hexdigest()
        statuses, stored_at = self.store.accept_batch(
            survey_id, envelope_id.hex(), batch.ids, up.tokens, rows, [batch.certificate(r) for r in range(k)],
            envelope_sha, up.replace)
        return BulkAck(survey_id, node, envelope_id.hex(), envelope_sha, list(batch.ids), [str(s) for s in statuses],
                       stored_at)

    @contextmanager
    def _noted_if_malformed(self, survey_id: str, submission_ids: Sequence[str]) -> Iterator[None]:
        """Note an :class:`InvalidSubmission` raised inside under ``submission_ids`` (then let it
        go on): the envelope was sealed for this node and these ids, so every node must count
        them as rejected, not as never sent.  A :class:`DecryptionFailed` is not noted."""
        try:
            yield
        except InvalidSubmission as exc:
            self.store.note_refused(survey_id, submission_ids, str(exc))
            raise


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise R.MALFORMED_BODY.exception("request body is not valid JSON (or nested too deeply)") from None


def _bulk_body(body: bytes, binary: bool) -> BulkBody:
    """A bulk upload's fields as bytes, from either form (strict schema, then base64)."""
    with refused_as(R.MALFORMED_BODY):
        if binary:
            return BulkBody.from_bytes(body)
        up = BulkUpload.parse(_json(body))
    with refused_as(R.BAD_BASE64):
        return BulkBody.from_upload(up)


def _all_reduced(elements: bytes, rows: int, width: int, p: int, detail: str) -> None:
    """Refuse (``detail``) unless every 16-byte entry is below p (the one range check)."""
    try:
        fastfield.decode_matrix(elements, rows, width, p)
    except ValueError:
        raise R.UNREDUCED_ELEMENT.exception(detail) from None


def _rows_committed(batch: Batch, manifest_hash: bytes, node: int, rows: Sequence[bytes]) -> None:
    """Refuse, naming the first record, unless every row is the share its record commits to for ``node``."""
    at = COMMIT_BYTES * node
    for r, row in enumerate(rows):
        if share_commitment(manifest_hash, batch.ids[r], node, row) != batch.commitments[r][at: at + COMMIT_BYTES]:
            raise R.SHARE_NOT_COMMITTED.exception(f"record {r} of the batch: share does not match the "
                                                  "contributor's signed commitment for this node")
