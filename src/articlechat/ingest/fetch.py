"""Fetch URLs for ingest with bounded cost: http(s) only, few redirects, a time limit per URL, a size cap, known
content types; conditional re-fetch (ETag / Last-Modified) with the validators remembered under the data dir."""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import httpx

from articlechat import __version__
from articlechat.config import Settings
from articlechat.errors import InvalidInput

Kind = Literal["html", "xml"]
_KINDS: dict[str, Kind] = {
    "text/html": "html", "application/xhtml+xml": "html",
    "application/xml": "xml", "text/xml": "xml", "application/rss+xml": "xml", "application/atom+xml": "xml",
    "application/rdf+xml": "xml", "application/gzip": "xml", "application/x-gzip": "xml",
}
_GZIP_MAGIC = b"\x1f\x8b"


class FetchError(InvalidInput):
    """A URL that could not be fetched or is not a page, sitemap or feed; the message starts with the URL."""


class _InternalAddress(Exception):
    """A request (or a redirect) to a host that resolves to a loopback, private or link-local address."""


def _refuse_internal(request: httpx.Request) -> None:
    """Before every request and redirect: a page, sitemap or feed must not make the server read internal services.
    (The address is resolved again on connecting: a name that changes its address in between is not caught.)"""
    try:
        infos = socket.getaddrinfo(request.url.host, request.url.port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return  # the connection reports it
    for *_, address in infos:
        ip = ipaddress.ip_address(address[0])
        if not ip.is_global:
            raise _InternalAddress(f"{request.url.host} is a {'loopback' if ip.is_loopback else 'private'} address "
                                   f"({ip}); set ARTICLECHAT_FETCH_PRIVATE_ADDRESSES=true to allow it")


@dataclass(frozen=True)
class Validators:
    """What a server said identifies the version it sent (for a conditional re-fetch), and the document it made."""

    etag: str | None = None
    last_modified: str | None = None
    source: str | None = None

    def headers(self) -> dict[str, str]:
        """The conditional request headers."""
        return {k: v for k, v in (("If-None-Match", self.etag), ("If-Modified-Since", self.last_modified)) if v}


@dataclass(frozen=True)
class Fetched:
    """A response worth reading; when the server said not modified (304), ``body`` is empty and ``kind`` is html (only
    pages are fetched conditionally) and ``validators`` are the ones remembered."""

    url: str  # as asked
    final_url: str  # after redirects
    kind: Kind
    body: bytes
    charset: str | None
    validators: Validators
    not_modified: bool = False


def check_url(url: str) -> str:
    """``url`` when it is an absolute http(s) URL, else a :class:`FetchError` saying why not."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise FetchError(f"{url}: only http:// and https:// URLs can be ingested")
    if not parts.hostname:
        raise FetchError(f"{url}: no host name in the URL")
    return url


def is_url(text: str) -> bool:
    """True for anything with a URL scheme (``x://``), so that ``ftp://...`` is refused rather than read as a path."""
    scheme, sep, _ = text.partition("://")
    return bool(sep) and scheme.isalpha()


class Fetcher:
    """An HTTP client with the product's limits; safe to share between threads."""

    def __init__(self, settings: Settings) -> None:
        self.timeout = settings.fetch_timeout
        self.max_bytes = settings.max_file_bytes
        self.concurrency = settings.fetch_concurrency
        self.client = httpx.Client(
            follow_redirects=True, max_redirects=settings.fetch_max_redirects, timeout=httpx.Timeout(self.timeout),
            headers={"User-Agent": f"articlechat/{__version__}", "Accept": ", ".join(_KINDS)},
            limits=httpx.Limits(max_connections=self.concurrency),
            event_hooks={"request": [] if settings.fetch_private_addresses else [_refuse_internal]})

    def close(self) -> None:
        """Close the connections."""
        self.client.close()

    def fetch(self, url: str, known: Validators | None = None) -> Fetched:
        """GET ``url`` (conditionally when ``known``); a :class:`FetchError` names the URL and the problem."""
        check_url(url)
        try:
            return self._fetch(url, known)
        except _InternalAddress as exc:
            raise FetchError(f"{url}: {exc}") from None
        except httpx.TooManyRedirects:
            raise FetchError(f"{url}: more redirects than allowed (ARTICLECHAT_FETCH_MAX_REDIRECTS)") from None
        except httpx.TimeoutException:
            raise FetchError(f"{url}: no answer within {self.timeout:g} s (ARTICLECHAT_FETCH_TIMEOUT)") from None
        except httpx.UnsupportedProtocol:
            raise FetchError(f"{url}: redirected to a URL that is not http(s)") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"{url}: {type(exc).__name__}: {exc}") from None

    def _fetch(self, url: str, known: Validators | None) -> Fetched:
        deadline = time.monotonic() + self.timeout
        with self.client.stream("GET", url, headers=known.headers() if known else {}) as response:
            final_url = str(response.url)
            check_url(final_url)
            if response.status_code == 304 and known:
                return Fetched(url, final_url, "html", b"", None, known, not_modified=True)
            if response.status_code != 200:
                raise FetchError(f"{url}: HTTP {response.status_code} {response.reason_phrase}".rstrip())
            kind = self._kind(url, response.headers.get("content-type", ""))
            declared = int(response.headers.get("content-length") or 0)
            if declared > self.max_bytes:
                raise self._too_large(url, f"{declared:,} bytes")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > self.max_bytes:
                    raise self._too_large(url, "more")
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout("too slow")
            validators = Validators(response.headers.get("etag"), response.headers.get("last-modified"))
            return Fetched(url, final_url, kind, self._gunzip(url, bytes(body)), response.charset_encoding, validators)

    def _kind(self, url: str, content_type: str) -> Kind:
        media = content_type.split(";")[0].strip().lower()
        if media in _KINDS:
            return _KINDS[media]
        if media.endswith("+xml"):
            return "xml"
        raise FetchError(f"{url}: not a web page, sitemap or feed (Content-Type: {media or 'none'})")

    def _gunzip(self, url: str, body: bytes) -> bytes:
        """A gzipped sitemap's content, decompressed no further than the size cap."""
        if not body.startswith(_GZIP_MAGIC):
            return body
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out = inflater.decompress(body, self.max_bytes)
        except zlib.error:
            raise FetchError(f"{url}: broken gzip data") from None
        if inflater.unconsumed_tail:
            raise self._too_large(url, "more once decompressed")
        return out

    def _too_large(self, url: str, size: str) -> FetchError:
        return FetchError(f"{url}: {size} is over the limit of {self.max_bytes:,} bytes (ARTICLECHAT_MAX_FILE_BYTES)")

    def fetch_many(self, urls: Iterable[str], known: Callable[[str], Validators | None] = lambda _: None,
                   ) -> Iterator[tuple[str, Fetched | FetchError]]:
        """(url, response or error) as each completes, at most ``fetch_concurrency`` at once and as many waiting."""
        pending = iter(urls)
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="fetch") as pool:
            running: dict[Future[Fetched], str] = {}
            while True:
                for url in pending:
                    running[pool.submit(self.fetch, url, known(url))] = url
                    if len(running) >= 2 * self.concurrency:
                        break
                if not running:
                    return
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    url = running.pop(future)
                    error = future.exception()
                    if error is not None and not isinstance(error, FetchError):
                        error = FetchError(f"{url}: {type(error).__name__}: {error}")
                    yield url, error if error is not None else future.result()


class ValidatorCache:
    """ETag / Last-Modified per URL in a JSON file under the data dir (written atomically)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries = self._read()

    def _read(self) -> dict[str, Validators]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        names = {f.name for f in fields(Validators)}
        return {url: Validators(**{k: v for k, v in item.items() if k in names and isinstance(v, str)})
                for url, item in data.items() if isinstance(item, dict)} if isinstance(data, dict) else {}

    def get(self, url: str) -> Validators | None:
        """What was remembered for ``url``."""
        return self.entries.get(url)

    def remember(self, url: str, validators: Validators) -> None:
        """Keep ``validators`` for ``url`` (nothing to keep when the server sent neither header)."""
        if validators.etag or validators.last_modified:
            self.entries[url] = validators
        else:
            self.entries.pop(url, None)

    def save(self) -> None:
        """Write the file, merged over what another process may have written meanwhile."""
        merged = {**self._read(), **self.entries}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        scratch = self.path.with_suffix(f".{os.getpid()}.tmp")
        scratch.write_text(json.dumps({url: asdict(v) for url, v in merged.items()}), encoding="utf-8")
        scratch.replace(self.path)
