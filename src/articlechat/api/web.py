"""The demo page (``GET /``: an article with the chat widget under it) and the widget's script (``GET /widget.js``)."""

from __future__ import annotations

from html import escape
from pathlib import Path
from string import Template

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.staticfiles import NotModifiedResponse, StaticFiles

from articlechat.ingest import BUNDLED_SOURCE, bundled_article
from articlechat.ingest.load import LoadedDocument
from articlechat.store import ArticleStore

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
WIDGET_CACHE = "public, max-age=3600, stale-while-revalidate=86400"
# The demo page runs no inline script: even if some text slipped through unescaped it could not execute.
DEMO_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; "
            "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'")
EMPTY_STORE = LoadedDocument(
    id="", title="No articles yet",
    text="Ingest one with `articlechat ingest FILE` (or POST /api/documents), then reload this page.",
)

DEMO_TEMPLATE = Template((WEB_DIR / "demo.html").read_text(encoding="utf-8"))

router = APIRouter(include_in_schema=False)
_static = StaticFiles(directory=WEB_DIR)  # for its conditional-request (ETag / If-None-Match) logic


@router.get("/widget.js")
def widget_js(request: Request) -> Response:
    """The chat widget, cacheable and revalidated by ETag; loadable as a script from any origin."""
    path = WEB_DIR / "widget.js"
    response = FileResponse(path, stat_result=path.stat(), media_type="text/javascript; charset=utf-8", headers={
        "Cache-Control": WIDGET_CACHE, "Cross-Origin-Resource-Policy": "cross-origin",
    })  # given the stat, the ETag and Last-Modified headers are set before the conditional check
    if _static.is_not_modified(response.headers, request.headers):
        return NotModifiedResponse(response.headers)
    return response


@router.get("/")
def demo_page(request: Request) -> HTMLResponse:
    """An article from the store (the bundled one when present) with the widget embedded, scoped to it."""
    page = render_demo(demo_document(request.app.state.articlechat.store), str(request.base_url).rstrip("/"))
    return HTMLResponse(page, headers={"Content-Security-Policy": DEMO_CSP, "Cache-Control": "no-cache"})


def render_demo(doc: LoadedDocument, base_url: str) -> str:
    """The demo page's HTML: every piece of ``doc`` escaped, the widget served from ``base_url``."""
    return DEMO_TEMPLATE.substitute(
        title=escape(doc.title or doc.id),
        byline=f'<p class="byline">By {escape(doc.author)}</p>' if doc.author else "",
        paragraphs="\n".join(f"<p>{escape(p)}</p>" for p in body_paragraphs(doc)),
        snippet=escape(embed_snippet(base_url)),
        widget=embed_snippet(doc=doc.id),  # relative: right behind any proxy
    )


def demo_document(store: ArticleStore) -> LoadedDocument:
    """The bundled article when it is in the store, else the first stored document, else a placeholder."""
    if store.has_source(BUNDLED_SOURCE):
        return bundled_article()
    for info in store.documents()[:1]:
        return LoadedDocument(info.id, store.document_text(info.id), info.title, info.author)
    return EMPTY_STORE


def body_paragraphs(doc: LoadedDocument) -> list[str]:
    """The document's paragraphs without the title and byline the page shows as headings."""
    shown = {doc.title, f"By {doc.author}"}
    return [p for p in doc.text.split("\n\n") if p.strip() and p not in shown]


def embed_snippet(base_url: str = "", **attributes: str) -> str:
    """The ``<script>`` tag embedding the widget served at ``base_url`` (default: the page's own server), with
    optional ``data-*`` attributes."""
    attributes = {"articlechat-url": base_url, **attributes}
    data = "".join(f' data-{name}="{escape(value)}"' for name, value in attributes.items() if value)
    return f'<script src="{escape(base_url)}/widget.js"{data} async></script>'
