"""The chat widget and demo page in a real browser (Debian's Chromium via Playwright) against a real server."""

from __future__ import annotations

import json
import re
import shutil
import sys
import threading
from collections.abc import Iterator
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from playwright import sync_api

from articlechat.api.web import render_demo
from articlechat.config import Settings
from articlechat.embeddings import EmbeddingBackend
from articlechat.ingest import BUNDLED_SOURCE, Ingestor
from articlechat.ingest.load import LoadedDocument
from articlechat.store import ArticleStore
from conftest import run_cli
from servers import free_port, required_program, running_server

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-default-apps"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
DEMO_DOC = BUNDLED_SOURCE
WAIT_MS = 15_000
ADMIN_KEY = "widget-test-admin-key"

# A document whose text carries markup payloads; its source is a javascript: URL that must never become a link.
HOSTILE_SOURCE = "javascript:window.__pwned='link'"
HOSTILE_TEXT = """<img src=x onerror="window.__pwned='title';alert('title')"> The Lighthouse Bakery

The lighthouse bakery in Port Ellery bakes seaweed bread every morning. The head baker says the secret ingredient \
of the seaweed bread is smoked sea salt <img src=x onerror="window.__pwned='img';alert('img')"> from the northern \
cliffs.

The bakery opens at six in the morning <script>window.__pwned='script';alert('script')</script> and closes at two \
in the afternoon, except on Sundays when it stays closed.
"""
HOSTILE_GREETING = "<b>Ask</b> me about the bakery <img src=x onerror=\"alert('greeting')\">"
# Host page CSS that would wreck any widget not isolated in a Shadow DOM.
HOSTILE_CSS = """
* { display: block !important; color: transparent !important; font-size: 0 !important; line-height: 0 !important;
    font-family: "Comic Sans MS", cursive !important; box-sizing: content-box !important; }
button, textarea, section, div, header, form { all: unset !important; width: 7px !important;
    background: red !important; position: static !important; }
.launcher, .panel, .msg, .log { display: none !important; }
head, style, script { display: none !important; }
"""


class Publisher(ThreadingHTTPServer):
    """A publisher's site on another origin: serves the HTML pages put in ``pages`` (path -> HTML)."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        super().__init__(("127.0.0.1", 0), _PublisherPage)
        self.origin = f"http://127.0.0.1:{self.server_port}"


class _PublisherPage(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        assert isinstance(self.server, Publisher)
        page = self.server.pages.get(self.path)
        body = (page or "not found").encode()
        self.send_response(200 if page else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:  # keep the test output quiet
        pass


@pytest.fixture(scope="module")
def publisher() -> Iterator[Publisher]:
    site = Publisher()
    thread = threading.Thread(target=site.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        site.shutdown()
        site.server_close()
        thread.join(5)


class Served(str):
    """The base URL of the widget tests' server, with its log file."""

    log: Path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, bundled_data_dir: Path, embedding_backend: EmbeddingBackend,
           publisher: Publisher) -> Iterator[Served]:
    """A real uvicorn server over the bundled article plus the hostile document, allowing browsers on its own
    origin and the publisher's (only), with an admin key and page fetches from 127.0.0.1 allowed; yields its base
    URL."""
    work = tmp_path_factory.mktemp("widget")
    data_dir = work / "data"
    shutil.copytree(bundled_data_dir, data_dir)
    store = ArticleStore(Settings(_env_file=None, data_dir=data_dir), embedding_backend)
    Ingestor(store).ingest_text(HOSTILE_TEXT.encode(), "bakery.txt", source=HOSTILE_SOURCE)
    port = free_port()
    env = {"ARTICLECHAT_DATA_DIR": str(data_dir), "ARTICLECHAT_HOST": "127.0.0.1", "ARTICLECHAT_PORT": str(port),
           "ARTICLECHAT_CORS_ORIGINS": publisher.origin, "ARTICLECHAT_RATE_LIMIT_CLIENT": "",
           "ARTICLECHAT_RATE_LIMIT_SESSION": "", "ARTICLECHAT_LLM": "extractive", "OPENAI_API_KEY": "",
           "OPENAI_BASE_URL": "", "ARTICLECHAT_API_KEY": ADMIN_KEY,
           "ARTICLECHAT_FETCH_PRIVATE_ADDRESSES": "true"}  # nothing from the developer's environment
    command = [sys.executable, "-m", "uvicorn", "articlechat.api.app:create_app", "--factory", "--host", "127.0.0.1",
               "--port", str(port)]
    base = Served(f"http://127.0.0.1:{port}")
    base.log = work / "server.log"
    with running_server(command, f"{base}/readyz", base.log, env=env, timeout=90):
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[sync_api.Browser]:
    chromium = required_program("chromium", "chromium")  # Debian's: Playwright's own download needs the internet
    ARTIFACTS.mkdir(exist_ok=True)
    sync_api.expect.set_options(timeout=WAIT_MS)  # generous: the machine may be busy with other tests
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def context(browser: sync_api.Browser) -> Iterator[sync_api.BrowserContext]:
    context = browser.new_context(viewport={"width": 1200, "height": 780}, color_scheme="light")
    context.set_default_timeout(WAIT_MS)
    yield context
    context.close()


