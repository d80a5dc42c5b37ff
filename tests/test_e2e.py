"""End to end: real node processes (HTTPS), the real CLIs, real MPyC parties over mutual TLS.

Every released figure is checked against the plaintext oracle computed from the same CSV.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import release
from demo.cluster import (LocalCluster, closed_survey, compare, plaintext_report, read_records, read_rows, run,
                          synthetic_csv, tool)

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("n,t", [(3, 1), (5, 2)])
def test_survey_matches_plaintext_oracle_and_hides_small_group(tmp_path: Path, n: int, t: int) -> None:
    data = tmp_path / "staff.csv"
    synthetic_csv(data, {"female": 31, "male": 26, "other": 3}, seed=n)
    records = read_records(data)
    c = LocalCluster(tmp_path / "run", n=n, threshold=t, min_group_size=5, tokens=len(records))
    c.setup()
    try:
        c.start_all()
        c.submit_csv(data)
        c.close()
        for res in c.compute(timeout=60):
            assert res.returncode == 0, res.stderr
            assert f"over {len(records)} submissions (0 not counted)" in res.stdout
        mpc = c.results(tmp_path / "result.json")
        plain = plaintext_report(records, 5)
        assert compare(mpc, plain) == []
        other = next(g for g in mpc["groups"] if g["gender"] == "other")
        assert other == {"gender": "other", "count": 3, "mean": None, "suppressed": True, "median": None,
                         "median_max_error": None, "stdev": None, "quartile_shares": None, "dp_sd": None}
        assert mpc["pay_gap_percent"]["other"] is None and mpc["pay_gap_percent"]["female"] is not None
        assert mpc["submissions"] == {"accepted": 60, "rejected": 0}
        assert "suppressed*" in c.table()
        # release only once: a second compute is refused, and says why
        again = c.compute(timeout=10, nodes=[0])[0]
        assert again.returncode == 1 and "already been computed; it is released only once" in again.stderr
        assert "Traceback" not in again.stderr
    finally:
        c.stop_all()


def test_compute_waits_for_a_missing_node_then_fails_and_a_rerun_succeeds(tmp_path: Path) -> None:
    c, records = closed_survey(tmp_path, {"female": 6, "male": 6, "other": 0}, seed=7, n=3, min_group_size=5)
    try:
        c.stop_node(2)
        results = c.compute(timeout=4, nodes=[0, 1])
        for res in results:
            assert res.returncode == 1
            assert "did not provide its frozen submission set in time" in res.stderr
            assert "node 2 (node2" in res.stderr and "Traceback" not in res.stderr
        status = run([tool("salary-analyst"), "results", "--survey", str(c.survey_dir)], check=False, quiet=True)
        assert status.returncode == 1 and "no result yet" in status.stderr
        # the node comes back: the same frozen set gives the right result
        c.start_node(2)
        for res in c.compute(timeout=60):
            assert res.returncode == 0, res.stderr
        assert compare(c.results(tmp_path / "r.json"), plaintext_report(records, 5)) == []
    finally:
        c.stop_all()


def test_node_and_analyst_cli_errors_are_one_line(tmp_path: Path) -> None:
    c = LocalCluster(tmp_path / "run", n=3, tokens=3)
    c.setup()
    try:
        c.start_all()
        # compute before closing
        res = c.compute(timeout=5, nodes=[0])[0]
        assert res.returncode == 1
        assert res.stderr.strip().splitlines()[-1].startswith("mpc-node: error: the survey is still open")
        # status over the CLI
        st = run([tool("mpc-node"), "status", "--dir", str(c.node_dirs[0]), "--json"], quiet=True)
        assert json.loads(st.stdout)[0]["state"] == "open"
        # a wrong analyst secret cannot close the survey
        secret_file = c.survey_dir / "analyst-secret.json"
        secret = json.loads(secret_file.read_text())
        secret_file.write_text(json.dumps({**secret, "credential": "wrong"}))
        bad = run([tool("salary-analyst"), "close", "--survey", str(c.survey_dir)], check=False, quiet=True)
        assert bad.returncode == 1 and "analyst credential missing or wrong" in bad.stderr
        assert "Traceback" not in bad.stderr
        # purge before compute is refused
        pg = run([tool("mpc-node"), "purge", "--dir", str(c.node_dirs[0]), "--yes"], check=False, quiet=True)
        assert pg.returncode == 1 and "only after the result has been computed" in pg.stderr
    finally:
        c.stop_all()


def _demo_env() -> dict[str, str]:
    """The demo run from a scratch directory (it writes report.html into the current one)."""
    return dict(os.environ, PYTHONPATH=str(ROOT))


def test_run_local_demo(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    proc = subprocess.run([sys.executable, "-m", "demo.run_local", "--employees", "150", "--nodes", "4",
                           "--threshold", "1", "--out", str(out)], cwd=tmp_path, env=_demo_env(), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK: the MPC result equals the plaintext figures" in proc.stdout
    res = json.loads(out.read_text())
    assert res["submissions"]["accepted"] == 150 and res["model"] == "semi-honest"


def test_run_local_chaos_demo(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "demo.run_local", "--chaos", "--employees", "400", "--seed", "3"],
                          cwd=tmp_path, env=_demo_env(), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "chaos: killed node(s)" in proc.stdout and "chaos: killing node" in proc.stdout
    assert "OK: the MPC result equals the plaintext figures" in proc.stdout


def test_every_invalid_kind_in_a_bulk_upload_is_caught(tmp_path: Path) -> None:
    """A modified HR tool sends one batch (POST /batches) holding a submission of every invalid
    kind that fits a batch, beside honest rows uploaded by salary-submit --csv: every node stores
    the batch, the MPC rejects each of its records for its reason, and the result is the honest
    rows' figures."""
    from demo.bad_contributors import KINDS, submit_bad_batch
    from protocol.manifest import manifest_from_json

    kinds = [k for k, why in KINDS.items() if why is not None]
    data = tmp_path / "staff.csv"
    jobs = ("eng", "ops")
    synthetic_csv(data, {"female": 7, "male": 6, "other": 1}, seed=4, jobs=jobs, salary_max=20_000)
    records = read_rows(data)
    c = LocalCluster(tmp_path / "run", tokens=len(records) + len(kinds), salary_max=20_000,
                     job_categories=",".join(jobs), band_width=2500)
    c.setup()
    try:
        c.start_all()
        c.submit_csv(data)
        m = manifest_from_json(c.manifest.read_text())
        bad = submit_bad_batch(m, c.tokens_file.read_text().split()[len(records):], kinds, seed=11)
        assert [b.statuses for b in bad] == [(200, 200, 200)] * len(kinds)
        out = release(c, tmp_path / "r.json")
        assert (out["submissions"]["accepted"], out["submissions"]["rejected"]) == (len(records), len(kinds))
        assert compare(out, plaintext_report(records, 5, jobs=jobs)) == []
        audit = run([tool("mpc-node"), "audit", "--dir", str(c.node_dirs[0])], quiet=True).stdout
        found = [json.loads(line.split(None, 4)[4]) for line in audit.splitlines() if " invalid " in line]
        assert {f["submission_id"]: f["reason"] for f in found} == {b.submission_id: KINDS[b.kind] for b in bad}
    finally:
        c.stop_all()


