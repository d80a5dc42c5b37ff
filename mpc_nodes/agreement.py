"""Agreement on the submission set: which submissions every node holds.

Each node asks every peer at once for a *summary* of its frozen set (count, digest signed by the
peer, digests of 256 buckets of ids; :class:`protocol.wire.SetSummary`).  A peer whose digest
equals this node's holds the same set, and nothing more is fetched: the usual case costs one
small request per peer, whatever the survey's size.  Otherwise only the ids of the buckets whose
digests differ come, in binary (16 bytes each), and the peer's set is rebuilt from them and this
node's own ids of the other buckets, then checked against the peer's *signed* digest, so a
bucket digest that misleads can only make the agreement fail, naming the peer, never change it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from protocol.errors import ComputeFailed, SurveyError
from protocol.nodeauth import frozen_set_statement, sign_statement, statement_verifier, verify_statement
from protocol.wire import (
    ID_BUCKETS,
    SetSummary,
    b64d,
    bucket_digests,
    decode_ids,
    differing_buckets,
    encode_bucket_list,
    error_detail,
    id_bucket,
    set_digest,
)

from . import keys
from .party_job import SetStatement
from .peers import Peers, PeerUnreachable, each_peer
from .store import NodeStore


@dataclass(frozen=True)
class IdSet:
    """A node's submission ids with their digest and bucket digests."""

    ids: frozenset[str]
    digest: str
    buckets: bytes

    @staticmethod
    def of(ids: Any) -> IdSet:
        s = frozenset(ids)
        return IdSet(s, set_digest(s), bucket_digests(s))


def fetch_summary(peers: Peers, j: int) -> SetSummary:
    """Node j's current set summary (one attempt; raises SurveyError on any problem, and
    ComputeFailed if it answers for another node or signs its frozen set wrongly)."""
    try:
        r = peers.get(j, "ids/summary")
    except PeerUnreachable as exc:
        raise SurveyError(f"{peers.label(j)} is unreachable ({exc})") from None
    if r.status_code != 200:
        raise SurveyError(f"{peers.label(j)}: {error_detail(r)}")
    try:
        ss = SetSummary.parse(r.json())
    except ValueError:
        raise SurveyError(f"{peers.label(j)} answered with something that is not JSON") from None
    m = peers.manifest
    if ss.node_index != j or ss.manifest_hash != m.hash_hex():
        raise ComputeFailed(f"{peers.label(j)} answered for another node or manifest")
    if ss.frozen:
        try:
            verify_statement(statement_verifier(m.nodes[j].tls_cert_pem),
                             frozen_set_statement(m.survey_id, m.hash_hex(), j, ss.digest),
                             b64d(ss.signature, "frozen set signature"))
        except SurveyError:
            raise ComputeFailed(f"{peers.label(j)} sent a frozen set without a valid signature") from None
    return ss


class PeerDown(ComputeFailed):
    """A peer that did not provide its frozen set before the deadline (down, or not closed)."""


def fetch_frozen(peers: Peers, j: int, deadline: float, say: Callable[[str], None]) -> SetSummary:
    """Node j's *frozen* set summary, retrying (peer not closed yet, or not up) until ``deadline``."""
    announced = False
    while True:
        try:
            ss = fetch_summary(peers, j)
            if ss.frozen:
                return ss
            last = "its survey is still open"
        except ComputeFailed:
            raise
        except SurveyError as exc:
            last = str(exc)
        if time.monotonic() >= deadline:
            raise PeerDown(f"{peers.label(j)} did not provide its frozen submission set in time: {last}")
        if not announced:
            say(f"waiting for {peers.label(j)}: {last}")
            announced = True
        time.sleep(0.5)


def fetch_ids(peers: Peers, j: int, buckets: list[int] | None = None) -> list[str]:
    """Node j's ids in binary, all of them or those of ``buckets`` (raises ComputeFailed)."""
    query = "ids/binary" if buckets is None else f"ids/binary?buckets={encode_bucket_list(buckets)}"
    try:
        r = peers.get(j, query)
    except PeerUnreachable as exc:
        raise ComputeFailed(f"{peers.label(j)} became unreachable during the agreement ({exc})") from None
    if r.status_code != 200:
        raise ComputeFailed(f"{peers.label(j)}: {error_detail(r)}")
    try:
        ids = decode_ids(r.content, peers.label(j))
    except SurveyError as exc:
        raise ComputeFailed(str(exc)) from None
    if buckets is not None and not {id_bucket(sid) for sid in ids} <= set(buckets):
        raise ComputeFailed(f"{peers.label(j)} sent submission ids of buckets that were not asked for")
    return ids


def peer_ids(peers: Peers, j: int, summary: SetSummary, own: IdSet) -> frozenset[str]:
    """Node j's id set, given its summary: fetched only for the buckets that differ from ours,
    and checked against its digest (signed, if frozen)."""
    if summary.digest == own.digest:
        return own.ids
    diff = differing_buckets(own.buckets, summary.bucket_bytes())
    if len(diff) * 2 > ID_BUCKETS:  # most buckets differ: one list is shorter than naming them
        theirs = frozenset(fetch_ids(peers, j))
    else:
        wanted = set(diff)
        theirs = frozenset(fetch_ids(peers, j, diff)).union(sid for sid in own.ids if id_bucket(sid) not in wanted)
    if len(theirs) != summary.count or set_digest(theirs) != summary.digest:
        raise ComputeFailed(f"{peers.label(j)} sent submission ids that do not match its signed digest")
    return theirs


