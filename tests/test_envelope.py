"""HPKE envelopes (known-answer decryption, tampering, context binding)."""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from protocol.envelope import (
    ENC_LEN,
    SUITE,
    TAG_LEN,
    generate_keypair,
    open_result,
    open_shares,
    private_key_from_bytes,
    result_info,
    seal_shares,
    sealed_share_length,
    share_info,
)
from protocol.errors import DecryptionFailed, InvalidSubmission
from protocol.field import DEFAULT_PRIME, ELEMENT_BYTES

V: dict[str, Any] = json.loads((Path(__file__).parent / "vectors" / "hpke.json").read_text())
P = int(V["field_modulus"])
NODE_SK = private_key_from_bytes(bytes.fromhex(V["node_private_key"]))
ANALYST_SK = private_key_from_bytes(bytes.fromhex(V["analyst_private_key"]))
MHASH = bytes.fromhex(V["manifest_hash"])
NODE = int(V["node_index"])
SID = bytes.fromhex(V["submission_id"])
SHARES = [int(x) for x in V["shares"]]
SEALED = bytes.fromhex(V["sealed"])
RES_NODE = int(V["result_node_index"])
RESULT = [int(x) for x in V["result"]]
SEALED_RESULT = bytes.fromhex(V["sealed_result"])


def _flip(data: bytes, index: int, bit: int = 0) -> bytes:
    b = bytearray(data)
    b[index] ^= 1 << bit
    return bytes(b)


def _open(sealed: bytes, sk: X25519PrivateKey = NODE_SK, mhash: bytes = MHASH, node: int = NODE,
          sid: bytes = SID, vlen: int = len(SHARES)) -> list[int]:
    return open_shares(sealed, sk, mhash, node, sid, vlen, P)


# -------------------------------------------------------------- independent RFC 9180 (base mode)

def _hkdf_extract(salt: bytes, ikm: bytes) -> bytes:
    return hmac.new(salt, ikm, hashlib.sha256).digest()


