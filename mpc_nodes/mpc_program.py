"""The MPyC program one node runs as one party of the survey computation (a subprocess).

Started by :mod:`mpc_nodes.compute` as ``python -m mpc_nodes.mpc_program --wait job.json
out.json`` with the working directory holding ``party.json`` and ``.config/party_{pid}.crt|key``
and ``.config/mpyc_ca.crt`` (MPyC's fixed ``--ssl`` layout); the files it reads and writes are
the dataclasses of :mod:`mpc_nodes.party_job`.  ``mpyc.runtime`` parses ``sys.argv`` at import
time, so this module builds that argv itself and imports the runtime only inside :func:`main`.

What it computes (docs/THREAT_MODEL.md has the why and the probabilities), one
:class:`~mpc_nodes.channel_frame.Round` after the other:

1. agreement (``AGREEMENT``): every party broadcasts the agreed submission-set digest, every
   node's *signed* frozen-set digest as it fetched them, and a commitment to a random nonce;
   ``COIN`` reveals the nonces; the joint seed is their hash.  Every broadcast is signed and
   echoed (:class:`~mpc_nodes.channel.Channel`), so a party that tells two peers two different
   things is named by its own signatures, and a rushing party cannot bias the seed;
2. validation (``VALIDATION``, ``PRODUCT_CHECKS``, and ``REVEAL`` for rows whose odd share was
   located): every party broadcasts its shares of eight linear functions of each submission, then,
   once those are open, of two more that are linear given them (:mod:`protocol.validity`:
   consistency and the contributor's validity proof).  All are degree-t sharings: a wrong share
   makes the row inconsistent (never a wrong verdict) and is located when n >= 3t+1;
3. its local share of the summed *valid* record vectors (no communication), turned into the
   release vector of :mod:`protocol.disclosure` (per cell and per gender: counts, salary sums,
   sums of squares, band histograms); with differential privacy every party adds its share of
   jointly dealt discrete Laplace noise (``NOISE``, :func:`_add_noise`);
4. the counts are opened to the nodes with error correction (``COUNTS``; they are part of the
   released table) and decide, by the disclosure rule, which salary figures are released (small
   cells and the cells that would let someone derive them); every honest node sends 0 for the rest;
5. each party writes its shares of the release vector to OUT, sealed later to the analyst, who
   reconstructs with error correction.  No salary figure is ever opened to the nodes.

The computation is linear apart from the proof checks, so no MPyC multiplication or comparison
(semi-honest protocols) is used: MPyC provides the parties' mutually authenticated links.

Hardening around MPyC (pinned to mpyc 0.11):
- peers are authenticated by the SHA-256 of their TLS certificate from the manifest, on top of
  MPyC's mutual TLS (whose hostname check cannot bind party ids to our self-signed certs);
- the party's MPC port listens on one address (:meth:`PartyConfig.bind_host`: the host of its
  ``--mpc-address``, or the node's ``mpc_listen``), not on every interface as MPyC's does;
- every wait for a peer ends when the peer falls silent for the stall timeout or its link closes
  (:mod:`mpc_nodes.party_links`), naming it, instead of hanging or failing inside MPyC;
- nothing a peer sends reaches :mod:`pickle`: this program exchanges raw bytes over MPyC's links
  (:meth:`Channel._transfer`, not ``mpc.transfer``) and decodes them strictly, and ``pickle``
  inside ``mpyc.runtime`` is replaced by :class:`SafePickle`, which parses MPyC's one remaining
  message (the shutdown barrier's party id) by hand and refuses everything else.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import pickle
import resource
import secrets
import ssl
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from mpc_nodes.channel import EXIT_DISAGREEMENT, EXIT_PEER_IDENTITY, EXIT_UNSAFE_MESSAGE, Channel, RunAborted
from mpc_nodes.channel_frame import MAX_SIGNATURE, Round
from mpc_nodes.party_job import (BucketFiles, FaultKind, PartyConfig, PartyFault, PartyFileError, PartyJob,
                                  PartyOutcome)
from mpc_nodes.party_links import LinkFailure, Links, watch_links
from protocol.labels import Label

if TYPE_CHECKING:
    from protocol.validity import Reason

EXIT_BAD_SETUP = 2
EXIT_LINK = 6  # a peer did not join, fell silent or dropped its link


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


def _fail(code: int, message: str, culprits: tuple[int, ...] = ()) -> NoReturn:
    """Abort this party at once; a detected deviation is described in fault.json, with the
    culprits when they are known."""
    if code in (EXIT_DISAGREEMENT, EXIT_UNSAFE_MESSAGE):
        Path(_FAULT_FILE).write_text(PartyFault(message, culprits).to_json())
    print(f"mpc-node compute: {message}", file=sys.stderr, flush=True)
    os._exit(code)


def _fail_link(exc: LinkFailure) -> NoReturn:
    """Abort this party because of its links (fault.json names the peers and how they failed)."""
    Path(_FAULT_FILE).write_text(PartyFault(exc.message, (), exc.kind, exc.peers).to_json())
    print(f"mpc-node compute: {exc.message}", file=sys.stderr, flush=True)
    os._exit(EXIT_BAD_SETUP if exc.kind == FaultKind.SETUP else EXIT_LINK)


def _install_hardening(fingerprints: list[str] | tuple[str, ...], loop: Any, bind_host: str) -> None:
    from mpyc import asyncoro
    import mpyc.runtime as rt_module

    rt_module.pickle = SafePickle
    _listen_only_on(loop, bind_host)

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


def _listen_only_on(loop: Any, host: str) -> None:
    """MPyC's runtime starts its server with ``loop.create_server(factory, port=...)``, which
    listens on every interface: give it ``host``.  A port that cannot be bound ends the party
    with a one-line reason."""
    original = loop.create_server

    async def create_server(factory: Any, host_: Any = None, port: Any = None, **kw: Any) -> Any:
        where = host if host_ is None else host_
        try:
            return await original(factory, where, port, **kw)
        except OSError as exc:
            why = os.strerror(exc.errno) if exc.errno else str(exc)
            raise LinkFailure(FaultKind.SETUP, (), f"cannot listen for the other nodes on {where}:{port}: {why} "
                                                   "(set the node's MPC listen address, e.g. 'mpc-node compute "
                                                   "--mpc-listen 0.0.0.0' behind NAT)") from None

    loop.create_server = create_server


def _start_mpyc(config: PartyConfig) -> Links:
    """MPyC's runtime, configured from ``config`` (through ``sys.argv``, which it parses on
    import), hardened, behind the party's :class:`~mpc_nodes.party_links.Links`."""
    mpyc_argv = [sys.argv[0], "-I", str(config.pid), "-T", str(config.threshold), "--ssl", "--no-log"]
    for addr in config.parties:
        mpyc_argv += ["-P", addr]
    sys.argv = mpyc_argv
    from mpyc.runtime import mpc  # parses sys.argv: must come after it is set

    _install_hardening(config.fingerprints, mpc._loop, config.bind_host())
    if len(mpc.parties) != config.n or mpc.threshold != config.threshold or mpc.pid != config.pid:
        _fail(EXIT_BAD_SETUP, "MPyC did not accept the party configuration")
    links = Links(mpc, config.parties, config.stall_timeout, config.excluded)
    watch_links(links)
    return links


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
    try:
        config = PartyConfig.parse((job_path.parent / "party.json").read_text()) if wait else \
            PartyJob.parse(job_path.read_text()).party
    except PartyFileError as exc:
        _fail(EXIT_BAD_SETUP, str(exc))
    links = _start_mpyc(config)
    if wait:
        for module in ("protocol.fastfield", "protocol.nodeauth", "protocol.validity"):
            importlib.import_module(module)  # warm imports while the node prepares
        if sys.stdin.readline().strip() != "go":
            sys.exit(0)
    try:
        job = PartyJob.parse(job_path.read_text())
    except PartyFileError as exc:
        _fail(EXIT_BAD_SETUP, str(exc))
    if job.party != config:
        _fail(EXIT_BAD_SETUP, "the job does not match the party configuration")
    X = _share_matrix(job, job_path.parent)
    try:
        outcome = links.mpc.run(_compute(links, job, X))
    except Stopped as stopped:
        if isinstance(stopped.cause, RunAborted):
            _fail(stopped.cause.code, stopped.cause.message, stopped.cause.culprits)
        _fail_link(stopped.cause)
    tmp = out_path.with_suffix(".tmp")
    tmp.write_text(outcome.to_json())
    tmp.replace(out_path)


