"""The report as PDF: the self-contained HTML report printed by a headless Chromium.

A browser prints the HTML report exactly as it is read on screen (tables, the embedded chart,
any script's glyphs where fonts are installed), so the PDF says nothing the HTML does not.
Chromium is found as ``$SALARY_MPC_CHROMIUM``, else ``chromium``, ``chromium-browser``,
``google-chrome`` or ``google-chrome-stable`` on the PATH; without one, :func:`html_to_pdf`
raises :class:`PdfUnavailable` with a one-line hint. The browser runs with a fresh profile in a
temporary directory, no network beyond the local file and no background requests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from protocol.errors import SurveyError

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
ENV_BROWSER = "SALARY_MPC_CHROMIUM"
#: a report of a few pages prints in about a second; a browser that hangs is stopped
PRINT_TIMEOUT_S = 120.0
_FLAGS = ("--headless", "--disable-gpu", "--no-first-run", "--disable-background-networking",
          "--disable-component-update", "--disable-sync", "--disable-extensions", "--no-pdf-header-footer",
          "--disable-quic")


class PdfUnavailable(SurveyError):
    """No browser to print the PDF with, or the browser failed."""


def find_browser() -> str:
    """The Chromium executable to print with; PdfUnavailable when there is none."""
    named = os.environ.get(ENV_BROWSER)
    if named:
        found = shutil.which(named)
        if found is None:
            raise PdfUnavailable(f"{ENV_BROWSER}={named} is not an executable browser")
        return found
    for name in BROWSERS:
        found = shutil.which(name)
        if found is not None:
            return found
    raise PdfUnavailable("a PDF report needs Chromium (e.g. 'apt install chromium'), or set "
                         f"{ENV_BROWSER}; write the report as .html instead and print it from any browser")


def html_to_pdf(html: bytes) -> bytes:
    """The PDF a headless Chromium prints of the HTML document ``html`` (A4 by the report's CSS)."""
    browser = find_browser()
    with tempfile.TemporaryDirectory(prefix="salary-report-") as tmp:
        page, out, profile = Path(tmp, "report.html"), Path(tmp, "report.pdf"), Path(tmp, "profile")
        page.write_bytes(html)
        args = [browser, *_FLAGS, f"--user-data-dir={profile}", f"--print-to-pdf={out}", page.as_uri()]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium's sandbox refuses to run as root
        try:
            proc = subprocess.run(args, capture_output=True, timeout=PRINT_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise PdfUnavailable(f"{browser} did not print the report within {PRINT_TIMEOUT_S:.0f} s") from None
        except OSError as exc:
            raise PdfUnavailable(f"cannot run {browser}: {exc.strerror or exc}") from None
        data = out.read_bytes() if out.is_file() else b""
        if proc.returncode != 0 or not data.startswith(b"%PDF-"):
            last = (proc.stderr.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
            raise PdfUnavailable(f"{browser} could not print the report (exit {proc.returncode}): {last[:200]}")
        return data
