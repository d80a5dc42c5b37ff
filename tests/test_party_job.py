"""The contract between ``mpc-node compute`` and its MPC party (mpc_nodes.party_job), and the
seams through which the cheating-node tests make one party deviate (mpc_nodes.cheats)."""

from __future__ import annotations

import ast
import dataclasses
import json
import types
from pathlib import Path
from typing import Any

import pytest

from conftest import make_survey
from mpc_nodes.channel import Channel
from mpc_nodes.channel_frame import Round, parse_frame
from mpc_nodes.cheats import CHEATING_CHANNELS, CheatingChannel
from mpc_nodes.party_links import Links
from mpc_nodes.party_job import (
    BucketFiles,
    CertificateLookup,
    Cheat,
    DpSpec,
    MatrixFile,
    PartyConfig,
    PartyFault,
    PartyFileError,
    PartyJob,
    PartyOutcome,
    SchemeSpec,
    SetStatement,
)
from protocol.validity import FIRST_ROUND, SECOND_ROUND, Opening, Reason

ROOT = Path(__file__).resolve().parent.parent
P = (1 << 127) - 1
CONFIG = PartyConfig(3, 1, 1, ("127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"), ("aa" * 32, "bb" * 32, "cc" * 32))
JOB = PartyJob(
    CONFIG, "s1", "ab" * 32, ("PEM0", "PEM1", "PEM2"), P, 5,
    SchemeSpec(("female", "male", "other"), ("eng",), (1000, 2000), 9000), BucketFiles(("b0", "b1"), 65536),
    100_000, 151, bytes(range(32)), tuple(SetStatement(bytes([j]) * 32, bytes([j]) * 70) for j in range(3)),
    CertificateLookup("ids.bin", "/n/node.db"), DpSpec("1.5", bytes(32)), 4, Cheat.VALIDATE)
OUTCOME = PartyOutcome([1, P - 1, 0], "c0ffee", [(3, Reason.ONE_HOT), (7, Reason.CONSISTENCY)], {7: [2], 9: []}, [2],
                       {"agreement": 0.25}, 88.5)


def test_every_party_file_round_trips() -> None:
    assert PartyConfig.parse(CONFIG.to_json()) == CONFIG
    without_2 = dataclasses.replace(CONFIG, excluded=(2,))
    assert PartyConfig.parse(without_2.to_json()) == without_2
    assert PartyJob.parse(JOB.to_json()) == JOB
    plain = dataclasses.replace(JOB, shares=MatrixFile("shares.bin"), set_statements=(), certificate_lookup=None,
                                dp=None, batch_rows=None, cheat=None)
    assert PartyJob.parse(plain.to_json()) == plain
    assert PartyOutcome.parse(OUTCOME.to_json()) == OUTCOME
    assert PartyFault.parse(PartyFault("node 2 lied", (2,)).to_json()) == PartyFault("node 2 lied", (2,))
    assert all(isinstance(r, Reason) for _, r in PartyOutcome.parse(OUTCOME.to_json()).invalid)


def _job_with(**changes: Any) -> str:
    obj = json.loads(JOB.to_json())
    obj.update(changes)
    return json.dumps(obj)


@pytest.mark.parametrize("text,error", [
    ("[]", "party job: not a JSON object"),
    ("{", "party job: not JSON"),
    (_job_with(rows="100"), "party job: field 'rows' must be of type int, not str"),
    (_job_with(rows=True), "party job: field 'rows' must be of type int, not bool"),
    (_job_with(field_modulus=P), "party job: field 'field_modulus' must be of type str, not int"),
    (_job_with(agreed_digest="00" * 31), "party job: field 'agreed_digest' must hold 32 bytes, not 31"),
    (_job_with(cheat="lie"), "party job: field 'cheat' names no deviation: 'lie'"),
    (_job_with(matrix_file="m.bin"), "party job: exactly one of 'buckets' and 'matrix_file' is needed"),
    (_job_with(certificates=["PEM", 1]), "party job: field 'certificates' must be a list of str"),
    (_job_with(party={**CONFIG.to_obj(), "pid": 3}),
     "party job party: pid, threshold and the lists of parties and fingerprints do not fit n"),
    (_job_with(party={**CONFIG.to_obj(), "excluded": [1]}),
     "party job party: field 'excluded' must list other parties, each once"),
    (_job_with(party={**CONFIG.to_obj(), "excluded": [2, 2]}),
     "party job party: field 'excluded' must list other parties, each once"),
    (_job_with(party={**CONFIG.to_obj(), "excluded": [3]}),
     "party job party: field 'excluded' must list other parties, each once"),
    (_job_with(set_statements=[{"digest": "00" * 32, "signature": "not base64!"}]),
     "party job set statement: field 'signature' is not base64"),
])
def test_a_bad_job_file_names_its_field(text: str, error: str) -> None:
    with pytest.raises(PartyFileError) as exc:
        PartyJob.parse(text)
    assert str(exc.value) == error


