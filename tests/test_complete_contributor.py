"""The contributor's side of a complete survey: basic pay, variable pay and hours from the
command line and from HR files (columns basic or salary, variable, hours), validated before
anything is sent, the hourly level computed locally."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from contributor.filecheck import print_check
from contributor.hrfile import CsvInvalid, ReadOptions, check_file, read_csv_records
from contributor.submission import validate_record
from protocol.encoding import Record, encode_record
from protocol.errors import InvalidSubmission
from protocol.manifest import Manifest, manifest_from_json

VEC: dict[str, Any] = json.loads((Path(__file__).parent / "vectors" / "manifest.json").read_text(encoding="utf-8"))


def manifest(**changes: Any) -> Manifest:
    d = copy.deepcopy(VEC["manifest"])
    d.update(dict(components=["basic", "variable", "hours"], pay_period="annual", salary_max=200_000,
                  salary_unit="EUR/year", job_categories=["eng", "ops"], variable_max=50_000, hours_max=2_600,
                  hourly_max=100_000))
    d.update(changes)
    return manifest_from_json(d)


def test_command_line_answers() -> None:
    m = manifest()
    rec = validate_record(m, "female", "52000", "eng", variable="3,100.40", hours="1720.5")
    assert rec == Record("female", 52_000, "eng", 3_100, 172_050)
    assert rec.hourly == 55_100 * 10_000 // 172_050
    encode_record(rec, m.scheme())
    with pytest.raises(InvalidSubmission, match="^hours is missing"):
        validate_record(m, "female", "52000", "eng", variable="0")
    with pytest.raises(InvalidSubmission, match="^this survey does not collect hours; leave it out$"):
        validate_record(manifest(components=["basic", "variable"], hours_max=0, hourly_max=0), "male", "1", "eng",
                        variable="0", hours="3")


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "staff.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_hr_file_with_every_component(tmp_path: Path) -> None:
    path = _csv(tmp_path, "gender,job,basic,variable,hours\nfemale,eng,52000,3100,1720\nmale,ops,48000.5,0,860.25\n")
    rows = read_csv_records(path, manifest())
    assert [r.record for r in rows] == [Record("female", 52_000, "eng", 3_100, 172_000),
                                        Record("male", 48_000, "ops", 0, 86_025)]
    summary = print_check(check_file(path, manifest()), manifest())
    assert "variable (EUR/year): min 0, max 3,100" in summary and "hours: min 860.25, max 1,720" in summary
    assert "submitted: pay / hours" not in summary


def test_hr_file_salary_column_and_column_mapping(tmp_path: Path) -> None:
    path = _csv(tmp_path, "Sex,Job,Salary,Bonus,Paid hours\nfemale,eng,52000,0,1720\n")
    m = manifest()
    opts = ReadOptions.of(("gender=Sex", "variable=Bonus", "hours=Paid hours"))
    assert [r.record for r in read_csv_records(path, m, opts)] == [Record("female", 52_000, "eng", 0, 172_000)]
    with pytest.raises(InvalidSubmission, match="the header line has no variable column"):
        read_csv_records(path, m, ReadOptions.of(("gender=Sex", "hours=Paid hours")))


def test_hr_file_problems_name_their_column(tmp_path: Path) -> None:
    path = _csv(tmp_path, "gender,job,basic,variable,hours\n"
                          "female,eng,52000,60000,1720\n"   # variable above its bound
                          "male,ops,48000,0,0\n"            # no hours
                          "male,ops,190000,20000,2000\n"    # pay level above the bound
                          "male,ops,40000,0,1\n")           # hourly pay above its bound
    with pytest.raises(CsvInvalid) as exc:
        read_csv_records(path, manifest())
    assert [str(p) for p in exc.value.problems] == [
        "line 2, column variable: variable pay above the survey's upper bound of 50000",
        "line 3, column hours: hours must be above 0",
        "line 4, column basic: salary above the survey's upper bound of 200000",
        "line 5, column hours: hourly pay (hundredths) above the survey's upper bound of 100000",
    ]


def test_one_figure_survey_refuses_a_variable_column(tmp_path: Path) -> None:
    path = _csv(tmp_path, "gender,salary,bonus\nfemale,52000,1\n")
    plain = manifest_from_json(VEC["manifest"])
    with pytest.raises(InvalidSubmission, match="^--column variable=...: this survey does not collect variable pay$"):
        read_csv_records(path, plain, ReadOptions.of(("variable=bonus",)))
