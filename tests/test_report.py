"""The human pay-transparency report (analyst/report.py): content, formats, escaping, suppression, files, chart."""

from __future__ import annotations

import base64
import copy
import re
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from analyst.release import parse
from analyst.report import render_chart, render_html, render_markdown, write_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SENTINELS = ("987654", "987,654", "98.8", "98.7", "4242", "4,242", "31337", "31,337", "77.7")

ART9_HEADINGS = (
    "(a) The gender pay gap (mean)",
    "(b) The gender pay gap in complementary or variable components",
    "(c) The median gender pay gap",
    "(d) The median gender pay gap in complementary or variable components",
    "(e) The proportion of female and male workers receiving complementary or variable components",
    "(f) The proportion of female and male workers in each quartile pay band",
    "(g) The gender pay gap by category of workers",
)


def group(gender: str, count: int, mean: float, median: float, err: float | None, stdev: float,
          shares: list[float], dp_sd: dict[str, float] | None = None) -> dict[str, Any]:
    return {"gender": gender, "count": count, "suppressed": False, "mean": mean, "median": median,
            "median_max_error": err, "stdev": stdev, "quartile_shares": shares, "dp_sd": dp_sd}


def suppressed_group(gender: str) -> dict[str, Any]:
    """A suppressed group that (wrongly) still carries figures: sentinels that must never be printed."""
    return {"gender": gender, "count": 4242, "suppressed": True, "mean": 987654.0, "median": 987654.5,
            "median_max_error": 31337.0, "stdev": 987654.25, "quartile_shares": [0.777, 0.777, 0.777, 0.777],
            "dp_sd": {"count": 31337.0, "mean": 987654.0}}


def make_doc(categories: bool = True) -> dict[str, Any]:
    cats: list[dict[str, Any]] = []
    if categories:
        cats = [
            {"category": "engineering",
             "groups": [group("female", 20, 4100.0, 4000.0, 50.0, 300.0, [0.4, 0.4, 0.3, 0.3]),
                        group("male", 30, 4500.0, 4400.0, None, 350.0, [0.6, 0.6, 0.7, 0.7]),
                        suppressed_group("other")],
             "pay_gap_percent": {"female": 8.888, "other": 98.76},
             "median_pay_gap_percent": {"female": 9.0909, "other": 98.76}},
            {"category": "sales",
             "groups": [group("female", 10, 3000.0, 2950.0, 25.0, 200.0, [0.5, 0.5, 0.5, 0.5]),
                        group("male", 12, 3100.0, 3050.0, 25.0, 210.0, [0.5, 0.5, 0.5, 0.5]),
                        suppressed_group("other")],
             "pay_gap_percent": {"female": 3.2258, "other": None},
             "median_pay_gap_percent": {"female": 3.2787, "other": None}},
        ]
    return {
        "survey_id": "acme-2026", "title": "Salary survey 2026", "model": "semi-honest",
        "submissions": {"accepted": 120, "rejected": 2},
        "min_group_size": 5, "salary_unit": "EUR/month",
        "groups": [group("female", 60, 3123.5, 3050.0, 99.0, 410.2, [0.6, 0.55, 0.45, 0.4]),
                   group("male", 57, 3561.0, 3400.0, None, 500.0, [0.4, 0.45, 0.55, 0.6]),
                   suppressed_group("other")],
        "pay_gap_percent": {"female": 12.286, "other": 98.76},
        "median_pay_gap_percent": {"female": 10.294, "other": 98.76},
        "quartiles": {"thresholds": [2900.0, 3400.0, 4100.5], "population": 117,
                      "note": "Quartile bands are computed over the released groups only."},
        "categories": cats,
        "bands": {"edges": [0, 1000, 2000, 3000, 4000, 5000], "salary_max": 20000},
        "differential_privacy": None,
        "warnings": ["node(s) 2 sent a result share inconsistent with the others"],
        "cheating_nodes": [],
    }


