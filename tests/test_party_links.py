"""The party's links (mpc_nodes/party_links.py): timeouts detect stalls, not slowness; a dropped
link is named in one line; and the MPC port listens on one address only."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

import pytest

from conftest import wired_channels
from mpc_nodes.channel import Channel, RunAborted
from mpc_nodes.channel_frame import Round
from mpc_nodes.cheats import crafted_pickle
from mpc_nodes.party_job import FaultKind, PartyConfig, PartyFault, PartyFileError
from mpc_nodes.party_links import HEARTBEAT_BASE, LOST, LinkFailure, Links, watch_links

ROOT = Path(__file__).resolve().parent.parent
ADDRS = ["10.0.0.1:11365", "10.0.0.2:11365", "10.0.0.3:11365"]


class FakeLink:
    """A peer's link as MPyC's MessageExchanger looks to the party: send and receive by label."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, bytes]] = []
        self.buffers: dict[int, Any] = {}

    def send(self, label: int, payload: bytes) -> None:
        self.sent.append((label, payload))

    def receive(self, label: int) -> Any:
        if label in self.buffers:
            return self.buffers.pop(label)
        fut = self.buffers[label] = asyncio.get_running_loop().create_future()
        return fut

    def arrive(self, label: int, payload: bytes) -> None:
        fut = self.buffers.pop(label, None)
        if isinstance(fut, asyncio.Future):
            fut.set_result(payload)
        else:
            self.buffers[label] = payload


def _links(stall: float, me: int = 0) -> tuple[Links, list[Any]]:
    parties = [types.SimpleNamespace(pid=j, protocol=None if j == me else FakeLink()) for j in range(3)]
    return Links(types.SimpleNamespace(parties=parties, pid=me), ADDRS, stall), parties


def test_a_silent_peer_fails_the_wait_after_the_stall_timeout_naming_it() -> None:
    links, parties = _links(stall=0.3)

    async def scenario() -> float:
        asyncio.get_running_loop().call_later(0.05, parties[1].protocol.arrive, -1, b"from 1")
        t0 = time.monotonic()
        with pytest.raises(LinkFailure) as caught:
            await links.exchange(-1, {1: b"to 1", 2: b"to 2"})
        assert caught.value.kind == FaultKind.SILENT and caught.value.peers == (2,)
        assert caught.value.message == "node 2 (10.0.0.3:11365) sent nothing for 0.3 s"
        return time.monotonic() - t0

    assert 0.3 <= asyncio.run(scenario()) < 1.5
    assert parties[1].protocol.sent == [(-1, b"to 1")] and parties[2].protocol.sent == [(-1, b"to 2")]


def test_a_slow_peer_that_keeps_sending_is_waited_for_however_long_it_takes() -> None:
    """A large message on a slow link: bytes keep arriving, so no stall, for 4x the timeout."""
    links, parties = _links(stall=0.2)

    async def scenario() -> dict[int, Any]:
        loop = asyncio.get_running_loop()
        for k in range(16):  # a chunk every 50 ms for 0.8 s
            loop.call_later(0.05 * k, links.note_bytes, 2)
        loop.call_later(0.0, parties[1].protocol.arrive, -1, b"quick")
        loop.call_later(0.8, parties[2].protocol.arrive, -1, b"slow, but it came")
        return await links.exchange(-1, {1: b"a", 2: b"b"})

    assert asyncio.run(scenario()) == {1: b"quick", 2: b"slow, but it came"}


def test_a_closed_link_yields_lost_and_is_named_after_the_others_are_read() -> None:
    links, parties = _links(stall=5)
    parties[2].protocol = None  # MPyC unregistered it: sending must not raise AttributeError

    async def scenario() -> dict[int, Any]:
        asyncio.get_running_loop().call_later(0.01, parties[1].protocol.arrive, -1, b"from 1")
        return await links.exchange(-1, {1: b"x", 2: b"y"})

    got = asyncio.run(scenario())
    assert got == {1: b"from 1", 2: LOST}
    with pytest.raises(LinkFailure) as caught:
        links.require_all(got)
    assert caught.value.kind == FaultKind.LINK_LOST and caught.value.peers == (2,)
    assert str(caught.value) == "node 2 (10.0.0.3:11365) closed its MPC link"


