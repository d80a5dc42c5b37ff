"""The MPC party's links to its peers over MPyC's connections: which peers are still connected,
when each last sent anything, and waits that end when a peer falls silent or drops its link.

Timeouts detect stalls, not slowness: a wait fails only when a peer it waits for has sent
nothing at all for the stall timeout (counted from the later of its last bytes and the start of
the wait), however long the whole run takes; a large message on a slow link keeps its sender
alive with every chunk that arrives, and a party that is itself waiting (for a third party's
large message, say) sends a small heartbeat to every peer a few times per stall timeout.  So
only a peer that is hung, gone, or busy with local work for longer than the stall timeout is
silent.  A link that closes fails the waits on it at once, and so does a peer's *stop
statement* (what a party that stops sends every peer before its links close,
:meth:`Links.send_stop`; :mod:`mpc_nodes.stop`), which :meth:`Links.require_all` reports as that
peer stopping the run rather than as a lost link.  Either way :class:`LinkFailure` names the
peers, and the party reports it as a :class:`~mpc_nodes.party_job.PartyFault` of that kind.

:func:`watch_links` patches MPyC's ``MessageExchanger`` (pinned to mpyc 0.11) so that arriving
bytes and lost connections reach a :class:`Links`, and :meth:`Links.start` connects the parties
in MPyC's way but all at once; the rest of the party only talks to its peers through
:meth:`Links.exchange`, :meth:`Links.start` and :meth:`Links.shutdown`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from .party_job import FaultKind


class LinkFailure(Exception):
    """The run cannot go on: ``peers`` stopped (``kind`` says how); ``message`` is one line."""

    def __init__(self, kind: FaultKind, peers: Sequence[int], message: str) -> None:
        super().__init__(message)
        self.kind, self.peers, self.message = kind, tuple(sorted(peers)), message


class Lost:
    """What a receive yields from a peer whose link closed (never a message)."""

    def __repr__(self) -> str:
        return "LOST"


LOST = Lost()

#: Heartbeats travel under labels from here up (one per beat: MPyC's link keeps an unclaimed
#: message per label); the party's own labels count down from -2**40 and MPyC's program
#: counters stay far below this.
HEARTBEAT_BASE = 1 << 61
#: The label of a stop statement: what a party that stops sends every peer before it closes
#: its links (:meth:`Links.send_stop`), so that they follow it instead of seeing a lost link.
STOP_LABEL = HEARTBEAT_BASE - 2


class _Excluded:
    """Stands for the link to a party left out of this run, so that MPyC counts every link made."""

    def __repr__(self) -> str:
        return "EXCLUDED"


class Links:
    """This party's links: send and receive labelled raw messages, with stall and loss detection.

    ``mpc``: MPyC's runtime (its ``parties[j].protocol`` is the link to peer j, None once closed);
    ``addresses``: every party's host:port, for messages; ``stall``: seconds of silence that end
    a wait; ``excluded``: parties left out of this run (never dialled, sent to or waited for:
    :meth:`peers` leaves them out)."""

    def __init__(self, mpc: Any, addresses: Sequence[str], stall: float, excluded: Sequence[int] = ()) -> None:
        self.mpc, self.addresses, self.stall = mpc, tuple(addresses), stall
        self.excluded = frozenset(excluded)
        self.n, self.me = len(mpc.parties), mpc.pid
        self.heard = [time.monotonic()] * self.n  # when each peer's last bytes arrived
        self.lost: set[int] = set()
        self.stopped: dict[int, bytes] = {}  # peers that sent a stop statement, in order of arrival
        self._beats = 0
        self._beating: asyncio.Task[None] | None = None

    def peers(self) -> list[int]:
        """The parties this one exchanges messages with in this run."""
        return [j for j in range(self.n) if j != self.me and j not in self.excluded]

    def who(self, peers: Sequence[int]) -> str:
        return ", ".join(f"node {j} ({self.addresses[j]})" for j in sorted(peers))

    # -- called from MPyC's connection objects (see watch_links) --

    def note_bytes(self, peer: int | None) -> None:
        if peer is not None and 0 <= peer < self.n:
            self.heard[peer] = time.monotonic()

    def note_lost(self, peer: int | None) -> None:
        if peer is not None and 0 <= peer < self.n:
            self.lost.add(peer)

    def note_stop(self, peer: int | None, statement: bytes) -> None:
        """``peer`` stopped the run and sent ``statement`` (its first one counts); from now on it
        is treated like a closed link, and :meth:`require_all` says it stopped."""
        if peer is not None and 0 <= peer < self.n and peer not in self.stopped:
            self.stopped[peer] = statement

    # -- the party's side --

    def send(self, peer: int, label: int, payload: bytes) -> bool:
        """Send ``payload`` under ``label``; False if the link to ``peer`` is already closed."""
        proto = self.mpc.parties[peer].protocol
        if proto is None or peer in self.lost or peer in self.stopped:
            return False
        proto.send(label, payload)
        return True

    async def exchange(self, label: int, messages: dict[int, bytes]) -> dict[int, Any]:
        """Send ``messages[j]`` to every peer j and receive every peer's message of ``label``
        (:data:`LOST` from a peer whose link closed).  Raises :class:`LinkFailure` naming the
        peers that sent nothing for the stall timeout."""
        for peer, payload in messages.items():
            self.send(peer, label, payload)
        out: dict[int, Any] = {}
        pending: dict[int, asyncio.Future[Any]] = {}
        for peer in self.peers():
            proto = self.mpc.parties[peer].protocol
            got = LOST if proto is None or peer in self.lost or peer in self.stopped else proto.receive(label)
            if isinstance(got, asyncio.Future):
                pending[peer] = got
            else:
                out[peer] = got
        await self._wait(pending, out)
        return out

    async def _wait(self, pending: dict[int, asyncio.Future[Any]], out: dict[int, Any]) -> None:
        since = time.monotonic()
        while pending:
            now = time.monotonic()
            due = {j: max(self.heard[j], since) + self.stall for j in pending}
            silent = [j for j, at in due.items() if at <= now]
            if silent:
                raise LinkFailure(FaultKind.SILENT, silent, f"{self.who(silent)} sent nothing for "
                                                            f"{self.stall:g} s")
            await asyncio.wait(pending.values(), timeout=min(due.values()) - now,
                               return_when=asyncio.FIRST_COMPLETED)
            for j in [j for j, f in pending.items() if f.done()]:
                out[j] = pending.pop(j).result()

    def require_all(self, received: dict[int, Any]) -> None:
        """Raise :class:`LinkFailure` if a peer stopped the run (the first whose stop statement
        arrived) or its link closed before its message arrived."""
        lost = [j for j, msg in received.items() if msg is LOST]
        first = next((j for j in self.stopped if j in lost), None)
        if first is not None:
            raise LinkFailure(FaultKind.FOLLOWED, [first], f"{self.who([first])} stopped the run")
        if lost:
            raise LinkFailure(FaultKind.LINK_LOST, lost, f"{self.who(lost)} closed its MPC link")

    async def send_stop(self, statement: bytes, timeout: float = 2.0) -> None:
        """Send ``statement`` to every peer still connected and wait (at most ``timeout``
        seconds) until it has left this process, so that it arrives before the link closes."""
        sent = [j for j in self.peers() if self.send(j, STOP_LABEL, statement)]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            protos = [self.mpc.parties[j].protocol for j in sent]
            if all(p is None or getattr(p, "transport", None) is None or p.transport.get_write_buffer_size() == 0
                   for p in protos):
                return
            await asyncio.sleep(0.01)

    async def start(self) -> None:
        """Connect to every peer (:meth:`_connect`); raises :class:`LinkFailure` naming the peers
        that did not join within the stall timeout."""
        try:
            await asyncio.wait_for(self._connect(), self.stall)
        except asyncio.TimeoutError:
            # peers that connected and left since are not the ones to wait for
            missing = [j for j in self.peers() if self.mpc.parties[j].protocol is None and j not in self.lost]
            if missing:
                raise LinkFailure(FaultKind.NOT_JOINED, missing,
                                  f"{self.who(missing)} did not join the MPC within {self.stall:g} s") from None
        self.heard = [time.monotonic()] * self.n
        self.require_all({j: LOST if j in self.lost or self.mpc.parties[j].protocol is None else b""
                          for j in self.peers()})
        self._beating = asyncio.ensure_future(self._beat(max(0.01, min(15.0, self.stall / 4))))

    async def _connect(self) -> None:
        """What MPyC 0.11's ``Runtime.start`` does, but dialling the higher-numbered parties all
        at once: MPyC dials them one after another, and each dial (TCP, then TLS with client
        certificates) costs two round trips, 0.3 s over a 150 ms path.  Listens (every party but
        0) for the lower-numbered ones, with MPyC's TLS files in ``.config``."""
        import ssl

        from mpyc import asyncoro

        mpc, loop = self.mpc, asyncio.get_running_loop()
        for peer in mpc.parties:
            peer.protocol = (loop.create_future() if peer.pid == mpc.pid
                             else _Excluded() if peer.pid in self.excluded else None)

        def context(purpose: ssl.Purpose) -> ssl.SSLContext:
            ctx = ssl.create_default_context(purpose)
            ctx.load_cert_chain(f".config/party_{mpc.pid}.crt", keyfile=f".config/party_{mpc.pid}.key")
            ctx.load_verify_locations(cafile=".config/mpyc_ca.crt")
            ctx.verify_mode = ssl.CERT_REQUIRED
            return ctx

        async def dial(peer: Any) -> None:
            while True:
                try:
                    await loop.create_connection(lambda: asyncoro.MessageExchanger(mpc, peer.pid), peer.host,
                                                 peer.port, ssl=context(ssl.Purpose.SERVER_AUTH),
                                                 server_hostname=f"MPyC party {peer.pid}")
                    return
                except Exception:  # not listening yet, or gone: MPyC's own start retries the same way
                    await asyncio.sleep(0.1)

        server = None
        if mpc.pid:
            server = await loop.create_server(lambda: asyncoro.MessageExchanger(mpc), port=mpc.parties[mpc.pid].port,
                                              ssl=context(ssl.Purpose.CLIENT_AUTH))
        await asyncio.gather(*(dial(peer) for peer in mpc.parties[mpc.pid + 1:] if peer.pid not in self.excluded))
        await mpc.parties[mpc.pid].protocol
        if server is not None:
            server.close()
        mpc.start_time = time.time()

    async def _beat(self, every: float) -> None:
        """Tell every peer this party is alive, whenever its event loop is free to (it is not
        while the party computes locally)."""
        while True:
            await asyncio.sleep(every)
            self._beats += 1
            for j in self.peers():
                self.send(j, HEARTBEAT_BASE + self._beats, b"")

    async def shutdown(self) -> None:
        """MPyC's closing barrier.  Every message of the run has arrived by then, so a peer that
        leaves or stalls now changes nothing here (the nodes' two-phase commit settles whether
        every node holds its share): the barrier is given the stall timeout, then left."""
        if self._beating is not None:
            self._beating.cancel()
        if self.excluded:
            await self._farewell()
            return
        if self.lost:
            return
        try:
            await asyncio.wait_for(self.mpc.shutdown(), self.stall)
        except (asyncio.TimeoutError, AttributeError):  # AttributeError: a link MPyC already dropped
            pass


    async def _farewell(self) -> None:
        """The closing barrier of a run without every party (MPyC's waits for all of them): every
        peer says it is done, or closes its link; one that stalls is left behind."""
        try:
            await self.exchange(HEARTBEAT_BASE - 1, {j: b"" for j in self.peers()})
        except LinkFailure:
            pass


