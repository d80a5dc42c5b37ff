"""Sealed envelopes: HPKE (RFC 9180, base mode) from pyca/cryptography.

Suite: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305.  The HPKE ``info`` binds
every ciphertext to its purpose, the survey (manifest hash), the node it is for and the
submission id, so a ciphertext replayed to another node, survey or submission fails to open.

Wire form of a sealed envelope: ``enc (32 bytes) || AEAD ciphertext`` as returned by
``Suite.encrypt``.  Share plaintext: ``b"SSH1" || u16 count || count x 16-byte elements``.
"""

from __future__ import annotations

import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from .errors import DecryptionFailed, InvalidSubmission
from .labels import Label
from .field import ELEMENT_BYTES, decode_elements, encode_elements

SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
ENC_LEN = 32
TAG_LEN = 16
SUBMISSION_ID_BYTES = 16

_SHARE_MAGIC = b"SSH1"
_RESULT_MAGIC = b"RES1"
_BLOCK_MAGIC = b"SSB1"  # a batch: rows (4 bytes), width (2 bytes), rows x width elements
_SHARE_INFO = Label.SUBMISSION_SHARE.value
_RESULT_INFO = Label.RESULT_SHARE.value


def generate_keypair() -> tuple[bytes, bytes]:
    """A fresh X25519 key pair as raw (private, public) bytes."""
    sk = X25519PrivateKey.generate()
    return private_bytes(sk), sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def private_bytes(sk: X25519PrivateKey) -> bytes:
    return sk.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def public_key_from_hex(hex_key: str) -> X25519PublicKey:
    return X25519PublicKey.from_public_bytes(bytes.fromhex(hex_key))


def private_key_from_bytes(raw: bytes) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(raw)


def share_info(manifest_hash: bytes, node_index: int, submission_id: bytes) -> bytes:
    """The HPKE info for node ``node_index``'s share of ``submission_id`` in that survey."""
    if len(manifest_hash) != 32 or len(submission_id) != SUBMISSION_ID_BYTES:
        raise ValueError("manifest hash must be 32 bytes and submission id 16 bytes")
    return _SHARE_INFO + manifest_hash + struct.pack(">H", node_index) + submission_id


def result_info(manifest_hash: bytes, node_index: int) -> bytes:
    return _RESULT_INFO + manifest_hash + struct.pack(">H", node_index)


def sealed_share_length(vector_len: int) -> int:
    """Exact byte length of a sealed share vector of ``vector_len`` elements."""
    return ENC_LEN + len(_SHARE_MAGIC) + 2 + vector_len * ELEMENT_BYTES + TAG_LEN


def _pack(magic: bytes, values: list[int], p: int) -> bytes:
    return magic + struct.pack(">H", len(values)) + encode_elements(values, p)


def _body(magic: bytes, plaintext: bytes, expected_len: int | None) -> tuple[int, bytes]:
    """Check the header (magic, entry count) and return (count, element bytes)."""
    if len(plaintext) < 6 or plaintext[:4] != magic:
        raise InvalidSubmission("sealed payload has the wrong format")
    (count,) = struct.unpack(">H", plaintext[4:6])
    if expected_len is not None and count != expected_len:
        raise InvalidSubmission(f"share vector has {count} entries, the survey expects {expected_len}")
    return count, plaintext[6:]


def _unpack(magic: bytes, plaintext: bytes, expected_len: int | None, p: int) -> list[int]:
    count, body = _body(magic, plaintext, expected_len)
    try:
        return decode_elements(body, count, p)
    except ValueError as exc:
        raise InvalidSubmission(f"share vector is malformed: {exc}") from None


def seal_shares(
    shares: list[int], node_public_key: str, manifest_hash: bytes, node_index: int, submission_id: bytes, p: int
) -> bytes:
    """Seal one node's share vector of one submission to that node's HPKE key."""
    info = share_info(manifest_hash, node_index, submission_id)
    return SUITE.encrypt(_pack(_SHARE_MAGIC, shares, p), public_key_from_hex(node_public_key), info)


def _open_share_plaintext(sealed: bytes, node_private_key: X25519PrivateKey, manifest_hash: bytes, node_index: int,
                          submission_id: bytes, vector_len: int) -> bytes:
    """Decrypt a sealed share; a length other than expected is still opened so that an authentic
    but malformed upload (a modified contributor program) is told apart from a damaged one."""
    expected = sealed_share_length(vector_len)
    info = share_info(manifest_hash, node_index, submission_id)
    try:
        return SUITE.decrypt(sealed, node_private_key, info)
    except (InvalidTag, ValueError):
        if len(sealed) != expected:
            raise DecryptionFailed(f"sealed share has {len(sealed)} bytes, expected {expected} (truncated or padded)"
                                   ) from None
        raise DecryptionFailed(
            "sealed share does not open: tampered, or sealed for another survey, node or submission"
        ) from None