def test_mpyc_connection_lost_wakes_waiting_receives_and_unregisters(monkeypatch: pytest.MonkeyPatch) -> None:
    """MPyC's own connection_lost re-raises an error inside the event loop and leaves a waiting
    receive hanging; the patched one hands the receive LOST and unregisters the link."""
    from mpyc import asyncoro

    cls = asyncoro.MessageExchanger
    for name in ("data_received", "connection_lost"):
        monkeypatch.setattr(cls, name, getattr(cls, name))  # restored after the test
    links, parties = _links(stall=5)
    watch_links(links)

    async def scenario() -> Any:
        own = asyncio.get_running_loop().create_future()
        own.set_result(None)  # the run is under way: MPyC's start completed
        rt = types.SimpleNamespace(pid=0, parties=parties, options=types.SimpleNamespace(no_prss=True),
                                   _loop=asyncio.get_running_loop())
        parties[0].protocol = own
        link = cls(rt, 2)
        parties[2].protocol = link
        waiting = link.receive(-7)
        link.connection_lost(ConnectionResetError("reset by peer"))
        return await waiting

    assert asyncio.run(scenario()) is LOST
    assert parties[2].protocol is None and links.lost == {2}


def test_a_waiting_party_sends_heartbeats_each_under_a_fresh_label() -> None:
    """So that a peer busy receiving someone else's large message is not taken for silent."""
    links, parties = _links(stall=0.2)

    async def scenario() -> None:
        beating = asyncio.ensure_future(links._beat(0.02))
        await asyncio.sleep(0.15)
        beating.cancel()

    asyncio.run(scenario())
    for j in (1, 2):
        labels = [label for label, payload in parties[j].protocol.sent if payload == b""]
        assert len(labels) >= 3 and len(set(labels)) == len(labels) and min(labels) > HEARTBEAT_BASE


def test_an_arriving_heartbeat_counts_as_life_and_leaves_nothing_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    import struct

    from mpyc import asyncoro

    cls = asyncoro.MessageExchanger
    for name in ("data_received", "connection_lost"):
        monkeypatch.setattr(cls, name, getattr(cls, name))
    links, parties = _links(stall=5)
    watch_links(links)
    rt = types.SimpleNamespace(pid=0, parties=parties, options=types.SimpleNamespace(no_prss=True))
    link = cls(rt, 2)  # this party dialled node 2: the link knows its peer
    links.heard[2] = 0.0
    beat = struct.pack("<qI", HEARTBEAT_BASE + 7, 0)
    real = struct.pack("<qI5s", -9, 5, b"hello")
    link.data_received(beat + real)
    assert links.heard[2] > 0 and link.buffers == {-9: b"hello"}


