"""The MPyC program one node runs as one party of the survey computation (a subprocess).

Started by :mod:`mpc_nodes.compute` as ``python -m mpc_nodes.mpc_program JOB OUT`` with the
working directory holding ``.config/party_{pid}.crt|key`` and ``.config/mpyc_ca.crt`` (MPyC's
fixed ``--ssl`` layout).  ``mpyc.runtime`` parses ``sys.argv`` at import time, so this module
builds that argv itself from the job file and imports the runtime only inside :func:`main`.

What it computes (docs/THREAT_MODEL.md has the why and the probabilities):

1. agreement (round A): every party broadcasts the agreed submission-set digest, every node's
   *signed* frozen-set digest as it fetched them, and a commitment to a random nonce; round B
   reveals the nonces; the joint seed is their hash.  Every broadcast is signed and echoed
   (:class:`Channel`), so a party that tells two peers two different things is named by its
   own signatures, and a rushing party cannot bias the seed;
2. validation: every party broadcasts its shares of seven linear functions of each submission
   (:mod:`protocol.validity`: consistency and the contributor's validity proof).  All are
   degree-t sharings: a wrong share makes the row inconsistent (never a wrong verdict) and is
   located when n >= 3t+1;
3. its local share of the summed *valid* record vectors (no communication), turned into the
   release vector of :mod:`protocol.disclosure` (per cell and per gender: counts, salary sums,
   sums of squares, band histograms); with differential privacy every party adds its share of
   jointly dealt discrete Laplace noise (:func:`_add_noise`);
4. the counts are opened to the nodes with error correction (they are part of the released
   table) and decide, by the disclosure rule, which salary figures are released (small cells
   and the cells that would let someone derive them); every honest node sends 0 for the rest;
5. each party writes its shares of the release vector to OUT, sealed later to the analyst, who
   reconstructs with error correction.  No salary figure is ever opened to the nodes.

The computation is linear apart from the proof checks, so no MPyC multiplication or comparison
(semi-honest protocols) is used: MPyC provides the parties' mutually authenticated links.

Hardening around MPyC (pinned to mpyc 0.11):
- peers are authenticated by the SHA-256 of their TLS certificate from the manifest, on top of
  MPyC's mutual TLS (whose hostname check cannot bind party ids to our self-signed certs);
- nothing a peer sends reaches :mod:`pickle`: this program exchanges raw bytes over MPyC's links
  (:meth:`Channel._transfer`, not ``mpc.transfer``) and decodes them strictly, and ``pickle``
  inside ``mpyc.runtime`` is replaced by :class:`SafePickle`, which parses MPyC's one remaining
  message (the shutdown barrier's party id) by hand and refuses everything else.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import json
import pickle
import resource
import secrets
import ssl
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from protocol.labels import Label

EXIT_PEER_IDENTITY = 3
EXIT_DISAGREEMENT = 4
EXIT_UNSAFE_MESSAGE = 5


@dataclass(frozen=True)
class Refused:
    """What a refused message becomes (it is never unpickled)."""

    reason: str


class SafePickle:
    """Stand-in for the ``pickle`` module inside ``mpyc.runtime``: no unpickling at all.

    This program exchanges raw bytes (:meth:`Channel._transfer`), so the only message MPyC itself
    still decodes is its shutdown barrier, the pickled party id ``b"\x80\x04K" + id + b"."``.
    ``loads`` parses exactly that by hand; anything else becomes a :class:`Refused` marker.  No
    byte a peer sends reaches :mod:`pickle`.
    """

    dumps = staticmethod(pickle.dumps)
    HIGHEST_PROTOCOL = pickle.HIGHEST_PROTOCOL

    @staticmethod
    def loads(data: bytes) -> Any:
        if isinstance(data, (bytes, bytearray)) and len(data) == 5 and data[:3] == b"\x80\x04K" and data[4:] == b".":
            return data[3]
        return Refused("not a party id (peers exchange raw bytes only; nothing was unpickled)")


_FAULT_FILE = "fault.json"
CHEAT: str | None = None  # one of mpc_nodes.cheats.CHEATS, for the cheating-node tests only


def _fail(code: int, message: str, culprits: tuple[int, ...] = ()) -> NoReturn:
    """Abort this party at once; a detected deviation is described in fault.json, with the
    culprits when they are known."""
    import os

    if code in (EXIT_DISAGREEMENT, EXIT_UNSAFE_MESSAGE):
        Path(_FAULT_FILE).write_text(json.dumps({"culprits": list(culprits), "message": message}))
    print(f"mpc-node compute: {message}", file=sys.stderr, flush=True)
    os._exit(code)


def _install_hardening(fingerprints: list[str]) -> None:
    from mpyc import asyncoro
    import mpyc.runtime as rt_module

    rt_module.pickle = SafePickle

    original_create = ssl.create_default_context

    def create_context(purpose: ssl.Purpose = ssl.Purpose.SERVER_AUTH, **kw: Any) -> ssl.SSLContext:
        ctx = original_create(purpose, **kw)
        # Party identity is checked by certificate fingerprint below; MPyC's fixed server names
        # ("MPyC party i") cannot be in certificates made before party indices were assigned.
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx

    ssl.create_default_context = create_context

    def check_peer(transport: Any, peer_pid: int) -> None:
        obj = transport.get_extra_info("ssl_object")
        der = obj.getpeercert(binary_form=True) if obj is not None else None
        if not der or not 0 <= peer_pid < len(fingerprints) or hashlib.sha256(der).hexdigest() != fingerprints[peer_pid]:
            transport.abort()
            _fail(EXIT_PEER_IDENTITY, f"a peer claiming to be node {peer_pid} presented a certificate that is not "
                                      "that node's certificate in the manifest; aborting")

    cls = asyncoro.MessageExchanger
    orig_made, orig_received = cls.connection_made, cls.data_received

    def connection_made(self: Any, transport: Any) -> None:
        if self.peer_pid is not None:  # we are the client: we know whom we dialled
            check_peer(transport, self.peer_pid)
        orig_made(self, transport)

    def data_received(self: Any, data: bytes) -> None:
        if self.peer_pid is None and len(self.bytes) + len(data) >= 2:  # server: first bytes carry the pid
            head = (bytes(self.bytes) + bytes(data))[:2]
            check_peer(self.transport, int.from_bytes(head, "little"))
        orig_received(self, data)

    cls.connection_made = connection_made
    cls.data_received = data_received


def main(argv: list[str] | None = None) -> None:
    """``mpc_program [--wait] job.json out.json``.  With ``--wait`` (how ``mpc-node compute``
    runs it) the party reads who the parties are from ``party.json``, imports everything, then
    waits for "go" on standard input before reading the job: the imports overlap the node's own
    preparation.  EOF instead of "go" ends it without doing anything."""
    argv = sys.argv[1:] if argv is None else argv
    wait = bool(argv) and argv[0] == "--wait"
    if wait:
        argv = argv[1:]
    job_path, out_path = Path(argv[0]), Path(argv[1])
    base = json.loads((job_path.parent / "party.json").read_text() if wait else job_path.read_text())
    n, pid, t = base["n"], base["pid"], base["threshold"]
    mpyc_argv = [sys.argv[0], "-I", str(pid), "-T", str(t), "--ssl", "--no-log"]
    for addr in base["parties"]:
        mpyc_argv += ["-P", addr]
    sys.argv = mpyc_argv
    from mpyc.runtime import mpc  # parses sys.argv: must come after it is set

    _install_hardening(base["fingerprints"])
    if len(mpc.parties) != n or mpc.threshold != t or mpc.pid != pid:
        _fail(2, "MPyC did not accept the party configuration")
    if wait:
        for module in ("protocol.fastfield", "protocol.nodeauth", "protocol.validity"):
            importlib.import_module(module)  # warm imports while the node prepares
        if sys.stdin.readline().strip() != "go":
            sys.exit(0)
    job = json.loads(job_path.read_text())
    if (job["n"], job["pid"], job["threshold"], job["parties"], job["fingerprints"]) != (
            n, pid, t, base["parties"], base["fingerprints"]):
        _fail(2, "the job does not match the party configuration")
    global CHEAT
    CHEAT = job.get("cheat")
    shape = (int(job["rows"]), int(job["width"]), int(job["field_modulus"]),
             int(job.get("batch_rows") or ShareMatrix.BATCH), _scheme(job).aggregate_width)
    if job.get("buckets"):  # what mpc-node compute writes
        bk = job["buckets"]
        X = ShareMatrix.from_buckets([job_path.parent / str(f) for f in bk["files"]], int(bk["bucket_rows"]), *shape)
    else:
        X = ShareMatrix(job_path.parent / job["matrix_file"], *shape)
    result = mpc.run(_compute(mpc, job, X))
    tmp = out_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result))
    tmp.replace(out_path)


class ShareMatrix:
    """The node's shares of the agreed submissions: ``rows`` x ``width`` 16-byte big-endian
    field elements below p, read in batches of rows so that memory stays bounded whatever the
    number of submissions (1e6 rows of 151 elements are 2.4 GB on disk).

    Two layouts: one matrix file in row order (:meth:`__init__`), or the *bucket files* that
    ``mpc-node compute`` writes (:meth:`from_buckets`): bucket b holds rows
    [b * bucket_rows, (b + 1) * bucket_rows) in the order the node's table stored them, each as
    a 4-byte big-endian row number and the row's elements.  The party sorts one bucket at a time
    in memory; the node thereby writes and reads every share once less than with a sorted
    matrix file (a third of the I/O of a million-row compute).

    A batch is (rows, width, 8) 16-bit limbs for p = 2^127 - 1 (the fast path of
    :mod:`protocol.fastfield`), otherwise an object array of Python ints.  Every element read is
    checked to be reduced, and every bucket to hold each of its rows exactly once; a bad file
    raises ValueError (the files are this node's own, written from shares it opened and
    range-checked at upload).
    """

    BATCH = 65536  # rows per read: 150 MB of limbs at 151 elements, and few BLAS calls
    BATCH_BYTES = 150 * 1024 * 1024  # wider surveys (job categories x bands) read fewer rows at a time

    def __init__(self, path: Path | None, rows: int, width: int, p: int, batch: int = BATCH,
                 sum_columns: int = 0) -> None:
        self.path, self.rows, self.width, self.p = path, rows, width, p
        self.batch = max(1, min(batch, self.BATCH_BYTES // (16 * width)))
        self.sum_columns = sum_columns  # the leading aggregate columns (histogram, sums, squares per cell)
        self.all_sums = [0] * sum_columns  # their sums over the batches given to add_to_sums
        self.buckets: list[Path] = []
        self.bucket_rows = 0
        self._where: dict[int, Any] = {}  # bucket -> file position of each of its rows, once known
        if path is not None:
            size = path.stat().st_size if rows else 0
            if size != rows * width * 16:
                raise ValueError("share matrix file has the wrong size")
        from protocol import fastfield

        self.fast = fastfield.supported(p)

    @classmethod
    def from_buckets(cls, files: list[Path], bucket_rows: int, rows: int, width: int, p: int,
                     batch: int = BATCH, sum_columns: int = 0) -> ShareMatrix:
        """The matrix held in bucket files (see the class docstring)."""
        X = cls(None, rows, width, p, batch, sum_columns)
        if bucket_rows < 1 or len(files) != max(1, -(-rows // bucket_rows)):
            raise ValueError("share buckets do not match the number of rows")
        X.buckets, X.bucket_rows = list(files), bucket_rows
        for b, f in enumerate(X.buckets):
            if f.stat().st_size != X._count(b) * X._record_size:
                raise ValueError("share bucket file has the wrong size")
        return X

    @property
    def _record_size(self) -> int:
        return 4 + 16 * self.width

    def _count(self, b: int) -> int:
        return max(0, min(self.bucket_rows, self.rows - b * self.bucket_rows))

    def _read_bucket(self, b: int, values: bool = True) -> Any:
        """Bucket b's elements in row order (a (count,) array of raw rows), after checking that it
        holds each of its rows exactly once; remembers where each row sits in the file."""
        import numpy as np

        from mpc_nodes.ostools import drop_from_page_cache

        rec = np.fromfile(self.buckets[b], dtype=np.dtype([("k", ">u4"), ("v", np.void, 16 * self.width)]))
        drop_from_page_cache(self.buckets[b])  # read once: leave the cache to the next buckets
        count = self._count(b)
        if len(rec) != count:
            raise ValueError("share bucket file has the wrong size")
        pos = rec["k"].astype(np.int64) - b * self.bucket_rows
        order = np.argsort(pos, kind="stable")
        if count and (pos[order] != np.arange(count)).any():
            raise ValueError("a share bucket holds a row twice or lacks one")
        self._where[b] = order.astype(np.int64)
        return rec["v"][order] if values else None

    def raw_rows(self, start: int, count: int) -> bytes:
        """The bytes of rows [start, start + count) (for a few rows: one seek each in bucket files)."""
        stride = self.width * 16
        if self.path is not None:
            with open(self.path, "rb") as fh:
                fh.seek(start * stride)
                data = fh.read(count * stride)
        else:
            parts = []
            for r in range(start, start + count):
                b, i = divmod(r, self.bucket_rows)
                if b not in self._where:
                    self._read_bucket(b, values=False)
                with open(self.buckets[b], "rb") as fh:
                    fh.seek(int(self._where[b][i]) * self._record_size + 4)
                    parts.append(fh.read(stride))
            data = b"".join(parts)
        if len(data) != count * stride:
            raise ValueError("share matrix file is truncated")
        return data

    def decode(self, data: Any, count: int) -> Any:
        """Rows from their bytes (or a numpy array of raw rows) as limbs or Python ints."""
        from protocol import fastfield

        try:
            return fastfield.decode_matrix(data, count, self.width, self.p)
        except ValueError as exc:
            raise ValueError(f"share matrix: {exc}") from None

    def add_to_sums(self, batch: Any) -> None:
        """Add a batch's aggregate columns to :attr:`all_sums` (mod p)."""
        import numpy as np

        from protocol import fastfield

        if not self.sum_columns or not len(batch):
            return
        if batch.dtype == np.object_:
            part = [int(v) for v in batch[:, : self.sum_columns].sum(axis=0)]
        else:
            part = fastfield.column_sums(batch, list(range(self.sum_columns)), None, self.p)
        self.all_sums = [(a + b) % self.p for a, b in zip(self.all_sums, part)]

    def batches(self, size: int | None = None) -> Iterator[tuple[int, Any]]:
        """(first row, batch) over the whole matrix, in order."""
        size = size or self.batch
        if self.path is not None:
            for start in range(0, self.rows, size):
                count = min(size, self.rows - start)
                yield start, self.decode(self.raw_rows(start, count), count)
            return
        for b in range(len(self.buckets)):
            values, base = self._read_bucket(b), b * self.bucket_rows
            for off in range(0, len(values), size):
                part = values[off: off + size]
                yield base + off, self.decode(part, len(part))
            del values


