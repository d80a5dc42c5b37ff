"""Stop statements (mpc_nodes/stop.py): what a party that stops says, and the check of a peer's
stop statement before it is followed."""

from __future__ import annotations

import json
import types
from dataclasses import asdict, replace
from pathlib import Path

from mpc_nodes.channel import RunAborted
from mpc_nodes.dispute import Attempt, Signer, statement_hash
from mpc_nodes.party_job import FaultKind
from mpc_nodes.party_links import LinkFailure
from mpc_nodes.stop import claim
from protocol.wire import AccusationKind
from tests.conftest import make_survey

DIGEST = bytes.fromhex("ab" * 32)


def _job(sv: object, me: int, attempt: int = 0) -> types.SimpleNamespace:
    m = sv.manifest  # type: ignore[attr-defined]
    return types.SimpleNamespace(survey_id=m.survey_id, manifest_hash=m.hash_hex(), agreed_digest=DIGEST,
                                 attempt=attempt, party=types.SimpleNamespace(pid=me),
                                 certificates=[nd.tls_cert_pem for nd in m.nodes])


def test_what_a_stopping_party_says(tmp_path: Path) -> None:
    sv = make_survey(tmp_path, n=4, t=1)
    job, links = _job(sv, 0), types.SimpleNamespace(stopped={})
    assert claim(job, links, RunAborted("cheating detected: node 2 ...", (2,))) == (AccusationKind.DEVIATION, (2,),
                                                                                   "", "")
    assert claim(job, links, RunAborted("named", (0,)))[0] == AccusationKind.WITHDRAWN  # it was named itself
    lost = LinkFailure(FaultKind.LINK_LOST, [3], "node 3 closed its MPC link")
    assert claim(job, links, lost) == (AccusationKind.LOST, (3,), "", "")
    assert claim(job, links, LinkFailure(FaultKind.SETUP, [], "cannot listen"))[0] == AccusationKind.WITHDRAWN


def test_a_peer_stop_statement_is_followed_only_if_it_is_its_own_signed_one_of_this_run(tmp_path: Path) -> None:
    sv = make_survey(tmp_path, n=4, t=1)
    attempt = Attempt(0, DIGEST.hex(), (0, 1, 2, 3))
    theirs = Signer(sv.node_dirs[2], sv.manifest, 2).accuse(attempt, AccusationKind.LOST, [1], 5)
    followed = LinkFailure(FaultKind.FOLLOWED, [2], "node 2 stopped the run")

    def said(raw: bytes, attempt_no: int = 0) -> tuple[AccusationKind, tuple[int, ...], str, str]:
        return claim(_job(sv, 0, attempt_no), types.SimpleNamespace(stopped={2: raw}), followed)

    kind, accused, follows, relayed = said(json.dumps(asdict(theirs)).encode())
    assert (kind, accused, follows) == (AccusationKind.FOLLOWED, (2,), statement_hash(theirs))
    assert json.loads(relayed) == asdict(theirs)  # relayed in the dispute, so node 2 cannot hide it
    bad = [b"not json", b" " * 65537 + json.dumps(asdict(theirs)).encode(),  # too long to be read
           json.dumps(asdict(replace(theirs, accused=[3]))).encode(),  # signature no longer fits
           json.dumps(asdict(Signer(sv.node_dirs[3], sv.manifest, 3).accuse(attempt, AccusationKind.LOST, [1],
                                                                             5))).encode()]  # node 3's, not 2's
    for raw in bad:
        assert said(raw) == (AccusationKind.DEVIATION, (2,), "", "")
    assert said(json.dumps(asdict(theirs)).encode(), attempt_no=1) == (AccusationKind.DEVIATION, (2,), "", "")