def test_a_stop_statement_ends_the_waits_on_its_sender_and_is_followed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A peer that stops sends its stop statement before it closes its link: the receive waiting
    on it ends at once, and the party is told that peer stopped the run (not that it lost it),
    even when the link then closes; a peer whose link closed without one is lost."""
    import struct

    from mpyc import asyncoro

    from mpc_nodes.party_links import STOP_LABEL

    cls = asyncoro.MessageExchanger
    for name in ("data_received", "connection_lost"):
        monkeypatch.setattr(cls, name, getattr(cls, name))
    links, parties = _links(stall=5)
    watch_links(links)

    async def scenario() -> Any:
        rt = types.SimpleNamespace(pid=0, parties=parties, options=types.SimpleNamespace(no_prss=True),
                                   _loop=asyncio.get_running_loop())
        link = cls(rt, 2)
        parties[2].protocol = link
        waiting = link.receive(-7)
        link.data_received(struct.pack("<qI", STOP_LABEL, 9) + b"statement")
        return await waiting

    assert asyncio.run(scenario()) is LOST
    assert links.stopped == {2: b"statement"} and STOP_LABEL not in parties[2].protocol.buffers
    with pytest.raises(LinkFailure) as caught:
        links.require_all({1: LOST, 2: LOST})
    assert caught.value.kind == FaultKind.FOLLOWED and caught.value.peers == (2,)
    assert str(caught.value) == "node 2 (10.0.0.3:11365) stopped the run"
    links.stopped.clear()
    with pytest.raises(LinkFailure) as caught:
        links.require_all({1: LOST, 2: b"x"})
    assert caught.value.kind == FaultKind.LINK_LOST and caught.value.peers == (1,)


def test_a_stopping_party_sends_its_statement_to_every_peer_still_connected() -> None:
    from mpc_nodes.party_links import STOP_LABEL

    links, parties = _links(stall=5)
    links.lost.add(1)
    asyncio.run(links.send_stop(b"why I stop"))
    assert parties[1].protocol.sent == [] and parties[2].protocol.sent == [(STOP_LABEL, b"why I stop")]


def _first_broadcast(chan: Channel, answers: list[list[Any]]) -> None:
    it = iter(answers)

    async def transfer(msg: bytes, alt: Any = None) -> list[Any]:
        return next(it)

    chan._transfer = transfer  # type: ignore[method-assign]
    asyncio.run(chan.broadcast(Round.VALIDATION, b"payload 2"))


def test_a_pickle_is_named_even_when_an_honest_peer_already_left(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Node 1 caught node 0's pickle first and left, so node 1's link is gone when node 2 reads the
    round: node 2 still names node 0's pickle (not the dropped link, not an AttributeError)."""
    a, b, c = wired_channels(tmp_path, monkeypatch)
    own = c._frame(Round.VALIDATION, b"payload 2")
    with pytest.raises(RunAborted) as caught:
        _first_broadcast(c, [[crafted_pickle(tmp_path / "pwned"), LOST, own]])
    assert caught.value.culprits == (0,) and "node 0 sent a message that is not plain data" in caught.value.message
    assert not (tmp_path / "pwned").exists()


def test_a_dropped_link_in_a_clean_round_is_a_link_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b, c = wired_channels(tmp_path, monkeypatch)
    frames = [ch._frame(Round.VALIDATION, f"payload {i}".encode()) for i, ch in enumerate((a, b, c))]
    with pytest.raises(LinkFailure) as caught:
        _first_broadcast(c, [[frames[0], LOST, frames[2]]])
    assert caught.value.kind == FaultKind.LINK_LOST and caught.value.peers == (1,)


def test_the_party_binds_its_own_address_or_the_configured_one() -> None:
    cfg = PartyConfig(3, 1, 1, ("a.example:1", "10.1.2.3:11365", "[2001:db8::5]:7"), ("0" * 64,) * 3)
    assert cfg.bind_host() == "10.1.2.3"
    assert PartyConfig(3, 2, 1, cfg.parties, cfg.fingerprints).bind_host() == "2001:db8::5"
    assert PartyConfig(3, 1, 1, cfg.parties, cfg.fingerprints, listen_host="0.0.0.0").bind_host() == "0.0.0.0"


_BIND = (
    "import asyncio, sys; sys.argv = ['party', '--no-log']\n"
    "from mpc_nodes.mpc_program import _install_hardening\n"
    "from mpc_nodes.party_links import LinkFailure\n"
    "from mpyc.runtime import mpc\n"
    "_install_hardening(['00'*32], mpc._loop, sys.stdin.read().strip())\n"
    "try:\n"
    "    # exactly how MPyC 0.11's Runtime.start opens its server: a port and no host\n"
    "    server = mpc._loop.run_until_complete(mpc._loop.create_server(asyncio.Protocol, port=0, ssl=None))\n"
    "    print('bound', sorted({s.getsockname()[0] for s in server.sockets}))\n"
    "except LinkFailure as exc:\n"
    "    print('failed', exc.kind.value, exc.message)\n"
)


@pytest.mark.parametrize("host,expected", [
    ("127.0.0.2", "bound ['127.0.0.2']"),
    ("192.0.2.77", "failed setup cannot listen for the other nodes on 192.0.2.77:0: Cannot assign requested address"),
])
def test_mpyc_server_listens_only_on_the_bind_address(host: str, expected: str) -> None:
    proc = subprocess.run([sys.executable, "-c", _BIND], input=host, capture_output=True, text=True, timeout=60,
                          cwd=ROOT)
    assert proc.stdout.startswith(expected), proc.stdout + proc.stderr


