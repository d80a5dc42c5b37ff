"""The byte layout of the messages the MPC parties exchange (pure functions, no MPC runtime).

Every broadcast round (:class:`Round`) sends one *frame* per party::

    magic "SMP2" | round (4 bytes, big-endian) | signature length (1 byte) | signature
    | view (16 bytes per party) | payload

The signature is the sender's ECDSA signature of :func:`statement` over the round, the SHA-256
of its view (the run nonces it received, which bind the message to this run) and the SHA-256 of
the payload.  After each round every party sends an *echo*: what it received from each party::

    magic "SMP2" | "ECHO" | round (4 bytes) | per party: payload SHA-256 (32) | view
    | signature length (1) | signature, zero-padded to 80 bytes

A private *deal* (one message per recipient) is ``"SMP2" | "DEAL" | payload``.  The parsers
raise :class:`FrameError` saying what is wrong; the channel turns that into naming the sender.
``tests/vectors/channel_frame.json`` pins these bytes.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from protocol.labels import Label

MAGIC = b"SMP2"
ECHO_TAG = b"ECHO"
DEAL_TAG = b"DEAL"
NONCE_BYTES = 16  # each party's run nonce; a view holds one per party
MAX_SIGNATURE = 80  # an ECDSA P-256 signature in DER has at most 72 bytes
_HEADER = struct.Struct(">4sIB")  # magic, round, signature length
_ECHO_HEADER = struct.Struct(">4s4sI")  # magic, "ECHO", round


class Round(IntEnum):
    """The rounds of one MPC run, in the order they happen.  The value is the round number in a
    frame and in the signed statement, so a message of one round is never taken for another's
    (numbers are never reused or renumbered: a round added later gets the next free one)."""

    AGREEMENT = 1  # agreed digest, every node's signed frozen-set digest, commitment to a nonce
    COIN = 2  # the committed nonces (the joint seed)
    VALIDATION = 3  # every party's shares of the first round's eight openings of every submission
    PRODUCT_CHECKS = 7  # ... and of the second round's two (once the first round's values are public)
    REVEAL = 4  # certificates, and the located nodes' shares, of rows whose odd share was located
    NOISE = 5  # private deal of the differential-privacy noise shares (not a broadcast)
    COUNTS = 6  # the shares of the released counts


class FrameError(ValueError):
    """Bytes that are not a well-formed message of the expected round."""


@dataclass(frozen=True)
class Frame:
    """One party's signed broadcast in one round."""

    round: int
    signature: bytes
    view: bytes
    payload: bytes


@dataclass(frozen=True)
class EchoRecord:
    """What a party says it received from one sender in a round."""

    digest: bytes  # SHA-256 of the payload
    view: bytes
    signature: bytes


def encode_frame(frame: Frame) -> bytes:
    if len(frame.signature) > MAX_SIGNATURE:
        raise ValueError(f"signature has {len(frame.signature)} bytes, at most {MAX_SIGNATURE} fit a frame")
    return _HEADER.pack(MAGIC, frame.round, len(frame.signature)) + frame.signature + frame.view + frame.payload


def parse_frame(data: bytes, rnd: Round, n: int, size: int | None = None) -> Frame:
    """The frame of round ``rnd`` among ``n`` parties (``size``: the exact payload length, or None)."""
    if len(data) < _HEADER.size:
        raise FrameError(f"frame truncated: {len(data)} bytes, its header alone has {_HEADER.size}")
    magic, number, slen = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise FrameError(f"not a party frame (magic {magic!r})")
    if number != rnd:
        raise FrameError(f"frame of round {number}, expected round {int(rnd)}")
    if slen > MAX_SIGNATURE:
        raise FrameError(f"frame signature length {slen} exceeds {MAX_SIGNATURE}")
    body_at = _HEADER.size + slen + NONCE_BYTES * n
    if len(data) < body_at:
        raise FrameError(f"frame truncated: {len(data)} bytes, its header, signature and view need {body_at}")
    if size is not None and len(data) - body_at != size:
        raise FrameError(f"frame payload has {len(data) - body_at} bytes, expected {size}")
    return Frame(number, data[_HEADER.size: _HEADER.size + slen], data[_HEADER.size + slen: body_at], data[body_at:])


def echo_record_size(n: int) -> int:
    return 32 + NONCE_BYTES * n + 1 + MAX_SIGNATURE


def encode_echo(rnd: Round, records: Sequence[EchoRecord]) -> bytes:
    return _ECHO_HEADER.pack(MAGIC, ECHO_TAG, rnd) + b"".join(
        r.digest + r.view + bytes([len(r.signature)]) + r.signature.ljust(MAX_SIGNATURE, b"\0") for r in records)


def parse_echo(data: bytes, rnd: Round, n: int) -> list[EchoRecord]:
    """The ``n`` records of an echo of round ``rnd``."""
    E, V = echo_record_size(n), NONCE_BYTES * n
    want = _ECHO_HEADER.size + E * n
    if len(data) != want:
        raise FrameError(f"echo has {len(data)} bytes, expected {want}")
    magic, tag, number = _ECHO_HEADER.unpack_from(data)
    if (magic, tag) != (MAGIC, ECHO_TAG):
        raise FrameError(f"not an echo (magic {magic + tag!r})")
    if number != rnd:
        raise FrameError(f"echo of round {number}, expected round {int(rnd)}")
    out = []
    for j in range(n):
        at = _ECHO_HEADER.size + E * j
        slen = data[at + 32 + V]
        if slen > MAX_SIGNATURE:
            raise FrameError(f"echo record {j}: signature length {slen} exceeds {MAX_SIGNATURE}")
        sig_at = at + 33 + V
        out.append(EchoRecord(data[at: at + 32], data[at + 32: at + 32 + V], data[sig_at: sig_at + slen]))
    return out


def encode_deal(payload: bytes) -> bytes:
    return MAGIC + DEAL_TAG + payload


def parse_deal(data: bytes, size: int) -> bytes:
    if len(data) != 8 + size:
        raise FrameError(f"deal has {len(data)} bytes, expected {8 + size}")
    if data[:8] != MAGIC + DEAL_TAG:
        raise FrameError(f"not a deal (magic {data[:8]!r})")
    return data[8:]


def channel_context(survey_id: str, manifest_hash: str) -> bytes:
    """What binds every signed party message to one survey."""
    return hashlib.sha256(json.dumps([survey_id, manifest_hash]).encode()).digest()


def statement(context: bytes, rnd: int, view: bytes, digest: bytes) -> bytes:
    """The bytes a party signs for its frame of round ``rnd`` (``digest``: SHA-256 of the payload)."""
    return Label.PARTY_MESSAGE.value + context + rnd.to_bytes(4, "big") + hashlib.sha256(view).digest() + digest


def looks_pickled(msg: bytes | bytearray) -> bool:
    """A pickle (protocol 2-5: PROTO opcode first, STOP last), told apart from other malformed
    bytes only to say so in the error; nothing here ever unpickles it."""
    return len(msg) >= 3 and msg[0] == 0x80 and 2 <= msg[1] <= 5 and msg[-1:] == b"."