@pytest.fixture
def dialogs() -> list[str]:
    return []


@pytest.fixture
def console() -> list[str]:
    return []


@pytest.fixture
def page(context: sync_api.BrowserContext, dialogs: list[str], console: list[str]) -> sync_api.Page:
    """A page that records every alert/confirm/prompt (none may fire) and its console errors."""
    page = context.new_page()
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("console", lambda message: console.append(message.text) if message.type == "error" else None)
    return page


class Widget:
    """The widget on a page, located through its (open) shadow root."""

    def __init__(self, page: sync_api.Page) -> None:
        self.page = page
        self.launcher = page.locator("articlechat-widget .launcher")
        self.panel = page.locator("articlechat-widget .panel")
        self.input = page.locator("articlechat-widget textarea")
        self.log = page.locator("articlechat-widget [role=log]")

    def open(self, tap: bool = False) -> None:
        """Open the panel with a click (or a tap) and wait until its opening animation is over."""
        if tap:
            self.launcher.tap()
        else:
            self.launcher.click()
        sync_api.expect(self.panel).to_be_visible()
        self.panel.evaluate("el => Promise.all(el.getAnimations().map(a => a.finished))")

    def ask(self, question: str) -> sync_api.Locator:
        """Send ``question``; returns the finished answer message."""
        count = self.answers().count()
        self.input.fill(question)
        self.input.press("Enter")
        answer = self.answers().nth(count)
        sync_api.expect(answer).to_be_visible()
        sync_api.expect(answer).not_to_have_attribute("aria-busy", "true")
        sync_api.expect(answer).not_to_have_class(re.compile(r"\berror\b"))
        return answer

    def answers(self) -> sync_api.Locator:
        return self.log.locator(".msg.bot:not(:first-child)")

    def text(self) -> str:
        """All the text the widget holds (shown or for screen readers)."""
        return self.page.evaluate("document.querySelector('articlechat-widget').shadowRoot.textContent")

    def active(self) -> str:
        """What has the keyboard focus inside the widget (tag.class#id)."""
        return self.page.evaluate("""() => {
            const el = document.querySelector('articlechat-widget').shadowRoot.activeElement;
            return el ? `${el.tagName.toLowerCase()}.${el.className}#${el.id}` : '';
        }""")


def ask_stream(base: str, question: str, **body: str) -> dict:
    """The `done` event of a real /api/ask/stream call (what the widget must have rendered)."""
    with httpx.stream("POST", f"{base}/api/ask/stream", json={"question": question, **body}, timeout=30) as r:
        events = r.read().decode().replace("\r\n", "\n").split("\n\n")
    done = next(e for e in events if e.startswith("event: done"))
    return json.loads(done.split("data: ", 1)[1])