class Channel:
    """Consistent broadcast between the parties over MPyC's authenticated links.

    Every message is signed by its sender (ECDSA, the node's TLS key) over the survey, the round,
    the SHA-256 of the payload and the sender's *view*: the fresh random nonces every party sent
    it in round 0 of this run (:meth:`open`).  A receiver accepts a statement only if its own
    nonce of this run is in the view, so a statement from an earlier run (a rerun after an
    abort) can never be passed off as current.  After each round every party echoes the (hash,
    view, signature) triples it received, so all honest parties either hold the same payload from
    each party, or abort with a *proof* naming the party that signed two different fresh
    payloads.  A message that is malformed, unsigned, stale or not plain data names its sender
    (links are pinned to the manifest's certificates, so the sender is known).
    """

    MAGIC = b"SMP2"

    def __init__(self, mpc: Any, job: dict[str, Any]) -> None:
        from protocol.nodeauth import statement_verifier

        self.mpc, self.n, self.me = mpc, len(mpc.parties), mpc.pid
        self.key = Path(f".config/party_{self.me}.key").read_bytes()
        self.pubs = [statement_verifier(pem) for pem in job["certificates"]]
        self.context = hashlib.sha256(json.dumps([job["survey_id"], job["manifest_hash"]])
                                      .encode()).digest()
        self.round = 0
        self.label = -(1 << 40)  # message labels for _transfer, counting down
        self.nonce = secrets.token_bytes(16)
        self.view = b""  # n x 16 bytes: the nonce each party sent us in round 0

    async def open(self) -> None:
        """Round 0: every party sends a fresh 16-byte nonce to every other (raw, unsigned)."""
        got = await self._transfer(self.nonce)
        for j, v in enumerate(got):
            if not isinstance(v, (bytes, bytearray)) or len(v) != 16:
                _fail(EXIT_UNSAFE_MESSAGE, f"cheating detected: node {j} sent a malformed run nonce; aborting", (j,))
        self.view = b"".join(bytes(v) for v in got)

    def _fresh(self, view: bytes) -> bool:
        """Does a signer's view hold the nonce we sent in this run (so its statement is current)?"""
        return len(view) == 16 * self.n and view[16 * self.me: 16 * (self.me + 1)] == self.nonce
    def _statement(self, rnd: int, view: bytes, digest: bytes) -> bytes:
        return (Label.PARTY_MESSAGE.value + self.context + rnd.to_bytes(4, "big")
                + hashlib.sha256(view).digest() + digest)

    def _sign(self, rnd: int, payload: bytes) -> tuple[bytes, bytes]:
        from protocol.nodeauth import sign_statement

        digest = hashlib.sha256(payload).digest()
        return digest, sign_statement(self.key, self._statement(rnd, self.view, digest))

    def _verify(self, sender: int, rnd: int, view: bytes, digest: bytes, sig: bytes) -> bool:
        from protocol.errors import InvalidToken
        from protocol.nodeauth import verify_statement

        try:
            verify_statement(self.pubs[sender], self._statement(rnd, view, digest), sig)
            return True
        except InvalidToken:
            return False

    async def _transfer(self, msg: bytes, alt: dict[int, bytes] | None = None) -> list[Any]:
        """All-to-all exchange of raw bytes over MPyC's authenticated links, bypassing
        ``mpc.transfer`` and thus pickle entirely: what a peer sends stays bytes.

        Our messages carry their own labels (negative, so they never meet MPyC's own program
        counters); every party makes the same sequence of calls.  ``alt`` (cheat "equivocate"
        only) sends another message to some peers.
        """
        self.label -= 1
        for peer in range(self.n):
            if peer != self.me:
                self.mpc.parties[peer].protocol.send(self.label, alt[peer] if alt and peer in alt else msg)
        out: list[Any] = []
        for peer in range(self.n):
            if peer == self.me:
                out.append(msg)
                continue
            got = self.mpc.parties[peer].protocol.receive(self.label)
            out.append(await got if isinstance(got, asyncio.Future) else got)
        return out

    def _frame(self, rnd: int, payload: bytes) -> bytes:
        digest, sig = self._sign(rnd, payload)
        return self.MAGIC + rnd.to_bytes(4, "big") + len(sig).to_bytes(1, "big") + sig + self.view + payload

    async def broadcast(self, payload: bytes, size: int | None = None, equivocate: bytes | None = None,
                        garbage: bool = False, pickled: bytes | None = None) -> list[bytes]:
        """Send ``payload`` to every party; return every party's payload (ours at our index).

        ``size``: the exact payload length every party must send (None: any length).
        """
        self.round += 1
        rnd = self.round
        alt = None
        if equivocate is not None:  # cheat: a different (validly signed) payload to one peer
            victim = (self.me + 1) % self.n
            alt = {victim: self._frame(rnd, equivocate)}
        frame = self._frame(rnd, payload)
        if garbage:  # cheat: random bytes instead of a framed, signed message
            frame = secrets.token_bytes(len(frame))
        if pickled is not None:  # cheat: a crafted pickle instead of a message
            frame = pickled
        received = await self._transfer(frame, alt)
        payloads: list[bytes] = []
        triples: list[tuple[bytes, bytes, bytes]] = []  # (payload hash, signer's view, signature)
        V = 16 * self.n
        for j, msg in enumerate(received):
            if isinstance(msg, (bytes, bytearray)) and _looks_pickled(msg):
                _fail(EXIT_UNSAFE_MESSAGE, f"cheating detected: node {j} sent a message that is not plain data "
                                           "(a pickle; it was never unpickled), aborting", (j,))
            msg = bytes(msg) if isinstance(msg, bytearray) else msg
            ok = isinstance(msg, bytes) and len(msg) >= 9 and msg[:4] == self.MAGIC
            if ok:
                slen = msg[8]
                sig, view, body = msg[9: 9 + slen], msg[9 + slen: 9 + slen + V], msg[9 + slen + V:]
                ok = (int.from_bytes(msg[4:8], "big") == rnd and len(sig) == slen and len(view) == V
                      and (size is None or len(body) == size))
            if not ok:
                _fail(EXIT_UNSAFE_MESSAGE, f"cheating detected: node {j} sent a malformed message; aborting", (j,))
            if not self._fresh(view):
                _fail(EXIT_UNSAFE_MESSAGE, f"cheating detected: node {j} sent a message that is not bound to this "
                                           "run; aborting", (j,))
            digest = hashlib.sha256(body).digest()
            if not self._verify(j, rnd, view, digest, sig):
                _fail(EXIT_UNSAFE_MESSAGE, f"cheating detected: node {j} sent a message without its valid "
                                           "signature; aborting", (j,))
            payloads.append(body)
            triples.append((digest, view, sig))
        # Echo: what did everyone else receive from each party?
        E = 32 + V + 1 + 80
        echo = b"".join(d + v + len(s).to_bytes(1, "big") + s.ljust(80, b"\0") for d, v, s in triples)
        echoes = await self._transfer(self.MAGIC + b"ECHO" + rnd.to_bytes(4, "big") + echo)
        for k, msg in enumerate(echoes):
            if not isinstance(msg, (bytes, bytearray)) or len(msg) != 12 + E * self.n \
                    or msg[:8] != self.MAGIC + b"ECHO" or int.from_bytes(msg[8:12], "big") != rnd:
                _fail(EXIT_UNSAFE_MESSAGE, f"cheating detected: node {k} sent a malformed echo; aborting", (k,))
            msg = bytes(msg)
            for j in range(self.n):
                at = 12 + E * j
                d, view, slen = msg[at: at + 32], msg[at + 32: at + 32 + V], msg[at + 32 + V]
                sig = msg[at + 33 + V: at + 33 + V + slen]
                # Forwarding a statement j did not sign *in this run* (stale or forged) is k's lie.
                if slen > 80 or not self._fresh(view) or not self._verify(j, rnd, view, d, sig):
                    _fail(EXIT_UNSAFE_MESSAGE, f"cheating detected: node {k} forwarded a message that node {j} "
                                               "never signed in this run; aborting", (k,))
                if (d, view) != triples[j][:2]:
                    _fail(EXIT_DISAGREEMENT, f"cheating detected: node {j} sent different signed messages to "
                                             f"different nodes (round {rnd}; the two signatures prove it); "
                                             "aborting before any result", (j,))
        return payloads

    async def deal(self, per_party: list[bytes], size: int) -> list[bytes]:
        """Private exchange: party j receives ``per_party[j]`` from us (a Shamir share meant for
        it alone); returns what every party dealt to us (ours at our index).  Links are pinned
        TLS, so the sender is known; a message of the wrong form names it."""
        got = await self._transfer(self.MAGIC + b"DEAL" + per_party[self.me],
                                   {j: self.MAGIC + b"DEAL" + m for j, m in enumerate(per_party) if j != self.me})
        out: list[bytes] = []
        for j, msg in enumerate(got):
            if isinstance(msg, (bytes, bytearray)) and _looks_pickled(msg):
                _fail(EXIT_UNSAFE_MESSAGE, f"cheating detected: node {j} sent a message that is not plain data "
                                           "(a pickle; it was never unpickled), aborting", (j,))
            if (not isinstance(msg, (bytes, bytearray)) or len(msg) != 8 + size
                    or bytes(msg[:8]) != self.MAGIC + b"DEAL"):
                _fail(EXIT_UNSAFE_MESSAGE, f"cheating detected: node {j} dealt a malformed share; aborting", (j,))
            out.append(bytes(msg[8:]))
        return out


