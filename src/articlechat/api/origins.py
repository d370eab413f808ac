"""Browser requests from origins that the CORS settings do not allow are logged, once per origin, with the origin
and the setting that allows it: the browser refuses them to the page, so without this nothing says why a widget
cannot talk to the server."""

from __future__ import annotations

import logging
from typing import Any

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("articlechat.api")
MAX_LOGGED = 1000  # origins remembered; past that (a client making origins up) no more are logged


class RefusedOriginLog:
    """Logs the first request from each origin that ``cors_options`` (see ``api.security.cors_options``) refuses."""

    def __init__(self, app: ASGIApp, **cors_options: Any) -> None:
        self.app = app
        self._rules = CORSMiddleware(app, **cors_options)  # the same allowlist the CORS middleware applies
        self._logged: set[str] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = Headers(scope=scope)
            origin = headers.get("origin")
            if origin and origin not in self._logged and self.refused(origin, scope["scheme"], headers.get("host")):
                self._note(origin)
        await self.app(scope, receive, send)

    def refused(self, origin: str, scheme: str, host: str | None) -> bool:
        """Whether a browser request from ``origin`` to this server (``scheme``://``host``) is refused."""
        return origin != f"{scheme}://{host}" and not self._rules.is_allowed_origin(origin)

    def _note(self, origin: str) -> None:
        if len(self._logged) >= MAX_LOGGED:
            return
        self._logged.add(origin)
        log.warning("refused browser requests from origin %s (CORS): it is not in ARTICLECHAT_CORS_ORIGINS; add it "
                    "there (comma-separated, e.g. %s) and restart, to let pages on that origin use the widget",
                    origin[:200], origin[:200])
        if len(self._logged) == MAX_LOGGED:
            log.warning("%d refused origins logged; further ones are not", MAX_LOGGED)
