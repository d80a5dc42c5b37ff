"""The node's upload checks (mpc_nodes/ingest.py): one test per RejectionReason, each asserting the
exact reason, exception class and one-line detail, on a real store with real HPKE and real
certificates; and the one mapping of reasons to the wire.

The node does not look inside a share (the MPC validates records), so the shares here are random
field elements of the survey's width.
"""

from __future__ import annotations

import base64
import json
import random
import struct
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from conftest import Survey, make_survey
from mpc_nodes.ingest import Ingest
from mpc_nodes.keys import TLS_KEY_FILE, load_hpke_private, load_public
from mpc_nodes.server import create_app, frozen_set, refusal
from mpc_nodes.store import NodeStore
from protocol.commitment import (
    batch_envelope_id,
    batch_record_id,
    certificate_length,
    make_batch,
    make_certificate,
)
from protocol.envelope import (
    SUITE,
    open_share_block,
    public_key_from_hex,
    seal_share_block,
    seal_shares,
    sealed_share_length,
    share_info,
)
from protocol.errors import InvalidManifest, SurveyError
from protocol.field import encode_elements
from protocol.rejection import WIRE, RejectionReason, WireError
from protocol.wire import MAX_BODY_BYTES, MAX_BULK_BODY_BYTES, BulkBody, b64e

SID = "test-survey"
R = RejectionReason


@dataclass
class Node:
    survey: Survey
    dir: Path
    store: NodeStore
    ingest: Ingest

    @property
    def width(self) -> int:
        return self.survey.manifest.vector_length()

    @property
    def p(self) -> int:
        return self.survey.manifest.field_modulus


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    s = make_survey(tmp_path, tokens=6)
    d = s.node_dirs[0]
    store = NodeStore(d / "node.db")
    pub = load_public(d)
    store.import_survey(json.loads((s.dir / "node-bundle.json").read_text()), pub.hpke_public_key,
                        pub.tls_cert_sha256)
    yield Node(s, d, store, Ingest(store, load_hpke_private(d)))
    store.close()


def refused(reason: RejectionReason, detail: str, call: Callable[..., Any], *args: Any) -> SurveyError:
    """``call(*args)`` must raise a refusal for ``reason`` of the reason's exception class, with
    exactly ``detail``."""
    with pytest.raises(SurveyError) as info:
        call(*args)
    exc = info.value
    assert (exc.reason, type(exc), str(exc)) == (reason, reason.wire.exception, detail)
    return exc


# -- uploads as a contributor makes them ------------------------------------------------------------

_RNG = random.Random(20)


def random_shares(n: Node, width: int | None = None) -> list[list[int]]:
    """One share vector per node of the survey (random elements: the node does not look inside)."""
    return [[_RNG.randrange(n.p) for _ in range(width or n.width)] for _ in range(n.survey.manifest.n)]


def certify(n: Node, shares: list[list[int]], key: Ed25519PrivateKey | None = None) -> tuple[str, bytes]:
    m = n.survey.manifest
    return make_certificate(m.hash(), [encode_elements(sh, m.field_modulus) for sh in shares], key)


def seal(n: Node, sid: str, share: list[int], to: int = 0) -> bytes:
    m = n.survey.manifest
    return seal_shares(share, m.nodes[to].hpke_public_key, m.hash(), to, bytes.fromhex(sid), m.field_modulus)


def seal_plaintext(n: Node, sid: str, plaintext: bytes) -> bytes:
    """Arbitrary bytes sealed to node 0 exactly as a share is sealed: they open."""
    m = n.survey.manifest
    return SUITE.encrypt(plaintext, public_key_from_hex(m.nodes[0].hpke_public_key),
                         share_info(m.hash(), 0, bytes.fromhex(sid)))


def upload(sid: str, token: str, envelope: bytes, cert: bytes, replace: bool = False) -> dict[str, Any]:
    return {"submission_id": sid, "token": token, "envelope": b64e(envelope), "certificate": b64e(cert),
            "replace": replace}


def good_upload(n: Node, token: str, key: Ed25519PrivateKey | None = None, width: int | None = None
                ) -> dict[str, Any]:
    shares = random_shares(n, width)
    sid, cert = certify(n, shares, key)
    return upload(sid, token, seal(n, sid, shares[0]), cert)


