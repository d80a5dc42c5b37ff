"""The wire objects of protocol.wire, without a node: every parser with its exact refusals, the
binary bulk body against its known-answer file (tests/vectors/bulk_body.json), the set digest,
the batch size bound and the enums' wire values; and the MPC parties' message frame, echo, deal
and signed statement against tests/vectors/channel_frame.json.  Uploads through a node's HTTP API are tested in
test_api.py and test_bulk.py; the upload parser is fuzzed in test_fuzz.py."""

from __future__ import annotations

import base64
import hashlib
import json
import math
from pathlib import Path
from typing import Any

import pytest

from mpc_nodes.channel_frame import (
    EchoRecord,
    Frame,
    FrameError,
    Round,
    channel_context,
    encode_deal,
    encode_echo,
    encode_frame,
    parse_deal,
    parse_echo,
    parse_frame,
    statement,
)
from protocol.encoding import MAX_CELL_BANDS, Scheme
from protocol.errors import InvalidSubmission, SurveyError
from protocol.wire import (
    MAX_BODY_BYTES,
    MAX_BULK_BODY_BYTES,
    MAX_TOKEN_CHARS,
    BulkAck,
    BulkBody,
    BulkUpload,
    ComputeState,
    FrozenSet,
    ResultShare,
    ResultState,
    SubmissionAck,
    SubmissionUpload,
    SurveyState,
    UploadStatus,
    b64e,
    bulk_batch_limit,
    error_detail,
    majority_outliers,
    set_digest,
)

BULK: dict[str, Any] = json.loads((Path(__file__).parent / "vectors" / "bulk_body.json").read_text())


# ========================================================================= SubmissionUpload

ENVELOPE = hashlib.sha256(b"a sealed share").digest() * 5
GOOD: dict[str, Any] = {"submission_id": "0123456789abcdef0123456789abcdef", "token": "tok-123",
                        "envelope": b64e(ENVELOPE), "certificate": b64e(b"c" * 192)}


def test_upload_parse_accepts_good_body() -> None:
    up = SubmissionUpload.parse(dict(GOOD))
    assert up == SubmissionUpload(GOOD["submission_id"], "tok-123", GOOD["envelope"], GOOD["certificate"], False)
    assert up.envelope_bytes() == ENVELOPE and up.certificate_bytes() == b"c" * 192
    assert SubmissionUpload.parse({**GOOD, "replace": True}).replace is True
    assert SubmissionUpload.parse(up.to_json()) == up


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "submission body must be a JSON object"),
        ("x", "submission body must be a JSON object"),
        (None, "submission body must be a JSON object"),
        ({k: v for k, v in GOOD.items() if k != "submission_id"}, "submission: field 'submission_id' is missing"),
        ({k: v for k, v in GOOD.items() if k != "token"}, "submission: field 'token' is missing"),
        ({k: v for k, v in GOOD.items() if k != "envelope"}, "submission: field 'envelope' is missing"),
        ({**GOOD, "submission_id": 5}, "submission: field 'submission_id' must be of type str"),
        ({**GOOD, "token": ["a"]}, "submission: field 'token' must be of type str"),
        ({**GOOD, "envelope": None}, "submission: field 'envelope' must be of type str"),
        ({**GOOD, "replace": "yes"}, "submission: field 'replace' must be a boolean"),
        ({**GOOD, "replace": 1}, "submission: field 'replace' must be a boolean"),
        ({**GOOD, "submission_id": "0123456789ABCDEF0123456789ABCDEF"},
         "submission: submission_id must be 32 lowercase hex characters"),
        ({**GOOD, "submission_id": "0123456789abcdef"}, "submission: submission_id must be 32 lowercase hex characters"),
        ({**GOOD, "submission_id": "g" * 32}, "submission: submission_id must be 32 lowercase hex characters"),
        ({**GOOD, "submission_id": "0" * 33}, "submission: submission_id must be 32 lowercase hex characters"),
        ({**GOOD, "token": ""}, "submission: token is missing or too long"),
        ({**GOOD, "token": "t" * (MAX_TOKEN_CHARS + 1)}, "submission: token is missing or too long"),
        ({**GOOD, "extra": 1}, "submission: unexpected field(s) extra"),
        ({**GOOD, "zeta": 1, "alpha": 2}, "submission: unexpected field(s) alpha, zeta"),
    ],
)
def test_upload_parse_refuses_with_exact_message(body: Any, message: str) -> None:
    with pytest.raises(InvalidSubmission) as exc:
        SubmissionUpload.parse(body)
    assert str(exc.value) == message