def test_party_fault_kinds_round_trip_and_unknown_kinds_are_refused() -> None:
    for fault in (PartyFault("node 2 lied", (2,)), PartyFault("node 1 sent nothing for 120 s", (), FaultKind.SILENT, (1,)),
                  PartyFault("cannot listen", (), FaultKind.SETUP)):
        assert PartyFault.parse(fault.to_json()) == fault
    with pytest.raises(PartyFileError, match="field 'kind' names no fault: 'bored'"):
        PartyFault.parse('{"message": "m", "culprits": [], "kind": "bored", "peers": []}')


def test_a_party_left_out_of_the_run_is_neither_sent_to_nor_waited_for() -> None:
    parties = [types.SimpleNamespace(pid=j, protocol=None if j == 0 else FakeLink()) for j in range(3)]
    links = Links(types.SimpleNamespace(parties=parties, pid=0), ADDRS, 0.3, excluded=(2,))
    assert links.peers() == [1]

    async def go() -> dict[int, Any]:
        parties[1].protocol.arrive(-5, b"from 1")
        return await links.exchange(-5, {1: b"to 1"})

    assert asyncio.run(go()) == {1: b"from 1"}  # no wait for node 2, which never speaks
    assert parties[1].protocol.sent == [(-5, b"to 1")] and parties[2].protocol.sent == []


def test_how_many_nodes_compute_may_leave_out() -> None:
    """At most n - 2t - 1 parties in all (a dispute pair costs one: it holds a faulty node),
    never this node, and only when someone is left out."""
    from mpc_nodes.compute import Exclusions, LeftOutAfterDispute, _settled
    from mpc_nodes.dispute import LeftOut, Settlement, Why
    from protocol.errors import CheatingDetected, ComputeFailed

    def peers(n: int, t: int, me: int = 0) -> Any:
        return types.SimpleNamespace(manifest=types.SimpleNamespace(n=n, threshold=t), me=me)

    def lone(*nodes: int) -> Settlement:
        return Settlement({j: LeftOut(j, Why.NAMED_BY_MANY) for j in nodes})

    def spent(*nodes: int) -> Exclusions:
        return Exclusions(nodes, spent=len(nodes))

    named = CheatingDetected("cheating detected", (2,))
    with pytest.raises(ComputeFailed, match="at most n - 2t - 1 = 0 may be left out"):
        _settled(peers(3, 1), lone(2), Exclusions(), named)  # n = 3: two parties would be left, with no check
    assert _settled(peers(4, 1), lone(2), Exclusions(), named).excluded == (2,)
    with pytest.raises(ComputeFailed, match="may be left out"):
        _settled(peers(4, 1), lone(3), spent(2), named)  # a second one: no check left
    with pytest.raises(CheatingDetected):
        _settled(peers(4, 1, me=2), lone(2), Exclusions(), named)  # a node that is named itself stops
    with pytest.raises(ComputeFailed, match="left nobody out"):
        _settled(peers(4, 1), Settlement(), spent(2), named)  # nothing new to try
    assert _settled(peers(5, 1), lone(3), spent(1), named).excluded == (1, 3)
    with pytest.raises(ComputeFailed, match="may be left out"):
        _settled(peers(7, 2), lone(4, 5, 6), Exclusions(), named)
    assert _settled(peers(7, 2), lone(5, 6), Exclusions(), named).excluded == (5, 6)
    pair = Settlement({1: LeftOut(1, Why.DISPUTE, 2), 2: LeftOut(2, Why.DISPUTE, 1)})
    after = _settled(peers(4, 1), pair, Exclusions(), named)
    assert (after.excluded, after.disputes, after.spent) == ((1, 2), ((1, 2),), 1)
    with pytest.raises(LeftOutAfterDispute, match="^left out with node 2 after a dispute: at least one of the two "
                                                  "deviated; the other nodes go on$"):
        _settled(peers(4, 1, me=1), pair, Exclusions(), named)