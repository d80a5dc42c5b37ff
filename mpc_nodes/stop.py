"""A party's stop statement: when its run ends without a result, the party signs what it says
about the attempt (its node publishes exactly that in the dispute, :mod:`mpc_nodes.dispute`)
and sends it to every peer still connected before its links close, so that they *follow* it
instead of seeing a lost link.  A peer's stop statement is checked here before it is followed.

Party side only (the node reads the :class:`~mpc_nodes.party_job.StopRecord` this writes).
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, replace
from pathlib import Path

from protocol.errors import SurveyError
from protocol.nodeauth import accusation_hash, accusation_statement, check_accusation, sign_statement
from protocol.wire import Accusation, AccusationKind

from .channel import Channel, RunAborted
from .party_job import STOP_FILE, FaultKind, PartyJob, StopRecord
from .party_links import LinkFailure, Links

Claim = tuple[AccusationKind, tuple[int, ...], str, str]  # kind, accused, follows, the followed statement
#: a signed accusation naming every node of the largest survey is a few kilobytes
MAX_STOP_STATEMENT = 64 * 1024


def claim(job: PartyJob, links: Links, exc: RunAborted | LinkFailure) -> Claim:
    """What this party says about the run ``exc`` ended: a deviation it saw, peers whose links
    closed or fell silent without a stop statement (lost), the stop statement it follows, or
    that it withdraws (it failed by itself, or was named)."""
    me = job.party.pid
    if isinstance(exc, RunAborted):
        if exc.culprits and me not in exc.culprits:
            return AccusationKind.DEVIATION, tuple(exc.culprits), "", ""
        return AccusationKind.WITHDRAWN, (), "", ""
    if exc.kind == FaultKind.FOLLOWED:
        j = exc.peers[0]
        try:
            theirs = peer_statement(job, j, links.stopped[j])
        except SurveyError:
            return AccusationKind.DEVIATION, (j,), "", ""  # what it sent is not its signed statement of this run
        return AccusationKind.FOLLOWED, (j,), accusation_hash(theirs), json.dumps(asdict(theirs))
    if exc.kind in (FaultKind.LINK_LOST, FaultKind.SILENT, FaultKind.NOT_JOINED) and exc.peers \
            and me not in exc.peers:
        return AccusationKind.LOST, tuple(exc.peers), "", ""
    return AccusationKind.WITHDRAWN, (), "", ""


def peer_statement(job: PartyJob, j: int, raw: bytes) -> Accusation:
    """Peer j's stop statement, if it is j's validly signed statement about this attempt over
    this frozen set; raises SurveyError otherwise."""
    if len(raw) > MAX_STOP_STATEMENT:
        raise SurveyError(f"node {j} sent a stop statement of {len(raw)} bytes")
    try:
        a = Accusation.parse(json.loads(raw))
    except (ValueError, UnicodeDecodeError):
        raise SurveyError(f"node {j} sent a malformed stop statement") from None
    check_accusation(a, job.survey_id, job.manifest_hash, job.certificates)
    if (a.accuser, a.agreed_digest, a.attempt) != (j, job.agreed_digest.hex(), job.attempt):
        raise SurveyError(f"node {j} sent a stop statement of another run")
    return a


async def stop(ch: Channel, job: PartyJob, exc: RunAborted | LinkFailure) -> None:
    """Sign this party's stop statement for the run ``exc`` ended, record it (:data:`STOP_FILE`,
    before anything is sent, so that its node publishes the same one) and send it to every peer
    still connected.  Nothing when the job allots no sequence number (a party run alone)."""
    if not job.sequence:
        return
    kind, accused, follows, followed = claim(job, ch.links, exc)
    kind, accused = ch.stop_claim(kind, accused)
    if kind != AccusationKind.FOLLOWED:
        follows = followed = ""
    a = Accusation(job.survey_id, job.manifest_hash, job.agreed_digest.hex(), job.attempt, job.sequence,
                   job.party.pid, kind.value, sorted(set(accused)), "", follows)
    a = replace(a, signature=base64.b64encode(sign_statement(ch.key, accusation_statement(a))).decode())
    text = json.dumps(asdict(a))
    Path(STOP_FILE).write_text(StopRecord(text, followed).to_json())
    await ch.links.send_stop(text.encode())
