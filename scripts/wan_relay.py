#!/usr/bin/env python3
"""A user-space TCP relay that makes a link slow: it adds a round-trip time and a rate limit.

    python scripts/wan_relay.py --route 10.9.0.101:8441=10.9.0.1:8441 \\
        --route 10.9.0.101:11365=10.9.0.1:11365 --rtt-ms 150 --rate-mbit 2

Every connection accepted on a LISTEN address is forwarded to its TARGET; each byte is held for
half the round-trip time in each direction, so a connection through the relay sees the whole
RTT.  With a rate, the bytes between one pair of hosts (the client's address and the relay's
listening address) share one token bucket per direction, as on a link of that capacity.  The
relay holds at most a window of bytes per direction of a connection (4 MB, or twice the
bandwidth-delay product with a rate, at least 64 KB) and stops reading beyond it, so TCP flow
control reaches the sender as on a real path.

This replaces ``tc qdisc ... netem``, which not every kernel has.  It needs Python 3.11 only (no
root, no kernel module).  What it does not model: packet loss, TCP slow start and congestion
control on the long path (each side talks TCP to the relay over a short one), jitter.
It prints "relay ready" once every route listens, and runs until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import signal
import socket
import sys
from dataclasses import dataclass, field


@dataclass
class Bucket:
    """One direction of one host pair: bytes leave at most at ``rate`` bytes/s (None: no limit)."""

    rate: float | None
    next_free: float = 0.0

    def finish_time(self, size: int, now: float) -> float:
        """When ``size`` bytes given now have gone through (the bucket's queue, then their own time)."""
        if not self.rate:
            return now
        start = max(now, self.next_free)
        self.next_free = start + size / self.rate
        return self.next_free


@dataclass
class Shaping:
    """The link every route gets: one-way delay (half the RTT) and an optional rate in bytes/s."""

    delay: float
    rate: float | None
    buckets: dict[tuple[str, str, str], Bucket] = field(default_factory=dict)

    def bucket(self, a: str, b: str, direction: str) -> Bucket:
        return self.buckets.setdefault((a, b, direction), Bucket(self.rate))

    @property
    def window(self) -> int:
        if not self.rate:
            return 4 * 1024 * 1024
        return max(64 * 1024, int(2 * self.rate * 2 * self.delay))

    @property
    def chunk(self) -> int:
        """Bytes read at a time: about 10 ms of the rate (so a chunk does not delay the next much)."""
        return 65536 if not self.rate else max(1500, min(65536, int(self.rate * 0.01)))


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, bucket: Bucket, shaping: Shaping) -> None:
    """Forward one direction: read, hold each chunk until its time, write; EOF passes through."""
    loop = asyncio.get_running_loop()
    queue: collections.deque[tuple[float, bytes]] = collections.deque()
    held = 0
    changed = asyncio.Event()

    async def feed() -> None:
        nonlocal held
        while True:
            try:
                data = await reader.read(shaping.chunk)
            except (ConnectionError, OSError):
                data = b""
            now = loop.time()
            queue.append((bucket.finish_time(len(data), now) + shaping.delay, data))
            held += len(data)
            changed.set()
            if not data:
                return
            while held > shaping.window:
                changed.clear()
                await changed.wait()

    async def deliver() -> None:
        nonlocal held
        while True:
            while not queue:
                changed.clear()
                await changed.wait()
            due, data = queue.popleft()
            await asyncio.sleep(max(0.0, due - loop.time()))
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()
            held -= len(data)
            changed.set()

    feeder = asyncio.ensure_future(feed())
    try:
        await deliver()
    except (ConnectionError, OSError):
        pass
    finally:
        feeder.cancel()


async def _handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter, target: tuple[str, int],
                  listen: str, shaping: Shaping) -> None:
    peer = client_w.get_extra_info("peername")[0]
    try:
        up_r, up_w = await asyncio.open_connection(*target)
    except OSError:
        client_w.close()
        return
    for w in (client_w, up_w):
        sock = w.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        await asyncio.gather(_pump(client_r, up_w, shaping.bucket(peer, listen, "up"), shaping),
                             _pump(up_r, client_w, shaping.bucket(peer, listen, "down"), shaping),
                             return_exceptions=True)
    except asyncio.CancelledError:  # the relay is stopping
        pass
    for w in (client_w, up_w):
        w.close()


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


async def serve(routes: list[tuple[tuple[str, int], tuple[str, int]]], shaping: Shaping) -> None:
    servers = []
    for listen, target in routes:
        servers.append(await asyncio.start_server(
            lambda r, w, t=target, a=listen[0]: _handle(r, w, t, a, shaping), listen[0], listen[1], backlog=1024))
    print("relay ready", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    for s in servers:
        s.close()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--route", action="append", required=True, metavar="LISTEN=TARGET",
                    help="host:port to listen on = host:port to forward to (repeat)")
    ap.add_argument("--rtt-ms", type=float, default=0.0, help="round-trip time added (half each way)")
    ap.add_argument("--rate-mbit", type=float, default=0.0, help="rate per host pair and direction (0: no limit)")
    args = ap.parse_args(argv)
    try:
        routes = [(_address(r.split("=", 1)[0]), _address(r.split("=", 1)[1])) for r in args.route]
    except (IndexError, ValueError):
        ap.error("--route takes LISTEN_HOST:PORT=TARGET_HOST:PORT")
    shaping = Shaping(args.rtt_ms / 2000.0, args.rate_mbit * 1e6 / 8 if args.rate_mbit else None)
    try:
        asyncio.run(serve(routes, shaping))
    except OSError as exc:
        print(f"wan_relay: cannot listen: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
