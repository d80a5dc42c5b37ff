"""The node's durable SQLite store: ingest rules, agreement, result, purge, audit chain, durability."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import mpc_nodes.store as store_mod
from conftest import Survey, make_survey
from mpc_nodes.keys import load_public
from mpc_nodes.store import NodeStore, _audit_hash
from protocol.envelope import sealed_share_length
from protocol.errors import (
    DuplicateSubmission,
    InvalidManifest,
    InvalidToken,
    SurveyClosed,
    SurveyError,
    TokenUsed,
)
from protocol.tokens import new_submission_id, token_hash
from protocol.wire import SurveyState, set_digest

SID = "test-survey"


def bundle_of(survey: Survey) -> dict[str, Any]:
    return dict(json.loads((survey.dir / "node-bundle.json").read_text()))


def open_store(survey: Survey, node: int = 0) -> NodeStore:
    store = NodeStore(survey.node_dirs[node] / "node.db")
    info = load_public(survey.node_dirs[node])
    store.import_survey(bundle_of(survey), info.hpke_public_key, info.tls_cert_sha256)
    return store


def reopen(store: NodeStore) -> NodeStore:
    """Drop the store's connection and open the database file afresh."""
    store.close()
    return NodeStore(store.path)


def close_survey(store: NodeStore, reason: str = "test") -> bool:
    return store.close_survey(SID, reason)


def envelope(tag: int = 0) -> bytes:
    return hashlib.sha256(b"env%d" % tag).digest() * 8 + b"\x00" * (sealed_share_length(6) - 256)


@pytest.fixture
def store(survey: Survey) -> Iterator[NodeStore]:
    s = open_store(survey)
    yield s
    s.close()


@pytest.fixture
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> list[dt.datetime]:
    """The store's clock, advanced by the test: ``clock[0] = ...``."""
    clock = [dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.timezone.utc)]
    monkeypatch.setattr(store_mod, "now_utc", lambda: clock[0])
    return clock


# ------------------------------------------------------------------------------------- import

def test_import_records_node_index_and_state(survey: Survey) -> None:
    for node in (0, 2):
        s = open_store(survey, node)
        rec = s.survey(SID)
        assert rec.node_index == node
        assert rec.manifest == survey.manifest
        assert rec.manifest_bytes == survey.manifest.canonical_bytes()
        assert s.survey_ids() == [SID]
        assert s.state(SID) == SurveyState.OPEN
        s.close()


def test_import_is_idempotent(store: NodeStore, survey: Survey) -> None:
    info = load_public(survey.node_dirs[0])
    again = store.import_survey(bundle_of(survey), info.hpke_public_key, info.tls_cert_sha256)
    assert again == survey.manifest
    assert store.survey_ids() == [SID]
    ack = store.accept(SID, new_submission_id(), survey.tokens[0], envelope(), False)
    assert ack.status == "stored"


def test_import_refuses_bundle_without_this_nodes_keys(survey: Survey, tmp_path: Path) -> None:
    s = NodeStore(tmp_path / "x.db")
    me = load_public(survey.node_dirs[0])
    other = load_public(survey.node_dirs[1])
    msg = "this node's keys do not appear in the survey manifest"
    for hpke, cert in [("11" * 32, me.tls_cert_sha256), (me.hpke_public_key, "22" * 32),
                       (me.hpke_public_key, other.tls_cert_sha256), (other.hpke_public_key, me.tls_cert_sha256)]:
        with pytest.raises(InvalidManifest, match=msg):
            s.import_survey(bundle_of(survey), hpke, cert)
    assert s.survey_ids() == []
    # A node whose keys belong to a different survey's nodes.
    stranger = make_survey(tmp_path / "other", n=3)
    st_info = load_public(stranger.node_dirs[0])
    with pytest.raises(InvalidManifest, match=msg):
        s.import_survey(bundle_of(survey), st_info.hpke_public_key, st_info.tls_cert_sha256)
    assert s.survey_ids() == []
    assert s.verify_audit() == 0


def test_import_refuses_other_manifest_under_same_id(store: NodeStore, survey: Survey) -> None:
    b = bundle_of(survey)
    b["manifest"]["title"] = "A different survey"
    info = load_public(survey.node_dirs[0])
    with pytest.raises(InvalidManifest, match=f"survey {SID} already exists here with another manifest"):
        store.import_survey(b, info.hpke_public_key, info.tls_cert_sha256)
    assert store.survey(SID).manifest.title == survey.manifest.title


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b.pop("token_hashes"), "token_hashes must be a list"),
        (lambda b: b.__setitem__("token_hashes", ["abc"]), "token_hashes must be a list"),
        (lambda b: b.pop("analyst_credential_sha256"), "analyst_credential_sha256 is missing"),
        (lambda b: b.pop("manifest"), "must be a JSON object with a 'manifest'"),
    ],
)
def test_import_refuses_malformed_bundle(survey: Survey, tmp_path: Path, mutate: Any, message: str) -> None:
    s = NodeStore(tmp_path / "y.db")
    b = bundle_of(survey)
    mutate(b)
    info = load_public(survey.node_dirs[0])
    with pytest.raises(InvalidManifest, match=message):
        s.import_survey(b, info.hpke_public_key, info.tls_cert_sha256)
    assert s.survey_ids() == []