def test_upload_token_at_max_length_is_accepted() -> None:
    assert SubmissionUpload.parse({**GOOD, "token": "t" * MAX_TOKEN_CHARS}).token == "t" * MAX_TOKEN_CHARS


def test_upload_parse_refuses_submission_id_with_trailing_newline() -> None:
    with pytest.raises(InvalidSubmission, match="submission_id must be 32 lowercase hex"):
        SubmissionUpload.parse({**GOOD, "submission_id": GOOD["submission_id"] + "\n"})


@pytest.mark.parametrize("envelope", ["not base64!", "QUJ", "QUJDRA==\n", "QU JD", "é", "QUJDRA"])
def test_upload_envelope_bytes_refuses_bad_base64(envelope: str) -> None:
    up = SubmissionUpload.parse({**GOOD, "envelope": envelope})
    with pytest.raises(InvalidSubmission) as exc:
        up.envelope_bytes()
    assert str(exc.value) == "envelope is not valid base64"


def test_upload_envelope_bytes_standard_alphabet() -> None:
    raw = bytes(range(250, 256)) * 3  # encodes with '+' and '/' in the standard alphabet
    text = base64.b64encode(raw).decode()
    assert "/" in text or "+" in text
    assert SubmissionUpload.parse({**GOOD, "envelope": text}).envelope_bytes() == raw
    urlsafe = base64.urlsafe_b64encode(raw).decode()
    assert urlsafe != text
    with pytest.raises(InvalidSubmission, match="not valid base64"):
        SubmissionUpload.parse({**GOOD, "envelope": urlsafe}).envelope_bytes()


# ========================================================================= BulkUpload, BulkBody

BODY = BulkBody(bytes.fromhex(BULK["batch_key"]), bytes.fromhex(BULK["signature"]), tuple(BULK["tokens"]),
                bytes.fromhex(BULK["commitments"]), bytes.fromhex(BULK["envelope"]), BULK["replace"])
BINARY = bytes.fromhex(BULK["binary"])


def test_bulk_vector_file_states_provenance_and_covers_the_defects() -> None:
    assert "generate_vectors.py" in BULK["provenance"]
    assert len(BODY.tokens) == 2 and BODY.replace is True and len(BODY.commitments) == 2 * 3 * 32
    names = " ".join(t["name"] for t in BULK["tampered"])
    for defect in ("magic", "flag", "cut", "trailing", "token count", "non-ASCII"):
        assert defect in names


def test_bulk_body_known_answer() -> None:
    assert BODY.to_bytes() == BINARY
    assert BulkBody.from_bytes(BINARY) == BODY
    # the JSON form carries the same fields in standard base64
    assert BODY.to_upload().to_json() == BULK["upload"]
    assert BulkBody.from_upload(BulkUpload.parse(BULK["upload"])) == BODY
    assert BulkBody.from_bytes(BulkBody(**{**BODY.__dict__, "replace": False}).to_bytes()).replace is False


@pytest.mark.parametrize("case", BULK["tampered"], ids=[t["name"] for t in BULK["tampered"]])
def test_tampered_bulk_bodies_are_refused_with_exact_message(case: dict[str, str]) -> None:
    with pytest.raises(InvalidSubmission) as exc:
        BulkBody.from_bytes(bytes.fromhex(case["binary"]))
    assert str(exc.value) == case["error"]


def test_bulk_upload_parse() -> None:
    good = dict(BULK["upload"])
    assert BulkUpload.parse({k: v for k, v in good.items() if k != "replace"}).replace is False
    cases: list[tuple[Any, str]] = [
        ([], "bulk upload body must be a JSON object"),
        ({**good, "extra": 1}, "bulk upload: unexpected field(s) extra"),
        ({k: v for k, v in good.items() if k != "envelope"}, "bulk upload: field 'envelope' is missing"),
        ({**good, "tokens": "tok"}, "bulk upload: field 'tokens' must be of type list"),
        ({**good, "tokens": []}, "bulk upload: tokens must list one token per record"),
        ({**good, "tokens": ["tok", 5]}, "bulk upload: token 1 is missing, too long or has characters no "
                                         "participation token has"),
        ({**good, "replace": "no"}, "bulk upload: field 'replace' must be a boolean"),
    ]
    for body, message in cases:
        with pytest.raises(InvalidSubmission) as exc:
            BulkUpload.parse(body)
        assert str(exc.value) == message
    with pytest.raises(InvalidSubmission, match="^signature is not valid base64$"):
        BulkBody.from_upload(BulkUpload.parse({**good, "signature": "!!"}))


