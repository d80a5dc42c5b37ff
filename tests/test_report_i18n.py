"""The report, table and CSV in the organiser's language with the organiser's labels: the zh-TW
catalog, labels in every output, canonical keys kept in the JSON, and the catalogs themselves."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
from test_report import SENTINELS, make_doc

from analyst import i18n
from analyst.formats import OutputFormat, render
from analyst.release import parse
from analyst.report import render_html, render_markdown, write_report
from protocol.errors import SurveyError

LABELS = {"gender": {"female": "女", "male": "男", "other": "其他"}, "category": {"engineering": "工程", "sales": "業務"}}


def labelled_doc() -> dict[str, Any]:
    doc = make_doc()
    doc["salary_unit"] = "TWD/month"
    doc["labels"] = LABELS
    return doc


def test_zh_tw_report_uses_the_catalog_and_the_organisers_labels(tmp_path: Any) -> None:
    release = parse(labelled_doc())
    with i18n.using("zh-TW"):
        page = render_html(release, None)
        md = render_markdown(release, None)
    assert '<html lang="zh-TW">' in page
    for text in ("性別薪酬差距報告 — Salary survey 2026", "(a) 性別薪酬差距（平均數）", "(c) 性別薪酬差距（中位數）",
                 "(f) 各四分位薪資級距中女性與男性員工的比例", "(g) 依員工類別的性別薪酬差距", "類別：工程", "類別：業務",
                 "<td>女</td>", "<td>男</td>", "參照", "不公布", "薪資單位 TWD/月", "英國性別薪酬差距指標",
                 "下列群體不公布任何薪資數字", "其他（全體員工）", "工程/其他"):
        assert text in page, text
    assert "The gender pay gap" not in page and "Category:" not in page and ">female<" not in page
    assert "| 女 |" in md and "## (a) 性別薪酬差距（平均數）" in md
    for sentinel in SENTINELS:  # a suppressed group's figures stay out in every language
        assert sentinel not in page
    written = write_report(release, tmp_path / "報告.html", "zh_TW")
    assert "性別薪酬差距報告" in written[0].read_text(encoding="utf-8")


def test_table_csv_and_json_show_labels_and_keep_keys() -> None:
    release = parse(labelled_doc())
    table = render(release, OutputFormat.TABLE, "zh_TW")
    assert table.splitlines()[1].startswith("性別") and "職務類別 工程：" in table
    assert re.search(r"^女\s+60\s", table, re.M) and "不公布*" in table
    rows = list(csv.DictReader(io.StringIO(render(release, OutputFormat.CSV, "zh_TW"))))
    assert rows[0]["gender"] == "female" and rows[0]["gender_label"] == "女"
    assert rows[3]["category"] == "engineering" and rows[3]["category_label"] == "工程"
    doc = release.to_json()
    assert doc["groups"][0]["gender"] == "female" and doc["labels"] == LABELS
    assert parse(doc) == release
    plain = parse(make_doc())
    assert "labels" not in plain.to_json()  # a survey without labels: the document is as it was
    assert render(plain, OutputFormat.TABLE, "en").splitlines()[1].startswith("gender")


def test_languages_are_the_catalog_files() -> None:
    assert i18n.available() == ["en", "zh_TW"]
    assert i18n.resolve("zh-tw") == "zh_TW" and i18n.resolve("EN") == "en"
    with pytest.raises(SurveyError) as exc:
        i18n.resolve("de")
    assert str(exc.value) == "no catalog for language 'de'; available: en, zh_TW"


def test_every_message_of_the_template_is_translated_in_zh_tw() -> None:
    from babel.messages.pofile import read_po

    with open(i18n.LOCALE_DIR / "salary-analyst.pot", "rb") as fh:
        template = {m.id for m in read_po(fh) if m.id}
    with open(i18n.LOCALE_DIR / "zh_TW.po", "rb") as fh:
        catalog = {m.id: m.string for m in read_po(fh) if m.id}
    assert template == set(catalog)
    assert all(catalog.values())
    for msgid, text in catalog.items():  # the same placeholders, so .format never fails
        assert set(re.findall(r"{\w+}", msgid)) == set(re.findall(r"{\w+}", str(text))), msgid


def test_the_template_holds_every_message_of_the_code() -> None:
    """pybabel extract over analyst/ gives the shipped template (a new text needs a catalog entry)."""
    from babel.messages.extract import extract_from_dir
    from babel.messages.pofile import read_po

    found = {msg for _, _, msg, _, _ in extract_from_dir(str(i18n.LOCALE_DIR.parent), keywords={"_": None, "N_": None})}
    with open(i18n.LOCALE_DIR / "salary-analyst.pot", "rb") as fh:
        template = {m.id for m in read_po(fh) if m.id}
    assert found == template