async def _agreement(ch: Channel, job: dict[str, Any]) -> bytes:
    """Round A: agreed digest, every node's signed frozen-set digest as seen here, and a commitment
    to a random nonce; round B: the nonces.  Returns the joint seed (all nonces, hashed)."""
    import base64

    n, t = ch.n, int(job["threshold"])
    agreed = bytes.fromhex(job["agreed_digest"])
    if CHEAT == "agree":
        agreed = hashlib.sha256(b"another submission set" + agreed).digest()
    nonce = secrets.token_bytes(32)
    commit = hashlib.sha256(Label.COIN.value + nonce).digest()
    views = b""
    stmts = job.get("set_statements") or []
    for j in range(n):
        st = stmts[j] if j < len(stmts) else {"digest": "00" * 32, "sig": ""}
        sig = base64.b64decode(st["sig"]) if st["sig"] else b""
        views += bytes.fromhex(st["digest"]) + len(sig).to_bytes(1, "big") + sig.ljust(80, b"\0")
    size = 64 + 113 * n
    equivocate = None
    if CHEAT == "equivocate":
        equivocate = agreed + hashlib.sha256(b"other" + commit).digest() + views
    msgs = await ch.broadcast(agreed + commit + views, size=size, equivocate=equivocate)
    from protocol.errors import InvalidToken
    from protocol.nodeauth import frozen_set_statement, verify_statement

    # Signed frozen sets: a node that gave two peers two different sets is named by its signatures.
    seen: dict[int, bytes] = {}
    for k, msg in enumerate(msgs if stmts else []):  # (no statements: tests that call the party directly)
        for j in range(n):
            at = 64 + 113 * j
            d, slen = msg[at: at + 32], msg[at + 32]
            try:
                if slen > 80:
                    raise InvalidToken("bad length")
                verify_statement(ch.pubs[j], frozen_set_statement(job["survey_id"], job["manifest_hash"], j,
                                                                  d.hex()), msg[at + 33: at + 33 + slen])
            except InvalidToken:
                _fail(EXIT_UNSAFE_MESSAGE, f"cheating detected: node {k} forwarded a frozen set that node {j} "
                                           "never signed; aborting", (k,))
            if seen.setdefault(j, d) != d:
                _fail(EXIT_DISAGREEMENT, f"cheating detected: node {j} served different frozen submission sets "
                                         "to different nodes (both signed by it); aborting before any result", (j,))
    digests = [msg[:32] for msg in msgs]
    if len(set(digests)) != 1:
        # Honest nodes that saw the same signed sets compute the same intersection: with at least
        # n - t honest nodes, a digest held by fewer than n - t nodes is not an honest one.
        top = max(digests, key=digests.count)
        odd = [j for j, d in enumerate(digests) if d != top] if digests.count(top) >= n - t else []
        who = (f"cheating detected: node(s) {', '.join(map(str, odd))} entered another submission set than the "
               "others" if odd else "the nodes computed over different submission sets")
        _fail(EXIT_DISAGREEMENT, f"{who}; aborting before any result", tuple(odd))
    commits = [msg[32:64] for msg in msgs]
    reveals = await ch.broadcast(nonce, size=32)
    for j, (c, r) in enumerate(zip(commits, reveals)):
        if hashlib.sha256(Label.COIN.value + r).digest() != c:
            _fail(EXIT_UNSAFE_MESSAGE, f"cheating detected: node {j} revealed a nonce that does not match its "
                                       "commitment; aborting", (j,))
    return hashlib.sha256(b"".join(reveals) + agreed).digest()


