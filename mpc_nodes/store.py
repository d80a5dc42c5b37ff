"""The node's durable store (SQLite, WAL, synchronous=FULL).

Contract: a submission is acknowledged only after its transaction commits, so an acknowledged
upload survives a crash.  The store keeps each submission's share as opened and checked at upload
(plus the sealed envelope of a single upload, as the contributor's receipt refers to it), token
*hashes* only, and an append-only, hash-chained audit log that never contains a share or a token.
Shares are kept opened because the node's HPKE private key lives in the same node directory:
sealing at rest would protect nothing, and opening a million envelopes again at compute time
would cost a minute per node.  Protect the node directory (it is created mode 0700).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from protocol.errors import InvalidManifest, SurveyError
from protocol.manifest import Manifest, format_time, manifest_from_json
from protocol.rejection import RejectionReason
from protocol.tokens import hashes_equal, token_hash
from protocol.wire import (
    Accusation,
    AuditAnchor,
    Endorsement,
    ResultState,
    SurveyState,
    UploadStatus,
    SubmissionAck,
    set_digest,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS surveys (
    survey_id TEXT PRIMARY KEY,
    manifest BLOB NOT NULL,
    manifest_hash TEXT NOT NULL,
    node_index INTEGER NOT NULL,
    analyst_cred_hash TEXT NOT NULL,
    closed_at TEXT,
    close_reason TEXT,
    purged_at TEXT,
    imported_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    survey_id TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    PRIMARY KEY (survey_id, token_hash)
);
CREATE TABLE IF NOT EXISTS submissions (
    survey_id TEXT NOT NULL,
    submission_id TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    envelope BLOB,
    envelope_sha256 TEXT NOT NULL,
    stored_at TEXT NOT NULL,
    certificate BLOB,
    share BLOB,
    PRIMARY KEY (survey_id, submission_id)
);
-- Which submission each participation token is used by: an append-only log (a token's current
-- submission is its last line), read into memory by every process that writes (NodeStore._uses).
-- It replaces a UNIQUE index on submissions.token_hash: token hashes are random, so each record
-- of a bulk upload wrote one more page of that index (4 KB of write-ahead log per record, most of
-- a bulk commit's cost); appending here writes about 150 bytes.  Databases made before keep that
-- index as well, which only costs them speed.
CREATE TABLE IF NOT EXISTS token_uses (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    survey_id TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    submission_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS agreements (
    survey_id TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    ids TEXT NOT NULL,
    agreed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    survey_id TEXT PRIMARY KEY,
    sealed BLOB NOT NULL,
    accepted INTEGER NOT NULL,
    rejected INTEGER NOT NULL,
    agreed_digest TEXT NOT NULL,
    computed_at TEXT NOT NULL,
    run_id TEXT NOT NULL,
    committed INTEGER NOT NULL DEFAULT 0,
    caught TEXT NOT NULL DEFAULT '[]',
    set_aside INTEGER NOT NULL DEFAULT 0,
    left_out TEXT NOT NULL DEFAULT '[]',
    disputes TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    survey_id TEXT,
    event TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
-- looked up by event: a survey's invalid submissions (note_invalid) and its latest import (which
-- tells a process that its copy of the survey's token hashes is stale)
CREATE INDEX IF NOT EXISTS audit_by_event ON audit (survey_id, event);
-- Signed audit-log heads taken when a survey is computed: this node's own and those its peers
-- sent (protocol.wire.AuditAnchor); a node's log is checked against what its peers kept.
CREATE TABLE IF NOT EXISTS audit_anchors (
    survey_id TEXT NOT NULL,
    node INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    head TEXT NOT NULL,
    signature TEXT NOT NULL,
    PRIMARY KEY (survey_id, node, seq)
);
-- The dispute after a failed MPC attempt (mpc_nodes.dispute): what this node publishes in its
-- compute state, the signed accusations and endorsements (JSON of protocol.wire.Accusation and
-- Endorsement: its own and those it relays), and how far it is (attempt, round).
CREATE TABLE IF NOT EXISTS dispute_items (
    survey_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    item TEXT NOT NULL,
    PRIMARY KEY (survey_id, kind, item)
);
CREATE TABLE IF NOT EXISTS dispute_progress (
    survey_id TEXT PRIMARY KEY,
    attempt INTEGER NOT NULL,
    round INTEGER NOT NULL
);
-- How many accusations this node has signed for each survey, over every compute (never cleared):
-- each new one is numbered above the last, so a statement replayed from an earlier compute is
-- outranked by the current one.
CREATE TABLE IF NOT EXISTS accusations_signed (
    survey_id TEXT PRIMARY KEY,
    count INTEGER NOT NULL
);
-- Uploads refused for their content that carried a valid token without a stored submission: at
-- most one line per token (the first refusal), deleted when an upload with that token is stored.
-- Every node lists these submission ids in /ids, so that each counts them in submissions.rejected;
-- keyed by token, an outsider (no token) can add nothing and an insider at most one per token.
CREATE TABLE IF NOT EXISTS refusals (
    survey_id TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    submission_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    refused_at TEXT NOT NULL,
    PRIMARY KEY (survey_id, token_hash)
);
"""

#: SQLite's application id of a node database (the header's bytes 68-71: "SMPC"); a database of
#: another program is refused instead of getting this program's tables added to it.
APPLICATION_ID = 0x534D5043

GENESIS = "0" * 64
#: Records a process stores between two copies of the write-ahead log into the database file
#: (about 150 MB of log: 3 KB of row per record at the survey sizes measured) ...
CHECKPOINT_RECORDS = 50_000
#: ... or bytes of shares and envelopes, whichever comes first: a complete survey's record is 78 KB,
#: and 50,000 of them left a 4 GB log beside the 4 GB database at every node.
CHECKPOINT_BYTES = 150 * 1024 * 1024


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class SurveyRecord:
    manifest: Manifest
    manifest_bytes: bytes
    node_index: int
    analyst_cred_hash: str
    closed_at: str | None
    purged_at: str | None


