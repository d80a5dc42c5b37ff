"""The survey page (analyst/webpage/, built from web/page/) in a real browser: Debian's Chromium
driven by Playwright, against real nodes that serve the page and pin its bundle in the manifest.

An employee opens a participation link, gets the form in the organiser's language and labels (every
control labelled, nothing wider than a phone), submits (a bad amount first: the Python
contributor's message, the field focused), downloads the receipt, then replaces the answer with the
keyboard only; HR staff check an HR file with a bad row (listed before anything is sent, then left
out), upload it, and upload a second file (.xlsx) with a node stopped, close the tab and resume in
a new one (its tokens kept only as SHA-256, refused for a new upload until the pending one is
finished, and given again to resume). The survey is closed and computed and every released figure
is checked against the plaintext oracle over exactly what the page submitted. A link whose ``m=``
is another manifest's, and a node serving another manifest, are refused. The committed bundle is
what ``npm run build`` makes of the sources, byte for byte.

Nodes use self-signed certificates pinned in the manifest; Chromium trusts exactly those (their
SPKI SHA-256).  Under CI a missing Chromium or Playwright fails; elsewhere the tests skip, saying
why.  ``PAGE_SCREENSHOTS=DIR`` also saves the flows' screenshots into DIR (docs/ keeps them).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from conftest import release
from demo.cluster import LocalCluster, compare_components, run, tool

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "web"
PAGE = ROOT / "analyst" / "webpage"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
#: Without the background-networking flags Chromium keeps calling home, which a closed network refuses.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
JOBS = ("工程", "業務")
GENDER_LABELS = {"female": "女", "male": "男", "other": "其他"}
TIMEOUT_MS = 60_000
#: A complete survey in TWD per month, organised in Traditional Chinese.
COMPLETE_ARGS = ("--components", "basic,variable,hours", "--pay-period", "monthly", "--variable-max", "20000",
                 "--variable-band-width", "1000", "--hours-max", "200", "--hourly-max", "1000",
                 "--hourly-band-width", "10", "--language", "zh-TW")


def need_browser() -> None:
    """Skip (fail under CI) unless Chromium and Playwright are both here."""
    why = ""
    if not CHROMIUM.exists():
        why = f"{CHROMIUM} is not installed (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            why = "the playwright package is not installed (pip install -e '.[test]')"
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)


def spki_pins(manifest: dict[str, Any]) -> list[str]:
    """Base64 SHA-256 of each node's certificate's public key (SubjectPublicKeyInfo)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    pins = []
    for nd in manifest["nodes"]:
        key = x509.load_pem_x509_certificate(nd["tls_cert_pem"].encode()).public_key()
        der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        pins.append(base64.b64encode(hashlib.sha256(der).digest()).decode())
    return pins


@contextmanager
def browser_context(manifest_path: Path, extra_pins: tuple[str, ...] = ()) -> Iterator[Any]:
    """One Chromium context (one profile: its IndexedDB outlives closed tabs) trusting the nodes
    (and the hosts whose SPKI pins ``extra_pins`` gives)."""
    from playwright.sync_api import sync_playwright

    pins = spki_pins(json.loads(manifest_path.read_text())) + list(extra_pins)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM),
                                    args=[*FLAGS, "--ignore-certificate-errors-spki-list=" + ",".join(pins)])
        try:
            context = browser.new_context(accept_downloads=True, viewport={"width": 900, "height": 900})
            context.set_default_timeout(TIMEOUT_MS)
            yield context
        finally:
            browser.close()


def shot(page: Any, name: str) -> None:
    """Save a screenshot of the whole page into $PAGE_SCREENSHOTS (when set)."""
    out = os.environ.get("PAGE_SCREENSHOTS")
    if out:
        page.screenshot(path=str(Path(out) / name), full_page=True)


def open_page(context: Any, url: str) -> Any:
    """A new tab at ``url``, failing the test on any script error or request to another host."""
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: errors.append(f"request to {r.url}")
            if not re.match(r"^(https://127\.0\.0\.1:\d+/|blob:|data:)", r.url) else None)
    page.errors = errors
    page.goto(url)
    return page


def wait_status(page: Any, text: str) -> None:
    """Wait until the status region says ``text`` (or an error shows) and check it."""
    page.wait_for_function("t => document.querySelector('#status').textContent === t "
                           "|| !document.querySelector('#error').hidden", arg=text)
    assert page.inner_text("#status") == text, page.inner_text("#error")


def error_text(page: Any) -> str:
    page.wait_for_selector("#error:not([hidden])")
    return str(page.inner_text("#error")).strip()


