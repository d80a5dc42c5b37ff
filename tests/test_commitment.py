"""Submission certificates (protocol.commitment) against the known-answer file, and tampered
cases that must fail with their exact error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.commitment import (
    batch_record_id,
    check_share,
    make_certificate,
    submission_id_for,
    verify_certificate,
)
from protocol.errors import InvalidSubmission
from protocol.field import encode_elements

V: dict[str, Any] = json.loads((Path(__file__).parent / "vectors" / "certificate.json").read_text())
P = (1 << 127) - 1
MH = bytes.fromhex(V["manifest_hash"])
SHARES = [encode_elements([int(v) for v in row], P) for row in V["shares"]]
CERT = bytes.fromhex(V["certificate"])
SID = V["submission_id"]


def test_known_answer() -> None:
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(V["private_key"]))
    sid, cert = make_certificate(MH, SHARES, key)
    assert (sid, cert) == (SID, CERT)
    assert submission_id_for(CERT[:32]) == SID
    c = verify_certificate(CERT, SID, 3, MH)
    for j, sb in enumerate(SHARES):
        check_share(c, MH, SID, j, sb)


@pytest.mark.parametrize("tamper,message", [
    (lambda cert, sid: (cert[:40] + bytes([cert[40] ^ 1]) + cert[41:], sid), "signature does not verify"),
    (lambda cert, sid: (cert[:-1] + bytes([cert[-1] ^ 1]), sid), "signature does not verify"),  # a commitment
    (lambda cert, sid: (cert, "0" * 32), "submission id is not the hash of the certificate's key"),
    (lambda cert, sid: (cert[:-32], sid), "must be 192 bytes for 3 nodes"),
])
def test_tampered_certificates_fail(tamper: Any, message: str) -> None:
    cert, sid = tamper(CERT, SID)
    with pytest.raises(InvalidSubmission, match=message):
        verify_certificate(cert, sid, 3, MH)


def test_a_share_other_than_the_committed_one_fails() -> None:
    c = verify_certificate(CERT, SID, 3, MH)
    with pytest.raises(InvalidSubmission, match="share does not match the contributor's signed commitment"):
        check_share(c, MH, SID, 1, SHARES[0])  # node 0's share presented as node 1's
    flipped = bytearray(SHARES[2])
    flipped[-1] ^= 1
    with pytest.raises(InvalidSubmission, match="share does not match"):
        check_share(c, MH, SID, 2, bytes(flipped))
    with pytest.raises(InvalidSubmission, match="signature does not verify"):
        verify_certificate(CERT, SID, 3, bytes(32))  # another survey


def test_fresh_certificates_use_fresh_keys() -> None:
    (s1, c1), (s2, c2) = make_certificate(MH, SHARES), make_certificate(MH, SHARES)
    assert s1 != s2 and c1[:32] != c2[:32]
    # the id is in every commitment, so one upload's certificate never vouches for another id
    assert set(verify_certificate(c1, s1, 3, MH).commitments).isdisjoint(verify_certificate(c2, s2, 3, MH).commitments)
    with pytest.raises(InvalidSubmission, match="not the hash of the certificate's key"):
        verify_certificate(c1, s2, 3, MH)


def test_batch_record_ids_known_answer_and_adjacent() -> None:
    pk = bytes(range(32))
    assert batch_record_id(pk, 0) == "73d685cce7a74ad46d89c96a00000000"
    assert batch_record_id(pk, 999) == "73d685cce7a74ad46d89c96a000003e7"
    # a batch's ids sort in record order, next to each other (one region of a node's id index)
    ids = [batch_record_id(pk, r) for r in range(300)]
    assert sorted(ids) == ids and len(set(ids)) == 300
    other = batch_record_id(bytes(32), 0)
    assert other[:24] != ids[0][:24] and submission_id_for(pk) not in ids
    for bad in (-1, 1 << 32):
        with pytest.raises(ValueError, match="batch record index out of range"):
            batch_record_id(pk, bad)
