"""The node's admission layer (mpc_nodes/guard.py): failed requests per address, bodies held in
memory, stalled and oversized bodies -- on a minimal app, with a clock the test moves."""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from starlette.types import Message, Receive, Scope, Send

from mpc_nodes.guard import MIB, BodyPool, FailureLimiter, Guard, GuardLimits, PoolKind, client_key

SMALL = GuardLimits(body_limit=1000, bulk_body_limit=4000, other_pool=4000, other_pool_per_address=2000,
                    bulk_pool=8000, bulk_pool_per_address=8000, failure_burst=5, failure_refill=1.0,
                    body_idle_seconds=0.2)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the whole body, answers the status named by the path's first part (/200, /403/batches...)
    with the body's length."""
    size = 0
    while True:
        msg = await receive()
        size += len(msg.get("body", b""))
        if not msg.get("more_body"):
            break
    status = int(str(scope["path"]).split("/")[1])
    body = json.dumps({"size": size}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def guarded(clock: Clock) -> Iterator[tuple[Guard, TestClient]]:
    guard = Guard(echo, SMALL, clock)
    yield guard, TestClient(guard)  # (no lifespan: the app answers HTTP only)


def test_failures_are_limited_per_address_and_successes_are_free(guarded: tuple[Guard, TestClient],
                                                                 clock: Clock) -> None:
    guard, c = guarded
    for _ in range(200):  # successes never count
        assert c.get("/200").status_code == 200
    for _ in range(5):
        assert c.get("/403").status_code == 403
    r = c.get("/200")  # the allowance is spent: refused before the request is read
    assert r.status_code == 429 and r.headers["retry-after"] == "1" and r.headers["connection"] == "close"
    assert r.json() == {"error": "TryLater", "detail": "too many failed requests from this address; retry later",
                        "reason": "too-many-failures"}
    assert c.get("/403").status_code == 429  # a 429 costs nothing: the wait does not grow
    clock.now += 1.0
    assert c.get("/200").status_code == 200
    # another address is not affected
    assert guard.failures.wait("192.0.2.7") == 0


def test_a_failure_costs_one_unit_and_one_per_mib_of_body(clock: Clock) -> None:
    limiter = FailureLimiter(burst=120, refill=2, addresses=10, clock=clock)
    limiter.charge("a", 1 + 48 * MIB / MIB)  # one failed bulk body of the maximum size
    limiter.charge("a", 49)
    assert limiter.wait("a") == 0  # 120 - 98 = 22 left
    limiter.charge("a", 49)
    assert limiter.wait("a") == pytest.approx((1 + 27) / 2)  # in debt: 27 units to win back, then one


def test_the_default_allowance_serves_an_office_and_bounds_a_forger(clock: Clock) -> None:
    """The numbers of docs/THREAT_MODEL.md: behind one address, 600 uploads a minute of which
    one in ten fails (a token already used, a typo) are never held up; a client that only sends
    forgeries gets at most burst + 60 * refill of them answered in a minute."""
    d = GuardLimits()
    office = FailureLimiter(d.failure_burst, d.failure_refill, d.addresses, clock)
    for k in range(600):
        clock.now += 0.1
        assert office.wait("office") == 0
        if k % 10 == 0:
            office.charge("office", 1.05)  # a failed single upload of about 50 KB
    forger = FailureLimiter(d.failure_burst, d.failure_refill, d.addresses, clock)
    answered = 0
    for _ in range(60_000):  # 1,000 a second for a minute
        clock.now += 0.001
        if forger.wait("forger") == 0:
            answered += 1
            forger.charge("forger", 1.05)
    assert answered <= d.failure_burst + 60 * d.failure_refill


def test_the_limiter_remembers_a_bounded_number_of_addresses(clock: Clock) -> None:
    limiter = FailureLimiter(burst=3, refill=1, addresses=2, clock=clock)
    limiter.charge("a", 3)
    limiter.charge("b", 3)
    limiter.charge("a", 1)  # "a" is now the one charged last
    limiter.charge("c", 3)  # over the bound: "b", charged longest ago, is forgotten
    assert set(limiter._buckets) == {"a", "c"}
    assert limiter.wait("b") == 0 and limiter.wait("a") > 0


def test_addresses_are_counted_per_ipv4_address_and_per_ipv6_64() -> None:
    assert client_key("192.0.2.1") == "192.0.2.1"
    assert client_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("testclient") == "testclient"


def test_a_body_pool_holds_its_capacity_and_each_address_its_share() -> None:
    pool = BodyPool(capacity=100, per_address=60)
    assert pool.take("a", 60) and not pool.take("a", 1)
    assert pool.take("b", 40) and not pool.take("c", 1)
    pool.give_back("a", 60)
    assert pool.take("c", 50) and pool.used == 90 and pool.by_address == {"b": 40, "c": 50}
    pool.give_back("b", 40)
    pool.give_back("c", 50)
    assert pool.used == 0 and pool.by_address == {}


def test_limits_must_hold_one_body_of_the_largest_size() -> None:
    with pytest.raises(ValueError, match="at least one body"):
        GuardLimits(bulk_pool=10 * MIB)
    with pytest.raises(ValueError, match="allow one failure"):
        GuardLimits(failure_refill=0)


def _call(guard: Guard, path: str, chunks: list[bytes], declared: int | None, client: str = "198.51.100.1",
          stall_after: int | None = None) -> tuple[int, dict[str, str], dict[str, Any]]:
    """Run one request through the guard by hand: ``chunks`` of body (stalling forever after
    ``stall_after`` of them); returns (status, headers, JSON body)."""
    headers = [(b"content-length", str(declared).encode())] if declared is not None else []
    scope: Scope = {"type": "http", "method": "POST", "path": path, "headers": headers, "client": (client, 4000)}
    sent: list[Message] = []
    queue = list(chunks)

    async def receive() -> Message:
        if stall_after is not None and len(chunks) - len(queue) >= stall_after:
            await asyncio.sleep(3600)
        piece = queue.pop(0) if queue else b""
        return {"type": "http.request", "body": piece, "more_body": bool(queue)}

    async def send(msg: Message) -> None:
        sent.append(msg)

    asyncio.run(guard(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return int(start["status"]), {k.decode(): v.decode() for k, v in start["headers"]}, json.loads(body)


def test_a_declared_body_is_admitted_whole_or_answered_503(clock: Clock) -> None:
    guard = Guard(echo, SMALL, clock)
    rest, bulk = guard.pools[PoolKind.OTHER], guard.pools[PoolKind.BULK]
    assert rest.take("someone", 2000) and rest.take("someone else", 1500)  # held by requests in flight
    status, headers, body = _call(guard, "/200", [b"x" * 600], 600)
    assert status == 503 and headers["retry-after"] == "1" and headers["connection"] == "close"
    assert body["reason"] == "node-busy" and body["error"] == "TryLater"
    assert guard.failures.wait("198.51.100.1") == 0  # not the client's failure: costs nothing
    assert _call(guard, "/200", [b"x" * 500], 500)[::2] == (200, {"size": 500})
    assert rest.used == 3500 and bulk.used == 0  # released once answered
    # one address may hold only its share
    rest.give_back("someone", 2000)
    rest.give_back("someone else", 1500)
    assert rest.take("198.51.100.1", 1800)
    assert _call(guard, "/200", [b"x" * 300], 300)[0] == 503
    assert _call(guard, "/200", [b"x" * 300], 300, client="198.51.100.2")[0] == 200


def test_a_body_without_length_is_reserved_as_it_arrives(clock: Clock) -> None:
    guard = Guard(echo, SMALL, clock)
    bulk = guard.pools[PoolKind.BULK]
    assert _call(guard, "/200/batches", [b"y" * 1000] * 3, None)[2] == {"size": 3000}
    assert bulk.take("other", 6000)
    status, _, body = _call(guard, "/200/batches", [b"y" * 1000] * 3, None)
    assert status == 503 and body["reason"] == "node-busy"
    assert bulk.used == 6000


def test_oversized_bodies_are_refused_declared_or_not(clock: Clock) -> None:
    guard = Guard(echo, SMALL, clock)
    status, headers, body = _call(guard, "/200", [b"z" * 1001], 1001)
    assert (status, body["reason"], body["detail"]) == (413, "body-too-large", "request body above 1000 bytes")
    assert headers["connection"] == "close"
    status, _, body = _call(guard, "/200", [b"z" * 600, b"z" * 600], None)
    assert (status, body["reason"]) == (413, "body-too-large")
    assert _call(guard, "/200/batches", [b"z" * 3000], 3000)[0] == 200  # the bulk limit is larger
    assert _call(guard, "/200", [b"z"], 1)[0] == 200
    assert all(p.used == 0 for p in guard.pools.values())


def test_a_stalled_body_is_answered_408_and_releases_its_reservation(clock: Clock) -> None:
    guard = Guard(echo, SMALL, clock)
    status, headers, body = _call(guard, "/200", [b"a" * 100, b"a" * 100], 800, stall_after=1)
    assert (status, body["reason"], headers["retry-after"]) == (408, "body-stalled", "1")
    assert body["detail"] == "no part of the request body arrived for 0.2 s"
    assert all(p.used == 0 for p in guard.pools.values())


def test_the_idle_timer_stops_once_the_body_is_complete(clock: Clock) -> None:
    """An app may listen for the client going away once it has the body: that is no stall."""
    async def listens_after_the_body(scope: Scope, receive: Receive, send: Send) -> None:
        while (await receive()).get("more_body"):
            pass
        try:
            await asyncio.wait_for(receive(), 0.5)  # longer than the idle limit (0.2 s)
        except asyncio.TimeoutError:
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    scope: Scope = {"type": "http", "method": "POST", "path": "/", "headers": [], "client": ("198.51.100.9", 1)}
    sent: list[Message] = []
    pieces = [{"type": "http.request", "body": b"abc", "more_body": False}]

    async def receive() -> Message:
        if pieces:
            return pieces.pop()
        await asyncio.sleep(3600)  # the client stays connected
        raise AssertionError("unreachable")

    async def send(msg: Message) -> None:
        sent.append(msg)

    asyncio.run(Guard(listens_after_the_body, SMALL, clock)(scope, receive, send))
    assert sent[0]["status"] == 200