def _share_matrix(job: PartyJob, directory: Path) -> ShareMatrix:
    """This node's share files, as the job describes them."""
    shape = (job.rows, job.width, job.field_modulus, job.batch_rows or ShareMatrix.BATCH,
             job.scheme.scheme().aggregate_width)
    if isinstance(job.shares, BucketFiles):
        return ShareMatrix.from_buckets([directory / f for f in job.shares.files], job.shares.bucket_rows, *shape)
    return ShareMatrix(directory / job.shares.name, *shape)


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
        self._sums = [0] * sum_columns  # their sums over the batches given to add_to_sums (ints)
        self._limb_sums: Any = None  # or, on the fast path, their (sum_columns, 8) int64 limb sums
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

        from protocol.pagecache import drop_from_page_cache

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
        """Add a batch's aggregate columns to :attr:`all_sums` (mod p).  On the fast path the
        limbs are summed column-wise in one pass (int64: 2^16 per limb and row, so exact for up
        to 2^47 rows) and reduced once, when :attr:`all_sums` is read."""
        import numpy as np

        if not self.sum_columns or not len(batch):
            return
        if batch.dtype == np.object_:
            part = [int(v) for v in batch[:, : self.sum_columns].sum(axis=0)]
            self._sums = [(a + b) % self.p for a, b in zip(self._sums, part)]
            return
        limbs = batch[:, : self.sum_columns, :].sum(axis=0, dtype=np.int64)
        self._limb_sums = limbs if self._limb_sums is None else self._limb_sums + limbs

    @property
    def all_sums(self) -> list[int]:
        """The aggregate columns summed over every batch given to :meth:`add_to_sums`, mod p."""
        if self._limb_sums is None:
            return list(self._sums)
        width = self._limb_sums.shape[1]
        return [sum(int(v) << (16 * (width - 1 - a)) for a, v in enumerate(row)) % self.p
                for row in self._limb_sums.tolist()]

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