def test_bulk_batch_limit_keeps_a_full_batch_under_the_body_bound() -> None:
    def json_body_bytes(vector_length: int, n: int, k: int) -> int:
        """A JSON bulk upload of k records with the longest tokens: base64 of the sealed block
        (with 1 KiB for the HPKE and block headers) and of the commitments, plus the small fields."""
        b64 = lambda size: 4 * math.ceil(size / 3)  # noqa: E731
        return b64(16 * vector_length * k + 1024) + b64(32 * n * k) + k * (MAX_TOKEN_CHARS + 4) + 1024

    widest = Scheme.of([f"g{i}" for i in range(MAX_CELL_BANDS)], 2**62).vector_length
    for vector_length, n in ((Scheme.of(("f", "m"), 10**6).vector_length, 3), (151, 5), (widest, 7)):
        k = bulk_batch_limit(vector_length, n)
        assert k >= 1 and json_body_bytes(vector_length, n, k) <= MAX_BULK_BODY_BYTES
        # and not needlessly small: twice as many records would not fit
        assert json_body_bytes(vector_length, n, 2 * k) > MAX_BULK_BODY_BYTES
    assert bulk_batch_limit(151, 3) == 12082
    assert bulk_batch_limit(10**9, 3) == 1  # one record per request however wide


def test_the_widest_survey_fits_the_envelope_count_and_the_single_upload_bound() -> None:
    """The widest survey a manifest allows (every one of MAX_CELL_BANDS cells x bands its own cell,
    a 40-bit salary bound): its share vector fits the envelope's u16 element count, and one record's
    upload with the longest token and a certificate for 64 nodes stays under MAX_BODY_BYTES."""
    from protocol.commitment import make_certificate
    from protocol.envelope import generate_keypair, open_share_elements, private_key_from_bytes, seal_shares

    widest = Scheme.of([f"g{i}" for i in range(MAX_CELL_BANDS)], 10**12 - 1)
    assert widest.bits == 40 and widest.vector_length == 3 * MAX_CELL_BANDS + 6 * 40 + 9 < 2**16
    sk, pk = generate_keypair()
    mh, sid = hashlib.sha256(b"widest").digest(), bytes(16)
    values = [(1 << 127) - 2] * widest.vector_length
    sealed = seal_shares(values, pk.hex(), mh, 0, sid, (1 << 127) - 1)
    element_bytes = b"".join(v.to_bytes(16, "big") for v in values)
    assert open_share_elements(sealed, private_key_from_bytes(sk), mh, 0, sid, widest.vector_length) == element_bytes
    sid_hex, cert = make_certificate(mh, [element_bytes] * 64)
    body = json.dumps({"submission_id": sid_hex, "token": "t" * MAX_TOKEN_CHARS, "envelope": b64e(sealed),
                       "certificate": b64e(cert), "replace": False}).encode()
    assert len(body) <= MAX_BODY_BYTES


# ========================================================================= acknowledgements

def test_submission_ack_parse() -> None:
    good = {"survey_id": "s", "submission_id": "1" * 32, "node_index": 0, "envelope_sha256": "a" * 64,
            "status": "stored", "stored_at": "2026-01-01T00:00:00Z"}
    assert SubmissionAck.parse(good).status == "stored"
    with pytest.raises(SurveyError, match="malformed acknowledgement"):
        SubmissionAck.parse({**good, "status": "ok"})
    with pytest.raises(SurveyError, match="malformed acknowledgement"):
        SubmissionAck.parse({**good, "envelope_sha256": "A" * 64})
    with pytest.raises(SurveyError, match="malformed acknowledgement"):
        SubmissionAck.parse({k: v for k, v in good.items() if k != "stored_at"})