def _hkdf_expand(prk: bytes, info: bytes, length: int) -> bytes:
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def _labeled_extract(suite_id: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return _hkdf_extract(salt, b"HPKE-v1" + suite_id + label + ikm)


def _labeled_expand(suite_id: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    return _hkdf_expand(prk, struct.pack(">H", length) + b"HPKE-v1" + suite_id + label + info, length)


def rfc9180_open(sealed: bytes, sk: X25519PrivateKey, info: bytes) -> bytes:
    """Single-shot HPKE base-mode open for DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / ChaCha20-Poly1305,
    written from RFC 9180 §4.1, §5.1 and §6.1 with primitives only (no hpke module)."""
    kem_id, kdf_id, aead_id = 0x0020, 0x0001, 0x0003
    enc, ct = sealed[:32], sealed[32:]
    pk_rm = sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    dh = sk.exchange(X25519PublicKey.from_public_bytes(enc))
    kem_suite = b"KEM" + struct.pack(">H", kem_id)
    eae_prk = _labeled_extract(kem_suite, b"", b"eae_prk", dh)
    shared = _labeled_expand(kem_suite, eae_prk, b"shared_secret", enc + pk_rm, 32)
    suite = b"HPKE" + struct.pack(">HHH", kem_id, kdf_id, aead_id)
    psk_id_hash = _labeled_extract(suite, b"", b"psk_id_hash", b"")
    info_hash = _labeled_extract(suite, b"", b"info_hash", info)
    context = b"\x00" + psk_id_hash + info_hash
    secret = _labeled_extract(suite, shared, b"secret", b"")
    key = _labeled_expand(suite, secret, b"key", context, 32)
    nonce = _labeled_expand(suite, secret, b"base_nonce", context, 12)
    return ChaCha20Poly1305(key).decrypt(nonce, ct, b"")


# ------------------------------------------------------------------------------ known answers

def test_vector_file_has_provenance_and_consistent_keys() -> None:
    assert "seal_shares" in V["provenance"]
    pub = NODE_SK.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    assert pub == V["node_public_key"]
    assert len(SEALED) == sealed_share_length(len(SHARES)) == ENC_LEN + 6 + 16 * len(SHARES) + TAG_LEN


def test_open_shares_known_answer() -> None:
    assert _open(SEALED) == SHARES


def test_open_result_known_answer() -> None:
    assert open_result(SEALED_RESULT, ANALYST_SK, MHASH, RES_NODE, P) == RESULT


def test_share_envelope_is_standard_rfc9180_with_documented_layout() -> None:
    """Opened with an independent RFC 9180 implementation and the info/plaintext layouts from the
    module docstring; an implementation drift here would break interoperability of stored envelopes."""
    info = b"salary-mpc/v1 submission share\x00" + MHASH + struct.pack(">H", NODE) + SID
    assert share_info(MHASH, NODE, SID) == info
    plain = rfc9180_open(SEALED, NODE_SK, info)
    expected = b"SSH1" + struct.pack(">H", len(SHARES)) + b"".join(v.to_bytes(ELEMENT_BYTES, "big") for v in SHARES)
    assert plain == expected


def test_result_envelope_is_standard_rfc9180_with_documented_layout() -> None:
    info = b"salary-mpc/v1 result share\x00" + MHASH + struct.pack(">H", RES_NODE)
    assert result_info(MHASH, RES_NODE) == info
    plain = rfc9180_open(SEALED_RESULT, ANALYST_SK, info)
    assert plain == b"RES1" + struct.pack(">H", len(RESULT)) + b"".join(v.to_bytes(16, "big") for v in RESULT)


def test_fresh_seal_roundtrip_and_randomised() -> None:
    sk_raw, pk = generate_keypair()
    sk = private_key_from_bytes(sk_raw)
    a = seal_shares(SHARES, pk.hex(), MHASH, 0, SID, P)
    b = seal_shares(SHARES, pk.hex(), MHASH, 0, SID, P)
    assert a != b and a[:ENC_LEN] != b[:ENC_LEN]  # fresh ephemeral key per envelope
    assert _open(a, sk=sk, node=0) == SHARES == _open(b, sk=sk, node=0)
    assert rfc9180_open(a, sk, share_info(MHASH, 0, SID))[:4] == b"SSH1"


# -------------------------------------------------------------------------------- tampering

SHARE_TAMPERS = {
    "enc first bit": _flip(SEALED, 0),
    "enc last byte high bit": _flip(SEALED, ENC_LEN - 1, 7),  # X25519 ignores this bit in the DH, HPKE must not
    "ciphertext body": _flip(SEALED, ENC_LEN + 10, 3),
    "ciphertext magic": _flip(SEALED, ENC_LEN, 0),
    "tag last bit": _flip(SEALED, len(SEALED) - 1, 7),
    "tag first byte": _flip(SEALED, len(SEALED) - TAG_LEN, 1),
    "truncated by one": SEALED[:-1],
    "truncated to enc": SEALED[:ENC_LEN],
    "empty": b"",
    "padded": SEALED + b"\x00",
    "enc replaced by zeros": bytes(ENC_LEN) + SEALED[ENC_LEN:],
}


@pytest.mark.parametrize("name", list(SHARE_TAMPERS))
def test_tampered_share_envelope_fails(name: str) -> None:
    with pytest.raises(DecryptionFailed):
        _open(SHARE_TAMPERS[name])


def test_truncation_message_says_so() -> None:
    with pytest.raises(DecryptionFailed, match=r"has 137 bytes, expected 150 \(truncated or padded\)"):
        _open(SEALED[:137])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"node": NODE + 1},
        {"node": 0},
        {"sid": bytes(16)},
        {"sid": _flip(SID, 15)},
        {"mhash": _flip(MHASH, 0)},
        {"mhash": hashlib.sha256(b"another survey").digest()},
        {"sk": X25519PrivateKey.generate()},
        {"sk": ANALYST_SK},
    ],
    ids=["node+1", "node0", "sid zero", "sid bitflip", "mhash bitflip", "other mhash", "random key", "analyst key"],
)
def test_share_envelope_bound_to_context(kwargs: dict[str, Any]) -> None:
    with pytest.raises(DecryptionFailed, match="does not open"):
        _open(SEALED, **kwargs)


def test_share_envelope_opened_with_wrong_vector_length_fails() -> None:
    # It opens (authentic), but holds another number of entries than the survey expects:
    # a modified contributor program, told apart from a damaged upload.
    with pytest.raises(InvalidSubmission, match=f"share vector has {len(SHARES)} entries, the survey expects "
                                                f"{len(SHARES) - 1}"):
        _open(SEALED, vlen=len(SHARES) - 1)


