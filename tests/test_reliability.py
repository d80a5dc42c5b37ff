"""Reliability under faults: kill -9 during ingest, a node dying or hanging during compute,
lifecycle rules, incomplete submissions, and the audit log — with real processes throughout."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import sqlite3
import time
from pathlib import Path

import pytest

from demo.cluster import Chaos, LocalCluster, closed_survey, compare, plaintext_report, read_records, run, synthetic_csv, tool
from mpc_nodes.compute import WORK_DIR
from mpc_nodes.store import NodeStore

pytestmark = pytest.mark.slow
SID = "local-demo"


def _receipts(receipt_dir: Path) -> dict[str, dict[int, str]]:
    """submission id -> {node index: the digest that node stores for it} for every acknowledgement a
    receipt records (a bulk upload's record r is stored under SHA-256(block digest ":" r))."""
    acked: dict[str, dict[int, str]] = {}
    for path in receipt_dir.glob("*.jsonl"):
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            for ack in rec["acks"]:
                digest = ack["envelope_sha256"]
                if "batch_index" in rec:
                    digest = hashlib.sha256(f"{digest}:{rec['batch_index']}".encode()).hexdigest()
                acked.setdefault(rec["submission_id"], {})[ack["node_index"]] = digest
    return acked


def _resume_all(c: LocalCluster, receipt_dir: Path, attempts: int = 4) -> None:
    """Resume every pending file (single uploads) and pending directory (bulk runs)."""
    for _ in range(attempts):
        pending = sorted(receipt_dir.glob("pending-*"))
        if not pending:
            return
        for p in pending:
            run([tool("salary-submit"), "--resume", str(p), "--tokens", str(c.tokens_file)], check=False, quiet=True)
    assert not list(receipt_dir.glob("pending-*")), "uploads still pending after resuming"


@pytest.mark.parametrize("batch_size,gap,min_kills,per_gender", [("0", (1.5, 4.0), 3, 2400),
                                                                   ("10", (0.3, 0.9), 2, 900)])
def test_kill_nodes_during_ingest_loses_nothing_acknowledged(tmp_path: Path, batch_size: str,
                                                            gap: tuple[float, float], min_kills: int,
                                                            per_gender: int) -> None:
    """Per-record uploads (--batch-size 0; 5,000 canaries) and bulk batches of 10 (2,000
    canaries): kill -9 at random during ingest."""
    data = tmp_path / "staff.csv"
    synthetic_csv(data, {"female": per_gender, "male": per_gender, "other": 200}, seed=11)  # unique canaries
    records = read_records(data)
    c = LocalCluster(tmp_path / "run", n=3, tokens=len(records))
    c.setup()
    receipts = c.root / "receipts"
    try:
        c.start_all()
        chaos = Chaos(c, seed=5, gap=gap)
        chaos.start()
        first = run([tool("salary-submit"), "--survey", str(c.manifest), "--csv", str(data), "--tokens",
                     str(c.tokens_file), "--receipt-dir", str(receipts), "--batch-size", batch_size,
                     "--concurrency", "16"], check=False, quiet=True)
        chaos.stop()
        assert len(chaos.kills) >= min_kills, "the chaos thread should have killed nodes during ingest"
        assert "Traceback" not in first.stderr
        _resume_all(c, receipts)
        # every acknowledgement a contributor holds is in that node's store, byte for byte
        acked = _receipts(receipts)
        assert len(acked) == len(records)
        for i, d in enumerate(c.node_dirs):
            store = NodeStore(d / "node.db")
            try:
                held = {sid: env for sid, env in
                        store._db.execute("SELECT submission_id, envelope_sha256 FROM submissions")}
            finally:
                store.close()
            for sid, by_node in acked.items():
                if i in by_node:
                    assert held.get(sid) == by_node[i], f"node {i} lost acknowledged submission {sid}"
            assert len(held) == len(records)
        c.close()
        computed = c.compute(timeout=60)
        assert [res.returncode for res in computed] == [0] * c.n, "\n".join(
            f"node {i} (exit {res.returncode}):\n{res.stderr}" for i, res in enumerate(computed))
        # canary salaries: a lost or double-counted record would change a mean or a count
        assert compare(c.results(tmp_path / "r.json"), plaintext_report(records, 5)) == []
    finally:
        c.stop_all()


@pytest.mark.parametrize("fault", ["kill", "hang"])
def test_node_fault_during_compute_releases_nothing_and_rerun_gives_the_result(tmp_path: Path, fault: str) -> None:
    c, records = closed_survey(tmp_path, {"female": 9, "male": 8, "other": 2}, seed=3, n=3)
    try:
        t0 = time.monotonic()
        results = c.compute_with_fault(victim=2, fault=fault, timeout=6)
        elapsed = time.monotonic() - t0
        for res in results:
            assert res.returncode == 1
            last = res.stderr.strip().splitlines()[-1]
            # the faulty node is named, whether it never joined, fell silent or dropped its link
            assert re.match(r"mpc-node: error: the MPC (could not start|stalled|stopped): node 2 \(node2, ", last), \
                res.stderr
            assert "nothing was released" in last and "Traceback" not in res.stderr
        assert elapsed < 6 * 3 + 10, "the survivors must give up within a bounded time"
        half = run([tool("salary-analyst"), "results", "--survey", str(c.survey_dir)], check=False, quiet=True)
        assert half.returncode == 1 and "no result yet" in half.stderr
        if fault == "kill":  # SIGKILL skips every clean-up: the share files and key copy stay behind...
            assert list((c.node_dirs[2] / WORK_DIR).glob("party-*"))
        # rerun over the same frozen set: the right result, from every node
        for res in c.compute(timeout=60):
            assert res.returncode == 0, res.stderr
        for d in c.node_dirs:  # ...until the next compute on that node removes them
            assert list((d / WORK_DIR).glob("party-*")) == []
        first = c.results(tmp_path / "r1.json")
        assert compare(first, plaintext_report(records, 5)) == []
        again = c.compute(timeout=10, nodes=[1])[0]
        assert again.returncode == 1 and "released only once" in again.stderr
    finally:
        c.stop_all()


def test_commit_completes_for_a_node_that_crashed_after_preparing(tmp_path: Path) -> None:
    """Nodes 0 and 1 committed; node 2 held a prepared share but died before committing."""
    c, records = closed_survey(tmp_path, {"female": 6, "male": 6, "other": 0}, seed=4, n=3)
    try:
        for res in c.compute(timeout=60):
            assert res.returncode == 0, res.stderr
        db = sqlite3.connect(c.node_dirs[2] / "node.db")
        db.execute("UPDATE results SET committed=0")  # as if it died between prepare and commit
        db.commit()
        db.close()
        half = run([tool("salary-analyst"), "results", "--survey", str(c.survey_dir)], check=False, quiet=True)
        assert half.returncode == 1 and "node 2 (node2) has no result for you" in half.stderr
        res = c.compute(timeout=20, nodes=[2])[0]
        assert res.returncode == 0 and "completed the commit of its result share" in res.stdout, res.stderr
        assert compare(c.results(tmp_path / "r.json"), plaintext_report(records, 5)) == []
    finally:
        c.stop_all()


def test_status_shows_incomplete_submissions_until_resumed(tmp_path: Path) -> None:
    data = tmp_path / "staff.csv"
    synthetic_csv(data, {"female": 4, "male": 3, "other": 0}, seed=8)
    c = LocalCluster(tmp_path / "run", n=3, tokens=7)
    c.setup()
    receipts = c.root / "receipts"
    try:
        c.start_all()
        c.stop_node(1)
        sub = run([tool("salary-submit"), "--survey", str(c.manifest), "--csv", str(data), "--tokens",
                   str(c.tokens_file), "--receipt-dir", str(receipts), "--retries", "1", "--retry-delay", "0.1"],
                  check=False, quiet=True)
        assert sub.returncode == 1 and "--resume" in sub.stderr and "node1" in sub.stderr
        down = run([tool("mpc-node"), "status", "--dir", str(c.node_dirs[0])], quiet=True).stdout
        assert "7 submissions" in down and "vs node 1: cannot tell" in down
        c.start_node(1)
        st = run([tool("mpc-node"), "status", "--dir", str(c.node_dirs[0])], quiet=True).stdout
        assert "vs node 1: 7 incomplete (not held by node 1 yet)" in st and "vs node 2: complete" in st
        _resume_all(c, receipts)
        st = json.loads(run([tool("mpc-node"), "status", "--dir", str(c.node_dirs[0]), "--json"], quiet=True).stdout)
        assert st[0]["missing_at"] == {"1": 0, "2": 0}
    finally:
        c.stop_all()


def test_closing_time_release_purge_and_audit(tmp_path: Path) -> None:
    data = tmp_path / "staff.csv"
    synthetic_csv(data, {"female": 5, "male": 5, "other": 0}, seed=9)
    records = read_records(data)
    c = LocalCluster(tmp_path / "run", n=3, tokens=len(records) + 1, closes_in="15s")
    c.setup()
    try:
        c.start_all()
        c.submit_csv(data)
        closes_at = json.loads(c.manifest.read_text())["closes_at"]
        wait = (dt.datetime.fromisoformat(closes_at.replace("Z", "+00:00")) - dt.datetime.now(dt.timezone.utc))
        time.sleep(max(0.0, wait.total_seconds()) + 1.0)
        late = c.tokens_file.read_text().split()[-1]
        sub = run([tool("salary-submit"), "--survey", str(c.manifest), "--token", late, "--gender", "male",
                   "--salary", "5000", "--receipt-dir", str(c.root / "late")], check=False, quiet=True)
        assert sub.returncode == 1 and "closed and accepts no more submissions" in sub.stderr
        # no 'salary-analyst close': every node enforces the closing time by itself
        for res in c.compute(timeout=60):
            assert res.returncode == 0, res.stderr
        assert compare(c.results(tmp_path / "r.json"), plaintext_report(records, 5)) == []
        for d in c.node_dirs:
            pg = run([tool("mpc-node"), "purge", "--dir", str(d), "--yes"], quiet=True)
            assert f"{len(records)} shares deleted; the audit log is kept" in pg.stdout
            audit = run([tool("mpc-node"), "audit", "--dir", str(d)], quiet=True).stdout
            events = [line.split()[3] for line in audit.splitlines()]
            store = NodeStore(d / "node.db")
            try:  # one line per single upload, one per bulk upload listing its records
                received = sum(1 if ev == "receipt" else len(json.loads(det)["submission_ids"])
                               for _, _, _, ev, det, _, _ in store.audit_rows() if ev in ("receipt", "bulk-receipt"))
            finally:
                store.close()
            assert events[0] == "import" and received == len(records)
            assert {"agreement", "compute", "commit", "release", "purge"} <= set(events)
            assert "token" not in audit.lower().replace("tokens", "")  # counts only, never a token
            ok = run([tool("mpc-node"), "audit", "--dir", str(d), "--verify"], quiet=True)
            assert "hash chain verified" in ok.stdout
            checked = [ln for ln in ok.stdout.splitlines() if ln.startswith(f"survey {SID}: checked against node ")]
            assert len(checked) == 2 and all(re.search(r": line \d+ matches$", ln) for ln in checked), ok.stdout
        # an edited line is detected
        db = sqlite3.connect(c.node_dirs[0] / "node.db")
        db.execute("UPDATE audit SET details='{\"shares_deleted\":0}' WHERE event='purge'")
        db.commit()
        db.close()
        bad = run([tool("mpc-node"), "audit", "--dir", str(c.node_dirs[0]), "--verify"], check=False, quiet=True)
        assert bad.returncode == 1 and "has been altered" in bad.stderr
        # a receipt line deleted and the chain recomputed, or the last lines dropped: the chain alone
        # verifies, the heads the other nodes kept do not
        _rewrite_audit(c.node_dirs[1] / "node.db", "DELETE FROM audit WHERE seq=(SELECT MIN(seq) FROM audit "
                                                   "WHERE event='receipt' OR event='bulk-receipt')")
        _rewrite_audit(c.node_dirs[2] / "node.db", "DELETE FROM audit WHERE seq>=(SELECT MAX(seq) FROM audit "
                                                   "WHERE event='compute')")
        for node, why in ((1, r"is not the one node 0 \(node0, .*\) recorded \(hash [0-9a-f]{16}…\): the log was "
                              r"rewritten$"),
                          (2, r"but node 0 \(node0, .*\) recorded its line \d+: lines were removed from the end$")):
            bad = run([tool("mpc-node"), "audit", "--dir", str(c.node_dirs[node]), "--verify"], check=False, quiet=True)
            assert bad.returncode == 1 and re.search(r"mpc-node: error: audit log .*" + why, bad.stderr), bad.stderr
    finally:
        c.stop_all()


def _rewrite_audit(db_path: Path, sql: str) -> None:
    """What someone controlling the node can do to its log: edit it and recompute the hash chain."""
    from mpc_nodes.store import GENESIS, _audit_hash

    db = sqlite3.connect(db_path)
    db.execute(sql)
    prev = GENESIS
    for seq, at, sid, event, details in db.execute("SELECT seq, at, survey_id, event, details FROM audit "
                                                   "ORDER BY seq").fetchall():
        h = _audit_hash(prev, at, sid, event, details)
        db.execute("UPDATE audit SET prev_hash=?, hash=? WHERE seq=?", (prev, h, seq))
        prev = h
    db.commit()
    db.close()


def test_with_2t_plus_2_nodes_compute_goes_on_without_a_node_that_is_down(tmp_path: Path) -> None:
    """n = 4, t = 1: node 2's server is down at compute time. The others wait for it for the stall
    timeout, agree on what the three of them hold, compute without it and release; the analyst
    reconstructs from the three shares present (an erasure) and says which one is missing."""
    c, records = closed_survey(tmp_path, {"female": 7, "male": 6, "other": 2}, seed=4, n=4, threshold=1,
                               model="malicious")
    try:
        c.stop_node(2)
        for res in c.compute(timeout=3, nodes=[0, 1, 3]):
            assert res.returncode == 0, res.stderr
            assert ("node 2 (node2, " in res.stderr and "did not provide its frozen submission set in time"
                    in res.stderr and "; going on without it" in res.stderr), res.stderr
            assert res.stdout.strip().splitlines()[-1] == "the result was computed without node(s) 2"
        out = c.results(tmp_path / "r.json")
        assert compare(out, plaintext_report(records, 5)) == []
        assert out["cheating_nodes"] == [] and out["left_out_nodes"] == [2]  # down is not cheating
        assert re.match(r"node 2's result share was left out \(node 2 \(node2\) at https://127\.0\.0\.1:\d+ is "
                        r"unreachable \(\w+\)\); the result was reconstructed from the other 3 shares, which agree$",
                        out["warnings"][0]), out["warnings"]
    finally:
        c.stop_all()


def test_with_3_nodes_compute_does_not_go_on_without_one(tmp_path: Path) -> None:
    c, _ = closed_survey(tmp_path, {"female": 7, "male": 6, "other": 2}, seed=3, n=3, threshold=1)
    try:
        c.stop_node(2)
        for res in c.compute(timeout=2, nodes=[0, 1]):
            assert res.returncode == 1
            assert re.search(r"mpc-node: error: node 2 \(node2, https://127\.0\.0\.1:\d+\) did not provide its frozen "
                             r"submission set in time: ", res.stderr), res.stderr
    finally:
        c.stop_all()
