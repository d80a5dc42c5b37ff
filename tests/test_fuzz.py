"""The node API survives fuzzing: no 5xx, no crash, nothing stored from a malformed upload.

1. schemathesis drives every operation of the node's published OpenAPI schema (in-process,
   over ASGI), with schema-conforming and, where there is a body, schema-violating data; the
   survey id is sometimes the real one so requests get past the survey lookup, some uploads
   carry the survey's real tokens so they get past the token check, and some requests carry the
   analyst credential or a (forged) node signature header.
2. hypothesis fuzzes the submission endpoint with well-formed JSON around malformed envelopes
   (random bytes, bit flips, truncations and extensions of a real envelope, validly sealed but
   malformed plaintexts, wrong ids, tokens and flags) and with garbage bodies; uploads and
   batches that would open and be malformed inside, with tokens that are not the survey's
   (refused before any cryptography, nothing observable changes); the credential of
   the reads that are not public; and fuzzes ``open_shares`` and ``SubmissionUpload.parse``
   directly.

Every test prints (``pytest -s``) and records (``record_property``, e.g. in the JUnit XML) how
many cases it ran.  The bugs it found are pinned by regression tests at the end.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import struct
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from conftest import Survey, make_survey
from mpc_nodes import keys
from mpc_nodes.guard import GuardLimits
from mpc_nodes.server import create_app
from mpc_nodes.store import NodeStore
from protocol.commitment import make_certificate
from protocol.encoding import make_record
from protocol.envelope import SUITE, open_shares, public_key_from_hex, seal_shares, sealed_share_length, share_info
from protocol.errors import DecryptionFailed, InvalidSubmission
from protocol.field import ELEMENT_BYTES, encode_elements, share_vector
from protocol.validity import encode_submission
from protocol.wire import BULK_CONTENT_TYPE, MAX_BODY_BYTES, MAX_TOKEN_CHARS, BulkBody, SubmissionUpload, b64e

#: About 35 s in all (the schemathesis run alone takes ~17 s): above the budget of the fast suite.
pytestmark = pytest.mark.slow

SID = "test-survey"
SUBMIT = f"/v1/surveys/{SID}/submissions"
NODE_HEADER = "X-Salary-Node"  # protocol.nodeauth.HEADER: a peer node's signed-request header

#: Per operation and generation mode (schemathesis), and per property test (hypothesis).
SCHEMATHESIS_EXAMPLES = 200
#: The schemathesis run must have executed at least this many requests in total.
SCHEMATHESIS_FLOOR = 1000


def fuzz_settings(max_examples: int, shrink: bool = True) -> settings:
    """Reproducible, bounded runs: fixed seed, no example database, no per-example deadline.

    ``shrink=False`` for the regression tests: report the first failure, do not minimise.
    """
    phases = list(Phase) if shrink else [Phase.explicit, Phase.generate]
    return settings(max_examples=max_examples, deadline=None, derandomize=True, database=None, phases=phases,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.data_too_large, HealthCheck.large_base_example])


def report(record_property: Callable[[str, object], None], name: str, cases: int) -> None:
    print(f"\n[fuzz] {name}: {cases} cases")
    record_property(name, cases)


# -- a real node ---------------------------------------------------------------------------------

@dataclass
class Node:
    survey: Survey
    dir: Path
    store: NodeStore
    app: FastAPI
    client: TestClient
    hpke_sk: X25519PrivateKey
    submit_op: schemathesis.APIOperation  # POST .../submissions as the published schema declares it
    index: int = 0

    @property
    def vector_len(self) -> int:
        return self.survey.manifest.vector_length()

    @property
    def envelope_len(self) -> int:
        return sealed_share_length(self.vector_len)


def build_node(tmp: Path, tokens: int = 5) -> Iterator[Node]:
    s = make_survey(tmp, tokens=tokens)
    d = s.node_dirs[0]
    store = NodeStore(d / "node.db")
    pub = keys.load_public(d)
    store.import_survey(json.loads((s.dir / "node-bundle.json").read_text()), pub.hpke_public_key,
                        pub.tls_cert_sha256)
    # No failure limit: these tests send thousands of bad requests from one client on purpose
    # (the limit has tests of its own, tests/test_guard.py and tests/test_public_api.py).
    app = create_app(d, store, GuardLimits.unlimited_failures())
    submit_op = schemathesis.openapi.from_asgi("/openapi.json", app)["/v1/surveys/{survey_id}/submissions"]["POST"]
    # A server exception must show up as the 500 a client would get, so it can be asserted on.
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Node(s, d, store, app, client, keys.load_hpke_private(d), submit_op)
    store.close()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    yield from build_node(tmp_path)


def _shares(n: Node, gender: str = "female", salary: int = 4000) -> list[list[int]]:
    m = n.survey.manifest
    sc = m.scheme()
    vec = encode_submission(make_record(gender, salary, sc), sc, m.field_modulus)
    return share_vector(vec, m.n, m.threshold, m.field_modulus)


def seal_record(n: Node, submission_id: str, gender: str = "female", salary: int = 4000) -> bytes:
    """A real sealed share for node ``n`` under any id (no certificate: the envelope only)."""
    m = n.survey.manifest
    return seal_shares(_shares(n, gender, salary)[n.index], m.nodes[n.index].hpke_public_key, m.hash(), n.index,
                       bytes.fromhex(submission_id), m.field_modulus)


def record_upload(n: Node) -> tuple[str, bytes, str]:
    """(id, sealed share, certificate) exactly as salary-submit makes them: a valid upload."""
    m = n.survey.manifest
    shares = _shares(n)
    sid, cert = make_certificate(m.hash(), [encode_elements(sh, m.field_modulus) for sh in shares])
    env = seal_shares(shares[n.index], m.nodes[n.index].hpke_public_key, m.hash(), n.index, bytes.fromhex(sid),
                      m.field_modulus)
    return sid, env, b64e(cert)


def certify(n: Node, share_bytes: bytes) -> tuple[str, str]:
    """(id, certificate) committing to ``share_bytes`` for node ``n`` (random bytes for the others)."""
    m = n.survey.manifest
    sid, cert = make_certificate(m.hash(), [share_bytes if j == n.index else secrets.token_bytes(len(share_bytes))
                                            for j in range(m.n)])
    return sid, b64e(cert)


def seal_plaintext(n: Node, submission_id: str, plaintext: bytes) -> bytes:
    """Seal arbitrary bytes exactly as a share would be sealed: opens, then must be validated."""
    m = n.survey.manifest
    info = share_info(m.hash(), n.index, bytes.fromhex(submission_id))
    return SUITE.encrypt(plaintext, public_key_from_hex(m.nodes[n.index].hpke_public_key), info)


def post_raw(n: Node, body: bytes, content_type: str | None = "application/json") -> Any:
    """POST a body to the submission endpoint; the answer must match the published schema."""
    headers = {} if content_type is None else {"Content-Type": content_type}
    resp = n.client.post(SUBMIT, content=body, headers=headers)
    if resp.status_code < 500:  # a 5xx is reported by the caller's status assertion, with the body
        n.submit_op.validate_response(resp)
    return resp


def post_json(n: Node, obj: Any) -> Any:
    # ensure_ascii: lone surrogates travel as "\\udXXX" escapes, as any JSON client may send them.
    return post_raw(n, json.dumps(obj).encode())


def assert_api_error(resp: Any, statuses: tuple[int, ...] = (400, 403, 404, 409, 413)) -> dict[str, Any]:
    """A refusal: a documented 4xx with a JSON ``{"error": str, "detail": str}`` body."""
    assert resp.status_code in statuses, f"{resp.status_code}: {resp.text[:300]}"
    assert resp.headers.get("content-type", "").startswith("application/json"), resp.headers
    body = resp.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), str) and isinstance(body.get("detail"), str), body
    assert body["error"] and body["detail"]
    return body


# -- strategies ----------------------------------------------------------------------------------

#: Any string, lone surrogates included (json.loads produces them from "\\ud800" escapes).
any_text = st.text(st.characters(exclude_categories=()), max_size=40)
#: Strings without lone surrogates (tokens with them have a regression test of their own).
plain_text = st.text(max_size=40)
json_scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-(2**200), max_value=2**200)
                | st.floats(allow_nan=True, allow_infinity=True) | any_text)
json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars, lambda kids: st.lists(kids, max_size=5) | st.dictionaries(any_text, kids, max_size=5),
    max_leaves=15)
hex_ids = st.binary(min_size=16, max_size=16).map(bytes.hex)
#: Near-valid upload objects: the right field names (some missing), values of any type, extras.
near_valid_uploads: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries({}, optional={
    "submission_id": hex_ids | json_values | st.text("0123456789abcdefABCDEF", min_size=30, max_size=34),
    "token": plain_text | json_values | st.text(min_size=MAX_TOKEN_CHARS - 2, max_size=MAX_TOKEN_CHARS + 2),
    "envelope": st.binary(max_size=200).map(b64e) | json_values,
    "replace": st.booleans() | json_values,
    "extra": json_values,
})


def envelope_mutations(length: int) -> st.SearchStrategy[tuple[Any, ...]]:
    """Describe a change to a valid envelope of ``length`` bytes (identity included)."""
    return st.one_of(
        st.just(("identity",)),
        st.sets(st.tuples(st.integers(0, length - 1), st.integers(0, 7)), min_size=1, max_size=6)
        .map(lambda flips: ("flip", tuple(sorted(flips)))),
        st.integers(1, length).map(lambda k: ("truncate", k)),
        st.integers(1, length).map(lambda k: ("drop_head", k)),
        st.binary(min_size=1, max_size=64).map(lambda extra: ("extend", extra)),
        st.tuples(st.integers(0, length - 1), st.binary(min_size=1, max_size=40)).map(lambda t: ("overwrite", *t)),
        st.just(("other_enc",)),  # the 32-byte HPKE encapsulated key of another envelope
    )


def apply_mutation(env: bytes, mutation: tuple[Any, ...], other: bytes) -> bytes:
    kind = mutation[0]
    if kind == "identity":
        return env
    if kind == "flip":
        raw = bytearray(env)
        for pos, bit in mutation[1]:
            raw[pos] ^= 1 << bit
        return bytes(raw)
    if kind == "truncate":
        return env[: len(env) - mutation[1]]
    if kind == "drop_head":
        return env[mutation[1]:]
    if kind == "extend":
        return env + mutation[1]
    if kind == "overwrite":
        pos, rep = mutation[1], mutation[2]
        return env[:pos] + rep + env[pos + len(rep):]
    if kind == "other_enc":
        return other[:32] + env[32:]
    raise AssertionError(kind)


# -- 1. schemathesis over the whole published schema ----------------------------------------------

def _extra_headers(credential: str, node_count: int) -> st.SearchStrategy[dict[str, str]]:
    """Headers the schema does not declare but the API reads: the analyst credential, node signatures."""
    now = int(time.time())
    sig = st.binary(max_size=80).map(b64e) | st.text("ABCDEFabcdef0123456789+/=", max_size=40)
    node_sig = st.builds(lambda i, ts, s: f"{i}:{ts}:{s}", st.integers(-2, node_count + 1),
                         st.integers(now - 600, now + 600) | st.integers(-(10**12), 10**12), sig)
    auth = st.sampled_from([f"Bearer {credential}", "Bearer wrong", "Bearer ", "Basic dXNlcjpwYXNz", "bearer  "])
    return st.fixed_dictionaries({}, optional={
        "Authorization": auth,
        # (no leading blank: the client library refuses to send one)
        NODE_HEADER: node_sig | st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)
        .filter(lambda v: not v.startswith(" ")),
    })


def test_schemathesis_whole_api(node: Node, record_property: Callable[[str, object], None]) -> None:
    n = node
    schema = schemathesis.openapi.from_asgi("/openapi.json", n.app)
    operations: list[schemathesis.APIOperation] = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # every operation of the published schema must load
        operations.append(result.ok())
    labels = {op.label for op in operations}
    assert {"GET /v1/health", "GET /v1/surveys/{survey_id}/status",
            "POST /v1/surveys/{survey_id}/submissions", "POST /v1/surveys/{survey_id}/close"} <= labels, labels
    checks = [not_a_server_error, response_schema_conformance, content_type_conformance]
    headers_st = _extra_headers(n.survey.credential, n.survey.manifest.n)
    seen: Counter[tuple[str, bool, int, str]] = Counter()
    per_operation: Counter[str] = Counter()

    for op in operations:
        modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if op.body else [])
        for mode in modes:
            cases = op.as_strategy(generation_mode=mode)
            if "survey_id" in op.path:  # half the time the survey exists: reach the code behind the lookup
                cases = st.one_of(cases, op.as_strategy(generation_mode=mode, path_parameters={"survey_id": SID}))

            @fuzz_settings(SCHEMATHESIS_EXAMPLES)
            @given(case=cases, extra=headers_st, real_tokens=st.booleans())
            def run(case: schemathesis.Case, extra: dict[str, str], real_tokens: bool) -> None:
                per_operation[op.label] += 1
                if real_tokens:  # get past the token check, to the checks behind it
                    _with_real_tokens(case, n.survey.tokens)
                resp = case.call(headers=extra)
                kind = ""
                if resp.status_code >= 400:
                    try:
                        body = json.loads(resp.content)
                    except ValueError:
                        body = None
                    assert isinstance(body, dict) and isinstance(body.get("detail"), (str, list)), resp.content[:300]
                    kind = str(body.get("error", "<framework>"))
                seen[(op.label, case.path_parameters.get("survey_id") == SID, resp.status_code, kind)] += 1
                case.validate_response(resp, checks=checks)

            run()

    total = sum(per_operation.values())
    for label, cnt in sorted(per_operation.items()):
        print(f"  {cnt:5d}  {label}")
    print("  outcomes (operation, real survey id, status, error): " +
          ", ".join(f"{k}={v}" for k, v in sorted(seen.items())))
    report(record_property, "schemathesis_cases", total)
    assert total >= SCHEMATHESIS_FLOOR
    # The deep paths were reached: a schema-valid upload for the real survey got to opening the share.
    assert any(label.startswith("POST") and label.endswith("/submissions") and real and err == "DecryptionFailed"
               for (label, real, _, err) in seen), seen
    assert any(real and status == 200 for (label, real, status, _) in seen if "{survey_id}" in label), seen
    assert n.store.count(SID) == 0


def _with_real_tokens(case: schemathesis.Case, tokens: list[str]) -> None:
    """Put the survey's participation tokens into a generated upload body (one record's
    ``token``, a batch's ``tokens``), wherever it has them as strings."""
    body = case.body
    if not isinstance(body, dict):
        return
    if isinstance(body.get("token"), str):
        body["token"] = tokens[0]
    if isinstance(body.get("tokens"), list) and all(isinstance(t, str) for t in body["tokens"]):
        body["tokens"] = [tokens[k % len(tokens)] for k in range(len(body["tokens"]))]