def _open_channel(links: Links, job: PartyJob) -> Channel:
    """The party's channel: the honest one, unless the job tells this node to deviate (tests and
    the demo only).  The one place a deviation is chosen."""
    args = (links, job.certificates, job.survey_id, job.manifest_hash)
    if job.cheat is None:
        return Channel(*args)
    from mpc_nodes.cheats import cheating_channel

    return cheating_channel(job.cheat)(*args, p=job.field_modulus, towards=job.cheat_towards)


#: a node's frozen-set statement inside the agreement payload: digest, signature length, padded signature
_STATEMENT_BYTES = 32 + 1 + MAX_SIGNATURE


def _statements_payload(job: PartyJob, n: int) -> bytes:
    """Every node's signed frozen-set digest as this node fetched them (zeros when the job has
    none: tests that run the parties alone)."""
    out = b""
    for j in range(n):
        st = job.set_statements[j] if j < len(job.set_statements) else None
        digest, sig = (st.digest, st.signature) if st is not None else (bytes(32), b"")
        out += digest + len(sig).to_bytes(1, "big") + sig.ljust(MAX_SIGNATURE, b"\0")
    return out


def _check_set_statements(ch: Channel, job: PartyJob, msgs: list[bytes]) -> None:
    """Every party forwarded, for every node, a frozen-set digest that node signed, and each
    node signed only one: a node that gave two peers two different sets is named by its signatures."""
    from protocol.errors import InvalidToken
    from protocol.nodeauth import frozen_set_statement, verify_statement

    seen: dict[int, bytes] = {}
    for k, msg in enumerate(msgs):
        if k in ch.absent:
            continue
        for j in range(ch.n):
            if j in ch.absent:  # left out of this run (a node that was down gave no signed set)
                continue
            at = 64 + _STATEMENT_BYTES * j
            d, slen = msg[at: at + 32], msg[at + 32]
            try:
                if slen > MAX_SIGNATURE:
                    raise InvalidToken("bad length")
                verify_statement(ch.pubs[j], frozen_set_statement(job.survey_id, job.manifest_hash, j, d.hex()),
                                 msg[at + 33: at + 33 + slen])
            except InvalidToken:
                raise RunAborted(f"cheating detected: node {k} forwarded a frozen set that node {j} never signed; "
                                 "aborting", (k,)) from None
            if seen.setdefault(j, d) != d:
                raise RunAborted(f"cheating detected: node {j} served different frozen submission sets to different "
                                 "nodes (both signed by it); aborting before any result", (j,), EXIT_DISAGREEMENT)


