"""Ingest from the web: article URLs, sitemaps (and indexes) and RSS / Atom feeds, re-fetching only what changed."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from urllib.parse import urljoin

from articlechat.config import Settings
from articlechat.errors import ArticlechatError, InvalidInput
from articlechat.ingest.extract import same_site
from articlechat.ingest.feeds import parse_listing
from articlechat.ingest.fetch import Fetched, Fetcher, FetchError, ValidatorCache, check_url, is_url
from articlechat.ingest.load import LoadedDocument, load_file, parse_document
from articlechat.ingest.pipeline import Ingestor, IngestReport, Outcome

MAX_SITEMAP_DEPTH = 3  # an index of indexes of sitemaps; deeper nesting is refused
OnUrl = Callable[[str, int], None]  # (url, how many URLs are done with it)


def page_document(fetched: Fetched) -> LoadedDocument:
    """The document an HTML response makes, under its canonical URL (else the address it was fetched from)."""
    from bs4.dammit import UnicodeDammit

    if fetched.kind != "html":
        raise FetchError(f"{fetched.url}: not an HTML page")
    encodings = [fetched.charset] if fetched.charset else []
    html = UnicodeDammit(fetched.body, known_definite_encodings=encodings, is_html=True).unicode_markup
    doc = parse_document(html or "", "html", fetched.url, page_url=fetched.final_url)
    return replace(doc, id=doc.url or fetched.final_url)


def extract_target(target: str, settings: Settings) -> LoadedDocument:
    """What ingest would store for a file path or an http(s) URL, without storing it (nor remembering the fetch)."""
    if not is_url(target):
        return load_file(Path(target), settings.max_file_bytes)
    fetcher = Fetcher(settings)
    try:
        fetched = fetcher.fetch(target)
    finally:
        fetcher.close()
    if fetched.kind != "html":
        raise InvalidInput(f"{target}: a sitemap or feed, not an article page; `extract` takes one page")
    return page_document(fetched)


class WebIngest:
    """Fetches and ingests URLs into an :class:`Ingestor`'s store; a URL that fails never stops the others."""

    def __init__(self, ingestor: Ingestor, on_url: OnUrl | None = None, report: IngestReport | None = None) -> None:
        self.ingestor = ingestor
        self.settings = ingestor.settings
        self.on_url = on_url
        self.cache = ValidatorCache(self.settings.data_dir / "web-validators.json")
        self.report = report or IngestReport()
        self._done = 0

    def run(self, urls: Iterable[str]) -> IngestReport:
        """Ingest every page that ``urls`` are or list; one failed entry per URL that failed."""
        fetcher = Fetcher(self.settings)
        try:
            pages = self._expand(fetcher, list(dict.fromkeys(urls)))
            for url, result in fetcher.fetch_many(pages, self.cache.get):
                self._take_page(fetcher, url, result)
        finally:
            fetcher.close()
            self.cache.save()
        return self.report

    def page(self, url: str) -> tuple[str, Outcome]:
        """Ingest one article page; a sitemap, feed or failure raises :class:`InvalidInput`."""
        fetcher = Fetcher(self.settings)
        try:
            fetched = fetcher.fetch(url, self.cache.get(url))
            if fetched.kind != "html":
                raise InvalidInput(f"{url}: a sitemap or feed, not an article page; ingest it with "
                                   "`articlechat ingest URL`")
            return self._ingest(fetcher, url, fetched)
        finally:
            fetcher.close()
            self.cache.save()

    def _expand(self, fetcher: Fetcher, given: list[str]) -> list[str]:
        """Ingest the given pages; return the page URLs that the given sitemaps and feeds list (up to the cap)."""
        pages: dict[str, None] = {}
        level = [(url, 0) for url in given]  # (URL, how deep in sitemap indexes)
        while level:
            found: list[tuple[str, int]] = []
            depths = dict(level)
            for url, result in fetcher.fetch_many(depths, self.cache.get):
                depth = depths[url]
                if isinstance(result, FetchError) or result.not_modified or result.kind == "html":
                    self._take_page(fetcher, url, result)
                    continue
                try:
                    found.extend(self._listed(url, result, depth, pages))
                except ArticlechatError as exc:
                    self.report.failed.append((url, str(exc)))
            level = found
        return list(pages)

    def _listed(self, url: str, fetched: Fetched, depth: int, pages: dict[str, None]) -> list[tuple[str, int]]:
        """Add the pages ``fetched`` lists to ``pages``; return the sitemaps it lists."""
        listing = parse_listing(fetched.body, url)
        if listing is None:
            raise FetchError(f"{url}: XML that is neither a sitemap nor an RSS or Atom feed")
        linked = [urljoin(fetched.final_url, u) for u in listing.urls]
        foreign = [u for u in linked if not same_site(u, fetched.final_url)]
        if foreign:
            self.report.failed.append((url, f"{url}: skipped {len(foreign):,} URLs on other sites than the "
                                            f"{listing.kind} (e.g. {foreign[0]})"))
        linked = [u for u in linked if u not in foreign]
        if listing.kind == "sitemap-index":
            if depth + 1 >= MAX_SITEMAP_DEPTH:
                raise FetchError(f"{url}: sitemap indexes nested deeper than {MAX_SITEMAP_DEPTH} levels")
            return [(u, depth + 1) for u in linked]
        cap = self.settings.fetch_max_urls
        new = [u for u in dict.fromkeys(linked) if u not in pages]
        room = max(0, cap - len(pages))
        if len(new) > room:
            self.report.failed.append((url, f"{url}: lists {len(new):,} new pages; took {room:,} of them, "
                                            f"{cap:,} in all (ARTICLECHAT_FETCH_MAX_URLS)"))
        pages.update(dict.fromkeys(new[:room]))
        return []

    def _take_page(self, fetcher: Fetcher, url: str, result: Fetched | FetchError) -> None:
        self._done += 1
        if self.on_url:
            self.on_url(url, self._done)
        try:
            if isinstance(result, FetchError):
                raise result
            source, outcome = self._ingest(fetcher, url, result)
            self.report.record(source, outcome)
        except ArticlechatError as exc:
            self.report.failed.append((url, str(exc)))
        except Exception as exc:  # one bad page must not stop the others
            self.report.failed.append((url, f"{url}: {type(exc).__name__}: {exc}"))

    def _ingest(self, fetcher: Fetcher, url: str, fetched: Fetched) -> tuple[str, Outcome]:
        if fetched.not_modified:
            source = fetched.validators.source
            if source and self.ingestor.store.has_source(source):
                return source, "unchanged"
            fetched = fetcher.fetch(check_url(url))  # removed from the store since: fetch it whole
        doc = page_document(fetched)
        outcome = self.ingestor.ingest_document(doc)
        self.cache.remember(url, replace(fetched.validators, source=doc.id))
        return doc.id, outcome
