"""Load .txt, .md and .html files into clean text with their metadata (HTML: the article body, see extract.py)."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path, PurePath

from articlechat.errors import InvalidInput
from articlechat.ingest.extract import extract_html
from articlechat.store.ids import document_id

SUPPORTED_SUFFIXES = {".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown",
                      ".html": "html", ".htm": "html"}

# Whole lines that web pages and exports carry around the article body.
_BOILERPLATE = re.compile(
    r"^(?:(?:back|return|go|jump) to (?:the )?top|(?:top|bottom|end) of (?:the )?page|skip to (?:the )?"
    r"(?:main )?(?:content|navigation|article)|advertisement|sponsored content|share (?:this|on \w+)(?: article| page)?"
    r"|print(?: this)?(?: article| page)?|(?:open|close) menu|menu|cookie (?:settings|policy|preferences)"
    r"|accept (?:all )?cookies|subscribe(?: now)?|sign (?:in|up)|log ?in|read more|continue reading"
    r"|related (?:articles|stories|posts)|toggle navigation|scroll to top)\s*[.:!]?$",
    re.IGNORECASE,
)
_BULLET = re.compile(r"^[\u2022\u00b7\u25aa\u25e6\u2023\u25cf\u25cb\u25a0\u25a1\u27a2\u25ba*\-\u2013\u2014]+\s*")
_BYLINE = re.compile(r"^(?:(?i:by)\s+)?((?:[A-Z][\w'\u2019.-]*\s+){1,3}[A-Z][\w'\u2019.-]*)$")
_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_BLANK_LINES = re.compile(r"\n(?:[ \t\f\v]*\n)+")  # one pass over a run of blank lines, however long


@dataclass(frozen=True)
class LoadedDocument:
    """A document's cleaned text and what is known about it: the record a loader or extractor hands to ingest."""

    id: str  # see articlechat.store.ids: given, else the canonical URL, else a slug of the file name
    text: str
    title: str | None = None
    author: str | None = None
    published: str | None = None  # ISO 8601 date
    url: str | None = None  # canonical URL
    language: str | None = None


def read_text_file(path: Path, max_bytes: int) -> str:
    """Read ``path`` as UTF-8 text, refusing missing, empty, huge, binary and non-UTF-8 files."""
    if not path.exists():
        raise InvalidInput(f"{path}: no such file or folder")
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise InvalidInput(f"{path}: unsupported file type '{path.suffix or '(none)'}' (use .txt, .md or .html)")
    size = path.stat().st_size
    if size > max_bytes:
        raise InvalidInput(f"{path}: {size:,} bytes is over the limit of {max_bytes:,} (ARTICLECHAT_MAX_FILE_BYTES)")
    return decode_text(path.read_bytes(), str(path))


