"""The submission certificate: a contributor's signed commitment to the share of every node.

Contributors are anonymous, so on its own an inconsistent opening could be a contributor that
sent one node a bad share or a node that lied about its share — the nodes could not tell which.
The certificate settles it.  For each submission the contributor

- draws a fresh Ed25519 key pair; the submission id *is* the hash of the public key
  (:func:`submission_id_for`), so one id has exactly one key;
- commits to node j's share vector with ``C_j = SHA-256(label, manifest hash, id, j, shares)``;
- signs ``(manifest hash, id, C_0 .. C_{n-1})`` and sends the same certificate
  ``pk || signature || C_0 .. C_{n-1}`` with the upload to every node.

Node j refuses an upload whose certificate does not verify or whose ``C_j`` is not the hash of the
share it received.  When an opening is inconsistent and n >= 3t+1 locates the odd share at node
j, node j reveals its share: everyone checks it against ``C_j`` and recomputes j's openings from
it.  Either j lied (named; the row is judged on the error-corrected values) or its share is off
the others' polynomial, which the contributor signed: the submission is rejected, nobody blamed.
Revealing is safe: for an honest contributor only nodes that lied can be located, and they
reveal their own share.  The key pair is thrown away; it identifies nobody.

**Batches** (bulk upload of an HR file): signing and verifying one Ed25519 signature per record
would cap a node's ingest near 9,000 records/s on this machine, so a batch of K records shares
one one-time key.  Record r's id is ``SHA-256(batch id label, pk, r)``; its leaf is
``SHA-256(leaf label, manifest hash, id, C_0 .. C_{n-1})``; the K leaves (padded with a fixed
empty leaf to a power of two) form a Merkle tree whose root the key signs with K.  Record r's
certificate is ``pk || signature || K || r || path || C_0 .. C_{n-1}``: it verifies on its own,
so everything above (check at upload, reveal at compute) works per record exactly as for a
single upload.  The two layouts never have the same length (96 + 32n versus 104 + 32(d + n)).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .errors import InvalidSubmission
from .labels import Label
from .rejection import RejectionReason

_ID_LABEL = Label.SUBMISSION_ID.value
_COMMIT_LABEL = Label.SHARE_COMMITMENT.value
_SIGN_LABEL = Label.SUBMISSION_CERTIFICATE.value
_BATCH_ID_LABEL = Label.BATCH_RECORD_ID.value
_BATCH_ENVELOPE_LABEL = Label.BATCH_ENVELOPE_ID.value
_LEAF_LABEL = Label.BATCH_LEAF.value
_NODE_LABEL = Label.BATCH_NODE.value
_EMPTY_LEAF = hashlib.sha256(Label.BATCH_EMPTY_LEAF.value).digest()
_BATCH_SIGN_LABEL = Label.BATCH_CERTIFICATE.value
PK_BYTES, SIG_BYTES, COMMIT_BYTES = 32, 64, 32
MAX_BATCH = 4096  # records per batch: a path of at most 12 hashes
_HEAD = PK_BYTES + SIG_BYTES + 8  # pk, signature, K (4 bytes), r (4 bytes)


def certificate_length(n: int) -> int:
    """Length of a single upload's certificate."""
    return PK_BYTES + SIG_BYTES + COMMIT_BYTES * n


def _depth(k: int) -> int:
    return (k - 1).bit_length()


def batch_certificate_length(n: int, k: int) -> int:
    """Length of the certificate of one record of a batch of ``k`` records."""
    return _HEAD + 32 * _depth(k) + COMMIT_BYTES * n


def max_certificate_length(n: int) -> int:
    """The longest certificate any upload can carry (fixed-width files pad to this)."""
    return max(certificate_length(n), batch_certificate_length(n, MAX_BATCH))


def submission_id_for(public_key: bytes) -> str:
    """The submission id bound to a certificate key: 32 hex characters."""
    return hashlib.sha256(_ID_LABEL + public_key).hexdigest()[:32]


#: bytes-like share vectors: a batch's rows are views into one buffer per node
Bytes = bytes | bytearray | memoryview


def share_commitment(manifest_hash: bytes, submission_id: str, node_index: int, share_bytes: Bytes) -> bytes:
    """C_j over node j's share vector as sealed (16-byte big-endian elements)."""
    h = hashlib.sha256(_COMMIT_LABEL + manifest_hash + bytes.fromhex(submission_id) + node_index.to_bytes(2, "big"))
    h.update(share_bytes)
    return h.digest()


def _signed_message(manifest_hash: bytes, submission_id: str, commitments: bytes) -> bytes:
    return _SIGN_LABEL + manifest_hash + bytes.fromhex(submission_id) + commitments


def make_certificate(manifest_hash: bytes, share_bytes: list[bytes],
                     private_key: Ed25519PrivateKey | None = None) -> tuple[str, bytes]:
    """(submission id, certificate) for the given per-node share vectors.  The private key is
    fresh (randomness from the OS via pyca/cryptography), used once and discarded; tests may pass
    one to sign two uploads under one id."""
    sk = private_key or Ed25519PrivateKey.generate()
    pk = sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    sid = submission_id_for(pk)
    commits = b"".join(share_commitment(manifest_hash, sid, j, sb) for j, sb in enumerate(share_bytes))
    return sid, pk + sk.sign(_signed_message(manifest_hash, sid, commits)) + commits


