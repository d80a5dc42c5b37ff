"""Wire objects exchanged over HTTPS, as plain dataclasses with strict parsers.

Every parser raises :class:`InvalidSubmission` (for uploads) or :class:`SurveyError` with a
message naming the bad field; nothing from the network is trusted before it passes here.
Binary fields travel as standard base64, except in the binary form of a bulk upload
(:class:`BulkBody`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any, TypeVar

from .errors import InvalidSubmission, SurveyError

_SID = re.compile(r"^[0-9a-f]{32}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_TOKEN = re.compile(r"[\x21-\x7e]+")  # printable ASCII; issued tokens are URL-safe base64
MAX_TOKEN_CHARS = 256
#: No legitimate single-record request comes near this (the widest survey the manifest allows,
#: 16,384 cells x bands each its own cell, needs about 1.06 MB; tests/test_wire.py checks it);
#: larger bodies get HTTP 413.
MAX_BODY_BYTES = 1536 * 1024
#: A bulk upload stays below this: contributors shrink their batches for wide surveys
#: (:func:`bulk_batch_limit`).
MAX_BULK_BODY_BYTES = 48 * 1024 * 1024


def bulk_batch_limit(vector_length: int, n_nodes: int) -> int:
    """The most records one bulk request may carry for a survey whose submissions have
    ``vector_length`` elements: the base64 of the sealed block (16 bytes per element) plus the
    commitments (32 bytes per node) and a token per record, with 10% room, under
    :data:`MAX_BULK_BODY_BYTES`."""
    per_record = (16 * vector_length + 32 * n_nodes) * 4 // 3 + 400
    return max(1, int(MAX_BULK_BODY_BYTES * 0.9) // per_record)

class SurveyState(StrEnum):
    """Where a survey is at a node: accepting uploads, closed (frozen), its result committed,
    or its shares deleted."""

    OPEN = "open"
    CLOSED = "closed"
    COMPUTED = "computed"
    PURGED = "purged"


class UploadStatus(StrEnum):
    """A node's answer to an upload it stored (per record for a batch)."""

    STORED = "stored"  # new
    DUPLICATE = "duplicate"  # a repeat of an upload already stored (same id, token and bytes)
    REPLACED = "replaced"  # stored, and the token's earlier submission deleted (``replace``)


class ResultState(StrEnum):
    """Where a node is in the two-phase commit of its result share."""

    NONE = "none"
    PREPARED = "prepared"  # held, not served: the peers may not all hold the same run yet
    COMMITTED = "committed"  # every node prepared that run; served to the analyst


def b64e(data: bytes) -> str:
    return base64.b64encode(data).decode()


