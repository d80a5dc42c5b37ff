"""Shared fixtures: a real survey set up with real keys in a temporary directory."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from analyst.survey import create_survey, load_analyst_secret
from demo.cluster import free_ports
from mpc_nodes.keys import keygen
from protocol.manifest import Manifest


@dataclass
class Survey:
    dir: Path
    node_dirs: list[Path]
    manifest: Manifest
    tokens: list[str]
    credential: str


def make_survey(tmp: Path, n: int = 3, t: int = 1, tokens: int = 20, k: int = 5,
                closes_in: dt.timedelta = dt.timedelta(days=1), salary_max: int = 1_000_000,
                **report: Any) -> Survey:
    """``report``: job_categories, salary_bands, dp_epsilon for :func:`create_survey`."""
    node_dirs = []
    infos = []
    for i in range(n):
        d = tmp / f"node{i}"
        https, mpc = free_ports(2)
        infos.append(keygen(d, f"node{i}", f"https://127.0.0.1:{https}", f"127.0.0.1:{mpc}"))
        node_dirs.append(d)
    sdir = tmp / "survey"
    m = create_survey(sdir, infos, survey_id="test-survey", threshold=t, tokens=tokens, min_group_size=k,
                      closes_at=dt.datetime.now(dt.timezone.utc) + closes_in, salary_max=salary_max, **report)
    _, _, cred = load_analyst_secret(sdir)
    toks = (sdir / "tokens.txt").read_text().split()
    return Survey(sdir, node_dirs, m, toks, cred)


@pytest.fixture
def survey(tmp_path: Path) -> Survey:
    return make_survey(tmp_path)


@contextmanager
def api_node(tmp: Path, tokens: int) -> Iterator[tuple[Survey, Any, Any]]:
    """A survey imported into node 0's real store, and FastAPI's test client over node 0's real app."""
    import json
    import warnings

    from mpc_nodes.keys import load_public
    from mpc_nodes.server import create_app
    from mpc_nodes.store import NodeStore

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    s = make_survey(tmp, tokens=tokens)
    d = s.node_dirs[0]
    store = NodeStore(d / "node.db")
    pub = load_public(d)
    store.import_survey(json.loads((s.dir / "node-bundle.json").read_text()), pub.hpke_public_key,
                        pub.tls_cert_sha256)
    with TestClient(create_app(d, store)) as client:
        yield s, client, store


def wired_channels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Three party ``Channel`` objects of one survey with the nodes' real keys, not connected
    (each test scripts what ``_transfer`` returns), round 0 done as if every nonce had arrived."""
    import types

    from mpc_nodes.channel import Channel
    from mpc_nodes.party_links import Links

    s = make_survey(tmp_path, n=3, t=1)
    certificates = [nd.tls_cert_pem for nd in s.manifest.nodes]
    addresses = [nd.mpc_address for nd in s.manifest.nodes]
    chans = []
    for i, d in enumerate(s.node_dirs):
        work = tmp_path / f"party{i}"
        (work / ".config").mkdir(parents=True)
        (work / ".config" / f"party_{i}.key").write_bytes((d / "tls.key").read_bytes())
        monkeypatch.chdir(work)
        links = Links(types.SimpleNamespace(parties=[None] * 3, pid=i), addresses, 120.0)
        chans.append(Channel(links, certificates, s.manifest.survey_id, s.manifest.hash_hex()))
    nonces = [c.nonce for c in chans]
    for c in chans:
        c.view = b"".join(nonces)
    return chans


def release(c: Any, out_json: Path, report: Path | None = None) -> dict[str, Any]:
    """Close ``c``'s survey, run compute on every node (each must exit 0) and read the result."""
    c.close()
    for res in c.compute(timeout=120):
        assert res.returncode == 0, res.stderr
    return dict(c.results(out_json, report=report))