def _looks_pickled(msg: bytes | bytearray) -> bool:
    """A pickle (protocol 2-5: PROTO opcode first, STOP last), told apart from other malformed
    bytes only to say so in the error; nothing here ever unpickles it."""
    return len(msg) >= 3 and msg[0] == 0x80 and 2 <= msg[1] <= 5 and msg[-1:] == b"."


def crafted_pickle(marker: Path) -> bytes:
    """Cheat "pickle": a pickle that would run ``touch marker`` if anyone unpickled it."""

    class Evil:
        def __reduce__(self) -> tuple[Any, tuple[str]]:
            import os

            return (os.system, (f"touch {marker}",))

    return pickle.dumps(Evil())


def _encode(values: Any) -> bytes:
    """Field elements (Python ints, or limbs on the fast path) -> 16-byte big-endian each."""
    import numpy as np

    from protocol import fastfield

    if isinstance(values, np.ndarray) and values.dtype != np.object_:
        return fastfield.to_bytes(values)
    return fastfield.ints_to_bytes(np.asarray(values, dtype=object))


def _decode(data: bytes, rows: int, cols: int, p: int, sender: int) -> Any:
    """A peer's (rows, cols) field elements: limbs (fast path) or Python ints; range-checked."""
    from protocol import fastfield

    try:
        return fastfield.decode_matrix(data, rows, cols, p)
    except ValueError:
        _fail(EXIT_UNSAFE_MESSAGE, f"cheating detected: node {sender} sent an unreduced field element; aborting",
              (sender,))