def section(text: str, start: str, end: str) -> str:
    """The text between the first ``start`` and the following ``end``."""
    i = text.index(start)
    return text[i:text.index(end, i + len(start))]


def md_row(md: str, first_cell: str) -> list[str]:
    """The cells of the first Markdown table row whose first cell is ``first_cell``."""
    for line in md.splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip()[1:-1])]
        if line.startswith("|") and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no table row {first_cell!r}")


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


# --------------------------------------------------------------------------------------------
# Content


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_every_art9_item_has_its_heading(fmt: str) -> None:
    doc = make_doc()
    text = render_markdown(parse(doc), "r.png") if fmt == "md" else render_html(parse(doc), None)
    for h in ART9_HEADINGS:
        assert h in text, h
    for h in ("UK gender pay gap metrics", "Standard deviation", "Suppression", "Warnings"):
        assert h in text
    assert "Gender pay gap report — Salary survey 2026" in text
    # the items appear in order (a)..(g)
    positions = [text.index(h) for h in ART9_HEADINGS]
    assert positions == sorted(positions)


def test_markdown_numbers_formatted() -> None:
    md = render_markdown(parse(make_doc()), "r.png")
    a = section(md, "(a)", "(b)")
    assert md_row(a, "female") == ["female", "60", "3,123.50", "+12.3 %"]
    assert md_row(a, "male") == ["male", "57", "3,561.00", "reference"]
    c = section(md, "(c)", "(d)")
    assert md_row(c, "female") == ["female", "3,050.00 ± 99.00", "+10.3 %"]
    assert md_row(c, "male") == ["male", "3,400.00", "reference"]  # no banding error: no ±
    sd = section(md, "## Standard deviation", "## Suppression")
    assert md_row(sd, "female") == ["female", "410.20"]
    summary = md.splitlines()[2]
    for part in ("Survey acme-2026", "model: semi-honest", "120 submissions counted",
                 "2 not counted", "k = 5", "EUR/month"):
        assert part in summary
    for b_item in ("(b)", "(d)", "(e)"):
        assert "Not collected by this survey (one salary figure per employee)." in section(md, b_item, "##")


def test_quartile_table_ranges_and_shares() -> None:
    md = render_markdown(parse(make_doc()), None)
    f = section(md, "(f)", "(g)")
    assert md_row(f, "Quartile band") == ["Quartile band", "Salary range (EUR/month)", "female", "male", "other"]
    assert md_row(f, "Q1 (lowest)") == ["Q1 (lowest)", "\\< 2,900", "60.0 %", "40.0 %", "suppressed"]
    assert md_row(f, "Q2") == ["Q2", "2,900 – 3,400", "55.0 %", "45.0 %", "suppressed"]
    assert md_row(f, "Q3") == ["Q3", "3,400 – 4,100.50", "45.0 %", "55.0 %", "suppressed"]
    assert md_row(f, "Q4 (highest)") == ["Q4 (highest)", "≥ 4,100.50", "40.0 %", "60.0 %", "suppressed"]
    assert "Quartile bands are computed over the released groups only." in f
    html = render_html(parse(make_doc()), None)
    assert "<td>&lt; 2,900</td>" in html and "<td>2,900 – 3,400</td>" in html


def test_quartile_thresholds_null() -> None:
    doc = make_doc()
    doc["quartiles"]["thresholds"] = None
    assert md_row(section(render_markdown(parse(doc), None), "(f)", "(g)"), "Q1 (lowest)")[1] == "n/a"


def test_category_tables() -> None:
    md = render_markdown(parse(make_doc()), None)
    g = section(md, "(g)", "## UK")
    eng = section(g, "Category: engineering", "Category: sales")
    assert md_row(eng, "Gender") == ["Gender", "Count", "Mean", "Median", "Standard deviation", "Mean gap",
                                     "Median gap"]
    assert md_row(eng, "female") == ["female", "20", "4,100.00", "4,000.00 ± 50.00", "300.00", "+8.9 %", "+9.1 %"]
    assert md_row(eng, "other") == ["other"] + ["suppressed"] * 6
    sales = section(md, "Category: sales", "## UK")
    assert md_row(sales, "female")[5:] == ["+3.2 %", "+3.3 %"]