def test_unknown_survey(store: NodeStore) -> None:
    with pytest.raises(SurveyError, match="unknown survey 'nope'"):
        store.state("nope")
    with pytest.raises(SurveyError, match="unknown survey 'nope'"):
        store.close_survey("nope", "x")


def test_check_analyst(store: NodeStore, survey: Survey) -> None:
    store.check_analyst(SID, survey.credential)
    for bad in [None, "", survey.tokens[0], survey.credential + "x"]:
        with pytest.raises(InvalidToken, match="analyst credential missing or wrong"):
            store.check_analyst(SID, bad)


# ------------------------------------------------------------------------------------- ingest

def test_accept_stores(store: NodeStore, survey: Survey, fixed_clock: list[dt.datetime]) -> None:
    sid, env = new_submission_id(), envelope(1)
    ack = store.accept(SID, sid, survey.tokens[0], env, False)
    assert ack.status == "stored"
    assert (ack.survey_id, ack.submission_id, ack.node_index) == (SID, sid, 0)
    assert ack.envelope_sha256 == hashlib.sha256(env).hexdigest()
    assert ack.stored_at == "2026-01-01T12:00:00Z"
    assert ack.replaced_submission_id is None
    assert store.count(SID) == 1 and store.submission_ids(SID) == [sid]
    assert list(store.envelopes(SID, [sid])) == [(sid, env)]


def test_duplicate_returns_original_ack(store: NodeStore, survey: Survey, fixed_clock: list[dt.datetime]) -> None:
    sid, env = new_submission_id(), envelope(1)
    first = store.accept(SID, sid, survey.tokens[0], env, False)
    fixed_clock[0] += dt.timedelta(hours=1)
    again = store.accept(SID, sid, survey.tokens[0], env, False)
    assert again.status == "duplicate"
    assert again.stored_at == first.stored_at == "2026-01-01T12:00:00Z"
    assert dataclasses.replace(again, status="stored") == first
    # Also with replace=True: a retry of the same upload is still a duplicate, not a replacement.
    assert store.accept(SID, sid, survey.tokens[0], env, True).status == "duplicate"
    assert store.count(SID) == 1


def test_same_id_different_content_is_refused(store: NodeStore, survey: Survey) -> None:
    sid = new_submission_id()
    store.accept(SID, sid, survey.tokens[0], envelope(1), False)
    with pytest.raises(DuplicateSubmission, match="submission id already used with different content"):
        store.accept(SID, sid, survey.tokens[0], envelope(2), False)
    with pytest.raises(DuplicateSubmission):
        store.accept(SID, sid, survey.tokens[1], envelope(1), False)  # same bytes, other token
    with pytest.raises(DuplicateSubmission):
        store.accept(SID, sid, survey.tokens[0], envelope(2), True)
    assert list(store.envelopes(SID, [sid])) == [(sid, envelope(1))]


def test_used_token_without_replace(store: NodeStore, survey: Survey) -> None:
    first = new_submission_id()
    store.accept(SID, first, survey.tokens[0], envelope(1), False)
    with pytest.raises(TokenUsed, match="already used; submit with --replace"):
        store.accept(SID, new_submission_id(), survey.tokens[0], envelope(2), False)
    assert store.submission_ids(SID) == [first]


def test_replace(store: NodeStore, survey: Survey) -> None:
    old, new = new_submission_id(), new_submission_id()
    other = new_submission_id()
    store.accept(SID, old, survey.tokens[0], envelope(1), False)
    store.accept(SID, other, survey.tokens[1], envelope(3), False)
    ack = store.accept(SID, new, survey.tokens[0], envelope(2), True)
    assert ack.status == "replaced" and ack.replaced_submission_id == old
    assert sorted(store.submission_ids(SID)) == sorted([new, other])
    assert old not in store.submission_ids(SID)
    with pytest.raises(SurveyError, match=f"submission {old} is missing"):
        list(store.envelopes(SID, [old]))
    assert list(store.envelopes(SID, [new])) == [(new, envelope(2))]
    # The old id is gone: re-uploading it now counts as a new (token-used) upload, not a duplicate.
    with pytest.raises(TokenUsed):
        store.accept(SID, old, survey.tokens[0], envelope(1), False)
    receipts = [json.loads(r[4]) for r in store.audit_rows() if r[3] == "receipt"]
    assert receipts[-1] == {"submission_id": new, "envelope_sha256": ack.envelope_sha256, "replaced": old}


def test_replace_without_earlier_submission_is_a_plain_store(store: NodeStore, survey: Survey) -> None:
    ack = store.accept(SID, new_submission_id(), survey.tokens[3], envelope(1), True)
    assert ack.status == "stored" and ack.replaced_submission_id is None


@pytest.mark.parametrize("token", ["", "not-a-token", "x" * 43])
def test_unknown_token(store: NodeStore, survey: Survey, token: str) -> None:
    with pytest.raises(InvalidToken) as exc:
        store.accept(SID, new_submission_id(), token, envelope(), False)
    assert type(exc.value) is InvalidToken
    assert str(exc.value) == "unknown participation token for this survey"
    assert store.count(SID) == 0


def test_token_hash_is_not_a_token(store: NodeStore, survey: Survey) -> None:
    # Knowing the stored hash must not let anyone submit.
    with pytest.raises(InvalidToken, match="unknown participation token"):
        store.accept(SID, new_submission_id(), token_hash(survey.tokens[0]), envelope(), False)