async def _validate(ch: Channel, X: ShareMatrix, seed: bytes, job: dict[str, Any], p: int
                    ) -> tuple[list[str | None], dict[int, tuple[int, ...]], set[int]]:
    """Verdict per submission (None = valid), identical at every honest party; the nodes whose
    opening shares were off the polynomial per rejected inconsistent row (located when n >= 3t+1);
    and the nodes proven to have lied (their error was corrected)."""
    import numpy as np

    from protocol.validity import OPENINGS, Layout, derive_challenge, local_openings, verdicts

    t = int(job["threshold"])
    N = int(job["rows"])
    layout = Layout(_scheme(job))
    challenge = derive_challenge(seed, layout, p)
    # Streamed in batches of rows: only the (N, 7) openings are held for all rows at once.  The
    # same pass sums the aggregate columns of every row (X.all_sums), so that the totals over the
    # valid rows need only the invalid rows read again (see _valid_totals).
    parts = []
    for _, batch in X.batches():
        parts.append(local_openings(batch, layout, challenge, p))
        X.add_to_sums(batch)
    mine: Any = np.concatenate(parts) if parts else local_openings(X.decode(b"", 0), layout, challenge, p)
    if CHEAT == "validate" and N:  # wrong shares in the validation openings, on every other row
        if mine.dtype == np.object_:
            mine[::2, 0] = (mine[::2, 0] + 1) % p
        else:
            mine[::2, 0, -1] ^= 1  # flip the lowest bit of Y
    pickled = crafted_pickle(Path.cwd().parent / "PWNED-by-peer-pickle") if CHEAT == "pickle" else None
    msgs = await ch.broadcast(_encode(mine), size=16 * N * len(OPENINGS), garbage=CHEAT == "garbage",
                              pickled=pickled)
    shares = [_decode(m, N, len(OPENINGS), p, j) for j, m in enumerate(msgs)]
    if not N:
        return [], {}, set()
    reasons, suspects = verdicts(shares, t, p)
    liars: set[int] = set()
    located = {r: e for r, e in suspects.items() if e}
    if located and job.get("certificate_lookup"):
        liars = await _resolve(ch, X, shares, located, reasons, layout, challenge, job, p)
    return reasons, {r: e for r, e in suspects.items() if reasons[r] == "consistency"}, liars