def decode_text(raw: bytes, name: str) -> str:
    """Decode ``raw`` as UTF-8 (a BOM is allowed) or raise a clear :class:`InvalidInput`."""
    if not raw.strip():
        raise InvalidInput(f"{name}: the file is empty")
    if b"\x00" in raw[:8192]:
        raise InvalidInput(f"{name}: looks like a binary file, not text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"{name}: not UTF-8 text (invalid byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "convert it to UTF-8 first, e.g. with iconv"
        ) from None


META_FIELDS = ("id", "title", "author", "published", "url", "language")


def parse_document(raw_text: str, kind: str, name: str, meta: dict[str, str] | None = None,
                   path: PurePath | None = None, root: PurePath | None = None,
                   page_url: str | None = None) -> LoadedDocument:
    """Turn raw text of ``kind`` (text, markdown or html, fetched from ``page_url`` if from the web) named ``name``
    (for messages) into a cleaned :class:`LoadedDocument`. ``meta`` (options, a sidecar file) wins over what the text
    says; the id follows :func:`~articlechat.store.ids.document_id` from the given id, canonical URL and ``path``."""
    meta = {k: v for k, v in (meta or {}).items() if v}
    if kind == "html":
        page = extract_html(raw_text, page_url)
        raw_text = page.text
        found = {k: getattr(page.meta, k) for k in META_FIELDS if k != "id"}
        meta = {**{k: v for k, v in found.items() if v}, **meta}
    elif kind == "markdown":
        raw_text = _markdown_to_text(raw_text)
    text, found_title, found_author = clean_text(raw_text)
    if not text:
        raise InvalidInput(f"{name}: no text left after cleaning")
    doc_id = document_id(meta.get("id"), meta.get("url"), path or PurePath(name), root)
    return LoadedDocument(id=doc_id, text=text, title=meta.get("title") or found_title,
                          author=meta.get("author") or found_author, published=meta.get("published"),
                          url=meta.get("url"), language=meta.get("language"))


def load_file(path: Path, max_bytes: int, root: Path | None = None,
              meta: dict[str, str] | None = None) -> LoadedDocument:
    """Load one file from disk (found in folder ``root``, if any); a ``NAME.json`` beside it may give any of
    :data:`META_FIELDS`, and ``meta`` (options) overrides both."""
    raw = read_text_file(path, max_bytes)
    return parse_document(raw, SUPPORTED_SUFFIXES[path.suffix.lower()], str(path),
                          {**_sidecar_meta(path), **(meta or {})}, path, root)


def _sidecar_meta(path: Path) -> dict[str, str]:
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        return {}
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return {}
    return {k: str(data[k]) for k in META_FIELDS if isinstance(data, dict) and data.get(k)}


def clean_text(raw: str) -> tuple[str, str | None, str | None]:
    """Normalise text and drop page boilerplate; returns (text, title, author) where found.

    A bulleted or "By ..." name line before the body is the byline: it stays in the text as "By NAME".
    """
    raw = _CONTROL.sub("", _ZERO_WIDTH.sub("", unicodedata.normalize("NFC", raw))).replace("\r\n", "\n")
    paragraphs: list[str] = []
    author: str | None = None
    for block in _BLANK_LINES.split(raw.replace("\r", "\n")):
        kept = []
        for line in (" ".join(line.split()) for line in block.split("\n")):
            if not line or _BOILERPLATE.match(line):
                continue
            had_bullet = bool(_BULLET.match(line)) and len(line) < 80
            line = _BULLET.sub("", line) if had_bullet else line
            byline = _BYLINE.match(line) if (had_bullet or line.lower().startswith("by ")) else None
            if byline and len(paragraphs) < 3 and author is None:
                author = byline.group(1)
                paragraphs.append(f"By {author}")
            elif line:
                kept.append(line)
        if kept:
            paragraphs.append(" ".join(kept))
    body = [p for p in paragraphs if p != f"By {author}"]
    title = body[0] if len(body) > 1 and _looks_like_title(body[0]) else None
    return "\n\n".join(paragraphs), title, author


def _looks_like_title(line: str) -> bool:
    return len(line) <= 200 and not line.endswith((".", ",", ";", ":")) and len(line.split()) <= 25


def _markdown_to_text(md: str) -> str:
    """Markdown's text without its markup. Every pattern stops at the next opening mark or line end, so that a run
    of unclosed marks (``*a *a *a ...``, ``[[[``, ``<<<``) costs time linear in its length."""
    md = re.sub(r"^```.*$", "", md, flags=re.MULTILINE)
    md = re.sub(r"!\[([^\[\]\n]*)\]\([^()\n]*\)", r"\1", md)
    md = re.sub(r"\[([^\[\]\n]+)\]\([^()\n]*\)", r"\1", md)
    # Line patterns use [ \t], not \s, so that they never swallow the blank lines between paragraphs.
    md = re.sub(r"^[ \t]{0,3}#{1,6}(?:[ \t](.*))?$", _heading, md, flags=re.MULTILINE)
    md = re.sub(r"^[ \t]{0,3}>[ \t]?", "", md, flags=re.MULTILINE)
    md = re.sub(r"^[ \t]*(?:[-*_][ \t]*){3,}$", "", md, flags=re.MULTILINE)
    md = re.sub(r"^[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+", "\n", md, flags=re.MULTILINE)  # a list item: a paragraph
    md = re.sub(r"\*\*([^*\n]+)\*\*|__([^_\n]+)__|`([^`\n]+)`", lambda m: m.group(m.lastindex or 0), md)
    md = re.sub(r"(?<![\w*])\*(?=[^\s*])([^*\n]*[^\s*])?\*(?![\w*])", lambda m: m.group(0)[1:-1], md)
    md = re.sub(r"(?<![\w_])_(?=[^\s_])([^_\n]*[^\s_])?_(?![\w_])", lambda m: m.group(0)[1:-1], md)
    return re.sub(r"<[^<>\n]+>", "", md)


def _heading(match: re.Match[str]) -> str:
    """An ATX heading's text on a paragraph of its own, without closing hashes."""
    text = (match.group(1) or "").rstrip(" \t")
    unclosed = text.rstrip("#")
    if unclosed != text and (not unclosed or unclosed[-1] in " \t"):
        text = unclosed.rstrip(" \t")
    return f"\n{text.strip()}\n"
