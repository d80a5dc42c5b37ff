"""The contributor role (``salary-submit``): validation, sharing and sealing, retries and
idempotent re-uploads, pending/resume, CSV batches — unit tests without a server, then
integration tests against real node processes (``python -m mpc_nodes.server``)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from conftest import Survey
from demo.cluster import free_ports
from contributor.hrfile import read_csv_records
from contributor.nodes import NodeClient, RetryPolicy, connect_nodes, verify_nodes_agree
from contributor.pending import read_pending
from contributor.submission import prepare_submission, validate_record
from contributor.submit import resume_pending, submit_record
from contributor.cli import main
from protocol.encoding import Record, encode_record, make_record
from protocol.validity import Layout, plain_reason
from protocol.envelope import open_shares
from protocol.errors import (
    DecryptionFailed,
    InvalidManifest,
    InvalidSubmission,
    NodeUnreachable,
    SurveyError,
    TokenUsed,
)
from protocol.field import reconstruct_vector
from protocol.manifest import Manifest
from protocol.tls import pinned_client_context
from protocol.wire import SubmissionAck, b64d

ROOT = Path(__file__).resolve().parents[1]
SERVER_PY = ROOT / "mpc_nodes" / "server.py"
needs_server = pytest.mark.skipif(not SERVER_PY.exists(), reason="mpc_nodes/server.py not written yet")


def run_cli(args: list[str], env: dict[str, str | None] | None = None) -> Result:
    e: dict[str, str | None] = {"SALARY_TOKEN": None}
    e.update(env or {})
    return CliRunner(env=e).invoke(main, args, catch_exceptions=False)


def assert_one_error(res: Result, message: str, code: int = 1) -> None:
    """Exit ``code`` and stderr ends with exactly ``salary-submit: error: <message>``, no traceback."""
    assert res.exit_code == code, (res.exit_code, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout
    last = res.stderr.strip().splitlines()[-1]
    assert last == f"salary-submit: error: {message}", last


def manifest_file(survey: Survey) -> str:
    return str(survey.dir / "manifest.json")


# ================================================================================================
# Unit tests: no server
# ================================================================================================


@pytest.mark.parametrize(
    ("gender", "salary", "message"),
    [
        ("female", "-5", "salary must not be negative"),
        ("female", "4e3", "salary '4e3' is not a number: exponents are not accepted"),
        ("female", "lots", "salary 'lots' is not a number (expected e.g. 4100, 4,100.50 or 4.100,50)"),
        ("female", "1" * 10**6, "salary is too long (1000000 characters; an amount has at most 64)"),
        ("female", "1000001", "salary above the survey's upper bound of 1000000"),
        ("robot", "52000", "unknown gender 'robot'; expected one of: female, male, other"),
        ("female", "", "salary is missing"),
    ],
)
def test_cli_record_validation_errors(survey: Survey, tmp_path: Path, gender: str, salary: str, message: str) -> None:
    res = run_cli(["--survey", manifest_file(survey), "--gender", gender, "--salary", salary,
                   "--receipt-dir", str(tmp_path / "r")], env={"SALARY_TOKEN": survey.tokens[0]})
    assert_one_error(res, message)
    assert not (tmp_path / "r").exists()  # nothing prepared, nothing sent


def test_cli_missing_token(survey: Survey, tmp_path: Path) -> None:
    res = run_cli(["--survey", manifest_file(survey), "--gender", "male", "--salary", "4000",
                   "--receipt-dir", str(tmp_path / "r")])
    assert_one_error(res, "no participation token given: set SALARY_TOKEN, or use --token-file FILE (or --token)")


def test_cli_empty_token_file(survey: Survey, tmp_path: Path) -> None:
    tf = tmp_path / "tok.txt"
    tf.write_text("\n\n")
    res = run_cli(["--survey", manifest_file(survey), "--gender", "male", "--salary", "4000", "--token-file", str(tf)])
    assert_one_error(res, f"token file {tf} is empty")


def test_cli_bad_manifest_and_expect_hash(survey: Survey, tmp_path: Path) -> None:
    res = run_cli(["--survey", str(tmp_path / "nope.json"), "--gender", "male", "--salary", "1"])
    assert_one_error(res, f"cannot read manifest {tmp_path / 'nope.json'}: No such file or directory")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert_one_error(run_cli(["--survey", str(bad), "--gender", "male", "--salary", "1"]),
                     "manifest is not valid JSON")
    want = "0" * 64
    res = run_cli(["--survey", manifest_file(survey), "--expect-hash", want, "--gender", "male", "--salary", "1"],
                  env={"SALARY_TOKEN": survey.tokens[0]})
    assert_one_error(res, f"the manifest's hash is {survey.manifest.hash_hex()}, not the expected {want};"
                          " refusing to submit")
    res = run_cli(["--survey", "http://example.org/m.json", "--gender", "male", "--salary", "1"])
    assert_one_error(res, "refusing to fetch the manifest over plain http://; use https:// or a file")


@pytest.mark.parametrize(
    ("args", "snippet"),
    [
        ([], "Missing option '--survey'"),
        (["--survey", "M"], "give --gender and --salary"),
        (["--survey", "M", "--csv", "CSV"], "--csv needs --tokens FILE"),
        (["--survey", "M", "--csv", "CSV", "--tokens", "CSV", "--gender", "male"], "--gender cannot be used with --csv"),
        (["--survey", "M", "--gender", "male", "--salary", "1", "--token", "x", "--token-file", "CSV"],
         "either with --token or with --token-file"),
        (["--resume", "CSV", "--survey", "M"], "--survey cannot be used with --resume"),
        (["--survey", "M", "--csv", "CSV", "--tokens", "CSV", "--category", "sales"],
         "--category cannot be used with --csv"),
        (["--survey", "M", "--csv", "CSV", "--tokens", "CSV", "--job", "sales"], "--category cannot be used with --csv"),
        (["--resume", "CSV", "--category", "sales"], "--category cannot be used with --resume"),
    ],
)
def test_cli_usage_errors_exit_2(survey: Survey, tmp_path: Path, args: list[str], snippet: str) -> None:
    csvf = tmp_path / "x.csv"
    csvf.write_text("gender,salary\nmale,1\n")
    args = [manifest_file(survey) if a == "M" else str(csvf) if a == "CSV" else a for a in args]
    res = run_cli(args)
    assert res.exit_code == 2, res.stderr
    assert snippet in res.stderr
    assert "Traceback" not in res.stderr


def test_help_teaches_single_and_csv_use() -> None:
    res = run_cli(["--help"])
    assert res.exit_code == 0
    out = res.stdout
    assert "salary-submit --survey manifest.json --gender female --salary 52000" in out
    assert "salary-submit --survey manifest.json --gender male --salary 4800 --category engineering" in out
    assert "--category, --job NAME" in out
    assert "--csv staff.csv --tokens tokens.txt" in out
    assert "SALARY_TOKEN" in out and "--resume" in out and "--replace" in out


def test_prepare_submission_envelopes_open_and_reconstruct(survey: Survey) -> None:
    from mpc_nodes.keys import load_hpke_private  # tests only: the contributor never imports mpc_nodes

    m = survey.manifest
    rec = make_record("Female", "52000", m.scheme())
    prep = prepare_submission(m, rec)
    assert len(prep.envelopes) == m.n
    assert len(prep.submission_id) == 32 and int(prep.submission_id, 16) >= 0
    assert prep.manifest_hash == m.hash_hex() and prep.survey_id == m.survey_id
    L = m.vector_length()
    sid = bytes.fromhex(prep.submission_id)
    shares = {i: open_shares(prep.envelopes[i], load_hpke_private(d), m.hash(), i, sid, L, m.field_modulus)
              for i, d in enumerate(survey.node_dirs)}
    opened = reconstruct_vector(shares, m.threshold, m.field_modulus)
    layout = Layout(m.scheme())
    assert opened[: layout.record_width] == encode_record(rec, m.scheme())
    assert len(opened) == layout.width == L
    assert plain_reason(opened[: layout.record_width], layout) is None
    # No share alone is the record; a share sealed for node 0 does not open at node 1.
    assert all(shares[i][: layout.record_width] != encode_record(rec, m.scheme()) for i in shares)
    with pytest.raises(DecryptionFailed):
        open_shares(prep.envelopes[0], load_hpke_private(survey.node_dirs[1]), m.hash(), 1, sid, L, m.field_modulus)
    # Fresh randomness and a fresh id every time.
    other = prepare_submission(m, rec)
    assert other.submission_id != prep.submission_id and other.envelopes[0] != prep.envelopes[0]


JOBS = ("engineering", "sales")
BANDS = (3000, 6000)


@pytest.fixture
def job_survey(tmp_path: Path) -> Survey:
    """A survey with job categories and salary bands."""
    from conftest import make_survey

    return make_survey(tmp_path / "jobs", job_categories=JOBS, salary_bands=BANDS)


def test_validate_record_with_and_without_job_categories(survey: Survey, job_survey: Survey) -> None:
    m = job_survey.manifest
    assert m.job_categories == JOBS and m.salary_bands == BANDS
    assert validate_record(m, " Male", "4800", " Sales ") == Record("male", 4800, "sales")
    assert validate_record(survey.manifest, "male", "4800") == Record("male", 4800, "")
    assert validate_record(survey.manifest, "male", "4800", "  ") == Record("male", 4800, "")
    for manifest, job, message in [
        (m, None, "job category is missing; expected one of: engineering, sales"),
        (m, "", "job category is missing; expected one of: engineering, sales"),
        (m, "hr", "unknown job category 'hr'; expected one of: engineering, sales"),
        (survey.manifest, "sales", "this survey has no job categories; leave the job out"),
    ]:
        with pytest.raises(InvalidSubmission) as exc:
            validate_record(manifest, "male", "4800", job)
        assert str(exc.value) == message


def test_prepare_submission_with_job_categories_and_bands(job_survey: Survey) -> None:
    """The sealed shares reconstruct the record's (gender, job) cell, its band and its proof."""
    from mpc_nodes.keys import load_hpke_private  # tests only: the contributor never imports mpc_nodes

    m = job_survey.manifest
    sc = m.scheme()
    rec = validate_record(m, "female", "4500", "Sales")
    prep = prepare_submission(m, rec)
    L = m.vector_length()
    assert L == sc.vector_length == (3 * 2 * 3 + 2 * 6 + 2 * sc.bits) + 4 * sc.bits + 9
    sid = bytes.fromhex(prep.submission_id)
    shares = {i: open_shares(prep.envelopes[i], load_hpke_private(d), m.hash(), i, sid, L, m.field_modulus)
              for i, d in enumerate(job_survey.node_dirs)}
    opened = reconstruct_vector(shares, m.threshold, m.field_modulus)
    layout = Layout(sc)
    vec = opened[: layout.record_width]
    assert vec == encode_record(Record("female", 4500, "sales"), sc)
    # female/sales is cell 1 (of 6), 4500 lies in band 1 (3000..5999): H[1 * 3 + 1]
    assert vec[: sc.K * sc.B].index(1) == 4 and sum(vec[: sc.K * sc.B]) == 1
    assert vec[sc.prod_at + 1] == 4500 and vec[sc.sq_at + 1] == 4500**2
    assert plain_reason(vec, layout) is None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "job category is missing; expected one of: engineering, sales"),
        (["--category", "hr"], "unknown job category 'hr'; expected one of: engineering, sales"),
        (["--job", "hr"], "unknown job category 'hr'; expected one of: engineering, sales"),
        (["--category", " "], "job category is missing; expected one of: engineering, sales"),
    ],
)
def test_cli_job_category_errors(job_survey: Survey, tmp_path: Path, extra: list[str], message: str) -> None:
    res = run_cli(["--survey", manifest_file(job_survey), "--gender", "male", "--salary", "4000", *extra,
                   "--receipt-dir", str(tmp_path / "r")], env={"SALARY_TOKEN": job_survey.tokens[0]})
    assert_one_error(res, message)
    assert not (tmp_path / "r").exists()  # nothing prepared, nothing sent


