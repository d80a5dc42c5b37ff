"""Bulk uploads (HR files): the batch certificate, the node's /batches endpoint with every rule and
its exact error, the contributor's batch preparation, and the limb-arithmetic prover and sharing
checked against the Python-integer reference implementation."""

from __future__ import annotations

import base64
import json
import random
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from conftest import Survey, api_node, make_survey
from contributor.bulk import prepare_batch, share_rows
from mpc_nodes.keys import load_hpke_private
from mpc_nodes.store import NodeStore
from protocol import fastfield
from protocol.commitment import (
    MAX_BATCH,
    batch_certificate_length,
    check_share,
    make_batch,
    max_certificate_length,
    pad_certificate,
    unpad_certificate,
    verify_batch,
    verify_certificate,
)
from protocol.encoding import Record, Scheme, encode_record, encode_records
from protocol.envelope import open_share_block
from protocol.errors import DecryptionFailed, InvalidSubmission
from protocol.field import reconstruct_vector
from protocol.validity import Layout, plain_reason, prove, prove_batch_limbs
from protocol.wire import BULK_CONTENT_TYPE, BulkBody, BulkUpload, b64e

SID = "test-survey"
BASE = f"/v1/surveys/{SID}"
P = (1 << 127) - 1
MH = bytes(range(32))


# -- batch certificates ---------------------------------------------------------------------------

def _rows(k: int, n: int = 3) -> list[list[bytes]]:
    rng = random.Random(k)
    return [[rng.randbytes(48) for _ in range(n)] for _ in range(k)]


@pytest.mark.parametrize("k", [1, 2, 3, 5, 8, 33])
def test_every_record_certificate_verifies_on_its_own(k: int) -> None:
    rows = _rows(k)
    b = make_batch(MH, rows)
    assert len(set(b.ids)) == k
    for r in range(k):
        cert = b.certificate(r)
        assert len(cert) == batch_certificate_length(3, k)
        c = verify_certificate(cert, b.ids[r], 3, MH)
        for j in range(3):
            check_share(c, MH, b.ids[r], j, rows[r][j])
    again = verify_batch(b.public_key, b.signature, b"".join(b.commitments), k, 3, MH)
    assert again.ids == b.ids and [again.certificate(r) for r in range(k)] == [b.certificate(r) for r in range(k)]


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1:]


@pytest.mark.parametrize("tamper,message", [
    (lambda c, sid: (_flip(c, 40), sid), "signature does not verify"),  # the signature
    (lambda c, sid: (_flip(c, 104), sid), "signature does not verify"),  # the Merkle path
    (lambda c, sid: (_flip(c, len(c) - 1), sid), "signature does not verify"),  # a commitment
    (lambda c, sid: (c, "0" * 32), "not the hash of the certificate's key and record index"),
    (lambda c, sid: (c[:100] + (3).to_bytes(4, "big") + c[104:], sid), "not the hash of the certificate's key"),
    (lambda c, sid: (c[:96] + (9999).to_bytes(4, "big") + c[100:], sid), "well-formed batch record certificate"),
    (lambda c, sid: (c[:-32], sid), "well-formed batch record certificate"),
])
def test_tampered_batch_record_certificates_fail(tamper: Any, message: str) -> None:
    b = make_batch(MH, _rows(5))
    cert, sid = tamper(b.certificate(2), b.ids[2])
    with pytest.raises(InvalidSubmission, match=message):
        verify_certificate(cert, sid, 3, MH)


def test_a_record_certificate_does_not_vouch_for_another_record_or_survey() -> None:
    b = make_batch(MH, _rows(4))
    with pytest.raises(InvalidSubmission, match="not the hash of the certificate's key and record index"):
        verify_certificate(b.certificate(1), b.ids[2], 3, MH)
    with pytest.raises(InvalidSubmission, match="signature does not verify"):
        verify_certificate(b.certificate(1), b.ids[1], 3, bytes(32))


def test_verify_batch_refuses_tampering_and_bad_shapes() -> None:
    b = make_batch(MH, _rows(4))
    commits = b"".join(b.commitments)
    with pytest.raises(InvalidSubmission, match="batch certificate signature does not verify"):
        verify_batch(b.public_key, b.signature, _flip(commits, 70), 4, 3, MH)
    with pytest.raises(InvalidSubmission, match="batch certificate signature does not verify"):
        verify_batch(b.public_key, b.signature, commits[: 3 * 96], 3, 3, MH)  # a record dropped
    with pytest.raises(InvalidSubmission, match="must be 384 bytes for 4 records and 3 nodes"):
        verify_batch(b.public_key, b.signature, commits[:-1], 4, 3, MH)
    with pytest.raises(InvalidSubmission, match=f"a batch holds 1 to {MAX_BATCH} records"):
        verify_batch(b.public_key, b.signature, b"", 0, 3, MH)