def _check_digests(digests: dict[int, bytes], n: int, t: int) -> None:
    """Every party of this run (``digests``: by party) entered the same submission set."""
    if len(set(digests.values())) == 1:
        return
    # Honest nodes that saw the same signed sets compute the same intersection: with at least
    # n - t honest nodes, a digest held by fewer than n - t nodes is not an honest one.
    held = list(digests.values())
    top = max(held, key=held.count)
    odd = [j for j, d in digests.items() if d != top] if held.count(top) >= n - t - (n - len(digests)) else []
    who = (f"cheating detected: node(s) {', '.join(map(str, odd))} entered another submission set than the "
           "others" if odd else "the nodes computed over different submission sets")
    raise RunAborted(f"{who}; aborting before any result", odd, EXIT_DISAGREEMENT)


def _run_digest(job: PartyJob) -> bytes:
    """What the parties compare in the agreement round: the agreed set's digest, bound to the
    parties left out of this run, so that honest parties that do not leave out the same ones
    abort instead of computing apart."""
    if not job.party.excluded:
        return job.agreed_digest
    return hashlib.sha256(b"run without parties " + bytes(sorted(job.party.excluded)) + job.agreed_digest).digest()


async def _agreement(ch: Channel, job: PartyJob) -> bytes:
    """``AGREEMENT``: agreed digest, every node's signed frozen-set digest as seen here, and a
    commitment to a random nonce; ``COIN``: the nonces.  Returns the joint seed (all nonces,
    hashed with the agreed digest)."""
    n = ch.n
    nonce = secrets.token_bytes(32)
    commit = hashlib.sha256(Label.COIN.value + nonce).digest()
    msgs = await ch.broadcast(Round.AGREEMENT, _run_digest(job) + commit + _statements_payload(job, n),
                              size=64 + _STATEMENT_BYTES * n)
    if job.set_statements:
        _check_set_statements(ch, job, msgs)
    _check_digests({j: msg[:32] for j, msg in enumerate(msgs) if j not in ch.absent}, n, job.party.threshold)
    commits = [msg[32:64] for msg in msgs]
    reveals = await ch.broadcast(Round.COIN, nonce, size=32)
    for j, (c, r) in enumerate(zip(commits, reveals)):
        if j not in ch.absent and hashlib.sha256(Label.COIN.value + r).digest() != c:
            raise RunAborted(f"cheating detected: node {j} revealed a nonce that does not match its commitment; "
                             "aborting", (j,))
    return hashlib.sha256(b"".join(reveals) + job.agreed_digest).digest()


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
        raise RunAborted(f"cheating detected: node {sender} sent an unreduced field element; aborting",
                         (sender,)) from None