def test_cli_category_on_a_survey_without_job_categories(survey: Survey, tmp_path: Path) -> None:
    res = run_cli(["--survey", manifest_file(survey), "--gender", "male", "--salary", "4000", "--category", "sales",
                   "--receipt-dir", str(tmp_path / "r")], env={"SALARY_TOKEN": survey.tokens[0]})
    assert_one_error(res, "this survey has no job categories; leave the job out")
    assert not (tmp_path / "r").exists()


def _write_csv(path: Path, rows: list[str], header: str = "Employee,Gender,SALARY,dept") -> None:
    path.write_text(header + "\n" + "\n".join(rows) + "\n")


def test_csv_validation_reports_every_bad_line(survey: Survey, tmp_path: Path) -> None:
    csvf = tmp_path / "staff.csv"
    _write_csv(csvf, ["a,female,4000,x", "b,robot,4000,x", "c,male,-1,x", "", "d,other,12e5,x", "e,male,1000,y",
                      "f,male"])
    toks = tmp_path / "tokens.txt"
    toks.write_text("\n".join(survey.tokens) + "\n")
    res = run_cli(["--survey", manifest_file(survey), "--csv", str(csvf), "--tokens", str(toks),
                   "--receipt-dir", str(tmp_path / "r")])
    assert_one_error(res, f"4 invalid row(s) in {csvf}; nothing was sent")
    lines = res.stderr.strip().splitlines()[:-1]
    assert lines == [
        "salary-submit: line 3, column Gender: unknown gender 'robot'; expected one of: female, male, other",
        "salary-submit: line 4, column SALARY: salary must not be negative",
        "salary-submit: line 6, column SALARY: salary '12e5' is not a number: exponents are not accepted",
        "salary-submit: line 8: has 2 fields, expected at least 3",
    ]
    assert not (tmp_path / "r").exists()