# -- 2. hypothesis: malformed envelopes through the HTTP endpoint ---------------------------------

def test_random_envelope_bytes_are_refused(node: Node, record_property: Callable[[str, object], None]) -> None:
    cases = 0
    token = node.survey.tokens[0]

    @fuzz_settings(300)
    @given(raw=st.one_of(st.binary(min_size=node.envelope_len, max_size=node.envelope_len),
                         st.binary(max_size=3 * node.envelope_len)),
           replace=st.booleans())
    @example(raw=b"", replace=False)
    @example(raw=bytes(node.envelope_len), replace=False)  # all zero: a low-order X25519 point as enc
    @example(raw=b"\xff" * node.envelope_len, replace=True)
    def run(raw: bytes, replace: bool) -> None:
        nonlocal cases
        cases += 1
        sid, cert = certify(node, b"")
        body = {"submission_id": sid, "token": token, "envelope": b64e(raw), "certificate": cert, "replace": replace}
        err = assert_api_error(post_json(node, body), (400,))
        assert err["error"] == "DecryptionFailed"
        assert node.store.count(SID) == 0

    run()
    report(record_property, "random_envelope_bytes", cases)


@dataclass
class IngestModel:
    """What the node must hold after each upload: valid token -> its stored submission id."""

    stored: dict[str, str] = field(default_factory=dict)


