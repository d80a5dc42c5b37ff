"""Node-to-node request authentication: a request signed with the node's TLS private key.

A peer proves it is node ``i`` of the survey by signing ``"{METHOD} {path} {timestamp}
{manifest hash}"`` with the ECDSA P-256 key of the certificate the manifest lists for node i.
The server accepts a signature at most :data:`MAX_SKEW` seconds old.  It protects read-only
endpoints that reveal submission ids (the agreement inputs); a replay within the window can only
repeat the same read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from collections.abc import Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .errors import InvalidToken
from .labels import Label
from .manifest import Manifest
from .wire import Accusation, AuditAnchor, Endorsement

HEADER = "X-Salary-Node"
MAX_SKEW = 300


def _message(method: str, path: str, ts: int, manifest_hash_hex: str) -> bytes:
    return Label.NODE_REQUEST.value + f"{method.upper()} {path} {ts} {manifest_hash_hex}".encode()


def sign_request(key_pem: bytes, node_index: int, method: str, path: str, manifest: Manifest,
                 now: float | None = None) -> str:
    """The header value that authenticates this request as coming from ``node_index``."""
    key = serialization.load_pem_private_key(key_pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise InvalidToken("node TLS key is not an EC key")
    ts = int(now if now is not None else time.time())
    sig = key.sign(_message(method, path, ts, manifest.hash_hex()), ec.ECDSA(hashes.SHA256()))
    return f"{node_index}:{ts}:{base64.b64encode(sig).decode()}"


def verify_request(header: str | None, method: str, path: str, manifest: Manifest, now: float | None = None) -> int:
    """Return the authenticated node index, or raise :class:`InvalidToken`."""
    if not header:
        raise InvalidToken("this endpoint is for the survey's nodes only (signed request required)")
    try:
        idx_s, ts_s, sig_b64 = header.split(":", 2)
        idx, ts = int(idx_s), int(ts_s)
        sig = base64.b64decode(sig_b64.encode(), validate=True)
    except (ValueError, binascii.Error):
        raise InvalidToken("malformed node signature header") from None
    if not 0 <= idx < manifest.n:
        raise InvalidToken("node signature names no node of this survey")
    now = time.time() if now is None else now
    if abs(int(now) - ts) > MAX_SKEW:  # ints: a huge ts must not overflow a float
        raise InvalidToken("node signature is too old or from the future (check the clocks)")
    pub = x509.load_pem_x509_certificate(manifest.nodes[idx].tls_cert_pem.encode()).public_key()
    if not isinstance(pub, ec.EllipticCurvePublicKey):
        raise InvalidToken("node certificate does not hold an EC key")
    try:
        pub.verify(sig, _message(method, path, ts, manifest.hash_hex()), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise InvalidToken(f"node signature does not verify for node {idx}") from None
    return idx


# Signed statements: a node signs what it tells its peers, so that telling two peers two
# different things (equivocation) leaves a proof that names it.

def sign_statement(key_pem: bytes, message: bytes) -> bytes:
    """ECDSA P-256 / SHA-256 signature (DER) of ``message`` with a node's TLS key."""
    key = serialization.load_pem_private_key(key_pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise InvalidToken("node TLS key is not an EC key")
    return key.sign(message, ec.ECDSA(hashes.SHA256()))


def statement_verifier(cert_pem: str) -> ec.EllipticCurvePublicKey:
    pub = x509.load_pem_x509_certificate(cert_pem.encode()).public_key()
    if not isinstance(pub, ec.EllipticCurvePublicKey):
        raise InvalidToken("node certificate does not hold an EC key")
    return pub


def verify_statement(pub: ec.EllipticCurvePublicKey, message: bytes, signature: bytes) -> None:
    """Raise :class:`InvalidToken` unless ``signature`` is the key owner's signature of ``message``."""
    try:
        pub.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise InvalidToken("statement signature does not verify") from None


def _check_signed(manifest: Manifest, node: int, statement: bytes, signature_b64: str, what: str) -> None:
    """Raise SurveyError("node N's WHAT is not signed by it") unless ``signature_b64`` is node
    ``node``'s signature of ``statement`` (its TLS key, as the manifest pins it)."""
    _check_signed_by(manifest.nodes[node].tls_cert_pem, node, statement, signature_b64, what)


def _check_signed_by(cert_pem: str, node: int, statement: bytes, signature_b64: str, what: str) -> None:
    from .errors import SurveyError

    try:
        sig = base64.b64decode(signature_b64, validate=True)
        verify_statement(statement_verifier(cert_pem), statement, sig)
    except (binascii.Error, ValueError, InvalidToken):
        raise SurveyError(f"node {node}'s {what} is not signed by it") from None


def audit_head_statement(survey_id: str, manifest_hash_hex: str, node_index: int, seq: int, head_hex: str) -> bytes:
    """What a node signs about its audit log when it computes a survey: line ``seq`` has hash
    ``head_hex`` (its peers keep the signed head, so a log cut short or rewritten is detected)."""
    return Label.AUDIT_HEAD.value + f"{survey_id} {manifest_hash_hex} {node_index} {seq} {head_hex}".encode()


def verify_audit_anchor(manifest: Manifest, a: AuditAnchor) -> None:
    """Raise SurveyError unless node ``a.node_index`` signed this head of its audit log for
    ``manifest``'s survey (:func:`audit_head_statement`)."""
    from .errors import SurveyError

    if not 0 <= a.node_index < manifest.n:
        raise SurveyError(f"an audit head names node {a.node_index}, which is not in the survey")
    _check_signed(manifest, a.node_index,
                  audit_head_statement(manifest.survey_id, manifest.hash_hex(), a.node_index, a.seq, a.head),
                  a.signature, "audit head")


def frozen_set_statement(survey_id: str, manifest_hash_hex: str, node_index: int, digest_hex: str) -> bytes:
    """What a node signs when it serves its frozen submission set to a peer."""
    return Label.FROZEN_SET.value + f"{survey_id} {manifest_hash_hex} {node_index} {digest_hex}".encode()


def accusation_statement(a: Accusation) -> bytes:
    """What a node signs when its MPC attempt ends: which attempt over which frozen set (and its
    own accusation count), and whom it names for what (:class:`protocol.wire.Accusation`; the
    signature field is not signed)."""
    accused = ",".join(str(j) for j in a.accused)
    return Label.ACCUSATION.value + (f"{a.survey_id} {a.manifest_hash} {a.agreed_digest} {a.attempt} {a.sequence} "
                                     f"{a.accuser} {a.kind} {accused} {a.follows}").encode()


def accusation_hash(a: Accusation) -> str:
    """SHA-256 (hex) of :func:`accusation_statement`: what a *followed* statement names, and
    how the dispute tells statements apart (two signatures of one statement are one)."""
    return hashlib.sha256(accusation_statement(a)).hexdigest()


def verify_accusation(manifest: Manifest, a: Accusation) -> None:
    """Raise SurveyError unless node ``a.accuser`` of ``manifest``'s survey signed ``a``
    (and it names nodes of the survey)."""
    check_accusation(a, manifest.survey_id, manifest.hash_hex(), [nd.tls_cert_pem for nd in manifest.nodes])


def check_accusation(a: Accusation, survey_id: str, manifest_hash_hex: str, certificates: Sequence[str]) -> None:
    """:func:`verify_accusation` given the survey's id, manifest hash and every node's TLS
    certificate (PEM), as an MPC party holds them."""
    from .errors import SurveyError

    n = len(certificates)
    if not 0 <= a.accuser < n or not all(0 <= j < n for j in a.accused):
        raise SurveyError("an accusation names a node that is not in the survey")
    if (a.survey_id, a.manifest_hash) != (survey_id, manifest_hash_hex):
        raise SurveyError("an accusation is about another survey")
    _check_signed_by(certificates[a.accuser], a.accuser, accusation_statement(a), a.signature, "accusation")


def endorsement_statement(e: Endorsement) -> bytes:
    """What a node signs when it relays a peer's accusation in the dispute after a failed attempt."""
    return Label.ENDORSEMENT.value + (f"{e.agreed_digest} {e.attempt} {e.accuser} {e.statement_sha256} "
                                      f"{e.endorser}").encode()


def verify_endorsement(manifest: Manifest, e: Endorsement) -> None:
    """Raise SurveyError unless node ``e.endorser`` of ``manifest``'s survey signed ``e``."""
    from .errors import SurveyError

    if not 0 <= e.endorser < manifest.n:
        raise SurveyError("an endorsement names a node that is not in the survey")
    _check_signed(manifest, e.endorser, endorsement_statement(e), e.signature, "endorsement")
