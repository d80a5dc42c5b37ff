"""Cross-origin access for browsers: only to what the survey's page needs, only for its origins.

Three routes answer a page served from another origin: ``GET …/manifest``, ``POST
…/submissions`` and ``POST …/batches`` (and their ``OPTIONS`` preflight).  An origin is allowed
when it is one of the survey's :meth:`~protocol.manifest.Manifest.browser_origins` (every
node's page origin and the manifest's ``web_origins``); the answer then names it in
``Access-Control-Allow-Origin``.  Every other route, and every other origin, gets no CORS header,
so a browser keeps other sites' pages from reading any answer of the node.

:class:`BrowserCors` is the outermost middleware, so that the guard's own answers (429, 503,
413 with ``Retry-After``) reach an allowed page too; it only adds headers once an answer starts.
The preflight itself is an ordinary route behind the guard (:func:`add_preflight_routes`): it
needs no token, reads no body and writes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import Enum

from fastapi import FastAPI
from fastapi.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from protocol.errors import SurveyError


class CorsRoute(Enum):
    """The routes a page may call across origins, each with the one method it may use."""

    MANIFEST = ("manifest", "GET")
    SUBMISSIONS = ("submissions", "POST")
    BATCHES = ("batches", "POST")

    @property
    def method(self) -> str:
        return self.value[1]


_ROUTE = re.compile(r"^/v1/surveys/([^/]+)/(manifest|submissions|batches)$")
_BY_NAME = {r.value[0]: r for r in CorsRoute}
#: request headers a page sends besides the CORS-safelisted ones (uploads are JSON or binary)
ALLOWED_HEADERS = "content-type"
#: answer headers a page may read besides the safelisted ones (when to retry a deferral)
EXPOSED_HEADERS = "retry-after"
#: seconds a browser may keep a preflight's answer
PREFLIGHT_MAX_AGE = "600"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class BrowserCors:
    """ASGI middleware adding the CORS headers of the module docstring.  ``origins(survey_id)``:
    the survey's allowed origins (raises :class:`SurveyError` for an unknown survey)."""

    def __init__(self, app: ASGIApp, origins: Callable[[str], tuple[str, ...]]) -> None:
        self.app, self.origins = app, origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _ROUTE.match(str(scope.get("path", ""))) if scope["type"] == "http" else None
        if match is None:
            await self.app(scope, receive, send)
            return
        route, method = _BY_NAME[match.group(2)], str(scope.get("method", ""))
        preflight = method == "OPTIONS"
        wanted = _header(scope, b"access-control-request-method") if preflight else method
        origin = _header(scope, b"origin")
        survey_id = match.group(1)

        async def with_headers(msg: Message) -> None:
            if msg["type"] == "http.response.start":
                headers = _vary_origin(list(msg.get("headers", [])))
                if origin is not None and wanted == route.method and self._allowed(survey_id, origin):
                    headers += _cors_headers(origin, route, preflight)
                msg = {**msg, "headers": headers}
            await send(msg)

        await self.app(scope, receive, with_headers)

    def _allowed(self, survey_id: str, origin: str) -> bool:
        try:
            return origin in self.origins(survey_id)
        except SurveyError:
            return False


def _vary_origin(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` with ``origin`` added to ``Vary``: the answer differs by the request's Origin."""
    vary = [v for k, v in headers if k.lower() == b"vary"]
    rest = [(k, v) for k, v in headers if k.lower() != b"vary"]
    return rest + [(b"vary", b", ".join([*vary, b"origin"]))]


def _cors_headers(origin: str, route: CorsRoute, preflight: bool) -> list[tuple[bytes, bytes]]:
    out = [(b"access-control-allow-origin", origin.encode("latin-1"))]
    if preflight:
        out += [(b"access-control-allow-methods", route.method.encode()),
                (b"access-control-allow-headers", ALLOWED_HEADERS.encode()),
                (b"access-control-max-age", PREFLIGHT_MAX_AGE.encode())]
    else:
        out.append((b"access-control-expose-headers", EXPOSED_HEADERS.encode()))
    return out


def add_preflight_routes(app: FastAPI) -> None:
    """``OPTIONS`` on the three routes: an empty 204 (:class:`BrowserCors` adds the headers for
    an allowed origin).  Nothing is looked up, read or written."""

    def preflight() -> Response:
        return Response(status_code=204)

    for route in CorsRoute:
        app.add_api_route(f"/v1/surveys/{{survey_id}}/{route.value[0]}", preflight, methods=["OPTIONS"],
                          include_in_schema=False)
