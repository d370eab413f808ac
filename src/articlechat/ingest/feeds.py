"""The page URLs that a sitemap, a sitemap index or an RSS / Atom feed lists (lxml without entities or network for
sitemaps, feedparser for feeds)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from articlechat.ingest.fetch import FetchError

ListingKind = Literal["sitemap", "sitemap-index", "feed"]
_SITEMAP_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


@dataclass(frozen=True)
class Listing:
    """What one sitemap or feed lists: page URLs, or (a sitemap index) more sitemaps."""

    kind: ListingKind
    urls: list[str]


def parse_listing(body: bytes, url: str) -> Listing | None:
    """The URLs in ``body`` when it is a sitemap, sitemap index or feed; None when it is none of them."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                             remove_comments=True, remove_pis=True)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise FetchError(f"{url}: not well-formed XML ({exc.msg})") from None
    if root is None:
        return None
    tag = etree.QName(root).localname
    if tag in ("urlset", "sitemapindex"):
        entry = "url" if tag == "urlset" else "sitemap"
        locs = [(loc.text or "").strip() for loc in root.iter(f"{_SITEMAP_NS}loc", "loc")
                if etree.QName(loc.getparent()).localname == entry]
        return Listing("sitemap" if tag == "urlset" else "sitemap-index", [u for u in locs if u])
    if tag in ("rss", "feed", "RDF"):
        return Listing("feed", _feed_links(body))
    return None


def _feed_links(body: bytes) -> list[str]:
    import feedparser

    feed = feedparser.parse(body, resolve_relative_uris=False, sanitize_html=False)
    return [str(e.link) for e in feed.entries if e.get("link")]