def test_padded_certificates_round_trip() -> None:
    b = make_batch(MH, _rows(3))
    for cert in (b.certificate(0), make_batch(MH, _rows(1)).certificate(0)):
        padded = pad_certificate(cert, 3)
        assert len(padded) == 2 + max_certificate_length(3) and unpad_certificate(padded, 3) == cert
    with pytest.raises(InvalidSubmission, match="malformed padded certificate"):
        unpad_certificate(b"\xff\xff" + bytes(max_certificate_length(3)), 3)


# -- limb arithmetic against the Python-integer reference ------------------------------------------

@pytest.mark.parametrize("salary_max,jobs,bands", [
    (1, (), ()), (1000, (), ()), (1_000_000, (), ()), ((1 << 31) - 1, (), ()),
    (30, ("a", "b"), (10, 20)),
    (1_000_000, ("engineering", "sales", "support"), (2000, 4000, 8000, 500_000)),
    ((1 << 31) - 1, ("a", "b"), (1 << 20, 1 << 30)),
], ids=["1", "1000", "1e6", "2^31-1", "tiny-jobs-bands", "1e6-jobs-bands", "2^31-1-jobs-bands"])
def test_prove_batch_limbs_equals_prove(salary_max: int, jobs: tuple[str, ...], bands: tuple[int, ...]) -> None:
    cats = ["female", "male", "other"]
    scheme = Scheme.of(cats, salary_max, jobs, bands)
    rng = random.Random(salary_max)
    js = list(jobs) or [""]
    records = [Record(rng.choice(cats), rng.randint(0, salary_max), rng.choice(js)) for _ in range(40)]
    records += [Record("male", 0, js[0]), Record("other", salary_max, js[-1])]
    records += [Record("female", e, js[-1]) for e in scheme.edges[1:]] + [Record("male", e - 1, js[0]) for e in
                                                                          scheme.edges[1:]]
    layout = Layout(scheme)
    recs = encode_records(records, scheme)
    assert [[int(v) for v in row] for row in recs] == [encode_record(r, scheme) for r in records]
    rand = fastfield.random_elements((len(records), 6))
    X = prove_batch_limbs(recs, layout, rand)
    assert X.shape == (len(records), layout.width, fastfield.LIMBS)
    rand_ints = fastfield.to_ints(rand)
    for k in range(len(records)):
        want = prove([int(v) for v in recs[k]], layout, P, tuple(int(v) for v in rand_ints[k]))
        assert [int(v) for v in fastfield.to_ints(X[k])] == want
        assert plain_reason(want[: layout.record_width], layout) is None


@pytest.mark.parametrize("salary_max", [1 << 31, (1 << 40) + 3])
def test_batch_encoder_and_limb_prover_refuse_bounds_of_2_31_and_more(salary_max: int) -> None:
    """s^2 no longer fits int64: both fast paths refuse (share_rows then goes record by record)."""
    scheme = Scheme.of(["female", "male", "other"], salary_max)
    with pytest.raises(ValueError) as exc:
        encode_records([Record("male", 1)], scheme)
    assert str(exc.value) == "encode_records needs salary_max < 2^31; use encode_record"
    rec = np.array([encode_record(Record("male", 1), scheme)], dtype=np.int64)
    with pytest.raises(ValueError) as exc:
        prove_batch_limbs(rec, Layout(scheme))
    assert str(exc.value) == "salary bound too large for the int64 record entries (s^2)"


def test_limb_prover_refuses_rows_of_the_wrong_width() -> None:
    layout = Layout.of(["female", "male"], 30, ["a", "b"], [10, 20])
    with pytest.raises(ValueError, match="record vectors have the wrong length for this layout"):
        prove_batch_limbs(np.zeros((2, layout.record_width - 1), dtype=np.int64), layout)


def test_shamir_shares_in_limbs_reconstruct_and_look_random() -> None:
    X = fastfield.random_elements((50, 7))
    for n, t in ((3, 1), (5, 2), (4, 1)):
        shares = fastfield.shamir_shares(X, n, t)
        ints = [fastfield.to_ints(s).reshape(-1) for s in shares]
        want = [int(v) for v in fastfield.to_ints(X).reshape(-1)]
        for subset in (range(t + 1), range(n - t - 1, n)):
            assert reconstruct_vector({i: [int(v) for v in ints[i]] for i in subset}, t, P) == want
        # t shares alone are uniform: no share equals the secret more often than chance
        assert all(sum(int(a) == b for a, b in zip(ints[i], want)) == 0 for i in range(n))