def test_token_of_another_survey(store: NodeStore, survey: Survey, tmp_path: Path) -> None:
    other = make_survey(tmp_path / "other", n=3)
    with pytest.raises(InvalidToken):
        store.accept(SID, new_submission_id(), other.tokens[0], envelope(), False)


def test_closed_survey_refuses_new_but_acknowledges_duplicates(
    store: NodeStore, survey: Survey, fixed_clock: list[dt.datetime]
) -> None:
    sid = new_submission_id()
    first = store.accept(SID, sid, survey.tokens[0], envelope(1), False)
    fixed_clock[0] += dt.timedelta(minutes=5)
    assert close_survey(store) is True
    assert close_survey(store) is False  # idempotent
    assert store.state(SID) == SurveyState.CLOSED
    with pytest.raises(SurveyClosed, match=f"survey {SID} is closed and accepts no more submissions"):
        store.accept(SID, new_submission_id(), survey.tokens[1], envelope(2), False)
    with pytest.raises(SurveyClosed):  # replacing is refused too
        store.accept(SID, new_submission_id(), survey.tokens[0], envelope(2), True)
    with pytest.raises(SurveyClosed):  # closed is reported before the token is looked at
        store.accept(SID, new_submission_id(), "bogus", envelope(2), False)
    fixed_clock[0] += dt.timedelta(minutes=5)
    again = store.accept(SID, sid, survey.tokens[0], envelope(1), False)
    assert again.status == "duplicate" and again.stored_at == first.stored_at
    with pytest.raises(DuplicateSubmission):
        store.accept(SID, sid, survey.tokens[0], envelope(9), False)
    assert store.submission_ids(SID) == [sid]


def test_closing_time_closes(tmp_path: Path) -> None:
    past = make_survey(tmp_path, closes_in=dt.timedelta(seconds=-1))
    s = open_store(past)
    assert s.state(SID) == SurveyState.CLOSED
    with pytest.raises(SurveyClosed):
        s.accept(SID, new_submission_id(), past.tokens[0], envelope(), False)


def test_state_follows_the_clock(store: NodeStore, survey: Survey) -> None:
    closes = survey.manifest.closes_at_dt()
    assert store.state(SID, now=closes - dt.timedelta(seconds=1)) == SurveyState.OPEN
    assert store.state(SID, now=closes) == SurveyState.CLOSED


# ------------------------------------------------------------------------- agreement, result

def _fill(store: NodeStore, survey: Survey, k: int) -> list[str]:
    ids = [new_submission_id() for _ in range(k)]
    for i, sid in enumerate(ids):
        store.accept(SID, sid, survey.tokens[i], envelope(i), False)
    return ids


def test_record_agreement(store: NodeStore, survey: Survey) -> None:
    ids = _fill(store, survey, 4)
    close_survey(store)
    digest = store.record_agreement(SID, ids[:3])
    assert digest == set_digest(ids[:3])
    assert store.record_agreement(SID, list(reversed(ids[:3]))) == digest  # same set, any order
    with pytest.raises(SurveyError, match="differs from the one frozen by an earlier run"):
        store.record_agreement(SID, ids)
    with pytest.raises(SurveyError, match="differs from the one frozen"):
        store.record_agreement(SID, ids[:2])
    events = [r[3] for r in store.audit_rows()]
    assert events.count("agreement") == 1


def test_store_result_two_phase_and_only_once(store: NodeStore, survey: Survey) -> None:
    ids = _fill(store, survey, 2)
    close_survey(store)
    d = store.record_agreement(SID, ids)
    assert store.result(SID) is None and store.result_state(SID) == ("none", None)
    store.store_result(SID, b"sealed-0", 2, 0, d, "run0")
    # prepared: not served, not computed; a later run of an unfinished compute replaces it
    assert store.result(SID) is None and store.state(SID) == "closed"
    store.store_result(SID, b"sealed-1", 2, 0, d, "run1")
    assert store.result_state(SID) == ("prepared", "run1")
    with pytest.raises(SurveyError, match="no prepared result of run run0 to commit"):
        store.commit_result(SID, "run0")
    store.commit_result(SID, "run1")
    store.commit_result(SID, "run1")  # idempotent
    assert store.state(SID) == SurveyState.COMPUTED and store.result_state(SID) == ("committed", "run1")
    with pytest.raises(SurveyError, match=f"survey {SID} already has a result; it is released only once"):
        store.store_result(SID, b"sealed-2", 2, 0, d, "run2")
    res = store.result(SID)
    assert res is not None and (res.sealed, res.accepted, res.rejected, res.agreed_digest) == (b"sealed-1", 2, 0, d)
    assert res.run_id == "run1"
    events = [r[3] for r in store.audit_rows()]
    assert events.count("compute") == 2 and events.count("commit") == 1


def test_computed_survey_accepts_nothing(store: NodeStore, survey: Survey) -> None:
    ids = _fill(store, survey, 1)
    store.store_result(SID, b"r", 1, 0, set_digest(ids), "run")
    store.commit_result(SID, "run")
    with pytest.raises(SurveyClosed):
        store.accept(SID, new_submission_id(), survey.tokens[5], envelope(), False)


# ------------------------------------------------------------------------------------- purge

