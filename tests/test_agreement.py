"""Agreement on the submission set over a slow network: digests first, only the ids that differ,
in binary, every peer at once; and the node endpoints that serve them."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import Survey, api_node
from mpc_nodes.agreement import IdSet, peer_ids
from mpc_nodes.peers import PeerResponse, each_peer
from mpc_nodes.store import NodeStore
from protocol.errors import ComputeFailed, SurveyError
from protocol.nodeauth import HEADER, frozen_set_statement, sign_request, statement_verifier, verify_statement
from protocol.wire import (
    ID_BUCKETS,
    IDS_CONTENT_TYPE,
    FrozenSet,
    SetSummary,
    b64d,
    b64e,
    bucket_digests,
    decode_bucket_list,
    decode_ids,
    differing_buckets,
    encode_bucket_list,
    encode_ids,
    id_bucket,
    set_digest,
)

SID = "test-survey"
BASE = f"/v1/surveys/{SID}"


def _ids(k: int) -> list[str]:
    return [secrets.token_hex(16) for _ in range(k)]


def test_binary_ids_are_sorted_16_byte_records_and_strictly_parsed() -> None:
    ids = _ids(50)
    raw = encode_ids(ids)
    assert len(raw) == 16 * 50 and decode_ids(raw, "node 1") == sorted(ids)
    with pytest.raises(SurveyError, match="not a whole number of 16-byte ids"):
        decode_ids(raw[:-1], "node 1")
    with pytest.raises(SurveyError, match="not sorted or repeats an id"):
        decode_ids(raw[16:32] + raw[:16], "node 1")
    with pytest.raises(SurveyError, match="not sorted or repeats an id"):
        decode_ids(raw[:16] + raw[:16], "node 1")
    assert decode_bucket_list(encode_bucket_list([255, 3, 3, 0])) == [0, 3, 255]
    for bad in ("0", "0g", "AB", "00" * 257):
        with pytest.raises(SurveyError):
            decode_bucket_list(bad)


def test_bucket_digests_locate_the_differences() -> None:
    ids = _ids(2000)
    extra = "7f" + secrets.token_hex(15)
    mine, theirs = bucket_digests(ids), bucket_digests(ids[1:] + [extra])
    assert len(mine) == 8 * ID_BUCKETS
    assert differing_buckets(mine, mine) == []
    assert set(differing_buckets(mine, theirs)) == {id_bucket(ids[0]), 0x7F}


class FakePeers:
    """The peer side of :func:`peer_ids`: node 1 holds ``held`` and answers id requests."""

    def __init__(self, held: list[str], lie: bool = False) -> None:
        self.held, self.lie, self.queries = held, lie, []

    def label(self, j: int) -> str:
        return f"node {j} (node{j}, https://n{j})"

    def get(self, j: int, what: str, timeout: float = 10.0) -> PeerResponse:
        self.queries.append(what)
        wanted = set(decode_bucket_list(what.split("buckets=")[1])) if "buckets=" in what else None
        ids = [s for s in self.held if wanted is None or id_bucket(s) in wanted]
        # a liar adds an id it does not hold to an asked bucket (dropping one would be no lie when
        # the asked buckets hold none of its ids)
        return PeerResponse(200, encode_ids(ids + [self._made_up(wanted)] if self.lie else ids))

    @staticmethod
    def _made_up(wanted: set[int] | None) -> str:
        while True:
            sid = secrets.token_hex(16)
            if wanted is None or id_bucket(sid) in wanted:
                return sid


def _summary(held: list[str]) -> SetSummary:
    return SetSummary.of(FrozenSet(SID, 1, "m" * 64, len(held), set_digest(held), held))


def test_a_peer_with_the_same_set_costs_no_id_transfer() -> None:
    ids = _ids(300)
    peers = FakePeers(ids)
    assert peer_ids(peers, 1, _summary(ids), IdSet.of(ids)) == frozenset(ids)  # type: ignore[arg-type]
    assert peers.queries == []


def test_only_the_differing_buckets_travel_and_the_result_is_the_peers_set() -> None:
    ids = _ids(3000)
    theirs = ids[5:] + _ids(2)  # they lack 5 of ours and hold 2 we lack
    peers = FakePeers(theirs)
    got = peer_ids(peers, 1, _summary(theirs), IdSet.of(ids))  # type: ignore[arg-type]
    assert got == frozenset(theirs)
    (query,) = peers.queries
    asked = decode_bucket_list(query.split("buckets=")[1])
    assert 1 <= len(asked) <= 7
    assert set(asked) == {id_bucket(s) for s in set(ids) ^ set(theirs)}


def test_ids_that_do_not_match_the_signed_digest_name_the_peer() -> None:
    ids = _ids(400)
    theirs = ids[1:]
    with pytest.raises(ComputeFailed, match=r"node 1 \(node1, https://n1\) sent submission ids that do not match "
                                            "its signed digest"):
        peer_ids(FakePeers(theirs, lie=True), 1, _summary(theirs), IdSet.of(ids))  # type: ignore[arg-type]


def test_most_buckets_differing_fetches_one_whole_list() -> None:
    ids, theirs = _ids(1000), _ids(1000)
    peers = FakePeers(theirs)
    assert peer_ids(peers, 1, _summary(theirs), IdSet.of(ids)) == frozenset(theirs)  # type: ignore[arg-type]
    assert peers.queries == ["ids/binary"]


def test_each_peer_asks_every_peer_at_once_and_raises_the_first_failure_in_node_order() -> None:
    class Three:
        def others(self) -> list[int]:
            return [1, 2, 3]

    started: list[float] = []
    lock = threading.Lock()

    def slow(j: int) -> int:
        with lock:
            started.append(time.monotonic())
        time.sleep(0.3)
        return j * 10

    t0 = time.monotonic()
    assert each_peer(Three(), slow) == {1: 10, 2: 20, 3: 30}  # type: ignore[arg-type]
    assert time.monotonic() - t0 < 0.6 and max(started) - min(started) < 0.2

    def failing(j: int) -> int:
        if j >= 2:
            raise SurveyError(f"node {j} is down")
        return j

    with pytest.raises(SurveyError, match="node 2 is down"):
        each_peer(Three(), failing)  # type: ignore[arg-type]


# -- the node's endpoints --

@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[Survey, Any, NodeStore]]:
    with api_node(tmp_path, tokens=5) as made:
        yield made


def _upload_some(s: Survey, c: Any, k: int) -> None:
    from test_api import upload

    for i in range(k):
        assert c.post(f"{BASE}/submissions", json=upload(s, s.tokens[i])).status_code == 200


def test_summary_and_binary_ids_need_a_peer_signature_and_match_the_frozen_set(node: tuple[Survey, Any, NodeStore]
                                                                               ) -> None:
    s, c, store = node
    _upload_some(s, c, 3)
    key1 = (s.node_dirs[1] / "tls.key").read_bytes()
    for what in ("ids/summary", "ids/binary"):
        assert c.get(f"{BASE}/{what}").status_code == 403
        wrong = sign_request(key1, 1, "GET", f"{BASE}/ids", s.manifest)  # signed for another path
        assert c.get(f"{BASE}/{what}", headers={HEADER: wrong}).status_code == 403
    auth = {"Authorization": "Bearer " + s.credential}
    c.post(f"{BASE}/close", headers=auth)
    full = FrozenSet.parse(c.get(f"{BASE}/ids", headers=auth).json())
    path = f"{BASE}/ids/summary"
    ss = SetSummary.parse(c.get(path, headers={HEADER: sign_request(key1, 1, "GET", path, s.manifest)}).json())
    assert (ss.count, ss.digest, ss.frozen) == (3, full.digest, True)
    m = s.manifest  # the same signed statement as the full set's (ECDSA signatures differ each time)
    verify_statement(statement_verifier(m.nodes[0].tls_cert_pem),
                     frozen_set_statement(SID, m.hash_hex(), 0, ss.digest), b64d(ss.signature, "signature"))
    assert ss.bucket_bytes() == bucket_digests(full.submission_ids)
    path = f"{BASE}/ids/binary"
    r = c.get(path, headers={HEADER: sign_request(key1, 1, "GET", path, s.manifest)})
    assert r.headers["content-type"] == IDS_CONTENT_TYPE and decode_ids(r.content, "node 0") == full.submission_ids
    first = id_bucket(full.submission_ids[0])
    r = c.get(f"{path}?buckets={encode_bucket_list([first])}",
              headers={HEADER: sign_request(key1, 1, "GET", path, s.manifest)})
    assert decode_ids(r.content, "node 0") == [sid for sid in full.submission_ids if id_bucket(sid) == first]
    bad = c.get(f"{path}?buckets=zz", headers=auth)
    assert bad.status_code == 400 and "two lower-case hex digits" in bad.json()["detail"]


def test_set_summary_parser_refuses_malformed_fields() -> None:
    good = SetSummary.of(FrozenSet(SID, 1, "m" * 64, 1, set_digest(["a" * 32]), ["a" * 32])).__dict__
    assert SetSummary.parse(dict(good)).count == 1
    for change, needle in (({"buckets": b64e(b"short")}, "malformed bucket digests"),
                           ({"digest": "xyz"}, "malformed set summary"),
                           ({"count": "1"}, "field 'count'"),
                           ({"refused_ids": ["nope"]}, "malformed refused ids"),
                           ({"extra": 1}, "malformed set summary")):
        with pytest.raises(SurveyError, match=needle):
            SetSummary.parse({**good, **change})