def batch_record_id(public_key: bytes, index: int) -> str:
    """The id of record ``index`` of the batch signed by ``public_key``: 32 hex characters, 24
    from the key (the batch's prefix) and 8 for the index.  A batch's ids are therefore adjacent
    in a node's id index: storing a batch of 1,000 records writes a few pages of that index, not
    1,000 scattered ones.  Distinct batches collide only if 96 bits of their keys' hashes do."""
    if not 0 <= index < 1 << 32:
        raise ValueError("batch record index out of range")
    return hashlib.sha256(_BATCH_ID_LABEL + public_key).hexdigest()[:24] + f"{index:08x}"


def batch_envelope_id(public_key: bytes) -> bytes:
    """16 bytes bound into the HPKE info of a batch's sealed block (as a submission id is)."""
    return hashlib.sha256(_BATCH_ENVELOPE_LABEL + public_key).digest()[:16]


def _leaf(manifest_hash: bytes, submission_id: str, commitments: bytes) -> bytes:
    return hashlib.sha256(_LEAF_LABEL + manifest_hash + bytes.fromhex(submission_id) + commitments).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE_LABEL + left + right).digest()


def _levels(leaves: list[bytes]) -> list[list[bytes]]:
    """The Merkle tree bottom-up, leaves padded with the empty leaf to a power of two."""
    level = leaves + [_EMPTY_LEAF] * ((1 << _depth(len(leaves))) - len(leaves))
    levels = [level]
    while len(level) > 1:
        level = [_node(level[i], level[i + 1]) for i in range(0, len(level), 2)]
        levels.append(level)
    return levels


def _batch_message(manifest_hash: bytes, k: int, root: bytes) -> bytes:
    return _BATCH_SIGN_LABEL + manifest_hash + k.to_bytes(4, "big") + root


@dataclass(frozen=True)
class Batch:
    """A verified (or freshly signed) batch: key, signature, record ids, and every record's
    commitments (``commitments[r]`` = C_0 .. C_{n-1} of record r, concatenated)."""

    public_key: bytes
    signature: bytes
    ids: tuple[str, ...]
    commitments: tuple[bytes, ...]
    levels: tuple[tuple[bytes, ...], ...]

    def certificate(self, r: int) -> bytes:
        """Record r's stand-alone certificate (verifies with :func:`verify_certificate`)."""
        path, i = b"", r
        for level in self.levels[:-1]:
            path += level[i ^ 1]
            i >>= 1
        k = len(self.ids)
        return (self.public_key + self.signature + k.to_bytes(4, "big") + r.to_bytes(4, "big") + path
                + self.commitments[r])


def _batch(manifest_hash: bytes, pk: bytes, commitments: list[bytes], sign: Any) -> Batch:
    ids = [batch_record_id(pk, r) for r in range(len(commitments))]
    levels = _levels([_leaf(manifest_hash, sid, c) for sid, c in zip(ids, commitments)])
    sig = sign(_batch_message(manifest_hash, len(ids), levels[-1][0]))
    return Batch(pk, sig, tuple(ids), tuple(commitments), tuple(tuple(lv) for lv in levels))


def make_batch(manifest_hash: bytes, share_rows: Sequence[Sequence[Bytes]],
               private_key: Ed25519PrivateKey | None = None) -> Batch:
    """Sign a batch: ``share_rows[r][j]`` is node j's share vector of record r (16-byte elements).
    One fresh key for the whole batch, used once and discarded."""
    if not 1 <= len(share_rows) <= MAX_BATCH:
        raise ValueError(f"a batch holds 1 to {MAX_BATCH} records")
    sk = private_key or Ed25519PrivateKey.generate()
    pk = sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    commitments = []
    for r, row in enumerate(share_rows):
        sid = batch_record_id(pk, r)
        commitments.append(b"".join(share_commitment(manifest_hash, sid, j, sb) for j, sb in enumerate(row)))
    return _batch(manifest_hash, pk, commitments, sk.sign)


def verify_batch(public_key: bytes, signature: bytes, commitments: bytes, k: int, n: int,
                 manifest_hash: bytes) -> Batch:
    """A node's check of a bulk upload's batch certificate (one signature for all k records);
    raises :class:`InvalidSubmission`."""
    if not 1 <= k <= MAX_BATCH:
        raise RejectionReason.MALFORMED_BODY.exception(f"a batch holds 1 to {MAX_BATCH} records")
    if len(public_key) != PK_BYTES or len(signature) != SIG_BYTES:
        raise RejectionReason.CERTIFICATE_MALFORMED.exception("batch key or signature has the wrong length")
    if len(commitments) != k * n * COMMIT_BYTES:
        raise RejectionReason.CERTIFICATE_MALFORMED.exception(
            f"batch commitments must be {k * n * COMMIT_BYTES} bytes for {k} records and {n} nodes")
    w = n * COMMIT_BYTES
    b = _batch(manifest_hash, public_key, [commitments[w * r: w * (r + 1)] for r in range(k)],
               lambda message: signature)
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, _batch_message(manifest_hash, k,
                                                                                          b.levels[-1][0]))
    except (InvalidSignature, ValueError):
        raise RejectionReason.SIGNATURE_INVALID.exception("batch certificate signature does not verify") from None
    return b