async def _validate(ch: Channel, X: ShareMatrix, seed: bytes, job: PartyJob
                    ) -> tuple[list[Reason | None], dict[int, tuple[int, ...]], set[int]]:
    """Verdict per submission (None = valid), identical at every honest party; the nodes whose
    opening shares were off the polynomial per rejected inconsistent row (located when the shares
    present allow error correction: protocol.field.correctable, e.g. n >= 3t+1 with every party); and
    the nodes proven to have lied (their error was corrected)."""
    from protocol.validity import Layout, Reason, derive_challenge, open_all, second_openings, verdicts

    p, N, t = job.field_modulus, job.rows, job.party.threshold
    layout = Layout(job.scheme.scheme())
    challenge = derive_challenge(seed, layout, p)
    local = _local_openings(X, layout, challenge, p)
    first = await _exchange(ch, Round.VALIDATION, local[:, : layout.columns.first], p)
    if not N:
        return [], {}, set()
    opened = open_all(first, t, p)  # located errors corrected: e and f are the same at every honest party
    second = await _exchange(ch, Round.PRODUCT_CHECKS, second_openings(local, opened.values, p), p)
    del local
    reasons, suspects = verdicts(opened, open_all(second, t, p), p)
    liars: set[int] = set()
    located = {r: e for r, e in suspects.items() if e}
    if located and job.certificate_lookup is not None:
        liars = await _resolve(ch, X, _Openings(first, second, opened.values, layout, challenge), located, reasons,
                               job)
    return reasons, {r: e for r, e in suspects.items() if reasons[r] == Reason.CONSISTENCY}, liars


def _local_openings(X: ShareMatrix, layout: Any, challenge: Any, p: int) -> Any:
    """This party's shares of the first round's openings and of what the second needs, for every
    row.  Streamed in batches of rows: only these (N, 14) values are held for all rows at once.
    The same pass sums the aggregate columns of every row (X.all_sums), so that the totals over
    the valid rows need only the invalid rows read again (see _valid_totals)."""
    import numpy as np

    from protocol.validity import local_openings

    parts = []
    for _, batch in X.batches():
        parts.append(local_openings(batch, layout, challenge, p))
        X.add_to_sums(batch)
    return np.concatenate(parts) if parts else local_openings(X.decode(b"", 0), layout, challenge, p)


async def _exchange(ch: Channel, rnd: Round, mine: Any, p: int) -> dict[int, Any]:
    """Broadcast this party's (N, O) opening shares; every present party's, range-checked, by
    party (a party left out of this run is an erasure: its shares are not guessed, so a liar
    among the others is corrected as far as the shares present allow)."""
    N, O = mine.shape[0], mine.shape[1]
    msgs = await ch.broadcast(rnd, _encode(mine), size=16 * N * O)
    return {j: _decode(m, N, O, p, j) for j, m in enumerate(msgs) if j not in ch.absent}


@dataclass(frozen=True)
class _Openings:
    """Every party's shares of both rounds' openings, and what they were computed with."""

    first: dict[int, Any]  # present party j's (N, 8) shares of the first round (ints or limbs)
    second: dict[int, Any]  # present party j's (N, 2) shares of the second round
    public: Any  # the first round's opened values (N, 8): the second round's e and f
    layout: Any  # protocol.validity.Layout
    challenge: Any  # protocol.validity.Challenge

    def row(self, j: int, r: int, p: int) -> list[int]:
        """Party j's shares of row r's ten openings."""
        from protocol.validity import row_values

        return row_values(self.first[j], r, p) + row_values(self.second[j], r, p)


