"""Time the survey page's preparing in the browser (Debian's Chromium, headless), on the complete
survey of tests/test_web_page.py: one employee's answer (record, validity proof, sharing,
certificate and sealing, as the page's data-prepare-ms records it) and an HR file of ROWS rows
(the worker's batched prover, sharing and sealing of every batch).  Three real nodes on this
machine receive the uploads.

    .venv/bin/python scripts/measure_page.py [ROWS]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent.parent / "tests")]

from test_web_page import browser_context, complete_cluster, fill_form, hr_rows, open_page, write_csv  # noqa: E402

EMPLOYEES = 3


def main(rows: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        c = complete_cluster(Path(tmp) / "run", tokens=rows + EMPLOYEES)
        links = (c.survey_dir / "links.txt").read_text().split()
        tokens = c.tokens_file.read_text().split()
        c.start_all()
        try:
            with browser_context(c.manifest) as context:
                one = []
                for link in links[:EMPLOYEES]:
                    page = open_page(context, link)
                    fill_form(page, {"gender": "女", "job": "工程", "basic": "45000", "variable": "3000", "hours": "168"})
                    page.click("#submit")
                    page.wait_for_selector("#receipt-link")
                    one.append(int(page.get_attribute("#result", "data-prepare-ms")))
                    page.close()
                hr = write_csv(Path(tmp) / "staff.csv", hr_rows(rows, seed=1))
                (Path(tmp) / "tokens.txt").write_text("\n".join(tokens[EMPLOYEES:]) + "\n")
                page = open_page(context, links[0].split("#")[0])
                page.set_input_files("#hr-file", str(hr))
                page.set_input_files("#tokens-file", str(Path(tmp) / "tokens.txt"))
                page.click("#upload")
                page.wait_for_function("() => document.querySelector('#progress').dataset.prepareMs !== undefined",
                                       timeout=600_000)
                many = int(page.get_attribute("#progress", "data-prepare-ms"))
                page.wait_for_function("() => document.querySelector('#status').textContent.startsWith('全部')", timeout=600_000)
        finally:
            c.stop_all()
    print(f"one employee's answer: {statistics.median(one)} ms (median of {EMPLOYEES}: {one})")
    print(f"HR file of {rows} rows: {many} ms in the worker ({many / rows:.1f} ms a row)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="Time the survey page's preparing in headless Chromium.",
                                 epilog="example: .venv/bin/python scripts/measure_page.py 1000")
    ap.add_argument("rows", nargs="?", type=int, default=1000, help="rows of the HR file (default: %(default)s)")
    main(ap.parse_args().rows)
