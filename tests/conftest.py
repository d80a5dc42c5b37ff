"""Shared fixtures: a real survey set up with real keys in a temporary directory."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

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
                closes_in: dt.timedelta = dt.timedelta(days=1), salary_max: int = 1_000_000) -> Survey:
    node_dirs = []
    infos = []
    for i in range(n):
        d = tmp / f"node{i}"
        https, mpc = free_ports(2)
        infos.append(keygen(d, f"node{i}", f"https://127.0.0.1:{https}", f"127.0.0.1:{mpc}"))
        node_dirs.append(d)
    sdir = tmp / "survey"
    m = create_survey(sdir, infos, survey_id="test-survey", threshold=t, tokens=tokens, min_group_size=k,
                      closes_at=dt.datetime.now(dt.timezone.utc) + closes_in, salary_max=salary_max)
    _, _, cred = load_analyst_secret(sdir)
    toks = (sdir / "tokens.txt").read_text().split()
    return Survey(sdir, node_dirs, m, toks, cred)


@pytest.fixture
def survey(tmp_path: Path) -> Survey:
    return make_survey(tmp_path)
