"""Consistent broadcast between the MPC parties over MPyC's authenticated links.

Every message is signed by its sender (ECDSA, the node's TLS key) over the survey, the round,
the SHA-256 of the payload and the sender's *view*: the fresh random nonces every party sent it
in round 0 of this run (:meth:`Channel.open`).  A receiver accepts a statement only if its own
nonce of this run is in the view, so a statement from an earlier run (a rerun after an abort)
can never be passed off as current.  After each round every party echoes the (hash, view,
signature) triples it received, so all honest parties either hold the same payload from each
party, or abort with a *proof* naming the party that signed two different fresh payloads.  A
message that is malformed, unsigned, stale or not plain data names its sender (links are pinned
to the manifest's certificates, so the sender is known).  The byte layout is in
:mod:`mpc_nodes.channel_frame`.  A peer that falls silent or whose link closes ends the round
with :class:`~mpc_nodes.party_links.LinkFailure` naming it, but only after every message that
did arrive has been checked: a deviation that made honest peers leave is still named as such.

What this party itself says goes through three seams, :meth:`Channel.own_payload`,
:meth:`Channel.outgoing` and :meth:`Channel.result_shares`; :mod:`mpc_nodes.cheats` overrides
them to show that the others catch a deviating node.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from protocol.wire import AccusationKind

from .channel_frame import (
    NONCE_BYTES,
    EchoRecord,
    Frame,
    FrameError,
    Round,
    channel_context,
    encode_deal,
    encode_echo,
    encode_frame,
    looks_pickled,
    parse_deal,
    parse_echo,
    parse_frame,
    statement,
)
from .party_links import LOST, Links

EXIT_PEER_IDENTITY = 3
EXIT_DISAGREEMENT = 4
EXIT_UNSAFE_MESSAGE = 5


class RunAborted(Exception):
    """A deviation was detected (or the parties disagree): the run must end before any result.

    ``culprits``: the nodes proven to have deviated (empty when they cannot be told apart);
    ``code``: the party's exit status."""

    def __init__(self, message: str, culprits: Sequence[int] = (), code: int = EXIT_UNSAFE_MESSAGE) -> None:
        super().__init__(message)
        self.message, self.culprits, self.code = message, tuple(culprits), code


def _not_plain_data(j: int) -> RunAborted:
    return RunAborted(f"cheating detected: node {j} sent a message that is not plain data (a pickle; it was never "
                      "unpickled), aborting", (j,))


