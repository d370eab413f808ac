"""Pages for people: the admin page (``/admin``) and the API documentation (``/docs``), whose Swagger UI assets are
served from the installed ``fastapi-offline`` package rather than a CDN, so they work offline."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from articlechat.api.web import WEB_DIR
from articlechat.errors import NotFound

router = APIRouter(include_in_schema=False)
DOCS_ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
ASSETS = {"swagger-ui-bundle.js": "text/javascript; charset=utf-8", "swagger-ui.css": "text/css; charset=utf-8",
          "favicon.png": "image/png"}
ASSET_CACHE = "public, max-age=86400"
# The admin page runs only its own script (no inline script), talks only to this server, and is never framed.
ADMIN_CSP = ("default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; "
             "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
PAGE_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


@router.get("/admin")
def admin_page() -> FileResponse:
    """The admin page: documents (list, add, remove) and the reader-question report, with the admin key."""
    return FileResponse(WEB_DIR / "admin.html", media_type="text/html; charset=utf-8",
                        headers={**PAGE_HEADERS, "Content-Security-Policy": ADMIN_CSP})


@router.get("/admin.js")
def admin_script() -> FileResponse:
    """The admin page's script."""
    return FileResponse(WEB_DIR / "admin.js", media_type="text/javascript; charset=utf-8", headers=PAGE_HEADERS)


@router.get("/docs")
def api_docs(request: Request) -> HTMLResponse:
    """Swagger UI over ``/openapi.json``, its assets from this server."""
    root = request.scope.get("root_path", "")
    return get_swagger_ui_html(openapi_url=f"{root}{request.app.openapi_url}", title="articlechat API",
                               swagger_js_url=f"{root}/docs/assets/swagger-ui-bundle.js",
                               swagger_css_url=f"{root}/docs/assets/swagger-ui.css",
                               swagger_favicon_url=f"{root}/docs/assets/favicon.png")


@router.get("/docs/assets/{name}")
def docs_asset(name: str) -> FileResponse:
    """One of the Swagger UI files."""
    if name not in ASSETS:
        raise NotFound(f"No documentation asset '{name[:100]}'.")
    return FileResponse(DOCS_ASSETS / name, media_type=ASSETS[name], headers={"Cache-Control": ASSET_CACHE})