def test_mutated_valid_envelopes(node: Node, record_property: Callable[[str, object], None]) -> None:
    """Bit flips, truncations, extensions... of a real envelope, with fuzzed ids, tokens and flags.

    Only the unmodified envelope with its own id, a valid token and a boolean ``replace`` is
    accepted (stored, replaced, or 409 if the token was used without ``replace``); everything
    else is a 4xx and changes nothing: 403 for a well-formed upload with an unknown token,
    whatever its envelope (the token is checked before any cryptography), 400 otherwise.
    """
    cases = 0
    accepted = 0
    model = IngestModel()
    valid_tokens = node.survey.tokens[:3]
    length = node.envelope_len

    @fuzz_settings(400)
    @given(mutation=envelope_mutations(length),
           sid_kind=st.sampled_from(["own", "own", "other", "garbage"]),
           garbage_sid=any_text | json_values,
           token=st.sampled_from(valid_tokens) | plain_text | st.text(min_size=MAX_TOKEN_CHARS, max_size=300),
           replace=st.booleans() | st.booleans() | json_values)
    @example(mutation=("identity",), sid_kind="own", garbage_sid="", token=valid_tokens[0], replace=False)
    @example(mutation=("flip", ((31, 7),)), sid_kind="own", garbage_sid="", token=valid_tokens[0], replace=False)
    def run(mutation: tuple[Any, ...], sid_kind: str, garbage_sid: Any, token: Any, replace: Any) -> None:
        # (31, 7): the top bit of the X25519 enc, which X25519 itself ignores; HPKE must not.
        nonlocal cases, accepted
        cases += 1
        own_sid, env, cert = record_upload(node)
        other = seal_record(node, own_sid)
        sent = apply_mutation(env, mutation, other)
        sid = {"own": own_sid, "other": secrets.token_hex(16), "garbage": garbage_sid}[sid_kind]
        before = node.store.count(SID)
        resp = post_json(node, {"submission_id": sid, "token": token, "envelope": b64e(sent), "certificate": cert,
                                "replace": replace})
        well_formed = (isinstance(replace, bool) and isinstance(token, str) and 1 <= len(token) <= MAX_TOKEN_CHARS
                       and re.fullmatch(r"[\x21-\x7e]+", token) is not None)  # printable ASCII only
        schema_ok = well_formed and isinstance(sid, str) and re.fullmatch(r"[0-9a-f]{32}", sid) is not None
        if schema_ok and token not in valid_tokens:  # refused before the envelope is looked at
            assert assert_api_error(resp, (403,))["error"] == "InvalidToken"
            assert node.store.count(SID) == before
        elif sent == env and sid == own_sid and well_formed:
            if token in model.stored and not replace:
                assert assert_api_error(resp, (409,))["error"] == "TokenUsed"
            else:
                assert resp.status_code == 200, resp.text
                ack = resp.json()
                assert ack["submission_id"] == own_sid and ack["node_index"] == node.index
                assert ack["status"] == ("replaced" if token in model.stored else "stored")
                model.stored[token] = own_sid
                accepted += 1
        else:
            assert_api_error(resp, (400,))
            assert node.store.count(SID) == before
        assert sorted(node.store.submission_ids(SID)) == sorted(model.stored.values())

    run()
    print(f"  accepted (unmodified envelope, valid token): {accepted}")
    report(record_property, "mutated_envelopes", cases)
    assert accepted >= 1


