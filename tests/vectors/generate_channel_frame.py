"""One-off generator of channel_frame.json (NOT run by the tests).

    cd <checkout> && python tests/vectors/generate_channel_frame.py

The bytes are concatenated here by hand with :mod:`struct` and :mod:`hashlib` from the layout
written down in ``mpc_nodes/channel_frame.py``'s docstring; nothing of the project is imported,
so the file pins the layout independently of the code that encodes and parses it.  Do not
regenerate casually: the point of a known-answer file is that it stays fixed while the code changes.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

HERE = Path(__file__).resolve().parent
P = (1 << 127) - 1
N = 3
ROUND = 3  # the validation round
SIGNATURE = bytes(range(1, 71))  # 70 bytes: any bytes do for the layout (no signature is checked here)
VIEW = b"".join(bytes([0xA0 + j]) * 16 for j in range(N))  # one 16-byte nonce per party
PAYLOAD = (1).to_bytes(16, "big") + (P - 1).to_bytes(16, "big")  # two field elements


def frame(rnd: int, sig: bytes, view: bytes, payload: bytes, magic: bytes = b"SMP2") -> bytes:
    return struct.pack(">4sIB", magic, rnd, len(sig)) + sig + view + payload


def echo(rnd: int, records: list[tuple[bytes, bytes, bytes]]) -> bytes:
    body = b"".join(d + v + struct.pack(">B", len(s)) + s + b"\0" * (80 - len(s)) for d, v, s in records)
    return b"SMP2" + b"ECHO" + struct.pack(">I", rnd) + body


def main() -> None:
    good = frame(ROUND, SIGNATURE, VIEW, PAYLOAD)
    payloads = [PAYLOAD, b"", b"\x07" * 5]
    sigs = [SIGNATURE, bytes(range(100, 171)), bytes(range(200, 256)) + bytes(16)]  # 70, 71 and 72 bytes
    records = [(hashlib.sha256(pl).digest(), VIEW, s) for pl, s in zip(payloads, sigs)]
    good_echo = echo(ROUND, records)
    survey_id, manifest_hash = "vector-survey", "ab" * 32
    context = hashlib.sha256(b'["' + survey_id.encode() + b'", "' + manifest_hash.encode() + b'"]').digest()
    signed = (b"salary-mpc/v2 party message\x00" + context + struct.pack(">I", ROUND) + hashlib.sha256(VIEW).digest()
              + hashlib.sha256(PAYLOAD).digest())
    header_and_view = 9 + len(SIGNATURE) + 16 * N
    bad_record = bytearray(good_echo)
    bad_record[12 + 32 + 16 * N] = 81  # record 0's signature length
    negatives = [
        ("wrong magic", "frame", frame(ROUND, SIGNATURE, VIEW, PAYLOAD, magic=b"SMP3"),
         "not a party frame (magic b'SMP3')"),
        ("truncated header", "frame", good[:5], "frame truncated: 5 bytes, its header alone has 9"),
        ("truncated view", "frame", good[: header_and_view - 20],
         f"frame truncated: {header_and_view - 20} bytes, its header, signature and view need {header_and_view}"),
        ("wrong round", "frame", frame(ROUND - 1, SIGNATURE, VIEW, PAYLOAD), f"frame of round {ROUND - 1}, expected "
                                                                             f"round {ROUND}"),
        ("signature length overflow", "frame", good[:8] + b"\xff" + good[9:], "frame signature length 255 exceeds 80"),
        ("payload too long", "frame", good + b"\0", "frame payload has 33 bytes, expected 32"),
        ("echo truncated", "echo", good_echo[:-1], f"echo has {len(good_echo) - 1} bytes, expected {len(good_echo)}"),
        ("echo wrong round", "echo", echo(ROUND + 1, records), f"echo of round {ROUND + 1}, expected round {ROUND}"),
        ("echo wrong magic", "echo", b"SMP2ECHX" + good_echo[8:], "not an echo (magic b'SMP2ECHX')"),
        ("echo signature length overflow", "echo", bytes(bad_record), "echo record 0: signature length 81 exceeds 80"),
    ]
    out = {
        "provenance": (
            "Generated once by tests/vectors/generate_channel_frame.py on 2026-12-04 by concatenating the fields "
            "with struct and hashlib (no project code imported): frame = 'SMP2' || round (4 bytes, big-endian) || "
            "signature length (1 byte) || signature || view (16 bytes per party) || payload; echo = 'SMP2' || 'ECHO' "
            "|| round (4 bytes) || per party: SHA-256(payload) || view || signature length (1) || signature "
            "zero-padded to 80 bytes; deal = 'SMP2' || 'DEAL' || payload; signed statement = label 'salary-mpc/v2 "
            "party message\\0' || SHA-256 of the JSON text [survey id, manifest hash] || round (4 bytes) || "
            "SHA-256(view) || SHA-256(payload). Negatives: tampered copies, parsed for round 3 among 3 parties "
            "with a 32-byte payload, each with the exact error the parser must raise. Bytes are hex."
        ),
        "n": N,
        "frame": {"round": ROUND, "signature": SIGNATURE.hex(), "view": VIEW.hex(), "payload": PAYLOAD.hex(),
                  "payload_size": len(PAYLOAD), "bytes": good.hex()},
        "echo": {"round": ROUND, "records": [{"digest": d.hex(), "view": v.hex(), "signature": s.hex()}
                                             for d, v, s in records], "bytes": good_echo.hex()},
        "deal": {"payload": PAYLOAD.hex(), "bytes": (b"SMP2DEAL" + PAYLOAD).hex()},
        "statement": {"survey_id": survey_id, "manifest_hash": manifest_hash, "round": ROUND, "view": VIEW.hex(),
                      "payload": PAYLOAD.hex(), "bytes": signed.hex()},
        "negatives": [{"name": name, "kind": kind, "bytes": data.hex(), "error": error}
                      for name, kind, data, error in negatives],
    }
    (HERE / "channel_frame.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
