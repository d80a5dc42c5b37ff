"""What a request may cost a node before anyone knows who sent it: admission at the HTTP layer.

:class:`Guard` is the API's outermost middleware; every request passes it before any route, in
this order:

1. **Failed requests per client address** (:class:`FailureLimiter`).  Each address has an
   allowance of failures, a token bucket of ``failure_burst`` units refilled at
   ``failure_refill`` units a second.  A request that fails (any 4xx answer except 429) costs one
   unit plus one per MiB of body read; successes cost nothing, so contributors behind one address
   (an office's NAT) are limited only by their own failures.  An address without a unit left is
   answered 429 with ``Retry-After`` before its request is read.
2. **Size**: a ``Content-Length`` above the endpoint's limit is answered 413 at once, and a body
   sent without one is cut off (413) as soon as it passes the limit.
3. **Memory** (:class:`BodyPool`): the request bodies a process holds at once are bounded, in two
   pools (bulk uploads; everything else), each with a share one address may hold.  A body is admitted
   before it is read: a declared ``Content-Length`` is reserved whole, a body without one is
   reserved as it arrives.  What does not fit is answered 503 with ``Retry-After``.
4. **Stalled bodies**: a body of which nothing arrives for ``body_idle_seconds`` is answered 408,
   releasing what it reserved.

Answers the guard gives itself close the connection when the body was not read, so the node
does not receive (and decrypt) bytes it has no use for.  Every limit is per process: with
``mpc-node serve --workers N`` the kernel spreads one client's connections over the N processes,
so an address gets up to N times each allowance and the node holds up to N times each pool.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from protocol.rejection import Deferral, RejectionReason, WireError
from protocol.wire import MAX_BODY_BYTES, MAX_BULK_BODY_BYTES

from .ingest import too_large

MIB = 1 << 20


@dataclass(frozen=True)
class GuardLimits:
    """The guard's limits (per process).  The defaults and why they are what they are:
    docs/THREAT_MODEL.md, "The public API"."""

    body_limit: int = MAX_BODY_BYTES  # bytes of one request body (413 above)
    bulk_body_limit: int = MAX_BULK_BODY_BYTES  # bytes of one bulk upload's body
    bulk_pool: int = 80 * MIB  # bytes of bulk upload bodies held at once (two batches of 36 MB, one of 48 MiB)
    bulk_pool_per_address: int = 80 * MIB  # ... of which one client address may hold (all: an HR tool uploads
    # several large batches at once, and slow senders of bulk bodies cannot touch the other pool)
    other_pool: int = 16 * MIB  # bytes of every other request body held at once
    other_pool_per_address: int = 8 * MIB  # ... of which one client address may hold
    failure_burst: float = 120.0  # failure units an address may spend at once
    failure_refill: float = 2.0  # failure units an address gets back a second
    body_idle_seconds: float = 30.0  # a body with no byte arriving for this long is answered 408
    addresses: int = 100_000  # client addresses whose failures are remembered (the one charged longest ago goes)
    busy_retry_after: int = 1  # seconds a 503 asks the client to wait

    def __post_init__(self) -> None:
        if not (self.body_limit <= self.other_pool_per_address <= self.other_pool
                and self.bulk_body_limit <= self.bulk_pool_per_address <= self.bulk_pool):
            raise ValueError("every pool and share of a pool must hold at least one body of its largest size")
        if self.failure_burst < 1 or self.failure_refill <= 0:
            raise ValueError("the failure allowance must allow one failure and refill")

    @staticmethod
    def unlimited_failures() -> GuardLimits:
        """No failure limit (in-process tests that send thousands of bad requests on purpose)."""
        return GuardLimits(failure_burst=float("inf"), failure_refill=float("inf"))


def client_key(host: str) -> str:
    """The address a client's failures are counted under: an IPv4 address as it is (also when
    mapped into IPv6), an IPv6 address by its /64 network (one subscriber's usual allocation:
    counting single IPv6 addresses would give an attacker 2^64 allowances)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class FailureLimiter:
    """Per-address token buckets of failure units (see the module docstring).  Not thread-safe:
    used from the event loop only."""

    def __init__(self, burst: float, refill: float, addresses: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.burst, self.refill, self.addresses, self.clock = burst, refill, addresses, clock
        self.unlimited = math.isinf(burst)
        self._buckets: dict[str, tuple[float, float]] = {}  # address -> (units left, when), oldest change first

    def _level(self, address: str, now: float) -> float:
        units, at = self._buckets.get(address, (self.burst, now))
        return min(self.burst, units + (now - at) * self.refill)

    def wait(self, address: str) -> float:
        """Seconds until ``address`` has a unit again (0: it may send now)."""
        if self.unlimited:
            return 0.0
        level = self._level(address, self.clock())
        return 0.0 if level >= 1 else (1 - level) / self.refill

    def charge(self, address: str, units: float) -> None:
        """Take ``units`` from ``address`` for a failed request (it may go into debt)."""
        if self.unlimited:
            return
        now = self.clock()
        level = self._level(address, now) - units
        self._buckets.pop(address, None)
        self._buckets[address] = (level, now)
        if len(self._buckets) > self.addresses:
            # Forget the address charged longest ago (the likeliest to have its allowance back),
            # in constant time: scanning for full ones would cost each new address a full pass.
            del self._buckets[next(iter(self._buckets))]


@dataclass
class BodyPool:
    """Bytes of request bodies held at once, in all and per address (not thread-safe: event loop only)."""

    capacity: int
    per_address: int
    used: int = 0
    by_address: dict[str, int] = field(default_factory=dict)

    def take(self, address: str, n: int) -> bool:
        """Reserve ``n`` more bytes for ``address``; False (nothing reserved) if they do not fit."""
        mine = self.by_address.get(address, 0)
        if self.used + n > self.capacity or mine + n > self.per_address:
            return False
        self.used += n
        self.by_address[address] = mine + n
        return True

    def give_back(self, address: str, n: int) -> None:
        self.used -= n
        left = self.by_address.get(address, 0) - n
        if left > 0:
            self.by_address[address] = left
        else:
            self.by_address.pop(address, None)


class PoolKind(Enum):
    BULK = "bulk"
    OTHER = "other"


def answer(wire: WireError, detail: str, reason: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The node's one error layout: ``{"error", "detail", "reason"}`` with the wire's status."""
    return JSONResponse({"error": wire.name, "detail": detail, "reason": reason}, status_code=wire.status,
                        headers=headers)


class _Cut(Exception):
    """The body stops being read: answer ``wire``/``reason`` instead of the route."""

    def __init__(self, wire: WireError, detail: str, reason: str, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.wire, self.detail, self.reason, self.retry_after = wire, detail, reason, retry_after

    def response(self) -> JSONResponse:
        headers = {"Connection": "close"}
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        return answer(self.wire, self.detail, self.reason, headers)


def _too_large(limit: int) -> _Cut:
    exc = too_large(limit)
    reason = exc.reason or RejectionReason.BODY_TOO_LARGE
    return _Cut(reason.wire, str(exc), reason.value)


def _deferred(d: Deferral, detail: str, retry_after: float) -> _Cut:
    return _Cut(d.wire, detail, d.value, max(1, math.ceil(retry_after)))


def _declared_length(scope: Scope) -> int | None:
    """The request's Content-Length (None if absent); ValueError if it is not a number."""
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            n = int(value)
            if n < 0:
                raise ValueError("negative Content-Length")
            return n
    return None


class Guard:
    """The admission middleware (see the module docstring); ``limits`` per process."""

    def __init__(self, app: ASGIApp, limits: GuardLimits | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.limits = limits = limits or GuardLimits()
        self.failures = FailureLimiter(limits.failure_burst, limits.failure_refill, limits.addresses, clock)
        self.pools = {PoolKind.BULK: BodyPool(limits.bulk_pool, limits.bulk_pool_per_address),
                      PoolKind.OTHER: BodyPool(limits.other_pool, limits.other_pool_per_address)}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = client_key(str(client[0])) if client else "-"
        wait = self.failures.wait(address)
        if wait > 0:
            cut = _deferred(Deferral.TOO_MANY_FAILURES, "too many failed requests from this address; retry later",
                            wait)
            await cut.response()(scope, receive, send)
            return
        await _Admitted(self, scope, address).run(receive, send)


class _Admitted:
    """One request through the guard: its size limit, its reservation, its outcome."""

    def __init__(self, guard: Guard, scope: Scope, address: str) -> None:
        self.guard, self.scope, self.address = guard, scope, address
        bulk = str(scope.get("path", "")).endswith("/batches")
        lim = guard.limits
        self.limit = lim.bulk_body_limit if bulk else lim.body_limit
        self.pool = guard.pools[PoolKind.BULK if bulk else PoolKind.OTHER]
        self.reserved = 0  # bytes this request holds in its pool
        self.received = 0  # body bytes read
        self.status = 0  # of the answer sent
        self.streamed = False  # no Content-Length: reserve as the body arrives
        self.body_done = False  # the last piece of the body arrived (no more idle timer)

    async def run(self, receive: Receive, send: Send) -> None:
        try:
            try:
                self._admit()
                await self.guard.app(self.scope, self._receive(receive), self._send(send))
            except _Cut as cut:
                if self.status:  # an answer has started: nothing else can be sent
                    raise
                await cut.response()(self.scope, receive, self._send(send))
        finally:
            self.pool.give_back(self.address, self.reserved)
            if 400 <= self.status < 500 and self.status != 429:
                self.guard.failures.charge(self.address, 1 + self.received / MIB)

    def _admit(self) -> None:
        """Refuse a declared body above the limit (413) or one that does not fit its pool (503)."""
        try:
            declared = _declared_length(self.scope)
        except ValueError:
            raise _too_large(self.limit) from None
        if declared is None:
            self.streamed = True
            return
        if declared > self.limit:
            raise _too_large(self.limit)
        self._reserve(declared)

    def _reserve(self, n: int) -> None:
        if n and not self.pool.take(self.address, n):
            raise _deferred(Deferral.BUSY, "the node holds as many request bodies as it may; retry shortly",
                            self.guard.limits.busy_retry_after)
        self.reserved += n

    def _receive(self, receive: Receive) -> Receive:
        idle = self.guard.limits.body_idle_seconds

        async def limited() -> Message:
            if self.body_done:  # e.g. waiting for the client to disconnect: not a body that stalls
                return await receive()
            try:
                async with asyncio.timeout(idle):
                    msg = await receive()
            except TimeoutError:
                raise _deferred(Deferral.BODY_STALLED, f"no part of the request body arrived for {idle:g} s",
                                1) from None
            if msg["type"] == "http.request":
                self.body_done = not msg.get("more_body", False)
                n = len(msg.get("body", b""))
                self.received += n
                if self.received > self.limit:
                    raise _too_large(self.limit)
                if self.streamed:
                    self._reserve(n)
            return msg

        return limited

    def _send(self, send: Send) -> Send:
        async def tracked(msg: Message) -> None:
            if msg["type"] == "http.response.start":
                self.status = int(msg["status"])
            await send(msg)

        return tracked
