"""Every ingest rule of the node API, with the exact status and error it must produce.

In-process (FastAPI's test client over the real app, real store, real keys); the end-to-end
tests exercise the same app over real HTTPS.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from conftest import Survey, api_node
from mpc_nodes.keys import load_public
from mpc_nodes.store import NodeStore
from protocol.commitment import make_certificate
from protocol.encoding import make_record
from protocol.errors import SurveyError
from protocol.envelope import seal_shares
from protocol.field import encode_elements, share_vector
from protocol.validity import encode_submission
from protocol.tokens import new_submission_id
from protocol.wire import MAX_BODY_BYTES, b64e

SID = "test-survey"
BASE = f"/v1/surveys/{SID}"


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[Survey, TestClient, NodeStore]]:
    with api_node(tmp_path, tokens=5) as made:
        yield made


_KEYS: dict[str, Ed25519PrivateKey] = {}  # submission id -> its certificate key, to re-sign under one id


def upload(s: Survey, token: str, gender: str = "female", salary: int = 4000, sid: str | None = None,
           node: int = 0, replace: bool = False, seal_for: int | None = None, job: str | None = None) -> dict[str, Any]:
    """An upload as salary-submit makes it (``sid``: reuse an earlier upload's id and key; ``job``:
    the job category, for a survey that declares them)."""
    m = s.manifest
    sc = m.scheme()
    vec = encode_submission(make_record(gender, salary, sc, job), sc, m.field_modulus)
    shares = share_vector(vec, m.n, m.threshold, m.field_modulus)
    key = _KEYS[sid] if sid else Ed25519PrivateKey.generate()
    sid, cert = make_certificate(m.hash(), [encode_elements(sh, m.field_modulus) for sh in shares], key)
    _KEYS[sid] = key
    target = node if seal_for is None else seal_for
    env = seal_shares(shares[node], m.nodes[target].hpke_public_key, m.hash(), target, bytes.fromhex(sid),
                      m.field_modulus)
    return {"submission_id": sid, "token": token, "envelope": b64e(env), "certificate": b64e(cert),
            "replace": replace}


def expect(resp: Any, status: int, error: str, detail: str, reason: str) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error"] == error
    assert detail in body["detail"]
    assert body["reason"] == reason


def test_store_and_status(node: tuple[Survey, TestClient, NodeStore]) -> None:
    s, c, store = node
    r = c.post(f"{BASE}/submissions", json=upload(s, s.tokens[0]))
    assert r.status_code == 200 and r.json()["status"] == "stored" and r.json()["node_index"] == 0
    st = c.get(f"{BASE}/status", headers={"Authorization": f"Bearer {s.credential}"}).json()
    assert (st["state"], st["submissions"], st["manifest_hash"]) == ("open", 1, s.manifest.hash_hex())
    assert c.get(f"{BASE}/manifest").content == s.manifest.canonical_bytes()


def test_repeat_upload_is_idempotent(node: tuple[Survey, TestClient, NodeStore]) -> None:
    s, c, store = node
    body = upload(s, s.tokens[0])
    first = c.post(f"{BASE}/submissions", json=body).json()
    again = c.post(f"{BASE}/submissions", json=body).json()
    assert again["status"] == "duplicate"
    assert (again["stored_at"], again["envelope_sha256"]) == (first["stored_at"], first["envelope_sha256"])
    assert store.count(SID) == 1


def test_same_id_other_content_conflicts(node: tuple[Survey, TestClient, NodeStore]) -> None:
    s, c, store = node
    body = upload(s, s.tokens[0])
    c.post(f"{BASE}/submissions", json=body)
    other = upload(s, s.tokens[0], salary=5000, sid=body["submission_id"])
    expect(c.post(f"{BASE}/submissions", json=other), 409, "DuplicateSubmission",
           "submission id already used with different content", "duplicate-id")


def test_used_token_needs_replace(node: tuple[Survey, TestClient, NodeStore]) -> None:
    s, c, store = node
    first = upload(s, s.tokens[1])
    c.post(f"{BASE}/submissions", json=first)
    expect(c.post(f"{BASE}/submissions", json=upload(s, s.tokens[1])), 409, "TokenUsed",
           "participation token was already used; submit with --replace", "token-used")
    r = c.post(f"{BASE}/submissions", json=upload(s, s.tokens[1], replace=True))
    assert r.json()["status"] == "replaced" and r.json()["replaced_submission_id"] == first["submission_id"]
    assert store.submission_ids(SID) == [r.json()["submission_id"]]


def test_unknown_and_missing_token(node: tuple[Survey, TestClient, NodeStore]) -> None:
    s, c, store = node
    expect(c.post(f"{BASE}/submissions", json=upload(s, "not-a-token")), 403, "InvalidToken",
           "unknown participation token", "unknown-token")
    body = upload(s, s.tokens[0])
    del body["token"]
    expect(c.post(f"{BASE}/submissions", json=body), 400, "InvalidSubmission", "field 'token' is missing",
           "malformed-body")
    assert store.count(SID) == 0


def test_closed_survey_refuses_new_but_answers_repeats(node: tuple[Survey, TestClient, NodeStore]) -> None:
    s, c, store = node
    body = upload(s, s.tokens[0])
    c.post(f"{BASE}/submissions", json=body)
    store.close_survey(SID, "test")
    expect(c.post(f"{BASE}/submissions", json=upload(s, s.tokens[2])), 409, "SurveyClosed",
           "closed and accepts no more submissions", "survey-closed")
    assert c.post(f"{BASE}/submissions", json=body).json()["status"] == "duplicate"
    assert store.count(SID) == 1


@pytest.mark.parametrize("mutate,status,error,detail,reason", [
    (lambda b: {**b, "envelope": b["envelope"][:-8]}, 400, "DecryptionFailed", "truncated or padded",
     "envelope-does-not-open"),
    (lambda b: {**b, "envelope": "!!!"}, 400, "InvalidSubmission", "envelope is not valid base64", "bad-base64"),
    (lambda b: {**b, "submission_id": "xyz"}, 400, "InvalidSubmission", "submission_id must be 32 lowercase hex",
     "malformed-body"),
    (lambda b: {**b, "extra": 1}, 400, "InvalidSubmission", "unexpected field(s) extra", "malformed-body"),
    (lambda b: {**b, "replace": "yes"}, 400, "InvalidSubmission", "field 'replace' must be a boolean",
     "malformed-body"),
    (lambda b: [b], 400, "InvalidSubmission", "must be a JSON object", "malformed-body"),
])
def test_malformed_bodies(node: tuple[Survey, TestClient, NodeStore], mutate: Any, status: int, error: str,
                          detail: str, reason: str) -> None:
    s, c, store = node
    expect(c.post(f"{BASE}/submissions", json=mutate(upload(s, s.tokens[0]))), status, error, detail, reason)
    assert store.count(SID) == 0


def test_tampered_envelope(node: tuple[Survey, TestClient, NodeStore]) -> None:
    s, c, store = node
    import base64

    body = upload(s, s.tokens[0])
    raw = bytearray(base64.b64decode(body["envelope"]))
    raw[40] ^= 0x01
    expect(c.post(f"{BASE}/submissions", json={**body, "envelope": b64e(bytes(raw))}), 400, "DecryptionFailed",
           "sealed share does not open", "envelope-does-not-open")
    assert store.count(SID) == 0


def test_share_sealed_for_another_node_or_id(node: tuple[Survey, TestClient, NodeStore]) -> None:
    s, c, store = node
    expect(c.post(f"{BASE}/submissions", json=upload(s, s.tokens[0], seal_for=1)), 400, "DecryptionFailed",
           "sealed for another survey, node or submission", "envelope-does-not-open")
    body = upload(s, s.tokens[0])
    replayed = {**body, "submission_id": new_submission_id()}
    expect(c.post(f"{BASE}/submissions", json=replayed), 400, "DecryptionFailed", "does not open",
           "envelope-does-not-open")


def test_not_json_and_oversized(node: tuple[Survey, TestClient, NodeStore]) -> None:
    s, c, store = node
    expect(c.post(f"{BASE}/submissions", content=b"{not json"), 400, "InvalidSubmission", "not valid JSON",
           "malformed-body")
    expect(c.post(f"{BASE}/submissions", content=b"x" * (MAX_BODY_BYTES + 1)), 413, "PayloadTooLarge",
           f"above {MAX_BODY_BYTES} bytes", "body-too-large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must still hold
        for _ in range(10):
            yield b"y" * (MAX_BODY_BYTES // 4)

    expect(c.post(f"{BASE}/submissions", content=chunks()), 413, "PayloadTooLarge", "above", "body-too-large")
    assert store.count(SID) == 0


def test_unknown_survey(node: tuple[Survey, TestClient, NodeStore]) -> None:
    s, c, store = node
    expect(c.get("/v1/surveys/nope/status"), 404, "UnknownSurvey", "unknown survey 'nope'", "unknown-survey")
    expect(c.post("/v1/surveys/nope/submissions", json=upload(s, s.tokens[0])), 404, "UnknownSurvey", "unknown survey",
           "unknown-survey")


def test_close_frozen_and_result_need_the_right_state_and_credential(node: tuple[Survey, TestClient, NodeStore]) -> None:
    s, c, store = node
    c.post(f"{BASE}/submissions", json=upload(s, s.tokens[0]))
    expect(c.get(f"{BASE}/ids"), 403, "InvalidToken", "analyst credential missing or wrong", "credential-refused")
    auth = {"Authorization": "Bearer " + s.credential}
    assert c.get(f"{BASE}/ids", headers=auth).json()["frozen"] is False
    expect(c.post(f"{BASE}/close"), 403, "InvalidToken", "analyst credential missing or wrong", "credential-refused")
    expect(c.post(f"{BASE}/close", headers={"Authorization": "Bearer " + s.tokens[0]}), 403, "InvalidToken",
           "analyst credential", "credential-refused")
    r = c.post(f"{BASE}/close", headers={"Authorization": "Bearer " + s.credential})
    assert r.status_code == 200 and r.json()["state"] == "closed" and r.json()["submissions"] == 1
    fz = c.get(f"{BASE}/ids", headers=auth).json()
    assert fz["count"] == 1 and fz["submission_ids"] == store.submission_ids(SID) and fz["frozen"] is True
    expect(c.get(f"{BASE}/result"), 403, "InvalidToken", "analyst credential", "credential-refused")
    expect(c.get(f"{BASE}/result", headers={"Authorization": "Bearer " + s.credential}), 404, "NotComputed",
           "no result yet", "not-computed")


def test_openapi_schema_published(node: tuple[Survey, TestClient, NodeStore]) -> None:
    s, c, store = node
    paths = c.get("/openapi.json").json()["paths"]
    assert "/v1/surveys/{survey_id}/submissions" in paths and "/v1/surveys/{survey_id}/status" in paths


def test_bad_uploads_leave_stored_submissions_intact(node: tuple[Survey, TestClient, NodeStore]) -> None:
    s, c, store = node
    good = upload(s, s.tokens[0])
    ack = c.post(f"{BASE}/submissions", json=good).json()
    before = list(store.envelopes(SID, [good["submission_id"]]))
    bad_bodies = [
        {**good, "envelope": good["envelope"][:-4]},  # truncated, same id
        upload(s, s.tokens[0], salary=9, sid=good["submission_id"]),  # same id, other content
        upload(s, s.tokens[0]),  # token used, no replace
        upload(s, "unknown"),
        {**upload(s, s.tokens[1]), "submission_id": good["submission_id"]},  # another token, same id
    ]
    for body in bad_bodies:
        assert c.post(f"{BASE}/submissions", json=body).status_code in (400, 403, 409)
    assert store.submission_ids(SID) == [good["submission_id"]]
    assert list(store.envelopes(SID, [good["submission_id"]])) == before
    again = c.post(f"{BASE}/submissions", json=good).json()
    assert (again["status"], again["stored_at"]) == ("duplicate", ack["stored_at"])


def test_ciphertext_replayed_to_another_survey_is_rejected(node: tuple[Survey, TestClient, NodeStore],
                                                          tmp_path: Path) -> None:
    """The same node holds a second survey: a share sealed for the first does not open there."""
    from analyst.survey import create_survey

    s, c, store = node
    infos = [load_public(d) for d in s.node_dirs]
    other_dir = tmp_path / "other-survey"
    create_survey(other_dir, infos, survey_id="other-survey", threshold=1, tokens=3)
    bundle = json.loads((other_dir / "node-bundle.json").read_text())
    store.import_survey(bundle, infos[0].hpke_public_key, infos[0].tls_cert_sha256)
    other_token = (other_dir / "tokens.txt").read_text().split()[0]
    body = upload(s, s.tokens[0])
    assert c.post(f"{BASE}/submissions", json=body).status_code == 200
    replay = {**body, "token": other_token}
    expect(c.post("/v1/surveys/other-survey/submissions", json=replay), 400, "DecryptionFailed",
           "sealed for another survey, node or submission", "envelope-does-not-open")
    assert store.count("other-survey") == 0 and store.count(SID) == 1


def test_peer_reads_need_a_valid_node_signature(node: tuple[Survey, TestClient, NodeStore]) -> None:
    import time

    from protocol.nodeauth import HEADER, sign_request

    s, c, store = node
    path = f"{BASE}/ids"
    key1 = (s.node_dirs[1] / "tls.key").read_bytes()
    ok = c.get(path, headers={HEADER: sign_request(key1, 1, "GET", path, s.manifest)})
    assert ok.status_code == 200 and ok.json()["frozen"] is False
    # node 1's key cannot speak for node 2
    forged = sign_request(key1, 1, "GET", path, s.manifest).replace("1:", "2:", 1)
    expect(c.get(path, headers={HEADER: forged}), 403, "InvalidToken", "does not verify for node 2",
           "credential-refused")
    # a signature for another path does not carry over
    other = sign_request(key1, 1, "GET", f"{BASE}/compute", s.manifest)
    expect(c.get(path, headers={HEADER: other}), 403, "InvalidToken", "does not verify for node 1",
           "credential-refused")
    stale = sign_request(key1, 1, "GET", path, s.manifest, now=time.time() - 3600)
    expect(c.get(path, headers={HEADER: stale}), 403, "InvalidToken", "too old or from the future",
           "credential-refused")
    expect(c.get(path, headers={HEADER: "garbage"}), 403, "InvalidToken", "malformed node signature header",
           "credential-refused")


def test_certificate_problems_are_refused_with_their_reason(node: tuple[Survey, TestClient, NodeStore]) -> None:
    import base64

    s, c, store = node
    m = s.manifest
    body = upload(s, s.tokens[0])
    cert = bytearray(base64.b64decode(body["certificate"]))
    cases: list[tuple[dict[str, Any], str, str]] = []
    no_cert = {k: v for k, v in body.items() if k != "certificate"}
    cases.append((no_cert, "field 'certificate' is missing", "malformed-body"))
    cases.append(({**body, "certificate": b64e(bytes(cert[:-1]))}, f"must be {len(cert)} bytes for {m.n} nodes",
                  "certificate-malformed"))
    bad_sig = bytearray(cert)
    bad_sig[40] ^= 1
    cases.append(({**body, "certificate": b64e(bytes(bad_sig))}, "certificate signature does not verify",
                  "signature-invalid"))
    other_key = bytearray(base64.b64decode(upload(s, s.tokens[0])["certificate"]))
    cases.append(({**body, "certificate": b64e(bytes(other_key))}, "submission id is not the hash of the certificate",
                  "id-not-bound-to-key"))
    # a contributor that commits to one share and sends node 0 another (re-signed, so it verifies)
    vec = encode_submission(make_record("male", 1, m.scheme()), m.scheme(), m.field_modulus)
    shares = share_vector(vec, m.n, m.threshold, m.field_modulus)
    committed = [list(sh) for sh in shares]
    committed[0][0] = (committed[0][0] + 1) % m.field_modulus
    key = Ed25519PrivateKey.generate()
    sid, cert2 = make_certificate(m.hash(), [encode_elements(sh, m.field_modulus) for sh in committed], key)
    env = seal_shares(shares[0], m.nodes[0].hpke_public_key, m.hash(), 0, bytes.fromhex(sid), m.field_modulus)
    cases.append(({"submission_id": sid, "token": s.tokens[0], "envelope": b64e(env), "certificate": b64e(cert2)},
                  "share does not match the contributor's signed commitment for this node", "share-not-committed"))
    for b, detail, reason in cases:
        expect(c.post(f"{BASE}/submissions", json=b), 400, "InvalidSubmission", detail, reason)
    assert store.count(SID) == 0
    assert c.post(f"{BASE}/submissions", json=body).status_code == 200  # the genuine upload still goes in


def test_malformed_upload_is_refused_audited_and_listed_for_the_rejected_count(
        node: tuple[Survey, TestClient, NodeStore]) -> None:
    """A well-sealed, well-signed vector of the wrong length: refused, audited with its reason, and
    listed in /ids so that every node counts it in submissions.rejected."""
    from protocol.wire import FrozenSet

    s, c, store = node
    m = s.manifest
    vec = encode_submission(make_record("male", 10, m.scheme()), m.scheme(), m.field_modulus) + [0]
    shares = share_vector(vec, m.n, m.threshold, m.field_modulus)
    sid, cert = make_certificate(m.hash(), [encode_elements(sh, m.field_modulus) for sh in shares])
    env = seal_shares(shares[0], m.nodes[0].hpke_public_key, m.hash(), 0, bytes.fromhex(sid), m.field_modulus)
    expect(c.post(f"{BASE}/submissions", json={"submission_id": sid, "token": s.tokens[0], "envelope": b64e(env),
                                               "certificate": b64e(cert)}),
           400, "InvalidSubmission", f"share vector has {m.vector_length() + 1} entries", "share-malformed")
    assert store.count(SID) == 0 and store.refused_ids(SID) == [sid]
    ids = FrozenSet.parse(c.get(f"{BASE}/ids", headers={"Authorization": f"Bearer {s.credential}"}).json())
    assert ids.refused_ids == [sid] and ids.submission_ids == []


def test_the_server_socket_gives_connections_tcp_nodelay() -> None:
    # Regression: the listening socket said protocol 0, so asyncio left Nagle's algorithm on
    # and every answer (headers, then body) waited 40 ms for the client's delayed ack.
    import asyncio
    import socket

    from mpc_nodes.server import listen_socket

    sock = listen_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    seen: list[int] = []

    async def main() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen.append(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(handle, sock=sock)
        async with server:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.01)
            w.close()

    asyncio.run(main())
    assert seen and seen[0] != 0
    with pytest.raises(SurveyError, match="^cannot listen on 127.0.0.1:"):
        taken = listen_socket("127.0.0.1", 0)
        try:
            listen_socket("127.0.0.1", taken.getsockname()[1])
        finally:
            taken.close()
