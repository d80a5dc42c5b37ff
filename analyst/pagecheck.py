"""``salary-analyst check-page``: what every node serves as the survey's browser page.

Each node is asked (pinned TLS, as for every analyst command, and at its ``web_url`` as a browser
asks, when it has one) for the page's HTML and script;
the HTML must be the survey's own copy (``page/index.html``, byte for byte: the manifest does not
pin it, so this is how an organiser learns that a node serves other HTML), the script the one the
manifest pins, and the HTML must come with a Content-Security-Policy that allows scripts from the
node only.
"""

from __future__ import annotations

import hashlib
import ssl
from dataclasses import dataclass
from pathlib import Path

import httpx

from protocol.errors import InvalidWebPage, SurveyError
from protocol.manifest import Manifest, load_manifest
from protocol.webpage import HTML_FILE, SCRIPT_FILE, WebPage
from protocol.wire import error_detail

from .nodes import NodeClients, each_node
from .survey import MANIFEST_FILE, PAGE_DIR


@dataclass(frozen=True)
class NodePage:
    """One node's answer: ``problems`` empty when it serves the survey's page as pinned."""

    index: int
    name: str
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def survey_page(survey_dir: Path) -> tuple[Manifest, WebPage]:
    """The survey's manifest and its own copy of the page, which must be the pinned one."""
    manifest = load_manifest(survey_dir / MANIFEST_FILE)
    if not manifest.web_page_sha256:
        raise SurveyError(f"survey {manifest.survey_id} has no browser page (created with --no-web-page or "
                          "without a packaged page)")
    page = WebPage.from_dir(survey_dir / PAGE_DIR)
    if page.script_sha256() != manifest.web_page_sha256:
        raise InvalidWebPage(f"the survey's own {PAGE_DIR}/{SCRIPT_FILE} has SHA-256 {page.script_sha256()}, the "
                             f"manifest pins {manifest.web_page_sha256}")
    return manifest, page


def _refused(resp: httpx.Response) -> str:
    """A node's refusal in one line: JSON's detail, else the status and the first line of text."""
    if resp.headers.get("content-type", "").startswith("application/json"):
        return error_detail(resp)
    first = resp.text.strip().splitlines()[0][:200] if resp.text.strip() else ""
    return f"HTTP {resp.status_code}" + (f" ({first})" if first else "")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def node_page(nodes: NodeClients, page: WebPage, j: int, browser_trust: ssl.SSLContext) -> NodePage:
    """Node j's page against the survey's copy and the manifest's pin: at its ``url`` (pinned
    TLS) and, when it has one, at its ``web_url`` as a browser gets it (``browser_trust``: the
    certificate authorities a browser trusts)."""
    m = nodes.manifest
    node = m.nodes[j]
    try:
        problems = _compared(nodes.request(j, "GET", "page/", retries=1),
                             nodes.request(j, "GET", f"page/{SCRIPT_FILE}", retries=1), page, m.web_page_sha256)
    except SurveyError as exc:
        problems = [str(exc)]
    if node.web_url:
        base = f"{node.web_url}/v1/surveys/{m.survey_id}/page/"
        try:
            with httpx.Client(verify=browser_trust, timeout=nodes.timeout) as browser:
                seen = _compared(browser.get(base), browser.get(base + SCRIPT_FILE), page, m.web_page_sha256)
        except httpx.HTTPError as exc:
            seen = [f"unreachable with a browser-trusted certificate ({exc.__class__.__name__}: {exc})"]
        problems += [f"at {node.web_url}: {p}" for p in seen]
    return NodePage(j, node.name, tuple(problems))


def _compared(html: httpx.Response, script: httpx.Response, page: WebPage, pin: str) -> list[str]:
    """What differs between the served HTML and script and the survey's copy and pin."""
    problems: list[str] = []
    if html.status_code != 200:
        problems.append(f"{HTML_FILE}: {_refused(html)}")
    elif html.content != page.html:
        problems.append(f"{HTML_FILE} is not the survey's copy (SHA-256 {_sha(html.content)}, the survey's "
                        f"{_sha(page.html)})")
    elif "script-src 'self'" not in html.headers.get("content-security-policy", ""):
        problems.append(f"{HTML_FILE} comes without a Content-Security-Policy limiting scripts to the node")
    if script.status_code != 200:
        problems.append(f"{SCRIPT_FILE}: {_refused(script)}")
    elif _sha(script.content) != pin:
        problems.append(f"{SCRIPT_FILE} has SHA-256 {_sha(script.content)}, the manifest pins {pin}")
    return problems


def check_pages(survey_dir: Path, browser_trust: ssl.SSLContext | None = None) -> tuple[Manifest, list[NodePage]]:
    """Every node's page, the nodes asked at once; ``browser_trust`` defaults to the system's
    certificate authorities."""
    manifest, page = survey_page(survey_dir)
    trust = browser_trust or ssl.create_default_context()
    with NodeClients(manifest) as nodes:
        return manifest, each_node(manifest, lambda j: node_page(nodes, page, j, trust))