class Channel:
    """This party's links to the others: signed, echoed broadcasts and private deals."""

    def __init__(self, links: Links, certificates: Sequence[str], survey_id: str, manifest_hash: str) -> None:
        from protocol.nodeauth import statement_verifier

        self.links, self.n, self.me = links, links.n, links.me
        self.absent = links.excluded  # parties left out of this run: they send nothing, their slots are empty
        self.key = Path(f".config/party_{self.me}.key").read_bytes()
        self.pubs = [statement_verifier(pem) for pem in certificates]
        self.context = channel_context(survey_id, manifest_hash)
        self.label = -(1 << 40)  # message labels for _transfer, counting down
        self.nonce = secrets.token_bytes(NONCE_BYTES)
        self.view = b""  # n x 16 bytes: the nonce each party sent us in round 0
        self._rounds: set[Round] = set()

    # -- what this party says: the honest behaviour, overridden only by mpc_nodes.cheats --

    def own_payload(self, rnd: Round, payload: bytes) -> bytes:
        """The payload this party sends in ``rnd`` (in a deal, to each recipient in turn)."""
        return payload

    def outgoing(self, rnd: Round, payload: bytes) -> tuple[bytes, dict[int, bytes]]:
        """The message sent to every peer in broadcast round ``rnd``, and the peers (if any) that
        get another one instead: one signed frame for all."""
        return self._frame(rnd, payload), {}

    def result_shares(self, shares: list[int]) -> list[int]:
        """This party's shares of the release vector, as handed over to be sealed to the analyst."""
        return shares

    def stop_claim(self, kind: AccusationKind, accused: tuple[int, ...]) -> tuple[AccusationKind, tuple[int, ...]]:
        """What this party's stop statement says (:mod:`mpc_nodes.stop`): what it saw."""
        return kind, accused

    # -- the protocol --

    async def open(self) -> None:
        """Round 0: every party sends a fresh 16-byte nonce to every other (raw, unsigned)."""
        got = await self._transfer(self.nonce)
        for j, v in enumerate(got):
            if v is not LOST and (not isinstance(v, (bytes, bytearray)) or len(v) != NONCE_BYTES):
                raise RunAborted(f"cheating detected: node {j} sent a malformed run nonce; aborting", (j,))
        self._require_all(got)
        self.view = b"".join(bytes(NONCE_BYTES) if j in self.absent else bytes(v) for j, v in enumerate(got))

    async def broadcast(self, rnd: Round, payload: bytes, size: int | None = None) -> list[bytes]:
        """Send ``payload`` to every party; return every party's payload (ours at our index, and
        empty bytes for a party left out of this run).

        ``size``: the exact payload length every party must send (None: any length).
        """
        self._start(rnd)
        frame, to_some = self.outgoing(rnd, self.own_payload(rnd, payload))
        received = await self._transfer(frame, to_some)
        accepted = [None if msg is LOST else self._accept(j, msg, rnd, size) for j, msg in enumerate(received)]
        self._require_all(received)
        absent = EchoRecord(bytes(32), bytes(NONCE_BYTES * self.n), b"")
        records = [absent if f is None else EchoRecord(hashlib.sha256(f.payload).digest(), f.view, f.signature)
                   for f in accepted]
        echoes = await self._transfer(encode_echo(rnd, records))  # what did everyone else receive?
        for k, msg in enumerate(echoes):
            if msg is not LOST:
                self._check_echo(k, msg, rnd, records)
        self._require_all(echoes)
        return [b"" if f is None else f.payload for f in accepted]

    async def deal(self, rnd: Round, per_party: list[bytes], size: int) -> list[bytes]:
        """Private exchange: party j receives ``per_party[j]`` from us (a Shamir share meant for
        it alone); returns what every party dealt to us (ours at our index).  Links are pinned
        TLS, so the sender is known; a message of the wrong form names it."""
        self._start(rnd)
        msgs = [encode_deal(self.own_payload(rnd, m)) for m in per_party]
        got = await self._transfer(msgs[self.me], {j: m for j, m in enumerate(msgs) if j != self.me})
        out: list[bytes] = []
        for j, msg in enumerate(got):
            if msg is LOST:
                continue
            if isinstance(msg, (bytes, bytearray)) and looks_pickled(msg):
                raise _not_plain_data(j)
            try:
                if not isinstance(msg, (bytes, bytearray)):
                    raise FrameError("not bytes")
                out.append(parse_deal(bytes(msg), size))
            except FrameError:
                raise RunAborted(f"cheating detected: node {j} dealt a malformed share; aborting", (j,)) from None
        self._require_all(got)
        return out

    def _start(self, rnd: Round) -> None:
        if rnd in self._rounds:  # signed statements of a round must never be reusable in another message
            raise RuntimeError(f"round {rnd.name} was already run")
        self._rounds.add(rnd)

    def _accept(self, j: int, msg: Any, rnd: Round, size: int | None) -> Frame:
        """Party j's frame of this round, or :class:`RunAborted` naming j."""
        if isinstance(msg, (bytes, bytearray)) and looks_pickled(msg):
            raise _not_plain_data(j)
        try:
            if not isinstance(msg, (bytes, bytearray)):
                raise FrameError("not bytes")
            frame = parse_frame(bytes(msg), rnd, self.n, size)
        except FrameError:
            raise RunAborted(f"cheating detected: node {j} sent a malformed message; aborting", (j,)) from None
        if not self._fresh(frame.view):
            raise RunAborted(f"cheating detected: node {j} sent a message that is not bound to this run; aborting",
                             (j,))
        if not self._verify(j, rnd, frame.view, hashlib.sha256(frame.payload).digest(), frame.signature):
            raise RunAborted(f"cheating detected: node {j} sent a message without its valid signature; aborting",
                             (j,))
        return frame

    def _check_echo(self, k: int, msg: Any, rnd: Round, records: list[EchoRecord]) -> None:
        """Party k's echo must forward, for every sender j, a statement j signed in this run, and
        the one we received from j; else k lied (malformed, forged or stale) or j equivocated."""
        try:
            if not isinstance(msg, (bytes, bytearray)):
                raise FrameError("not bytes")
            theirs = parse_echo(bytes(msg), rnd, self.n)
        except FrameError:
            raise RunAborted(f"cheating detected: node {k} sent a malformed echo; aborting", (k,)) from None
        for j, (echo, mine) in enumerate(zip(theirs, records)):
            if j in self.absent:
                continue
            if not self._fresh(echo.view) or not self._verify(j, rnd, echo.view, echo.digest, echo.signature):
                raise RunAborted(f"cheating detected: node {k} forwarded a message that node {j} never signed in "
                                 "this run; aborting", (k,))
            if (echo.digest, echo.view) != (mine.digest, mine.view):
                raise RunAborted(f"cheating detected: node {j} sent different signed messages to different nodes "
                                 f"(round {int(rnd)}; the two signatures prove it); aborting before any result",
                                 (j,), EXIT_DISAGREEMENT)

    def _fresh(self, view: bytes) -> bool:
        """Does a signer's view hold the nonce we sent in this run (so its statement is current)?"""
        return (len(view) == NONCE_BYTES * self.n
                and view[NONCE_BYTES * self.me: NONCE_BYTES * (self.me + 1)] == self.nonce)

    def _frame(self, rnd: Round, payload: bytes) -> bytes:
        """Our signed frame of ``payload`` in round ``rnd``."""
        from protocol.nodeauth import sign_statement

        digest = hashlib.sha256(payload).digest()
        sig = sign_statement(self.key, statement(self.context, rnd, self.view, digest))
        return encode_frame(Frame(rnd, sig, self.view, payload))

    def _verify(self, sender: int, rnd: Round, view: bytes, digest: bytes, sig: bytes) -> bool:
        from protocol.errors import InvalidToken
        from protocol.nodeauth import verify_statement

        try:
            verify_statement(self.pubs[sender], statement(self.context, rnd, view, digest), sig)
            return True
        except InvalidToken:
            return False

    async def _transfer(self, msg: bytes, alt: dict[int, bytes] | None = None) -> list[Any]:
        """All-to-all exchange of raw bytes over MPyC's authenticated links, bypassing
        ``mpc.transfer`` and thus pickle entirely: what a peer sends stays bytes.

        Our messages carry their own labels (negative, so they never meet MPyC's own program
        counters); every party makes the same sequence of calls.  ``alt``: peers that get
        another message than ``msg`` (a deal's per-recipient shares).  A peer whose link closed
        yields :data:`~mpc_nodes.party_links.LOST` (see :meth:`_require_all`); one that sends
        nothing for the stall timeout raises :class:`~mpc_nodes.party_links.LinkFailure`.
        """
        self.label -= 1
        got = await self.links.exchange(self.label, {peer: alt[peer] if alt and peer in alt else msg
                                                     for peer in self.links.peers()})
        return [msg if j == self.me else LOST if j in self.absent else got[j] for j in range(self.n)]

    def _require_all(self, received: list[Any]) -> None:
        """After the messages that arrived were checked: fail naming the peers whose link closed
        (a party left out of this run sends nothing, as expected)."""
        self.links.require_all({j: m for j, m in enumerate(received) if j not in self.absent})