def test_random_elements_are_reduced_and_spread() -> None:
    R = fastfield.random_elements((20000,))
    assert fastfield.below_p(R)
    top = R[:, 0].astype(np.int64)
    assert top.max() <= 0x7FFF
    # the top 15 bits are uniform: each of 8 buckets holds 1/8 of the values (6 sigma bounds)
    counts = np.bincount(top >> 12, minlength=8)
    assert all(abs(c - 2500) < 6 * (20000 * (1 / 8) * (7 / 8)) ** 0.5 for c in counts)


def test_matmul_small_and_scale_are_exact() -> None:
    rng = random.Random(3)
    S = np.array([[rng.randrange(1 << 32) for _ in range(6)] for _ in range(9)], dtype=np.int64)
    Wt = [[rng.randrange(P) for _ in range(5)] for _ in range(6)]
    got = fastfield.to_ints(fastfield.matmul_small(S, fastfield.weight_limbs(Wt)))
    for i in range(9):
        for o in range(5):
            assert int(got[i, o]) == sum(int(S[i, k]) * Wt[k][o] for k in range(6)) % P
    A = fastfield.random_elements((30,))
    for c in (0, 1, 7, (1 << 32) - 1, 1 << 40, P - 1):
        assert [int(v) for v in fastfield.to_ints(fastfield.scale(A, c))] == \
            [int(a) * c % P for a in fastfield.to_ints(A)]
    with pytest.raises(ValueError, match=r"integers in \[0, 2\^32\)"):
        fastfield.matmul_small(np.array([[1 << 32]], dtype=np.int64), fastfield.weight_limbs([[1]]))


# -- the node's /batches endpoint -----------------------------------------------------------------

@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[Survey, TestClient, NodeStore]]:
    with api_node(tmp_path, tokens=12) as made:
        yield made


def _records(k: int, seed: int = 1, jobs: tuple[str, ...] = ()) -> list[Record]:
    rng = random.Random(seed)
    return [Record(rng.choice(["female", "male", "other"]), rng.randint(1000, 9000), rng.choice(jobs) if jobs else "")
            for _ in range(k)]


def bulk_body(s: Survey, tokens: list[str], node: int = 0, records: list[Record] | None = None,
              replace: bool = False) -> tuple[dict[str, Any], Any]:
    pb = prepare_batch(s.manifest, records or _records(len(tokens)), [""] * len(tokens), [None] * len(tokens),
                       replace=replace)
    return {"batch_key": b64e(pb.batch_key), "signature": b64e(pb.signature), "tokens": tokens,
            "commitments": b64e(pb.commitments), "envelope": b64e(pb.envelopes[node]), "replace": replace}, pb