def test_sealed_but_malformed_plaintexts(node: Node, record_property: Callable[[str, object], None]) -> None:
    """Anyone can seal bytes to a node's public key: what opens must still be validated."""
    cases = 0
    m = node.survey.manifest
    p, vlen = m.field_modulus, node.vector_len
    token = node.survey.tokens[4]
    stored = False
    element = st.one_of(st.integers(0, p - 1), st.integers(p, 2 ** (8 * ELEMENT_BYTES) - 1))
    structured = st.builds(
        lambda magic, count, elems: magic + struct.pack(">H", count) + b"".join(
            e.to_bytes(ELEMENT_BYTES, "big") for e in elems),
        st.sampled_from([b"SSH1", b"RES1", b"SSH0", b"\x00\x00\x00\x00"]),
        st.sampled_from([vlen, vlen - 1, vlen + 1, 0, 0xFFFF]) | st.integers(0, 0xFFFF),
        st.lists(element, min_size=vlen, max_size=vlen))
    plaintexts = st.one_of(structured, st.binary(min_size=6 + vlen * ELEMENT_BYTES, max_size=6 + vlen * ELEMENT_BYTES),
                           st.binary(max_size=200))

    @fuzz_settings(300)
    @given(plaintext=plaintexts)
    def run(plaintext: bytes) -> None:
        nonlocal cases, stored
        cases += 1
        sid, cert = certify(node, plaintext[6:])  # the contributor signs what it seals
        resp = post_json(node, {"submission_id": sid, "token": token, "certificate": cert,
                                "envelope": b64e(seal_plaintext(node, sid, plaintext)), "replace": True})
        count = struct.unpack(">H", plaintext[4:6])[0] if len(plaintext) >= 6 else -1
        elems = [int.from_bytes(plaintext[k:k + ELEMENT_BYTES], "big") for k in range(6, len(plaintext), ELEMENT_BYTES)]
        valid = (plaintext[:4] == b"SSH1" and count == vlen and len(plaintext) == 6 + vlen * ELEMENT_BYTES
                 and all(e < p for e in elems))
        if valid:  # well-formed shares are all a node can check in the semi-honest model
            assert resp.status_code == 200, resp.text
            assert resp.json()["status"] == ("replaced" if stored else "stored")
            stored = True
        else:
            err = assert_api_error(resp, (400,))
            assert err["error"] in ("InvalidSubmission", "DecryptionFailed"), err
        assert node.store.count(SID) == (1 if stored else 0)

    run()
    report(record_property, "sealed_malformed_plaintexts", cases)