def test_bulk_ack_parse() -> None:
    good = {"survey_id": "s", "node_index": 1, "batch_id": "b" * 64, "envelope_sha256": "a" * 64,
            "submission_ids": ["1" * 32, "2" * 32], "statuses": ["stored", "replaced"],
            "stored_at": "2026-01-01T00:00:00Z"}
    assert BulkAck.parse(good).statuses == ["stored", "replaced"]
    for bad in ({**good, "statuses": ["stored"]}, {**good, "statuses": ["stored", "ok"]}, {**good, "extra": 1},
                {k: v for k, v in good.items() if k != "batch_id"}):
        with pytest.raises(SurveyError) as exc:
            BulkAck.parse(bad)
        assert str(exc.value) == "malformed bulk acknowledgement from node"


# ========================================================================= digests and frozen sets

def test_set_digest_known_answer_and_order_independence() -> None:
    a, b = "a" * 32, "0" * 32
    expected = hashlib.sha256(f"{b}\n{a}\n".encode()).hexdigest()
    assert set_digest([a, b]) == set_digest([b, a]) == expected
    assert set_digest([]) == hashlib.sha256(b"").hexdigest()
    assert set_digest([a]) != set_digest([a, b])


def test_frozen_set_parse_checks_count_and_digest() -> None:
    ids = ["1" * 32, "2" * 32]
    good = {"survey_id": "s", "node_index": 1, "manifest_hash": "0" * 64, "count": 2,
            "digest": set_digest(ids), "submission_ids": ids}
    assert FrozenSet.parse(good).submission_ids == ids
    with pytest.raises(SurveyError, match="count or digest does not match"):
        FrozenSet.parse({**good, "count": 3})
    with pytest.raises(SurveyError, match="count or digest does not match"):
        FrozenSet.parse({**good, "digest": set_digest(ids[:1])})
    with pytest.raises(SurveyError, match="node 1 sent malformed submission ids"):
        FrozenSet.parse({**good, "submission_ids": ["xyz"]})
    with pytest.raises(SurveyError, match="malformed frozen set"):
        FrozenSet.parse({**good, "extra": 1})


def test_frozen_set_parse_checks_refused_ids() -> None:
    good = {"survey_id": "s", "node_index": 0, "manifest_hash": "0" * 64, "count": 0, "digest": set_digest([]),
            "submission_ids": [], "frozen": False, "signature": "", "refused_ids": ["3" * 32]}
    assert FrozenSet.parse(good).refused_ids == ["3" * 32]
    with pytest.raises(SurveyError, match="malformed refused ids"):
        FrozenSet.parse({**good, "refused_ids": ["not an id"]})


# ========================================================================= compute state, result shares

def test_compute_state_parse() -> None:
    good = {"survey_id": "s", "node_index": 2, "state": "prepared", "run_id": "r1"}
    assert ComputeState.parse(good) == ComputeState("s", 2, ResultState.PREPARED, "r1")
    assert ComputeState.parse({"survey_id": "s", "node_index": 2, "state": "none"}).run_id is None
    for bad in ({**good, "state": "done"}, {**good, "extra": 1}, {"survey_id": "s", "node_index": 2}):
        with pytest.raises(SurveyError) as exc:
            ComputeState.parse(bad)
        assert str(exc.value) == "peer sent a malformed compute state"


def test_malformed_caught_list_is_refused() -> None:
    good = {"survey_id": "s", "node_index": 0, "manifest_hash": "h", "sealed_result": "", "accepted": 1,
            "rejected": 0, "agreed_digest": "d", "computed_at": "t", "run_id": "r"}
    assert ResultShare.parse(good).caught == []
    for bad in (["1"], [True], "0", [1.5]):
        with pytest.raises(SurveyError, match="malformed result share"):
            ResultShare.parse({**good, "caught": bad})


def test_result_share_parse_checks_counts() -> None:
    good = {"survey_id": "s", "node_index": 0, "manifest_hash": "h", "sealed_result": "", "accepted": 1,
            "rejected": 0, "agreed_digest": "d", "computed_at": "t", "run_id": "r", "caught": [2]}
    assert ResultShare.parse(good).caught == [2]
    for bad in ({**good, "accepted": "1"}, {**good, "node_index": None}, {**good, "extra": 1}):
        with pytest.raises(SurveyError) as exc:
            ResultShare.parse(bad)
        assert str(exc.value) == "node sent a malformed result share"


# ========================================================================= enums and helpers