def expect(resp: Any, status: int, error: str, detail: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.json()["error"] == error and detail in resp.json()["detail"], resp.json()


def test_batch_is_stored_with_its_shares_and_certificates(node: tuple[Survey, TestClient, NodeStore]) -> None:
    s, c, store = node
    body, pb = bulk_body(s, s.tokens[:5])
    r = c.post(f"{BASE}/batches", json=body)
    assert r.status_code == 200, r.text
    ack = r.json()
    assert ack["statuses"] == ["stored"] * 5 and ack["submission_ids"] == list(pb.ids) and ack["node_index"] == 0
    assert sorted(store.submission_ids(SID)) == sorted(pb.ids)
    # node 0 holds exactly what the sealed block held, row by row, with stand-alone certificates
    block = open_share_block(base64.b64decode(body["envelope"]), load_hpke_private(s.node_dirs[0]),
                             s.manifest.hash(), 0, bytes.fromhex(ack["batch_id"]), 5, s.manifest.vector_length())
    width = 16 * s.manifest.vector_length()
    for r_, (sid, share, env) in enumerate(store.shares(SID, list(pb.ids))):
        assert env is None and share == block[r_ * width: (r_ + 1) * width]
    for sid, cert in zip(pb.ids, store.certificates(SID, list(pb.ids))):
        check_share(verify_certificate(cert, sid, 3, s.manifest.hash()), s.manifest.hash(), sid, 0,
                    dict((x[0], x[1]) for x in store.shares(SID, [sid]))[sid] or b"")
    again = c.post(f"{BASE}/batches", json=body).json()
    assert again["statuses"] == ["duplicate"] * 5 and again["stored_at"] == ack["stored_at"]
    assert store.count(SID) == 5
    events = [row[3] for row in store.audit_rows()]
    assert events.count("bulk-receipt") == 1


@pytest.mark.parametrize("report,salary_max", [
    ({}, 1_000_000),
    ({"job_categories": ("engineering", "sales"), "salary_bands": (3000, 6000)}, 1_000_000),
    ({"job_categories": ("engineering", "sales"), "salary_bands": (3000, 6000)}, 10**12 - 1),  # one by one
], ids=["plain", "jobs-bands", "jobs-bands-large-bound"])
def test_shares_of_a_batch_reconstruct_the_records(tmp_path: Path, report: dict[str, Any], salary_max: int) -> None:
    s = make_survey(tmp_path, tokens=1, salary_max=salary_max, **report)
    scheme = s.manifest.scheme()
    recs = _records(6, seed=9, jobs=scheme.jobs)
    blocks = share_rows(s.manifest, recs)
    layout = Layout(scheme)
    W = layout.width
    assert W == s.manifest.vector_length() and all(len(b) == 16 * W * len(recs) for b in blocks)
    for r, rec in enumerate(recs):
        rows = {i: [int.from_bytes(blocks[i][16 * (r * W + e): 16 * (r * W + e + 1)], "big") for e in range(W)]
                for i in range(s.manifest.n)}
        vec = reconstruct_vector(rows, s.manifest.threshold, P)
        assert vec[: layout.record_width] == encode_record(rec, scheme)
        assert plain_reason(vec[: layout.record_width], layout) is None


def test_a_record_whose_share_does_not_match_refuses_the_batch(node: tuple[Survey, TestClient, NodeStore]
                                                                ) -> None:
    s, c, store = node
    body, pb = bulk_body(s, s.tokens[:3])
    other, _ = bulk_body(s, s.tokens[:3], node=1)  # node 1's block under another key: does not open
    expect(c.post(f"{BASE}/batches", json={**body, "envelope": other["envelope"]}), 400, "DecryptionFailed",
           "does not open with this node's key for this survey, node and batch")
    # the right key, but record 1's commitment for node 0 replaced: the signature breaks first
    raw = bytearray(base64.b64decode(body["commitments"]))
    raw[96 + 5] ^= 1
    expect(c.post(f"{BASE}/batches", json={**body, "commitments": b64e(bytes(raw))}), 400, "InvalidSubmission",
           "batch certificate signature does not verify")
    assert store.count(SID) == 0


def test_a_signed_but_wrong_share_names_the_record(node: tuple[Survey, TestClient, NodeStore]) -> None:
    """The contributor signs commitments, then seals a different share for record 2: refused,
    the record named, every id of the batch on record as refused (it counts as rejected)."""
    from protocol.commitment import batch_envelope_id
    from protocol.envelope import seal_share_block

    s, c, store = node
    body, pb = bulk_body(s, s.tokens[:4])
    m = s.manifest
    block = bytearray(open_share_block(base64.b64decode(body["envelope"]), load_hpke_private(s.node_dirs[0]),
                                       m.hash(), 0, batch_envelope_id(pb.batch_key), 4, m.vector_length()))
    block[2 * 16 * m.vector_length() + 15] ^= 1
    sealed = seal_share_block(bytes(block), 4, m.vector_length(), m.nodes[0].hpke_public_key, m.hash(), 0,
                              batch_envelope_id(pb.batch_key))
    expect(c.post(f"{BASE}/batches", json={**body, "envelope": b64e(sealed)}), 400, "InvalidSubmission",
           "record 2 of the batch: share does not match the contributor's signed commitment for this node")
    assert store.count(SID) == 0 and store.refused_ids(SID) == sorted(pb.ids)


@pytest.mark.parametrize("mutate,status,error,detail", [
    (lambda b, s: {**b, "tokens": b["tokens"][:2]}, 400, "InvalidSubmission",
     "batch commitments must be 192 bytes for 2 records and 3 nodes"),
    (lambda b, s: {**b, "tokens": []}, 400, "InvalidSubmission", "tokens must list one token per record"),
    (lambda b, s: {**b, "tokens": [b["tokens"][0], "bad token", b["tokens"][2]]}, 400, "InvalidSubmission",
     "token 1 is missing, too long or has characters"),
    (lambda b, s: {**b, "batch_key": "!!"}, 400, "InvalidSubmission", "batch_key is not valid base64"),
    (lambda b, s: {**b, "extra": 1}, 400, "InvalidSubmission", "unexpected field(s) extra"),
    (lambda b, s: {**b, "tokens": [b["tokens"][0], "no-such-token", b["tokens"][2]]}, 403, "InvalidToken",
     "record 1 of the batch: unknown participation token"),
    (lambda b, s: {**b, "tokens": [b["tokens"][0], b["tokens"][0], b["tokens"][2]]}, 403, "InvalidToken",
     "uses one participation token twice"),
])
def test_malformed_bulk_uploads(node: tuple[Survey, TestClient, NodeStore], mutate: Any, status: int,
                                error: str, detail: str) -> None:
    s, c, store = node
    body, _ = bulk_body(s, s.tokens[:3])
    expect(c.post(f"{BASE}/batches", json=mutate(body, s)), status, error, detail)
    assert store.count(SID) == 0


def test_binary_bulk_body_round_trips_and_is_taken_by_the_node(node: tuple[Survey, TestClient, NodeStore]) -> None:
    s, c, store = node
    body, pb = bulk_body(s, s.tokens[:3])
    bb = BulkBody.from_upload(BulkUpload.parse(body))
    raw = bb.to_bytes()
    assert BulkBody.from_bytes(raw) == bb and bb.to_upload() == BulkUpload.parse(body)
    assert len(raw) < 0.8 * len(json.dumps(body))  # no base64
    # without its content type the same bytes are read as JSON, and refused as such
    expect(c.post(f"{BASE}/batches", content=raw), 400, "InvalidSubmission", "request body is not valid JSON")
    r = c.post(f"{BASE}/batches", content=raw, headers={"content-type": BULK_CONTENT_TYPE})
    assert r.status_code == 200, r.text
    assert r.json()["statuses"] == ["stored"] * 3 and r.json()["submission_ids"] == list(pb.ids)
    assert sorted(store.submission_ids(SID)) == sorted(pb.ids)
    # a repeat in the other form is the same batch
    assert c.post(f"{BASE}/batches", json=body).json()["statuses"] == ["duplicate"] * 3


def _binary(tokens: tuple[str, ...] = ("tok-a", "tok-b"), flags: int = 0) -> bytes:
    raw = BulkBody(b"k" * 32, b"s" * 64, ("tok-a", "tok-b"), b"c" * 192, b"e" * 10).to_bytes()
    head = raw[:4] + bytes([flags]) + len(tokens).to_bytes(4, "big")
    toks = b"".join(len(t.encode("latin-1")).to_bytes(2, "big") + t.encode("latin-1") for t in tokens)
    return head + toks + raw[9 + 2 * 7:]  # the two default tokens take 2 x (2 + 5) bytes


@pytest.mark.parametrize("raw,detail", [
    (b"SMB2" + _binary()[4:], "the body does not start with the format's magic bytes"),
    (b"", "the body does not start with the format's magic bytes"),
    (_binary(flags=2), "unknown flags 0x02"),
    (_binary()[:-1], "the body is truncated"),
    (_binary()[:8], "the body is truncated"),
    (_binary() + b"\x00", "1 bytes follow the last field"),
    (_binary()[:5] + (2**32 - 1).to_bytes(4, "big") + _binary()[9:], "the body is truncated"),
    (_binary(tokens=()), "tokens must list one token per record"),
    (_binary(tokens=("tok-a", "t\xe9k")), "token 1 is missing, too long or has characters no participation token"),
    (_binary(tokens=("tok a", "tok-b")), "token 0 is missing, too long or has characters no participation token"),
    (_binary(tokens=("", "tok-b")), "token 0 is missing, too long or has characters no participation token"),
])
def test_malformed_binary_bulk_bodies(node: tuple[Survey, TestClient, NodeStore], raw: bytes, detail: str) -> None:
    """Through the node: 400 with the parser's message, nothing stored (the parser's exact messages
    are pinned in test_wire.py)."""
    assert BulkBody.from_bytes(_binary()).tokens == ("tok-a", "tok-b")  # the helper's baseline parses
    s, c, store = node
    expect(c.post(f"{BASE}/batches", content=raw, headers={"content-type": BULK_CONTENT_TYPE}), 400,
           "InvalidSubmission", detail)
    assert store.count(SID) == 0


def test_used_tokens_closed_survey_and_replace(node: tuple[Survey, TestClient, NodeStore]) -> None:
    s, c, store = node
    first, pb1 = bulk_body(s, s.tokens[:3])
    assert c.post(f"{BASE}/batches", json=first).status_code == 200
    second, _ = bulk_body(s, [s.tokens[5], s.tokens[1]])
    expect(c.post(f"{BASE}/batches", json=second), 409, "TokenUsed", "record 1 of the batch: this participation "
           "token was already used")
    assert store.count(SID) == 3  # all or nothing: token 5's record was not stored either
    third, pb3 = bulk_body(s, [s.tokens[5], s.tokens[1]], replace=True)
    r = c.post(f"{BASE}/batches", json=third).json()
    assert r["statuses"] == ["stored", "replaced"]
    assert sorted(store.submission_ids(SID)) == sorted([pb1.ids[0], pb1.ids[2], *pb3.ids])
    store.close_survey(SID, "test")
    late, _ = bulk_body(s, [s.tokens[7]])
    expect(c.post(f"{BASE}/batches", json=late), 409, "SurveyClosed", "closed and accepts no more submissions")
    assert c.post(f"{BASE}/batches", json=third).json()["statuses"] == ["duplicate"] * 2


def test_block_shape_must_match_the_upload(tmp_path: Path) -> None:
    s = make_survey(tmp_path, tokens=1)
    from protocol.commitment import batch_envelope_id
    from protocol.envelope import seal_share_block

    m = s.manifest
    key = bytes(32)
    sealed = seal_share_block(bytes(16 * m.vector_length() * 2), 2, m.vector_length(), m.nodes[0].hpke_public_key,
                              m.hash(), 0, batch_envelope_id(key))
    sk = load_hpke_private(s.node_dirs[0])
    with pytest.raises(InvalidSubmission, match="share block holds 2 x 138 entries; the upload announces 3"):
        open_share_block(sealed, sk, m.hash(), 0, batch_envelope_id(key), 3, m.vector_length())
    with pytest.raises(DecryptionFailed, match="does not open"):
        open_share_block(sealed, sk, m.hash(), 1, batch_envelope_id(key), 2, m.vector_length())


# -- pending batch files, compute's share reader, the benchmark's report ------------------------------

def test_pending_batch_file_round_trips_and_damage_is_reported(tmp_path: Path) -> None:
    from contributor.bulk import PendingBatch, read_pending_batch
    from protocol.errors import SurveyError

    s = make_survey(tmp_path, tokens=1)
    pb = prepare_batch(s.manifest, _records(3), ["a" * 64] * 3, [2, 3, 4])
    path = tmp_path / "batch-000000.json"
    e = PendingBatch(pb, [0, 2], {}, str(tmp_path / "r.jsonl"), path)
    e.save(s.manifest)
    _, back = read_pending_batch(path)
    assert back.nodes == [0, 2] and back.prepared.ids == pb.ids and back.prepared.lines == (2, 3, 4)
    assert back.prepared.envelopes == [pb.envelopes[0], b"", pb.envelopes[2]]
    e.release()
    assert e.prepared.envelopes == [b""] * 3
    e.reload()
    assert e.prepared.envelopes == [pb.envelopes[0], b"", pb.envelopes[2]]
    path.write_bytes(path.read_bytes()[:-5])  # a truncated sealed block
    with pytest.raises(SurveyError, match="is damaged"):
        read_pending_batch(path)
    path.write_bytes(b"not json\n")
    with pytest.raises(SurveyError, match="is not a salary-submit pending batch file"):
        read_pending_batch(path)


def test_share_matrix_reads_kept_shares_and_opens_old_envelopes(node: tuple[Survey, TestClient, NodeStore],
                                                                 tmp_path: Path) -> None:
    """Bulk rows have only their opened share, single uploads both; a row stored by an older
    release has only its envelope, which compute opens: all give the same matrix rows, read
    back by the party's reader in agreed order, and the party finds every certificate by id."""
    from mpc_nodes.compute import IDS_FILE, write_share_buckets
    from mpc_nodes.mpc_program import ShareMatrix
    from mpc_nodes.store import read_certificates
    from protocol.errors import SurveyError
    from test_api import upload

    s, c, store = node
    body, pb = bulk_body(s, s.tokens[:2])
    assert c.post(f"{BASE}/batches", json=body).status_code == 200
    single = upload(s, s.tokens[2])
    assert c.post(f"{BASE}/submissions", json=single).status_code == 200
    kept = dict((sid, share) for sid, share, _ in store.shares(SID, [*pb.ids, single["submission_id"]]))
    store._db.execute("UPDATE submissions SET share=NULL WHERE submission_id=?", (single["submission_id"],))
    ids = sorted(kept)
    certs = dict(zip(ids, store.certificates(SID, ids)))
    assert all(certs.values())
    p = s.manifest.field_modulus
    for bucket_rows in (65536, 2, 1):  # one bucket, or rows spread over several (the party sorts each)
        out = tmp_path / f"b{bucket_rows}"
        out.mkdir()
        bk = write_share_buckets(store, s.node_dirs[0], SID, ids, out, bucket_rows=bucket_rows)
        assert len(bk.files) == (1 if bucket_rows > 3 else -(-3 // bucket_rows))
        X = ShareMatrix.from_buckets([out / f for f in bk.files], bk.bucket_rows, 3, bk.width, p)
        want = [kept[i] for i in ids]
        # random access (the reveal protocol) before and after a full pass, then the pass itself
        assert [X.raw_rows(k, 1) for k in (2, 0, 1)] == [want[2], want[0], want[1]]
        rows = [X.raw_rows(k, 1) for k in range(3)]
        assert rows == want
        batches = list(X.batches(size=2))
        assert [start for start, _ in batches] == sorted(start for start, _ in batches)
        got = b"".join(b.astype(">u2").tobytes() for _, b in batches)
        assert got == b"".join(want)
        assert (out / IDS_FILE).read_bytes() == b"".join(bytes.fromhex(i) for i in ids)
        assert read_certificates(store.path, SID, [ids[2], ids[0], "f" * 32]) == [certs[ids[2]], certs[ids[0]], b""]
    # an agreed submission this node does not hold is an error, not a silent gap
    (tmp_path / "x").mkdir()
    with pytest.raises(SurveyError, match="1 agreed submission\\(s\\) are missing from this node's store"):
        write_share_buckets(store, s.node_dirs[0], SID, ids + ["f" * 32], tmp_path / "x")


def test_share_buckets_that_lose_or_repeat_a_row_are_refused(tmp_path: Path) -> None:
    """The party checks that every bucket holds each of its rows exactly once."""
    from mpc_nodes.mpc_program import ShareMatrix

    p, width = 2**127 - 1, 2
    row = (5).to_bytes(16, "big") * width
    (tmp_path / "b0").write_bytes(b"".join(k.to_bytes(4, "big") + row for k in (1, 0)))
    (tmp_path / "b1").write_bytes(b"".join(k.to_bytes(4, "big") + row for k in (2, 2)))  # row 3 lacks, 2 twice
    X = ShareMatrix.from_buckets([tmp_path / "b0", tmp_path / "b1"], 2, 4, width, p)
    assert X.raw_rows(1, 1) == row
    with pytest.raises(ValueError, match="a share bucket holds a row twice or lacks one"):
        list(X.batches())
    with pytest.raises(ValueError, match="share bucket file has the wrong size"):
        ShareMatrix.from_buckets([tmp_path / "b0", tmp_path / "b1"], 2, 3, width, p)
    with pytest.raises(ValueError, match="share buckets do not match the number of rows"):
        ShareMatrix.from_buckets([tmp_path / "b0"], 2, 4, width, p)


def test_benchmark_ratios_and_report_use_runs_of_one_invocation() -> None:
    from benchmarks.__main__ import markdown, ratios, update_markdown

    runs: list[dict[str, Any]] = [
        {"kind": "plaintext", "series": "plaintext (numpy)", "submissions": 1000, "wall_s": 0.001, "cpu_s": 0.001,
         "peak_rss_mb": 50.0, "repeat": 5},
        {"kind": "naive-mpc", "series": "naive MPC (MPyC comparisons)", "submissions": 1000, "wall_s": 80.0,
         "cpu_s": 150.0, "peak_rss_mb": [300.0, 300.0, 300.0]},
        {"kind": "naive-mpc", "series": "naive MPC (MPyC comparisons)", "submissions": 3000, "skipped": True,
         "predicted_s": 400.0, "budget_s": 120.0},
    ]
    for model, nodes, walls in (("semi-honest", 3, (1.6, 40.0, 400.0)), ("malicious", 4, (2.4, 60.0, 700.0))):
        for n, w in zip((1000, 100_000, 1_000_000), walls):
            runs.append({"kind": "ours", "series": f"ours {model} ({nodes} nodes, t=1)", "submissions": n,
                         "wall_s": w, "cpu_s": 2 * w, "peak_rss_mb": [100.0] * nodes, "party_peak_rss_mb": [80.0],
                         "validation_s": w / 4, "submit": {"prepare_per_s": 9000, "wall_s": 1.0},
                         "analyst": {"wall_s": 0.5}})
    rt = ratios(runs)
    assert rt["naive_over_ours"] == {"submissions": 1000, "ratio": 50.0}
    assert rt["malicious_over_semi_honest"] == {1000: 1.5, 100_000: 1.5, 1_000_000: 1.75}
    assert rt["semi-honest_1e6_over_1e5"] == 10.0 and rt["ours_semi_over_plaintext"] == {1000: 1600.0}
    report = {"machine": {"cores": 2, "cpu_model": "x", "date": "d"}, "runs": runs, "ratios": rt,
              "command": "python -m benchmarks --full", "seconds": 10.0}
    text = markdown(report, "plot.png")
    assert "naive MPC / ours (semi-honest) at 1,000 submissions (naive's largest within its budget): **50.0×**" in text
    assert "skipped: predicted 400 s > budget" in text
    md = Path(tempfile.mkdtemp()) / "B.md"
    md.write_text("# Benchmarks\n\nintro\n")
    update_markdown(md, "full", text)
    update_markdown(md, "full", text)  # regenerated in place, not appended twice
    assert md.read_text().count("<!-- BEGIN full") == 1 and md.read_text().startswith("# Benchmarks\n\nintro")


def test_benchmark_proof_table_renders_beside_the_previous_proof(tmp_path: Path) -> None:
    from benchmarks.__main__ import main
    from benchmarks.proof import LAYOUTS, PREVIOUS, scheme

    # the layouts are the issue's: records of 49, 754 and 2,248 entries
    assert [scheme(name).record_width for name in LAYOUTS] == [49, 754, 2248]
    assert [scheme(name).vector_length for name in LAYOUTS] == [138, 795, 2289]
    runs: list[dict[str, Any]] = [
        {"kind": "proof", "layout": name, "record_width": scheme(name).record_width,
         "width": scheme(name).vector_length, "ratio": round(scheme(name).vector_length / scheme(name).record_width, 3),
         "prove_per_s": rate, "batches": 3} for name, rate in zip(LAYOUTS, (50_000, 9_000, 3_100))]
    runs.append({"kind": "proof-bulk", "layout": "demo", "records": 10_000, "prepare_s": 2.0, "prepare_per_s": 5000})
    runs.append({"kind": "proof-validation", "layout": "demo", "records": 100_000, "width": 795, "repeats": 3,
                 "median_wall_s": 60.0, "median_validation_s": 50.0})
    report = {"mode": "proof", "machine": {"cores": 2, "cpu": "test"}, "command": "python -m benchmarks --proof",
              "seconds": 1.0, "runs": runs, "ratios": {"ours_semi_over_plaintext": {},
                                                      "malicious_over_semi_honest": {}}}
    src = tmp_path / "r.json"
    src.write_text(json.dumps(report))
    md = tmp_path / "B.md"
    assert main(["--render", str(src), "--markdown", str(md), "--plot", str(tmp_path / "p.png")]) == 0
    text = md.read_text()
    assert "<!-- BEGIN proof" in text and "![time" not in text and not (tmp_path / "p.png").exists()
    assert f"| demo | 754 | 2,266 | 795 | 1.054 | {PREVIOUS['prove_per_s']['demo']:,} records/s | 9,000 records/s |" in text
    assert "prepared at 5,000 records/s" in text and "60.0 s from the parties' start" in text
    assert f"previous proof at 100,000: {PREVIOUS['validation_1e5_demo']['wall_s']} s" in text


def test_benchmark_render_regenerates_markdown_and_plot_from_json(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from benchmarks.__main__ import main

    runs = [{"kind": "plaintext", "series": "plaintext (numpy)", "submissions": n, "wall_s": n * 1e-8,
             "cpu_s": n * 1e-8, "peak_rss_mb": 40.0, "repeat": 5} for n in (1000, 10000)]
    runs.append({"kind": "ingest", "mode": "bulk", "bulk": 1000, "contributors": 4, "server_workers": 2,
                 "duration_s": 30.0,
                 "records_per_s": 9000.0, "requests_per_s": 9.0, "latency_ms": {"p50": 200.0, "p99": 300.0},
                 "errors": 0, "lost": 0, "ok": True, "wall_s": 30.0, "acknowledged": 270000})
    report = {"mode": "full", "machine": {"cores": 2, "cpu": "test"}, "command": "python -m benchmarks --full",
              "seconds": 1.0, "runs": runs, "ratios": {"ours_semi_over_plaintext": {},
                                                      "malicious_over_semi_honest": {}}}
    src = tmp_path / "r.json"
    src.write_text(json.dumps(report))
    md, png = tmp_path / "B.md", tmp_path / "p.png"
    assert main(["--render", str(src), "--markdown", str(md), "--plot", str(png)]) == 0
    text = md.read_text()
    assert "<!-- BEGIN full" in text and "| bulk (1000 records per request) | 2 | 4 | 9,000 |" in text
    assert png.stat().st_size > 1000


def test_page_cache_hint_never_raises_and_leaves_the_file_intact(tmp_path: Path) -> None:
    from protocol.pagecache import drop_from_page_cache

    f = tmp_path / "shares.bin"
    f.write_bytes(b"\x01" * 10000)
    drop_from_page_cache(f)
    assert f.read_bytes() == b"\x01" * 10000
    drop_from_page_cache(tmp_path / "missing.bin")  # a hint: a file that cannot be opened is ignored
    drop_from_page_cache(tmp_path)  # a directory too
