"""The MPC parties' message frame, echo, deal and signed statement against known-answer bytes
(tests/vectors/channel_frame.json, written by hand-concatenation in its generator), and the
exact error for each kind of tampered message."""

from __future__ import annotations

import hashlib
import json
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