async def _resolve(ch: Channel, X: ShareMatrix, op: _Openings, located: dict[int, tuple[int, ...]],
                   reasons: list[Reason | None], job: PartyJob) -> set[int]:
    """Rows whose odd shares were located (n >= 3t+1): tell a lying node from a lying contributor.

    Every party broadcasts its stored certificate of each such row, and each located node its
    share vector of the row.  The share must be the one the contributor committed to; the node's
    openings of both rounds are recomputed from it (the second round's with the public e and f).
    Openings that differ: the node lied (named, and the row is judged on the error-corrected
    values).  A committed share off the others' polynomial: the contributor's fault (row
    rejected, nobody blamed).  Revealing is safe: for an honest contributor only lying nodes can
    be located (docs/THREAT_MODEL.md).  ``reasons`` is updated.
    """
    assert job.certificate_lookup is not None
    rows = sorted(located)
    # Looked up by submission id in the node's own database (read-only), and only for these few
    # rows, so that the node need not copy every certificate out of its table for each compute.
    with open(job.certificate_lookup.ids_file, "rb") as fh:
        sids = []
        for r in rows:
            fh.seek(16 * r)
            sids.append(fh.read(16).hex())
    revealed = await _reveal(ch, X, job, rows, located, sids)
    liars: set[int] = set()
    for k, r in enumerate(rows):
        reasons[r], caught = _judge_revealed_row(op, r, [revealed[j][k] for j in range(ch.n)], sids[k], located[r],
                                                 job)
        liars |= caught
    return liars


async def _reveal(ch: Channel, X: ShareMatrix, job: PartyJob, rows: list[int], located: dict[int, tuple[int, ...]],
                  sids: list[str]) -> list[list[tuple[bytes, bytes | None]]]:
    """``REVEAL``: per party, per row, its stored certificate (padded) and, from a located node,
    its share vector of the row."""
    from mpc_nodes.store import read_certificates
    from protocol.commitment import max_certificate_length, pad_certificate

    assert job.certificate_lookup is not None
    n, W = ch.n, job.width
    L = 2 + max_certificate_length(n)  # padded: 2-byte length, certificate, zeros
    mine = read_certificates(Path(job.certificate_lookup.store), job.survey_id, sids)
    stored = [pad_certificate(c if 0 < len(c) <= max_certificate_length(n) else b"", n) for c in mine]
    payload = b"".join(rec + (X.raw_rows(r, 1) if ch.me in located[r] else b"") for r, rec in zip(rows, stored))
    msgs = await ch.broadcast(Round.REVEAL, payload)
    per_node: list[list[tuple[bytes, bytes | None]]] = []
    for j, msg in enumerate(msgs):
        if j in ch.absent:  # left out of this run: revealed nothing
            per_node.append([(b"", None) for _ in rows])
            continue
        if len(msg) != sum(L + (16 * W if j in located[r] else 0) for r in rows):
            raise RunAborted(f"cheating detected: node {j} sent a malformed reveal message; aborting", (j,))
        at, items = 0, []
        for r in rows:
            cert, share = msg[at: at + L], None
            at += L
            if j in located[r]:
                share = msg[at: at + 16 * W]
                at += 16 * W
            items.append((cert, share))
        per_node.append(items)
    return per_node


def _judge_revealed_row(op: _Openings, r: int, revealed: list[tuple[bytes, bytes | None]], sid: str,
                        located: tuple[int, ...], job: PartyJob) -> tuple[Reason | None, set[int]]:
    """Row r's verdict from what every node revealed of it, and the nodes that lied about it."""
    from protocol.commitment import unpad_certificate, verify_certificate
    from protocol.errors import CheatingDetected, InvalidSubmission
    from protocol.field import robust_reconstruct
    from protocol.validity import Reason, decide

    n, t, p = len(revealed), job.party.threshold, job.field_modulus
    mh = bytes.fromhex(job.manifest_hash)
    liars: set[int] = set()
    certs = {}
    for j, (cert_b, _) in enumerate(revealed):
        if j in job.party.excluded:
            continue
        try:
            certs[j] = verify_certificate(unpad_certificate(cert_b, n), sid, n, mh)
        except InvalidSubmission:
            liars.add(j)  # every node checked the certificate at upload: it stored a valid one
    distinct = {c.signature + b"".join(c.commitments) for c in certs.values()}
    if len(distinct) != 1:
        return (Reason.EQUIVOCATING_CONTRIBUTOR if distinct else Reason.CONSISTENCY), liars
    cert = next(iter(certs.values()))
    row_shares = {j: op.row(j, r, p) for j in sorted(op.first)}
    try:
        values, _ = robust_reconstruct(row_shares, t, p)
    except CheatingDetected:
        return Reason.CONSISTENCY, liars
    good = [j for j in sorted(row_shares) if j not in located][: t + 1]
    contributor_fault = False
    for j in located:
        lied, off = _check_revealed_share(op, cert, sid, (r, j), revealed[j][1] or b"", row_shares, good, job)
        if lied:
            liars.add(j)
        contributor_fault |= off
    return (Reason.SIGNED_INCONSISTENT if contributor_fault else decide([values], p)[0]), liars


