"""Anchored audit logs: a node's audit-log head, signed when it computes a survey, kept by its peers.

A node's audit log is a hash chain in its own database, so whoever controls the node can delete a
line and recompute the chain, or drop the newest lines, and the chain still verifies.  When a
node prepares its result share it signs the head of its log (line and hash,
:func:`protocol.nodeauth.audit_head_statement`) in the same transaction; its peers fetch the
signed head with its compute state during the two-phase commit and keep it, the head travels
with the result share to the analyst, and ``mpc-node audit --verify`` checks the node's log
against the heads its peers kept (:func:`check_against_peers`).  Lines after the signed head are
protected only by the next survey's head.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from pathlib import Path

from protocol.errors import SurveyError
from protocol.manifest import Manifest
from protocol.nodeauth import audit_head_statement, sign_statement
from protocol.nodeauth import verify_audit_anchor as verify_anchor
from protocol.wire import AuditAnchor, ComputeState

from . import keys
from .peers import Peers, PeerUnreachable
from .store import NodeStore


def head_signer(node_dir: Path, manifest: Manifest, me: int) -> Callable[[int, str], AuditAnchor]:
    """This node's signature of its audit-log head (line ``seq``, hash ``head``) in ``manifest``'s survey."""
    key = (node_dir / keys.TLS_KEY_FILE).read_bytes()

    def sign(seq: int, head: str) -> AuditAnchor:
        sig = sign_statement(key, audit_head_statement(manifest.survey_id, manifest.hash_hex(), me, seq, head))
        return AuditAnchor(me, seq, head, base64.b64encode(sig).decode())

    return sign


def keep_peer_anchors(store: NodeStore, manifest: Manifest, states: Mapping[int, ComputeState | None]) -> list[int]:
    """Keep each peer's own signed head from its compute state; returns the peers whose head was
    missing or not validly signed (they are not kept)."""
    missing = []
    for j, cs in states.items():
        own = [a for a in (cs.anchors if cs is not None else []) if a.node_index == j]
        try:
            if not own:
                raise SurveyError("no head")
            verify_anchor(manifest, own[-1])
        except SurveyError:
            missing.append(j)
            continue
        store.keep_anchor(manifest.survey_id, own[-1])
    return missing


def check_against_peers(store: NodeStore, peers: Peers, fetch: Callable[[Peers, int], ComputeState | None]
                        ) -> list[str]:
    """Check this node's log against the heads of it its peers kept: one line per peer saying what
    was checked; raises SurveyError when a head is missing from the log (truncated) or differs
    (rewritten).  ``fetch``: a peer's compute state (None when it does not answer)."""
    m, me = peers.manifest, peers.me
    said = []
    for j in peers.others():
        try:
            cs = fetch(peers, j)
        except PeerUnreachable:
            cs = None
        if cs is None:
            said.append(f"{peers.label(j)}: no answer, not checked")
            continue
        mine = [a for a in cs.anchors if a.node_index == me]
        for a in mine:
            verify_anchor(m, a)
            store.check_anchor(a.seq, a.head, peers.label(j))
        said.append(f"{peers.label(j)}: " + (", ".join(f"line {a.seq} matches" for a in mine) if mine
                                             else "keeps no head of this node's log"))
    return said