async def _resolve(ch: Channel, X: ShareMatrix, shares: list[Any], located: dict[int, tuple[int, ...]],
                   reasons: list[str | None], layout: Any, challenge: Any, job: dict[str, Any], p: int) -> set[int]:
    """Rows whose odd shares were located (n >= 3t+1): tell a lying node from a lying contributor.

    Every party broadcasts its stored certificate of each such row, and each located node its
    share vector of the row.  The share must be the one the contributor committed to; the node's
    openings are recomputed from it.  Openings that differ: the node lied (named, and the row is
    judged on the error-corrected values).  A committed share off the others' polynomial: the
    contributor's fault (row rejected, nobody blamed).  Revealing is safe: for an honest
    contributor only lying nodes can be located (docs/THREAT_MODEL.md).  ``reasons`` is updated.
    """
    from mpc_nodes.store import read_certificates
    from protocol.commitment import (check_share, max_certificate_length, pad_certificate, unpad_certificate,
                                     verify_certificate)
    from protocol.errors import CheatingDetected, InvalidSubmission
    from protocol.field import lagrange_coefficients, robust_reconstruct
    from protocol.validity import OPENINGS, decide, local_openings, row_values

    n, t, W = ch.n, int(job["threshold"]), layout.width
    L = 2 + max_certificate_length(n)  # padded: 2-byte length, certificate, zeros
    rows = sorted(located)
    # This node's stored certificates of those rows, looked up by submission id in its own
    # database (read-only): only for the few located rows, so the node need not copy every
    # certificate out of its table for each compute.
    lookup = job["certificate_lookup"]
    with open(lookup["ids_file"], "rb") as fh:
        sids = []
        for r in rows:
            fh.seek(16 * r)
            sids.append(fh.read(16).hex())
    mine_certs = read_certificates(Path(lookup["store"]), str(job["survey_id"]), sids)
    stored = [pad_certificate(c if 0 < len(c) <= max_certificate_length(n) else b"", n) for c in mine_certs]

    payload = b"".join(rec + (X.raw_rows(r, 1) if ch.me in located[r] else b"") for r, rec in zip(rows, stored))
    msgs = await ch.broadcast(payload)
    mh = bytes.fromhex(job["manifest_hash"])
    liars: set[int] = set()
    per_node: list[list[tuple[bytes, bytes | None]]] = []
    for j, msg in enumerate(msgs):
        want = sum(L + (16 * W if j in located[r] else 0) for r in rows)
        if len(msg) != want:
            _fail(EXIT_UNSAFE_MESSAGE, f"cheating detected: node {j} sent a malformed reveal message; aborting", (j,))
        at, items = 0, []
        for r in rows:
            cert_b = msg[at: at + L]
            at += L
            share = None
            if j in located[r]:
                share = msg[at: at + 16 * W]
                at += 16 * W
            items.append((cert_b, share))
        per_node.append(items)
    for k, r in enumerate(rows):
        valid_certs = {}
        for j in range(n):
            try:
                valid_certs[j] = verify_certificate(unpad_certificate(per_node[j][k][0], n), sids[k], n, mh)
            except InvalidSubmission:
                liars.add(j)  # every node checked the certificate at upload: it stored a valid one
        distinct = {c.signature + b"".join(c.commitments) for c in valid_certs.values()}
        if len(distinct) != 1:
            reasons[r] = "equivocating-contributor" if distinct else "consistency"
            continue
        cert = next(iter(valid_certs.values()))
        row_shares = {j: row_values(shares[j], r, p) for j in range(n)}
        try:
            values, _ = robust_reconstruct(row_shares, t, p)
        except CheatingDetected:
            reasons[r] = "consistency"
            continue
        good = [j for j in range(n) if j not in located[r]][: t + 1]
        contributor_fault = False
        for j in located[r]:
            revealed = per_node[j][k][1] or b""
            try:
                check_share(cert, mh, sids[k], j, revealed)
            except InvalidSubmission:
                liars.add(j)  # not the share the contributor committed to for it
                continue
            recomputed = local_openings(_decode(revealed, 1, W, p, j), layout, challenge, p)
            honest_open = row_values(recomputed, 0, p)
            if honest_open != row_shares[j]:
                liars.add(j)  # its openings are not what its committed share gives
            lam = lagrange_coefficients([i + 1 for i in good], j + 1, p)
            expected = [sum(c * row_shares[i][o] for c, i in zip(lam, good)) % p for o in range(len(OPENINGS))]
            if honest_open != expected:
                contributor_fault = True  # the committed share itself is off the polynomial
        reasons[r] = "signed-inconsistent" if contributor_fault else decide([values], p)[0]
    return liars