@dataclass(frozen=True)
class StoredResult:
    """This node's committed result share of a survey and what it says about the run."""

    sealed: bytes  # the share, sealed to the analyst
    accepted: int
    rejected: int
    agreed_digest: str
    computed_at: str
    run_id: str
    caught: tuple[int, ...]  # nodes this node saw send wrong shares (errors corrected)
    set_aside: int = 0  # submissions set aside: validation shares off the polynomial, culprit not located
    anchor: AuditAnchor | None = None  # this node's signed audit-log head, taken when it prepared the result
    left_out: tuple[int, ...] = ()  # nodes lost (down, crashed, silent) and left out of the run
    disputes: tuple[tuple[int, int], ...] = ()  # pairs left out of the run after a dispute


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def _audit_hash(prev: str, at: str, survey_id: str | None, event: str, details: str) -> str:
    blob = json.dumps([prev, at, survey_id, event, details], separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()


def read_certificates(path: Path, survey_id: str, ids: Sequence[str]) -> list[bytes]:
    """The stored certificates of ``ids`` (in order; empty bytes where none), read from the
    database at ``path`` through a read-only connection: for the MPC party, which looks up the
    few certificates it must reveal while ``mpc-node compute`` holds the store open."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        found: dict[str, bytes] = {}
        for k in range(0, len(ids), 500):
            chunk = list(ids[k: k + 500])
            found.update((sid, bytes(cert or b"")) for sid, cert in db.execute(
                "SELECT submission_id, certificate FROM submissions WHERE survey_id=? AND submission_id IN "
                f"({','.join('?' * len(chunk))})", (survey_id, *chunk)))
        return [found.get(sid, b"") for sid in ids]
    finally:
        db.close()


def _not_a_node_database(path: Path, why: object) -> SurveyError:
    return SurveyError(f"{path} is not a node database, or it is damaged ({' '.join(str(why).split())})")


def _existing_tables(db: sqlite3.Connection, path: Path) -> set[str]:
    """The tables of the database at ``path``; :class:`SurveyError` if it is another program's
    (another application id, or tables but none of a node's)."""
    app_id = db.execute("PRAGMA application_id").fetchone()[0]
    tables = {str(r[0]) for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if app_id not in (0, APPLICATION_ID) or (tables and "surveys" not in tables):
        raise _not_a_node_database(path, "it holds another program's data")
    return tables


def _first_absent(prefixes: Any, hashes: Sequence[str]) -> int | None:
    """The index of the first hex digest in ``hashes`` whose first 64 bits are not in the sorted
    uint64 array ``prefixes``, or None."""
    import numpy as np

    wanted = np.array([int(h[:16], 16) for h in hashes], dtype=np.uint64)
    if not len(prefixes):
        return 0 if len(wanted) else None
    at = np.minimum(np.searchsorted(prefixes, wanted), len(prefixes) - 1)
    absent = np.flatnonzero(prefixes[at] != wanted)
    return int(absent[0]) if len(absent) else None


class NodeStore:
    """Thread-safe access to one node's database (one connection, serialised by a lock).

    Opening a file that is not a node database (damaged, or another program's SQLite database)
    raises :class:`SurveyError` and leaves the file as it was."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._writer_lock = -1
        try:
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        except sqlite3.Error as exc:
            raise _not_a_node_database(path, exc) from None
        try:
            self._open()
        except BaseException as exc:
            self._db.close()
            if self._writer_lock >= 0:
                os.close(self._writer_lock)
            if isinstance(exc, sqlite3.DatabaseError):
                raise _not_a_node_database(path, exc) from None
            raise

    def _open(self) -> None:
        """Check, configure and (if new or older) complete the schema of the open database."""
        path = self.path
        tables = _existing_tables(self._db, path)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: the commit is on disk before we acknowledge (WAL+NORMAL may lose the last commits).
        self._db.execute("PRAGMA synchronous=FULL")
        # No copying of the write-ahead log into the database file inside COMMIT (SQLite's default,
        # every 4 MB of log): that copy ran while the committing writer held the write lock, so
        # every other upload waited for it (the p99 latency of bulk uploads was seconds).  Writers
        # copy it after their transaction instead (_stored), every CHECKPOINT_RECORDS
        # stored records or CHECKPOINT_BYTES of them.  Durability is the log's, unchanged.
        self._db.execute("PRAGMA wal_autocheckpoint=0")
        self._since_checkpoint = 0
        self._bytes_since_checkpoint = 0
        self._checkpoint_lock = threading.Lock()
        self._checkpoint_db: sqlite3.Connection | None = None
        # 64 MiB of page cache instead of 2: a bulk upload looks up 1,000 random tokens, and pages
        # read again from the operating system cost a system call each.
        self._db.execute("PRAGMA cache_size=-65536")
        # Writers (the server's worker processes, a compute) queue on this file's lock before
        # taking SQLite's: the kernel wakes the next one the moment a commit is done, where
        # SQLite's busy handler polls with sleeps of up to 100 ms (seconds of tail latency and
        # an idle core under a bulk load).  SQLite's lock and busy timeout still guard the rest.
        self._writer_lock = os.open(str(path) + ".writer-lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._db.executescript(_SCHEMA)
        if self._db.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
            self._db.execute(f"PRAGMA application_id={APPLICATION_ID}")
        cols = {r[1] for r in self._db.execute("PRAGMA table_info(submissions)")}
        if "certificate" not in cols:  # a database made before submission certificates existed
            self._db.execute("ALTER TABLE submissions ADD COLUMN certificate BLOB")
        if "share" not in cols:  # before shares were kept opened (compute opens their envelopes)
            self._db.execute("ALTER TABLE submissions ADD COLUMN share BLOB")
        result_cols = {r[1] for r in self._db.execute("PRAGMA table_info(results)")}
        if "caught" not in result_cols:
            self._db.execute("ALTER TABLE results ADD COLUMN caught TEXT NOT NULL DEFAULT '[]'")
        if "set_aside" not in result_cols:
            self._db.execute("ALTER TABLE results ADD COLUMN set_aside INTEGER NOT NULL DEFAULT 0")
        if "left_out" not in result_cols:
            self._db.execute("ALTER TABLE results ADD COLUMN left_out TEXT NOT NULL DEFAULT '[]'")
        if "disputes" not in result_cols:
            self._db.execute("ALTER TABLE results ADD COLUMN disputes TEXT NOT NULL DEFAULT '[]'")
        # Parsed manifests by survey id: a manifest never changes once imported, and validating
        # one (certificates, primality of p) on every request would dominate ingest cost.
        self._manifests: dict[str, tuple[bytes, Manifest]] = {}
        # token_uses as read so far: survey id -> SHA-256 of a used token -> seq of its last line.
        # Only ever filled with committed lines (read by _sync_uses, or this process's own noted
        # after their commit by _note_uses), so a rolled-back upload leaves no trace.
        self._uses: dict[str, dict[bytes, int]] = {}
        self._uses_seq = 0
        # Each survey's token hashes, for the check that runs before any cryptography
        # (first_unknown_token): survey id -> (generation read with it, sorted 64-bit prefixes).
        self._token_prefixes: dict[str, tuple[int, Any]] = {}
        self._migrate_token_uses()
        if tables and "refusals" not in tables:
            self._uncount_untokened_refusals()

    def close(self) -> None:
        with self._lock, self._checkpoint_lock:
            if self._checkpoint_db is not None:
                self._checkpoint_db.close()
            self._db.close()
            if self._writer_lock >= 0:
                os.close(self._writer_lock)
                self._writer_lock = -1

    def _migrate_token_uses(self) -> None:
        """Fill token_uses from the submissions of a database made before it existed (once)."""
        def needed() -> bool:
            return (self._db.execute("SELECT 1 FROM token_uses LIMIT 1").fetchone() is None
                    and self._db.execute("SELECT 1 FROM submissions LIMIT 1").fetchone() is not None)

        with self._lock:
            if not needed():
                return
        with self._tx():
            if needed():  # another process may have done it meanwhile
                self._db.execute("INSERT INTO token_uses (survey_id, token_hash, submission_id)"
                                 " SELECT survey_id, token_hash, submission_id FROM submissions ORDER BY rowid")

    def _uncount_untokened_refusals(self) -> None:
        """A database made before refusals were bound to a token lists its refused uploads only as
        audit lines, which anyone could add (no token was needed): they are no longer counted in
        submissions.rejected.  Say so once per survey in the audit log."""
        with self._tx():
            done = {r[0] for r in self._db.execute("SELECT survey_id FROM audit WHERE event='refusals-uncounted'")}
            for sid, n in list(self._db.execute(
                    "SELECT survey_id, COUNT(*) FROM audit WHERE event='refused' GROUP BY survey_id")):
                if sid not in done:
                    self._audit(sid, "refusals-uncounted", {"count": int(n)})

    def _sync_uses(self) -> None:
        """Read the token_uses lines committed since the last call (by any process).  Inside a
        write transaction this makes ``_uses`` exact: no other process can append meanwhile."""
        rows = self._db.execute("SELECT seq, survey_id, token_hash FROM token_uses WHERE seq > ? ORDER BY seq",
                                (self._uses_seq,))
        for seq, sid, th in rows:
            self._uses.setdefault(sid, {})[bytes.fromhex(th)] = seq
            self._uses_seq = seq

    def _append_uses(self, survey_id: str, hashes: Sequence[str], ids: Sequence[str]) -> tuple[int, int]:
        """Append token uses (inside the write transaction, after :meth:`_sync_uses`); returns
        the (first, last) seq they got: consecutive, as the write lock is held."""
        self._db.executemany("INSERT INTO token_uses (survey_id, token_hash, submission_id) VALUES (?,?,?)",
                             [(survey_id, h, sid) for h, sid in zip(hashes, ids)])
        last = int(self._db.execute("SELECT last_insert_rowid()").fetchone()[0])
        return last - len(hashes) + 1, last

    def _note_uses(self, survey_id: str, hashes: Sequence[str], seqs: tuple[int, int]) -> None:
        """After the commit: take this process's own appended lines into ``_uses`` without
        reading them back, if nothing was read past them meanwhile (else the next sync has)."""
        with self._lock:
            if self._uses_seq == seqs[0] - 1:
                uses = self._uses.setdefault(survey_id, {})
                for h, seq in zip(hashes, range(seqs[0], seqs[1] + 1)):
                    uses[bytes.fromhex(h)] = seq
                self._uses_seq = seqs[1]

    def preload_token_uses(self) -> None:
        """Read the token log before serving, so that the first upload does not wait for it."""
        with self._lock:
            self._sync_uses()

    def _used_by(self, survey_id: str, hashes: Sequence[str]) -> dict[str, str]:
        """The current submission id of every token in ``hashes`` that is used (call inside a
        write transaction, after :meth:`_sync_uses`)."""
        uses = self._uses.get(survey_id, {})
        seqs = [seq for seq in (uses.get(bytes.fromhex(h)) for h in hashes) if seq is not None]
        found: dict[str, str] = {}
        for k in range(0, len(seqs), 500):
            chunk = seqs[k: k + 500]
            found.update((th, sid) for th, sid in self._db.execute(
                f"SELECT token_hash, submission_id FROM token_uses WHERE seq IN ({','.join('?' * len(chunk))})",
                chunk))
        return found

    def _stored(self, records: int, size: int) -> None:
        """Count records (and their ``size`` in bytes) stored by this process; every
        CHECKPOINT_RECORDS or CHECKPOINT_BYTES, copy the log into the
        database file: first (twice) on a connection of its own, outside the write transaction
        and the store lock, so that uploads go on meanwhile; then, with writers held off, the few
        pages they appended in the meantime.  Only a log copied completely is started afresh by the
        next writer: one always chased by writers is never rewound and grows without bound
        (gigabytes per node during a million-record ingest, which slowed the compute after it).
        A thread already checkpointing is not waited for."""
        self._since_checkpoint += records
        self._bytes_since_checkpoint += size
        due = self._since_checkpoint >= CHECKPOINT_RECORDS or self._bytes_since_checkpoint >= CHECKPOINT_BYTES
        if not due or not self._checkpoint_lock.acquire(blocking=False):
            return
        try:
            self._since_checkpoint = self._bytes_since_checkpoint = 0
            if self._checkpoint_db is None:
                self._checkpoint_db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None,
                                                      timeout=30)
            for _ in range(2):  # the second pass copies what was appended during the first: less to hold writers for
                self._checkpoint_db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            with self._writers_held():
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            self._checkpoint_lock.release()

    # -- transactions -------------------------------------------------------------------------
    @contextmanager
    def _writers_held(self) -> Iterator[None]:
        """This process's store lock, then the writer lock file, which every writing process
        queues on.  The store lock first: the file lock belongs to the open file, so this
        process's threads share it."""
        with self._lock:
            fcntl.flock(self._writer_lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._writer_lock, fcntl.LOCK_UN)

    @contextmanager
    def _tx(self) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT with writers held off; ROLLBACK on any exception."""
        with self._writers_held():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _audit(self, survey_id: str | None, event: str, details: dict[str, Any]) -> None:
        """Append to the hash-chained audit log (caller holds the transaction)."""
        row = self._db.execute("SELECT hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        prev = row[0] if row else GENESIS
        at = format_time(now_utc())
        det = json.dumps(details, sort_keys=True, separators=(",", ":"))
        self._db.execute(
            "INSERT INTO audit (at, survey_id, event, details, prev_hash, hash) VALUES (?,?,?,?,?,?)",
            (at, survey_id, event, det, prev, _audit_hash(prev, at, survey_id, event, det)),
        )

    # -- set-up -------------------------------------------------------------------------------
    def import_survey(self, bundle: dict[str, Any], own_hpke_public_key: str, own_cert_sha256: str) -> Manifest:
        """Import a survey bundle from the organiser (manifest, token hashes, analyst credential hash).

        Refuses a bundle whose manifest does not list this node's own keys.  Importing the same
        bundle twice is a no-op; a different manifest under the same survey id is refused.
        """
        if not isinstance(bundle, dict) or "manifest" not in bundle:
            raise InvalidManifest("survey bundle must be a JSON object with a 'manifest'")
        manifest = manifest_from_json(bundle["manifest"])
        hashes = bundle.get("token_hashes")
        cred = bundle.get("analyst_credential_sha256")
        if not isinstance(hashes, list) or not all(isinstance(h, str) and len(h) == 64 for h in hashes):
            raise InvalidManifest("survey bundle: token_hashes must be a list of hex SHA-256 digests")
        if not isinstance(cred, str) or len(cred) != 64:
            raise InvalidManifest("survey bundle: analyst_credential_sha256 is missing")
        mine = [i for i, nd in enumerate(manifest.nodes)
                if nd.hpke_public_key == own_hpke_public_key and nd.tls_cert_sha256 == own_cert_sha256]
        if len(mine) != 1:
            raise InvalidManifest("this node's keys do not appear in the survey manifest (wrong node directory?)")
        mbytes = manifest.canonical_bytes()
        with self._tx():
            row = self._db.execute("SELECT manifest_hash FROM surveys WHERE survey_id=?", (manifest.survey_id,)).fetchone()
            if row is not None:
                if row[0] != manifest.hash_hex():
                    raise InvalidManifest(f"survey {manifest.survey_id} already exists here with another manifest")
            else:
                self._db.execute(
                    "INSERT INTO surveys (survey_id, manifest, manifest_hash, node_index, analyst_cred_hash, imported_at)"
                    " VALUES (?,?,?,?,?,?)",
                    (manifest.survey_id, mbytes, manifest.hash_hex(), mine[0], cred, format_time(now_utc())),
                )
            self._db.executemany("INSERT OR IGNORE INTO tokens (survey_id, token_hash) VALUES (?,?)",
                                 [(manifest.survey_id, h) for h in hashes])
            self._audit(manifest.survey_id, "import", {"manifest_hash": manifest.hash_hex(), "tokens": len(hashes)})
        self._token_prefixes.pop(manifest.survey_id, None)
        return manifest

    def survey_ids(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT survey_id FROM surveys ORDER BY imported_at")]

    def survey(self, survey_id: str) -> SurveyRecord:
        with self._lock:
            row = self._db.execute(
                "SELECT manifest, node_index, analyst_cred_hash, closed_at, purged_at FROM surveys WHERE survey_id=?",
                (survey_id,),
            ).fetchone()
        if row is None:
            raise RejectionReason.UNKNOWN_SURVEY.exception(f"unknown survey {survey_id!r}")
        mbytes = bytes(row[0])
        cached = self._manifests.get(survey_id)
        if cached is None or cached[0] != mbytes:
            cached = (mbytes, manifest_from_json(mbytes))
            self._manifests[survey_id] = cached
        return SurveyRecord(cached[1], mbytes, row[1], row[2], row[3], row[4])

    def state(self, survey_id: str, now: dt.datetime | None = None) -> SurveyState:
        return self._state(survey_id, self.survey(survey_id), now)

    def _state(self, survey_id: str, rec: SurveyRecord, now: dt.datetime | None = None) -> SurveyState:
        if rec.purged_at:
            return SurveyState.PURGED
        with self._lock:
            if self._db.execute("SELECT 1 FROM results WHERE survey_id=? AND committed=1", (survey_id,)).fetchone():
                return SurveyState.COMPUTED
        if rec.closed_at or rec.manifest.is_past_closing(now):
            return SurveyState.CLOSED
        return SurveyState.OPEN

    def check_analyst(self, survey_id: str, credential: str | None) -> None:
        """Raise :class:`InvalidToken` unless ``credential`` is this survey's analyst credential."""
        rec = self.survey(survey_id)
        if not credential or not hashes_equal(token_hash(credential), rec.analyst_cred_hash):
            raise RejectionReason.CREDENTIAL_REFUSED.exception("analyst credential missing or wrong")

    def first_unknown_token(self, survey_id: str, hashes: Sequence[str]) -> int | None:
        """The index of the first of ``hashes`` (hex SHA-256) that is not a token hash of the
        survey, or None: read-only, in memory (8 bytes a token), so that a request without a
        valid token is refused before any cryptography.  It compares the first 64 bits only: a
        hash it lets through by chance (about 2^-64 × tokens for a guessed token) is refused by
        the exact check inside the write transaction.  Reloaded when another import of the survey
        happened (in any process) since it was read."""
        gen, prefixes = self._token_prefix_index(survey_id)
        missing = _first_absent(prefixes, hashes)
        if missing is not None and self._import_generation(survey_id) != gen:
            gen, prefixes = self._token_prefix_index(survey_id, reload=True)
            missing = _first_absent(prefixes, hashes)
        return missing

    def _import_generation(self, survey_id: str) -> int:
        """The audit line of the survey's latest import (a cheap, exact sign that tokens were added)."""
        with self._lock:
            row = self._db.execute("SELECT MAX(seq) FROM audit WHERE survey_id=? AND event='import'",
                                   (survey_id,)).fetchone()
        return int(row[0] or 0)

    def _token_prefix_index(self, survey_id: str, reload: bool = False) -> tuple[int, Any]:
        """(import generation, sorted uint64 array of the first 8 bytes of every token hash)."""
        import numpy as np

        cached = self._token_prefixes.get(survey_id)
        if cached is not None and not reload:
            return cached
        with self._lock:
            gen = self._import_generation(survey_id)
            rows = self._db.execute("SELECT token_hash FROM tokens WHERE survey_id=?", (survey_id,)).fetchall()
        prefixes = np.sort(np.array([int(h[:16], 16) for (h,) in rows], dtype=np.uint64))
        self._token_prefixes[survey_id] = (gen, prefixes)
        return gen, prefixes

    def preload_tokens(self) -> None:
        """Read every survey's token hashes (and the token log) before serving."""
        self.preload_token_uses()
        for sid in self.survey_ids():
            self._token_prefix_index(sid, reload=True)

    def close_survey(self, survey_id: str, reason: str) -> bool:
        """Close the survey now (idempotent).  Returns True if this call closed it."""
        with self._tx():
            row = self._db.execute("SELECT closed_at FROM surveys WHERE survey_id=?", (survey_id,)).fetchone()
            if row is None:
                raise RejectionReason.UNKNOWN_SURVEY.exception(f"unknown survey {survey_id!r}")
            if row[0]:
                return False
            self._db.execute("UPDATE surveys SET closed_at=?, close_reason=? WHERE survey_id=?",
                             (format_time(now_utc()), reason, survey_id))
            self._audit(survey_id, "close", {"reason": reason})
            return True

    # -- ingest -------------------------------------------------------------------------------
    def accept(self, survey_id: str, submission_id: str, token: str, envelope: bytes, replace: bool,
               certificate: bytes = b"", share: bytes | None = None) -> SubmissionAck:
        """Store one sealed share, opened and checked by mpc_nodes.ingest, durably and return the
        acknowledgement.

        Inside the write transaction, in this order, the checks another upload can change
        meanwhile: the id not stored with other content, the survey open, the token known, the
        token unused (or ``replace``).  A repeat of a stored upload (same id, same token, same
        bytes) returns the original acknowledgement with status "duplicate", even after closing,
        so a contributor whose acknowledgement was lost can retry safely.
        """
        th = token_hash(token)
        env_sha = hashlib.sha256(envelope).hexdigest()
        rec = self.survey(survey_id)
        with self._tx():
            row = self._db.execute(
                "SELECT token_hash, envelope_sha256, stored_at FROM submissions WHERE survey_id=? AND submission_id=?",
                (survey_id, submission_id),
            ).fetchone()
            if row is not None:
                if hashes_equal(row[0], th) and hashes_equal(row[1], env_sha):
                    return SubmissionAck(survey_id, submission_id, rec.node_index, env_sha, UploadStatus.DUPLICATE, row[2])
                raise RejectionReason.DUPLICATE_ID.exception("submission id already used with different content")
            if self._state(survey_id, rec) != SurveyState.OPEN:
                raise RejectionReason.SURVEY_CLOSED.exception(
                    f"survey {survey_id} is closed and accepts no more submissions")
            if self._db.execute("SELECT 1 FROM tokens WHERE survey_id=? AND token_hash=?", (survey_id, th)).fetchone() is None:
                raise RejectionReason.UNKNOWN_TOKEN.exception("unknown participation token for this survey")
            self._sync_uses()
            replaced = self._used_by(survey_id, [th]).get(th)
            if replaced is not None:
                if not replace:
                    raise RejectionReason.TOKEN_USED.exception(
                        "this participation token was already used; submit with --replace to replace your earlier "
                        "answer")
                self._db.execute("DELETE FROM submissions WHERE survey_id=? AND submission_id=?", (survey_id, replaced))
            stored_at = format_time(now_utc())
            self._db.execute(
                "INSERT INTO submissions (survey_id, submission_id, token_hash, envelope, envelope_sha256, stored_at,"
                " certificate, share) VALUES (?,?,?,?,?,?,?,?)",
                (survey_id, submission_id, th, envelope, env_sha, stored_at, certificate, share),
            )
            seqs = self._append_uses(survey_id, [th], [submission_id])
            details: dict[str, Any] = {"submission_id": submission_id, "envelope_sha256": env_sha}
            if replaced:
                details["replaced"] = replaced
            if cleared := self._clear_refusals(survey_id, [th]):
                details["refusal_cleared"] = cleared[0]
            self._audit(survey_id, "receipt", details)
        self._note_uses(survey_id, [th], seqs)
        self._stored(1, len(envelope) + len(share or b""))
        return SubmissionAck(survey_id, submission_id, rec.node_index, env_sha,
                             UploadStatus.REPLACED if replaced else UploadStatus.STORED, stored_at, replaced)

    def accept_batch(self, survey_id: str, batch_id: str, ids: Sequence[str], tokens: Sequence[str],
                     shares: Sequence[bytes | memoryview], certificates: Sequence[bytes], envelope_sha256: str,
                     replace: bool) -> tuple[list[UploadStatus], str]:
        """Store a bulk upload's records (opened and checked by mpc_nodes.ingest) in one
        transaction: all or none, one fsync.  Returns (status per record, stored_at).  Checks, in
        this order: no token twice in the batch, then the checks of :meth:`accept` for every record.

        Record r's acknowledgement digest is SHA-256(batch envelope digest, r), so a repeat of the
        same batch answers "duplicate" for every record, and a record id reused with other
        content is refused.  Every record needs its own unused token (or ``replace``); the first
        offending record is named by its index in the batch.
        """
        th = [token_hash(t) for t in tokens]
        if len(set(th)) != len(th):
            raise RejectionReason.TOKEN_REPEATED.exception("a bulk upload uses one participation token twice")
        digests = [hashlib.sha256(f"{envelope_sha256}:{r}".encode()).hexdigest() for r in range(len(ids))]
        rec = self.survey(survey_id)
        # Which tokens the survey knows, read before taking the write lock (tokens are only ever
        # added, at import): the first unknown one is reported below, in the usual order of checks.
        with self._lock:
            known = self._known_hashes(survey_id, th)
        unknown = next((r for r, h in enumerate(th) if h not in known), None)

        with self._tx():
            existing = {row[0]: row[1:] for row in self._db.execute(
                "SELECT submission_id, token_hash, envelope_sha256, stored_at FROM submissions WHERE survey_id=? AND "
                f"submission_id IN ({','.join('?' * len(ids))})", (survey_id, *ids))}
            if existing:
                for r, sid in enumerate(ids):
                    old = existing.get(sid)
                    if old is None or not (hashes_equal(old[0], th[r]) and hashes_equal(old[1], digests[r])):
                        raise RejectionReason.DUPLICATE_ID.exception(
                            f"record {r} of the batch: submission id already used with different content (or the "
                            "batch was only partly stored)")
                return [UploadStatus.DUPLICATE] * len(ids), str(next(iter(existing.values()))[2])
            if self._state(survey_id, rec) != SurveyState.OPEN:
                raise RejectionReason.SURVEY_CLOSED.exception(
                    f"survey {survey_id} is closed and accepts no more submissions")
            if unknown is not None:
                raise RejectionReason.UNKNOWN_TOKEN.exception(
                    f"record {unknown} of the batch: unknown participation token for this survey")
            self._sync_uses()
            used = self._used_by(survey_id, th)
            if used and not replace:
                r = next(r for r, h in enumerate(th) if h in used)
                raise RejectionReason.TOKEN_USED.exception(
                    f"record {r} of the batch: this participation token was already used; submit with --replace to "
                    "replace the earlier answer")
            statuses = [UploadStatus.REPLACED if h in used else UploadStatus.STORED for h in th]
            if used:
                self._db.executemany("DELETE FROM submissions WHERE survey_id=? AND submission_id=?",
                                     [(survey_id, old) for old in used.values()])
            stored_at = format_time(now_utc())
            self._db.executemany(
                "INSERT INTO submissions (survey_id, submission_id, token_hash, envelope, envelope_sha256, stored_at,"
                " certificate, share) VALUES (?,?,?,NULL,?,?,?,?)",
                [(survey_id, sid, h, d, stored_at, c, sh)
                 for sid, h, d, c, sh in zip(ids, th, digests, certificates, shares)])
            seqs = self._append_uses(survey_id, th, ids)
            details: dict[str, Any] = {"batch_id": batch_id, "envelope_sha256": envelope_sha256,
                                       "submission_ids": list(ids)}
            if used:
                details["replaced"] = sorted(used.values())
            if cleared := self._clear_refusals(survey_id, th):
                details["refusals_cleared"] = cleared
            self._audit(survey_id, "bulk-receipt", details)
        self._note_uses(survey_id, th, seqs)
        self._stored(len(ids), sum(len(s) for s in shares))
        return statuses, stored_at

    def holds(self, survey_id: str, submission_id: str) -> bool:
        """Whether a submission with this id is stored (a repeat may be answered after closing)."""
        with self._lock:
            return self._db.execute("SELECT 1 FROM submissions WHERE survey_id=? AND submission_id=?",
                                    (survey_id, submission_id)).fetchone() is not None

    def count(self, survey_id: str) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM submissions WHERE survey_id=?", (survey_id,)).fetchone()[0])

    def submission_ids(self, survey_id: str) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute(
                "SELECT submission_id FROM submissions WHERE survey_id=? ORDER BY submission_id", (survey_id,))]

    def _column(self, survey_id: str, ids: Iterable[str], column: str, batch: int
                ) -> Iterator[tuple[str, bytes | None]]:
        """(submission_id, value of ``column`` or None) for ``ids`` in the given order, read in batches."""
        ids = list(ids)
        for k in range(0, len(ids), batch):
            chunk = ids[k : k + batch]
            with self._lock:
                rows = dict(self._db.execute(
                    f"SELECT submission_id, {column} FROM submissions WHERE survey_id=? AND submission_id IN "
                    f"({','.join('?' * len(chunk))})", (survey_id, *chunk)).fetchall())
            for sid in chunk:
                value = rows.get(sid)
                yield sid, None if value is None else bytes(value)

    def shares(self, survey_id: str, ids: Iterable[str], batch: int = 5000
               ) -> Iterator[tuple[str, bytes | None, bytes | None]]:
        """Yield (submission_id, opened share or None, sealed envelope or None) for ``ids`` in the
        given order, in batches.  A row stored before shares were kept opened has only its
        envelope; a bulk-uploaded row only its share."""
        ids = list(ids)
        for k in range(0, len(ids), batch):
            chunk = ids[k : k + batch]
            with self._lock:
                rows = {r[0]: (r[1], r[2]) for r in self._db.execute(
                    "SELECT submission_id, share, envelope FROM submissions WHERE survey_id=? AND submission_id IN "
                    f"({','.join('?' * len(chunk))})", (survey_id, *chunk))}
            for sid in chunk:
                share, env = rows.get(sid, (None, None))
                if share is None and env is None:
                    raise SurveyError(f"submission {sid} is missing from this node's store")
                yield sid, None if share is None else bytes(share), None if env is None else bytes(env)

    def scan_shares(self, survey_id: str, batch: int = 5000
                    ) -> Iterator[tuple[str, bytes | None, bytes | None]]:
        """Every stored (submission_id, opened share or None, envelope or None) of the survey in
        the table's physical order: one sequential read of the table instead of one seek per
        submission (which, for a million rows, is what made compute slow here)."""
        cur = self._db.cursor()
        with self._lock:
            cur.execute("SELECT submission_id, share, envelope FROM submissions NOT INDEXED WHERE survey_id=?",
                        (survey_id,))
        while True:
            with self._lock:
                rows = cur.fetchmany(batch)
            if not rows:
                return
            for sid, share, env in rows:
                yield sid, None if share is None else bytes(share), None if env is None else bytes(env)

    def envelopes(self, survey_id: str, ids: Iterable[str], batch: int = 5000) -> Iterator[tuple[str, bytes]]:
        """Yield (submission_id, sealed envelope) for ``ids`` in the given order, in batches."""
        for sid, env in self._column(survey_id, ids, "envelope", batch):
            if env is None:
                raise SurveyError(f"submission {sid} is missing from this node's store")
            yield sid, env

    def certificates(self, survey_id: str, ids: Iterable[str], batch: int = 5000) -> Iterator[bytes]:
        """The stored submission certificates for ``ids``, in order (empty bytes where none)."""
        for _, cert in self._column(survey_id, ids, "certificate", batch):
            yield cert or b""

    # -- agreement, result --------------------------------------------------------------------
    def record_agreement(self, survey_id: str, ids: list[str]) -> str:
        """Freeze the agreed set; a rerun must agree on the same set (else SurveyError)."""
        digest = set_digest(ids)
        with self._tx():
            row = self._db.execute("SELECT digest FROM agreements WHERE survey_id=?", (survey_id,)).fetchone()
            if row is not None:
                if row[0] != digest:
                    raise SurveyError("the agreed submission set differs from the one frozen by an earlier run")
                return digest
            self._db.execute("INSERT INTO agreements (survey_id, digest, ids, agreed_at) VALUES (?,?,?,?)",
                             (survey_id, digest, json.dumps(sorted(ids)), format_time(now_utc())))
            self._audit(survey_id, "agreement", {"count": len(ids), "digest": digest})
        return digest

    def store_result(self, survey_id: str, sealed: bytes, accepted: int, rejected: int, agreed_digest: str,
                     run_id: str, caught: Sequence[int] = (), set_aside: int = 0,
                     sign_head: Callable[[int, str], AuditAnchor] | None = None, left_out: Sequence[int] = (),
                     disputes: Sequence[tuple[int, int]] = ()) -> None:
        """Keep this node's sealed result share of MPC run ``run_id`` as *prepared* (not served);
        ``caught``: nodes this node saw send wrong shares whose errors were corrected; ``set_aside``:
        submissions not counted because their validation shares were off the polynomial;
        ``sign_head(seq, head)``: this node's signature of its audit-log head once the compute line
        is written, kept in the same transaction (so a prepared share always has its anchor);
        ``left_out``: nodes lost (down, crashed, silent) and left out of the run; ``disputes``: pairs
        left out after a dispute.

        A prepared share of an earlier, unfinished run is replaced; a committed one never is.
        """
        with self._tx():
            row = self._db.execute("SELECT committed FROM results WHERE survey_id=?", (survey_id,)).fetchone()
            if row is not None and row[0]:
                raise SurveyError(f"survey {survey_id} already has a result; it is released only once")
            self._db.execute("DELETE FROM results WHERE survey_id=?", (survey_id,))
            self._db.execute(
                "INSERT INTO results (survey_id, sealed, accepted, rejected, agreed_digest, computed_at, run_id,"
                " committed, caught, set_aside, left_out, disputes) VALUES (?,?,?,?,?,?,?,0,?,?,?,?)",
                (survey_id, sealed, accepted, rejected, agreed_digest, format_time(now_utc()), run_id,
                 json.dumps(sorted(caught)), set_aside, json.dumps(sorted(left_out)),
                 json.dumps(sorted([sorted(p) for p in disputes]))),
            )
            self._audit(survey_id, "compute", {"accepted": accepted, "rejected": rejected, "digest": agreed_digest,
                                               "run_id": run_id, **({"set_aside": set_aside} if set_aside else {})})
            if sign_head is not None:
                seq, head = self._db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
                self._keep_anchor(survey_id, sign_head(int(seq), str(head)))

    def commit_result(self, survey_id: str, run_id: str) -> None:
        """Serve the prepared share of ``run_id`` from now on (every node prepared that run)."""
        with self._tx():
            row = self._db.execute("SELECT run_id, committed FROM results WHERE survey_id=?", (survey_id,)).fetchone()
            if row is None or row[0] != run_id:
                raise SurveyError(f"no prepared result of run {run_id} to commit")
            if row[1]:
                return
            self._db.execute("UPDATE results SET committed=1 WHERE survey_id=?", (survey_id,))
            self._audit(survey_id, "commit", {"run_id": run_id})

    def result_state(self, survey_id: str) -> tuple[ResultState, str | None]:
        """(the node's :class:`ResultState`, run id)."""
        with self._lock:
            row = self._db.execute("SELECT run_id, committed FROM results WHERE survey_id=?", (survey_id,)).fetchone()
        if row is None:
            return ResultState.NONE, None
        return (ResultState.COMMITTED if row[1] else ResultState.PREPARED), row[0]

    def result(self, survey_id: str) -> StoredResult | None:
        """The committed result share, if any."""
        with self._lock:
            row = self._db.execute(
                "SELECT sealed, accepted, rejected, agreed_digest, computed_at, run_id, caught, set_aside, left_out,"
                " disputes FROM results"
                " WHERE survey_id=? AND committed=1", (survey_id,)).fetchone()
        if row is None:
            return None
        own = [a for a in self.anchors(survey_id) if a.node_index == self.survey(survey_id).node_index]
        return StoredResult(bytes(row[0]), int(row[1]), int(row[2]), str(row[3]), str(row[4]), str(row[5]),
                            tuple(int(x) for x in json.loads(row[6])), int(row[7]), own[-1] if own else None,
                            tuple(int(x) for x in json.loads(row[8])),
                            tuple((int(a), int(b)) for a, b in json.loads(row[9])))

    # -- audit anchors --------------------------------------------------------------------------
    def _keep_anchor(self, survey_id: str, a: AuditAnchor) -> None:
        self._db.execute("INSERT OR REPLACE INTO audit_anchors (survey_id, node, seq, head, signature) VALUES "
                         "(?,?,?,?,?)", (survey_id, a.node_index, a.seq, a.head, a.signature))

    def keep_anchor(self, survey_id: str, a: AuditAnchor) -> None:
        """Keep a peer's signed audit-log head (checked by the caller), and say so in the log."""
        with self._tx():
            known = self._db.execute("SELECT 1 FROM audit_anchors WHERE survey_id=? AND node=? AND seq=? AND head=?",
                                     (survey_id, a.node_index, a.seq, a.head)).fetchone()
            if known is None:
                self._keep_anchor(survey_id, a)
                self._audit(survey_id, "peer-audit-head", {"node": a.node_index, "seq": a.seq, "head": a.head})

    def anchors(self, survey_id: str) -> list[AuditAnchor]:
        """Every signed audit-log head kept for the survey, by node then line."""
        with self._lock:
            rows = self._db.execute("SELECT node, seq, head, signature FROM audit_anchors WHERE survey_id=? "
                                    "ORDER BY node, seq", (survey_id,)).fetchall()
        return [AuditAnchor(int(j), int(seq), str(head), str(sig)) for j, seq, head, sig in rows]

    # -- dispute ------------------------------------------------------------------------------
    def publish_dispute(self, survey_id: str, attempt: int, rnd: int, accusations: Sequence[Accusation],
                        endorsements: Sequence[Endorsement]) -> None:
        """Add signed items to what this node's compute state publishes, then say it has reached
        round ``rnd`` of the dispute over attempt ``attempt`` (items first: a peer that sees the
        round sees everything published for it)."""
        rows = ([("accusation", _canonical(asdict(a))) for a in accusations]
                + [("endorsement", _canonical(asdict(e))) for e in endorsements])
        with self._tx():
            self._db.executemany("INSERT OR IGNORE INTO dispute_items (survey_id, kind, item) VALUES (?,?,?)",
                                 [(survey_id, k, item) for k, item in rows])
            self._db.execute("INSERT OR REPLACE INTO dispute_progress (survey_id, attempt, round) VALUES (?,?,?)",
                             (survey_id, attempt, rnd))

    def dispute(self, survey_id: str) -> tuple[list[Accusation], list[Endorsement], int, int]:
        """What this node publishes about disputes: (accusations, endorsements, attempt, round),
        attempt -1 before any."""
        with self._lock:
            items = self._db.execute("SELECT kind, item FROM dispute_items WHERE survey_id=? ORDER BY kind, item",
                                     (survey_id,)).fetchall()
            row = self._db.execute("SELECT attempt, round FROM dispute_progress WHERE survey_id=?",
                                   (survey_id,)).fetchone()
        acc = [Accusation.parse(json.loads(item)) for kind, item in items if kind == "accusation"]
        end = [Endorsement.parse(json.loads(item)) for kind, item in items if kind == "endorsement"]
        return acc, end, (int(row[0]) if row else -1), (int(row[1]) if row else 0)

    def next_accusation(self, survey_id: str) -> int:
        """The sequence number of this node's next accusation for the survey: one more than the
        last it signed, in any compute (committed before it is returned)."""
        with self._tx():
            row = self._db.execute("SELECT count FROM accusations_signed WHERE survey_id=?", (survey_id,)).fetchone()
            count = (int(row[0]) if row else 0) + 1
            self._db.execute("INSERT OR REPLACE INTO accusations_signed (survey_id, count) VALUES (?,?)",
                             (survey_id, count))
        return count

    def clear_dispute(self, survey_id: str) -> None:
        """Forget the disputes of an earlier compute: a new compute numbers its attempts from 0."""
        with self._tx():
            self._db.execute("DELETE FROM dispute_items WHERE survey_id=?", (survey_id,))
            self._db.execute("DELETE FROM dispute_progress WHERE survey_id=?", (survey_id,))

    def check_anchor(self, seq: int, head: str, who: str) -> None:
        """This node's log must hold line ``seq`` with hash ``head`` (as ``who`` recorded it) on an
        intact chain; raises SurveyError naming what was done to it otherwise."""
        self.verify_audit()
        rows = self.audit_rows()
        if not rows or rows[-1][0] < seq:
            raise SurveyError(f"audit log ends at line {rows[-1][0] if rows else 0}, but {who} recorded its line {seq}: "
                              "lines were removed from the end")
        at = next((r for r in rows if r[0] == seq), None)
        if at is None or at[6] != head:
            raise SurveyError(f"audit log line {seq} is not the one {who} recorded (hash {head[:16]}…): the log was "
                              "rewritten")

    def note_event(self, survey_id: str, event: str, details: dict[str, Any]) -> None:
        """Append one event (no share, no token) to the audit log."""
        with self._tx():
            self._audit(survey_id, event, details)

    def note_invalid(self, survey_id: str, rejected: list[tuple[str, str]]) -> None:
        """Audit every submission that failed validation, with the reason (ids only, no content).

        Idempotent across reruns: a submission already noted is not noted again.
        """
        with self._tx():
            seen = {json.loads(d)["submission_id"] for (d,) in self._db.execute(
                "SELECT details FROM audit WHERE survey_id=? AND event='invalid'", (survey_id,))}
            for sid, reason in rejected:
                if sid not in seen:
                    self._audit(survey_id, "invalid", {"submission_id": sid, "reason": reason})

    def note_refused(self, survey_id: str, token_hashes: Sequence[str], submission_ids: Sequence[str],
                     reason: str) -> int:
        """Record uploads refused for their content (``token_hashes[r]`` carried by
        ``submission_ids[r]``), so that every node counts them in submissions.rejected: only those
        whose token is one of the survey's and has no stored submission, at most once per token
        (a token's first refusal stands), and only while the survey is open.  One audit line for
        each recorded.  Returns how many were recorded."""
        with self._tx():
            if self._state(survey_id, self.survey(survey_id)) != SurveyState.OPEN:
                return 0
            known = self._known_hashes(survey_id, token_hashes)
            self._sync_uses()
            used = self._used_by(survey_id, token_hashes)
            already = self._refused_hashes(survey_id, token_hashes)
            at = format_time(now_utc())
            recorded = 0
            for h, sid in zip(token_hashes, submission_ids):
                if h in known and h not in used and h not in already:
                    self._db.execute("INSERT INTO refusals (survey_id, token_hash, submission_id, reason, refused_at)"
                                     " VALUES (?,?,?,?,?)", (survey_id, h, sid, reason, at))
                    self._audit(survey_id, "refused", {"submission_id": sid, "reason": reason})
                    already.add(h)
                    recorded += 1
        return recorded

    def _known_hashes(self, survey_id: str, hashes: Sequence[str]) -> set[str]:
        """Which of ``hashes`` are token hashes of the survey (exact, from the database)."""
        return self._hashes_in("tokens", survey_id, hashes)

    def _refused_hashes(self, survey_id: str, hashes: Sequence[str]) -> set[str]:
        """Which of ``hashes`` have a recorded refusal."""
        return self._hashes_in("refusals", survey_id, hashes)

    def _hashes_in(self, table: str, survey_id: str, hashes: Sequence[str]) -> set[str]:
        """Which of ``hashes`` appear as ``token_hash`` in ``table`` for the survey (500 per query:
        SQLite's bound-parameter limit)."""
        found: set[str] = set()
        for k in range(0, len(hashes), 500):
            chunk = list(hashes[k: k + 500])
            found.update(r[0] for r in self._db.execute(
                f"SELECT token_hash FROM {table} WHERE survey_id=? AND token_hash IN ({','.join('?' * len(chunk))})",
                (survey_id, *chunk)))
        return found

    def _clear_refusals(self, survey_id: str, hashes: Sequence[str]) -> list[str]:
        """Delete the refusals of ``hashes`` (their tokens now have a stored upload, inside the
        write transaction); returns the submission ids they named."""
        if self._db.execute("SELECT 1 FROM refusals WHERE survey_id=? LIMIT 1", (survey_id,)).fetchone() is None:
            return []
        cleared: list[str] = []
        for k in range(0, len(hashes), 500):
            chunk = list(hashes[k: k + 500])
            where = f"survey_id=? AND token_hash IN ({','.join('?' * len(chunk))})"
            cleared.extend(r[0] for r in self._db.execute(f"SELECT submission_id FROM refusals WHERE {where}",
                                                          (survey_id, *chunk)))
            self._db.execute(f"DELETE FROM refusals WHERE {where}", (survey_id, *chunk))
        return sorted(cleared)

    def refused_ids(self, survey_id: str) -> list[str]:
        """Ids of the uploads on record as refused for their content (see :meth:`note_refused`), sorted."""
        with self._lock:
            return [r[0] for r in self._db.execute(
                "SELECT submission_id FROM refusals WHERE survey_id=? ORDER BY submission_id", (survey_id,))]

    def note_release(self, survey_id: str) -> None:
        with self._tx():
            self._audit(survey_id, "release", {})

    def purge(self, survey_id: str) -> int:
        """Delete every stored share of a computed survey; the audit log stays.  Returns the count."""
        if self.state(survey_id) not in (SurveyState.COMPUTED, SurveyState.PURGED):
            raise SurveyError("purge is allowed only after the result has been computed")
        with self._tx():
            n = self._db.execute("UPDATE submissions SET envelope=NULL, certificate=NULL, share=NULL"
                                 " WHERE survey_id=? AND (envelope IS NOT NULL OR share IS NOT NULL)",
                                 (survey_id,)).rowcount
            self._db.execute("UPDATE surveys SET purged_at=? WHERE survey_id=?", (format_time(now_utc()), survey_id))
            self._audit(survey_id, "purge", {"shares_deleted": n})
        return n

    def audit_rows(self) -> list[tuple[int, str, str | None, str, str, str, str]]:
        with self._lock:
            return list(self._db.execute("SELECT seq, at, survey_id, event, details, prev_hash, hash FROM audit ORDER BY seq"))

    def verify_audit(self) -> int:
        """Check the audit hash chain; raises SurveyError at the first bad line, else returns the count."""
        prev = GENESIS
        rows = self.audit_rows()
        for seq, at, sid, event, details, prev_hash, h in rows:
            if prev_hash != prev or _audit_hash(prev, at, sid, event, details) != h:
                raise SurveyError(f"audit log line {seq} has been altered")
            prev = h
        return len(rows)