# -- the employee -----------------------------------------------------------------------------


def fill_form(page: Any, answers: dict[str, str]) -> None:
    page.wait_for_selector("#employee-form")
    page.select_option("#gender", label=answers["gender"])
    page.select_option("#job", label=answers["job"])
    for name in ("basic", "variable", "hours"):
        page.fill(f"#{name}", answers[name])


def keyboard_fill(page: Any, answers: dict[str, str]) -> None:
    """Fill the form with the keyboard only: Tab from the top (the language switch first), arrow
    keys in the choices, typing in the amounts."""
    page.wait_for_selector("#employee-form")
    keys = {"gender": ["female", "male", "other"], "job": ["工程", "業務"]}
    want = {"gender": {v: k for k, v in GENDER_LABELS.items()}[answers["gender"]], "job": answers["job"]}
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "lang"
    for name in ("gender", "job"):
        page.keyboard.press("Tab")
        for _ in range(keys[name].index(want[name]) + 1):
            page.keyboard.press("ArrowDown")
        assert page.input_value(f"#{name}") == want[name]
    for name in ("basic", "variable", "hours"):
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == name
        page.keyboard.type(answers[name])


def unlabelled(page: Any) -> list[str]:
    """The form controls without a label."""
    return list(page.evaluate("[...document.querySelectorAll('input, select, textarea')]"
                              ".filter(e => !e.labels.length && !e.getAttribute('aria-label')).map(e => e.id)"))


def fits_a_phone(page: Any) -> None:
    """At a phone's width (390 CSS pixels) nothing is wider than the window."""
    size = page.viewport_size
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "page-phone-" + str(page.evaluate("document.querySelector('form') ? 'employee' : 'hr'")) + ".png")
    page.set_viewport_size(size)


def download_receipt(page: Any) -> dict[str, Any]:
    page.wait_for_selector("#receipt-link")
    with page.expect_download() as dl:
        page.click("#receipt-link")
    return dict(json.loads(Path(dl.value.path()).read_text()))


def check_receipt(receipt: dict[str, Any], manifest_bytes: bytes, status: str, answers: dict[str, str]) -> None:
    """The receipt names the survey, the manifest, the id and every node's acknowledgement; it
    holds no pay."""
    assert receipt["format"] == "salary-submit/receipt/v1"
    assert receipt["survey_id"] == json.loads(manifest_bytes)["survey_id"]
    assert receipt["manifest_hash"] == hashlib.sha256(manifest_bytes).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{32}", receipt["submission_id"])
    assert receipt["complete"] is True and receipt["pending_nodes"] == []
    assert [a["node_index"] for a in receipt["acks"]] == [0, 1, 2]
    for a in receipt["acks"]:
        assert a["status"] == status and re.fullmatch(r"[0-9a-f]{64}", a["envelope_sha256"])
    text = json.dumps(receipt)
    assert answers["basic"] not in text
    assert not {"basic", "variable", "hours", "salary", "token", "gender"} & set(receipt)


def employee_flow(context: Any, link: str, manifest_bytes: bytes) -> dict[str, str]:
    """Submit through the link (a bad amount first), then replace; the answers that count."""
    from protocol.encoding import make_record
    from protocol.errors import InvalidSubmission
    from protocol.manifest import manifest_from_json

    m = manifest_from_json(manifest_bytes)
    page = open_page(context, link)
    page.wait_for_selector("#employee-form")
    assert page.evaluate("document.documentElement.lang") == "zh-TW"
    assert page.inner_text("label[for=gender]") == "性別"
    assert [o.strip() for o in page.locator("#gender option").all_inner_texts()][1:] == ["女", "男", "其他"]
    assert "#" not in page.url, "the token stays out of the address bar and the history"
    page.select_option("#lang", "en")
    assert page.inner_text("label[for=gender]") == "Gender"
    page.select_option("#lang", "zh-TW")
    first = {"gender": "女", "job": "工程", "basic": "45O00", "variable": "3000", "hours": "168"}
    fill_form(page, first)
    page.click("#submit")
    with pytest.raises(InvalidSubmission) as bad:
        make_record("女", "45O00", m.scheme(), "工程", gender_labels=GENDER_LABELS, variable="3000", hours="168")
    assert error_text(page) == str(bad.value)
    assert page.evaluate("document.activeElement.id") == "basic"
    page.fill("#basic", "45000")
    first["basic"] = "45000"
    assert unlabelled(page) == []
    shot(page, "page-employee-form.png")
    fits_a_phone(page)
    page.click("#submit")
    receipt = download_receipt(page)
    check_receipt(receipt, manifest_bytes, "stored", first)
    shot(page, "page-employee-receipt.png")
    assert page.errors == []
    page.close()

    again = open_page(context, link)
    second = {"gender": "男", "job": "業務", "basic": "52000", "variable": "0", "hours": "160"}
    keyboard_fill(again, second)
    again.keyboard.press("Enter")
    again.wait_for_selector("#replace:focus")
    with again.expect_download() as dl:
        again.keyboard.press("Enter")
        again.wait_for_selector("#receipt-link:focus")
        again.keyboard.press("Enter")
    replaced = dict(json.loads(Path(dl.value.path()).read_text()))
    check_receipt(replaced, manifest_bytes, "replaced", second)
    assert replaced["replace"] is True
    assert {a["replaced_submission_id"] for a in replaced["acks"]} == {receipt["submission_id"]}
    assert again.errors == []
    again.close()
    return second


