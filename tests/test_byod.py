"""Bring your own data: ``./run_local.sh --input FILE`` runs HR files as they come through a real
survey (real node processes, MPC parties, the console scripts), sized to the file, and the result
is checked against the records the test wrote, independently of the contributor's reader."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest
from hrfiles import Row, semicolon_csv, taiwan_csv, xlsx_file

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _demo(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "demo.run_local", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env=env)


def _check_against(result: dict, want: list[Row]) -> None:
    """Counts and exact means per gender from the test's own records."""
    groups = {g["gender"]: g for g in result["groups"]}
    for gender in ("female", "male"):
        vals = [s for g, s, _ in want if g == gender]
        assert groups[gender]["count"] == len(vals)
        assert abs(groups[gender]["mean"] - float(Fraction(sum(vals), len(vals)))) < 1e-6
    assert result["submissions"] == {"accepted": len(want), "rejected": 0}


def test_taiwan_file_with_chinese_headers_labels_and_twd(tmp_path: Path) -> None:
    want = taiwan_csv(tmp_path / "薪資.csv")
    res = _demo(tmp_path, "--input", "薪資.csv", "--column", "gender=性別", "--column", "pay=月薪", "--column",
                "category=職類", "--gender-labels", "female=女,male=男,other=其他", "--unit", "TWD/month",
                "--lang", "zh_TW", "--out", "result.json")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "OK: the MPC result equals the plaintext figures" in res.stdout
    assert "職務類別 工程：" in res.stdout and "TWD/month" in res.stdout
    result = json.loads((tmp_path / "result.json").read_text())
    _check_against(result, want)
    assert result["labels"]["gender"] == {"female": "女", "male": "男", "other": "其他"}
    assert result["bands"]["salary_max"] >= 1_480_000
    report = (tmp_path / "report.html").read_text(encoding="utf-8")  # beside --out, after the demo exited
    assert "性別薪酬差距報告" in report and "<td>女</td>" in report


def test_semicolon_file_with_decimal_commas(tmp_path: Path) -> None:
    want = semicolon_csv(tmp_path / "gehalt.csv")
    res = _demo(tmp_path, "--input", "gehalt.csv", "--column", "gender=Geschlecht", "--column", "pay=Monatsgehalt",
                "--column", "category=Abteilung", "--gender-labels", "female=weiblich,male=männlich,other=divers",
                "--out", "out/result.json")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    _check_against(json.loads((tmp_path / "out" / "result.json").read_text()), want)
    assert (tmp_path / "out" / "report.html").exists()


def test_xlsx_file_and_an_unusable_file(tmp_path: Path) -> None:
    want = xlsx_file(tmp_path / "staff.xlsx")
    res = _demo(tmp_path, "--input", "staff.xlsx", "--out", "result.json")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    _check_against(json.loads((tmp_path / "result.json").read_text()), want)
    bad = tmp_path / "sex.csv"
    bad.write_text("sex,salary\nF,4000\nM,5000\n")
    res = _demo(tmp_path, "--input", "sex.csv")
    assert res.returncode == 2
    assert res.stderr.strip() == ("run_local.sh: error: sex.csv: the header line has no gender column (headers: sex, "
                                  "salary); name it with --column gender=HEADER")
    res = _demo(tmp_path, "--input", "sex.csv", "--column", "gender=sex")
    assert res.stderr.strip() == ("run_local.sh: error: sex.csv: the gender column holds F, M, which are not female, "
                                  "male or other: say which is which with --gender-labels female=...,male=...,"
                                  "other=...")


def test_a_file_with_basic_variable_and_hours_runs_a_complete_survey(tmp_path: Path) -> None:
    """Columns basic, variable and hours make the demo's survey a complete one, every component
    checked against the plaintext; the released means are the test's own."""
    rows = [("female" if i % 2 else "male", 2000 + 37 * i, "eng" if i % 3 else "ops", 100 * (i % 4 == 0),
             "80" if i % 5 == 0 else "160") for i in range(60)]
    with open(tmp_path / "staff.csv", "w", newline="") as fh:
        fh.write("gender,basic,variable,hours,job\n")
        fh.writelines(f"{g},{b},{v},{h},{j}\n" for g, b, j, v, h in rows)
    res = _demo(tmp_path, "--input", "staff.csv", "--out", "r.json")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "components (basic, variable over recipients and over all, hourly)" in res.stdout
    doc = json.loads((tmp_path / "r.json").read_text())
    male = next(g for g in doc["groups"] if g["gender"] == "male")
    mine = [(b, v, float(h)) for g, b, _, v, h in rows if g == "male"]
    assert abs(male["mean"] - sum(b + v for b, v, _ in mine) / len(mine)) < 1e-6
    assert abs(male["components"]["variable_all"]["mean"] - sum(v for _, v, _ in mine) / len(mine)) < 1e-6
    assert abs(male["components"]["hourly"]["mean"] - sum((b + v) * 10_000 // (h * 100) / 100 for b, v, h in mine)
               / len(mine)) < 1e-6