@dataclass(frozen=True)
class Certificate:
    public_key: bytes
    signature: bytes
    commitments: tuple[bytes, ...]

    def commitment(self, node_index: int) -> bytes:
        return self.commitments[node_index]


def verify_certificate(cert: bytes, submission_id: str, n: int, manifest_hash: bytes) -> Certificate:
    """Parse and verify a single upload's or a batch record's certificate; raises
    :class:`InvalidSubmission` (never returns a failed check)."""
    if len(cert) != certificate_length(n) and len(cert) >= _HEAD:
        return _verify_batch_record(cert, submission_id, n, manifest_hash)
    if len(cert) != certificate_length(n):
        raise RejectionReason.CERTIFICATE_MALFORMED.exception(
            f"submission certificate must be {certificate_length(n)} bytes for {n} nodes")
    pk, sig, commits = cert[:PK_BYTES], cert[PK_BYTES: PK_BYTES + SIG_BYTES], cert[PK_BYTES + SIG_BYTES:]
    if submission_id_for(pk) != submission_id:
        raise RejectionReason.ID_NOT_BOUND.exception("submission id is not the hash of the certificate's key")
    try:
        Ed25519PublicKey.from_public_bytes(pk).verify(sig, _signed_message(manifest_hash, submission_id, commits))
    except (InvalidSignature, ValueError):
        raise RejectionReason.SIGNATURE_INVALID.exception("submission certificate signature does not verify") from None
    return Certificate(pk, sig, tuple(commits[COMMIT_BYTES * j: COMMIT_BYTES * (j + 1)] for j in range(n)))


def check_share(cert: Certificate, manifest_hash: bytes, submission_id: str, node_index: int,
                share_bytes: bytes) -> None:
    """Raise :class:`InvalidSubmission` unless ``share_bytes`` is what the contributor committed
    to for this node."""
    if share_commitment(manifest_hash, submission_id, node_index, share_bytes) != cert.commitment(node_index):
        raise RejectionReason.SHARE_NOT_COMMITTED.exception(
            "share does not match the contributor's signed commitment for this node")


def _verify_batch_record(cert: bytes, submission_id: str, n: int, manifest_hash: bytes) -> Certificate:
    pk, sig = cert[:PK_BYTES], cert[PK_BYTES: PK_BYTES + SIG_BYTES]
    k = int.from_bytes(cert[PK_BYTES + SIG_BYTES: PK_BYTES + SIG_BYTES + 4], "big")
    r = int.from_bytes(cert[PK_BYTES + SIG_BYTES + 4: _HEAD], "big")
    if not (1 <= k <= MAX_BATCH and r < k) or len(cert) != batch_certificate_length(n, k):
        raise RejectionReason.CERTIFICATE_MALFORMED.exception(
            f"submission certificate must be {certificate_length(n)} bytes for {n} nodes, or a well-formed batch "
            "record certificate")
    if batch_record_id(pk, r) != submission_id:
        raise RejectionReason.ID_NOT_BOUND.exception(
            "submission id is not the hash of the certificate's key and record index")
    d = _depth(k)
    path, commits = cert[_HEAD: _HEAD + 32 * d], cert[_HEAD + 32 * d:]
    node, i = _leaf(manifest_hash, submission_id, commits), r
    for level in range(d):
        sibling = path[32 * level: 32 * (level + 1)]
        node = _node(sibling, node) if i & 1 else _node(node, sibling)
        i >>= 1
    try:
        Ed25519PublicKey.from_public_bytes(pk).verify(sig, _batch_message(manifest_hash, k, node))
    except (InvalidSignature, ValueError):
        raise RejectionReason.SIGNATURE_INVALID.exception("submission certificate signature does not verify") from None
    return Certificate(pk, sig, tuple(commits[COMMIT_BYTES * j: COMMIT_BYTES * (j + 1)] for j in range(n)))


def pad_certificate(cert: bytes, n: int) -> bytes:
    """Fixed-width form for files: 2-byte length, certificate, zeros up to the longest form."""
    return len(cert).to_bytes(2, "big") + cert + bytes(max_certificate_length(n) - len(cert))


def unpad_certificate(padded: bytes, n: int) -> bytes:
    """Inverse of :func:`pad_certificate`; raises :class:`InvalidSubmission` on a bad length."""
    size = int.from_bytes(padded[:2], "big")
    if len(padded) != 2 + max_certificate_length(n) or size > max_certificate_length(n):
        raise InvalidSubmission("malformed padded certificate")
    return padded[2: 2 + size]
