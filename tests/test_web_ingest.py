"""Ingest from the web against a real HTTP server on 127.0.0.1: article pages of several sites' markup, a sitemap and
a sitemap index, RSS and Atom feeds, changed pages with ETags, and every way a URL can fail."""

from __future__ import annotations

import gzip
import re
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from articlechat.config import load_settings
from articlechat.embeddings import EmbeddingBackend
from articlechat.errors import InvalidInput
from articlechat.ingest import Ingestor
from articlechat.ingest.fetch import Fetcher, FetchError
from articlechat.ingest.web import WebIngest
from articlechat.store import ArticleStore
from conftest import API_KEY, run_cli, seed_store, server_env
from servers import free_port, running_server

PAGES = Path(__file__).parent / "data" / "web"
LIMIT = 200_000  # ARTICLECHAT_MAX_FILE_BYTES in these tests
CHROMA_MODES = ("local",)


@dataclass
class Route:
    """What the server answers on one path."""

    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    etag: str | None = None
    last_modified: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before each of `chunks` parts of the body
    chunks: int = 1


class Site:
    """An HTTP server on 127.0.0.1 in a thread, serving ``routes``; counts the requests per path and their answers."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: list[tuple[str, int]] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                route = site.routes.get(self.path)
                if route is None:
                    self._answer(404, b"not here", "text/plain")
                    return
                fresh = (route.etag and self.headers.get("If-None-Match") == route.etag) or (
                    route.last_modified and self.headers.get("If-Modified-Since") == route.last_modified)
                if fresh:
                    self._answer(304, b"", None)
                    return
                headers = {**route.headers, **({"ETag": route.etag} if route.etag else {}),
                           **({"Last-Modified": route.last_modified} if route.last_modified else {})}
                self._answer(route.status, route.body, route.content_type, headers, route.delay, route.chunks)

            def _answer(self, status: int, body: bytes, content_type: str | None, headers: dict[str, str] | None = None,
                        delay: float = 0.0, chunks: int = 1) -> None:
                site.hits.append((self.path, status))
                self.send_response(status)
                if content_type:
                    self.send_header("Content-Type", content_type)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                if "Content-Length" not in (headers or {}):
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                step = max(1, len(body) // chunks)
                try:
                    for start in range(0, len(body), step):
                        time.sleep(delay)
                        self.wfile.write(body[start : start + step])
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return self.base + path

    def requests(self, path: str) -> list[int]:
        """The statuses answered on ``path`` so far."""
        return [status for p, status in self.hits if p == path]


def page(name: str) -> bytes:
    return (PAGES / f"{name}.html").read_bytes()


def urlset(*urls: str) -> bytes:
    entries = "".join(f"<url><loc>{u}</loc><lastmod>2026-11-03</lastmod></url>" for u in urls)
    return (f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"{entries}</urlset>").encode()


def sitemap_index(*urls: str) -> bytes:
    entries = "".join(f"<sitemap><loc>{u}</loc></sitemap>" for u in urls)
    return (f'<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"{entries}</sitemapindex>").encode()


def rss(*links: str) -> bytes:
    items = "".join(f"<item><title>Story {i}</title><link>{link}</link><description>&lt;p&gt;Teaser&lt;/p&gt;"
                    f"</description><pubDate>Tue, 03 Nov 2026 08:15:00 GMT</pubDate></item>"
                    for i, link in enumerate(links))
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Harbor Times</title><link>/</link>'
            f"<description>News</description>{items}</channel></rss>").encode()


def atom(*links: str) -> bytes:
    entries = "".join(f'<entry><title>Post {i}</title><link rel="alternate" href="{link}"/><id>tag:{i}</id>'
                      f"<updated>2026-01-14T07:30:00Z</updated></entry>" for i, link in enumerate(links))
    return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>The Slow Garden'
            f"</title><id>tag:garden</id><updated>2026-01-14T07:30:00Z</updated>{entries}</feed>").encode()


@pytest.fixture
def site() -> Iterator[Site]:
    served = Site()
    served.thread.start()
    lagoon, bees, buses = "/2026/11/03/tidal-lagoon-approved", "/why-bees-cluster-in-winter/", "/transport/night-buses"
    served.routes.update({
        lagoon: Route(page("harbor-times"), etag='"lagoon-v1"'),
        bees: Route(page("garden-blog"), last_modified=formatdate(1_768_000_000, usegmt=True)),
        buses: Route(page("city-wire"), content_type="text/html"),  # the charset only in the page's <meta>
        "/sitemap.xml": Route(urlset(served.url(lagoon), served.url(bees)), "application/xml"),
        "/sitemap-2.xml": Route(urlset(served.url(buses), served.url(lagoon)), "text/xml"),
        "/sitemap_index.xml": Route(sitemap_index(served.url("/sitemap.xml"), served.url("/sitemap-2.xml")),
                                    "application/xml"),
        "/feed.rss": Route(rss(served.url(lagoon), buses), "application/rss+xml"),  # a relative link too
        "/feed.atom": Route(atom(served.url(bees)), "application/atom+xml"),
        "/sitemap.xml.gz": Route(gzip.compress(urlset(served.url(buses))), "application/x-gzip"),
    })
    yield served
    served.server.shutdown()
    served.server.server_close()


def web_store(data_dir: Path, backend: EmbeddingBackend, **settings: object) -> ArticleStore:
    options = {"fetch_timeout": 2.0, "max_file_bytes": LIMIT, "fetch_private_addresses": True, **settings}
    return ArticleStore(load_settings(data_dir=data_dir, **options), backend)


def test_sitemap_index_and_feeds_ingest_every_article_once(site: Site, data_dir: Path,
                                                           embedding_backend: EmbeddingBackend) -> None:
    store = web_store(data_dir, embedding_backend)
    seen: list[tuple[str, int]] = []
    report = WebIngest(Ingestor(store), lambda url, done: seen.append((url, done))).run(
        [site.url("/sitemap_index.xml"), site.url("/feed.rss"), site.url("/feed.atom"), site.url("/sitemap.xml.gz")])
    assert not report.failed, report.failed
    lagoon, bees, buses = (site.url(p) for p in ("/2026/11/03/tidal-lagoon-approved", "/why-bees-cluster-in-winter/",
                                                  "/transport/night-buses"))
    assert sorted(report.added) == sorted([lagoon, bees, buses])
    for path in ("/2026/11/03/tidal-lagoon-approved", "/why-bees-cluster-in-winter/", "/transport/night-buses"):
        assert site.requests(path) == [200]  # listed by two sitemaps and a feed: fetched once
    docs = {d.id: d for d in store.documents()}
    assert (docs[lagoon].title, docs[lagoon].author) == ("Tidal lagoon wins approval after ten-year fight",
                                                         "Marta Okafor")
    assert docs[buses].author == "Tomás Ríos; Lena Berg"  # latin-1, declared only in the page
    assert "530 gigawatt hours" in store.document_text(lagoon) and "seagull77" not in store.document_text(lagoon)
    assert [done for _, done in seen] == [1, 2, 3]


def test_a_rerun_refetches_conditionally_and_reingests_only_what_changed(site: Site, data_dir: Path,
                                                                         embedding_backend: EmbeddingBackend) -> None:
    store = web_store(data_dir, embedding_backend)
    lagoon, bees = "/2026/11/03/tidal-lagoon-approved", "/why-bees-cluster-in-winter/"
    urls = [site.url("/sitemap.xml")]
    assert len(WebIngest(Ingestor(store)).run(urls).added) == 2

    again = WebIngest(Ingestor(store)).run(urls)
    assert sorted(again.unchanged) == sorted([site.url(lagoon), site.url(bees)]) and not again.added
    assert site.requests(lagoon) == [200, 304] and site.requests(bees) == [200, 304]  # ETag, Last-Modified

    changed = page("harbor-times").replace(b"530 gigawatt hours", b"610 gigawatt hours")
    site.routes[lagoon] = Route(changed, etag='"lagoon-v2"')
    third = WebIngest(Ingestor(store)).run(urls)
    assert third.replaced == [site.url(lagoon)] and third.unchanged == [site.url(bees)]
    assert "610 gigawatt hours" in " ".join(store.document_text(d.id) for d in store.documents())

    store.delete_source(site.url(bees))  # removed from the store: a 304 is not enough, it is fetched whole again
    fourth = WebIngest(Ingestor(store)).run(urls)
    assert fourth.added == [site.url(bees)] and site.requests(bees)[-2:] == [304, 200]


def test_every_failure_is_one_line_and_the_good_pages_are_still_ingested(site: Site, data_dir: Path,
                                                                         embedding_backend: EmbeddingBackend) -> None:
    site.routes.update({
        "/slow": Route(page("harbor-times"), delay=1.0, chunks=8),  # drips the page: over the time limit in all
        "/huge": Route(b"<p>" + b"x" * (LIMIT + 10) + b"</p>"),
        "/huge-chunked": Route(b"<p>" + b"y" * (LIMIT * 3) + b"</p>", headers={"Content-Length": str(LIMIT * 3)}),
        "/picture.png": Route(b"\x89PNG\r\n\x1a\n", "image/png"),
        "/loop": Route(status=302, headers={"Location": "/loop"}),
        "/to-ftp": Route(status=301, headers={"Location": "ftp://127.0.0.1/file"}),
        "/teapot": Route(b"no", status=418),
        "/broken.xml": Route(b"<urlset><url><loc>", "application/xml"),
        "/other.xml": Route(b"<?xml version='1.0'?><catalog/>", "application/xml"),
        "/empty": Route(b"<html><body><script>1</script></body></html>"),
        "/bomb.xml.gz": Route(gzip.compress(b"<urlset>" + b" " * 50_000_000), "application/gzip"),
    })
    store = web_store(data_dir, embedding_backend)
    bad = {"/missing": "HTTP 404", "/slow": "no answer within 2 s (ARTICLECHAT_FETCH_TIMEOUT)",
           "/huge": "over the limit of 200,000 bytes (ARTICLECHAT_MAX_FILE_BYTES)",
           "/huge-chunked": "over the limit of 200,000 bytes", "/picture.png": "(Content-Type: image/png)",
           "/loop": "more redirects than allowed (ARTICLECHAT_FETCH_MAX_REDIRECTS)",
           "/to-ftp": "redirected to a URL that is not http(s)", "/teapot": "HTTP 418",
           "/broken.xml": "not well-formed XML", "/other.xml": "neither a sitemap nor an RSS or Atom feed",
           "/empty": "no text left after cleaning", "/bomb.xml.gz": "more once decompressed is over the limit"}
    started = time.monotonic()
    report = WebIngest(Ingestor(store)).run([site.url(p) for p in bad] + [
        site.url("/2026/11/03/tidal-lagoon-approved"), "ftp://127.0.0.1/x", "http:///nohost"])
    assert time.monotonic() - started < 15
    assert report.added == [site.url("/2026/11/03/tidal-lagoon-approved")]
    messages = dict(report.failed)
    for path, needle in bad.items():
        assert messages[site.url(path)].startswith(site.url(path) + ":") and needle in messages[site.url(path)]
    assert "only http:// and https:// URLs" in messages["ftp://127.0.0.1/x"]
    assert "no host name" in messages["http:///nohost"]
    assert all("\n" not in m for m in messages.values())
    assert site.requests("/loop") == [302] * 6  # the first request and 5 redirects


def test_listing_caps_and_other_sites(site: Site, data_dir: Path, embedding_backend: EmbeddingBackend) -> None:
    many = [site.url(f"/story/{i}") for i in range(100_000)]
    site.routes["/big.xml"] = Route(urlset(*many), "application/xml")
    site.routes["/story/0"] = Route(page("harbor-times").replace(b'href="/2026/11/03/tidal-lagoon-approved"', b""))
    site.routes["/story/1"] = Route(page("garden-blog").replace(b"https://slowgarden.example", site.base.encode()))
    site.routes["/foreign.xml"] = Route(urlset("http://169.254.169.254/latest/meta-data/", site.url("/story/1")),
                                        "application/xml")
    site.routes["/deep.xml"] = Route(sitemap_index(site.url("/deep2.xml")), "application/xml")
    site.routes["/deep2.xml"] = Route(sitemap_index(site.url("/deep3.xml")), "application/xml")
    site.routes["/deep3.xml"] = Route(sitemap_index(site.url("/sitemap.xml")), "application/xml")
    store = web_store(data_dir, embedding_backend, fetch_max_urls=2, max_file_bytes=10_000_000)
    report = WebIngest(Ingestor(store)).run([site.url("/big.xml"), site.url("/foreign.xml"), site.url("/deep.xml")])
    messages = dict(report.failed)
    assert re.search(r"lists (100,000|99,999) new pages; took [12] of them, 2 in all \(ARTICLECHAT_FETCH_MAX_URLS\)$",
                     messages[site.url("/big.xml")])  # or the other sitemap took one first
    assert "skipped 1 URLs on other sites than the sitemap (e.g. http://169.254.169.254/" in messages[
        site.url("/foreign.xml")]
    assert "nested deeper than 3 levels" in messages[site.url("/deep3.xml")]
    assert sorted(report.added) == sorted([site.url("/story/0"), site.url("/why-bees-cluster-in-winter/")])
    assert len(site.hits) < 20


def test_internal_addresses_are_refused_unless_allowed(site: Site, data_dir: Path,
                                                       embedding_backend: EmbeddingBackend) -> None:
    store = web_store(data_dir, embedding_backend, fetch_private_addresses=False)
    report = WebIngest(Ingestor(store)).run([site.url("/2026/11/03/tidal-lagoon-approved"), "http://localhost:9/x"])
    messages = dict(report.failed)
    assert not report.added and not site.hits  # not even asked
    assert "127.0.0.1 is a loopback address (127.0.0.1); set ARTICLECHAT_FETCH_PRIVATE_ADDRESSES=true" in messages[
        site.url("/2026/11/03/tidal-lagoon-approved")]
    assert "localhost is a loopback address" in messages["http://localhost:9/x"]
    with pytest.raises(InvalidInput, match="private address"):
        Fetcher(load_settings(data_dir=data_dir)).fetch("http://10.1.2.3/page")


def test_one_page_for_the_api(site: Site, data_dir: Path, embedding_backend: EmbeddingBackend) -> None:
    web = WebIngest(Ingestor(web_store(data_dir, embedding_backend)))
    lagoon = site.url("/2026/11/03/tidal-lagoon-approved")
    assert web.page(lagoon) == (lagoon, "added")
    assert web.page(lagoon) == (lagoon, "unchanged")
    with pytest.raises(InvalidInput, match="a sitemap or feed, not an article page"):
        web.page(site.url("/sitemap.xml"))
    with pytest.raises(InvalidInput, match="HTTP 404"):
        web.page(site.url("/nope"))


def test_fetcher_keeps_at_most_its_concurrency_in_flight(site: Site) -> None:
    active, peak, lock = [0], [0], threading.Lock()
    original = Fetcher.fetch

    def counting(self: Fetcher, url: str, known: object = None) -> object:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        try:
            return original(self, url, known)
        finally:
            with lock:
                active[0] -= 1

    for i in range(12):
        site.routes[f"/p{i}"] = Route(b"<p>page</p>", delay=0.05)
    fetcher = Fetcher(load_settings(fetch_concurrency=3, fetch_private_addresses=True))
    try:
        Fetcher.fetch = counting  # type: ignore[method-assign]
        results = list(fetcher.fetch_many(site.url(f"/p{i}") for i in range(12)))
    finally:
        Fetcher.fetch = original  # type: ignore[method-assign]
        fetcher.close()
    assert len(results) == 12 and not any(isinstance(r, FetchError) for _, r in results)
    assert peak[0] == 3


def test_cli_ingests_urls_and_files_and_extract_shows_a_page(site: Site, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("Local notes\n\nA file ingested beside the web pages in the same run.\n")
    env = {"ARTICLECHAT_FETCH_TIMEOUT": "2", "ARTICLECHAT_FETCH_PRIVATE_ADDRESSES": "true"}
    first = run_cli("ingest", site.url("/feed.rss"), str(tmp_path / "notes.txt"), site.url("/missing"), env=env)
    assert first.returncode == 1
    assert f"failed: {site.url('/missing')}: HTTP 404 Not Found" in first.stderr
    lagoon = site.url("/2026/11/03/tidal-lagoon-approved")
    assert f"added: {lagoon}" in first.stdout and f"added: {site.url('/transport/night-buses')}" in first.stdout
    assert "3 added, 0 unchanged, 0 replaced, 1 failed" in first.stdout

    second = run_cli("ingest", site.url("/feed.rss"), env=env)
    assert second.returncode == 0 and "0 added, 2 unchanged" in second.stdout
    assert site.requests("/2026/11/03/tidal-lagoon-approved") == [200, 304]

    shown = run_cli("extract", site.url("/2026/11/03/tidal-lagoon-approved"), env=env)
    assert shown.returncode == 0, shown.stderr
    assert f"id:       {lagoon}" in shown.stdout and "date:     2026-11-03" in shown.stdout
    assert "language: en-GB" in shown.stdout and "Sign up for the Energy Brief" not in shown.stdout
    refused = run_cli("extract", "file:///etc/passwd")
    assert refused.returncode == 2 and "only http:// and https:// URLs" in refused.stderr
    with_id = run_cli("ingest", "--id", "lagoon", site.url("/feed.rss"), env=env)
    assert with_id.returncode == 2 and "describe one file" in with_id.stderr


def test_admin_api_ingests_a_url(site: Site, tmp_path: Path, bundled_data_dir: Path,
                                 embedding_backend: EmbeddingBackend) -> None:
    data = tmp_path / "api-data"
    seed_store(bundled_data_dir, load_settings(data_dir=data), embedding_backend)
    port = free_port()
    env = server_env(data, ARTICLECHAT_API_KEY=API_KEY, ARTICLECHAT_FETCH_TIMEOUT="2",
                     ARTICLECHAT_FETCH_PRIVATE_ADDRESSES="true")
    command = [sys.executable, "-m", "uvicorn", "--factory", "articlechat.api.app:create_app",
               "--host", "127.0.0.1", "--port", str(port)]
    base = f"http://127.0.0.1:{port}"
    lagoon = site.url("/2026/11/03/tidal-lagoon-approved")
    with running_server(command, f"{base}/readyz", tmp_path / "server.log", env=env), httpx.Client(
            base_url=base, timeout=60.0, headers={"Authorization": f"Bearer {API_KEY}"}) as admin:
        assert admin.post("/api/documents", json={"url": lagoon}).json() == {"source": lagoon, "outcome": "added"}
        assert admin.post("/api/documents", json={"url": lagoon}).json() == {"source": lagoon, "outcome": "unchanged"}
        listed = {d["source"]: d for d in admin.get("/api/documents").json()}
        assert listed[lagoon]["title"] == "Tidal lagoon wins approval after ten-year fight"
        for url, needle in ((site.url("/missing"), "HTTP 404"), ("file:///etc/passwd", "only http:// and https://"),
                            (site.url("/sitemap.xml"), "a sitemap or feed, not an article page")):
            refused = admin.post("/api/documents", json={"url": url})
            assert refused.status_code == 422 and needle in refused.json()["error"]["message"]
        assert admin.post("/api/documents", json={"link": lagoon}).status_code == 422
        upload = admin.post("/api/documents", files={"file": ("notes.md", b"# Notes\n\nA file upload still works.\n")})
        assert upload.json() == {"source": "notes", "outcome": "added"}
        assert httpx.post(f"{base}/api/documents", json={"url": lagoon}).status_code == 401
        schema = admin.get("/openapi.json").json()["paths"]["/api/documents"]["post"]["requestBody"]["content"]
        assert {"multipart/form-data", "application/json"} <= set(schema)
