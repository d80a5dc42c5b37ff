"""Cheating-node harness: one node deviates at one step (``mpc-node compute --cheat STEP``);
the honest nodes or the analyst must catch it and name it, in both models, with real processes.

What is covered here is listed in docs/THREAT_MODEL.md together with what is not (yet).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from demo.cluster import LocalCluster, closed_survey, compare, plaintext_report, run, tool

pytestmark = pytest.mark.slow
CHEATER = 2


def _survey(tmp_path: Path, n: int, t: int, model: str) -> tuple[LocalCluster, list[tuple[str, int]]]:
    return closed_survey(tmp_path, {"female": 7, "male": 6, "other": 2}, seed=n, n=n, threshold=t, model=model)


@pytest.mark.parametrize("model", ["semi-honest", "malicious"])
@pytest.mark.parametrize("step,needle", [
    ("agree", f"cheating detected: node(s) {CHEATER} entered another submission set than the others"),
    ("garbage", f"cheating detected: node {CHEATER} sent a malformed validation message"),
    ("pickle", f"cheating detected: node {CHEATER} sent a message that is not plain data (refused to unpickle"),
])
def test_deviation_inside_the_mpc_is_caught_and_named(tmp_path: Path, model: str, step: str, needle: str) -> None:
    c, _ = _survey(tmp_path, 4, 1, model)
    try:
        results = c.compute(timeout=20, cheat={CHEATER: step})
        honest = [r for i, r in enumerate(results) if i != CHEATER]
        for res in honest:
            assert res.returncode == 1, res.stderr
            last = res.stderr.strip().splitlines()[-1]
            assert last.startswith("mpc-node: error: " + needle), res.stderr
            assert "Traceback" not in res.stderr
        # nothing released, and the crafted pickle ran nowhere
        half = run([tool("salary-analyst"), "results", "--survey", str(c.survey_dir)], check=False, quiet=True)
        assert half.returncode == 1 and "no result yet" in half.stderr
        # (the crafted pickle would create <tempdir>/PWNED-by-peer-pickle, next to the party's work dir)
        assert not (Path(tempfile.gettempdir()) / "PWNED-by-peer-pickle").exists()
    finally:
        c.stop_all()


@pytest.mark.parametrize("model", ["semi-honest", "malicious"])
def test_wrong_result_share_is_corrected_and_named_with_3t_plus_1(tmp_path: Path, model: str) -> None:
    c, records = _survey(tmp_path, 4, 1, model)
    try:
        for res in c.compute(timeout=60, cheat={CHEATER: "result"}):
            assert res.returncode == 0, res.stderr
        out = c.results(tmp_path / "r.json")
        assert out["cheating_nodes"] == [CHEATER]
        assert f"node(s) {CHEATER} sent a result share inconsistent" in out["warnings"][0]
        assert compare(out, plaintext_report(records, 5)) == []
    finally:
        c.stop_all()


def test_wrong_result_share_with_2t_plus_1_aborts_the_release(tmp_path: Path) -> None:
    c, _ = _survey(tmp_path, 3, 1, "malicious")
    try:
        for res in c.compute(timeout=60, cheat={CHEATER: "result"}):
            assert res.returncode == 0, res.stderr
        bad = run([tool("salary-analyst"), "results", "--survey", str(c.survey_dir), "--format", "json"],
                  check=False, quiet=True)
        assert bad.returncode == 1
        assert "salary-analyst: error: the shares are inconsistent and with n=3 < 3t+1=4 nodes the culprit " \
               "cannot be identified" in bad.stderr
        assert not bad.stdout.strip() or "groups" not in json.loads(bad.stdout)
    finally:
        c.stop_all()
