"""One submission: a record validated against the manifest, made ready to send
(:class:`PreparedSubmission`), and what the nodes said about it (:class:`UploadOutcome`, its
one-line error and summary).

Contracts: the record is encoded with its validity proof and Shamir-shared over the manifest's
field; a fresh one-time key signs a commitment to every node's share vector, and the hash of its
public key is the submission id (the same at every node); node i's share vector is sealed to
node i's HPKE key from the confirmed manifest, bound to the manifest hash, i and the submission
id.  A prepared submission is never prepared again for the same upload: every retry and resume
sends the same id and the same envelope bytes, so a node that already stored it answers
"duplicate".
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from protocol.answers import AmountFormat
from protocol.commitment import make_certificate
from protocol.encoding import Record, make_record
from protocol.envelope import seal_shares
from protocol.errors import InvalidSubmission, NodeUnreachable, SurveyError, TokenUsed
from protocol.field import encode_elements, share_vector
from protocol.manifest import Manifest
from protocol.validity import encode_submission
from protocol.wire import SubmissionAck

from .amounts import amount_format
from .delivery import NodeAnswers
from .nodes import labelled, node_label


def validate_record(manifest: Manifest, gender: str, salary: str | int, job: str | None = None,
                    amounts: AmountFormat | None = None, variable: str | None = None,
                    hours: str | None = None) -> Record:
    """The validated record (raises :class:`InvalidSubmission` with a user-facing message).
    ``job`` is the job category; required exactly when the survey declares job categories.
    Gender and job match a key or the organiser's label; the salary (a complete survey's basic
    pay), variable pay and hours are read in ``amounts`` (default: the survey's currency, either
    decimal mark); variable pay and hours exactly when the survey collects them."""
    return make_record(gender, salary, manifest.scheme(), job, gender_labels=manifest.gender_choices().labels,
                       job_labels=manifest.job_choices().labels, amounts=amounts or amount_format(manifest),
                       variable=variable, hours=hours)


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
        """Hex SHA-256 of node ``index``'s envelope (its acknowledgement must name it)."""
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


@dataclass
class UploadOutcome(NodeAnswers[SubmissionAck]):
    """What each node said about one submission."""

    prepared: PreparedSubmission = field(kw_only=True)
    line: int | None = None  # CSV line, for batch runs

    @property
    def complete(self) -> bool:
        """Every node acknowledged (nothing pending, nothing refused)."""
        return super().complete and len(self.acks) == len(self.prepared.envelopes)

    @property
    def refused(self) -> bool:
        """Refused outright: some node said no and none accepted (nothing left to resume)."""
        return bool(self.rejected) and not self.acks


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
            + "; ".join(labelled(manifest, i, e) for i, e in sorted(outcome.rejected.items())))
    if outcome.rejected:
        parts.append("refused by " + "; ".join(labelled(manifest, i, e) for i, e in sorted(outcome.rejected.items())))
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