def test_purge_before_compute_refused(store: NodeStore, survey: Survey) -> None:
    ids = _fill(store, survey, 2)
    with pytest.raises(SurveyError, match="purge is allowed only after the result has been computed"):
        store.purge(SID)
    close_survey(store)
    store.record_agreement(SID, ids)
    with pytest.raises(SurveyError, match="only after the result"):
        store.purge(SID)
    assert [sid for sid, _ in store.envelopes(SID, ids)] == ids


def test_purge_after_compute(store: NodeStore, survey: Survey) -> None:
    ids = _fill(store, survey, 3)
    close_survey(store)
    d = store.record_agreement(SID, ids)
    store.store_result(SID, b"sealed", 3, 0, d, "run")
    with pytest.raises(SurveyError, match="only after the result"):
        store.purge(SID)  # prepared is not computed: the shares may still be needed for a rerun
    store.commit_result(SID, "run")
    before = len(store.audit_rows())
    assert store.purge(SID) == 3
    assert store.state(SID) == SurveyState.PURGED
    raw = sqlite3.connect(store.path)
    try:
        rows = raw.execute("SELECT envelope, envelope_sha256 FROM submissions WHERE survey_id=?", (SID,)).fetchall()
    finally:
        raw.close()
    assert len(rows) == 3 and all(env is None and len(h) == 64 for env, h in rows)
    with pytest.raises(SurveyError, match="is missing from this node's store"):
        list(store.envelopes(SID, ids[:1]))
    rows_after = store.audit_rows()
    assert len(rows_after) == before + 1
    assert rows_after[-1][3] == "purge" and json.loads(rows_after[-1][4]) == {"shares_deleted": 3}
    assert store.verify_audit() == len(rows_after)
    assert store.result(SID) is not None  # the sealed result stays available for the analyst
    assert store.purge(SID) == 0  # purging again is harmless


# ------------------------------------------------------------------------------------- audit

def _edit(path: Path, sql: str, args: tuple[Any, ...]) -> None:
    raw = sqlite3.connect(path)
    try:
        raw.execute(sql, args)
        raw.commit()
    finally:
        raw.close()


def _busy_store(store: NodeStore, survey: Survey) -> list[str]:
    ids = _fill(store, survey, 3)
    store.accept(SID, new_submission_id(), survey.tokens[0], envelope(7), True)
    close_survey(store)
    return ids


def test_verify_audit_intact(store: NodeStore, survey: Survey) -> None:
    _busy_store(store, survey)
    rows = store.audit_rows()
    assert [r[3] for r in rows] == ["import", "receipt", "receipt", "receipt", "receipt", "close"]
    assert store.verify_audit() == 6
    assert rows[0][5] == "0" * 64
    assert all(rows[k][5] == rows[k - 1][6] for k in range(1, len(rows)))


def test_audit_never_holds_tokens_or_envelopes(store: NodeStore, survey: Survey) -> None:
    _busy_store(store, survey)
    dump = json.dumps(store.audit_rows())
    for tok in survey.tokens[:4]:
        assert tok not in dump and token_hash(tok) not in dump
    for i in (0, 1, 2, 7):
        assert envelope(i).hex()[:32] not in dump


@pytest.mark.parametrize(("column", "value"), [("details", '{"submission_id":"forged"}'),
                                               ("event", "close"), ("at", "2020-01-01T00:00:00Z"),
                                               ("survey_id", "other"), ("prev_hash", "1" * 64),
                                               ("hash", "2" * 64)])
def test_verify_audit_detects_edited_line(store: NodeStore, survey: Survey, column: str, value: str) -> None:
    _busy_store(store, survey)
    _edit(store.path, f"UPDATE audit SET {column}=? WHERE seq=3", (value,))
    with pytest.raises(SurveyError, match="audit log line 3 has been altered"):
        store.verify_audit()


def test_verify_audit_detects_edit_with_recomputed_hash(store: NodeStore, survey: Survey) -> None:
    """A forger who rewrites a line and its own hash is caught at the next line."""
    _busy_store(store, survey)
    seq, at, sid, event, details, prev, _h = store.audit_rows()[2]
    forged = json.dumps({"submission_id": "f" * 32, "envelope_sha256": "0" * 64}, separators=(",", ":"))
    _edit(store.path, "UPDATE audit SET details=?, hash=? WHERE seq=?",
          (forged, _audit_hash(prev, at, sid, event, forged), seq))
    with pytest.raises(SurveyError, match=f"audit log line {seq + 1} has been altered"):
        store.verify_audit()


def test_verify_audit_detects_deleted_line(store: NodeStore, survey: Survey) -> None:
    _busy_store(store, survey)
    _edit(store.path, "DELETE FROM audit WHERE seq=2", ())
    with pytest.raises(SurveyError, match="audit log line 3 has been altered"):
        store.verify_audit()


# -------------------------------------------------------------------------------- durability