def test_a_bad_outcome_names_its_field() -> None:
    obj = json.loads(OUTCOME.to_json())
    with pytest.raises(PartyFileError, match="^party outcome: field 'invalid' must hold \\[row, reason\\] pairs$"):
        PartyOutcome.parse(json.dumps({**obj, "invalid": [[3, "bad luck"]]}))
    with pytest.raises(PartyFileError, match="^party outcome: field 'result_shares' must hold decimal integers$"):
        PartyOutcome.parse(json.dumps({**obj, "result_shares": ["-1"]}))
    with pytest.raises(PartyFileError, match="^party outcome: field 'run_id' is missing$"):
        PartyOutcome.parse(json.dumps({k: v for k, v in obj.items() if k != "run_id"}))


def _cheat_identifiers(tree: ast.AST) -> set[str]:
    """Names, attributes and imported names that speak of cheats (strings, comments and the
    error raised when cheating is *detected* aside)."""
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | \
        {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)} | \
        {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names} | \
        {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    return {x for x in names if "cheat" in x.lower() and x != "CheatingDetected"}


def test_every_cheat_has_a_channel_and_honest_code_never_mentions_one() -> None:
    assert set(CHEATING_CHANNELS) == set(Cheat)
    assert all(issubclass(c, CheatingChannel) for c in CHEATING_CHANNELS.values())
    for module in ("channel.py", "channel_frame.py"):
        assert _cheat_identifiers(ast.parse((ROOT / "mpc_nodes" / module).read_text())) == set(), module
    tree = ast.parse((ROOT / "mpc_nodes" / "mpc_program.py").read_text())
    mentions = {f.name for f in tree.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                and _cheat_identifiers(f)}
    assert mentions == {"_open_channel"}  # the one place a deviation is chosen


@pytest.fixture
def channels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[Cheat | None, Channel]:
    """Party 0's honest channel and each cheating one, with the node's real key (no network)."""
    s = make_survey(tmp_path, n=3, t=1)
    (tmp_path / ".config").mkdir()
    (tmp_path / ".config" / "party_0.key").write_bytes((s.node_dirs[0] / "tls.key").read_bytes())
    monkeypatch.chdir(tmp_path)
    links = Links(types.SimpleNamespace(parties=[None] * 3, pid=0), ["127.0.0.1:1"] * 3, 120.0)
    args = (links, [nd.tls_cert_pem for nd in s.manifest.nodes],
            s.manifest.survey_id, s.manifest.hash_hex())
    out: dict[Cheat | None, Channel] = {None: Channel(*args)}
    out.update({c: cls(*args, p=P) for c, cls in CHEATING_CHANNELS.items()})
    for ch in out.values():
        ch.view = bytes(16 * 3)
    return out


def _elements(payload: bytes) -> list[int]:
    return [int.from_bytes(payload[k: k + 16], "big") for k in range(0, len(payload), 16)]


def test_each_cheat_deviates_only_where_it_says(channels: dict[Cheat | None, Channel]) -> None:
    rows = 3
    openings = [(P - 1 if k == 0 else k) for k in range(rows * len(FIRST_ROUND))]
    validation = b"".join(v.to_bytes(16, "big") for v in openings)
    checks = [k + 100 for k in range(rows * len(SECOND_ROUND))]
    product_checks = b"".join(v.to_bytes(16, "big") for v in checks)
    counts = b"".join(v.to_bytes(16, "big") for v in (10, 20))
    agreement = bytes(range(64)) + bytes(3 * 113)
    honest = channels[None]
    for rnd, payload in ((Round.AGREEMENT, agreement), (Round.VALIDATION, validation),
                         (Round.PRODUCT_CHECKS, product_checks), (Round.COUNTS, counts)):
        for cheat, ch in channels.items():
            if cheat in (Cheat.CRASH, Cheat.STALL):  # they end the party: test_crash_and_stall_end_the_party
                continue
            said = ch.own_payload(rnd, payload)
            deviates = (cheat, rnd) in {(Cheat.AGREE, Round.AGREEMENT), (Cheat.VALIDATE, Round.VALIDATION),
                                        (Cheat.VALIDATE, Round.PRODUCT_CHECKS), (Cheat.OPEN, Round.COUNTS)}
            assert (said != payload) == deviates, (cheat, rnd)
            assert len(said) == len(payload)
    lied = _elements(channels[Cheat.VALIDATE].own_payload(Round.VALIDATION, validation))
    changed = [k for k, (a, b) in enumerate(zip(lied, openings)) if a != b]
    assert changed == [r * len(FIRST_ROUND) + Opening.CONSISTENCY for r in (0, 2)]  # every other row's Y...
    assert lied[0] == 0  # ...plus one, reduced mod p
    lied = _elements(channels[Cheat.VALIDATE].own_payload(Round.PRODUCT_CHECKS, product_checks))
    changed = [k for k, (a, b) in enumerate(zip(lied, checks)) if a != b]
    assert changed == [r * len(SECOND_ROUND) + SECOND_ROUND.index(Opening.ONE_HOT) for r in (0, 2)]  # ... and Z1
    assert [lied[k] - checks[k] for k in changed] == [1, 1]
    assert channels[Cheat.AGREE].own_payload(Round.AGREEMENT, agreement)[32:] == agreement[32:]
    assert _elements(channels[Cheat.OPEN].own_payload(Round.COUNTS, counts))[1:] == [20]
    shares = [5, 6, 7]
    assert honest.result_shares(shares) == shares
    assert channels[Cheat.RESULT].result_shares(shares)[1:] == [6, 7] != channels[Cheat.RESULT].result_shares(shares)


def test_drop_closes_its_link_to_one_peer_and_says_it_lost_a_third(channels: dict[Cheat | None, Channel]) -> None:
    from protocol.wire import AccusationKind

    closed: list[int] = []
    ch = channels[Cheat.DROP]  # aimed at no one in particular: its first peer, node 1
    ch.links.mpc.parties[1] = types.SimpleNamespace(
        protocol=types.SimpleNamespace(transport=types.SimpleNamespace(close=lambda: closed.append(1))))
    assert ch.own_payload(Round.AGREEMENT, b"x") == b"x" and closed == []
    assert ch.own_payload(Round.VALIDATION, b"z") == b"z" and closed == [1]
    assert ch.stop_claim(AccusationKind.LOST, (1,)) == (AccusationKind.LOST, (2,))
    assert channels[None].stop_claim(AccusationKind.LOST, (1,)) == (AccusationKind.LOST, (1,))


class _Died(Exception):
    pass


def test_crash_and_stall_end_the_party_when_validation_starts(channels: dict[Cheat | None, Channel],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import time

    slept: list[float] = []

    def die(code: int) -> None:
        raise _Died(code)

    monkeypatch.setattr(os, "_exit", die)
    monkeypatch.setattr(time, "sleep", slept.append)
    for cheat in (Cheat.CRASH, Cheat.STALL):
        ch = channels[cheat]
        assert ch.own_payload(Round.AGREEMENT, b"x") == b"x" and ch.own_payload(Round.COIN, b"y") == b"y"
        with pytest.raises(_Died):
            ch.own_payload(Round.VALIDATION, b"z")
    assert slept == [240.0]  # the stall: two stall timeouts without a word, then it dies


def test_cheats_that_change_what_is_sent(channels: dict[Cheat | None, Channel]) -> None:
    payload = bytes(range(64)) + bytes(3 * 113)
    frame, to_some = channels[None].outgoing(Round.AGREEMENT, payload)
    assert to_some == {} and parse_frame(frame, Round.AGREEMENT, 3).payload == payload
    frame, to_some = channels[Cheat.EQUIVOCATE].outgoing(Round.AGREEMENT, payload)
    other = parse_frame(to_some[1], Round.AGREEMENT, 3).payload  # the next peer hears another commitment
    assert list(to_some) == [1] and other[:32] == payload[:32] and other[32:64] != payload[32:64]
    assert parse_frame(frame, Round.AGREEMENT, 3).payload == payload
    for cheat in (Cheat.GARBAGE, Cheat.PICKLE):
        sent, _ = channels[cheat].outgoing(Round.VALIDATION, payload)
        assert not sent.startswith(b"SMP2")
        assert channels[cheat].outgoing(Round.AGREEMENT, payload)[0].startswith(b"SMP2")
    assert channels[Cheat.PICKLE].outgoing(Round.VALIDATION, payload)[0][:1] == b"\x80"
