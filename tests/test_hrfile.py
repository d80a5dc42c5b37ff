"""HR files as they come: every format through ``salary-submit --csv --check`` and the reader,
checked against the records the test wrote (tests/hrfiles.py); the organiser's labels and
currency; one-line errors with their exact text; the cost of a pathological cell."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import Survey, make_survey
from hrfiles import JOBS_ZH, encoded_csv, semicolon_csv, taiwan_csv, xlsx_file

from contributor.cli import main
from contributor.hrfile import ReadOptions, check_file, read_csv_records
from protocol.answers import AmountFormat, Choices, DecimalMark, parse_amount
from protocol.encoding import Record, parse_salary
from protocol.errors import InvalidManifest, InvalidSubmission

TW_COLUMNS = ["--column", "gender=性別", "--column", "pay=月薪", "--column", "category=職類"]
DE_COLUMNS = ["--column", "gender=Geschlecht", "--column", "pay=Monatsgehalt", "--column", "category=Abteilung"]


def _check(survey: Survey, path: Path, *extra: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(main, ["--survey", str(survey.dir / "manifest.json"), "--csv", str(path), "--check",
                                    *extra], catch_exceptions=False)
    return res.exit_code, res.stdout, res.stderr


def _records(path: Path, survey: Survey, **options: object) -> list[tuple[str, int, str]]:
    rows = read_csv_records(path, survey.manifest, ReadOptions.of(**options))  # type: ignore[arg-type]
    return [(r.record.gender, r.record.salary, r.record.job) for r in rows]


@pytest.fixture(scope="module")
def taiwan(tmp_path_factory: pytest.TempPathFactory) -> Survey:
    return make_survey(tmp_path_factory.mktemp("tw"), salary_max=2_000_000, salary_unit="TWD/month",
                       job_categories=JOBS_ZH, gender_labels=(("female", "女"), ("male", "男"), ("other", "其他")))


@pytest.fixture(scope="module")
def europe(tmp_path_factory: pytest.TempPathFactory) -> Survey:
    return make_survey(tmp_path_factory.mktemp("de"), salary_max=20_000, job_categories=("technik", "vertrieb"),
                       job_labels=(("technik", "Technik"), ("vertrieb", "Vertrieb")),
                       gender_labels=(("female", "weiblich"), ("male", "männlich"), ("other", "divers")))


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Survey:
    return make_survey(tmp_path_factory.mktemp("plain"), salary_max=20_000,
                       job_categories=("engineering", "sales", "ingénierie", "ventes"))


def test_taiwan_file_chinese_headers_labels_and_twd_over_a_million(taiwan: Survey, tmp_path: Path) -> None:
    f = tmp_path / "員工.csv"
    want = taiwan_csv(f)
    assert _records(f, taiwan, columns=["gender=性別", "pay=月薪", "category=職類"]) == want
    assert max(s for _, s, _ in want) == 1_480_000
    code, out, err = _check(taiwan, f, *TW_COLUMNS)
    assert code == 0, err
    assert f"{f}: CSV, utf-8, ','-separated; 300 data row(s): 300 valid, 0 with problems" in out
    assert "columns: gender = 性別, pay = 月薪, category = 職類" in out
    females = sum(1 for g, _, _ in want if g == "female")
    assert f"{sum(1 for g, _, j in want if g == 'female' and j == '工程'):>8,}" in out.splitlines()[4]
    assert f"total" in out and f"{females:,}" in out
    assert f"pay (TWD/month): min {min(s for _, s, _ in want):,}, max 1,480,000" in out
    assert out.rstrip().endswith("nothing was sent (--check)")
    # without the column names: one line saying what to pass
    code, _, err = _check(taiwan, f)
    assert code == 1 and err.strip() == (f"salary-submit: error: {f}: the header line has no gender column (headers: "
                                         "員工編號, 性別, 月薪, 職類); name it with --column gender=HEADER")


def test_semicolon_file_with_decimal_commas(europe: Survey, tmp_path: Path) -> None:
    f = tmp_path / "gehalt.csv"
    want = semicolon_csv(f)
    assert _records(f, europe, columns=["gender=Geschlecht", "pay=Monatsgehalt", "category=Abteilung"]) == want
    code, out, err = _check(europe, f, *DE_COLUMNS)
    assert code == 0, err
    assert "';'-separated" in out and "amounts read with a decimal comma" in out
    assert "amount(s) with a decimal part, rounded half to even to whole units" in out
    # the same file read as declared, and by locale
    assert _records(f, europe, columns=["gender=Geschlecht", "pay=Monatsgehalt", "category=Abteilung"],
                    decimal="de_DE") == want
    code, _, err = _check(europe, f, *DE_COLUMNS, "--decimal", ".")
    assert code == 1 and "column Monatsgehalt: salary '" in err


def test_xlsx_written_with_openpyxl(plain: Survey, tmp_path: Path) -> None:
    f = tmp_path / "staff.xlsx"
    want = xlsx_file(f)
    assert _records(f, plain) == want
    code, out, err = _check(plain, f)
    assert code == 0, err
    assert "spreadsheet, sheet 'Sheet'; 150 data row(s): 150 valid" in out


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "cp1252", "utf-8-sig"])
def test_utf16_windows1252_and_bom_files(plain: Survey, tmp_path: Path, encoding: str) -> None:
    f = tmp_path / f"staff-{encoding}.csv"
    want = encoded_csv(f, encoding)
    assert f.read_bytes()[:2] in (b"\xff\xfe", b"\xef\xbb") or encoding in ("cp1252", "utf-16-le")
    assert _records(f, plain) == [(g, s, j) for g, s, j in want]
    code, out, err = _check(plain, f)
    assert code == 0, err
    shown = {"utf-16": "utf-16", "utf-16-le": "utf-16-le", "cp1252": "cp1252", "utf-8-sig": "utf-8-sig"}[encoding]
    assert f"CSV, {shown}, ','-separated; 60 data row(s): 60 valid" in out


def test_tab_delimited_and_an_explicit_delimiter(plain: Survey, tmp_path: Path) -> None:
    f = tmp_path / "staff.tsv"
    f.write_text("gender\tsalary\tjob\nfemale\t4,100.50\tsales\nmale\t5000\tengineering\n")
    assert _records(f, plain) == [("female", 4100, "sales"), ("male", 5000, "engineering")]
    f.write_text("gender|salary|job\nfemale|4100|sales\n")
    assert _records(f, plain, delimiter="|") == [("female", 4100, "sales")]


BAD_ROWS = [
    ("1" * 1_000_000, "salary is too long (1000000 characters; an amount has at most 64)"),
    ("4e3", "salary '4e3' is not a number: exponents are not accepted"),
    ("1e9999999", "salary '1e9999999' is not a number: exponents are not accepted"),
    ("4_000", "salary '4_000' is not a number: '_' is not a digit separator"),
    ("٤٠٠٠", "salary '٤٠٠٠' is not a number: only the digits 0-9 are accepted"),
    ("USD 4000", "salary 'USD 4000': 'USD' is not this survey's currency (EUR)"),
    ("4,100", "salary '4,100' is ambiguous (4100 with a decimal point, 4.1 with a decimal comma): give --decimal . "
              "or --decimal ,"),
    ("-50", "salary must not be negative"),
    ("25000", "salary above the survey's upper bound of 20000"),
]


@pytest.mark.parametrize(("amount", "message"), BAD_ROWS)
def test_each_bad_amount_is_one_line_naming_line_and_column(plain: Survey, tmp_path: Path, amount: str,
                                                            message: str) -> None:
    f = tmp_path / "staff.csv"
    f.write_text(f"gender,Salary,job\nfemale,4000,sales\nmale,\"{amount}\",sales\n", encoding="utf-8")
    started = time.perf_counter()
    code, _, err = _check(plain, f)
    assert time.perf_counter() - started < 5
    assert code == 1
    assert err.strip().splitlines() == [f"salary-submit: line 3, column Salary: {message}",
                                        f"salary-submit: error: 1 invalid row(s) in {f}; nothing was sent (--check)"]


def test_file_level_errors_are_one_line(plain: Survey, tmp_path: Path) -> None:
    f = tmp_path / "staff.csv"
    f.write_text("gender,salary,job\nfemale,\"4.100,50\",sales\nmale,\"4,100.50\",sales\n")
    code, _, err = _check(plain, f)
    assert err.strip() == (f"salary-submit: error: {f}: amounts mix a decimal comma (line 2: '4.100,50') and a decimal "
                           "point (line 3: '4,100.50'); give --decimal , or --decimal .")
    code, _, err = _check(plain, f, "--column", "pay=Gehalt")
    assert err.strip() == (f"salary-submit: error: {f}: no column 'Gehalt' (--column pay=Gehalt); the headers are: "
                           "gender, salary, job")
    code, _, err = _check(plain, f, "--column", "salaire=x")
    assert err.strip() == ("salary-submit: error: --column takes FIELD=HEADER with FIELD one of gender, category, pay, "
                           "hours; not 'salaire=x'")
    code, _, err = _check(plain, f, "--encoding", "klingon")
    assert err.strip() == "salary-submit: error: --encoding: unknown encoding 'klingon'"
    bad = tmp_path / "staff.xlsx"
    bad.write_bytes(b"not a spreadsheet")
    code, _, err = _check(plain, bad)
    assert code == 1 and err.strip().startswith(f"salary-submit: error: {bad} is not a readable spreadsheet (")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("gender,salary,job\nfemale,4000,ventes\n".encode() + b"\x81\x8d\n")
    code, _, err = _check(plain, latin)
    assert err.strip() == (f"salary-submit: error: {latin} is not UTF-8, UTF-16 or Windows-1252 text; give its "
                           "--encoding (e.g. big5, cp950, shift_jis, latin-1)")


def test_labels_match_after_nfkc_and_case_folding(europe: Survey) -> None:
    genders = europe.manifest.gender_choices()
    assert genders.match("WEIBLICH") == "female" and genders.match("Männlich") == "male"
    assert genders.match("ｆｅｍａｌｅ") == "female"  # full-width, NFKC
    assert europe.manifest.job_choices().match("TECHNIK") == "technik"
    with pytest.raises(InvalidSubmission) as exc:
        genders.match("w")
    assert str(exc.value) == "unknown gender 'w'; expected one of: weiblich (female), männlich (male), divers (other)"


def test_manifest_labels_are_validated_and_keep_unlabelled_manifests_unchanged(tmp_path: Path) -> None:
    import dataclasses

    from protocol.manifest import manifest_from_json

    s = make_survey(tmp_path, tokens=2)
    m = s.manifest
    assert b"labels" not in m.canonical_bytes()
    labelled = dataclasses.replace(m, gender_labels=(("female", "女"),))
    again = manifest_from_json(labelled.canonical_bytes())
    assert again == labelled and '"gender_labels":{"female":"女"}' in labelled.canonical_bytes().decode()
    for labels, message in [((("female", "Male"),), "the gender label 'Male' names two different categories"),
                            ((("robot", "R"),), "gender_labels must give at most one label to each declared "
                                                "category"),
                            ((("female", "a,b"),), "gender_labels: 'a,b' is not a label")]:
        with pytest.raises(InvalidManifest) as exc:
            dataclasses.replace(m, gender_labels=labels).validate()
        assert str(exc.value).startswith(message)


def test_currency_symbols_of_the_unit(taiwan: Survey) -> None:
    from contributor.amounts import amount_format

    fmt = amount_format(taiwan.manifest)
    assert parse_amount("NT$1,123,701", fmt) == 1_123_701 == parse_amount("1.123.701 TWD", fmt)
    assert parse_salary("$ 45,000.00", 2_000_000, fmt) == 45_000
    with pytest.raises(InvalidSubmission) as exc:
        parse_amount("€45", fmt)
    assert str(exc.value) == "salary '€45': '€' is not this survey's currency (TWD)"


def test_no_parse_costs_more_than_microseconds_whatever_its_length() -> None:
    """A 1 MB cell of digits, of spaces, of '9e9' repeated: refused before any other work."""
    fmt = AmountFormat(DecimalMark.POINT)
    choices = Choices.of("gender", ("female", "male"))
    worst = 0.0
    for text in ("1" * 10**6, " " * 10**6, "9e9" * 333_333, "1,000" * 200_000):
        for parse in (lambda t: parse_amount(t, fmt), lambda t: parse_salary(t, 10**9), choices.match):
            started = time.perf_counter()
            with pytest.raises(InvalidSubmission):
                parse(text)
            worst = max(worst, time.perf_counter() - started)
    print(f"slowest refusal of a 1 MB answer: {worst * 1e6:.1f} µs")
    assert worst < 1e-3


def test_amounts_up_to_a_billion_are_shared_and_summed_exactly(tmp_path: Path) -> None:
    """The bulk fast path (int64 squares, limb prover) with 10^9 amounts: the shares of a batch
    reconstruct every record exactly, salary and salary squared included."""
    from contributor.bulk import share_rows
    from protocol.encoding import FAST_SALARY_LIMIT, encode_record
    from protocol.field import decode_elements, reconstruct_vector

    s = make_survey(tmp_path, tokens=2, salary_max=10**9)
    m = s.manifest
    assert m.salary_max < FAST_SALARY_LIMIT
    recs = [Record("female", 10**9), Record("male", 999_999_999), Record("other", 1)]
    blocks = share_rows(m, recs)
    width = m.vector_length()
    sc = m.scheme()
    for r, rec in enumerate(recs):
        shares = {i: decode_elements(blocks[i][16 * width * r: 16 * width * (r + 1)], width, m.field_modulus)
                  for i in range(m.n)}
        vec = reconstruct_vector(shares, m.threshold, m.field_modulus)[: sc.record_width]
        assert vec == encode_record(rec, sc)
        assert sum(vec[sc.sq_at: sc.sq_at + sc.K]) == rec.salary ** 2


def test_hours_column_submits_pay_per_hour_only_in_an_hourly_survey(tmp_path: Path) -> None:
    hourly = make_survey(tmp_path / "h", tokens=2, salary_max=500, salary_unit="EUR/hour")
    f = tmp_path / "staff.csv"
    f.write_text("gender,monthly,hours\nfemale,\"3,300.00\",160\nmale,4100,162.5\n")
    opts = {"columns": ["pay=monthly", "hours=hours"]}
    # 3300 / 160 = 20.625 -> 21; 4100 / 162.5 = 25.23 -> 25
    assert _records(f, hourly, **opts) == [("female", 21, ""), ("male", 25, "")]
    code, out, err = _check(hourly, f, "--column", "pay=monthly", "--column", "hours=hours")
    assert code == 0, err
    assert "hours: min 160, max 162.50" in out and "submitted: pay / hours, in EUR/hour" in out
    monthly = make_survey(tmp_path / "m", tokens=2)
    code, _, err = _check(monthly, f, "--column", "pay=monthly", "--column", "hours=hours")
    assert err.strip() == ("salary-submit: error: --column hours=... submits pay per hour; this survey's unit is "
                           "EUR/month")