def test_data_survives_reopening(survey: Survey, fixed_clock: list[dt.datetime]) -> None:
    s = open_store(survey, 1)
    ids = _fill(s, survey, 3)
    first_ack = s.accept(SID, ids[0], survey.tokens[0], envelope(0), False)
    close_survey(s)
    digest = s.record_agreement(SID, ids)
    audit_before = s.audit_rows()
    path = s.path

    s = reopen(s)
    assert s.path == path
    assert s.survey_ids() == [SID]
    assert s.survey(SID).node_index == 1
    assert s.state(SID) == SurveyState.CLOSED
    assert s.submission_ids(SID) == sorted(ids)
    assert list(s.envelopes(SID, ids)) == [(sid, envelope(i)) for i, sid in enumerate(ids)]
    assert s.audit_rows() == audit_before
    assert s.verify_audit() == len(audit_before)
    fixed_clock[0] += dt.timedelta(days=1)
    again = s.accept(SID, ids[0], survey.tokens[0], envelope(0), False)
    assert again.status == "duplicate" and again.stored_at == first_ack.stored_at
    assert s.record_agreement(SID, ids) == digest
    with pytest.raises(SurveyError, match="differs"):
        s.record_agreement(SID, ids[:1])
    with pytest.raises(SurveyClosed):  # the closing persisted
        s.accept(SID, new_submission_id(), survey.tokens[5], envelope(5), False)
    s.close()


def test_token_use_and_replacement_survive_reopening(survey: Survey) -> None:
    s = open_store(survey)
    old, new = new_submission_id(), new_submission_id()
    s.accept(SID, old, survey.tokens[0], envelope(1), False)
    s = reopen(s)
    with pytest.raises(TokenUsed):
        s.accept(SID, new_submission_id(), survey.tokens[0], envelope(2), False)
    assert s.accept(SID, new, survey.tokens[0], envelope(2), True).replaced_submission_id == old
    s = reopen(s)
    assert s.submission_ids(SID) == [new]
    assert s.verify_audit() == 3  # import, receipt, receipt (replacement)
    s.close()


def test_failed_accept_leaves_no_trace(store: NodeStore, survey: Survey) -> None:
    _fill(store, survey, 1)
    n_audit = len(store.audit_rows())
    for call in [lambda: store.accept(SID, new_submission_id(), survey.tokens[0], envelope(3), False),
                 lambda: store.accept(SID, new_submission_id(), "nope", envelope(3), False)]:
        with pytest.raises(InvalidToken):
            call()
    assert store.count(SID) == 1 and len(store.audit_rows()) == n_audit
    # The transaction was rolled back, so the store is still usable.
    assert store.accept(SID, new_submission_id(), survey.tokens[1], envelope(4), False).status == "stored"


def test_a_token_used_through_another_connection_is_seen(store: NodeStore, survey: Survey) -> None:
    # `mpc-node serve --workers N`: each worker has its own connection and its own copy of the
    # token log in memory, read before serving; a use committed by one must stop the others.
    other = NodeStore(store.path)
    other.preload_token_uses()
    try:
        first, second, third = new_submission_id(), new_submission_id(), new_submission_id()
        store.accept(SID, first, survey.tokens[0], envelope(1), False)
        with pytest.raises(TokenUsed, match="already used; submit with --replace"):
            other.accept(SID, new_submission_id(), survey.tokens[0], envelope(2), False)
        assert other.accept(SID, second, survey.tokens[0], envelope(2), True).replaced_submission_id == first
        assert store.accept(SID, third, survey.tokens[0], envelope(3), True).replaced_submission_id == second
        assert store.submission_ids(SID) == other.submission_ids(SID) == [third]
    finally:
        other.close()


def test_a_refused_batch_uses_no_token(store: NodeStore, survey: Survey) -> None:
    ids = [new_submission_id() for _ in range(3)]
    with pytest.raises(InvalidToken, match="^record 2 of the batch: unknown participation token"):
        store.accept_batch(SID, "b1", ids, [survey.tokens[0], survey.tokens[1], "nope"], [b"s"] * 3, [b"c"] * 3,
                           "00" * 32, False)
    # The batch was rolled back: its first two tokens are still unused, for one upload or a batch.
    assert store.accept(SID, new_submission_id(), survey.tokens[0], envelope(1), False).status == "stored"
    statuses, _ = store.accept_batch(SID, "b2", ids[:2], [survey.tokens[1], survey.tokens[2]], [b"s"] * 2,
                                     [b"c"] * 2, "11" * 32, False)
    assert statuses == ["stored", "stored"]
    with pytest.raises(TokenUsed, match="^record 1 of the batch: this participation token was already used"):
        store.accept_batch(SID, "b3", [new_submission_id(), new_submission_id()],
                           [survey.tokens[3], survey.tokens[2]], [b"s"] * 2, [b"c"] * 2, "22" * 32, False)
    assert store.count(SID) == 3


def test_a_database_made_before_the_token_log_is_migrated(survey: Survey) -> None:
    s = open_store(survey)
    old, other = new_submission_id(), new_submission_id()
    s.accept(SID, old, survey.tokens[0], envelope(1), False)
    s.accept(SID, other, survey.tokens[1], envelope(2), False)
    s.close()
    raw = sqlite3.connect(survey.node_dirs[0] / "node.db")
    raw.execute("DROP TABLE token_uses")  # as a database of an earlier release has it
    raw.commit()
    raw.close()
    s = NodeStore(survey.node_dirs[0] / "node.db")
    try:
        with pytest.raises(TokenUsed):
            s.accept(SID, new_submission_id(), survey.tokens[1], envelope(3), False)
        new = new_submission_id()
        assert s.accept(SID, new, survey.tokens[0], envelope(3), True).replaced_submission_id == old
        assert sorted(s.submission_ids(SID)) == sorted([new, other])
    finally:
        s.close()


