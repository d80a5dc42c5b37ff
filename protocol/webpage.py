"""The survey's browser page as the organiser pins it and every node serves it.

Two files: ``index.html`` and the script it loads, ``salary-page.js``.  The manifest pins the
script's SHA-256 (``web_page_sha256``); the HTML loads it by a relative URL with Subresource
Integrity, so a browser runs only the pinned script under that HTML.  The HTML itself is not
pinned by the manifest (an organiser checks it with ``salary-analyst check-page``).  The node
bundle carries both files (:meth:`WebPage.to_bundle`, :meth:`WebPage.from_bundle`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from .errors import InvalidWebPage

HTML_FILE = "index.html"
SCRIPT_FILE = "salary-page.js"
#: the node bundle's key holding the page, and that object's keys (base64 of each file)
BUNDLE_KEY = "web_page"
_BUNDLE_FIELDS = ("index_html", "salary_page_js")
#: the largest page file a bundle may carry (the page and its libraries, minified)
MAX_FILE_BYTES = 8 << 20
#: script types a browser does not run (data blocks): allowed inline
_DATA_BLOCK_SUFFIXES = ("json",)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def integrity_of(script: bytes) -> str:
    """The Subresource Integrity value of ``script``: ``sha256-`` and the base64 digest."""
    return "sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode()


@dataclass(frozen=True)
class WebPage:
    """The page's two files, as bytes."""

    html: bytes
    script: bytes

    def script_sha256(self) -> str:
        return sha256_hex(self.script)

    def check(self) -> None:
        """Raise :class:`InvalidWebPage` unless ``index.html`` loads ``salary-page.js`` with
        the script's own integrity and holds nothing the nodes' Content-Security-Policy blocks
        (inline scripts, event-handler attributes, other scripts)."""
        if len(self.html) > MAX_FILE_BYTES or len(self.script) > MAX_FILE_BYTES:
            raise InvalidWebPage(f"the page's files must be at most {MAX_FILE_BYTES >> 20} MiB each")
        try:
            text = self.html.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidWebPage(f"{HTML_FILE} is not UTF-8") from None
        scan = _ScriptScan()
        scan.feed(text)
        scan.close()
        if scan.problem:
            raise InvalidWebPage(f"{HTML_FILE} {scan.problem}, which the nodes' Content-Security-Policy blocks")
        want = integrity_of(self.script)
        if scan.loaded != [want]:
            found = ", ".join(f"integrity={i!r}" for i in scan.loaded) or "no such script tag"
            raise InvalidWebPage(f"{HTML_FILE} must load {SCRIPT_FILE} once with integrity=\"{want}\" (the SHA-256 "
                                 f"of the {SCRIPT_FILE} beside it); found {found}")

    def check_pinned(self, sha256: str) -> None:
        """Raise :class:`InvalidWebPage` unless the script is the one the manifest pins and
        :meth:`check` passes."""
        if not sha256:
            raise InvalidWebPage("the manifest pins no page (no web_page_sha256), but a page came with it")
        if self.script_sha256() != sha256:
            raise InvalidWebPage(f"{SCRIPT_FILE} has SHA-256 {self.script_sha256()}, the manifest pins {sha256}")
        self.check()

    @staticmethod
    def from_dir(path: Path) -> WebPage:
        """The two files of directory ``path`` (checked with :meth:`check`)."""
        try:
            page = WebPage((path / HTML_FILE).read_bytes(), (path / SCRIPT_FILE).read_bytes())
        except OSError as exc:
            raise InvalidWebPage(f"{path} must hold {HTML_FILE} and {SCRIPT_FILE} ({exc.strerror or exc}: "
                                 f"{exc.filename})") from None
        page.check()
        return page

    def save(self, path: Path) -> None:
        """Write both files into directory ``path`` (created if needed)."""
        path.mkdir(parents=True, exist_ok=True)
        (path / HTML_FILE).write_bytes(self.html)
        (path / SCRIPT_FILE).write_bytes(self.script)

    def to_bundle(self) -> dict[str, str]:
        return dict(zip(_BUNDLE_FIELDS, (base64.b64encode(f).decode() for f in (self.html, self.script))))

    @staticmethod
    def from_bundle(obj: Any) -> WebPage:
        """Parse a bundle's ``web_page`` object (strict: exactly its two base64 fields)."""
        if not isinstance(obj, dict) or set(obj) != set(_BUNDLE_FIELDS) \
                or not all(isinstance(v, str) for v in obj.values()):
            raise InvalidWebPage(f"survey bundle: {BUNDLE_KEY} must be an object with the base64 fields "
                                 + " and ".join(_BUNDLE_FIELDS))
        try:
            html, script = (base64.b64decode(obj[k], validate=True) for k in _BUNDLE_FIELDS)
        except (binascii.Error, ValueError):
            raise InvalidWebPage(f"survey bundle: {BUNDLE_KEY} holds a field that is not base64") from None
        return WebPage(html, script)


class _ScriptScan(HTMLParser):
    """The integrity values of the script tags that load ``salary-page.js``, and the first thing
    a strict Content-Security-Policy would block."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.loaded: list[str] = []
        self.problem = ""
        self._inline = False  # inside a <script> without src that a browser would run

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = {k.lower(): v or "" for k, v in attrs}
        handler = next((k for k in named if k.startswith("on")), None)
        if handler and not self.problem:
            self.problem = f"has an inline event handler ({handler} on <{tag}>)"
        if tag != "script":
            return
        src = named.get("src")
        if src is None:
            self._inline = not named.get("type", "").lower().endswith(_DATA_BLOCK_SUFFIXES)
        elif src in (SCRIPT_FILE, "./" + SCRIPT_FILE):
            self.loaded.append(named.get("integrity", ""))
        elif not self.problem:
            self.problem = f"loads another script ({src!r}; the nodes serve only {SCRIPT_FILE})"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._inline = False

    def handle_data(self, data: str) -> None:
        if self._inline and data.strip() and not self.problem:
            self.problem = "has an inline script"
