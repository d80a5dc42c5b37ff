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
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .errors import InvalidSubmission

_ID_LABEL = b"salary-mpc/v2 submission id\x00"
_COMMIT_LABEL = b"salary-mpc/v2 share commitment\x00"
_SIGN_LABEL = b"salary-mpc/v2 submission certificate\x00"
PK_BYTES, SIG_BYTES, COMMIT_BYTES = 32, 64, 32


def certificate_length(n: int) -> int:
    return PK_BYTES + SIG_BYTES + COMMIT_BYTES * n


def submission_id_for(public_key: bytes) -> str:
    """The submission id bound to a certificate key: 32 hex characters."""
    return hashlib.sha256(_ID_LABEL + public_key).hexdigest()[:32]


def share_commitment(manifest_hash: bytes, submission_id: str, node_index: int, share_bytes: bytes) -> bytes:
    """C_j over node j's share vector as sealed (16-byte big-endian elements)."""
    return hashlib.sha256(_COMMIT_LABEL + manifest_hash + bytes.fromhex(submission_id)
                          + node_index.to_bytes(2, "big") + share_bytes).digest()


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


@dataclass(frozen=True)
class Certificate:
    public_key: bytes
    signature: bytes
    commitments: tuple[bytes, ...]

    def commitment(self, node_index: int) -> bytes:
        return self.commitments[node_index]


def verify_certificate(cert: bytes, submission_id: str, n: int, manifest_hash: bytes) -> Certificate:
    """Parse and verify; raises :class:`InvalidSubmission` (never returns a failed check)."""
    if len(cert) != certificate_length(n):
        raise InvalidSubmission(f"submission certificate must be {certificate_length(n)} bytes for {n} nodes")
    pk, sig, commits = cert[:PK_BYTES], cert[PK_BYTES: PK_BYTES + SIG_BYTES], cert[PK_BYTES + SIG_BYTES:]
    if submission_id_for(pk) != submission_id:
        raise InvalidSubmission("submission id is not the hash of the certificate's key")
    try:
        Ed25519PublicKey.from_public_bytes(pk).verify(sig, _signed_message(manifest_hash, submission_id, commits))
    except (InvalidSignature, ValueError):
        raise InvalidSubmission("submission certificate signature does not verify") from None
    return Certificate(pk, sig, tuple(commits[COMMIT_BYTES * j: COMMIT_BYTES * (j + 1)] for j in range(n)))


def check_share(cert: Certificate, manifest_hash: bytes, submission_id: str, node_index: int,
                share_bytes: bytes) -> None:
    """Raise :class:`InvalidSubmission` unless ``share_bytes`` is what the contributor committed
    to for this node."""
    if share_commitment(manifest_hash, submission_id, node_index, share_bytes) != cert.commitment(node_index):
        raise InvalidSubmission("share does not match the contributor's signed commitment for this node")