def test_csv_header_and_token_checks(survey: Survey, tmp_path: Path) -> None:
    csvf = tmp_path / "staff.csv"
    _write_csv(csvf, ["female,4000", "male,5000", "other,6000"], header="Gender,Salary")
    toks = tmp_path / "tokens.txt"
    toks.write_text("\n".join(survey.tokens[:2]) + "\n")
    args = ["--survey", manifest_file(survey), "--csv", str(csvf), "--tokens", str(toks),
            "--receipt-dir", str(tmp_path / "r")]
    assert_one_error(run_cli(args), f"{toks} has 2 token(s) but the CSV has 3 data row(s); every row needs its own"
                                    " token; nothing was sent")
    toks.write_text(f"{survey.tokens[0]}\n{survey.tokens[1]}\n{survey.tokens[0]}\n")
    assert_one_error(run_cli(args), f"{toks}: tokens 1 and 3 are the same; each row needs its own token")
    for t in survey.tokens[:3]:
        assert t not in run_cli(args).stderr
    _write_csv(csvf, ["female,4000"], header="gender,amount")
    assert_one_error(run_cli(args), f"{csvf}: the header line has no salary column (headers: gender, amount); name it "
                                    "with --column pay=HEADER")
    assert not (tmp_path / "r").exists()


def test_csv_with_a_job_column(job_survey: Survey, tmp_path: Path) -> None:
    csvf = tmp_path / "staff.csv"
    _write_csv(csvf, ["a,female,4000,Sales", "b,male,2999,engineering", "c,other,6000, SALES "],
               header="Employee,Gender,SALARY,Job")
    rows = read_csv_records(csvf, job_survey.manifest)
    assert [(r.line, r.record) for r in rows] == [(2, Record("female", 4000, "sales")),
                                                 (3, Record("male", 2999, "engineering")),
                                                 (4, Record("other", 6000, "sales"))]
    # the job column may come anywhere
    _write_csv(csvf, ["sales,female,4000"], header="job,gender,salary")
    assert [r.record for r in read_csv_records(csvf, job_survey.manifest)] == [Record("female", 4000, "sales")]


def test_csv_job_column_errors_are_reported_per_line(job_survey: Survey, tmp_path: Path) -> None:
    csvf = tmp_path / "staff.csv"
    _write_csv(csvf, ["a,female,4000,x,sales", "b,male,4000,x,hr", "c,male,4000,x,", "d,other,5000,x", "",
                      "e,robot,5000,x,sales", "f,male,5000,x,Engineering"], header="Employee,Gender,SALARY,dept,job")
    toks = tmp_path / "tokens.txt"
    toks.write_text("\n".join(job_survey.tokens) + "\n")
    res = run_cli(["--survey", manifest_file(job_survey), "--csv", str(csvf), "--tokens", str(toks),
                   "--receipt-dir", str(tmp_path / "r")])
    assert_one_error(res, f"4 invalid row(s) in {csvf}; nothing was sent")
    assert res.stderr.strip().splitlines()[:-1] == [
        "salary-submit: line 3, column job: unknown job category 'hr'; expected one of: engineering, sales",
        "salary-submit: line 4, column job: job category is missing; expected one of: engineering, sales",
        "salary-submit: line 5: has 4 fields, expected at least 5",
        "salary-submit: line 7, column Gender: unknown gender 'robot'; expected one of: female, male, other",
    ]
    assert not (tmp_path / "r").exists()


def test_csv_without_a_job_column_is_refused_when_the_survey_asks_for_one(job_survey: Survey,
                                                                           tmp_path: Path) -> None:
    csvf = tmp_path / "staff.csv"
    _write_csv(csvf, ["female,4000,x", "male,5000,y"], header="Gender,Salary,Department")
    toks = tmp_path / "tokens.txt"
    toks.write_text("\n".join(job_survey.tokens) + "\n")
    res = run_cli(["--survey", manifest_file(job_survey), "--csv", str(csvf), "--tokens", str(toks),
                   "--receipt-dir", str(tmp_path / "r")])
    assert_one_error(res, f"{csvf}: the header line has no job column (this survey asks for a job category: "
                          "engineering, sales); name it with --column category=HEADER")
    assert not (tmp_path / "r").exists()
    with pytest.raises(InvalidSubmission) as exc:
        read_csv_records(csvf, job_survey.manifest)
    assert str(exc.value) == (f"{csvf}: the header line has no job column (this survey asks for a job category: "
                              "engineering, sales); name it with --column category=HEADER")


def test_csv_job_column_is_ignored_when_the_survey_has_no_job_categories(survey: Survey, tmp_path: Path) -> None:
    """Like any other extra column: a survey without job categories does not read it."""
    csvf = tmp_path / "staff.csv"
    _write_csv(csvf, ["female,4000,sales", "male,5000,"], header="gender,salary,job")
    assert [r.record for r in read_csv_records(csvf, survey.manifest)] == [Record("female", 4000),
                                                                            Record("male", 5000)]


