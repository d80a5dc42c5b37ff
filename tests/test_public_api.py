"""A node's public API gives nothing to someone without a token, case by case.

In-process (the real app, store and keys behind FastAPI's test client):

- a tokenless upload that would open and be malformed inside -- single, or a batch of 4,096 signed
  by the sender's own key -- is refused before any signature check or HPKE open, and changes
  nothing observable: submission ids, refused ids, counts, audit log, any table;
- anonymous reads: health says "ok" and the version, the manifest is public, every count and id
  list needs a node signature or the analyst credential;
- every CLI turns a damaged or foreign database or file into one line.

With real node processes over HTTPS (``slow``; scripts/public_api_attack.py does the work and
prints the figures):

- tokenless forgeries against a 3-node cluster leave the released result as it was (rejected 0);
- 32 concurrent bodies of the maximum bulk size keep the node below 400 MB while honest uploads
  are served (their p99 latency is printed);
- one address's failures are rate-limited (429 with Retry-After) while an office behind another
  address submits hundreds a minute, unhindered;
- 200 slowloris connections from one address do not hurt honest uploads from another.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

import mpc_nodes.ingest as ingest_mod
from conftest import Survey, api_node
from mpc_nodes.server import version
from mpc_nodes.store import NodeStore
from protocol.nodeauth import HEADER, sign_request
from protocol.wire import BULK_CONTENT_TYPE

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import public_api_attack as attack  # noqa: E402

SID = "test-survey"
BASE = f"/v1/surveys/{SID}"
#: The crypto an upload's checks may do, each of which must not run for a tokenless request.
CRYPTO = ("verify_batch", "verify_certificate", "open_share_block", "open_share_elements", "check_share")


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[Survey, TestClient, NodeStore]]:
    with api_node(tmp_path, tokens=5) as made:
        yield made


@pytest.fixture
def crypto_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the ingest's cryptographic steps as they are called."""
    calls: list[str] = []
    for name in CRYPTO:
        real = getattr(ingest_mod, name)

        def spy(*args: Any, _real: Callable[..., Any] = real, _name: str = name, **kwargs: Any) -> Any:
            calls.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(ingest_mod, name, spy)
    return calls


