"""Ctrl-C during ``salary-submit --csv`` loses nothing: real node processes, files of thousands
of rows, SIGINT to the whole process group (as a terminal sends it) at random moments of
preparing and uploading; then the command the contributor printed finishes the job, and every
row is stored exactly once at every node (checked in the nodes' databases)."""

from __future__ import annotations

import os
import random
import re
import shlex
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from demo.cluster import LocalCluster, read_rows, synthetic_csv, tool
from protocol.tokens import token_hash

pytestmark = pytest.mark.slow
ROWS = 3000


def _stored(c: LocalCluster) -> list[list[tuple[str, str]]]:
    """(submission id, token hash) of every submission at every node."""
    out = []
    for d in c.node_dirs:
        db = sqlite3.connect(f"file:{d / 'node.db'}?mode=ro", uri=True)
        try:
            out.append(sorted(db.execute("SELECT submission_id, token_hash FROM submissions")))
        finally:
            db.close()
    return out


def _wait_for(pred: object, proc: subprocess.Popen[str], limit: float = 120) -> bool:
    """Poll ``pred()`` until true or the process ends (True if it became true first)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and proc.poll() is None:
        if pred():  # type: ignore[operator]
            return True
        time.sleep(0.005)
    return False


def _resume_refuses_a_changed_file(again: list[str], data: Path, receipts: Path) -> None:
    """With the file edited, the resume delivers what was prepared but says how many rows were
    never prepared and exits 1, keeping the run; with the file back, the next resume finishes."""
    original = data.read_bytes()
    data.write_bytes(original.replace(b"\n", b"\nX0000,female,4242,sales\n", 1))
    res = subprocess.run([tool("salary-submit"), *again[1:]], capture_output=True, text=True, timeout=300)
    assert res.returncode == 1, res.stderr
    m = re.search(r"error: (\d+) row\(s\) of the run were never prepared \((.*)\), so they were not sent$",
                  res.stderr.strip())
    assert m and m.group(2) == f"{data.resolve()} has changed since the run began", res.stderr
    assert f"never prepared {m.group(1)}" in res.stdout and int(m.group(1)) > 0
    assert list(receipts.glob("pending-*/run.json"))
    data.write_bytes(original)


def _files(receipts: Path, pattern: str) -> int:
    return sum(1 for _ in receipts.glob(f"pending-*/{pattern}"))


@pytest.mark.parametrize("phase", ["preparing", "uploading", "start", "preparing, then the file changes"])
def test_sigint_then_the_printed_command_stores_every_row_exactly_once(tmp_path: Path, phase: str) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    data = tmp_path / "staff.csv"
    synthetic_csv(data, {"female": ROWS // 2, "male": ROWS // 2 - 10, "other": 10}, seed=seed, salary_max=20_000)
    c = LocalCluster(tmp_path / "run", tokens=ROWS, job_categories="engineering,sales,support", band_width=1000,
                     salary_max=20_000)
    c.setup()
    receipts = c.root / "receipts"
    try:
        c.start_all()
        cmd = [tool("salary-submit"), "--survey", str(c.manifest), "--csv", str(data), "--tokens",
               str(c.tokens_file), "--receipt-dir", str(receipts), "--batch-size", "50", "--retries", "2"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        batches = ROWS // 50
        if phase.startswith("preparing"):  # a random number of batches prepared, none settled
            k = rng.randrange(0, batches // 2)
            reached = _wait_for(lambda: _files(receipts, "batch-*.json") >= k and _files(receipts, "run.json"), proc)
        elif phase == "uploading":
            k = rng.randrange(1, batches - 5)
            reached = _wait_for(lambda: _files(receipts, "batch-*.done") >= k, proc)
        else:  # a random moment from the start
            time.sleep(rng.uniform(0.5, 4.0))
            reached = proc.poll() is None
        if reached:
            os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=300)
        assert "Traceback" not in err, f"seed {seed}: {err}"
        stored_at_stop = _stored(c)
        print(f"{phase}: seed {seed}, exit {proc.returncode}, {len(stored_at_stop[0])} rows stored at the stop")
        last = err.strip().splitlines()[-1]
        if proc.returncode == 0:  # it finished before the signal: nothing to resume
            assert not reached and "submitted 3000 of 3000" in out
        else:
            assert proc.returncode == 130, f"seed {seed}: {proc.returncode} {err}"
            m = re.search(r"(?:finish the job with|run the same command again): (.*)$", last)
            assert m, f"seed {seed}: {last}"
            again = shlex.split(m.group(1))
            assert again[0] == "salary-submit"
            if phase.endswith("changes") and "--resume" in again:
                _resume_refuses_a_changed_file(again, data, receipts)
            res = subprocess.run([tool("salary-submit"), *again[1:]], capture_output=True, text=True, timeout=300)
            assert res.returncode == 0, f"seed {seed}: {res.stderr}"
            assert "submitted 3000 of 3000; failed 0; pending 0" in res.stdout, res.stdout
            assert len(stored_at_stop[0]) < ROWS or phase == "start"
        stored = _stored(c)
        tokens = c.tokens_file.read_text().split()[:ROWS]
        want = sorted(token_hash(t) for t in tokens)
        for node in stored:
            assert sorted(th for _, th in node) == want, f"seed {seed}: a row is missing or stored twice"
            assert [sid for sid, _ in node] == [sid for sid, _ in stored[0]], "the nodes hold different ids"
        assert not list(receipts.glob("pending-*")), "the run's pending directory is left behind"
        assert len(read_rows(data)) == ROWS
    finally:
        c.stop_all()
