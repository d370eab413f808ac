"""Load .txt, .md and .html files into clean text with their metadata (HTML: the article body, see extract.py)."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, fields
from pathlib import Path

from articlechat.errors import InvalidInput
from articlechat.ingest.extract import PageMeta, extract_html

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
META_FIELDS = tuple(f.name for f in fields(PageMeta))


@dataclass(frozen=True)
class LoadedDocument:
    """A document's cleaned text and what we know about it."""

    source: str
    text: str
    title: str | None = None
    author: str | None = None
    date: str | None = None  # published, ISO 8601
    url: str | None = None  # canonical URL of a web page: the id hint
    language: str | None = None  # BCP 47 tag, e.g. en or pt-BR


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


def parse_document(raw_text: str, kind: str, source: str, meta: dict[str, str] | None = None,
                   page_url: str | None = None) -> LoadedDocument:
    """Turn raw text of ``kind`` (text, markdown or html, fetched from ``page_url`` if from the web) into a cleaned
    :class:`LoadedDocument`; ``meta`` (title, author, date, url, language) wins over what the page says."""
    given = PageMeta(**{k: v for k, v in (meta or {}).items() if k in META_FIELDS})
    if kind == "html":
        page = extract_html(raw_text, page_url)
        raw_text, given = page.text, given.over(page.meta)
    elif kind == "markdown":
        raw_text = _markdown_to_text(raw_text)
    text, found_title, found_author = clean_text(raw_text)
    if not text:
        raise InvalidInput(f"{source}: no text left after cleaning")
    return LoadedDocument(source=source, text=text, title=given.title or found_title,
                          author=given.author or found_author, date=given.date, url=given.url,
                          language=given.language)


def load_file(path: Path, max_bytes: int) -> LoadedDocument:
    """Load one file from disk; a ``NAME.json`` beside it may give its title, author, date, url and language."""
    raw = read_text_file(path, max_bytes)
    return parse_document(raw, SUPPORTED_SUFFIXES[path.suffix.lower()], str(path.resolve()), _sidecar_meta(path))


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
    for block in re.split(r"\n\s*\n", raw.replace("\r", "\n")):
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
    md = re.sub(r"^```.*$", "", md, flags=re.MULTILINE)
    md = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", md)
    md = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", md)
    # Line patterns use [ \t], not \s, so that they never swallow the blank lines between paragraphs.
    md = re.sub(r"^[ \t]{0,3}#{1,6}[ \t]*(.*?)[ \t]*#*[ \t]*$", r"\n\1\n", md, flags=re.MULTILINE)
    md = re.sub(r"^[ \t]{0,3}>[ \t]?", "", md, flags=re.MULTILINE)
    md = re.sub(r"^[ \t]*(?:[-*_][ \t]*){3,}$", "", md, flags=re.MULTILINE)
    md = re.sub(r"^[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+", "\n", md, flags=re.MULTILINE)  # a list item: a paragraph
    md = re.sub(r"(\*\*|__|`)(.+?)\1", r"\2", md)
    md = re.sub(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])", r"\1", md)
    md = re.sub(r"(?<![\w_])_(?=\S)(.+?)(?<=\S)_(?![\w_])", r"\1", md)
    return re.sub(r"<[^>\n]+>", "", md)