# ------------------------------------------------------------------------------------- refusals
def _refuse(store: NodeStore, token: str, sid: str, reason: str = "bad share") -> int:
    return store.note_refused(SID, [token_hash(token)], [sid], reason)


def _audit_events(store: NodeStore, event: str) -> list[dict[str, Any]]:
    return [json.loads(r[4]) for r in store.audit_rows() if r[3] == event]


def test_a_refusal_needs_a_valid_token_and_counts_once_per_token(store: NodeStore, survey: Survey) -> None:
    first, second = new_submission_id(), new_submission_id()
    assert _refuse(store, "no-such-token", first) == 0  # no token, no trace
    assert store.refused_ids(SID) == [] and _audit_events(store, "refused") == []
    assert _refuse(store, survey.tokens[0], first) == 1
    assert _refuse(store, survey.tokens[0], second) == 0  # the token's first refusal stands
    assert _refuse(store, survey.tokens[0], first) == 0
    assert store.refused_ids(SID) == [first]
    assert _audit_events(store, "refused") == [{"submission_id": first, "reason": "bad share"}]
    # a batch: one line per valid, unrefused token, none for the others
    ids = [new_submission_id() for _ in range(4)]
    hashes = [token_hash(t) for t in (survey.tokens[0], survey.tokens[1], "nope", survey.tokens[2])]
    assert store.note_refused(SID, hashes, ids, "batch refused") == 2
    assert store.refused_ids(SID) == sorted([first, ids[1], ids[3]])


def test_a_stored_upload_clears_its_tokens_refusal_and_a_used_token_records_none(store: NodeStore,
                                                                               survey: Survey) -> None:
    refused, good, later = new_submission_id(), new_submission_id(), new_submission_id()
    _refuse(store, survey.tokens[0], refused)
    store.accept(SID, good, survey.tokens[0], envelope(1), False)
    assert store.refused_ids(SID) == []
    receipt = _audit_events(store, "receipt")[-1]
    assert receipt["submission_id"] == good and receipt["refusal_cleared"] == refused
    assert _refuse(store, survey.tokens[0], later) == 0  # the token has a stored submission
    ids = [new_submission_id(), new_submission_id()]
    _refuse(store, survey.tokens[1], ids[0])
    store.accept_batch(SID, "b1", ids, [survey.tokens[1], survey.tokens[2]], [b"s"] * 2, [b"c"] * 2, "00" * 32, False)
    assert store.refused_ids(SID) == []
    assert _audit_events(store, "bulk-receipt")[-1]["refusals_cleared"] == [ids[0]]
    assert store.verify_audit() == len(store.audit_rows())


def test_a_failed_store_keeps_the_refusal(store: NodeStore, survey: Survey) -> None:
    refused = new_submission_id()
    _refuse(store, survey.tokens[0], refused)
    store.accept(SID, new_submission_id(), survey.tokens[1], envelope(1), False)
    with pytest.raises(DuplicateSubmission):  # rolled back: the refusal stays on record
        store.accept(SID, store.submission_ids(SID)[0], survey.tokens[0], envelope(2), False)
    assert store.refused_ids(SID) == [refused]


def test_no_refusal_is_recorded_once_the_survey_is_closed(store: NodeStore, survey: Survey) -> None:
    close_survey(store)
    assert _refuse(store, survey.tokens[0], new_submission_id()) == 0
    assert store.refused_ids(SID) == []


def test_refusals_recorded_before_tokens_mattered_are_no_longer_counted(survey: Survey) -> None:
    """A database of an earlier release kept refusals only as audit lines, which anyone could
    add: after the upgrade they are not counted, and the audit log says so once per survey."""
    s = open_store(survey)
    s.note_event(SID, "refused", {"submission_id": new_submission_id(), "reason": "old"})
    s.note_event(SID, "refused", {"submission_id": new_submission_id(), "reason": "old"})
    s.close()
    raw = sqlite3.connect(survey.node_dirs[0] / "node.db")
    raw.execute("DROP TABLE refusals")  # as a database of an earlier release has it
    raw.execute("PRAGMA application_id=0")
    raw.commit()
    raw.close()
    s = NodeStore(survey.node_dirs[0] / "node.db")
    try:
        assert s.refused_ids(SID) == []
        assert _audit_events(s, "refusals-uncounted") == [{"count": 2}]
        assert s.verify_audit() == len(s.audit_rows())
        s = reopen(s)
        assert len(_audit_events(s, "refusals-uncounted")) == 1
        assert _refuse(s, survey.tokens[0], new_submission_id()) == 1  # the new table works
    finally:
        s.close()


# ---------------------------------------------------------------------------- token look-up
def test_tokens_are_known_before_any_transaction(store: NodeStore, survey: Survey) -> None:
    hashes = [token_hash(t) for t in survey.tokens[:3]]
    assert store.first_unknown_token(SID, hashes) is None
    assert store.first_unknown_token(SID, [*hashes, token_hash("nope"), token_hash("nope2")]) == 3
    assert store.first_unknown_token(SID, [token_hash("nope")]) == 0
    # it compares 64-bit prefixes (the transaction's check is exact)
    assert store.first_unknown_token(SID, [hashes[0][:16] + "0" * 48]) is None