def test_share_envelope_is_not_a_result_envelope() -> None:
    # Same key, same manifest, same node index: the purpose label in the info must still separate them.
    with pytest.raises(DecryptionFailed):
        open_result(SEALED, NODE_SK, MHASH, NODE, P)
    with pytest.raises(DecryptionFailed):
        open_shares(SEALED_RESULT, ANALYST_SK, MHASH, RES_NODE, SID, len(RESULT), P)


def _seal_raw(plaintext: bytes, vlen_pk: str, info: bytes) -> bytes:
    return SUITE.encrypt(plaintext, X25519PublicKey.from_public_bytes(bytes.fromhex(vlen_pk)), info)


def test_well_sealed_but_malformed_payloads_are_invalid_submissions() -> None:
    pk = V["node_public_key"]
    info = share_info(MHASH, NODE, SID)
    body = b"".join(v.to_bytes(16, "big") for v in [1, 2])
    # Wrong magic.
    with pytest.raises(InvalidSubmission, match="wrong format"):
        _open(_seal_raw(b"RES1" + struct.pack(">H", 2) + body, pk, info), vlen=2)
    # Count field disagrees with the survey's vector length (total length still right).
    with pytest.raises(InvalidSubmission, match="share vector has 3 entries, the survey expects 2"):
        _open(_seal_raw(b"SSH1" + struct.pack(">H", 3) + body, pk, info), vlen=2)
    # Unreduced element.
    bad = b"SSH1" + struct.pack(">H", 2) + (1).to_bytes(16, "big") + P.to_bytes(16, "big")
    with pytest.raises(InvalidSubmission, match="share vector is malformed"):
        _open(_seal_raw(bad, pk, info), vlen=2)


RESULT_TAMPERS = {
    "enc bit": _flip(SEALED_RESULT, 3),
    "ciphertext bit": _flip(SEALED_RESULT, ENC_LEN + 7),
    "tag bit": _flip(SEALED_RESULT, len(SEALED_RESULT) - 1),
    "truncated": SEALED_RESULT[:-1],
    "short": SEALED_RESULT[:20],
    "empty": b"",
    "padded": SEALED_RESULT + b"\x01",
}


@pytest.mark.parametrize("name", list(RESULT_TAMPERS))
def test_tampered_result_envelope_fails(name: str) -> None:
    with pytest.raises(DecryptionFailed, match=f"result share from node {RES_NODE}"):
        open_result(RESULT_TAMPERS[name], ANALYST_SK, MHASH, RES_NODE, P)


@pytest.mark.parametrize("wrong_node", [0, 2, RES_NODE + 100])
def test_result_envelope_bound_to_node_index(wrong_node: int) -> None:
    with pytest.raises(DecryptionFailed, match=f"result share from node {wrong_node} does not open"):
        open_result(SEALED_RESULT, ANALYST_SK, MHASH, wrong_node, P)


def test_result_envelope_bound_to_manifest_and_key() -> None:
    with pytest.raises(DecryptionFailed):
        open_result(SEALED_RESULT, ANALYST_SK, _flip(MHASH, 31), RES_NODE, P)
    with pytest.raises(DecryptionFailed):
        open_result(SEALED_RESULT, NODE_SK, MHASH, RES_NODE, P)


def test_malformed_result_payload_is_decryption_failed() -> None:
    info = result_info(MHASH, RES_NODE)
    sealed = _seal_raw(b"RES1" + struct.pack(">H", 2) + (5).to_bytes(16, "big"), V["analyst_public_key"], info)
    with pytest.raises(DecryptionFailed, match="is malformed"):
        open_result(sealed, ANALYST_SK, MHASH, RES_NODE, P)


def test_seal_refuses_unreduced_values_and_bad_context() -> None:
    with pytest.raises(ValueError, match="reduced"):
        seal_shares([P], V["node_public_key"], MHASH, NODE, SID, P)
    with pytest.raises(ValueError, match="32 bytes"):
        seal_shares([1], V["node_public_key"], MHASH[:31], NODE, SID, P)
    with pytest.raises(ValueError, match="16 bytes"):
        seal_shares([1], V["node_public_key"], MHASH, NODE, SID + b"\x00", P)
    assert DEFAULT_PRIME == P