def test_enum_wire_values() -> None:
    """These strings travel between nodes, contributors and analysts and sit in node stores."""
    assert [s.value for s in SurveyState] == ["open", "closed", "computed", "purged"]
    assert [s.value for s in UploadStatus] == ["stored", "duplicate", "replaced"]
    assert [s.value for s in ResultState] == ["none", "prepared", "committed"]
    assert json.dumps([UploadStatus.STORED, ResultState.NONE]) == '["stored", "none"]'


def test_majority_outliers() -> None:
    assert majority_outliers(["a", "a", "b"]) == (2,)
    assert majority_outliers(["a", "a", "a"]) == ()
    assert majority_outliers(["a", "b"]) == ()  # no strict majority: nobody is named
    assert majority_outliers(["a", "b", "c", "a", "a"]) == (1, 2)


def test_error_detail() -> None:
    class Resp:
        def __init__(self, body: Any, text: str = "text", status_code: int = 500) -> None:
            self.body, self.text, self.status_code = body, text, status_code

        def json(self) -> Any:
            if isinstance(self.body, Exception):
                raise self.body
            return self.body

    assert error_detail(Resp({"detail": "survey is closed"})) == "survey is closed"
    assert error_detail(Resp({"error": "x"}, text="plain")) == "plain"
    assert error_detail(Resp(ValueError("not JSON"), status_code=502)) == "HTTP 502"
    assert error_detail(Resp(["a list"], status_code=400)) == "HTTP 400"


# -- the MPC parties' messages (mpc_nodes/channel_frame.py) --------------------------------

V: dict[str, Any] = json.loads((Path(__file__).parent / "vectors" / "channel_frame.json").read_text())
N = V["n"]


def _h(key: str, part: dict[str, Any]) -> bytes:
    return bytes.fromhex(part[key])


def test_vector_file_records_its_provenance() -> None:
    assert "generate_channel_frame.py" in V["provenance"] and "struct" in V["provenance"]


def test_frame_encodes_to_and_parses_from_the_vector_bytes() -> None:
    f = V["frame"]
    assert Round(f["round"]) is Round.VALIDATION  # the round numbers are part of the wire format
    frame = Frame(Round.VALIDATION, _h("signature", f), _h("view", f), _h("payload", f))
    assert encode_frame(frame) == _h("bytes", f)
    assert parse_frame(_h("bytes", f), Round.VALIDATION, N, f["payload_size"]) == frame
    assert parse_frame(_h("bytes", f), Round.VALIDATION, N) == frame  # any payload length


def test_echo_encodes_to_and_parses_from_the_vector_bytes() -> None:
    e = V["echo"]
    records = [EchoRecord(_h("digest", r), _h("view", r), _h("signature", r)) for r in e["records"]]
    assert encode_echo(Round(e["round"]), records) == _h("bytes", e)
    assert parse_echo(_h("bytes", e), Round(e["round"]), N) == records


def test_deal_and_signed_statement_match_the_vector_bytes() -> None:
    d, s = V["deal"], V["statement"]
    assert encode_deal(_h("payload", d)) == _h("bytes", d)
    assert parse_deal(_h("bytes", d), len(_h("payload", d))) == _h("payload", d)
    context = channel_context(s["survey_id"], s["manifest_hash"])
    got = statement(context, Round(s["round"]), _h("view", s), hashlib.sha256(_h("payload", s)).digest())
    assert got == _h("bytes", s)


@pytest.mark.parametrize("case", V["negatives"], ids=[c["name"] for c in V["negatives"]])
def test_tampered_message_raises_its_exact_error(case: dict[str, Any]) -> None:
    data = _h("bytes", case)
    with pytest.raises(FrameError) as exc:
        if case["kind"] == "frame":
            parse_frame(data, Round.VALIDATION, N, V["frame"]["payload_size"])
        else:
            parse_echo(data, Round.VALIDATION, N)
    assert str(exc.value) == case["error"]


def test_deal_of_the_wrong_form_is_refused() -> None:
    with pytest.raises(FrameError, match="^deal has 9 bytes, expected 10$"):
        parse_deal(b"SMP2DEAL\x00", 2)
    with pytest.raises(FrameError, match=r"^not a deal \(magic b'SMP2ECHO'\)$"):
        parse_deal(b"SMP2ECHO\x00\x00", 2)


def test_a_signature_too_long_for_the_echo_is_never_framed() -> None:
    with pytest.raises(ValueError, match="at most 80 fit a frame"):
        encode_frame(Frame(Round.AGREEMENT, bytes(81), bytes(16 * N), b""))
