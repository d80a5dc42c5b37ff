"""The PDF report: the HTML report printed by a real headless Chromium, read back with pypdf."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from pypdf import PdfReader

from analyst.cli import main
from analyst.pdf import ENV_BROWSER, PdfUnavailable
from analyst.release import parse
from analyst.report import write_report
from test_report import make_doc

HAVE_BROWSER = any(shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome"))
if not HAVE_BROWSER and os.environ.get("CI") == "true":
    raise RuntimeError("CI must have Chromium for the PDF report: .ci/run installs Debian's chromium")
needs_browser = pytest.mark.skipif(not HAVE_BROWSER, reason="no Chromium on this machine (apt install chromium)")


def pdf_text(path: Path) -> str:
    data = path.read_bytes()
    assert data.startswith(b"%PDF-")
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


@needs_browser
def test_pdf_report_carries_the_html_reports_figures(tmp_path: Path) -> None:
    out = tmp_path / "report.pdf"
    assert write_report(parse(make_doc()), out) == [out]
    text = pdf_text(out)
    for figure in ("Salary survey 2026", "acme-2026", "3,123.50", "3,561.00", "+12.3 %", "engineering"):
        assert figure in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.pdf"]  # no temporary file left


@needs_browser
def test_pdf_report_in_traditional_chinese_keeps_its_glyphs(tmp_path: Path) -> None:
    doc = make_doc()
    out = tmp_path / "報告.pdf"
    write_report(parse(doc), out, "zh_TW")
    text = pdf_text(out)
    assert "性別薪酬差距報告" in text and "3,123.50" in text


def test_without_a_browser_the_pdf_is_refused_in_one_line_and_nothing_is_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_BROWSER, str(tmp_path / "no-such-chromium"))
    with pytest.raises(PdfUnavailable) as e:
        write_report(parse(make_doc()), tmp_path / "report.pdf")
    assert str(e.value) == f"{ENV_BROWSER}={tmp_path / 'no-such-chromium'} is not an executable browser"
    assert list(tmp_path.iterdir()) == []


def test_cli_report_pdf_without_a_browser_exits_1_with_one_line(tmp_path: Path) -> None:
    result = tmp_path / "result.json"
    result.write_text(json.dumps(make_doc()))
    res = CliRunner().invoke(main, ["report", str(result), "--report", str(tmp_path / "r.pdf")],
                             env={ENV_BROWSER: "/nonexistent/chromium"})
    assert res.exit_code == 1
    assert res.output.strip() == (f"salary-analyst: error: {ENV_BROWSER}=/nonexistent/chromium is not an "
                                  "executable browser")
    assert not (tmp_path / "r.pdf").exists()


@needs_browser
def test_cli_report_pdf(tmp_path: Path) -> None:
    result = tmp_path / "result.json"
    result.write_text(json.dumps(make_doc()))
    res = CliRunner().invoke(main, ["report", str(result), "--report", str(tmp_path / "r.pdf")])
    assert res.exit_code == 0, res.output
    assert "report written to" in res.output and "+12.3 %" in pdf_text(tmp_path / "r.pdf")