def b64d(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode(), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise InvalidSubmission(f"{what} is not valid base64") from None


def set_digest(submission_ids: Iterable[str]) -> str:
    """Order-independent digest of a set of submission ids (hex SHA-256 of the sorted ids)."""
    h = hashlib.sha256()
    for sid in sorted(submission_ids):
        h.update(sid.encode() + b"\n")
    return h.hexdigest()


T = TypeVar("T")


def _from_dict(cls: type[T], obj: Any, malformed: str) -> T:
    """Build a wire dataclass from a JSON object; any missing or unexpected field raises
    :class:`SurveyError` with the ``malformed`` message."""
    try:
        return cls(**obj)
    except TypeError:
        raise SurveyError(malformed) from None


def majority_outliers(values: Sequence[Any]) -> tuple[int, ...]:
    """Indices whose value differs from a strict majority's (empty if no strict majority): the
    parties to name when parties that must agree do not."""
    value, count = Counter(values).most_common(1)[0]
    return tuple(i for i, v in enumerate(values) if v != value) if 2 * count > len(values) else ()


def error_detail(resp: Any) -> str:
    """The one-line ``detail`` of a node's JSON error answer (an httpx-like response), or its status."""
    try:
        return str(resp.json().get("detail", resp.text))
    except (ValueError, AttributeError):
        return f"HTTP {resp.status_code}"


def _require(obj: dict[str, Any], key: str, typ: type, what: str) -> Any:
    if key not in obj:
        raise InvalidSubmission(f"{what}: field {key!r} is missing")
    val = obj[key]
    if not isinstance(val, typ) or (typ is int and isinstance(val, bool)):
        raise InvalidSubmission(f"{what}: field {key!r} must be of type {typ.__name__}")
    return val


@dataclass(frozen=True)
class SubmissionUpload:
    """POST /v1/surveys/{survey_id}/submissions body: one node's sealed share of one record."""

    submission_id: str  # 32 hex characters, same at every node: the hash of the certificate's key
    token: str  # the employee's participation token (checked against stored hashes)
    envelope: str  # base64 of the HPKE-sealed share vector
    certificate: str  # base64 of the signed commitments to every node's share (protocol.commitment)
    replace: bool = False  # replace this token's earlier submission

    @staticmethod
    def parse(obj: Any) -> SubmissionUpload:
        what = "submission"
        if not isinstance(obj, dict):
            raise InvalidSubmission("submission body must be a JSON object")
        unknown = set(obj) - {"submission_id", "token", "envelope", "certificate", "replace"}
        if unknown:
            raise InvalidSubmission(f"{what}: unexpected field(s) {', '.join(sorted(unknown))}")
        sid = _require(obj, "submission_id", str, what)
        if not _SID.fullmatch(sid):
            raise InvalidSubmission(f"{what}: submission_id must be 32 lowercase hex characters")
        token = _require(obj, "token", str, what)
        if not token or len(token) > MAX_TOKEN_CHARS:
            raise InvalidSubmission(f"{what}: token is missing or too long")
        if not _TOKEN.fullmatch(token):
            raise InvalidSubmission(f"{what}: token has characters no participation token has")
        env = _require(obj, "envelope", str, what)
        cert = _require(obj, "certificate", str, what)
        replace = obj.get("replace", False)
        if not isinstance(replace, bool):
            raise InvalidSubmission(f"{what}: field 'replace' must be a boolean")
        return SubmissionUpload(sid, token, env, cert, replace)

    def envelope_bytes(self) -> bytes:
        return b64d(self.envelope, "envelope")

    def certificate_bytes(self) -> bytes:
        return b64d(self.certificate, "certificate")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BulkUpload:
    """POST /v1/surveys/{survey_id}/batches body: one node's sealed shares of a batch of records
    (an HR file), with one batch certificate (protocol.commitment, "Batches")."""

    batch_key: str  # base64 of the batch's one-time Ed25519 public key (record ids derive from it)
    signature: str  # base64 of its signature over the Merkle root of the records' commitments
    tokens: list[str]  # one participation token per record, in order
    commitments: str  # base64 of every record's C_0 .. C_{n-1}, record-major
    envelope: str  # base64 of this node's share block, HPKE-sealed (protocol.envelope.seal_share_block)
    replace: bool = False

    @staticmethod
    def parse(obj: Any) -> BulkUpload:
        what = "bulk upload"
        if not isinstance(obj, dict):
            raise InvalidSubmission("bulk upload body must be a JSON object")
        unknown = set(obj) - {"batch_key", "signature", "tokens", "commitments", "envelope", "replace"}
        if unknown:
            raise InvalidSubmission(f"{what}: unexpected field(s) {', '.join(sorted(unknown))}")
        tokens = _require(obj, "tokens", list, what)
        _check_bulk_tokens(tokens)
        replace = obj.get("replace", False)
        if not isinstance(replace, bool):
            raise InvalidSubmission(f"{what}: field 'replace' must be a boolean")
        return BulkUpload(_require(obj, "batch_key", str, what), _require(obj, "signature", str, what),
                          list(tokens), _require(obj, "commitments", str, what), _require(obj, "envelope", str, what),
                          replace)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _check_bulk_tokens(tokens: Sequence[Any]) -> None:
    if not tokens:
        raise InvalidSubmission("bulk upload: tokens must list one token per record")
    for k, token in enumerate(tokens):
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS or not _TOKEN.fullmatch(token):
            raise InvalidSubmission(f"bulk upload: token {k} is missing, too long or has characters no "
                                    "participation token has")


#: Content type of the binary form of a bulk upload (:meth:`BulkBody.to_bytes`).
BULK_CONTENT_TYPE = "application/vnd.salary-mpc.batch"
_BULK_MAGIC = b"SMB1"


@dataclass(frozen=True)
class BulkBody:
    """A bulk upload with its binary fields as bytes: what a node checks.  It travels as JSON
    (:class:`BulkUpload`, base64 fields) or, sparing both ends base64 and JSON over megabytes
    (about a tenth of a node's work per batch), in this binary form, integers big-endian::

        b"SMB1" | flags: u8 (bit 0: replace; the others 0) | k: u32 |
        k times (token length: u16, token: ASCII) |
        4 times (length: u32, bytes): batch_key, signature, commitments, envelope

    The fields mean what :class:`BulkUpload`'s do.
    """

    batch_key: bytes
    signature: bytes
    tokens: tuple[str, ...]
    commitments: bytes
    envelope: bytes
    replace: bool = False

    def to_bytes(self) -> bytes:
        _check_bulk_tokens(self.tokens)
        out = [_BULK_MAGIC, struct.pack(">BI", int(self.replace), len(self.tokens))]
        for token in self.tokens:
            raw = token.encode("ascii")
            out += [struct.pack(">H", len(raw)), raw]
        for blob in (self.batch_key, self.signature, self.commitments, self.envelope):
            out += [struct.pack(">I", len(blob)), blob]
        return b"".join(out)

    @staticmethod
    def from_bytes(raw: bytes | bytearray) -> BulkBody:
        """Parse the binary form; raises :class:`InvalidSubmission` naming what is wrong."""
        what = "bulk upload (binary)"
        if raw[:4] != _BULK_MAGIC:
            raise InvalidSubmission(f"{what}: the body does not start with the format's magic bytes")
        view, at = memoryview(raw), 4

        def take(n: int) -> memoryview:
            nonlocal at
            if at + n > len(view):
                raise InvalidSubmission(f"{what}: the body is truncated")
            at += n
            return view[at - n: at]

        flags, k = struct.unpack(">BI", take(5))
        if flags & ~1:
            raise InvalidSubmission(f"{what}: unknown flags {flags:#04x}")
        if k > (len(view) - at) // 3:  # every token takes at least 3 bytes: refuse before looping
            raise InvalidSubmission(f"{what}: the body is truncated")
        tokens = []
        for r in range(k):
            (n,) = struct.unpack(">H", take(2))
            try:
                tokens.append(bytes(take(n)).decode("ascii"))
            except UnicodeDecodeError:
                raise InvalidSubmission(f"{what}: token {r} is missing, too long or has characters no "
                                        "participation token has") from None
        _check_bulk_tokens(tokens)
        blobs = []
        for _ in range(4):
            (n,) = struct.unpack(">I", take(4))
            blobs.append(bytes(take(n)))
        if at != len(view):
            raise InvalidSubmission(f"{what}: {len(view) - at} bytes follow the last field")
        return BulkBody(blobs[0], blobs[1], tuple(tokens), blobs[2], blobs[3], bool(flags & 1))

    @staticmethod
    def from_upload(up: BulkUpload) -> BulkBody:
        """The JSON form's fields decoded (raises :class:`InvalidSubmission` on bad base64)."""
        return BulkBody(b64d(up.batch_key, "batch_key"), b64d(up.signature, "signature"), tuple(up.tokens),
                        b64d(up.commitments, "commitments"), b64d(up.envelope, "envelope"), up.replace)

    def to_upload(self) -> BulkUpload:
        return BulkUpload(b64e(self.batch_key), b64e(self.signature), list(self.tokens), b64e(self.commitments),
                          b64e(self.envelope), self.replace)


@dataclass(frozen=True)
class BulkAck:
    """A node's answer to a stored bulk upload: one status per record, in order."""

    survey_id: str
    node_index: int
    batch_id: str  # hex of the batch's envelope id
    envelope_sha256: str  # of the sealed share block as received
    submission_ids: list[str]
    statuses: list[str]  # an UploadStatus per record
    stored_at: str

    @staticmethod
    def parse(obj: Any) -> BulkAck:
        ack = _from_dict(BulkAck, obj, "malformed bulk acknowledgement from node")
        if len(ack.statuses) != len(ack.submission_ids) or not set(ack.statuses) <= set(UploadStatus):
            raise SurveyError("malformed bulk acknowledgement from node")
        return ack


@dataclass(frozen=True)
class SubmissionAck:
    """A node's answer to a stored upload; the contributor keeps it in the receipt."""

    survey_id: str
    submission_id: str
    node_index: int
    envelope_sha256: str
    status: str  # an UploadStatus
    stored_at: str
    replaced_submission_id: str | None = None

    @staticmethod
    def parse(obj: Any) -> SubmissionAck:
        ack = _from_dict(SubmissionAck, obj, "node sent a malformed acknowledgement")
        if ack.status not in set(UploadStatus) or not _HEX64.fullmatch(str(ack.envelope_sha256)):
            raise SurveyError("node sent a malformed acknowledgement")
        return ack


@dataclass(frozen=True)
class NodeStatus:
    """GET /v1/surveys/{survey_id}/status."""

    survey_id: str
    node_index: int
    manifest_hash: str
    state: str  # open | closed | computed | purged
    submissions: int
    closes_at: str


@dataclass(frozen=True)
class FrozenSet:
    """GET /v1/surveys/{survey_id}/ids — the ids a node holds (for peers: agreement, status).

    ``frozen`` is true once the node is closed: only a frozen set may enter the agreement.
    ``signature`` (base64, frozen sets only) is the node's ECDSA signature of
    :func:`protocol.nodeauth.frozen_set_statement`: peers forward it in the MPC, so a node that
    gives two peers two different sets is proven to have done so.
    """

    survey_id: str
    node_index: int
    manifest_hash: str
    count: int
    digest: str
    submission_ids: list[str]
    frozen: bool = True
    signature: str = ""
    refused_ids: list[str] = field(default_factory=list)  # uploads refused as malformed (never stored)

    @staticmethod
    def parse(obj: Any) -> FrozenSet:
        fs = _from_dict(FrozenSet, obj, "peer sent a malformed frozen set")
        if not isinstance(fs.submission_ids, list) or not all(isinstance(s, str) and _SID.fullmatch(s) for s in fs.submission_ids):
            raise SurveyError(f"node {fs.node_index} sent malformed submission ids")
        if not isinstance(fs.refused_ids, list) or not all(isinstance(s, str) and _SID.fullmatch(s)
                                                            for s in fs.refused_ids):
            raise SurveyError(f"node {fs.node_index} sent malformed refused ids")
        if fs.count != len(fs.submission_ids) or fs.digest != set_digest(fs.submission_ids):
            raise SurveyError(f"node {fs.node_index} sent a frozen set whose count or digest does not match its ids")
        return fs


#: Content type of a binary id list (:func:`encode_ids`).
IDS_CONTENT_TYPE = "application/vnd.salary-mpc.ids"
#: Submission ids are grouped into buckets by their first byte (:func:`bucket_digests`).
ID_BUCKETS = 256
_BUCKET_DIGEST_BYTES = 8


def id_bucket(sid: str) -> int:
    """The bucket of a submission id: its first byte."""
    return int(sid[:2], 16)


def bucket_digests(submission_ids: Iterable[str]) -> bytes:
    """For each of the :data:`ID_BUCKETS` buckets, the first 8 bytes of the digest of its ids
    (as :func:`set_digest`).  Two nodes compare these to find which buckets differ and exchange
    only those ids; a reconstructed set is then checked against the full, signed
    :func:`set_digest`, so a misleading bucket digest can only cost a mismatch, never a wrong set."""
    groups: list[list[str]] = [[] for _ in range(ID_BUCKETS)]
    for sid in submission_ids:
        groups[id_bucket(sid)].append(sid)
    return b"".join(bytes.fromhex(set_digest(g))[:_BUCKET_DIGEST_BYTES] for g in groups)


def differing_buckets(mine: bytes, theirs: bytes) -> list[int]:
    """The buckets whose digests differ (both from :func:`bucket_digests`)."""
    w = _BUCKET_DIGEST_BYTES
    return [b for b in range(ID_BUCKETS) if mine[w * b: w * (b + 1)] != theirs[w * b: w * (b + 1)]]


def encode_ids(submission_ids: Iterable[str]) -> bytes:
    """Submission ids as a binary list: 16 bytes each, sorted (a third of their JSON size)."""
    return b"".join(bytes.fromhex(sid) for sid in sorted(submission_ids))


def decode_ids(raw: bytes, what: str) -> list[str]:
    """The ids of :func:`encode_ids`; raises :class:`SurveyError` unless ``raw`` is a whole
    number of ids in strictly increasing order (sorted, no repeats)."""
    if len(raw) % 16:
        raise SurveyError(f"{what}: an id list is not a whole number of 16-byte ids")
    ids = [raw[k: k + 16] for k in range(0, len(raw), 16)]
    if any(a >= b for a, b in zip(ids, ids[1:])):
        raise SurveyError(f"{what}: an id list is not sorted or repeats an id")
    return [sid.hex() for sid in ids]


def encode_bucket_list(buckets: Iterable[int]) -> str:
    """Buckets as a query parameter: two hex digits each."""
    return "".join(f"{b:02x}" for b in sorted(set(buckets)))


def decode_bucket_list(text: str) -> list[int]:
    """The buckets of :func:`encode_bucket_list`; raises :class:`SurveyError` on anything else."""
    if len(text) % 2 or len(text) > 2 * ID_BUCKETS or not re.fullmatch(r"[0-9a-f]*", text):
        raise SurveyError("buckets must be two lower-case hex digits each")
    return sorted({int(text[k: k + 2], 16) for k in range(0, len(text), 2)})


@dataclass(frozen=True)
class SetSummary:
    """GET /v1/surveys/{survey_id}/ids/summary — a node's id set without its ids: what a peer
    compares first.  ``digest`` and ``signature`` mean what :class:`FrozenSet`'s do (the same
    signed statement); ``buckets`` (base64) holds :func:`bucket_digests`, so that a peer whose
    set differs fetches only the ids of the buckets that differ (``/ids/binary?buckets=...``)."""

    survey_id: str
    node_index: int
    manifest_hash: str
    count: int
    digest: str
    buckets: str
    frozen: bool = True
    signature: str = ""
    refused_ids: list[str] = field(default_factory=list)

    @staticmethod
    def of(fs: FrozenSet) -> SetSummary:
        return SetSummary(fs.survey_id, fs.node_index, fs.manifest_hash, fs.count, fs.digest,
                          b64e(bucket_digests(fs.submission_ids)), fs.frozen, fs.signature, list(fs.refused_ids))

    def bucket_bytes(self) -> bytes:
        return base64.b64decode(self.buckets)

    @staticmethod
    def parse(obj: Any) -> SetSummary:
        ss = _from_dict(SetSummary, obj, "peer sent a malformed set summary")
        for key, typ in (("survey_id", str), ("node_index", int), ("manifest_hash", str), ("count", int),
                         ("digest", str), ("buckets", str), ("frozen", bool), ("signature", str)):
            if not isinstance(getattr(ss, key), typ) or (typ is int and isinstance(getattr(ss, key), bool)):
                raise SurveyError(f"peer sent a malformed set summary (field {key!r})")
        if not _HEX64.fullmatch(ss.digest) or ss.count < 0:
            raise SurveyError(f"node {ss.node_index} sent a malformed set summary")
        try:
            raw = base64.b64decode(ss.buckets.encode(), validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != ID_BUCKETS * _BUCKET_DIGEST_BYTES:
            raise SurveyError(f"node {ss.node_index} sent malformed bucket digests")
        if not isinstance(ss.refused_ids, list) or not all(isinstance(s, str) and _SID.fullmatch(s)
                                                            for s in ss.refused_ids):
            raise SurveyError(f"node {ss.node_index} sent malformed refused ids")
        return ss


@dataclass(frozen=True)
class AuditAnchor:
    """A node's signed audit-log head: line ``seq`` of node ``node_index``'s log has hash ``head``
    (``signature``: base64 of its signature of :func:`protocol.nodeauth.audit_head_statement`)."""

    node_index: int
    seq: int
    head: str
    signature: str

    @staticmethod
    def parse(obj: Any) -> AuditAnchor:
        a = _from_dict(AuditAnchor, obj, "malformed audit head")
        if not (isinstance(a.node_index, int) and isinstance(a.seq, int) and a.seq > 0
                and _hex64(a.head)
                and isinstance(a.signature, str)):
            raise SurveyError("malformed audit head")
        return a


def _natural(v: Any) -> bool:
    """``v`` is an int >= 0 (JSON's true and false are not)."""
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _hex64(v: Any) -> bool:
    return isinstance(v, str) and _HEX64.fullmatch(v) is not None


def _each(items: Any, parse: Callable[[Any], T], malformed: str) -> list[T]:
    """``items`` parsed one by one; SurveyError(``malformed``) unless it is a list."""
    if not isinstance(items, list):
        raise SurveyError(malformed)
    return [parse(a) for a in items]


class AccusationKind(StrEnum):
    """Why a node's MPC run ended, as its accusation says."""

    DEVIATION = "deviation"  # its party named the accused for a deviation it saw
    LOST = "lost"  # the accused did not join, fell silent or dropped their links without a stop statement
    WITHDRAWN = "withdrawn"  # its own party failed, or named this node: it leaves (accuses nobody)
    FOLLOWED = "followed"  # it stopped on the accused's signed stop statement (``follows``: that statement's hash)


@dataclass(frozen=True)
class Accusation:
    """A node's signed account of why attempt ``attempt`` of the MPC over one frozen set ended:
    ``accuser`` names ``accused`` (``kind``: an :class:`AccusationKind`).  ``sequence``: the
    accuser's count of accusations ever signed for the survey, so that its statement of this
    compute outranks one replayed from an earlier compute of the same frozen set (attempts are
    numbered from 0 in each).  ``follows``: for a *followed* statement, the SHA-256 (hex) of the
    accused's statement that stopped the accuser's party, else "".  ``signature``: base64 of the
    accuser's signature of :func:`protocol.nodeauth.accusation_statement`."""

    survey_id: str
    manifest_hash: str
    agreed_digest: str
    attempt: int
    sequence: int
    accuser: int
    kind: str
    accused: list[int]
    signature: str
    follows: str = ""

    @staticmethod
    def parse(obj: Any) -> Accusation:
        a = _from_dict(Accusation, obj, "malformed accusation")
        ints = [a.attempt, a.sequence, a.accuser, *(a.accused if isinstance(a.accused, list) else [None])]
        followed = a.kind == AccusationKind.FOLLOWED
        if not (all(map(_natural, ints)) and bool(a.accused) == (a.kind != AccusationKind.WITHDRAWN)
                and a.accused == sorted(set(a.accused)) and a.accuser not in a.accused
                and a.kind in set(AccusationKind) and isinstance(a.survey_id, str) and isinstance(a.signature, str)
                and _hex64(a.manifest_hash) and _hex64(a.agreed_digest) and isinstance(a.follows, str)
                and (len(a.accused) == 1 and _hex64(a.follows) if followed else a.follows == "")):
            raise SurveyError("malformed accusation")
        return a


@dataclass(frozen=True)
class Endorsement:
    """Node ``endorser``'s signed word that it holds node ``accuser``'s accusation whose
    statement hashes to ``statement_sha256`` (:func:`protocol.nodeauth.endorsement_statement`):
    a relay that later rounds of the dispute count (an accusation is taken in round r only with
    r signatures, its accuser's and r - 1 endorsers')."""

    agreed_digest: str
    attempt: int
    accuser: int
    statement_sha256: str
    endorser: int
    signature: str

    @staticmethod
    def parse(obj: Any) -> Endorsement:
        e = _from_dict(Endorsement, obj, "malformed endorsement")
        if not (all(map(_natural, (e.attempt, e.accuser, e.endorser))) and isinstance(e.signature, str)
                and _hex64(e.agreed_digest) and _hex64(e.statement_sha256)):
            raise SurveyError("malformed endorsement")
        return e


@dataclass(frozen=True)
class ComputeState:
    """GET /v1/surveys/{survey_id}/compute — where a node is in the two-phase result commit.

    ``prepared``: the node holds its result share of MPC run ``run_id`` but does not serve it
    yet; ``committed``: every node had prepared that run, the share is served to the analyst.
    """

    survey_id: str
    node_index: int
    state: str  # a ResultState
    run_id: str | None = None
    anchors: list[AuditAnchor] = field(default_factory=list)  # signed audit heads it keeps: its own and its peers'
    # the dispute after a failed MPC attempt: signed accusations (its own and those it relays),
    # signed endorsements of them, and how far it is (attempt, round) — -1, 0 when in none
    accusations: list[Accusation] = field(default_factory=list)
    endorsements: list[Endorsement] = field(default_factory=list)
    dispute_attempt: int = -1
    dispute_round: int = 0

    @staticmethod
    def parse(obj: Any) -> ComputeState:
        cs = _from_dict(ComputeState, obj, "peer sent a malformed compute state")
        if cs.state not in set(ResultState) or not isinstance(cs.endorsements, list) or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in (cs.dispute_attempt, cs.dispute_round)):
            raise SurveyError("peer sent a malformed compute state")
        return ComputeState(cs.survey_id, cs.node_index, cs.state, cs.run_id,
                            _each(cs.anchors, AuditAnchor.parse, "malformed audit head"),
                            _each(cs.accusations, Accusation.parse, "malformed accusation"),
                            _each(cs.endorsements, Endorsement.parse, "malformed endorsement"),
                            cs.dispute_attempt, cs.dispute_round)


@dataclass(frozen=True)
class ResultShare:
    """GET /v1/surveys/{survey_id}/result — a node's result share, sealed to the analyst."""

    survey_id: str
    node_index: int
    manifest_hash: str
    sealed_result: str  # base64 HPKE ciphertext
    accepted: int  # submissions in the agreed set
    rejected: int  # submissions this node held that were not counted
    agreed_digest: str
    computed_at: str
    run_id: str = ""  # the MPC run that produced the share; equal at every node
    caught: list[int] = field(default_factory=list)  # nodes this node caught sending wrong shares (corrected)
    set_aside: int = 0  # submissions not counted: validation shares off the polynomial, culprit not located
    anchor: AuditAnchor | None = None  # the node's signed audit-log head, taken when it computed
    left_out: list[int] = field(default_factory=list)  # nodes this node's run went on without (lost)
    disputes: list[list[int]] = field(default_factory=list)  # pairs left out after a dispute (one of each deviated)

    @staticmethod
    def parse(obj: Any) -> ResultShare:
        rs = _from_dict(ResultShare, obj, "node sent a malformed result share")
        if rs.anchor is not None:
            rs = replace(rs, anchor=AuditAnchor.parse(rs.anchor))
        if not all(map(_natural, (rs.node_index, rs.accepted, rs.rejected, rs.set_aside))):
            raise SurveyError("node sent a malformed result share")
        if not all(isinstance(v, list) and all(isinstance(c, int) and not isinstance(c, bool) for c in v)
                   for v in (rs.caught, rs.left_out, *(rs.disputes if isinstance(rs.disputes, list) else [None]))):
            raise SurveyError("node sent a malformed result share")
        if not all(len(pair) == 2 for pair in rs.disputes):
            raise SurveyError("node sent a malformed result share")
        return rs