def test_garbage_bodies_are_refused(node: Node, record_property: Callable[[str, object], None]) -> None:
    cases = 0
    content_types = st.sampled_from(["application/json", "text/plain", "application/octet-stream",
                                     "multipart/form-data; boundary=x", "application/x-www-form-urlencoded"])
    bodies = st.one_of(
        st.binary(max_size=2000),
        any_text.map(lambda t: t.encode("utf-8", "surrogatepass")),
        plain_text.map(lambda t: t.encode("utf-16")),
        json_values.map(lambda v: json.dumps(v).encode()),
        near_valid_uploads.map(lambda v: json.dumps(v).encode()),
        near_valid_uploads.map(lambda v: json.dumps(v).encode()[:-1]),  # cut short
    )

    @fuzz_settings(400)
    @given(body=bodies, content_type=st.none() | content_types)
    @example(body=b"", content_type=None)
    @example(body=b"null", content_type="application/json")
    @example(body=b"\xef\xbb\xbf{}", content_type="application/json")
    @example(body=b'{"submission_id": "' + b"0" * 32 + b'", "token": "x", "envelope": "", "replace": false}',
             content_type="application/json")
    @example(body=b"[" * 500 + b"]" * 500, content_type="application/json")  # deep, but below the recursion limit
    @example(body=b" " * MAX_BODY_BYTES, content_type="application/json")
    @example(body=b"{" * (MAX_BODY_BYTES + 1), content_type="application/json")
    def run(body: bytes, content_type: str | None) -> None:
        nonlocal cases
        cases += 1
        statuses = (413,) if len(body) > MAX_BODY_BYTES else (400, 403, 409)
        assert_api_error(post_raw(node, body, content_type), statuses)
        assert node.store.count(SID) == 0

    run()
    report(record_property, "garbage_bodies", cases)