def set_statements(node_dir: Path, peers: Peers, digests: dict[int, str],
                   signatures: dict[int, str]) -> list[SetStatement]:
    """Every node's signed frozen-set digest, as this node saw them (its own signed here)."""
    m, me = peers.manifest, peers.me
    own = sign_statement((node_dir / keys.TLS_KEY_FILE).read_bytes(),
                         frozen_set_statement(m.survey_id, m.hash_hex(), me, digests[me]))
    return [SetStatement(bytes.fromhex(digests[j]), own if j == me else b64d(signatures[j], "frozen set signature"))
            if j in digests else SetStatement(bytes(32), b"") for j in range(m.n)]


@dataclass(frozen=True)
class Agreement:
    """The outcome of the agreement: the submissions every node holds, frozen in the store."""

    ids: list[str]  # in agreed (sorted) order: row k of the MPC is ids[k]
    digest: str
    rejected: int  # held by some node but not all, or refused as malformed
    statements: list[SetStatement]  # every node's signed frozen-set digest, as seen here (empty for a node down)
    down: tuple[int, ...] = ()  # peers that gave no frozen set in time: left out, their sets not intersected


def agree(store: NodeStore, peers: Peers, node_dir: Path, survey_id: str, deadline: float,
          say: Callable[[str], None], may_lose: int = 0) -> Agreement:
    """Fetch every peer's frozen set (at once; ids only where they differ), agree on the
    intersection and freeze it.  Up to ``may_lose`` peers that give no frozen set before
    ``deadline`` are left out (a submission then counts when every other node holds it)."""
    own = IdSet.of(store.submission_ids(survey_id))
    say(f"node {peers.me}: {len(own.ids)} submissions stored; asking the other nodes for their frozen sets")
    answers = each_peer(peers, lambda j: _frozen_or_down(peers, j, deadline, say))
    lost = {j: a for j, a in answers.items() if isinstance(a, PeerDown)}
    if len(lost) > may_lose:
        raise next(iter(lost.values()))
    for exc in lost.values():
        say(f"{exc}; going on without it")
    summaries = {j: a for j, a in answers.items() if isinstance(a, SetSummary)}
    differ = [j for j, ss in summaries.items() if ss.digest != own.digest]
    if differ:
        say("the sets of " + ", ".join(peers.label(j) for j in differ) + " differ from this node's: "
            "fetching the ids that differ")
    fetched = each_peer(peers, lambda j: peer_ids(peers, j, summaries[j], own), only=differ)
    sets = {peers.me: own.ids, **{j: fetched.get(j, own.ids) for j in summaries}}
    refused = set(store.refused_ids(survey_id)).union(*(ss.refused_ids for ss in summaries.values()))
    digests = {peers.me: own.digest, **{j: ss.digest for j, ss in summaries.items()}}
    statements = set_statements(node_dir, peers, digests, {j: ss.signature for j, ss in summaries.items()})
    agreed = sorted(frozenset.intersection(*sets.values()))
    union = frozenset.union(*sets.values())
    rejected = len(union) - len(agreed)
    if rejected:
        say(f"{rejected} submission(s) are not held by every node and will not count")
    refused -= union  # refused by some node but stored by another: already counted above
    if refused:
        say(f"{len(refused)} upload(s) were refused as malformed and do not count")
        rejected += len(refused)
    digest = store.record_agreement(survey_id, agreed)
    say(f"agreed on {len(agreed)} submissions (digest {digest[:16]}…); reading local shares")
    return Agreement(agreed, digest, rejected, statements, tuple(sorted(lost)))


def _frozen_or_down(peers: Peers, j: int, deadline: float, say: Callable[[str], None]) -> SetSummary | PeerDown:
    try:
        return fetch_frozen(peers, j, deadline, say)
    except PeerDown as exc:
        return exc


def incomplete_submissions(node_dir: Path, survey_id: str) -> dict[str, Any]:
    """For ``mpc-node status``: which of this node's submissions some peer does not hold (yet).

    A submission counts only if every node holds it; these are the ones that would not.
    """
    store = NodeStore(node_dir / keys.DB_FILE)
    try:
        rec = store.survey(survey_id)
        own = IdSet.of(store.submission_ids(survey_id))
    finally:
        store.close()
    peers = Peers(node_dir, rec.manifest, rec.node_index)

    def missing_at(j: int) -> int | str:
        try:
            ss = fetch_summary(peers, j)
            # an open survey's set may change between two requests: take its whole list as it comes
            return len(own.ids - (peer_ids(peers, j, ss, own) if ss.frozen else frozenset(fetch_ids(peers, j))))
        except SurveyError as exc:
            return str(exc)

    try:
        answers = each_peer(peers, missing_at)
    finally:
        peers.close()
    return {"missing_at": {j: v for j, v in answers.items() if isinstance(v, int)},
            "unreachable": {j: v for j, v in answers.items() if isinstance(v, str)}}