# -- HR staff ----------------------------------------------------------------------------------


def hr_rows(count: int, seed: int) -> list[list[str]]:
    import random

    rng = random.Random(seed)
    rows = []
    for k in range(count):
        gender = ("female", "male", "女", "男", "other")[k % 5] if k % 7 else "女"
        variable = rng.choice(["0", "0", str(rng.randint(500, 15000))])
        rows.append([gender, rng.choice(JOBS), str(rng.randint(28000, 80000)), variable,
                     rng.choice(["168", "160", "120.5"])])
    return rows


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["gender", "job", "basic", "variable", "hours"])
        w.writerows(rows)
    return path


def write_xlsx(path: Path, rows: list[list[str]]) -> Path:
    """A workbook as HR systems export one: numbers as numbers."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["gender", "job", "basic", "variable", "hours"])
    for g, j, basic, variable, hours in rows:
        ws.append([g, j, int(basic), int(variable), float(hours)])
    wb.save(path)
    return path


def hr_upload(page: Any, hr_file: Path, tokens_file: Path) -> None:
    page.wait_for_selector("#hr-file")
    page.set_input_files("#hr-file", str(hr_file))
    page.set_input_files("#tokens-file", str(tokens_file))
    page.wait_for_selector("#upload")


def hr_flow(c: LocalCluster, context: Any, page_url: str, tokens: list[str], work: Path) -> list[Any]:
    """Two HR files from the page (the first with a bad row, left out; the second resumed in a
    new tab after a node was down): the records the nodes now hold."""
    from contributor.hrfile import check_file
    from protocol.manifest import load_manifest
    from protocol.tokens import token_hash

    m = load_manifest(c.manifest)
    rows = hr_rows(30, seed=21)
    rows[11][2] = "12x00"
    first = write_csv(work / "staff.csv", rows)
    (work / "tokens-a.txt").write_text("\n".join(tokens[:30]) + "\n")
    checked = check_file(first, m)
    assert [p.number for p in checked.problems] == [13]
    page = open_page(context, page_url)
    hr_upload(page, first, work / "tokens-a.txt")
    assert page.inner_text("#rows-summary") == "29 列可上傳，1 列有錯誤。"
    assert unlabelled(page) == []
    fits_a_phone(page)
    bad_row = page.inner_text("#row-errors tbody tr")
    assert "第 13 行" in bad_row and checked.problems[0].message in bad_row
    assert page.is_disabled("#upload"), "nothing is sent while a row has an error"
    shot(page, "page-hr-row-error.png")
    page.check("#exclude-errors")
    page.click("#upload")
    page.wait_for_selector("#progress:not([hidden])")
    shot(page, "page-hr-progress.png")
    wait_status(page, "全部 29 列皆已獲每個節點確認。")
    assert page.errors == []
    page.close()

    second = write_xlsx(work / "more.xlsx", hr_rows(6, seed=22))
    assert check_file(second, m).problems == []
    (work / "tokens-b.txt").write_text("\n".join(tokens[30:36]) + "\n")
    c.stop_node(2)
    page = open_page(context, page_url)
    hr_upload(page, second, work / "tokens-b.txt")
    page.click("#upload")
    assert error_text(page).startswith("1 批中有 0 批已獲每個節點確認")
    shot(page, "page-hr-pending.png")
    page.close()
    c.start_node(2)
    page = open_page(context, page_url)
    page.wait_for_selector("#resume")
    assert "6 列" in page.inner_text("#pending-title")
    shot(page, "page-hr-resume.png")
    kept = page.evaluate(STORED_RUNS)
    assert all(tok not in kept for tok in tokens[30:36]) and token_hash(tokens[30]) in kept
    hr_upload(page, second, work / "tokens-b.txt")
    page.click("#upload")
    assert error_text(page) == "這些權杖在此瀏覽器中有尚未完成的上傳；請先繼續該上傳"
    page.click("#resume")
    assert error_text(page).startswith("提供的權杖不包含此次上傳的所有權杖")
    page.set_input_files("#resume-tokens-file", str(work / "tokens-b.txt"))
    page.click("#resume")
    wait_status(page, "全部 6 列皆已獲每個節點確認。")
    page.close()
    page = open_page(context, page_url)
    page.wait_for_selector("#hr-file")
    assert page.locator("#pending").count() == 0, "a finished upload is no longer pending"
    page.close()
    return [r.record for r in checked.rows] + [r.record for r in check_file(second, m).rows]


#: Everything the page keeps in IndexedDB, as text (Uint8Arrays as objects of numbers).
STORED_RUNS = """async () => {
  const db = await new Promise((ok, no) => { const r = indexedDB.open("salary-page"); r.onsuccess = () => ok(r.result);
    r.onerror = () => no(r.error); });
  const runs = await new Promise((ok) => { const q = db.transaction("runs").objectStore("runs").getAll();
    q.onsuccess = () => ok(q.result); });
  db.close();
  return JSON.stringify(runs);
}"""


def complete_cluster(root: Path, tokens: int) -> LocalCluster:
    c = LocalCluster(root, tokens=tokens, salary_max=100_000, job_categories=",".join(JOBS), band_width=5000,
                     min_group_size=3, unit="TWD", gender_labels=",".join(f"{k}={v}" for k, v in GENDER_LABELS.items()),
                     create_args=COMPLETE_ARGS)
    c.setup()
    return c


@pytest.mark.slow
def test_employee_and_hr_staff_submit_from_the_page(tmp_path: Path) -> None:
    need_browser()
    from protocol.encoding import make_record
    from protocol.manifest import load_manifest

    c = complete_cluster(tmp_path / "run", tokens=40)
    manifest_bytes = c.manifest.read_bytes()
    m = load_manifest(c.manifest)
    assert m.web_page_sha256 == hashlib.sha256((PAGE / "salary-page.js").read_bytes()).hexdigest()
    links = (c.survey_dir / "links.txt").read_text().split()
    tokens = c.tokens_file.read_text().split()
    assert all(link.endswith(f"#t={tok}&m={m.hash_hex()}") for link, tok in zip(links, tokens))
    c.start_all()
    try:
        with browser_context(c.manifest) as context:
            a = employee_flow(context, links[-1], manifest_bytes)
            records = hr_flow(c, context, links[0].split("#")[0], tokens, tmp_path)
        records.append(make_record(a["gender"], a["basic"], m.scheme(), a["job"], gender_labels=GENDER_LABELS,
                                   variable=a["variable"], hours=a["hours"]))
        out = release(c, tmp_path / "r.json")
    finally:
        c.stop_all()
    assert out["submissions"] == {"accepted": len(records), "rejected": 0}
    by_gender = {g["gender"]: g["count"] for g in out["groups"]}
    assert by_gender == {g: sum(r.gender == g for r in records) for g in m.categories}
    checked, problems = compare_components(out, records, m.min_group_size)
    assert problems == [] and checked >= 2


@pytest.mark.slow
def test_a_wrong_link_and_a_node_serving_another_manifest_are_refused(tmp_path: Path) -> None:
    need_browser()
    c = LocalCluster(tmp_path / "run", tokens=2, salary_max=100_000)
    c.setup()
    link = (c.survey_dir / "links.txt").read_text().split()[0]
    page_url, fragment = link.split("#")
    mh = hashlib.sha256(c.manifest.read_bytes()).hexdigest()
    # node 2 gets a survey of the same id with another title: it serves another manifest
    other = tmp_path / "other"
    run([tool("salary-analyst"), "create", "--out", str(other), "--survey-id", c.survey_id, "--title", "Another survey",
         "--tokens", "2", "--closes-in", "14d", *[a for d in c.node_dirs for a in ("--node", str(d / "node.json"))]],
        quiet=True)
    (c.node_dirs[2] / "node.db").unlink()
    shutil.rmtree(c.node_dirs[2] / "pages", ignore_errors=True)
    run([tool("mpc-node"), "init", "--dir", str(c.node_dirs[2]), "--bundle", str(other / "node-bundle.json")], quiet=True)
    other_hash = hashlib.sha256((other / "manifest.json").read_bytes()).hexdigest()
    c.start_all()
    try:
        with browser_context(c.manifest) as context:
            wrong = "0" * 64
            page = open_page(context, page_url + "#" + fragment.replace(f"m={mh}", f"m={wrong}"))
            assert error_text(page) == (f"refusing to submit: this link is for manifest {wrong[:16]}…, but "
                                        f"{page_url.removesuffix('page/')}manifest serves manifest {mh[:16]}…")
            assert page.locator("#employee-form").count() == 0
            page = open_page(context, link)
            assert error_text(page) == (f"refusing to submit: not every node serves the manifest you loaded "
                                        f"({mh[:16]}…): node2 ({c.node_url(2)}) serves manifest {other_hash[:16]}…")
            assert page.locator("#employee-form").count() == 0
            shot(page, "page-refused.png")
    finally:
        c.stop_all()


@contextmanager
def organiser_site(directory: Path, port: int, work: Path) -> Iterator[str]:
    """``directory`` served over HTTPS at https://127.0.0.1:``port`` (a self-signed certificate):
    the organiser's own copy of the page. Yields the certificate's SPKI pin."""
    import datetime as dt
    import functools
    import http.server
    import ipaddress
    import ssl
    import threading

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "organiser site")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .sign(key, hashes.SHA256()))
    (work / "site.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (work / "site.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(work / "site.pem", work / "site.key")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    try:
        yield base64.b64encode(hashlib.sha256(der).digest()).decode()
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_the_organisers_copy_of_the_page_submits_to_the_nodes(tmp_path: Path) -> None:
    """The page's two files from ``survey/page/`` served by the organiser's own site (an origin
    the manifest lists in ``web_origins``): the link names the survey and a node, and the nodes
    take the answer from that origin."""
    need_browser()
    from demo.cluster import free_ports
    from protocol.manifest import load_manifest

    port = free_ports(1)[0]
    origin = f"https://127.0.0.1:{port}"
    c = LocalCluster(tmp_path / "run", tokens=2, salary_max=100_000, create_args=("--web-origin", origin))
    c.setup()
    m = load_manifest(c.manifest)
    assert m.web_origins == (origin,)
    fragment = (c.survey_dir / "links.txt").read_text().split()[0].split("#")[1]
    link = f"{origin}/index.html#{fragment}&s={m.survey_id}&n={c.node_url(0)}"
    c.start_all()
    try:
        with organiser_site(c.survey_dir / "page", port, tmp_path) as pin, browser_context(c.manifest, (pin,)) as context:
            page = open_page(context, link)
            page.wait_for_selector("#employee-form")
            page.select_option("#gender", "female")
            page.fill("#basic", "4100")
            page.click("#submit")
            receipt = download_receipt(page)
            assert page.errors == []
        assert receipt["complete"] is True and [a["status"] for a in receipt["acks"]] == ["stored"] * 3
        out = release(c, tmp_path / "r.json")
    finally:
        c.stop_all()
    assert out["submissions"] == {"accepted": 1, "rejected": 0}
    assert {g["gender"]: g["count"] for g in out["groups"]} == {"female": 1, "male": 0, "other": 0}


def test_the_committed_page_is_what_the_sources_build(tmp_path: Path) -> None:
    """``npm run build`` of web/page/ gives the committed analyst/webpage/ files byte for byte."""
    node = shutil.which("node")
    if node is None or not (WEB / "node_modules" / "esbuild").is_dir():
        why = "Node.js or web/node_modules (npm ci --prefix web) is missing: the page cannot be built"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    script = ("import { buildPage } from './build.js'; import { writeFileSync } from 'node:fs';"
              "const p = await buildPage(); writeFileSync(process.argv[1] + '/salary-page.js', p.script);"
              "writeFileSync(process.argv[1] + '/index.html', p.html);")
    subprocess.run([node, "--input-type=module", "-e", script, str(tmp_path)], cwd=WEB, check=True, timeout=120)
    for name in ("salary-page.js", "index.html"):
        assert (tmp_path / name).read_bytes() == (PAGE / name).read_bytes(), f"analyst/webpage/{name} is stale: npm run build"
    html = (PAGE / "index.html").read_text()
    sri = base64.b64encode(hashlib.sha256((PAGE / "salary-page.js").read_bytes()).digest()).decode()
    assert f'<script type="module" src="salary-page.js" integrity="sha256-{sri}" crossorigin="anonymous">' in html
    assert "<script>" not in html and not re.search(r"https?://", html), "no inline script, nothing from another host"