def test_no_categories_sentence() -> None:
    md = render_markdown(parse(make_doc(categories=False)), None)
    g = section(md, "(g)", "## UK")
    assert "does not declare job categories" in g
    assert "Category:" not in md


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_suppressed_groups_never_show_figures(fmt: str) -> None:
    doc = make_doc()
    doc["differential_privacy"] = {"epsilon": "1", "description": "Laplace noise.",
                                   "noise_sd": {"count": 12.1}}
    text = render_markdown(parse(doc), "r.png") if fmt == "md" else render_html(parse(doc), b"\x89PNG")
    for s in SENTINELS:
        assert s not in text, s
    assert "suppressed" in text
    sup = section(text, "Suppression", "Warnings")
    for scope in ("other (all employees)", "engineering/other", "sales/other"):
        assert scope in sup
    assert "No salary figure is released" in sup


def test_sentinels_would_show_if_not_suppressed() -> None:
    """Guard for the test above: the same groups unsuppressed do print the sentinels."""
    doc = make_doc()
    for g in doc["groups"] + [g for c in doc["categories"] for g in c["groups"]]:
        g["suppressed"] = False
    md = render_markdown(parse(doc), None)
    assert "987,654.00" in md and "+98.8 %" in md and "77.7 %" in md and "4,242" in md


def test_gap_hidden_when_reference_suppressed() -> None:
    doc = make_doc(categories=False)
    doc["groups"][1] = suppressed_group("male")
    md = render_markdown(parse(doc), None)
    assert md_row(section(md, "(a)", "(b)"), "female") == ["female", "60", "3,123.50", "n/a"]
    assert "+12.3 %" not in md
    assert "male reference group is suppressed" in md


def test_null_figures_read_na() -> None:
    doc = make_doc(categories=False)
    doc["groups"][0].update(mean=None, median=None, stdev=None)
    doc["pay_gap_percent"]["female"] = None
    md = render_markdown(parse(doc), None)
    assert md_row(section(md, "(a)", "(b)"), "female") == ["female", "60", "n/a", "n/a"]
    assert md_row(section(md, "(c)", "(d)"), "female")[1] == "n/a"


def test_differential_privacy_section() -> None:
    doc = make_doc()
    assert "Differential privacy" not in render_markdown(parse(doc), None)
    doc["differential_privacy"] = {"epsilon": "1", "description": "Gaussian noise added by the nodes.",
                                   "noise_sd": {"count": 12.1, "sum": 3.2e5, "sum_of_squares": 1.1e9,
                                                "band_counts": 12.1}}
    doc["groups"][0]["dp_sd"] = {"count": 12.1, "mean": 40.2}
    md = render_markdown(parse(doc), None)
    dp = section(md, "## Differential privacy", "## Suppression")
    assert "Gaussian noise added by the nodes." in dp
    assert md_row(dp, "sum") == ["sum", "320,000.00"]
    assert md_row(dp, "sum\\_of\\_squares") == ["sum\\_of\\_squares", "1,100,000,000.00"]
    assert md_row(dp, "female") == ["female", "12.10", "40.20"]


def test_warnings_listed_and_absent_when_none() -> None:
    md = render_markdown(parse(make_doc()), None)
    assert "- node(s) 2 sent a result share inconsistent with the others" in md
    doc = make_doc()
    doc["warnings"] = []
    assert "## Warnings" not in render_markdown(parse(doc), None)


def test_html_escapes_user_text() -> None:
    doc = make_doc()
    evil = "<script>alert(1)</script>"
    doc["survey_id"] = 'x"><img src=x onerror=alert(2)>'
    doc["title"] = evil
    doc["categories"][0]["category"] = evil
    doc["warnings"] = [evil]
    doc["differential_privacy"] = {"epsilon": "1", "description": evil, "noise_sd": {evil: 1.0}}
    html = render_html(parse(doc), None)
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Category: &lt;script&gt;" in html
    assert "x&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in html
    md = render_markdown(parse(doc), None)
    assert re.search(r"(?<!\\)<script", md) is None and "\\<script\\>alert(1)\\</script\\>" in md