def test_widget_js_is_served_as_cacheable_script(server: str) -> None:
    response = httpx.get(f"{server}/widget.js")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "max-age=" in response.headers["cache-control"]
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"
    again = httpx.get(f"{server}/widget.js", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304 and not again.content
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in response.text, f"widget.js must not use {sink}"


def test_demo_page_shows_the_bundled_article_with_the_widget(server: str) -> None:
    response = httpx.get(f"{server}/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    html = response.text
    assert "<h1>Russia and North Korea talks are just a diplomatic spectacle</h1>" in html
    assert '<p class="byline">By Lawrence White</p>' in html
    assert "Hanoi summit" in html
    assert '<script src="/widget.js" data-doc="russia-north-korea-talks" async></script>' in html
    assert escape(f'<script src="{server}/widget.js" data-articlechat-url="{server}" async></script>') in html


def test_demo_page_escapes_every_piece_of_the_document() -> None:
    doc = LoadedDocument("a.txt", "Intro <b>x</b>\n\n<script>alert(1)</script> body", '<img src=x onerror="alert(1)">',
                         "</p><script>")
    html = render_demo(doc, "http://127.0.0.1:1")
    assert "<script>alert" not in html and "<img" not in html and "</p><script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; body" in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html


CONTRAST_JS = """el => {
    const rgb = c => (c.match(/[\\d.]+/g) || []).map(Number);
    const channel = v => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
    let back = [255, 255, 255];
    for (let e = el; e; e = e.parentElement || e.getRootNode().host) {
        const c = rgb(getComputedStyle(e).backgroundColor);
        if (c.length === 3 || c[3] > 0) { back = c; break; }
    }
    const [a, b] = [luminance(rgb(getComputedStyle(el).color)), luminance(back)].sort((x, y) => y - x);
    return (a + 0.05) / (b + 0.05);
}"""


def assert_readable(widget: Widget) -> None:
    """Every kind of text in the widget meets WCAG AA contrast (4.5:1) against what is behind it."""
    for selector in (".header h2", ".log > .msg.bot:first-child", ".msg.user", ".msg.declined", ".label", ".cite",
                     ".passage figcaption", ".passage blockquote", ".passage mark", ".msg.error [role=alert]", ".foot",
                     "textarea", ".starter", ".feedback-status", ".counter:not([hidden])", ".short"):
        for element in widget.page.locator(f"articlechat-widget {selector}").all():
            ratio = element.evaluate(CONTRAST_JS)
            assert ratio >= 4.5, f"{selector}: contrast {ratio:.2f}"


def test_ask_cite_follow_up_reload_and_new_conversation(server: str, page: sync_api.Page, dialogs: list[str]) -> None:
    page.goto(f"{server}/")
    widget = Widget(page)
    sync_api.expect(widget.panel).to_be_hidden()
    widget.open()
    sync_api.expect(widget.input).to_be_focused()

    question = "Who did Kim Jong Un meet?"
    with page.expect_response(f"{server}/api/ask/stream") as streamed:
        answer = widget.ask(question)
    assert streamed.value.headers["content-type"].startswith("text/event-stream")
    expected = ask_stream(server, question, doc=DEMO_DOC)
    assert expected["answered"]
    text = answer.inner_text()
    assert expected["short_answer"] == "Vladimir Putin" and text.startswith("Assistant:\nVladimir Putin\n")
    for piece in re.split(r"\s*\[\d+\]\s*", expected["answer"].removeprefix("Vladimir Putin. ")):
        assert piece.strip() in text

    cited = {s["n"]: s for s in expected["sources"] if s["cited"]}
    citation = answer.locator(".cite").first
    source = cited[int(citation.inner_text())]
    citation.click()
    sync_api.expect(citation).to_have_attribute("aria-expanded", "true")
    passage = answer.locator(".passage")
    sync_api.expect(passage).to_be_visible()
    sync_api.expect(passage.locator("figcaption")).to_contain_text(source["title"])
    sync_api.expect(passage.locator("blockquote")).to_have_text(source["text"])
    claim = re.split(r"\s*\[\d+\]\s*", expected["answer"])[0]  # the sentence cited first is marked in the passage
    claim = claim.removeprefix(f"{expected['short_answer']}. ")  # after the short answer that leads
    sync_api.expect(passage.locator("mark")).to_have_text(claim)
    assert_readable(widget)
    page.screenshot(path=str(ARTIFACTS / "widget.png"))
    citation.click()
    sync_api.expect(passage).to_be_hidden()

    follow_up = widget.ask("When did that happen?")
    sync_api.expect(follow_up).to_contain_text("25th of April")
    sync_api.expect(follow_up).not_to_have_class(re.compile("declined"))
    session_id = page.evaluate(f"localStorage.getItem('articlechat:session:{server}|{DEMO_DOC}')")
    stored = httpx.get(f"{server}/api/sessions/{session_id}/messages").json()["messages"]
    assert [m["role"] for m in stored] == ["user", "assistant"] * 2

    page.reload()
    widget.open()
    sync_api.expect(widget.log.locator(".msg.user")).to_have_text([f"You: {question}", "You: When did that happen?"])
    sync_api.expect(widget.answers()).to_have_count(2)
    sync_api.expect(widget.answers().first.locator(".cite").first).to_be_visible()

    page.get_by_role("button", name="New conversation").click()
    sync_api.expect(widget.log.locator(".msg")).to_have_count(1)
    assert page.evaluate(f"localStorage.getItem('articlechat:session:{server}|{DEMO_DOC}')") is None
    for _ in range(50):  # the old session is deleted in the background
        if httpx.get(f"{server}/api/sessions/{session_id}/messages").status_code == 404:
            break
        page.wait_for_timeout(100)
    else:
        pytest.fail("the old session was not deleted on the server")
    assert not dialogs


def test_declines_politely_and_recovers_from_errors(server: str, page: sync_api.Page) -> None:
    page.goto(f"{server}/")
    widget = Widget(page)
    widget.open()
    declined = widget.ask("What is the capital of France?")
    sync_api.expect(declined).to_have_class(re.compile(r"\bdeclined\b"))
    sync_api.expect(declined).to_contain_text("Not in the article")
    sync_api.expect(declined.locator(".cite")).to_have_count(0)
    assert_readable(widget)

    failures = [
        (lambda route: route.abort("internetdisconnected"), "Can't reach the chat service"),
        (lambda route: route.fulfill(status=429, headers={"Retry-After": "1"},
                                     json={"error": {"code": "rate_limited", "message": "slow down"}}),
         "Please wait 1 s"),
        (lambda route: route.fulfill(status=503, json={"error": {"code": "unavailable", "message": "x"}}),
         "error 503"),
    ]
    for handler, message in failures:
        page.route(f"{server}/api/ask/stream", handler)
        widget.input.fill("Who wrote the article?")
        widget.input.press("Enter")
        error = widget.log.locator(".msg.error")
        sync_api.expect(error.get_by_role("alert")).to_contain_text(message)
        assert_readable(widget)
        page.unroute(f"{server}/api/ask/stream")
        retry = error.get_by_role("button", name="Retry", exact=True)
        sync_api.expect(retry).to_be_enabled(timeout=5000)  # a 429 counts down Retry-After first
        retry.click()
        sync_api.expect(error).to_have_count(0)
        sync_api.expect(widget.answers().last).to_contain_text("Lawrence White")


def test_keyboard_only(server: str, page: sync_api.Page) -> None:
    page.goto(f"{server}/")
    widget = Widget(page)
    sync_api.expect(widget.launcher).to_be_attached()
    for _ in range(10):
        page.keyboard.press("Tab")
        if widget.active().startswith("button.launcher"):
            break
    assert widget.active().startswith("button.launcher")
    page.keyboard.press("Enter")
    sync_api.expect(widget.panel).to_be_visible()
    assert widget.active() == "textarea.#question"
    sync_api.expect(widget.log).to_have_attribute("aria-live", "polite")
    page.keyboard.type("Who wrote the article?")
    page.keyboard.press("Enter")
    sync_api.expect(widget.answers().first).to_contain_text("Lawrence White")
    sync_api.expect(widget.answers().first).not_to_have_attribute("aria-busy", "true")

    seen = set()
    for _ in range(8):  # Tab cycles inside the open panel
        page.keyboard.press("Tab")
        seen.add(widget.active())
        assert page.evaluate("document.activeElement.tagName") == "ARTICLECHAT-WIDGET"
        assert page.evaluate("""() => { const root = document.querySelector('articlechat-widget').shadowRoot;
                                       return root.querySelector('.panel').contains(root.activeElement); }""")
    assert {"button.icon-button#", "button.cite#", "button.#", "textarea.#question", "button.send#"} <= seen
    widget.input.focus()
    for _ in range(7):  # back through Not helpful, Helpful, the citation, the log, Close and New conversation, then
        page.keyboard.press("Shift+Tab")  # wraps to Send
    assert widget.active() == "button.send#"

    for _ in range(8):
        if widget.active() == "button.cite#":
            break
        page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    sync_api.expect(widget.answers().first.locator(".passage")).to_be_visible()

    page.keyboard.press("Escape")
    sync_api.expect(widget.panel).to_be_hidden()
    assert widget.active().startswith("button.launcher")
    page.keyboard.press(" ")
    sync_api.expect(widget.panel).to_be_visible()
    assert widget.active() == "textarea.#question"


def test_hostile_host_page_and_hostile_article(server: str, publisher: Publisher, page: sync_api.Page,
                                               dialogs: list[str]) -> None:
    publisher.pages["/hostile.html"] = f"""<!doctype html><html><head><style>{HOSTILE_CSS}</style></head><body>
        <h1>A publisher's page</h1><span id="probe" class="launcher panel msg cite root">probe</span>
        <script src="{server}/widget.js" data-articlechat-url="{server}" data-doc="{escape(HOSTILE_SOURCE)}"
            data-title="Bakery questions" data-greeting="{escape(HOSTILE_GREETING)}" data-theme="dark"
            data-accent="#ffd400" data-position="bottom-left" async></script></body></html>"""
    page.goto(f"{publisher.origin}/hostile.html")
    widget = Widget(page)
    launcher = page.get_by_role("button", name="Open chat: Bakery questions")
    sync_api.expect(launcher).to_be_visible()
    box = launcher.bounding_box()
    assert box and box["width"] == 58 and box["x"] < 100  # bottom-left, full size despite the page's CSS
    launcher.click()
    sync_api.expect(widget.panel).to_be_visible()
    panel = widget.panel.bounding_box()
    assert panel and panel["width"] >= 360 and panel["height"] >= 400
    sync_api.expect(widget.log.locator(".msg").first).to_have_text(HOSTILE_GREETING)
    assert widget.log.locator(".msg").first.evaluate("el => getComputedStyle(el).fontSize") == "15px"
    assert page.locator("articlechat-widget .root").get_attribute("data-scheme") == "dark"
    assert page.locator("articlechat-widget .header").evaluate("el => getComputedStyle(el).color") == "rgb(17, 20, 24)"

    answer = widget.ask("What is the secret ingredient of the seaweed bread?")
    sync_api.expect(answer).to_contain_text("smoked sea salt")
    answer.locator(".cite").first.click()
    passage = answer.locator(".passage")
    sync_api.expect(passage.locator("figcaption")).to_contain_text("<img src=x onerror=")
    sync_api.expect(passage.locator("blockquote")).to_contain_text("<script>window.__pwned='script'")
    sync_api.expect(passage.locator("a")).to_have_count(0)  # a javascript: source never becomes a link
    assert_readable(widget)

    shadow_markup = page.evaluate("""() => document.querySelector('articlechat-widget').shadowRoot
                                              .querySelectorAll('img, script, iframe, [onerror]').length""")
    assert shadow_markup == 0
    assert page.evaluate("window.__pwned") is None
    assert not dialogs
    probe = page.locator("#probe")  # the widget's CSS does not reach the host page
    assert probe.evaluate("el => getComputedStyle(el).position") == "static"
    assert probe.evaluate("el => getComputedStyle(el).borderRadius") == "0px"


def test_phone_viewport(server: str, browser: sync_api.Browser) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                  color_scheme="dark")
    try:
        page = context.new_page()
        page.goto(f"{server}/")
        widget = Widget(page)
        widget.open(tap=True)
        assert widget.panel.bounding_box() == {"x": 0, "y": 0, "width": 390, "height": 844}
        assert page.locator("articlechat-widget .root").get_attribute("data-scheme") == "dark"  # theme auto
        assert widget.input.evaluate("el => getComputedStyle(el).fontSize") == "16px"  # no zoom on focus
        answer = widget.ask("Who did Kim Jong Un meet?")
        sync_api.expect(answer.locator(".cite").first).to_be_in_viewport()
        assert_readable(widget)
        page.screenshot(path=str(ARTIFACTS / "widget-phone.png"))
        page.get_by_role("button", name="Close chat").tap()
        sync_api.expect(widget.launcher).to_be_visible()
    finally:
        context.close()


def test_origins_outside_the_cors_allowlist_cannot_ask(server: Served, publisher: Publisher, page: sync_api.Page,
                                                       console: list[str]) -> None:
    """Readers see one neutral line; the page's console and the server log name the origin and the setting."""
    publisher.pages["/plain.html"] = (f'<!doctype html><p>Another site</p><script src="{server}/widget.js" '
                                      f'data-articlechat-url="{server}" async></script>')
    origin = publisher.origin.replace("127.0.0.1", "localhost")  # same site, another origin
    for _ in range(2):
        page.goto(f"{origin}/plain.html")
        widget = Widget(page)
        widget.open()
        sync_api.expect(widget.log).to_have_text("Chat is unavailable on this page.")
        sync_api.expect(widget.input).to_be_disabled()
        assert "ARTICLECHAT" not in widget.text() and "connection" not in widget.text()
    hint = f"refused requests from this page's origin {origin} (CORS). Add {origin} to ARTICLECHAT_CORS_ORIGINS"
    assert any(hint in line for line in console), console
    logged = [line for line in server.log.read_text().splitlines() if "refused browser requests" in line]
    assert len(logged) == 1, logged  # once per origin, however many requests
    assert f"origin {origin} (CORS): it is not in ARTICLECHAT_CORS_ORIGINS" in logged[0]


def test_cors_origins_without_a_scheme_are_refused_at_start_up() -> None:
    origins = {"ARTICLECHAT_CORS_ORIGINS": "https://ok.example,example.com"}
    result = run_cli("serve", "--port", str(free_port()), env=origins, timeout=60)
    assert result.returncode == 2
    assert "ARTICLECHAT_CORS_ORIGINS" in result.stderr and "'example.com' has no scheme" in result.stderr
    assert "https://example.com" in result.stderr


def test_a_session_the_server_forgot_starts_afresh(server: str, page: sync_api.Page) -> None:
    key = f"articlechat:session:{server}|{DEMO_DOC}"
    page.goto(f"{server}/")
    page.evaluate("key => localStorage.setItem(key, 'forgotten-session-0123')", key)
    page.reload()
    widget = Widget(page)
    widget.open()  # restoring gets a 404: the stored id is dropped, no error shown
    sync_api.expect(widget.log.locator(".msg")).to_have_count(1)
    assert page.evaluate("key => localStorage.getItem(key)", key) is None

    page.evaluate("key => localStorage.setItem(key, 'forgotten-session-0123')", key)
    widget.ask("Who wrote the article?")  # asking in it gets a 404: asked again in a new session
    new_id = page.evaluate("key => localStorage.getItem(key)", key)
    assert new_id and new_id != "forgotten-session-0123"


def test_tokens_stream_into_one_answer(server: str, page: sync_api.Page) -> None:
    """Pieces, comments, pings, CRLF and LF line ends and multi-line data, as any SSE server may send them."""
    done = {"answer": "Smoked sea\nsalt. [1]", "answered": True, "session_id": "streamed-session-01", "backend": "x",
            "fallback": False, "sources": [{"n": 1, "text": "Smoked sea salt.", "source": "https://example.org/a",
                                             "title": "A page", "start": 0, "end": 16, "score": 0.9, "cited": True}]}
    body = (": ping\r\n\r\nevent: token\r\ndata: {\"text\": \"Smoked \"}\r\n\r\nevent: token\ndata: {\"text\":\n"
            "data:  \"sea\\nsalt. [1]\"}\n\nevent: sources\ndata: []\n\n"
            f"event: done\r\ndata: {json.dumps(done)}\r\n\r\n")
    page.route(f"{server}/api/ask/stream", lambda route: route.fulfill(body=body, content_type="text/event-stream"))
    page.goto(f"{server}/")
    widget = Widget(page)
    widget.open()
    answer = widget.ask("What is the secret?")
    assert answer.inner_text().splitlines()[-2:] == ["Smoked sea", "salt. 1"]
    answer.locator(".cite").click()
    link = answer.locator(".passage a")
    sync_api.expect(link).to_have_attribute("href", "https://example.org/a")  # http(s) sources are links
    sync_api.expect(link).to_have_attribute("rel", "noopener noreferrer")


def config_of(server: str, doc: str | None = DEMO_DOC) -> dict:
    response = httpx.get(f"{server}/api/widget/config", params={"doc": doc} if doc else {})
    assert response.status_code == 200 and response.headers["cache-control"] == "no-cache"
    return response.json()


def test_widget_config_says_whether_the_document_exists(server: str) -> None:
    config = config_of(server)
    assert config["exists"] and config["doc"] == DEMO_DOC and config["max_question_chars"] == 1000
    assert config["title"] == "Russia and North Korea talks are just a diplomatic spectacle"
    assert len(config["starters"]) == 3
    unknown = config_of(server, "no-such-article")
    assert unknown == {"doc": "no-such-article", "exists": False, "title": None, "max_question_chars": 1000,
                       "starters": []}
    everything = config_of(server, None)
    assert everything["exists"] and everything["doc"] is None and everything["starters"] == []


def test_starters_are_shown_and_answered(server: str, page: sync_api.Page) -> None:
    starters = config_of(server)["starters"]
    page.goto(f"{server}/")
    widget = Widget(page)
    widget.open()
    group = page.get_by_role("group", name="Suggested questions")
    buttons = group.get_by_role("button")
    sync_api.expect(buttons).to_have_text(starters)
    assert_readable(widget)
    page.screenshot(path=str(ARTIFACTS / "widget-starters.png"))
    buttons.nth(1).click()
    sync_api.expect(widget.log.locator(".msg.user")).to_have_text([f"You: {starters[1]}"])
    answer = widget.answers().first
    sync_api.expect(answer).not_to_have_attribute("aria-busy", "true")
    sync_api.expect(answer).not_to_have_class(re.compile("declined|error"))
    sync_api.expect(group).to_have_count(0)  # the conversation has begun
    page.get_by_role("button", name="New conversation").click()
    sync_api.expect(group.get_by_role("button")).to_have_text(starters)
    for question in starters:  # the product answers every starter
        assert ask_stream(server, question, doc=DEMO_DOC)["answered"], question


def report_of(server: str) -> dict:
    response = httpx.get(f"{server}/api/report", params={"doc": DEMO_DOC},
                         headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert response.status_code == 200, response.text
    return response.json()["documents"][0]


def test_feedback_buttons_store_the_verdict_with_the_answer(server: str, page: sync_api.Page) -> None:
    question = "Where were the illegal fuel transfers said to take place?"
    page.goto(f"{server}/")
    widget = Widget(page)
    widget.open()
    answer = widget.ask(question)
    feedback = answer.get_by_role("group", name="Was this answer helpful?")
    helpful, unhelpful = feedback.get_by_role("button", name="Helpful", exact=True), feedback.get_by_role(
        "button", name="Not helpful")
    sync_api.expect(helpful).to_have_attribute("aria-pressed", "false")
    with page.expect_response(f"{server}/api/feedback") as sent:
        unhelpful.click()
    assert sent.value.status == 204
    sync_api.expect(unhelpful).to_have_attribute("aria-pressed", "true")
    sync_api.expect(feedback.get_by_role("status")).to_have_text("Thanks for your feedback.")
    assert_readable(widget)
    page.screenshot(path=str(ARTIFACTS / "widget-feedback.png"))
    assert question in [u["question"] for u in report_of(server)["unhelpful"]]

    page.reload()  # a restored answer offers feedback too; a second verdict replaces the first
    widget.open()
    restored = widget.answers().first.get_by_role("group", name="Was this answer helpful?")
    restored.get_by_role("button", name="Helpful", exact=True).click()
    sync_api.expect(restored.get_by_role("status")).to_have_text("Thanks for your feedback.")
    assert question not in [u["question"] for u in report_of(server)["unhelpful"]]


def test_feedback_is_checked(server: str) -> None:
    answer = ask_stream(server, "Who wrote the article?", doc=DEMO_DOC)
    assert isinstance(answer["exchange_id"], int)
    body = {"session_id": answer["session_id"], "exchange_id": answer["exchange_id"], "value": "up"}
    assert httpx.post(f"{server}/api/feedback", json=body).status_code == 204
    other = ask_stream(server, "Who wrote the article?", doc=DEMO_DOC)
    wrong = httpx.post(f"{server}/api/feedback", json={**body, "session_id": other["session_id"]})
    assert wrong.status_code == 404 and wrong.json()["error"]["code"] == "not_found"
    bad = httpx.post(f"{server}/api/feedback", json={**body, "value": "meh"})
    assert bad.status_code == 422


def test_over_long_questions_are_stopped_with_a_counter(server: str, page: sync_api.Page) -> None:
    page.goto(f"{server}/")
    widget = Widget(page)
    widget.open()
    counter = page.locator("articlechat-widget .counter")
    send = page.get_by_role("button", name="Send question")
    widget.input.fill("Who wrote it? " * 50)  # 700 characters: no counter yet
    sync_api.expect(counter).to_be_hidden()
    widget.input.fill("x" * 850)
    sync_api.expect(counter).to_have_text("850 / 1,000 characters")
    widget.input.fill("Who wrote the article? " + "x" * 1000)
    sync_api.expect(counter).to_contain_text("1,023 / 1,000 characters")
    sync_api.expect(counter.get_by_role("alert")).to_have_text(
        " Your question is too long. Please shorten it to 1,000 characters.")
    sync_api.expect(widget.input).to_have_attribute("aria-invalid", "true")
    sync_api.expect(send).to_be_disabled()
    assert_readable(widget)
    widget.input.press("Enter")
    page.wait_for_timeout(300)
    sync_api.expect(widget.log.locator(".msg.user")).to_have_count(0)  # nothing was sent
    assert "ARTICLECHAT" not in widget.text()
    widget.input.fill("Who wrote the article?")
    sync_api.expect(counter).to_be_hidden()
    sync_api.expect(send).to_be_enabled()
    widget.input.press("Enter")
    sync_api.expect(widget.answers().first).to_contain_text("Lawrence White")


def test_an_unknown_data_doc_hides_the_widget_and_tells_the_console(server: str, publisher: Publisher,
                                                                     page: sync_api.Page, console: list[str]) -> None:
    publisher.pages["/wrong-doc.html"] = (f'<!doctype html><p>An article</p><script src="{server}/widget.js" '
                                          f'data-articlechat-url="{server}" data-doc="/tmp/city-bikes.md" async>'
                                          "</script>")
    with page.expect_response(re.compile(r".*/api/widget/config\?doc=.*")):
        page.goto(f"{publisher.origin}/wrong-doc.html")
    sync_api.expect(page.locator("articlechat-widget")).to_have_count(0)
    assert any('data-doc="/tmp/city-bikes.md" is not a document on' in line for line in console), console


def test_a_short_answer_is_shown_in_bold_above_the_quote(server: str, page: sync_api.Page) -> None:
    done = {"answer": "Kim Jong Un met Vladimir Putin on the 25th of April. [1]", "answered": True,
            "short_answer": "Vladimir Putin", "session_id": "streamed-session-02", "backend": "x", "fallback": False,
            "sources": [{"n": 1, "text": "Kim Jong Un met Vladimir Putin on the 25th of April.", "source": "a",
                         "title": "A", "start": 0, "end": 52, "score": 0.9, "cited": True}]}
    body = f"event: token\ndata: {json.dumps({'text': done['answer']})}\n\nevent: done\ndata: {json.dumps(done)}\n\n"
    page.route(f"{server}/api/ask/stream", lambda route: route.fulfill(body=body, content_type="text/event-stream"))
    page.goto(f"{server}/")
    widget = Widget(page)
    widget.open()
    answer = widget.ask("Who did Kim meet?")
    short = answer.locator("strong.short")
    sync_api.expect(short).to_have_text("Vladimir Putin")
    assert short.evaluate("el => getComputedStyle(el).fontWeight") == "700"
    assert answer.inner_text().index("Vladimir Putin") < answer.inner_text().index("Kim Jong Un met")
    assert_readable(widget)
    without = body.replace('"short_answer": "Vladimir Putin", ', "")
    page.unroute(f"{server}/api/ask/stream")
    page.route(f"{server}/api/ask/stream", lambda route: route.fulfill(body=without, content_type="text/event-stream"))
    sync_api.expect(widget.ask("Who did Kim meet?").locator("strong.short")).to_have_count(0)


def test_server_messages_naming_a_setting_stay_out_of_readers_sight(server: str, page: sync_api.Page) -> None:
    message = "The question is 1,200 characters long; the limit is 1,000 (ARTICLECHAT_MAX_QUESTION_CHARS)."
    warnings: list[str] = []
    page.on("console", lambda line: warnings.append(line.text) if line.type == "warning" else None)
    page.route(f"{server}/api/ask/stream", lambda route: route.fulfill(
        status=422, json={"error": {"code": "invalid_input", "message": message}}))
    page.goto(f"{server}/")
    widget = Widget(page)
    widget.open()
    widget.input.fill("Who wrote the article?")
    widget.input.press("Enter")
    sync_api.expect(widget.log.locator(".msg.error [role=alert]")).to_have_text(
        "The chat service ran into a problem (error 422). Please try again.")
    assert "ARTICLECHAT" not in widget.text()
    assert f"articlechat: {message}" in warnings  # for the page's developer
    page.unroute(f"{server}/api/ask/stream")
    page.route(f"{server}/api/ask/stream", lambda route: route.fulfill(
        status=404, json={"error": {"code": "not_found", "message": "No document 'x' in the store."}}))
    widget.input.fill("Who wrote the article?")
    widget.input.press("Enter")
    sync_api.expect(widget.log.locator(".msg.error [role=alert]").last).to_have_text("No document 'x' in the store.")
