"""The survey's browser page at a node: kept at ``mpc-node init``, served by ``mpc-node serve``.

``init`` checks the page the organiser's bundle carries against the manifest's pin
(``web_page_sha256``) before importing anything, then keeps both files under
``<node dir>/pages/<survey id>/``.  The server answers

- ``GET /v1/surveys/{id}/page/``: ``index.html`` under a strict Content-Security-Policy (scripts
  from the node only, no inline script, connections only to the survey's nodes);
- ``GET /v1/surveys/{id}/page``: a redirect there;
- ``GET /v1/surveys/{id}/page/salary-page.js``: the script, only while its SHA-256 is the
  manifest's (a file altered on disk is refused, never served).

A survey without a page answers 404 on all three.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse, RedirectResponse, Response

from protocol.errors import InvalidWebPage
from protocol.manifest import Manifest, manifest_from_json, page_origin
from protocol.webpage import BUNDLE_KEY, HTML_FILE, SCRIPT_FILE, WebPage, sha256_hex

from .store import NodeStore

PAGES_DIR = "pages"


def page_dir(node_dir: Path, survey_id: str) -> Path:
    return node_dir / PAGES_DIR / survey_id


def bundled_page(bundle: Any) -> WebPage | None:
    """The page a survey bundle carries, checked against the manifest's pin; None when the
    manifest pins none.  Raises :class:`InvalidWebPage` on a mismatch, a missing or an unexpected
    page (a bundle that is not a survey bundle is left to the import to refuse)."""
    if not isinstance(bundle, dict) or "manifest" not in bundle:
        return None
    manifest = manifest_from_json(bundle["manifest"])
    if BUNDLE_KEY not in bundle:
        if manifest.web_page_sha256:
            raise InvalidWebPage(f"the manifest pins a page ({SCRIPT_FILE} SHA-256 {manifest.web_page_sha256}) "
                                 "but the bundle carries none")
        return None
    page = WebPage.from_bundle(bundle[BUNDLE_KEY])
    page.check_pinned(manifest.web_page_sha256)
    return page


def keep_page(node_dir: Path, survey_id: str, page: WebPage) -> None:
    """Store the page's files in the node directory (replacing an earlier import's)."""
    page.save(page_dir(node_dir, survey_id))


def content_security_policy(manifest: Manifest) -> str:
    """The page's policy: its script and workers from the node only, no inline script, no
    plugins or frames, and connections only to the survey's nodes (where it uploads)."""
    nodes = " ".join(dict.fromkeys(page_origin(nd.browser_url) for nd in manifest.nodes))
    return ("default-src 'none'; script-src 'self'; worker-src 'self' blob:; "
            f"connect-src {nodes}; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self'; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


#: Headers of every page answer: no MIME sniffing, no referrer, no framing, no shared window.
SAFE_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                "X-Frame-Options": "DENY", "Cross-Origin-Opener-Policy": "same-origin"}
#: The script's cache policy: its content is fixed by the manifest for the survey's life.
SCRIPT_CACHE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class PageFile:
    data: bytes
    sha256: str


class PageFiles:
    """The page files of a node directory, read and hashed once per change on disk (thread-safe)."""

    def __init__(self, node_dir: Path) -> None:
        self.node_dir = node_dir
        self._lock = threading.Lock()
        self._read: dict[Path, tuple[tuple[int, int, int], PageFile]] = {}

    def read(self, survey_id: str, name: str) -> PageFile | None:
        """The file as it is on disk now, or None when the survey has no page here."""
        path = page_dir(self.node_dir, survey_id) / name
        try:
            st = os.stat(path)
        except OSError:
            return None
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
        with self._lock:
            cached = self._read.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
        try:
            data = path.read_bytes()
        except OSError:
            return None
        file = PageFile(data, sha256_hex(data))
        with self._lock:
            self._read[path] = (key, file)
        return file


def _no_page(survey_id: str) -> Response:
    return PlainTextResponse(f"survey {survey_id} has no browser page on this node", status_code=404,
                             headers=SAFE_HEADERS)


def add_page_routes(app: FastAPI, store: NodeStore, node_dir: Path) -> None:
    """The page's three routes (see the module docstring)."""
    files = PageFiles(node_dir)

    @app.get("/v1/surveys/{survey_id}/page", include_in_schema=False)
    def page_redirect(survey_id: str) -> Response:
        # Relative, so that it holds behind a proxy that serves the node under a path.
        return RedirectResponse("page/", status_code=308)

    @app.get("/v1/surveys/{survey_id}/page/", include_in_schema=False)
    def page_html(survey_id: str) -> Response:
        m = store.survey(survey_id).manifest
        html = files.read(survey_id, HTML_FILE) if m.web_page_sha256 else None
        if html is None:
            return _no_page(survey_id)
        return Response(html.data, media_type="text/html; charset=utf-8",
                        headers={**SAFE_HEADERS, "Content-Security-Policy": content_security_policy(m),
                                 "Cache-Control": "no-cache"})

    @app.get(f"/v1/surveys/{{survey_id}}/page/{SCRIPT_FILE}", include_in_schema=False)
    def page_script(survey_id: str) -> Response:
        m = store.survey(survey_id).manifest
        script = files.read(survey_id, SCRIPT_FILE) if m.web_page_sha256 else None
        if script is None:
            return _no_page(survey_id)
        if script.sha256 != m.web_page_sha256:
            # Not a refusal of the request: this node's copy is not the pinned one.
            return PlainTextResponse(f"this node's {SCRIPT_FILE} is not the one the manifest pins; the node operator "
                                     "must import the survey bundle again", status_code=500, headers=SAFE_HEADERS)
        return Response(script.data, media_type="text/javascript; charset=utf-8",
                        headers={**SAFE_HEADERS, "Cache-Control": SCRIPT_CACHE,
                                 "ETag": f'"{m.web_page_sha256}"'})