def test_tokens_imported_by_another_process_are_seen(survey: Survey, tmp_path: Path) -> None:
    from analyst.survey import create_survey

    serving = open_store(survey)
    other = NodeStore(serving.path)
    try:
        assert serving.first_unknown_token(SID, [token_hash(survey.tokens[0])]) is None  # index loaded
        infos = [load_public(d) for d in survey.node_dirs]
        create_survey(tmp_path / "second", infos, survey_id="second", threshold=1, tokens=2)
        other.import_survey(json.loads((tmp_path / "second" / "node-bundle.json").read_text()),
                            infos[0].hpke_public_key, infos[0].tls_cert_sha256)
        token = (tmp_path / "second" / "tokens.txt").read_text().split()[0]
        assert serving.first_unknown_token("second", [token_hash(token)]) is None
        # more tokens for a survey already loaded: a second import with a longer list
        bundle = bundle_of(survey)
        bundle["token_hashes"] = [*bundle["token_hashes"], token_hash("added-later")]
        other.import_survey(bundle, infos[0].hpke_public_key, infos[0].tls_cert_sha256)
        assert serving.first_unknown_token(SID, [token_hash("added-later")]) is None
        assert serving.first_unknown_token(SID, [token_hash("never-added")]) == 0
    finally:
        other.close()
        serving.close()


# ------------------------------------------------------------------- damaged or foreign files
def test_a_file_that_is_not_a_node_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(os.urandom(8192))
    foreign = tmp_path / "foreign.db"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE invoices (id INTEGER, amount INTEGER)")
    con.commit()
    con.close()
    stamped = tmp_path / "stamped.db"  # another program's empty database, marked as its own
    con = sqlite3.connect(stamped)
    con.execute("PRAGMA application_id=1234")
    con.close()
    for path, why in ((garbage, "file is not a database"), (foreign, "it holds another program's data"),
                      (stamped, "it holds another program's data")):
        before = path.read_bytes()
        with pytest.raises(SurveyError) as info:
            NodeStore(path)
        assert str(info.value) == f"{path} is not a node database, or it is damaged ({why})"
        assert path.read_bytes() == before
        assert not Path(str(path) + ".writer-lock").exists()
    with pytest.raises(SurveyError, match="is not a node database, or it is damaged"):
        NodeStore(tmp_path / "no-such-dir" / "node.db")


def test_a_new_node_database_carries_the_application_id(store: NodeStore) -> None:
    con = sqlite3.connect(store.path)
    try:
        assert con.execute("PRAGMA application_id").fetchone()[0] == store_mod.APPLICATION_ID
    finally:
        con.close()


def test_the_log_is_copied_into_the_database_file_every_checkpoint_records(
        store: NodeStore, survey: Survey, monkeypatch: pytest.MonkeyPatch) -> None:
    # No checkpoint inside COMMIT (it held the write lock for seconds under bulk load): the
    # writer copies the write-ahead log after its transaction, every CHECKPOINT_RECORDS records.
    monkeypatch.setattr(store_mod, "CHECKPOINT_RECORDS", 3)
    assert store._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    before = os.path.getsize(store.path)
    for i in range(2):
        store.accept(SID, new_submission_id(), survey.tokens[i], envelope(i), False)
    assert os.path.getsize(store.path) == before  # everything is still only in the log
    store.accept(SID, new_submission_id(), survey.tokens[2], envelope(2), False)
    assert os.path.getsize(store.path) > before
    raw = sqlite3.connect(f"file:{store.path}?mode=ro", uri=True)
    try:
        assert raw.execute("SELECT COUNT(*) FROM submissions").fetchone()[0] == 3
    finally:
        raw.close()


def test_the_log_is_copied_into_the_database_file_every_checkpoint_bytes(
        store: NodeStore, survey: Survey, monkeypatch: pytest.MonkeyPatch) -> None:
    # Wide records (a complete survey's are 78 KB) reach the byte bound long before the record
    # count: the log is copied once the stored envelopes add up to CHECKPOINT_BYTES.
    size = len(envelope(0))
    monkeypatch.setattr(store_mod, "CHECKPOINT_BYTES", 2 * size)
    before = os.path.getsize(store.path)
    store.accept(SID, new_submission_id(), survey.tokens[0], envelope(0), False)
    assert os.path.getsize(store.path) == before  # one envelope: still only in the log
    store.accept(SID, new_submission_id(), survey.tokens[1], envelope(1), False)
    assert os.path.getsize(store.path) > before


def test_the_log_is_rewound_although_other_writers_append_during_the_checkpoint(
        store: NodeStore, survey: Survey, monkeypatch: pytest.MonkeyPatch) -> None:
    # Regression: a checkpoint that other writers keep chasing never completes, so SQLite never
    # starts the log afresh and it grew by gigabytes during a million-record ingest.
    monkeypatch.setattr(store_mod, "CHECKPOINT_RECORDS", 1)
    s = store
    other = NodeStore(s.path)
    other._since_checkpoint = -10**9  # only ``s`` checkpoints
    tokens = iter(survey.tokens[1:])

    class Chased:
        """``s``'s checkpoint connection, with another writer appending while it copies: a
        checkpoint copies no page newer than a running reader's snapshot, so a reader that
        started before the append makes the checkpoint stop where it would have started."""

        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        def execute(self, sql: str) -> Any:
            reader = sqlite3.connect(s.path, isolation_level=None)
            reader.execute("BEGIN")
            reader.execute("SELECT COUNT(*) FROM submissions").fetchall()
            other.accept(SID, new_submission_id(), next(tokens), envelope(7), False)
            rows = self.db.execute(sql).fetchall()
            reader.close()
            return type("Rows", (), {"fetchall": lambda self_: rows})()

        def close(self) -> None:
            self.db.close()

    try:
        s.accept(SID, new_submission_id(), survey.tokens[0], envelope(0), False)  # opens the connection
        assert s._checkpoint_db is not None
        s._checkpoint_db = Chased(s._checkpoint_db)  # type: ignore[assignment]
        wal = Path(str(s.path) + "-wal")
        sizes = []
        for i in range(6):  # each round: one upload here, two by the other writer (one per copying pass)
            s.accept(SID, new_submission_id(), next(tokens), envelope(i), False)
            sizes.append(os.path.getsize(wal))
        assert sizes[-1] == sizes[2], sizes  # the log file stopped growing: it is being rewound
        assert s.count(SID) == 19
    finally:
        other.close()