def _check_revealed_share(op: _Openings, cert: Any, sid: str, where: tuple[int, int], share: bytes,
                          row_shares: dict[int, list[int]], good: list[int], job: PartyJob) -> tuple[bool, bool]:
    """Located node j's revealed share of row r (``where`` = (r, j)): (j lied, the contributor's
    committed share is itself off the polynomial of the ``good`` nodes' opening shares)."""
    from protocol.commitment import check_share
    from protocol.errors import InvalidSubmission
    from protocol.field import lagrange_coefficients
    from protocol.validity import Opening, all_openings, row_values

    p, (r, j) = job.field_modulus, where
    try:
        check_share(cert, bytes.fromhex(job.manifest_hash), sid, j, share)
    except InvalidSubmission:
        return True, False  # not the share the contributor committed to for it
    recomputed = all_openings(_decode(share, 1, op.layout.width, p, j), op.layout, op.challenge, p,
                              op.public[r: r + 1])
    honest_open = row_values(recomputed, 0, p)
    lam = lagrange_coefficients([i + 1 for i in good], j + 1, p)
    expected = [sum(c * row_shares[i][o] for c, i in zip(lam, good)) % p for o in Opening]
    # openings that are not what its committed share gives: it lied about them
    return honest_open != row_shares[j], honest_open != expected


def _valid_totals(X: ShareMatrix, reasons: list[Reason | None], p: int) -> list[int]:
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
    """``COUNTS``: open the per-category counts to the nodes (they are released anyway):
    error-corrected with n >= 3t+1 (culprits returned), else any wrong share aborts the run."""
    import numpy as np

    from protocol.errors import CheatingDetected
    from protocol.field import robust_reconstruct

    msgs = await ch.broadcast(Round.COUNTS, _encode(np.array(counts, dtype=object)), size=16 * len(counts))
    shares = {j: [int.from_bytes(m[16 * k: 16 * (k + 1)], "big") for k in range(len(counts))]
              for j, m in enumerate(msgs) if j not in ch.absent}  # a party left out: an erasure
    try:
        return robust_reconstruct(shares, t, p)
    except CheatingDetected as exc:
        raise RunAborted(f"cheating detected while opening the counts: {exc}; aborting before any result",
                         exc.culprits, EXIT_DISAGREEMENT) from None