def open_share_elements(sealed: bytes, node_private_key: X25519PrivateKey, manifest_hash: bytes,
                        node_index: int, submission_id: bytes, vector_len: int) -> bytes:
    """Open a sealed share vector into its element bytes (``vector_len`` x 16, big-endian).  Checks
    format and length only: the caller range-checks the elements (fastfield.decode_matrix, once
    for many rows).  Raises :class:`DecryptionFailed` or :class:`InvalidSubmission`."""
    plaintext = _open_share_plaintext(sealed, node_private_key, manifest_hash, node_index, submission_id, vector_len)
    count, body = _body(_SHARE_MAGIC, plaintext, vector_len)
    if len(body) != count * ELEMENT_BYTES:
        raise InvalidSubmission(f"share vector is malformed: expected {count} field elements, got {len(body)} bytes")
    return body


def open_shares(sealed: bytes, node_private_key: X25519PrivateKey, manifest_hash: bytes, node_index: int,
                submission_id: bytes, vector_len: int, p: int) -> list[int]:
    """Open a sealed share vector; raises :class:`DecryptionFailed` if tampered, truncated or
    bound to another survey/node/submission, :class:`InvalidSubmission` if it opens but is
    malformed inside (wrong number of entries, unreduced values)."""
    plaintext = _open_share_plaintext(sealed, node_private_key, manifest_hash, node_index, submission_id, vector_len)
    return _unpack(_SHARE_MAGIC, plaintext, vector_len, p)


def seal_result(values: list[int], analyst_public_key: str, manifest_hash: bytes, node_index: int, p: int) -> bytes:
    """Seal a node's share of the result vector to the analyst."""
    return SUITE.encrypt(_pack(_RESULT_MAGIC, values, p), public_key_from_hex(analyst_public_key),
                         result_info(manifest_hash, node_index))


def open_result(sealed: bytes, analyst_private_key: X25519PrivateKey, manifest_hash: bytes, node_index: int,
                p: int) -> list[int]:
    """Open a node's sealed result share; raises :class:`DecryptionFailed` on any mismatch."""
    try:
        plaintext = SUITE.decrypt(sealed, analyst_private_key, result_info(manifest_hash, node_index))
    except (InvalidTag, ValueError):
        raise DecryptionFailed(f"result share from node {node_index} does not open: tampered or not for this survey") from None
    try:
        return _unpack(_RESULT_MAGIC, plaintext, None, p)
    except InvalidSubmission as exc:
        raise DecryptionFailed(f"result share from node {node_index} is malformed: {exc}") from None


#: bytes before the elements in a batch's sealed plaintext: magic, rows (4 bytes), width (2 bytes)
BLOCK_HEADER_BYTES = len(_BLOCK_MAGIC) + 6


def share_block_header(rows: int, width: int) -> bytes:
    """The first :data:`BLOCK_HEADER_BYTES` of a batch's sealed plaintext (the elements follow)."""
    return _BLOCK_MAGIC + struct.pack(">IH", rows, width)


def seal_share_block(block: bytes, rows: int, width: int, node_public_key: str, manifest_hash: bytes,
                     node_index: int, envelope_id: bytes) -> bytes:
    """Seal one node's share vectors of a whole batch (``rows`` x ``width`` 16-byte big-endian
    elements, row-major) to that node's HPKE key; ``envelope_id`` is the batch's
    (protocol.commitment.batch_envelope_id), bound into the info like a submission id."""
    if len(block) != rows * width * ELEMENT_BYTES:
        raise ValueError("share block has the wrong size")
    return seal_share_plaintext(share_block_header(rows, width) + block, rows, width, node_public_key, manifest_hash,
                                node_index, envelope_id)


def seal_share_plaintext(plaintext: bytes | bytearray | memoryview, rows: int, width: int, node_public_key: str,
                         manifest_hash: bytes, node_index: int, envelope_id: bytes) -> bytes:
    """:func:`seal_share_block` of a plaintext already laid out as :func:`share_block_header` and
    the block (a batch's shares written in place: nothing is copied before encryption)."""
    view = memoryview(plaintext).cast("B")
    if (len(view) != BLOCK_HEADER_BYTES + rows * width * ELEMENT_BYTES
            or bytes(view[:BLOCK_HEADER_BYTES]) != share_block_header(rows, width)):
        raise ValueError("share block plaintext has the wrong header or size")
    info = share_info(manifest_hash, node_index, envelope_id)
    return SUITE.encrypt(view, public_key_from_hex(node_public_key), info)


def open_share_block(sealed: bytes, node_private_key: X25519PrivateKey, manifest_hash: bytes, node_index: int,
                     envelope_id: bytes, rows: int, width: int) -> bytes:
    """Open a batch's sealed share block; checks format and shape (the caller range-checks the
    elements).  Raises :class:`DecryptionFailed` or :class:`InvalidSubmission`."""
    try:
        plaintext = SUITE.decrypt(sealed, node_private_key, share_info(manifest_hash, node_index, envelope_id))
    except (InvalidTag, ValueError):
        raise DecryptionFailed("sealed share block does not open with this node's key for this survey, node and "
                               "batch") from None
    if len(plaintext) < 10 or plaintext[:4] != _BLOCK_MAGIC:
        raise InvalidSubmission("sealed share block has the wrong format")
    got_rows, got_width = struct.unpack(">IH", plaintext[4:10])
    if (got_rows, got_width) != (rows, width) or len(plaintext) != 10 + rows * width * ELEMENT_BYTES:
        raise InvalidSubmission(f"share block holds {got_rows} x {got_width} entries; the upload announces {rows} "
                                f"records and the survey expects {width} entries each")
    return plaintext[10:]