def test_run_local_with_malicious_contributors(tmp_path: Path) -> None:
    # the one-figure survey, whose submission length the refusals below name
    proc = subprocess.run([sys.executable, "-m", "demo.run_local", "--employees", "150", "--bad-contributors", "18",
                           "--seed", "5", "--one-figure"], cwd=tmp_path, env=_demo_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    # 18 = 2 of each kind: 2 wrong-length refused at upload, 16 stored and caught inside the MPC;
    # all 18 are in submissions.rejected
    assert "18 malicious submissions: 2 refused at upload (wrong length), 16 stored" in out
    assert "150 submissions counted, 18 not counted" in out
    width = (3 * 3 * 80 + 2 * 9 + 2 * 8) + 4 * 8 + 9  # the demo's survey: 3 x 3 cells, 80 bands of 250, L = 8
    # one-hot: 2 with an entry of 1000, 2 with two genders, 2 with a forged triple
    for line in ("6  gender, job and salary-band part is not one-hot", "4  salary outside its band or [0, max] (bits)",
                 "2  salary-by-cell entries do not match the salary, gender and job",
                 "2  shares do not lie on one degree-t polynomial", "2  validity proof does not verify",
                 f"2  share vector has {width + 1} entries"):
        assert line in out, out
    assert "OK: the MPC result equals the plaintext figures" in out


@pytest.mark.parametrize("cheat,code,needle", [
    ("1:result", 0, "the analyst named node(s) [1] for a wrong result share and corrected it"),
    ("3:pickle", 0, "the honest nodes left node 3 out and released the result without it; the analyst named node(s) "
                    "[3]"),
])
def test_run_local_fault_injection(tmp_path: Path, cheat: str, code: int, needle: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "demo.run_local", "--model", "malicious", "--nodes", "4",
                           "--threshold", "1", "--employees", "120", "--cheat", cheat], cwd=tmp_path, env=_demo_env(), capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert needle in proc.stdout


def test_pay_transparency_survey_with_job_categories_bands_and_a_report(tmp_path: Path) -> None:
    """Job categories and salary bands through the real CLIs: every figure per gender and per
    gender within each category against statistics on the CSV (medians within their stated
    banding error), a small cell and the cell protecting it suppressed, CSV output, and the
    HTML and Markdown reports."""
    jobs = ("engineering", "sales", "support")
    c, rows = closed_survey(tmp_path, {"female": 40, "male": 40, "other": 6}, seed=21, jobs=jobs, n=3,
                            min_group_size=5, salary_max=20_000, job_categories=",".join(jobs), band_width=500)
    try:
        for res in c.compute(timeout=60):
            assert res.returncode == 0, res.stderr
        html = tmp_path / "report.html"
        mpc = c.results(tmp_path / "result.json", html)
        plain = plaintext_report(rows, 5, jobs=jobs)
        assert compare(mpc, plain) == []
        assert [cat["category"] for cat in mpc["categories"]] == list(jobs)
        released = [g for g in mpc["groups"] if not g["suppressed"]]
        assert all(g["median"] is not None and g["median_max_error"] == 499 for g in released)
        assert all(abs(sum(col) - 1) < 1e-3 for col in zip(*(g["quartile_shares"] for g in released)))
        assert len(mpc["quartiles"]["thresholds"]) == 3
        assert "data:image/png;base64," in html.read_text() and "(f) The proportion of female and male" in \
            html.read_text()
        md = tmp_path / "report.md"
        out = run([tool("salary-analyst"), "results", "--survey", str(c.survey_dir), "--format", "csv",
                   "--report", str(md)], quiet=True)
        lines = out.stdout.strip().splitlines()
        assert lines[0].startswith("scope,category,gender,count,suppressed,mean,median")
        assert len(lines) == 1 + 3 + 3 * 3
        assert md.exists() and (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        bad = run([tool("salary-analyst"), "results", "--survey", str(c.survey_dir), "--report", "r.docx"],
                  check=False, quiet=True)
        assert bad.returncode == 2 and "the report file must end in .html, .md or .pdf" in bad.stderr
    finally:
        c.stop_all()


def test_differential_privacy_survey_is_noisy_and_released_once(tmp_path: Path) -> None:
    """With epsilon in the manifest the figures carry joint noise (not the exact oracle, but
    close), a second compute is refused, and fetching the result again gives the same numbers."""
    c, records = closed_survey(tmp_path, {"female": 30, "male": 30, "other": 0}, seed=5, jobs=(), n=3,
                               min_group_size=5, salary_max=20_000, band_width=1000, epsilon="2")
    try:
        for res in c.compute(timeout=60):
            assert res.returncode == 0, res.stderr
        first = c.results(tmp_path / "r1.json")
        assert c.results(tmp_path / "r2.json") == first
        dp = first["differential_privacy"]
        assert dp["epsilon"] == "2" and "delta" in dp["description"].lower()
        plain = plaintext_report(records, 5, categories=("female", "male", "other"))
        exact = compare(first, plain)
        assert exact, "a noisy release equal to the exact figures: no noise was added"
        for g, p in zip(first["groups"][:2], plain["groups"][:2]):
            assert abs(g["mean"] - p["mean"]) <= 6 * g["dp_sd"]["mean"]
        again = c.compute(timeout=10, nodes=[0])[0]
        assert again.returncode == 1 and "released only once" in again.stderr
        assert "differential privacy" in c.table()
    finally:
        c.stop_all()
