"""The admin page (`/admin`) in a real browser against a real server: the key, documents (list, add from a file or a
URL, remove) and the reader-question report; and `/docs`, whose assets the server itself serves."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright import sync_api

import test_widget

# The widget tests' server (bundled article, admin key, page fetches from 127.0.0.1), publisher site and browser.
publisher = test_widget.publisher
server = test_widget.server
browser = test_widget.browser
context = test_widget.context
ADMIN_KEY = test_widget.ADMIN_KEY
DEMO_DOC = test_widget.DEMO_DOC
WEB_PAGES = Path(__file__).parent / "data" / "web"
HARBOUR = """# The Harbour Festival

The Harbour Festival returns to Port Ellery this summer with three days of music on the quay.
"""


@pytest.fixture
def page(context: sync_api.BrowserContext) -> sync_api.Page:
    """A page that accepts every confirm() (the admin page asks before removing a document)."""
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    return page


@pytest.fixture(scope="module")
def asked(server: str) -> Iterator[str]:
    """Readers' questions about the bundled article, one answer marked unhelpful."""
    for question in ("Who wrote the article?", "Who is the author of the article?", "What is the GDP of South Korea?"):
        answer = test_widget.ask_stream(server, question, doc=DEMO_DOC)
    httpx.post(f"{server}/api/feedback", json={"session_id": answer["session_id"],
                                               "exchange_id": answer["exchange_id"], "value": "down"})
    yield server


def rows(page: sync_api.Page) -> sync_api.Locator:
    return page.locator("#documents tr")


def test_key_documents_upload_report_and_remove(asked: str, publisher: test_widget.Publisher, page: sync_api.Page,
                                                tmp_path: Path, browser: sync_api.Browser) -> None:
    server = asked
    response = page.goto(f"{server}/admin")
    assert response and "script-src 'self'" in response.headers["content-security-policy"]
    status = page.get_by_role("status").first
    key = page.get_by_label("Admin key")
    key.fill("not-the-key")
    key.press("Enter")
    sync_api.expect(status).to_contain_text("Missing or wrong API key")
    sync_api.expect(key).to_be_visible()

    key.fill(ADMIN_KEY)
    page.get_by_role("button", name="Use key").click()
    sync_api.expect(page.locator(f'#documents tr[data-doc="{DEMO_DOC}"]')).to_contain_text("Russia and North Korea")
    report = page.locator(f'#report article[data-doc="{DEMO_DOC}"]')
    sync_api.expect(report.locator("table.questions").first).to_contain_text("Who wrote the article?")
    sync_api.expect(report).to_contain_text("also: Who is the author of the article?")
    sync_api.expect(report.locator("table.questions").nth(1)).to_contain_text("What is the GDP of South Korea?")
    sync_api.expect(report.locator(".unhelpful")).to_contain_text("What is the GDP of South Korea?")
    before = rows(page).count()

    upload = tmp_path / "harbour.md"
    upload.write_text(HARBOUR)
    page.get_by_label("File (.txt, .md, .html)").set_input_files(upload)
    page.get_by_label("Id (optional)").fill("harbour-festival")
    page.get_by_role("button", name="Upload").click()
    sync_api.expect(status).to_have_text("harbour-festival: added.")
    sync_api.expect(page.locator('#documents tr[data-doc="harbour-festival"]')).to_contain_text("The Harbour Festival")

    publisher.pages["/2026/11/03/tidal-lagoon-approved"] = (WEB_PAGES / "harbor-times.html").read_text()
    page.get_by_label("Article URL").fill(f"{publisher.origin}/2026/11/03/tidal-lagoon-approved")
    page.get_by_role("button", name="Fetch and add").click()
    sync_api.expect(status).to_have_text(re.compile(r": added\.$"))
    sync_api.expect(rows(page)).to_have_count(before + 2)
    sync_api.expect(page.locator("#documents")).to_contain_text("Tidal lagoon wins approval")

    page.get_by_label("Document", exact=True).select_option(DEMO_DOC)
    page.get_by_role("button", name="Show report").click()
    sync_api.expect(page.locator("#report article")).to_have_count(1)
    page.screenshot(path=str(test_widget.ARTIFACTS / "admin.png"), full_page=True)

    page.get_by_role("button", name="Remove harbour-festival").click()
    sync_api.expect(page.locator('#documents tr[data-doc="harbour-festival"]')).to_have_count(0)
    sync_api.expect(status).to_contain_text("Removed harbour-festival")
    listed = httpx.get(f"{server}/api/documents", headers={"Authorization": f"Bearer {ADMIN_KEY}"}).json()
    assert "harbour-festival" not in {d["id"] for d in listed}

    page.reload()  # the key is kept for this tab
    sync_api.expect(rows(page)).to_have_count(before + 1)
    other = browser.new_context().new_page()  # but not beyond it
    other.goto(f"{server}/admin")
    sync_api.expect(other.get_by_label("Admin key")).to_be_visible()
    other.context.close()
    page.get_by_role("button", name="Forget key").click()
    sync_api.expect(page.get_by_label("Admin key")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


def test_docs_work_offline(server: str, page: sync_api.Page) -> None:
    html = httpx.get(f"{server}/docs").text
    assert "/docs/assets/swagger-ui-bundle.js" in html and "cdn." not in html
    for asset, kind in (("swagger-ui-bundle.js", "text/javascript"), ("swagger-ui.css", "text/css")):
        response = httpx.get(f"{server}/docs/assets/{asset}")
        assert response.status_code == 200 and response.headers["content-type"].startswith(kind)
    assert httpx.get(f"{server}/docs/assets/..%2Fcore.py").status_code == 404
    outside: list[str] = []
    page.route(re.compile(r"^(?!http://127\.0\.0\.1).*"), lambda route: (outside.append(route.request.url),
                                                                       route.abort()))
    page.goto(f"{server}/docs")
    sync_api.expect(page.locator(".swagger-ui .info .title")).to_contain_text("articlechat")
    sync_api.expect(page.get_by_text("/api/feedback").first).to_be_visible()
    assert outside == []