async def _add_noise(ch: Channel, release: list[int], layout: Any, job: PartyJob) -> list[int]:
    """``NOISE``: add jointly generated discrete Laplace noise to every entry of the release vector.

    Every party samples a full-scale noise value per entry (protocol.dp; deterministic from its
    own secret seed, so a rerun after a crash draws the same noise and releases nothing new),
    Shamir-shares it and deals one share to each party, which adds up what it was dealt.  The
    noise is the sum of n independent draws: any single honest party's draw alone makes the
    release epsilon-DP, whatever t colluding parties know.  A dishonest party can shift its own
    draw (bias a figure) or deal shares off the polynomial (the analyst's reconstruction then
    fails); it learns nothing."""
    from protocol.dp import NoiseSource, parse_epsilon
    from protocol.field import decode_elements, share_vector

    assert job.dp is not None
    p = job.field_modulus
    budget = layout.budget(parse_epsilon(job.dp.epsilon))
    source = NoiseSource(job.dp.seed)
    noise = [source.laplace(budget.scale(kind)) % p for kind in layout.kinds()]
    dealt = share_vector(noise, ch.n, job.party.threshold, p)
    L = len(release)
    got = await ch.deal(Round.NOISE, [b"".join(v.to_bytes(16, "big") for v in dealt[j]) for j in range(ch.n)], 16 * L)
    out = list(release)
    for j, msg in enumerate(got):
        try:
            vals = decode_elements(msg, L, p)
        except ValueError:
            raise RunAborted(f"cheating detected: node {j} dealt a share that is not a field element; aborting",
                             (j,)) from None
        out = [(a + b) % p for a, b in zip(out, vals)]
    return out


class Stopped(Exception):
    """The run ended without a result (``cause``), and this party sent its stop statement."""

    def __init__(self, cause: RunAborted | LinkFailure) -> None:
        super().__init__(str(cause))
        self.cause = cause


async def _compute(links: Links, job: PartyJob, X: ShareMatrix) -> PartyOutcome:
    """The run, or :class:`Stopped` once this party has told its peers why it stops
    (:func:`mpc_nodes.stop.stop`)."""
    from mpc_nodes.stop import stop

    ch = _open_channel(links, job)
    try:
        return await _run(links, ch, job, X)
    except (RunAborted, LinkFailure) as exc:
        try:
            await stop(ch, job, exc)
        except (OSError, ValueError) as err:  # the run's own failure is still what this party reports
            print(f"mpc-node compute: this party's stop statement was not sent: {err}", file=sys.stderr, flush=True)
        raise Stopped(exc) from None


async def _run(links: Links, ch: Channel, job: PartyJob, X: ShareMatrix) -> PartyOutcome:
    import time

    from protocol.disclosure import ReleaseLayout

    p, t = job.field_modulus, job.party.threshold
    clock = [time.perf_counter()]
    await links.start()
    await ch.open()
    clock.append(time.perf_counter())
    # 1. Same submission set everywhere, and a joint random seed drawn once the set is fixed.
    seed = await _agreement(ch, job)
    clock.append(time.perf_counter())
    # 2. Validation of every submission on shares (protocol.validity): two rounds of linear openings.
    reasons, off, liars = await _validate(ch, X, seed, job)
    clock.append(time.perf_counter())
    # 3. This party's shares of the totals over the valid submissions only (local, linear), and
    #    of the release vector formed from them (protocol.disclosure).
    sc = job.scheme.scheme()
    layout = ReleaseLayout(sc)
    release = layout.build(_valid_totals(X, reasons, p), p)
    if job.dp is not None:  # differential privacy: jointly dealt noise on every released figure, counts included
        release = await _add_noise(ch, release, layout, job)
    # 4. Disclosure rule: the counts are opened to the nodes (they are part of the released table)
    #    and decide which salary figures are released; every honest node sends 0 for the others.
    opened, in_counts = await _open_counts(ch, release[: layout.n_counts], t, p)
    signed = [v - p if v > p // 2 else v for v in opened]
    pl = layout.plan_of(signed, job.min_group_size, job.dp is not None)
    out = [v if keep else 0 for v, keep in zip(release, layout.released_mask(pl))]
    run_id = hashlib.sha256(Label.RUN_ID.value + seed).hexdigest()[:32]
    clock.append(time.perf_counter())
    await links.shutdown()
    return PartyOutcome(
        ch.result_shares(out), run_id, [(i, r) for i, r in enumerate(reasons) if r is not None],
        {i: list(who) for i, who in sorted(off.items())}, sorted(liars | set(in_counts)),
        dict(zip(("connect", "agreement", "validation", "aggregation"),
                 [round(b - a, 4) for a, b in zip(clock, clock[1:])])),
        round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1))


if __name__ == "__main__":
    main()
