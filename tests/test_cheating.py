"""Cheating-node harness: one node deviates at one step (``mpc-node compute --cheat STEP``);
the honest nodes or the analyst must catch it and name it, in both models, with real processes.

The steps and what catches each are listed in docs/THREAT_MODEL.md.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from pathlib import Path

import pytest

from demo.cluster import LocalCluster, closed_survey, compare, plaintext_report, run, tool
from mpc_nodes.compute import WORK_DIR

pytestmark = pytest.mark.slow
CHEATER = 2
MODELS = ["semi-honest", "malicious"]


def _survey(tmp_path: Path, n: int, t: int, model: str) -> tuple[LocalCluster, list[tuple[str, int]]]:
    return closed_survey(tmp_path, {"female": 7, "male": 6, "other": 2}, seed=n, n=n, threshold=t, model=model)


def _nothing_released(c: LocalCluster) -> None:
    half = run([tool("salary-analyst"), "results", "--survey", str(c.survey_dir)], check=False, quiet=True)
    assert half.returncode == 1 and "no result yet" in half.stderr


ABORTING_STEPS = [
    ("agree", f"cheating detected: node(s) {CHEATER} entered another submission set than the others"),
    ("equivocate", f"cheating detected: node {CHEATER} sent different signed messages to different nodes"),
    ("garbage", f"cheating detected: node {CHEATER} sent a malformed message"),
    ("pickle", f"cheating detected: node {CHEATER} sent a message that is not plain data (a pickle; it was never "
               "unpickled)"),
]


@pytest.mark.parametrize("model", MODELS)
def test_deviation_inside_the_mpc_is_caught_and_named_with_2t_plus_1(tmp_path: Path, model: str) -> None:
    """n = 3: nobody can be left out (two parties would be left, with no check). Each step in turn
    on one closed survey: an aborted run releases nothing, so the next compute starts over on the
    same frozen submission set."""
    c, _ = _survey(tmp_path, 3, 1, model)
    try:
        for step, needle in ABORTING_STEPS:
            results = c.compute(timeout=20, cheat={CHEATER: step})
            honest = [r for i, r in enumerate(results) if i != CHEATER]
            for res in honest:
                assert res.returncode == 1, (step, res.stderr)
                last = res.stderr.strip().splitlines()[-1]
                assert last.startswith("mpc-node: error: " + needle), (step, res.stderr)
                assert "Traceback" not in res.stderr
            _nothing_released(c)
            # (the crafted pickle would create PWNED-by-peer-pickle next to the party's work dir,
            # in the node's compute-work directory)
            for d in c.node_dirs:
                assert (d / WORK_DIR).is_dir() and not (d / WORK_DIR / "PWNED-by-peer-pickle").exists()
            assert not (Path(tempfile.gettempdir()) / "PWNED-by-peer-pickle").exists()
    finally:
        c.stop_all()


EXCLUDED = [
    ("agree", "malicious"), ("equivocate", "malicious"), ("garbage", "malicious"), ("pickle", "malicious"),
    ("crash", "malicious"), ("stall", "malicious"), ("agree", "semi-honest"), ("crash", "semi-honest"),
]


@pytest.mark.parametrize(("step", "model"), EXCLUDED)
def test_with_3t_plus_1_the_deviating_node_is_left_out_and_the_others_deliver(tmp_path: Path, step: str,
                                                                             model: str) -> None:
    """n = 4, t = 1: the honest nodes exclude the node they named (or lost), rerun over the same
    frozen set without it, and release the exact result; the culprit is named to the operators
    and to the analyst."""
    c, records = _survey(tmp_path, 4, 1, model)
    lost = step in ("crash", "stall")
    try:
        results = c.compute(timeout=4 if step == "stall" else 20, cheat={CHEATER: step})
        for i, res in enumerate(results):
            if i == CHEATER:
                assert res.returncode != 0
                continue
            assert res.returncode == 0, (step, res.stderr)
            assert ("excluding node 2 (node2, " in res.stderr
                    and f"({'lost' if lost else 'named for a deviation'}): 3 of 4 nodes go on over the same frozen "
                    "set; its shares are erasures (2s + e <= n - t - 1)" in res.stderr), res.stderr
            assert "rerunning the MPC without node 2 (node2, " in res.stderr
            assert res.stdout.strip().splitlines()[-1] == ("the result was computed without node(s) 2"
                                                           + ("" if lost else "; named for a deviation: node(s) 2"))
        out = c.results(tmp_path / "r.json", tmp_path / "report.md")
        assert compare(out, plaintext_report(records, 5)) == []
        assert out["submissions"] == {"accepted": len(records), "rejected": 0}  # nothing set aside
        assert out["cheating_nodes"] == ([] if lost else [CHEATER])
        assert out.get("left_out_nodes") == ([CHEATER] if lost else None)
        if lost:
            assert (f"node(s) {CHEATER} were lost (down, crashed or silent past the stall timeout) and left out of the "
                    "computation by the other nodes") in out["warnings"]
        assert out["warnings"][0].startswith("node 2's result share was left out (node 2 (node2) has no result for "
                                             "you: no result yet")
        report = (tmp_path / "report.md").read_text()
        assert "node 2's result share was left out" in report
        if not lost:
            assert "Nodes caught cheating: 2" in report
        audit = run([tool("mpc-node"), "audit", "--dir", str(c.node_dirs[0])], quiet=True).stdout
        assert f' excluded {{"deviation":{"false" if lost else "true"},"nodes":[2],"reason":' in audit
    finally:
        c.stop_all()


@pytest.mark.parametrize(("liar", "step"), [(3, "open"), (0, "validate")])
def test_with_5_nodes_a_crash_and_a_liar_at_once_still_deliver(tmp_path: Path, liar: int, step: str) -> None:
    """n = 5, t = 1: node 1 crashes (an erasure) and another node lies (an error): 2s + e = 3 <=
    n - t - 1 = 3, the right result, the liar named.  ``open``: wrong count and result shares;
    ``validate``: wrong validation shares from node 0, the first node present, corrected from
    the four shares present (the missing node's are erasures, never guessed from a liar's), so
    nothing is set aside."""
    c, records = _survey(tmp_path, 5, 1, "malicious")
    try:
        results = c.compute(timeout=20, cheat={1: "crash", liar: step})
        for i, res in enumerate(results):
            if i != 1:
                assert res.returncode == 0, res.stderr
                assert "excluding node 1 (node1, " in res.stderr and "(lost): 4 of 5 nodes go on" in res.stderr
                assert f"cheating detected and corrected: node {liar} (node{liar}, " in res.stderr, res.stderr
                assert "off the polynomial" not in res.stderr
        out = c.results(tmp_path / "r.json")
        assert (out["submissions"]["accepted"], out["submissions"]["rejected"]) == (len(records), 0)
        assert compare(out, plaintext_report(records, 5)) == []
        assert out["cheating_nodes"] == [liar] and "set_aside" not in out["submissions"]
        assert out["warnings"][0].startswith("node 1's result share was left out")
    finally:
        c.stop_all()


TARGETED = [(4, "garbage", "malicious"), (4, "garbage", "semi-honest"), (5, "garbage", "malicious"),
            (4, "pickle", "malicious")]


@pytest.mark.parametrize(("n", "step", "model"), TARGETED)
def test_a_deviation_towards_one_honest_node_leaves_out_the_pair_and_the_others_deliver(
        tmp_path: Path, n: int, step: str, model: str) -> None:
    """t = 1, node 2 deviates towards node 1 only: node 1 names it, the others only see node 1
    leave.  Dispute control: the signed accusations put {1, 2} in dispute, every honest node
    settles the same, the pair is left out and the others deliver the exact result."""
    c, records = _survey(tmp_path, n, 1, model)
    try:
        results = c.compute(timeout=20, cheat={CHEATER: f"{step}@1"})
        assert results[1].returncode == 4, results[1].stderr
        assert results[1].stderr.strip().splitlines()[-1] == (
            "mpc-node: left out with node 2 after a dispute: at least one of the two deviated; the other nodes go on")
        assert results[CHEATER].returncode != 0
        for i in range(n):
            if i in (1, CHEATER):
                continue
            res = results[i]
            assert res.returncode == 0, res.stderr
            assert ("excluding node 1 (node1, " in res.stderr and " and node 2 (node2, " in res.stderr
                    and f"(in dispute: at least one of the two deviated): {n - 2} of {n} nodes go on" in res.stderr)
            assert res.stdout.strip().splitlines()[-1] == ("the result was computed without node(s) 1, 2; "
                                                           "in dispute: nodes 1 and 2")
        out = c.results(tmp_path / "r.json", tmp_path / "report.md")
        assert compare(out, plaintext_report(records, 5)) == []
        assert out["submissions"] == {"accepted": len(records), "rejected": 0}
        assert out["cheating_nodes"] == []  # one of the two deviated; nobody can say which
        audit = run([tool("mpc-node"), "audit", "--dir", str(c.node_dirs[0])], quiet=True).stdout
        assert ' excluded {"deviation":true,"nodes":[1,2],"reason":' in audit and '"why":"dispute"' in audit
        assert not (c.node_dirs[1] / WORK_DIR / "PWNED-by-peer-pickle").exists()
    finally:
        c.stop_all()


@pytest.mark.parametrize("step", ["agree@1", "drop@1"])
def test_a_deviation_towards_one_node_that_leaves_proof_or_many_disputes_leaves_out_the_liar_alone(
        tmp_path: Path, step: str) -> None:
    """``agree@1``: node 2 tells node 1 alone another agreed digest, validly signed; the echo of
    the round shows every node the two signatures.  ``drop@1``: node 2 closes its MPC link to
    node 1 alone, then says it lost node 0; node 1 saw a link close without a stop statement
    (first-hand), the others follow a stop statement, so both losses are disputes with node 2,
    more than t.  Either way node 2 alone is left out and the others deliver the exact result."""
    c, records = _survey(tmp_path, 4, 1, "malicious")
    try:
        results = c.compute(timeout=20, cheat={CHEATER: step})
        assert results[CHEATER].returncode != 0
        for i, res in enumerate(results):
            if i != CHEATER:
                assert res.returncode == 0, res.stderr
                assert "excluding node 2 (node2, " in res.stderr and "(named for a deviation): 3 of 4" in res.stderr
        out = c.results(tmp_path / "r.json")
        assert compare(out, plaintext_report(records, 5)) == []
        assert out["submissions"] == {"accepted": len(records), "rejected": 0}
        assert out["cheating_nodes"] == [CHEATER]
    finally:
        c.stop_all()


def test_a_deviation_towards_one_node_with_three_nodes_aborts_naming_the_culprit(tmp_path: Path) -> None:
    """n = 3: no node can be left out (no budget): the node that saw it names the culprit, the
    other one the node it lost; nothing is released."""
    c, _ = _survey(tmp_path, 3, 1, "malicious")
    try:
        results = c.compute(timeout=20, cheat={CHEATER: "garbage@1"})
        assert results[1].returncode == 1
        assert results[1].stderr.strip().splitlines()[-1].startswith(
            f"mpc-node: error: cheating detected: node {CHEATER} sent a malformed message")
        assert results[0].returncode == 1 and "node 1 (node1, " in results[0].stderr.strip().splitlines()[-1]
        _nothing_released(c)
    finally:
        c.stop_all()


def test_equivocation_is_named_even_with_three_nodes(tmp_path: Path) -> None:
    """The signatures prove it: no majority or redundancy is needed."""
    c, _ = _survey(tmp_path, 3, 1, "malicious")
    try:
        for i, res in enumerate(c.compute(timeout=20, cheat={CHEATER: "equivocate"})):
            if i != CHEATER:
                assert res.returncode == 1 and f"node {CHEATER} sent different signed messages" in res.stderr
        _nothing_released(c)
    finally:
        c.stop_all()


@pytest.mark.parametrize("model", MODELS)
def test_wrong_opening_share_is_corrected_and_named_with_3t_plus_1(tmp_path: Path, model: str) -> None:
    c, records = _survey(tmp_path, 4, 1, model)
    try:
        for i, res in enumerate(c.compute(timeout=60, cheat={CHEATER: "open"})):
            assert res.returncode == 0, res.stderr
            if i != CHEATER:
                assert f"cheating detected and corrected: node {CHEATER}" in res.stdout + res.stderr, res.stderr
        out = c.results(tmp_path / "r.json")
        assert compare(out, plaintext_report(records, 5)) == []  # the right result all the same
        assert out["cheating_nodes"] == [CHEATER]  # and the analyst is told who cheated
    finally:
        c.stop_all()


def test_wrong_opening_share_with_2t_plus_1_aborts_before_release(tmp_path: Path) -> None:
    c, _ = _survey(tmp_path, 3, 1, "malicious")
    try:
        for i, res in enumerate(c.compute(timeout=60, cheat={CHEATER: "open"})):
            if i != CHEATER:
                assert res.returncode == 1
                assert "cheating detected while opening the counts" in res.stderr
                assert "n=3 < 3t+1=4 nodes the culprit cannot be identified" in res.stderr
        _nothing_released(c)
    finally:
        c.stop_all()


@pytest.mark.parametrize("model", MODELS)
def test_wrong_validation_shares_are_corrected_and_named_with_3t_plus_1(tmp_path: Path, model: str) -> None:
    """The liar's odd shares are located; it must reveal its committed share, which shows its
    openings were false: named, and every submission is judged on the corrected values."""
    c, records = _survey(tmp_path, 4, 1, model)
    try:
        for i, res in enumerate(c.compute(timeout=60, cheat={CHEATER: "validate"})):
            assert res.returncode == 0, res.stderr
            if i != CHEATER:
                assert f"cheating detected and corrected: node {CHEATER}" in res.stderr, res.stderr
                assert "off the polynomial" not in res.stderr
        out = c.results(tmp_path / "r.json")
        assert (out["submissions"]["accepted"], out["submissions"]["rejected"]) == (len(records), 0)
        assert compare(out, plaintext_report(records, 5)) == []
        assert out["cheating_nodes"] == [CHEATER]
        assert any(f"node(s) {CHEATER} were caught by the other nodes" in w for w in out["warnings"])
    finally:
        c.stop_all()


def test_wrong_validation_shares_with_2t_plus_1_set_rows_aside(tmp_path: Path) -> None:
    """n = 3: the odd share cannot be located, so nothing can be revealed safely: the rows are set
    aside (never counted with a wrong verdict) and reported."""
    c, records = _survey(tmp_path, 3, 1, "malicious")
    try:
        results = c.compute(timeout=60, cheat={CHEATER: "validate"})
        lied = math.ceil(len(records) / 2)  # the cheat lies on every other row
        for i, res in enumerate(results):
            assert res.returncode == 0, res.stderr
            if i != CHEATER:
                assert (f"{lied} submission(s) had validation shares off the polynomial; they are set aside and do "
                        "not count, and the analyst is told. Either their contributors sent inconsistent shares, or "
                        "a node lied in the validation openings, which 3 nodes cannot tell apart (n < 3t+1 = 4): if "
                        "many are set aside, suspect a node") in res.stderr, res.stderr
                assert (f"{lied} of the submissions not counted were set aside: their validation shares were off "
                        "the polynomial (see above); the analyst's result says so") in res.stdout
        # the analyst is told too: a field, a warning first, and a distinct exit status
        got = run([tool("salary-analyst"), "results", "--survey", str(c.survey_dir), "--format", "json", "--out",
                   str(tmp_path / "r.json")], check=False, quiet=True)
        assert got.returncode == 3, got.stderr
        assert got.stderr.strip().splitlines()[-1] == (f"salary-analyst: warning: {lied} submission(s) set aside "
                                                       "(validation shares off the polynomial); exit status 3")
        out = json.loads((tmp_path / "r.json").read_text())
        assert out["submissions"] == {"accepted": len(records) - lied, "rejected": lied, "set_aside": lied}
        assert out["warnings"][0].startswith(f"{lied} submission(s) were set aside and are not counted")
        audit = run([tool("mpc-node"), "audit", "--dir", str(c.node_dirs[0])], quiet=True).stdout
        assert audit.count("shares do not lie on one degree-t polynomial") == lied
    finally:
        c.stop_all()


def test_contributor_signing_inconsistent_shares_is_not_blamed_on_a_node(tmp_path: Path) -> None:
    """n = 4: a contributor that gives one node a bad (but signed) share is told apart from a
    lying node: the node reveals the committed share, the submission is rejected, nobody named."""
    proc = run([sys.executable, "-m", "demo.run_local", "--employees", "40", "--nodes", "4", "--threshold", "1",
                "--bad-contributors", "8", "--seed", "2", "--model", "malicious",
                "--out", str(tmp_path / "result.json")], check=False, quiet=True)  # report.html beside it
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1  the contributor's signed shares do not lie on one degree-t polynomial (revealed)" in proc.stdout
    assert "cheating detected" not in proc.stdout + proc.stderr
    assert "OK: the MPC result equals the plaintext figures" in proc.stdout


@pytest.mark.parametrize("model", MODELS)
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