def _valid_totals(X: ShareMatrix, reasons: list[str | None], p: int) -> list[int]:
    """Shares of the aggregate columns summed over the valid rows: the sums over all rows (taken
    during validation) minus the invalid rows, read again one by one; if many rows are invalid,
    one more sequential pass is cheaper than that many seeks."""
    import numpy as np

    from protocol import fastfield

    invalid = [r for r, why in enumerate(reasons) if why is not None]
    cols = list(range(X.sum_columns))
    if len(invalid) * 50 <= X.rows:
        totals = list(X.all_sums)
        for r in invalid:
            row = X.decode(X.raw_rows(r, 1), 1)
            part = ([int(v) for v in row[0, : X.sum_columns]] if row.dtype == np.object_
                    else fastfield.column_sums(row, cols, None, p))
            totals = [(a - b) % p for a, b in zip(totals, part)]
        return totals
    valid = np.array([r is None for r in reasons], dtype=bool)
    totals = [0] * X.sum_columns
    for start, batch in X.batches():
        mask = valid[start: start + len(batch)]
        if not mask.any():
            continue
        if batch.dtype == np.object_:
            part = [int(v) for v in batch[mask][:, : X.sum_columns].sum(axis=0)]
        else:
            part = fastfield.column_sums(batch, cols, mask, p)
        totals = [(a + b) % p for a, b in zip(totals, part)]
    return totals