def _observable(n: Node) -> tuple[Any, ...]:
    """Everything a node shows or keeps about uploads: stored ids, refused ids, count, audit log."""
    st_ = n.store
    return (st_.submission_ids(SID), st_.refused_ids(SID), st_.count(SID), st_.audit_rows())


def _near_tokens(tokens: list[str]) -> st.SearchStrategy[str]:
    """Made-up tokens, and real ones with a character changed, added or taken away."""
    real = st.sampled_from(tokens)
    return st.one_of(
        st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=MAX_TOKEN_CHARS),
        st.tuples(real, st.integers(0, 42), st.sampled_from("AZaz09-_")).map(
            lambda t: t[0][: t[1]] + t[2] + t[0][t[1] + 1:]).filter(lambda t: t not in tokens),
        real.map(lambda t: t + "x"), real.map(lambda t: t[:-1]))


def test_tokenless_uploads_change_nothing(node: Node, record_property: Callable[[str, object], None],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Uploads that would open and be malformed inside (a share not matching its
    commitment, single or batch, well signed by the sender's key, envelope mutated or not) with
    a token that is not the survey's: 403, no cryptography done, nothing observable changed."""
    import mpc_nodes.ingest as ingest_mod
    sys_path_scripts()
    import public_api_attack as attack

    cases = 0
    m = node.survey.manifest
    crypto: list[str] = []
    for name in ("verify_batch", "verify_certificate", "open_share_block", "open_share_elements"):
        monkeypatch.setattr(ingest_mod, name, lambda *a, _n=name, **k: crypto.append(_n))
    single = json.loads(attack.forged_single(m, 0, "placeholder"))
    batch = BulkBody.from_bytes(attack.forged_batch(m, 0, ["placeholder"], 8))
    before = _observable(node)

    @fuzz_settings(300)
    @given(tokens=st.lists(_near_tokens(node.survey.tokens), min_size=1, max_size=8, unique=True),
           as_batch=st.booleans(), mutation=envelope_mutations(node.envelope_len), replace=st.booleans())
    def run(tokens: list[str], as_batch: bool, mutation: tuple[Any, ...], replace: bool) -> None:
        nonlocal cases
        cases += 1
        if as_batch:
            k = len(tokens)
            body = BulkBody(batch.batch_key, batch.signature, tuple(tokens), batch.commitments[: k * 32 * m.n],
                            apply_mutation(batch.envelope, mutation, batch.envelope), replace).to_bytes()
            resp = node.client.post(f"/v1/surveys/{SID}/batches", content=body,
                                    headers={"content-type": BULK_CONTENT_TYPE})
        else:
            env = apply_mutation(base64.b64decode(single["envelope"]), mutation, b"\x00" * 32)
            resp = post_json(node, {**single, "token": tokens[0], "envelope": b64e(env), "replace": replace})
        assert assert_api_error(resp, (403,))["reason"] == "unknown-token"
        assert crypto == []
        assert _observable(node) == before

    run()
    report(record_property, "tokenless_uploads", cases)


def test_only_the_credential_or_a_node_signature_reads_the_live_count(
        node: Node, record_property: Callable[[str, object], None]) -> None:
    """Anonymous reads: /status, /ids, /compute and /result answer 403 to every Authorization
    value but the analyst's credential (near misses included), and health says only ok and the
    version."""
    cases = 0
    cred = node.survey.credential
    assert set(node.client.get("/v1/health").json()) == {"ok", "version"}
    near = st.one_of(
        st.text(max_size=60), st.sampled_from(node.survey.tokens),
        st.tuples(st.integers(0, len(cred) - 1), st.sampled_from("AZaz09-_")).map(
            lambda t: cred[: t[0]] + t[1] + cred[t[0] + 1:]).filter(lambda c: c != cred),
        st.just(cred + "x"), st.just(cred[:-1]), st.just(cred.upper()))

    @fuzz_settings(200)
    @given(value=near, scheme=st.sampled_from(["Bearer ", "bearer ", "Basic ", ""]),
           what=st.sampled_from(["status", "ids", "compute", "result"]))
    def run(value: str, scheme: str, what: str) -> None:
        nonlocal cases
        cases += 1
        header = (scheme + value).encode("utf-8", "surrogatepass")
        if b"\r" in header or b"\n" in header or header != header.strip() or not header:
            return
        try:
            resp = node.client.get(f"/v1/surveys/{SID}/{what}", headers={"Authorization": header.decode("latin-1")})
        except (UnicodeEncodeError, ValueError):
            return
        assert assert_api_error(resp, (403,))["reason"] == "credential-refused"

    run()
    ok = node.client.get(f"/v1/surveys/{SID}/status", headers={"Authorization": f"Bearer {cred}"})
    assert ok.status_code == 200 and ok.json()["submissions"] == 0
    report(record_property, "anonymous_reads", cases)


def sys_path_scripts() -> None:
    """Make scripts/ importable (public_api_attack builds the issue's forged uploads)."""
    import sys

    path = str(Path(__file__).resolve().parent.parent / "scripts")
    if path not in sys.path:
        sys.path.insert(0, path)


def peer_paths(n: Node) -> list[str]:
    """The endpoints that accept a peer node's signed request (X-Salary-Node), for the real survey."""
    published = n.client.get("/openapi.json").json()["paths"]
    found = [pth.replace("{survey_id}", SID) for pth, ops in published.items()
             if "get" in ops and pth.endswith(("/ids", "/compute"))]
    if not found:
        pytest.skip("this version of the API has no peer-authenticated endpoints")
    return found


def test_node_signature_header_is_refused(node: Node, record_property: Callable[[str, object], None]) -> None:
    """Forged peer-node signatures (X-Salary-Node) on the peer endpoints: always 403, never 5xx."""
    paths = peer_paths(node)
    cases = 0
    now = int(time.time())
    header_values = st.one_of(
        st.builds(lambda i, ts, s: f"{i}:{ts}:{s}".encode("latin-1"),
                  st.integers(-3, 5) | st.integers(-(10**30), 10**30),
                  st.integers(now - 400, now + 400) | st.integers(-(10**300), 10**300),
                  st.binary(max_size=90).map(b64e) | st.text("ABCDEFGHabcdefgh0123456789+/=:", max_size=40)),
        st.binary(min_size=1, max_size=100).filter(lambda b: b"\r" not in b and b"\n" not in b and b"\x00" not in b
                                                   and b.strip() == b),
    )

    @fuzz_settings(300)
    @given(path=st.sampled_from(paths), value=header_values)
    def run(path: str, value: bytes) -> None:
        nonlocal cases
        cases += 1
        resp = node.client.get(path, headers={NODE_HEADER: value})
        assert assert_api_error(resp, (403,))["error"] == "InvalidToken"

    run()
    report(record_property, "node_signature_headers", cases)


# -- 2b. hypothesis: the parsers and the envelope opener directly ---------------------------------

def test_open_shares_random_ciphertexts(node: Node, record_property: Callable[[str, object], None]) -> None:
    cases = 0
    m = node.survey.manifest
    sid = secrets.token_hex(16)
    env = seal_record(node, sid)
    other = seal_record(node, sid)
    expected = open_shares(env, node.hpke_sk, m.hash(), node.index, bytes.fromhex(sid), node.vector_len,
                           m.field_modulus)

    @fuzz_settings(500)
    @given(data=st.one_of(st.binary(min_size=node.envelope_len, max_size=node.envelope_len),
                          st.binary(max_size=400),
                          envelope_mutations(node.envelope_len).map(lambda mu: apply_mutation(env, mu, other))),
           context=st.one_of(st.just(None),
                             st.tuples(st.binary(min_size=32, max_size=32), st.integers(0, 0xFFFF),
                                       st.binary(min_size=16, max_size=16))))
    def run(data: bytes, context: tuple[bytes, int, bytes] | None) -> None:
        nonlocal cases
        cases += 1
        mhash, idx, sub = context or (m.hash(), node.index, bytes.fromhex(sid))
        try:
            got = open_shares(data, node.hpke_sk, mhash, idx, sub, node.vector_len, m.field_modulus)
        except DecryptionFailed:
            assert data != env or (mhash, idx, sub) != (m.hash(), node.index, bytes.fromhex(sid))
        else:
            assert data == env and got == expected

    run()
    report(record_property, "open_shares_ciphertexts", cases)


def _json_text(obj: Any) -> Any:
    """The value as it arrives after a JSON round trip (NaN/inf survive in Python's json)."""
    return json.loads(json.dumps(obj))


def test_submission_upload_parse(record_property: Callable[[str, object], None]) -> None:
    cases = 0

    @fuzz_settings(500)
    @given(obj=st.one_of(json_values, near_valid_uploads, st.lists(near_valid_uploads, max_size=2)))
    @example(obj={"submission_id": "0" * 32, "token": "t", "envelope": "AAAA"})
    @example(obj={"submission_id": "0" * 32 + "\n", "token": "t", "envelope": "AAAA"})
    @example(obj={"submission_id": "0" * 32, "token": "t", "envelope": "\ud800"})
    @example(obj={"submission_id": "0" * 32, "token": "t", "envelope": "AAAA", "replace": 1})
    def run(obj: Any) -> None:
        nonlocal cases
        cases += 1
        for value in (obj, _json_text(obj)):
            try:
                up = SubmissionUpload.parse(value)
            except InvalidSubmission:
                continue
            assert isinstance(up, SubmissionUpload)
            assert len(up.submission_id) == 32 and set(up.submission_id) <= set("0123456789abcdef")
            assert isinstance(up.token, str) and 1 <= len(up.token) <= MAX_TOKEN_CHARS
            assert isinstance(up.envelope, str) and isinstance(up.replace, bool)
            try:
                assert isinstance(up.envelope_bytes(), bytes)
            except InvalidSubmission:
                pass

    run()
    report(record_property, "submission_upload_parse", cases)


# -- regressions: bugs this fuzzing found (fixed) ----------------------------------------------------

def test_token_with_lone_surrogate_is_refused(node: Node, record_property: Callable[[str, object], None]) -> None:
    cases = 0

    @fuzz_settings(20, shrink=False)
    @given(prefix=plain_text, surrogate=st.characters(categories=["Cs"]), suffix=plain_text)
    def run(prefix: str, surrogate: str, suffix: str) -> None:
        nonlocal cases
        cases += 1
        sid = secrets.token_hex(16)
        body = {"submission_id": sid, "token": prefix + surrogate + suffix, "envelope": b64e(seal_record(node, sid)),
                "certificate": certify(node, b"")[1]}
        assert assert_api_error(post_json(node, body), (400, 403))
        assert node.store.count(SID) == 0

    try:
        run()
    finally:
        report(record_property, "lone_surrogate_tokens", cases)


def test_deeply_nested_json_is_refused(node: Node, record_property: Callable[[str, object], None]) -> None:
    cases = 0

    @fuzz_settings(20, shrink=False)
    @given(depth=st.integers(1_000, 20_000), opener=st.sampled_from([b"[", b'{"a":']),
           closed=st.booleans())
    @example(depth=1_000, opener=b"[", closed=True)
    def run(depth: int, opener: bytes, closed: bool) -> None:
        nonlocal cases
        cases += 1
        closer = (b"]" if opener == b"[" else b"}") * depth if closed else b""
        body = (opener * depth + b"0" + closer)[:MAX_BODY_BYTES]
        assert assert_api_error(post_raw(node, body), (400,))["error"] == "InvalidSubmission"

    try:
        run()
    finally:
        report(record_property, "deeply_nested_json", cases)


def test_node_signature_with_huge_timestamp_is_refused(node: Node,
                                                        record_property: Callable[[str, object], None]) -> None:
    cases = 0
    paths = peer_paths(node)

    @fuzz_settings(20, shrink=False)
    @given(ts=st.integers(10**309, 10**4000) | st.integers(-(10**4000), -(10**309)), path=st.sampled_from(paths))
    def run(ts: int, path: str) -> None:
        nonlocal cases
        cases += 1
        resp = node.client.get(path, headers={NODE_HEADER: f"0:{ts}:AAAA"})
        assert assert_api_error(resp, (403,))["error"] == "InvalidToken"

    try:
        run()
    finally:
        report(record_property, "huge_signature_timestamps", cases)