def test_contributor_imports_only_protocol() -> None:
    """The contributor role never imports mpyc (its runtime rewrites sys.argv), nodes or analyst."""
    import ast

    for py in (ROOT / "contributor").glob("*.py"):
        for node in ast.walk(ast.parse(py.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            for name in names:
                assert name.split(".")[0] not in ("mpyc", "mpc_nodes", "analyst"), (py.name, name)
    code = ("import sys, contributor.cli, contributor.submit, contributor.bulk; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('mpyc', 'mpc_nodes', 'analyst')); "
            "print(bad); sys.exit(1 if bad else 0)")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ---- core against an in-process mock transport (no TLS, no server) -----------------------------


@dataclass
class FakeNode:
    """A scripted node: answers from a queue, then accepts like a real node would."""

    index: int
    manifest: Manifest
    script: list[Any] = field(default_factory=list)  # per request: an int status / Exception / None
    manifest_bytes: bytes | None = None
    seen: list[dict[str, Any]] = field(default_factory=list)
    stored: dict[str, str] = field(default_factory=dict)

    def handler(self, request: httpx.Request) -> httpx.Response:
        step = self.script.pop(0) if self.script else None
        if isinstance(step, Exception):
            raise step
        if isinstance(step, int):
            return httpx.Response(step, json={"error": "Boom", "detail": "temporarily broken"})
        if step == "lost":  # the node stores the upload but its answer never arrives
            self.script.insert(0, None)
            self.handler(request)
            raise httpx.ReadTimeout("timed out")
        if isinstance(step, tuple):
            return httpx.Response(step[0], json={"error": step[1], "detail": step[2]})
        if request.url.path.endswith("/manifest"):
            return httpx.Response(200, content=self.manifest_bytes or self.manifest.canonical_bytes())
        body = json.loads(request.content)
        self.seen.append(body)
        env_sha = hashlib.sha256(b64d(body["envelope"], "envelope")).hexdigest()
        status = "duplicate" if body["submission_id"] in self.stored else "stored"
        self.stored[body["submission_id"]] = env_sha
        ack = SubmissionAck(self.manifest.survey_id, body["submission_id"], self.index, env_sha, status,
                            "2026-01-01T00:00:00Z")
        return httpx.Response(200, json=ack.__dict__)


def fake_cluster(m: Manifest, **scripts: list[Any]) -> tuple[list[FakeNode], list[NodeClient]]:
    fakes = [FakeNode(i, m, list(scripts.get(f"n{i}", []))) for i in range(m.n)]
    clients = connect_nodes(m, retry=RetryPolicy(retries=3, base_delay=0.0),
                            transport_factory=lambda i: httpx.MockTransport(fakes[i].handler))
    return fakes, clients


def test_transient_failures_retry_with_same_id_and_envelope(survey: Survey, tmp_path: Path) -> None:
    m = survey.manifest
    fakes, nodes = fake_cluster(m, n1=[503, httpx.ConnectError("connection refused"), 502])
    rec = make_record("male", 4000, m.scheme())
    res = submit_record(m, rec, survey.tokens[0], nodes, receipt_dir=tmp_path)
    assert res.error is None and res.outcome.complete
    assert len(fakes[1].seen) == 1  # the 503/connect/502 attempts never reached the handler's store
    assert [f.seen[0]["submission_id"] for f in fakes] == [res.submission_id] * 3
    receipt = json.loads(res.receipt_path.read_text())  # type: ignore[union-attr]
    assert receipt["submission_id"] == res.submission_id and receipt["survey_id"] == m.survey_id
    assert receipt["manifest_hash"] == m.hash_hex()
    assert [(a["node_index"], a["status"]) for a in receipt["acks"]] == [(0, "stored"), (1, "stored"), (2, "stored")]
    assert all(len(a["envelope_sha256"]) == 64 and a["stored_at"] for a in receipt["acks"])
    assert survey.tokens[0] not in res.receipt_path.read_text()  # type: ignore[union-attr]
    assert not list(tmp_path.glob("pending-*"))


def test_lost_ack_is_retried_with_same_bytes_and_node_says_duplicate(survey: Survey, tmp_path: Path) -> None:
    m = survey.manifest
    fakes, nodes = fake_cluster(m, n0=["lost"])
    res = submit_record(m, make_record("male", 4000, m.scheme()), survey.tokens[0], nodes,
                        receipt_dir=tmp_path)
    assert res.error is None
    assert len(fakes[0].seen) == 2 and fakes[0].seen[0] == fakes[0].seen[1]  # byte-identical re-POST
    assert res.outcome.acks[0].status == "duplicate" and res.outcome.acks[1].status == "stored"


def test_node_down_leaves_pending_then_resume_sends_the_prepared_envelope(survey: Survey, tmp_path: Path) -> None:
    m = survey.manifest
    down = [httpx.ConnectError("connection refused")] * 4  # 1 try + 3 retries
    fakes, nodes = fake_cluster(m, n2=list(down))
    rec = make_record("female", 4100, m.scheme())
    res = submit_record(m, rec, survey.tokens[1], nodes, receipt_dir=tmp_path)
    assert isinstance(res.error, NodeUnreachable)
    assert res.pending_path is not None and res.pending_path.exists()
    msg = str(res.error)
    assert "node2 (" + m.nodes[2].url + ")" in msg and f"salary-submit --resume {res.pending_path}" in msg
    assert survey.tokens[1] not in res.pending_path.read_text()
    assert [len(f.seen) for f in fakes] == [1, 1, 0]
    pm, entries = read_pending(res.pending_path)
    assert pm.hash() == m.hash() and entries[0].nodes == [2]
    assert entries[0].prepared.submission_id == res.submission_id
    assert entries[0].prepared.envelopes[2] == res.outcome.prepared.envelopes[2]
    with pytest.raises(SurveyError, match="does not belong to this pending submission"):
        resume_pending(res.pending_path, [survey.tokens[2]], nodes)
    nodes[2].down = None
    out = resume_pending(res.pending_path, [survey.tokens[1]], nodes)
    assert out.ok and out.submitted == 1
    assert [len(f.seen) for f in fakes] == [1, 1, 1]  # only the missing node was contacted
    assert fakes[2].seen[0]["submission_id"] == res.submission_id
    assert b64d(fakes[2].seen[0]["envelope"], "e") == res.outcome.prepared.envelopes[2]
    assert not res.pending_path.exists()
    receipt = json.loads(Path(entries[0].receipt).read_text())
    assert receipt["complete"] and [a["node_index"] for a in receipt["acks"]] == [0, 1, 2]


def test_verify_nodes_agree_names_the_differing_node(survey: Survey) -> None:
    m = survey.manifest
    fakes, nodes = fake_cluster(m)
    fakes[1].manifest_bytes = m.canonical_bytes().replace(b"Salary survey", b"Salary survey!")
    with pytest.raises(InvalidManifest) as ei:
        verify_nodes_agree(m, nodes)
    assert m.nodes[1].name + " (" + m.nodes[1].url + ") serves manifest" in str(ei.value)
    assert m.nodes[0].url not in str(ei.value) and m.nodes[2].url not in str(ei.value)


def test_verify_nodes_agree_needs_t_plus_1_confirmations(survey: Survey) -> None:
    m = survey.manifest
    refuse = [httpx.ConnectError("connection refused")] * 4
    _, nodes = fake_cluster(m, n1=list(refuse))
    assert set(verify_nodes_agree(m, nodes)) == {1}
    _, nodes = fake_cluster(m, n1=list(refuse), n2=list(refuse))
    with pytest.raises(NodeUnreachable, match="only 1 of 3 nodes could confirm"):
        verify_nodes_agree(m, nodes)


def test_node_refusals_are_mapped_and_used_token_suggests_replace(survey: Survey, tmp_path: Path) -> None:
    m = survey.manifest
    used = (409, "TokenUsed", "this participation token was already used")
    _, nodes = fake_cluster(m, n0=[used], n1=[used], n2=[used])
    res = submit_record(m, make_record("male", 1, m.scheme()), survey.tokens[2], nodes,
                        receipt_dir=tmp_path)
    assert isinstance(res.error, TokenUsed)
    assert str(res.error) == "this participation token was already used (use --replace to replace your earlier answer)"
    assert res.receipt_path is None and not list(tmp_path.glob("pending-*"))
    # Refused by some, unreachable at another, accepted by none: a refusal, and nothing to resume.
    _, nodes = fake_cluster(m, n0=[used], n1=[used], n2=[httpx.ConnectError("connection refused")] * 4)
    res = submit_record(m, make_record("male", 1, m.scheme()), survey.tokens[2], nodes,
                        receipt_dir=tmp_path)
    assert isinstance(res.error, TokenUsed) and res.pending_path is None
    assert not list(tmp_path.glob("pending-*"))
    # A node that sends control characters or an unknown error class gets a plain, cleaned message.
    weird = (400, "SystemExit", "bad\x1b[31m thing\nhere")
    _, nodes = fake_cluster(m, n0=[weird], n1=[weird], n2=[weird])
    res = submit_record(m, make_record("male", 1, m.scheme()), survey.tokens[3], nodes,
                        receipt_dir=tmp_path)
    assert type(res.error).__name__ == "InvalidSubmission" and str(res.error) == "bad [31m thing here"


def test_new_submission_refused_while_earlier_one_pending(survey: Survey, tmp_path: Path) -> None:
    m = survey.manifest
    _, nodes = fake_cluster(m, n1=[httpx.ConnectError("connection refused")] * 4)
    rec = make_record("other", 3000, m.scheme())
    first = submit_record(m, rec, survey.tokens[4], nodes, receipt_dir=tmp_path)
    assert first.pending_path is not None
    _, nodes = fake_cluster(m)
    with pytest.raises(SurveyError, match="unfinished earlier submission; finish it with: salary-submit --resume"):
        submit_record(m, rec, survey.tokens[4], nodes, receipt_dir=tmp_path)
    # --replace supersedes it, and the stale pending entry is dropped so it cannot be resumed later.
    second = submit_record(m, rec, survey.tokens[4], nodes, receipt_dir=tmp_path, replace=True)
    assert second.error is None and not first.pending_path.exists()


# ================================================================================================
# Integration tests: real node processes over pinned TLS
# ================================================================================================


@dataclass
class Cluster:
    """Three running nodes (keys from keygen) that can host many surveys."""

    dir: Path
    node_dirs: list[Path]
    infos: list[Any]
    procs: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    def port(self, i: int) -> int:
        return int(self.infos[i].url.rsplit(":", 1)[1])

    def start(self, i: int) -> None:
        log = open(self.dir / f"node{i}.log", "ab")
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.procs[i] = subprocess.Popen(
            [sys.executable, "-m", "mpc_nodes.server", "--dir", str(self.node_dirs[i]), "--port", str(self.port(i))],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(ROOT))
        log.close()

    def wait_ready(self, i: int, timeout: float = 30.0) -> None:
        ctx = pinned_client_context(self.infos[i].tls_cert_pem)
        deadline = time.monotonic() + timeout
        while True:
            proc = self.procs[i]
            if proc.poll() is not None:
                raise RuntimeError(f"node {i} exited: " + (self.dir / f"node{i}.log").read_text()[-2000:])
            try:
                if httpx.get(self.infos[i].url + "/v1/health", verify=ctx, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"node {i} did not come up: " + (self.dir / f"node{i}.log").read_text()[-2000:])
            time.sleep(0.1)

    def stop(self, i: int) -> None:
        proc = self.procs.pop(i, None)
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def count(self, i: int, survey_id: str) -> int:
        """Node i's submission count, read from its store (the live count of /status is for the
        survey's nodes and analyst only)."""
        import sqlite3

        db = sqlite3.connect(f"file:{self.node_dirs[i] / 'node.db'}?mode=ro", uri=True, timeout=30)
        try:
            return int(db.execute("SELECT COUNT(*) FROM submissions WHERE survey_id=?", (survey_id,)).fetchone()[0])
        finally:
            db.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if not SERVER_PY.exists():
        pytest.skip("mpc_nodes/server.py not written yet")
    from mpc_nodes.keys import keygen

    base = tmp_path_factory.mktemp("cluster")
    dirs, infos = [], []
    for i in range(3):
        d = base / f"node{i}"
        https, mpc = free_ports(2)
        infos.append(keygen(d, f"node{i}", f"https://127.0.0.1:{https}", f"127.0.0.1:{mpc}"))
        dirs.append(d)
    cl = Cluster(base, dirs, infos)
    try:
        for i in range(3):
            cl.start(i)
        for i in range(3):
            cl.wait_ready(i)
        yield cl
    finally:
        for i in list(cl.procs):
            cl.stop(i)


@dataclass
class Live:
    cluster: Cluster
    dir: Path
    manifest: Manifest
    tokens: list[str]

    @property
    def manifest_path(self) -> str:
        return str(self.dir / "manifest.json")

    def counts(self) -> list[int]:
        return [self.cluster.count(i, self.manifest.survey_id) for i in range(3)]

    def stored_records(self, ids: list[str]) -> dict[str, list[int]]:
        """The record part of each stored submission, reconstructed from nodes 0 and 1's stores
        (t = 1): what the contributor actually shared."""
        from mpc_nodes.store import NodeStore
        from protocol.field import decode_elements

        m, W = self.manifest, self.manifest.vector_length()
        per_node: dict[int, dict[str, list[int]]] = {}
        for i in (0, 1):
            store = NodeStore(self.cluster.node_dirs[i] / "node.db")
            try:
                per_node[i] = {sid: decode_elements(share or b"", W, m.field_modulus)
                               for sid, share, _ in store.shares(m.survey_id, ids)}
            finally:
                store.close()
        width = m.scheme().record_width
        return {sid: reconstruct_vector({i: per_node[i][sid] for i in (0, 1)}, m.threshold, m.field_modulus)[:width]
                for sid in ids}


def new_live_survey(cl: Cluster, tmp: Path, *, closes_in: dt.timedelta = dt.timedelta(days=1), tokens: int = 60,
                    import_to: tuple[int, ...] = (0, 1, 2), survey_id: str | None = None,
                    title: str = "Salary survey", **report: Any) -> Live:
    """Create a survey for the running cluster and import it into the given nodes' stores
    (``report``: job_categories, salary_bands for :func:`create_survey`)."""
    from analyst.survey import create_survey
    from mpc_nodes.keys import load_public
    from mpc_nodes.store import NodeStore

    sid = survey_id or f"s-{uuid.uuid4().hex[:12]}"
    sdir = tmp / f"survey-{sid}-{uuid.uuid4().hex[:6]}"
    m = create_survey(sdir, cl.infos, survey_id=sid, title=title, threshold=1, tokens=tokens, min_group_size=5,
                      closes_at=dt.datetime.now(dt.timezone.utc) + closes_in, **report)
    bundle = json.loads((sdir / "node-bundle.json").read_text())
    for i in import_to:
        pub = load_public(cl.node_dirs[i])
        store = NodeStore(cl.node_dirs[i] / "node.db")
        try:
            store.import_survey(bundle, pub.hpke_public_key, pub.tls_cert_sha256)
        finally:
            store.close()
    return Live(cl, sdir, m, (sdir / "tokens.txt").read_text().split())


@pytest.fixture
def live(cluster: Cluster, tmp_path: Path) -> Live:
    return new_live_survey(cluster, tmp_path)


FAST = ["--retries", "1", "--retry-delay", "0.01", "--timeout", "10"]


@needs_server
def test_single_submission_replace_and_token_errors(live: Live, tmp_path: Path) -> None:
    rdir = tmp_path / "receipts"
    base = ["--survey", live.manifest_path, "--receipt-dir", str(rdir), *FAST]
    tok = live.tokens[0]
    res = run_cli([*base, "--gender", "female", "--salary", "52000"], env={"SALARY_TOKEN": tok})
    assert res.exit_code == 0, res.stderr
    assert tok not in res.stdout + res.stderr
    line = res.stdout.strip()
    assert line.startswith("submission ") and "node0 stored, node1 stored, node2 stored" in line
    sid = line.split()[1].rstrip(":")
    receipt = json.loads((rdir / f"receipt-{live.manifest.survey_id}-{sid}.json").read_text())
    assert receipt["submission_id"] == sid and receipt["manifest_hash"] == live.manifest.hash_hex()
    assert [a["status"] for a in receipt["acks"]] == ["stored"] * 3
    assert tok not in json.dumps(receipt)
    assert live.counts() == [1, 1, 1]

    # Same token again without --replace: refused, with the hint.
    res = run_cli([*base, "--gender", "female", "--salary", "53000"], env={"SALARY_TOKEN": tok})
    assert res.exit_code == 1 and "Traceback" not in res.stderr
    err = res.stderr.strip().splitlines()[-1]
    assert err.startswith("salary-submit: error: this participation token was already used") and "--replace" in err
    assert live.counts() == [1, 1, 1]

    # With --replace (token from a file this time): replaced everywhere, still one submission.
    tf = tmp_path / "token.txt"
    tf.write_text(tok + "\n")
    res = run_cli([*base, "--gender", "female", "--salary", "53000", "--replace", "--token-file", str(tf)])
    assert res.exit_code == 0, res.stderr
    assert "node0 replaced, node1 replaced, node2 replaced" in res.stdout
    assert live.counts() == [1, 1, 1]

    # Unknown token: the node's own message, exit 1.
    res = run_cli([*base, "--gender", "male", "--salary", "4000"], env={"SALARY_TOKEN": "not-a-real-token"})
    assert_one_error(res, "unknown participation token for this survey")
    assert live.counts() == [1, 1, 1]


@needs_server
def test_single_submission_with_a_job_category(cluster: Cluster, tmp_path: Path) -> None:
    """--category (alias --job) on the single-record path: the nodes hold the record of the
    (gender, job) cell and salary band given."""
    live = new_live_survey(cluster, tmp_path, job_categories=JOBS, salary_bands=BANDS)
    rdir = tmp_path / "receipts"
    base = ["--survey", live.manifest_path, "--receipt-dir", str(rdir), *FAST]
    sids = []
    for k, (gender, salary, opt, job) in enumerate([("female", "6000", "--category", "Engineering"),
                                                     ("male", "2999", "--job", "sales")]):
        res = run_cli([*base, "--gender", gender, "--salary", salary, opt, job],
                      env={"SALARY_TOKEN": live.tokens[k]})
        assert res.exit_code == 0, res.stderr
        assert "node0 stored, node1 stored, node2 stored" in res.stdout
        sids.append(res.stdout.strip().split()[1].rstrip(":"))
    assert live.counts() == [2, 2, 2]
    sc = live.manifest.scheme()
    got = live.stored_records(sids)
    assert got[sids[0]] == encode_record(Record("female", 6000, "engineering"), sc)
    assert got[sids[1]] == encode_record(Record("male", 2999, "sales"), sc)
    # the job category is required by this survey
    res = run_cli([*base, "--gender", "male", "--salary", "4000"], env={"SALARY_TOKEN": live.tokens[2]})
    assert_one_error(res, "job category is missing; expected one of: engineering, sales")
    assert live.counts() == [2, 2, 2]


@needs_server
def test_csv_batch_with_a_job_column(cluster: Cluster, tmp_path: Path) -> None:
    live = new_live_survey(cluster, tmp_path, job_categories=JOBS, salary_bands=BANDS)
    rows = [(["female", "male", "other"][k % 3], 2000 + 700 * k, JOBS[k % 2]) for k in range(8)]
    csvf = tmp_path / "staff.csv"
    _write_csv(csvf, [f"e{k},{g},{s},{j.upper()}" for k, (g, s, j) in enumerate(rows)],
               header="Employee,Gender,Salary,Job")
    toks = tmp_path / "tokens.txt"
    toks.write_text("\n".join(live.tokens[:8]) + "\n")
    rdir = tmp_path / "receipts"
    res = run_cli(["--survey", live.manifest_path, "--csv", str(csvf), "--tokens", str(toks),
                   "--receipt-dir", str(rdir), "--batch-size", "1000", *FAST])
    assert res.exit_code == 0, res.stderr
    assert "submitted 8 of 8; failed 0; pending 0" in res.stdout
    assert live.counts() == [8, 8, 8]
    (log,) = list(rdir.glob("receipts-*.jsonl"))
    by_line = {e["line"]: e["submission_id"] for e in map(json.loads, log.read_text().splitlines())}
    assert sorted(by_line) == list(range(2, 10))
    got = live.stored_records(list(by_line.values()))
    sc = live.manifest.scheme()
    for k, (g, s, j) in enumerate(rows):
        assert got[by_line[k + 2]] == encode_record(Record(g, s, j), sc), k


@needs_server
def test_manifest_from_https_url_with_cafile_and_expected_hash(live: Live, tmp_path: Path) -> None:
    cl = live.cluster
    url = f"{cl.infos[0].url}/v1/surveys/{live.manifest.survey_id}/manifest"
    base = ["--survey", url, "--receipt-dir", str(tmp_path / "r"), *FAST, "--gender", "male", "--salary", "4500"]
    # The node's self-signed certificate is not in the system trust store.
    res = run_cli(base, env={"SALARY_TOKEN": live.tokens[7]})
    assert_one_error(res, f"cannot fetch the manifest from {url}: its TLS certificate is not trusted"
                          " (pass the right CA or certificate with --cafile)")
    cafile = str(cl.node_dirs[0] / "tls.crt")
    res = run_cli([*base, "--cafile", cafile, "--expect-hash", "ab" * 32], env={"SALARY_TOKEN": live.tokens[7]})
    assert res.exit_code == 1 and "not the expected abab" in res.stderr
    res = run_cli([*base, "--cafile", cafile, "--expect-hash", live.manifest.hash_hex().upper()],
                  env={"SALARY_TOKEN": live.tokens[7]})
    assert res.exit_code == 0, res.stderr
    assert live.counts() == [1, 1, 1]


@needs_server
def test_closed_survey_is_refused(cluster: Cluster, tmp_path: Path) -> None:
    closed = new_live_survey(cluster, tmp_path, closes_in=dt.timedelta(seconds=-60))
    res = run_cli(["--survey", closed.manifest_path, "--receipt-dir", str(tmp_path / "r"), *FAST,
                   "--gender", "male", "--salary", "4000"], env={"SALARY_TOKEN": closed.tokens[0]})
    assert_one_error(res, f"survey {closed.manifest.survey_id} is closed and accepts no more submissions")
    assert closed.counts() == [0, 0, 0]


@needs_server
def test_node_serving_a_different_manifest_is_refused(cluster: Cluster, tmp_path: Path) -> None:
    sid = f"s-{uuid.uuid4().hex[:12]}"
    honest = new_live_survey(cluster, tmp_path, survey_id=sid, import_to=(0, 2))
    new_live_survey(cluster, tmp_path, survey_id=sid, import_to=(1,), title="Salary survey (node1's version)")
    res = run_cli(["--survey", honest.manifest_path, "--receipt-dir", str(tmp_path / "r"), *FAST,
                   "--gender", "male", "--salary", "4000"], env={"SALARY_TOKEN": honest.tokens[0]})
    assert res.exit_code == 1 and "Traceback" not in res.stderr
    err = res.stderr.strip().splitlines()[-1]
    assert err.startswith("salary-submit: error: refusing to submit: not every node serves the manifest you loaded")
    url = cluster.infos[1].url
    assert f"node1 ({url}) serves manifest" in err
    assert cluster.infos[0].url not in err and cluster.infos[2].url not in err
    assert [cluster.count(i, sid) for i in range(3)] == [0, 0, 0]
    assert not (tmp_path / "r").exists() or not list((tmp_path / "r").iterdir())


@needs_server
def test_manifest_file_that_differs_is_refused(live: Live, tmp_path: Path) -> None:
    doc = json.loads(Path(live.manifest_path).read_text())
    doc["min_group_size"] = 1  # a manifest the nodes do not serve
    other = tmp_path / "tampered.json"
    other.write_text(json.dumps(doc))
    res = run_cli(["--survey", str(other), "--receipt-dir", str(tmp_path / "r"), *FAST,
                   "--gender", "male", "--salary", "4000"], env={"SALARY_TOKEN": live.tokens[0]})
    assert res.exit_code == 1
    err = res.stderr.strip().splitlines()[-1]
    assert "refusing to submit: not every node serves the manifest you loaded" in err
    assert all(f"node{i} ({live.cluster.infos[i].url}) serves manifest" in err for i in range(3))
    assert live.counts() == [0, 0, 0]


@needs_server
def test_node_with_a_certificate_other_than_the_manifests_is_refused(live: Live, tmp_path: Path) -> None:
    cl = live.cluster
    doc = json.loads(Path(live.manifest_path).read_text())
    doc["nodes"][1]["url"] = cl.infos[2].url  # node1's pinned certificate, but node2 answers there
    other = tmp_path / "mitm.json"
    other.write_text(json.dumps(doc))
    res = run_cli(["--survey", str(other), "--receipt-dir", str(tmp_path / "r"), *FAST,
                   "--gender", "male", "--salary", "4000"], env={"SALARY_TOKEN": live.tokens[0]})
    assert res.exit_code == 1 and "Traceback" not in res.stderr
    assert (f"node1 ({cl.infos[2].url}) presented a TLS certificate that does not match the survey manifest"
            in res.stderr)
    assert live.counts() == [0, 0, 0]


@needs_server
def test_one_node_down_then_resume(live: Live, tmp_path: Path) -> None:
    cl = live.cluster
    rdir = tmp_path / "receipts"
    cl.stop(1)
    try:
        res = run_cli(["--survey", live.manifest_path, "--receipt-dir", str(rdir), *FAST,
                       "--gender", "other", "--salary", "61000"], env={"SALARY_TOKEN": live.tokens[5]})
        assert res.exit_code == 1 and "Traceback" not in res.stderr
        err = res.stderr.strip().splitlines()[-1]
        assert err.startswith("salary-submit: error: submission ")
        assert f"not yet delivered to node1 ({cl.infos[1].url})" in err
        assert "node1 PENDING" in res.stdout
        pending = list(rdir.glob("pending-*.json"))
        assert len(pending) == 1 and f"--resume {pending[0]}" in err
        assert live.tokens[5] not in pending[0].read_text()
        assert [live.cluster.count(i, live.manifest.survey_id) for i in (0, 2)] == [1, 1]
        # A fresh submission with the same token is refused while this one is pending.
        res2 = run_cli(["--survey", live.manifest_path, "--receipt-dir", str(rdir), *FAST,
                        "--gender", "other", "--salary", "61000"], env={"SALARY_TOKEN": live.tokens[5]})
        assert res2.exit_code == 1 and "unfinished earlier submission" in res2.stderr
        # Resume while still down: still pending, exit 1, file kept.
        res3 = run_cli(["--resume", str(pending[0]), *FAST], env={"SALARY_TOKEN": live.tokens[5]})
        assert res3.exit_code == 1 and "node1" in res3.stderr and pending[0].exists()
        # Resume without the token: clear error.
        assert_one_error(run_cli(["--resume", str(pending[0]), *FAST]),
                         "no participation token given: set SALARY_TOKEN, or use --token-file FILE (or --token)")
    finally:
        cl.start(1)
        cl.wait_ready(1)
    res = run_cli(["--resume", str(pending[0]), *FAST], env={"SALARY_TOKEN": live.tokens[5]})
    assert res.exit_code == 0, res.stderr
    assert "node0 stored, node1 stored, node2 stored" in res.stdout
    assert not pending[0].exists()
    assert live.counts() == [1, 1, 1]
    receipts = list(rdir.glob("receipt-*.json"))
    assert len(receipts) == 1 and json.loads(receipts[0].read_text())["complete"] is True


@needs_server
@pytest.mark.parametrize("batch_size", ["0", "1000", "7"])
def test_csv_batch_of_50(live: Live, tmp_path: Path, batch_size: str) -> None:
    """One request per record and node (--batch-size 0), one bulk request per node, and 8 bulk
    batches: the same receipts, the same stores."""
    rows = [f"emp{k},{['female', 'male', 'other'][k % 3]},{3000 + 17 * k},dept{k % 4}" for k in range(50)]
    csvf = tmp_path / "staff.csv"
    _write_csv(csvf, rows)
    toks = tmp_path / "tokens.txt"
    toks.write_text("\n".join(live.tokens) + "\n")  # more tokens than rows is fine
    rdir = tmp_path / "receipts"
    t0 = time.monotonic()
    res = run_cli(["--survey", live.manifest_path, "--csv", str(csvf), "--tokens", str(toks),
                   "--receipt-dir", str(rdir), "--concurrency", "8", "--batch-size", batch_size, *FAST])
    elapsed = time.monotonic() - t0
    assert res.exit_code == 0, res.stderr
    assert "submitted 50 of 50; failed 0; pending 0" in res.stdout
    assert live.counts() == [50, 50, 50]
    logs = list(rdir.glob("receipts-*.jsonl"))
    assert len(logs) == 1
    entries = [json.loads(x) for x in logs[0].read_text().splitlines()]
    assert len(entries) == 50 and len({e["submission_id"] for e in entries}) == 50
    assert sorted(e["line"] for e in entries) == list(range(2, 52))
    assert all(e["complete"] and len(e["acks"]) == 3 for e in entries)
    assert all(a["status"] == "stored" for e in entries for a in e["acks"])
    assert not list(rdir.glob("pending-*"))
    assert not any(t in logs[0].read_text() for t in live.tokens[:50])
    assert elapsed < 60
    if batch_size != "0":
        assert "prepared 50 record(s) in" in res.stderr  # the preparation rate is reported

    # Running the same batch again: every row fails with the used-token message, nothing changes.
    res = run_cli(["--survey", live.manifest_path, "--csv", str(csvf), "--tokens", str(toks),
                   "--receipt-dir", str(rdir), "--batch-size", batch_size, *FAST])
    assert res.exit_code == 1
    assert "submitted 0 of 50; failed 50; pending 0" in res.stdout
    last = res.stderr.strip().splitlines()[-1]
    if batch_size == "0":
        assert last.startswith("salary-submit: error: 50 of 50 submission(s) failed: this participation token was "
                               "already used"), last
    elif batch_size == "1000":  # one batch: refused as a whole, naming the first used token's CSV line
        assert last.startswith("salary-submit: error: 50 of 50 submission(s) failed: the batch of 50 was refused: "
                               "line 2: this participation token was already used; submit with --replace"), last
    else:  # several batches, each refused naming its own first line
        assert "line 9: this participation token was already used" in res.stderr
    assert live.counts() == [50, 50, 50]


@needs_server
@pytest.mark.parametrize("batch_size", ["0", "4"])
def test_csv_batch_with_node_down_then_resume(live: Live, tmp_path: Path, batch_size: str) -> None:
    cl = live.cluster
    csvf = tmp_path / "staff.csv"
    _write_csv(csvf, [f"e{k},female,{4000 + k},x" for k in range(10)])
    toks = tmp_path / "tokens.txt"
    toks.write_text("\n".join(live.tokens[20:30]) + "\n")
    rdir = tmp_path / "receipts"
    cl.stop(2)
    try:
        res = run_cli(["--survey", live.manifest_path, "--csv", str(csvf), "--tokens", str(toks),
                       "--receipt-dir", str(rdir), "--batch-size", batch_size, *FAST])
        assert res.exit_code == 1
        assert "submitted 0 of 10; failed 0; pending 10" in res.stdout
        err = res.stderr.strip().splitlines()[-1]
        assert "10 submission(s) not yet delivered to every node" in err and f"--tokens {toks}" in err
        assert f"pending at node2 ({cl.infos[2].url})" in res.stderr
    finally:
        cl.start(2)
        cl.wait_ready(2)
    (pending,) = list(rdir.glob("pending-*"))  # a file (per-record uploads) or a directory (bulk)
    assert pending.is_dir() == (batch_size != "0")
    res = run_cli(["--resume", str(pending), "--tokens", str(toks), *FAST])
    assert res.exit_code == 0, res.stderr
    assert "submitted 10 of 10; failed 0; pending 0" in res.stdout
    assert live.counts() == [10, 10, 10]
    assert not pending.exists()


def test_retry_after_of_a_busy_or_counting_node_is_honoured_and_bounded(survey: Survey) -> None:
    """503 and 429 answers carry Retry-After: the client waits at least that long (never more
    than MAX_RETRY_AFTER), and its own backoff when the header is absent or not a number."""
    from contributor.nodes import MAX_RETRY_AFTER

    m = survey.manifest
    answers = [httpx.Response(503, headers={"retry-after": "7"}), httpx.Response(429, headers={"retry-after": "9999"}),
               httpx.Response(503, headers={"retry-after": "soon"}), httpx.Response(503),
               httpx.Response(200, content=m.canonical_bytes())]
    slept: list[float] = []
    client = NodeClient(m, 0, retry=RetryPolicy(retries=5, base_delay=0.01, max_delay=0.01),
                        transport=httpx.MockTransport(lambda request: answers.pop(0)), sleep=slept.append)
    try:
        assert client.fetch_manifest() == m.canonical_bytes()
    finally:
        client.close()
    assert len(slept) == 4 and slept[0] == 7.0 and slept[1] == MAX_RETRY_AFTER == 60.0
    assert all(s <= 0.01 for s in slept[2:])


@pytest.mark.slow
def test_a_large_body_over_a_slow_link_is_not_cut_by_the_timeout(survey: Survey) -> None:
    """The client's timeout bounds a stall, not a whole upload: a 16 MB body that a node reads at
    about 4 MB/s arrives whole (with its Content-Length, not chunked) although the timeout is
    0.5 s. Sent as one write, what the kernel's buffers cannot hold would take 3 s to leave; with
    the kernel's default send buffer, the answer would come a second after the last write."""
    import socket
    import ssl
    import threading

    m, body = survey.manifest, os.urandom(16 << 20)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(survey.node_dirs[0] / "tls.crt", survey.node_dirs[0] / "tls.key")
    port = int(m.nodes[0].url.rsplit(":", 1)[1])
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)  # the link, not the kernel, sets the pace
    listener.bind(("127.0.0.1", port))
    listener.listen(1)
    seen: dict[str, Any] = {}

    def slow_node() -> None:
        with ctx.wrap_socket(listener.accept()[0], server_side=True) as conn:
            raw = b""
            while b"\r\n\r\n" not in raw:
                raw += conn.recv(4096)
            head, got = raw.split(b"\r\n\r\n", 1)
            seen["head"] = head.decode().lower()
            received = len(got)
            while received < len(body):
                tick = received + 64 * 1024  # 64 KB every 16 ms: about 4 MB/s
                while received < min(tick, len(body)):
                    received += len(conn.recv(tick - received))  # one TLS record (16 KB) at most
                time.sleep(0.016)
            seen["received"] = received
            answer = json.dumps({"received": received}).encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                         + f"Content-Length: {len(answer)}\r\n\r\n".encode() + answer)

    server = threading.Thread(target=slow_node, daemon=True)
    server.start()
    client = NodeClient(m, 0, retry=RetryPolicy(retries=0), timeout=0.5)
    try:
        resp = client._request("POST", client._path("batches"), body, "application/octet-stream")
    finally:
        client.close()
        server.join(10)
        listener.close()
    assert resp.status_code == 200 and resp.json() == {"received": len(body)} and seen["received"] == len(body)
    assert f"content-length: {len(body)}" in seen["head"] and "transfer-encoding" not in seen["head"]