async def _open_counts(ch: Channel, counts: list[int], t: int, p: int) -> tuple[list[int], tuple[int, ...]]:
    """Open the per-category counts to the nodes (they are released anyway): error-corrected with
    n >= 3t+1 (culprits returned), else any wrong share aborts the run."""
    from protocol.errors import CheatingDetected
    from protocol.field import robust_reconstruct

    mine = list(counts)
    if CHEAT == "open":
        mine[0] = (mine[0] + 1 + secrets.randbelow(1000)) % p
    import numpy as np

    msgs = await ch.broadcast(_encode(np.array(mine, dtype=object)), size=16 * len(counts))
    shares = {j: [int.from_bytes(m[16 * k: 16 * (k + 1)], "big") for k in range(len(counts))]
              for j, m in enumerate(msgs)}
    try:
        return robust_reconstruct(shares, t, p)
    except CheatingDetected as exc:
        _fail(EXIT_DISAGREEMENT, f"cheating detected while opening the counts: {exc}; aborting before any "
                                 "result", exc.culprits)
        raise  # unreachable


def _scheme(job: dict[str, Any]) -> Any:
    """The survey's record scheme, from the job file."""
    from protocol.encoding import Scheme

    d = job["scheme"]
    return Scheme.of(d["genders"], int(d["salary_max"]), d["jobs"], d["bands"])


async def _add_noise(ch: Channel, release: list[int], layout: Any, job: dict[str, Any], p: int) -> list[int]:
    """Add jointly generated discrete Laplace noise to every entry of the release vector.

    Every party samples a full-scale noise value per entry (protocol.dp; deterministic from its
    own secret seed, so a rerun after a crash draws the same noise and releases nothing new),
    Shamir-shares it and deals one share to each party, which adds up what it was dealt.  The
    noise is the sum of n independent draws: any single honest party's draw alone makes the
    release epsilon-DP, whatever t colluding parties know.  A dishonest party can shift its own
    draw (bias a figure) or deal shares off the polynomial (the analyst's reconstruction then
    fails); it learns nothing."""
    from protocol.dp import NoiseSource, parse_epsilon, plan_budget
    from protocol.field import decode_elements, share_vector

    eps = parse_epsilon(str(job["dp_epsilon"]))
    budget = plan_budget(eps, int(job["scheme"]["salary_max"]), 2 if layout.has_genders else 1)
    source = NoiseSource(bytes.fromhex(job["dp_seed"]))
    noise = [source.laplace(budget.scale(kind)) % p for kind in layout.kinds()]
    dealt = share_vector(noise, ch.n, int(job["threshold"]), p)
    L = len(release)
    got = await ch.deal([b"".join(v.to_bytes(16, "big") for v in dealt[j]) for j in range(ch.n)], 16 * L)
    out = list(release)
    for j, msg in enumerate(got):
        try:
            vals = decode_elements(msg, L, p)
        except ValueError:
            _fail(EXIT_UNSAFE_MESSAGE, f"cheating detected: node {j} dealt a share that is not a field element; "
                                       "aborting", (j,))
        out = [(a + b) % p for a, b in zip(out, vals)]
    return out


async def _compute(mpc: Any, job: dict[str, Any], X: ShareMatrix) -> dict[str, Any]:
    import time

    p = int(job["field_modulus"])
    k = int(job["min_group_size"])
    t = int(job["threshold"])

    clock = [time.perf_counter()]
    await mpc.start()
    ch = Channel(mpc, job)
    await ch.open()
    clock.append(time.perf_counter())
    # 1. Same submission set everywhere, and a joint random seed drawn once the set is fixed.
    seed = await _agreement(ch, job)
    clock.append(time.perf_counter())
    # 2. Validation of every submission on shares (protocol.validity): seven linear openings each.
    reasons, off, liars = await _validate(ch, X, seed, job, p)
    clock.append(time.perf_counter())
    # 3. This party's shares of the totals over the valid submissions only (local, linear), and
    #    of the release vector formed from them (protocol.disclosure).
    from protocol.disclosure import ReleaseLayout, plan

    sc = _scheme(job)
    layout = ReleaseLayout(sc)
    release = layout.build(_valid_totals(X, reasons, p), p)
    noisy = bool(job.get("dp_epsilon"))
    if noisy:  # differential privacy: jointly dealt noise on every released figure, counts included
        release = await _add_noise(ch, release, layout, job, p)
    # 4. Disclosure rule: the counts are opened to the nodes (they are part of the released table)
    #    and decide which salary figures are released; every honest node sends 0 for the others.
    opened, in_counts = await _open_counts(ch, release[: layout.n_counts], t, p)
    signed = [v - p if v > p // 2 else v for v in opened]
    K = sc.K
    pl = plan(signed[:K], signed[K:] if layout.has_genders else signed[:K], sc, k, noisy)
    corrected = sorted(liars | set(in_counts))
    out = [v if keep else 0 for v, keep in zip(release, layout.released_mask(pl))]
    run_id = hashlib.sha256(Label.RUN_ID.value + seed).hexdigest()[:32]
    clock.append(time.perf_counter())
    await mpc.shutdown()
    if CHEAT == "result":
        out[0] = (out[0] + 1 + secrets.randbelow(1000)) % p  # a wrong share sent to the analyst
    return {"pid": mpc.pid, "result_shares": [str(v) for v in out], "run_id": run_id,
            "invalid": [[i, r] for i, r in enumerate(reasons) if r is not None],
            "off_polynomial": [[i, list(who)] for i, who in sorted(off.items())],
            "corrected": list(corrected),
            "seconds": dict(zip(("connect", "agreement", "validation", "aggregation"),
                                [round(b - a, 4) for a, b in zip(clock, clock[1:])])),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


if __name__ == "__main__":
    main()