def _end_waits(exchanger: Any) -> None:
    """End every receive still waiting on this connection with :data:`LOST`."""
    for label, fut in list(exchanger.buffers.items()):
        if isinstance(fut, asyncio.Future) and not fut.done():
            del exchanger.buffers[label]
            fut.set_result(LOST)


def watch_links(links: Links) -> None:
    """Make MPyC's connections report to ``links``: bytes that arrive, and a closed connection,
    which also ends every receive still waiting on it (with :data:`LOST`).  MPyC's own
    ``connection_lost`` re-raises an unexpected error inside the event loop and leaves the
    link registered, so waits on it would hang; this one always unregisters it."""
    from mpyc import asyncoro

    cls = asyncoro.MessageExchanger
    orig_received = cls.data_received

    def data_received(self: Any, data: bytes) -> None:
        orig_received(self, data)
        links.note_bytes(self.peer_pid)
        for label in [k for k in self.buffers if isinstance(k, int) and k >= HEARTBEAT_BASE]:
            del self.buffers[label]  # a heartbeat: its arrival was all it had to say
        stop = self.buffers.get(STOP_LABEL)
        if stop is not None and not isinstance(stop, asyncio.Future):
            del self.buffers[STOP_LABEL]
            links.note_stop(self.peer_pid, bytes(stop))
            _end_waits(self)

    def connection_lost(self: Any, exc: Exception | None) -> None:
        peer = self.peer_pid
        _end_waits(self)
        if peer is None:
            return  # a connection that never said who it was
        links.note_lost(peer)
        rt = self.runtime
        if rt.parties[peer].protocol is not self:
            return
        if rt.parties[rt.pid].protocol.done():  # mid-run: MPyC's unset_protocol would complete it again
            rt.parties[peer].protocol = None
        else:  # closing (or starting): MPyC waits for every link to be unregistered
            rt.unset_protocol(peer)

    cls.data_received = data_received
    cls.connection_lost = connection_lost