def test_database_file_is_written(store: NodeStore) -> None:
    assert store.path.exists() and os.path.getsize(store.path) > 0
    raw = sqlite3.connect(store.path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        raw.close()
    # Acknowledge only after the commit is on disk: synchronous=FULL (2) on the store's connection.
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2


def test_nodestore_close_closes_the_database(survey: Survey) -> None:
    # Regression: close() (database) was once shadowed by close(survey_id, reason) (survey).
    s = open_store(survey)
    s.close()
    with pytest.raises(sqlite3.ProgrammingError):
        s.count(SID)


# -------------------------------------------------------------------------------- anchored audit logs

def _rechain(path: Path) -> None:
    """What someone controlling the node can do: recompute every hash of the chain after an edit."""
    db = sqlite3.connect(path)
    prev = "0" * 64
    for seq, at, sid, event, details in db.execute("SELECT seq, at, survey_id, event, details FROM audit ORDER BY seq"
                                                   ).fetchall():
        h = _audit_hash(prev, at, sid, event, details)
        db.execute("UPDATE audit SET prev_hash=?, hash=? WHERE seq=?", (prev, h, seq))
        prev = h
    db.commit()
    db.close()


def _computed(store: NodeStore, survey: Survey) -> Any:
    """The busy store with its result prepared and its audit head signed; the signed head."""
    from mpc_nodes.anchors import head_signer, verify_anchor

    _busy_store(store, survey)
    store.store_result(SID, b"sealed", 4, 0, "d" * 64, "run", (), 0, head_signer(survey.node_dirs[0], survey.manifest, 0))
    (anchor,) = store.anchors(SID)
    verify_anchor(survey.manifest, anchor)  # signed with node 0's key, over its survey
    assert (anchor.seq, anchor.head) == store.audit_rows()[-1][:1] + store.audit_rows()[-1][6:]
    return anchor


def test_a_signed_head_is_kept_with_the_result_and_checks_an_intact_log(store: NodeStore, survey: Survey) -> None:
    anchor = _computed(store, survey)
    store.commit_result(SID, "run")
    res = store.result(SID)
    assert res is not None and res.anchor == anchor
    store.note_event(SID, "later", {})  # lines after the head do not matter to it
    store.check_anchor(anchor.seq, anchor.head, "node 1")


def test_a_deleted_receipt_line_with_a_recomputed_chain_is_detected_by_the_head(store: NodeStore,
                                                                               survey: Survey) -> None:
    anchor = _computed(store, survey)
    _edit(store.path, "DELETE FROM audit WHERE seq=(SELECT MIN(seq) FROM audit WHERE event='receipt')", ())
    _rechain(store.path)
    assert store.verify_audit() == anchor.seq - 1  # the chain alone says nothing
    with pytest.raises(SurveyError, match=f"^audit log line {anchor.seq} is not the one node 1 recorded "
                                          f"\\(hash {anchor.head[:16]}…\\): the log was rewritten$"):
        store.check_anchor(anchor.seq, anchor.head, "node 1")


def test_dropped_last_lines_are_detected_by_the_head(store: NodeStore, survey: Survey) -> None:
    anchor = _computed(store, survey)
    _edit(store.path, "DELETE FROM audit WHERE seq>=?", (anchor.seq - 1,))
    store.verify_audit()  # still a valid chain
    with pytest.raises(SurveyError, match=f"^audit log ends at line {anchor.seq - 2}, but node 1 recorded its line "
                                          f"{anchor.seq}: lines were removed from the end$"):
        store.check_anchor(anchor.seq, anchor.head, "node 1")


def test_a_head_signed_by_another_node_or_for_another_line_does_not_verify(store: NodeStore, survey: Survey) -> None:
    from mpc_nodes.anchors import head_signer, verify_anchor

    anchor = _computed(store, survey)
    with pytest.raises(SurveyError, match="^node 1's audit head is not signed by it$"):
        verify_anchor(survey.manifest, dataclasses.replace(anchor, node_index=1))
    with pytest.raises(SurveyError, match="^node 0's audit head is not signed by it$"):
        verify_anchor(survey.manifest, dataclasses.replace(anchor, seq=anchor.seq + 1))
    other = head_signer(survey.node_dirs[1], survey.manifest, 0)(anchor.seq, anchor.head)  # node 1's key
    with pytest.raises(SurveyError, match="^node 0's audit head is not signed by it$"):
        verify_anchor(survey.manifest, other)