def everything(store: NodeStore, c: TestClient, s: Survey) -> dict[str, Any]:
    """All a node shows or keeps about a survey: its /ids answer, its count, and every row of
    every table of its database."""
    auth = {"Authorization": f"Bearer {s.credential}"}
    ids = c.get(f"{BASE}/ids", headers=auth).json()
    status = c.get(f"{BASE}/status", headers=auth).json()
    db = sqlite3.connect(f"file:{store.path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        rows = {t: db.execute(f"SELECT * FROM {t}").fetchall() for t in tables if t != "sqlite_sequence"}
    finally:
        db.close()
    return {"ids": ids["submission_ids"], "refused": ids["refused_ids"], "count": status["submissions"],
            "rows": rows}


def honest(s: Survey, c: TestClient, token: str) -> str:
    sid, body = attack.honest_single(s.manifest, 0, token)
    r = c.post(f"{BASE}/submissions", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    return sid


# -- tokenless uploads ------------------------------------------------------------------------------

def test_a_tokenless_malformed_upload_changes_nothing(node: tuple[Survey, TestClient, NodeStore],
                                                      crypto_calls: list[str]) -> None:
    """The issue's first case, one record: well sealed to this node, well signed, malformed
    inside (its share is not the one committed to) -- and no token.  Before the fix it was
    recorded as refused and counted in ``rejected``."""
    s, c, store = node
    honest(s, c, s.tokens[0])
    before = everything(store, c, s)
    crypto_calls.clear()
    for token in ("made-up", secrets.token_urlsafe(32), s.tokens[0] + "x"):
        r = c.post(f"{BASE}/submissions", content=attack.forged_single(s.manifest, 0, token),
                   headers={"content-type": "application/json"})
        assert (r.status_code, r.json()["reason"]) == (403, "unknown-token")
    assert crypto_calls == []
    assert everything(store, c, s) == before
    # the same upload with a valid token is opened, checked, refused and put on record once
    r = c.post(f"{BASE}/submissions", content=attack.forged_single(s.manifest, 0, s.tokens[1]),
               headers={"content-type": "application/json"})
    assert (r.status_code, r.json()["reason"]) == (400, "share-not-committed")
    assert "open_share_elements" in crypto_calls and len(everything(store, c, s)["refused"]) == 1


def test_a_tokenless_malformed_batch_of_4096_changes_nothing(node: tuple[Survey, TestClient, NodeStore],
                                                            crypto_calls: list[str]) -> None:
    """The issue's batches: 4,096 records signed by the sender's own key, sealed to this node,
    shares not matching their commitments, made-up tokens (and one with a single made-up token
    among valid ones): 403 before the signature is checked or the block opened."""
    s, c, store = node
    honest(s, c, s.tokens[0])
    before = everything(store, c, s)
    crypto_calls.clear()
    forged = attack.forged_batch(s.manifest, 0, [secrets.token_urlsafe(32) for _ in range(4096)], 4096)
    mixed = attack.forged_batch(s.manifest, 0, [*s.tokens[1:4], "made-up"], 4)
    for body, detail in ((forged, "record 0 of the batch"), (mixed, "record 3 of the batch")):
        r = c.post(f"{BASE}/batches", content=body, headers={"content-type": BULK_CONTENT_TYPE})
        assert (r.status_code, r.json()["reason"]) == (403, "unknown-token")
        assert r.json()["detail"] == f"{detail}: unknown participation token for this survey"
    assert crypto_calls == []
    assert everything(store, c, s) == before


def test_a_refusal_with_a_valid_token_counts_once_and_a_later_upload_replaces_it(
        node: tuple[Survey, TestClient, NodeStore]) -> None:
    s, c, store = node
    first = json.loads(attack.forged_single(s.manifest, 0, s.tokens[1]))["submission_id"]
    for _ in range(2):  # the first upload's refusal stands; a second malformed one adds nothing
        c.post(f"{BASE}/submissions", content=attack.forged_single(s.manifest, 0, s.tokens[1]),
               headers={"content-type": "application/json"})
    view = everything(store, c, s)
    assert len(view["refused"]) == 1 and first not in view["refused"]  # (a fresh id each time)
    assert [e for _, _, _, e, *_ in store.audit_rows()].count("refused") == 1
    sid = honest(s, c, s.tokens[1])
    view = everything(store, c, s)
    assert view["refused"] == [] and view["ids"] == [sid]
    # with the token used, a malformed upload (even one asking to replace) is not recorded
    c.post(f"{BASE}/submissions", content=attack.forged_single(s.manifest, 0, s.tokens[1]),
           headers={"content-type": "application/json"})
    assert everything(store, c, s)["refused"] == []


def test_a_closed_survey_refuses_tokenless_uploads_before_looking_at_them(
        node: tuple[Survey, TestClient, NodeStore], crypto_calls: list[str]) -> None:
    s, c, store = node
    stored_body = attack.honest_single(s.manifest, 0, s.tokens[0])[1]
    assert c.post(f"{BASE}/submissions", content=stored_body, headers={"content-type": "application/json"}
                  ).status_code == 200
    store.close_survey(SID, "test")
    crypto_calls.clear()
    r = c.post(f"{BASE}/submissions", content=attack.forged_single(s.manifest, 0, "made-up"),
               headers={"content-type": "application/json"})
    assert (r.status_code, r.json()["reason"]) == (409, "survey-closed")
    r = c.post(f"{BASE}/batches", content=attack.forged_batch(s.manifest, 0, ["made-up"], 2),
               headers={"content-type": BULK_CONTENT_TYPE})
    assert (r.status_code, r.json()["reason"]) == (409, "survey-closed")
    assert crypto_calls == []
    # a repeat of a stored upload is still answered
    r = c.post(f"{BASE}/submissions", content=stored_body, headers={"content-type": "application/json"})
    assert (r.status_code, r.json()["status"]) == (200, "duplicate")


# -- anonymous reads ----------------------------------------------------------------------------------

def test_anonymous_reads_reveal_only_what_the_manifest_says(node: tuple[Survey, TestClient, NodeStore]) -> None:
    s, c, store = node
    honest(s, c, s.tokens[0])
    health = c.get("/v1/health")
    assert health.status_code == 200 and health.json() == {"ok": True, "version": version()}
    assert c.get(f"{BASE}/manifest").content == s.manifest.canonical_bytes()  # public by design
    for what in ("status", "ids", "compute", "result"):
        for headers in ({}, {"Authorization": f"Bearer {s.tokens[1]}"}, {"Authorization": "Bearer "},
                        {HEADER: "0:1:AAAA"}):
            r = c.get(f"{BASE}/{what}", headers=headers)
            assert (r.status_code, r.json()["reason"]) == (403, "credential-refused"), (what, headers, r.text)
            assert "submissions" not in r.json() and "count" not in r.json()


def test_the_live_count_is_served_to_the_analyst_and_the_nodes(node: tuple[Survey, TestClient, NodeStore]) -> None:
    s, c, store = node
    honest(s, c, s.tokens[0])
    by_analyst = c.get(f"{BASE}/status", headers={"Authorization": f"Bearer {s.credential}"})
    assert by_analyst.status_code == 200 and by_analyst.json()["submissions"] == 1
    key1 = (s.node_dirs[1] / "tls.key").read_bytes()
    by_peer = c.get(f"{BASE}/status", headers={HEADER: sign_request(key1, 1, "GET", f"{BASE}/status", s.manifest)})
    assert by_peer.status_code == 200 and by_peer.json() == by_analyst.json()


# -- one-line errors of every CLI -------------------------------------------------------------------

def _one_line(result: Any, prog: str) -> str:
    assert result.exit_code == 1, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: ") and "Traceback" not in result.output
    return str(lines[0])


def _damage_page(path: Path, page: int) -> None:
    with open(path, "r+b") as f:
        f.seek(4096 * page)
        f.write(b"\xa5" * 4096)


def test_mpc_node_turns_a_damaged_or_foreign_database_into_one_line(survey: Survey) -> None:
    from mpc_nodes.cli import main

    d = survey.node_dirs[0]
    runner = CliRunner()
    init = runner.invoke(main, ["init", "--dir", str(d), "--bundle", str(survey.dir / "node-bundle.json")])
    assert init.exit_code == 0, init.output
    db = d / "node.db"
    commands = [["status", "--dir", str(d), "--no-peers"], ["audit", "--dir", str(d), "--verify"],
                ["purge", "--dir", str(d), "--yes"], ["compute", "--dir", str(d), "--timeout", "1"]]

    def replace_database() -> None:  # the file and its write-ahead log
        for f in d.glob("node.db*"):
            f.unlink()

    replace_database()
    db.write_bytes(secrets.token_bytes(16384))
    for cmd in commands:
        assert _one_line(runner.invoke(main, cmd), "mpc-node").endswith("is not a node database, or it is damaged "
                                                                         "(file is not a database)")
    replace_database()
    other = sqlite3.connect(db)
    other.execute("CREATE TABLE invoices (id INTEGER)")
    other.commit()
    other.close()
    before = db.read_bytes()
    for cmd in commands:
        assert _one_line(runner.invoke(main, cmd), "mpc-node").endswith("(it holds another program's data)")
    assert db.read_bytes() == before
    replace_database()
    assert runner.invoke(main, ["init", "--dir", str(d), "--bundle", str(survey.dir / "node-bundle.json")]
                         ).exit_code == 0
    checkpointed = sqlite3.connect(db)
    checkpointed.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    checkpointed.close()
    _damage_page(db, 1)  # the surveys table: read only after the database opened
    assert _one_line(runner.invoke(main, commands[0]), "mpc-node") == (
        "mpc-node: error: the node database cannot be read, it is damaged (database disk image is malformed)")
    (d / "tls.key").write_text("garbage")
    assert _one_line(runner.invoke(main, commands[0]), "mpc-node") == (
        f"mpc-node: error: cannot read the node's tls.key in {d} (missing or damaged)")


def test_the_analyst_and_the_contributor_turn_damaged_files_into_one_line(survey: Survey, tmp_path: Path) -> None:
    from analyst.cli import main as analyst
    from contributor.cli import main as submit

    runner = CliRunner()
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"\x00\xff" + secrets.token_bytes(300))
    secret = survey.dir / "analyst-secret.json"
    kept = secret.read_bytes()
    secret.write_bytes(garbage.read_bytes())
    for cmd in ("status", "close", "results"):
        _one_line(runner.invoke(analyst, [cmd, "--survey", str(survey.dir)]), "salary-analyst")
    secret.write_bytes(kept)
    _one_line(runner.invoke(analyst, ["report", str(garbage), "--report", str(tmp_path / "r.html")]),
              "salary-analyst")
    for args in (["--survey", str(garbage), "--gender", "female", "--salary", "10"],
                 ["--survey", str(survey.dir / "manifest.json"), "--csv", str(garbage), "--tokens",
                  str(survey.dir / "tokens.txt")],
                 ["--resume", str(garbage)]):
        _one_line(runner.invoke(submit, args, env={"SALARY_TOKEN": survey.tokens[0]}), "salary-submit")


# -- real nodes over HTTPS ----------------------------------------------------------------------------

@pytest.mark.slow
def test_tokenless_forgeries_leave_every_node_and_the_result_as_they_were(tmp_path: Path) -> None:
    """The tokenless forgery attack on a 3-node cluster: 20 single forgeries and 3 batches of 4,096
    to every node (a node that recorded refusals before the token check would count 3 x 12,308
    fake refused ids in ``rejected``)."""
    s = attack.run_forgeries(tmp_path, honest=12, singles=20, batches=3, batch_records=4096, say=lambda _: None)
    print(json.dumps(s, indent=2))
    assert s["answers"] == {"single 403 unknown-token": 60, "batch 403 unknown-token": 9}
    assert s["unchanged"] == [True, True, True] and s["refused_ids_after"] == [0, 0, 0]
    assert (s["accepted"], s["rejected"]) == (12, 0)


@pytest.mark.slow
@pytest.mark.parametrize("insider", [False, True], ids=["tokenless", "valid-tokens"])
def test_32_concurrent_bodies_of_the_maximum_size_keep_the_node_below_400_mb(tmp_path: Path, insider: bool) -> None:
    """32 clients (32 addresses) send 48 MiB bulk bodies for 15 s while 4 contributors upload;
    node 0's peak resident memory (VmHWM) stays at or below 400 MB and every honest upload is
    stored.  ``valid-tokens``: the bodies pass the token check and are opened and checked in
    full, the costliest request there is."""
    s = attack.run_memory(tmp_path, attackers=32, honest=4, duration=15, insider=insider, say=lambda _: None)
    print(json.dumps(s, indent=2))
    assert s["attack_body_mib"] >= 47.9 and s["attack_requests"] > 32
    assert s["peak_rss_mb"] <= 400, s
    assert s["honest_stored"] > 0 and s["honest_failures"] == 0 and s["honest_all_in_store"], s


@pytest.mark.slow
def test_failures_from_one_address_are_rate_limited_and_an_office_is_not(tmp_path: Path) -> None:
    """A forger gets about 120 failed requests answered, then 429 with Retry-After (about two a
    second after that); an office behind another address submits 300 uploads and 30 repeats
    without --replace (409s) in a few seconds with no 429; the forger is heard again once it has
    waited."""
    s = attack.run_rate_limit(tmp_path, forger_seconds=10, office_uploads=300, say=lambda _: None)
    print(json.dumps(s, indent=2))
    office, forger = s["office"], s["forger"]
    assert office["answers"] == {"200": 300, "409": 30} and s["office_all_stored"] and s["node_count"] == 300
    assert office["per_minute"] >= 300
    assert 110 <= forger["requests_before_first_429"] <= 150
    assert forger["answers"]["403 unknown-token"] <= 120 + 2 * 10 + 5
    assert forger["answers"]["429 too-many-failures"] > 0 and forger["retry_after_range"][0] >= 1
    assert s["forger_after_waiting"] == 403


@pytest.mark.slow
def test_200_slowloris_connections_do_not_hurt_honest_uploads(tmp_path: Path) -> None:
    """What held before must keep holding now that bodies are reserved: 200 slow clients from one
    address for 20 s (100 slow in their headers, 100 declaring 400,000-byte bodies sent a byte a
    second) take at most that address's share of the pool (8 MiB: 20 bodies; the others are
    answered 503), and 200 uploads from another address all go in at the first attempt."""
    s = attack.run_slowloris(tmp_path, connections=200, seconds=20, honest_uploads=200, say=lambda _: None)
    print(json.dumps(s, indent=2))
    assert s["honest_attempts"] == {"200": 200} and s["honest_all_in_store"], s
    assert s["slow_outcomes"].get("HTTP/1.1 503 Service Unavailable", 0) == 100 - 20, s