def body(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def submit(n: Node, obj: Any) -> Any:
    return n.ingest.check_upload(SID, body(obj))


def good_batch(n: Node, tokens: list[str], block: bytes | None = None, width: int | None = None) -> BulkBody:
    """A bulk upload for node 0; ``block``: seal these element bytes (``width`` entries a record)
    instead of the records' shares."""
    m = n.survey.manifest
    records = [random_shares(n, width) for _ in tokens]
    batch = make_batch(m.hash(), [[encode_elements(sh, n.p) for sh in rec] for rec in records])
    if block is None:
        block = b"".join(encode_elements(rec[0], n.p) for rec in records)
    envelope = seal_share_block(block, len(tokens), width or n.width, m.nodes[0].hpke_public_key, m.hash(), 0,
                                batch_envelope_id(batch.public_key))
    return BulkBody(batch.public_key, batch.signature, tuple(tokens), b"".join(batch.commitments), envelope)


def submit_batch(n: Node, bb: BulkBody) -> Any:
    return n.ingest.check_batch(SID, bb.to_bytes(), True)


# -- the wire mapping -------------------------------------------------------------------------------

def test_every_reason_has_one_wire_form() -> None:
    assert set(WIRE) == set(RejectionReason)
    assert {r: (r.wire.status, r.wire.name) for r in RejectionReason} == {
        R.BODY_TOO_LARGE: (413, "PayloadTooLarge"),
        R.UNKNOWN_SURVEY: (404, "UnknownSurvey"),
        R.MALFORMED_BODY: (400, "InvalidSubmission"),
        R.BAD_BASE64: (400, "InvalidSubmission"),
        R.CERTIFICATE_MALFORMED: (400, "InvalidSubmission"),
        R.ID_NOT_BOUND: (400, "InvalidSubmission"),
        R.SIGNATURE_INVALID: (400, "InvalidSubmission"),
        R.ENVELOPE_DOES_NOT_OPEN: (400, "DecryptionFailed"),
        R.SHARE_MALFORMED: (400, "InvalidSubmission"),
        R.UNREDUCED_ELEMENT: (400, "InvalidSubmission"),
        R.SHARE_NOT_COMMITTED: (400, "InvalidSubmission"),
        R.TOKEN_REPEATED: (403, "InvalidToken"),
        R.DUPLICATE_ID: (409, "DuplicateSubmission"),
        R.SURVEY_CLOSED: (409, "SurveyClosed"),
        R.UNKNOWN_TOKEN: (403, "InvalidToken"),
        R.TOKEN_USED: (409, "TokenUsed"),
        R.CREDENTIAL_REFUSED: (403, "InvalidToken"),
        R.SURVEY_PURGED: (409, "SurveyClosed"),
        R.NOT_COMPUTED: (404, "NotComputed"),
    }
    assert all(isinstance(w, WireError) and 400 <= w.status < 500 for w in WIRE.values())


def test_the_server_answers_a_refusal_from_its_reason_alone() -> None:
    resp = refusal(R.TOKEN_USED.exception("this token was used"))
    assert resp.status_code == 409
    assert json.loads(bytes(resp.body)) == {"error": "TokenUsed", "detail": "this token was used",
                                            "reason": "token-used"}
    unclassified = refusal(InvalidManifest("a manifest problem"))
    assert unclassified.status_code == 400
    assert json.loads(bytes(unclassified.body)) == {"error": "InvalidManifest", "detail": "a manifest problem"}


def test_every_reason_has_its_test() -> None:
    names = set(vars(sys.modules[__name__]))
    missing = [r for r in RejectionReason if f"test_{r.name.lower()}" not in names]
    assert missing == []


# -- one test per reason ----------------------------------------------------------------------------

def test_body_too_large(node: Node) -> None:
    refused(R.BODY_TOO_LARGE, f"request body above {MAX_BODY_BYTES} bytes",
            node.ingest.check_upload, SID, b" " * (MAX_BODY_BYTES + 1))
    refused(R.BODY_TOO_LARGE, f"request body above {MAX_BULK_BODY_BYTES} bytes",
            node.ingest.check_batch, SID, b" " * (MAX_BULK_BODY_BYTES + 1), True)


def test_unknown_survey(node: Node) -> None:
    raw = body(good_upload(node, node.survey.tokens[0]))
    refused(R.UNKNOWN_SURVEY, "unknown survey 'nope'", node.ingest.check_upload, "nope", raw)
    refused(R.UNKNOWN_SURVEY, "unknown survey 'nope'", node.ingest.check_batch, "nope", b"", True)


def test_malformed_body(node: Node) -> None:
    ok = good_upload(node, node.survey.tokens[0])
    refused(R.MALFORMED_BODY, "request body is not valid JSON (or nested too deeply)",
            node.ingest.check_upload, SID, b"{not json")
    refused(R.MALFORMED_BODY, "submission: field 'token' is missing",
            submit, node, {k: v for k, v in ok.items() if k != "token"})
    refused(R.MALFORMED_BODY, "submission body must be a JSON object", submit, node, [ok])
    refused(R.MALFORMED_BODY, "bulk upload (binary): the body does not start with the format's magic bytes",
            node.ingest.check_batch, SID, b"SMB2", True)
    refused(R.MALFORMED_BODY, "bulk upload: field 'envelope' is missing",
            node.ingest.check_batch, SID, body({"batch_key": "", "signature": "", "tokens": ["t"],
                                               "commitments": ""}), False)
    # more records than a batch may hold: refused before anything else is looked at
    too_many = BulkBody(b"k" * 32, b"s" * 64, tuple(f"t{r}" for r in range(4097)), b"", b"")
    refused(R.MALFORMED_BODY, "a batch holds 1 to 4096 records", submit_batch, node, too_many)
    assert node.store.count(SID) == 0


def test_bad_base64(node: Node) -> None:
    ok = good_upload(node, node.survey.tokens[0])
    refused(R.BAD_BASE64, "envelope is not valid base64", submit, node, {**ok, "envelope": "!!!"})
    refused(R.BAD_BASE64, "certificate is not valid base64", submit, node, {**ok, "certificate": "a"})
    bb = good_batch(node, node.survey.tokens[:2]).to_upload().to_json()
    refused(R.BAD_BASE64, "batch_key is not valid base64",
            node.ingest.check_batch, SID, body({**bb, "batch_key": "!!"}), False)


def test_certificate_malformed(node: Node) -> None:
    ok = good_upload(node, node.survey.tokens[0])
    cert = base64.b64decode(ok["certificate"])
    assert len(cert) == certificate_length(3)
    refused(R.CERTIFICATE_MALFORMED, "submission certificate must be 192 bytes for 3 nodes",
            submit, node, {**ok, "certificate": b64e(cert[:50])})
    refused(R.CERTIFICATE_MALFORMED, "submission certificate must be 192 bytes for 3 nodes, or a well-formed "
            "batch record certificate", submit, node, {**ok, "certificate": b64e(cert[:-1])})
    bb = good_batch(node, node.survey.tokens[:2])
    refused(R.CERTIFICATE_MALFORMED, "batch key or signature has the wrong length",
            submit_batch, node, BulkBody(bb.batch_key, bb.signature[:-1], bb.tokens, bb.commitments, bb.envelope))
    refused(R.CERTIFICATE_MALFORMED, "batch commitments must be 192 bytes for 2 records and 3 nodes",
            submit_batch, node, BulkBody(bb.batch_key, bb.signature, bb.tokens, bb.commitments + b"x", bb.envelope))
    assert node.store.count(SID) == 0


def test_id_not_bound(node: Node) -> None:
    ok = good_upload(node, node.survey.tokens[0])
    other = good_upload(node, node.survey.tokens[0])
    refused(R.ID_NOT_BOUND, "submission id is not the hash of the certificate's key",
            submit, node, {**ok, "certificate": other["certificate"]})
    assert node.store.refused_ids(SID) == [ok["submission_id"]]  # it opened: on record


def test_signature_invalid(node: Node) -> None:
    ok = good_upload(node, node.survey.tokens[0])
    cert = bytearray(base64.b64decode(ok["certificate"]))
    cert[40] ^= 1
    refused(R.SIGNATURE_INVALID, "submission certificate signature does not verify",
            submit, node, {**ok, "certificate": b64e(bytes(cert))})
    bb = good_batch(node, node.survey.tokens[:3])
    commitments = bytearray(bb.commitments)
    commitments[96 + 5] ^= 1
    refused(R.SIGNATURE_INVALID, "batch certificate signature does not verify",
            submit_batch, node, BulkBody(bb.batch_key, bb.signature, bb.tokens, bytes(commitments), bb.envelope))
    assert node.store.count(SID) == 0


def test_envelope_does_not_open(node: Node) -> None:
    ok = good_upload(node, node.survey.tokens[0])
    env = bytearray(base64.b64decode(ok["envelope"]))
    env[40] ^= 1
    refused(R.ENVELOPE_DOES_NOT_OPEN, "sealed share does not open: tampered, or sealed for another survey, node "
            "or submission", submit, node, {**ok, "envelope": b64e(bytes(env))})
    expected = sealed_share_length(node.width)
    refused(R.ENVELOPE_DOES_NOT_OPEN, f"sealed share has {expected - 8} bytes, expected {expected} (truncated or "
            "padded)", submit, node, {**ok, "envelope": b64e(bytes(env[:-8]))})
    bb = good_batch(node, node.survey.tokens[:2])
    other = good_batch(node, node.survey.tokens[:2])
    refused(R.ENVELOPE_DOES_NOT_OPEN, "sealed share block does not open with this node's key for this survey, "
            "node and batch", submit_batch, node,
            BulkBody(bb.batch_key, bb.signature, bb.tokens, bb.commitments, other.envelope))
    # not authentic: nothing on record
    assert node.store.count(SID) == 0 and node.store.refused_ids(SID) == []


def test_share_malformed(node: Node) -> None:
    longer = good_upload(node, node.survey.tokens[0], width=node.width + 1)
    refused(R.SHARE_MALFORMED, f"share vector has {node.width + 1} entries, the survey expects {node.width}",
            submit, node, longer)
    ok = good_upload(node, node.survey.tokens[1])  # another token: a token's first refusal stays on record
    refused(R.SHARE_MALFORMED, "sealed payload has the wrong format", submit, node,
            {**ok, "envelope": b64e(seal_plaintext(node, ok["submission_id"], b"XXXX"))})
    short = b"SSH1" + struct.pack(">H", node.width) + bytes(16 * node.width - 1)
    refused(R.SHARE_MALFORMED, f"share vector is malformed: expected {node.width} field elements, got "
            f"{16 * node.width - 1} bytes", submit, node,
            {**ok, "envelope": b64e(seal_plaintext(node, ok["submission_id"], short))})
    assert node.store.refused_ids(SID) == sorted([longer["submission_id"], ok["submission_id"]])
    wide = good_batch(node, node.survey.tokens[:2], width=node.width + 1)
    refused(R.SHARE_MALFORMED, f"share block holds 2 x {node.width + 1} entries; the upload announces 2 records "
            f"and the survey expects {node.width} entries each", submit_batch, node, wide)
    assert node.store.count(SID) == 0


def test_unreduced_element(node: Node) -> None:
    ok = good_upload(node, node.survey.tokens[0])
    plaintext = b"SSH1" + struct.pack(">H", node.width) + node.p.to_bytes(16, "big") + bytes(16 * (node.width - 1))
    refused(R.UNREDUCED_ELEMENT, "share vector is malformed: value is not a reduced field element", submit, node,
            {**ok, "envelope": b64e(seal_plaintext(node, ok["submission_id"], plaintext))})
    assert node.store.refused_ids(SID) == [ok["submission_id"]]
    block = bytes(16 * node.width) + (2**128 - 1).to_bytes(16, "big") + bytes(16 * (node.width - 1))
    bb = good_batch(node, node.survey.tokens[1:3], block=block)
    refused(R.UNREDUCED_ELEMENT, "share block holds a value that is not a reduced field element",
            submit_batch, node, bb)
    assert node.store.refused_ids(SID) == sorted([ok["submission_id"], *batch_ids(bb)])
    assert node.store.count(SID) == 0


def batch_ids(bb: BulkBody) -> list[str]:
    return [batch_record_id(bb.batch_key, r) for r in range(len(bb.tokens))]


def test_share_not_committed(node: Node) -> None:
    shares = random_shares(node)
    committed = [list(sh) for sh in shares]
    committed[0][0] = (committed[0][0] + 1) % node.p
    sid, cert = certify(node, committed)
    refused(R.SHARE_NOT_COMMITTED, "share does not match the contributor's signed commitment for this node",
            submit, node, upload(sid, node.survey.tokens[0], seal(node, sid, shares[0]), cert))
    bb = good_batch(node, node.survey.tokens[1:4])
    # node 0's block holds record 2's share with its lowest bit flipped: still a reduced element
    m = node.survey.manifest
    block = bytearray(open_share_block(bb.envelope, node.ingest.hpke_key, m.hash(), 0,
                                       batch_envelope_id(bb.batch_key), 3, node.width))
    block[2 * 16 * node.width + 15] ^= 1
    sealed = seal_share_block(bytes(block), 3, node.width, m.nodes[0].hpke_public_key, m.hash(), 0,
                              batch_envelope_id(bb.batch_key))
    refused(R.SHARE_NOT_COMMITTED, "record 2 of the batch: share does not match the contributor's signed "
            "commitment for this node", submit_batch, node,
            BulkBody(bb.batch_key, bb.signature, bb.tokens, bb.commitments, sealed))
    assert node.store.refused_ids(SID) == sorted([sid, *batch_ids(bb)]) and node.store.count(SID) == 0


def test_token_repeated(node: Node) -> None:
    t = node.survey.tokens
    refused(R.TOKEN_REPEATED, "a bulk upload uses one participation token twice",
            submit_batch, node, good_batch(node, [t[0], t[1], t[0]]))
    assert node.store.count(SID) == 0


def test_duplicate_id(node: Node) -> None:
    key = Ed25519PrivateKey.generate()
    submit(node, good_upload(node, node.survey.tokens[0], key))
    other = good_upload(node, node.survey.tokens[0], key)  # same key, so the same id; other shares
    refused(R.DUPLICATE_ID, "submission id already used with different content", submit, node, other)
    bb = good_batch(node, node.survey.tokens[1:3])
    submit_batch(node, bb)
    again = BulkBody(bb.batch_key, bb.signature, (bb.tokens[0], node.survey.tokens[3]), bb.commitments, bb.envelope)
    refused(R.DUPLICATE_ID, "record 1 of the batch: submission id already used with different content (or the "
            "batch was only partly stored)", submit_batch, node, again)
    assert node.store.count(SID) == 3


def test_survey_closed(node: Node) -> None:
    node.store.close_survey(SID, "test")
    detail = f"survey {SID} is closed and accepts no more submissions"
    refused(R.SURVEY_CLOSED, detail, submit, node, good_upload(node, node.survey.tokens[0]))
    refused(R.SURVEY_CLOSED, detail, submit_batch, node, good_batch(node, node.survey.tokens[:2]))
    assert node.store.count(SID) == 0


def test_unknown_token(node: Node) -> None:
    refused(R.UNKNOWN_TOKEN, "unknown participation token for this survey",
            submit, node, good_upload(node, "no-such-token"))
    refused(R.UNKNOWN_TOKEN, "record 1 of the batch: unknown participation token for this survey",
            submit_batch, node, good_batch(node, [node.survey.tokens[0], "no-such-token"]))
    assert node.store.count(SID) == 0


def test_token_used(node: Node) -> None:
    t = node.survey.tokens
    submit(node, good_upload(node, t[0]))
    refused(R.TOKEN_USED, "this participation token was already used; submit with --replace to replace your "
            "earlier answer", submit, node, good_upload(node, t[0]))
    refused(R.TOKEN_USED, "record 1 of the batch: this participation token was already used; submit with "
            "--replace to replace the earlier answer", submit_batch, node, good_batch(node, [t[1], t[0]]))
    assert node.store.count(SID) == 1


# -- the refusals of reads and of the organiser's close ----------------------------------------------

def test_credential_refused(node: Node) -> None:
    refused(R.CREDENTIAL_REFUSED, "analyst credential missing or wrong",
            node.store.check_analyst, SID, node.survey.tokens[0])
    with TestClient(create_app(node.dir, node.store)) as client:
        answer = client.get(f"/v1/surveys/{SID}/ids", headers={"X-Salary-Node": "garbage"})
    assert answer.status_code == 403
    assert answer.json() == {"error": "InvalidToken", "detail": "malformed node signature header",
                             "reason": "credential-refused"}


def test_survey_purged(node: Node) -> None:
    st = node.store
    st.close_survey(SID, "test")
    st.store_result(SID, b"sealed", 0, 0, "digest", "run")
    st.commit_result(SID, "run")
    st.purge(SID)
    refused(R.SURVEY_PURGED, "survey has been purged", frozen_set, st, (node.dir / TLS_KEY_FILE).read_bytes(), SID)


def test_not_computed(node: Node) -> None:
    with TestClient(create_app(node.dir, node.store)) as client:
        answer = client.get(f"/v1/surveys/{SID}/result",
                            headers={"Authorization": f"Bearer {node.survey.credential}"})
    assert answer.status_code == 404
    assert answer.json() == {"error": "NotComputed", "detail": "no result yet: the nodes have not finished "
                             "'mpc-node compute'", "reason": "not-computed"}


def test_a_good_upload_and_batch_pass_every_check(node: Node) -> None:
    ack = submit(node, good_upload(node, node.survey.tokens[0]))
    assert ack.status == "stored" and ack.node_index == 0
    bb = good_batch(node, node.survey.tokens[1:4])
    back = node.ingest.check_batch(SID, json.dumps(bb.to_upload().to_json()).encode(), False)
    assert back.statuses == ["stored"] * 3 and back.submission_ids == batch_ids(bb)
    assert node.store.count(SID) == 4 and node.store.refused_ids(SID) == []