def test_markdown_pipe_in_category_does_not_break_table() -> None:
    doc = make_doc()
    doc["categories"][0]["category"] = "a|b"
    doc["groups"][0]["gender"] = "fe|male"
    doc["pay_gap_percent"] = {"fe|male": 12.286}
    md = render_markdown(parse(doc), None)
    assert "a\\|b" in md
    assert md_row(section(md, "(a)", "(b)"), "fe\\|male")[1:] == ["60", "3,123.50", "+12.3 %"]


# --------------------------------------------------------------------------------------------
# Files


def test_write_report_html(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert write_report(parse(make_doc()), out) == [out]
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    m = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert m is not None
    png = base64.b64decode(m.group(1), validate=True)
    assert png.startswith(PNG_SIGNATURE)
    assert png_size(png) == (1100, 880)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]  # no temp file, no separate PNG


def test_write_report_markdown(tmp_path: Path) -> None:
    out = tmp_path / "my report.md"
    written = write_report(parse(make_doc(categories=False)), out)
    png = tmp_path / "my report.png"
    assert written == [out, png]
    assert png.read_bytes().startswith(PNG_SIGNATURE)
    assert "](my%20report.png)" in out.read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my report.md", "my report.png"]


def test_write_report_overwrites(tmp_path: Path) -> None:
    out = tmp_path / "r.htm"
    out.write_text("old")
    write_report(parse(make_doc()), out)
    assert "Gender pay gap report" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["report.txt", "report.docx", "report"])
def test_write_report_bad_suffix(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError) as e:
        write_report(parse(make_doc()), tmp_path / name)
    assert str(e.value) == "report file must end in .html, .md or .pdf"
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------
# Chart


@pytest.mark.parametrize("categories,size", [(False, (1100, 495)), (True, (1100, 880))])
def test_chart_pixel_size_is_figure_size_times_dpi(tmp_path: Path, categories: bool, size: tuple[int, int]) -> None:
    out = tmp_path / "c.png"
    render_chart(parse(make_doc(categories=categories)), out)
    assert png_size(out.read_bytes()) == size
    import matplotlib.image
    assert matplotlib.image.imread(str(out)).shape[:2] == (size[1], size[0])


def test_chart_all_groups_suppressed(tmp_path: Path) -> None:
    doc = make_doc()
    doc["groups"] = [suppressed_group(g) for g in ("female", "male", "other")]
    for c in doc["categories"]:
        c["groups"] = [suppressed_group(g) for g in ("female", "male", "other")]
    out = tmp_path / "c.png"
    render_chart(parse(doc), out)
    assert png_size(out.read_bytes()) == (1100, 880)
    doc["categories"] = []
    doc["groups"] = []
    render_chart(parse(doc), out)
    assert png_size(out.read_bytes()) == (1100, 495)


def test_chart_survives_mathtext_in_user_text(tmp_path: Path) -> None:
    doc = make_doc()
    doc["survey_id"] = "cost $x^{"
    doc["categories"][0]["category"] = "$$ \\frac{"
    out = tmp_path / "c.png"
    render_chart(parse(doc), out)
    assert out.read_bytes().startswith(PNG_SIGNATURE)


def test_chart_does_not_mutate_doc(tmp_path: Path) -> None:
    doc = make_doc()
    before = copy.deepcopy(doc)
    render_chart(parse(doc), tmp_path / "c.png")
    render_markdown(parse(doc), None)
    render_html(parse(doc), None)
    assert doc == before


def test_import_does_not_load_matplotlib() -> None:
    code = "import sys, analyst.report; print('matplotlib' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       cwd=Path(__file__).resolve().parent.parent)
    assert r.stdout.strip() == "False"
