"""An HTML page's article body and metadata, by trafilatura (chosen by F1 on bench/extraction.py's benchmark).

Body: trafilatura with ``favor_precision`` and without comments (it falls back on its readability and jusText ports
when its own rules find too little; a page with no article at all keeps its whole text). Metadata: title, author and
published date by trafilatura (``<title>``, ``og:*``, ``article:*``, ``<meta name=author>``, JSON-LD); the canonical
URL and language are read here, so that a relative canonical link resolves against the page's address and a page
cannot claim another site's address.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, fields, replace
from urllib.parse import urljoin, urlsplit, urlunsplit

logging.getLogger("trafilatura").setLevel(logging.CRITICAL)  # it logs about pages; ingest reports its own errors
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")
_LINE_BREAK = "\u2028"
_LINE_AFTER = ("lb", "p", "head", "item", "row", "list", "quote", "table")  # trafilatura's tags that end a line
_MAX_FIELD_CHARS = 500  # a title, author, date, URL or language longer than this is not one


@dataclass(frozen=True)
class PageMeta:
    """What a page says about itself (or what the caller says instead); every field may be unknown."""

    title: str | None = None
    author: str | None = None
    published: str | None = None
    url: str | None = None
    language: str | None = None

    def over(self, other: PageMeta) -> PageMeta:
        """These values where known, else ``other``'s."""
        return replace(other, **{f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)})


@dataclass(frozen=True)
class ExtractedPage:
    """An HTML page's article body (paragraphs separated by blank lines) and metadata."""

    text: str
    meta: PageMeta


def extract_html(html: str, page_url: str | None = None) -> ExtractedPage:
    """The article body and metadata of ``html``, fetched from ``page_url`` when it came from the web."""
    import trafilatura

    tree = trafilatura.load_html(html)  # trafilatura's own parse; the body is extracted from the text (it cleans it)
    if tree is None:  # an empty page or a bare fragment such as "<table>...</table>"
        return ExtractedPage(_all_text(html), PageMeta(url=page_url))
    own = PageMeta(url=canonical_url(tree, page_url), language=page_language(tree))
    found = trafilatura.bare_extraction(html, url=page_url, with_metadata=True, include_comments=False,
                                        favor_precision=True)
    theirs = PageMeta(title=_field(found.title), author=_field(found.author), published=_field(found.date)) if found \
        else PageMeta()
    text = body_text(found.body) if found is not None and found.body is not None else ""
    return ExtractedPage(text or _all_text(html), own.over(theirs))


def _all_text(html: str) -> str:
    """The visible text of a page in which no article was found."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "lxml")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    return " ".join(soup.get_text(" ").split())


def body_text(body: object) -> str:
    """trafilatura's body tree as text: a paragraph per block, list item or table row (blank-line separated), a line
    per ``<br>`` or nested block, table cells apart; the page source's own line breaks are spaces."""
    for element in body.iter(*_LINE_AFTER, "cell"):
        element.tail = (_LINE_BREAK if element.tag in _LINE_AFTER else " ") + (element.tail or "")
    paragraphs = []
    for block in body:
        for part in block if block.tag in ("list", "table") else [block]:
            lines = [" ".join(line.split()) for line in "".join(part.itertext()).split(_LINE_BREAK)]
            paragraphs.append("\n".join(lines).strip())
    return "\n\n".join(p for p in paragraphs if p)


def _field(value: str | None) -> str | None:
    value = " ".join((value or "").split())
    return value[:_MAX_FIELD_CHARS] if value else None


def canonical_url(tree: object, page_url: str | None) -> str | None:
    """``<link rel=canonical>`` (else ``og:url``) resolved against ``page_url``; a canonical on another site than
    the page's is not believed (the page's own address is used instead)."""
    candidates = [*tree.xpath("//link[contains(concat(' ', normalize-space(@rel), ' '), ' canonical ')]/@href"),
                  *tree.xpath("//meta[@property='og:url']/@content")]
    for href in (str(c).strip() for c in candidates):
        url = _http_url(urljoin(page_url or "", href))
        if url and (page_url is None or same_site(url, page_url)):
            return url
    return _http_url(page_url) if page_url else None


def _http_url(url: str) -> str | None:
    """``url`` without its fragment when it is an absolute http(s) URL of reasonable length, else None."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > _MAX_FIELD_CHARS * 4:
        return None
    return urlunsplit(parts._replace(fragment=""))


def same_site(url: str, other: str) -> bool:
    """True when both URLs have the same host, ``www.`` aside."""
    return _host(url) == _host(other)


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").removeprefix("www.")


def page_language(tree: object) -> str | None:
    """The page's language tag: ``<html lang>``, ``content-language``, ``og:locale`` or JSON-LD ``inLanguage``."""
    candidates = [*tree.xpath("/html/@lang | /html/@xml:lang", namespaces={"xml": "http://www.w3.org/XML/1998/namespace"}),
                  *tree.xpath("//meta[translate(@http-equiv, 'CONTENT-LANGUAGE', 'content-language')"
                              "='content-language']/@content"),
                  *tree.xpath("//meta[@property='og:locale']/@content"),
                  *_json_ld_languages(tree)]
    for value in (str(c).strip().split(",")[0].strip() for c in candidates):
        if _LANGUAGE.match(value):
            return value.replace("_", "-")
    return None


def _json_ld_languages(tree: object) -> list[str]:
    found = []
    for script in tree.xpath("//script[@type='application/ld+json']/text()"):
        try:
            data = json.loads(script)
        except ValueError:
            continue
        for item in data if isinstance(data, list) else [data]:
            if isinstance(item, dict) and isinstance(item.get("inLanguage"), str):
                found.append(item["inLanguage"])
    return found
