"""Load .txt, .md and .html files into clean text with a title and author, by general rules."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from articlechat.errors import InvalidInput

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
_HTML_DROP = ("script", "style", "noscript", "template", "svg", "iframe", "nav", "form", "button", "select")
# Elements that end a paragraph: their text never runs into the next element's ("block.Next").
_HTML_BLOCKS = ("p", "div", "section", "article", "main", "header", "footer", "aside", "address", "h1", "h2", "h3",
                "h4", "h5", "h6", "ul", "ol", "li", "dl", "dt", "dd", "blockquote", "pre", "table", "tr", "td", "th",
                "figure", "figcaption", "hr")


@dataclass(frozen=True)
class LoadedDocument:
    """A document's cleaned text and what we know about it."""

    source: str
    text: str
    title: str | None = None
    author: str | None = None


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


def parse_document(raw_text: str, kind: str, source: str, meta: dict[str, str] | None = None) -> LoadedDocument:
    """Turn raw text of ``kind`` (text, markdown or html) into a cleaned :class:`LoadedDocument`."""
    meta = meta or {}
    title, author = meta.get("title"), meta.get("author")
    if kind == "html":
        raw_text, html_title, html_author = _html_to_text(raw_text)
        title, author = title or html_title, author or html_author
    elif kind == "markdown":
        raw_text = _markdown_to_text(raw_text)
    text, found_title, found_author = clean_text(raw_text)
    if not text:
        raise InvalidInput(f"{source}: no text left after cleaning")
    return LoadedDocument(source=source, text=text, title=title or found_title, author=author or found_author)


def load_file(path: Path, max_bytes: int) -> LoadedDocument:
    """Load one file from disk; a ``NAME.json`` beside it may give ``title`` and ``author``."""
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
    return {k: str(data[k]) for k in ("title", "author") if isinstance(data, dict) and data.get(k)}


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


def _html_to_text(html: str) -> tuple[str, str | None, str | None]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(_HTML_DROP):
        tag.decompose()
    title_tag = soup.find("h1") or soup.find("title")
    title = " ".join(title_tag.get_text(" ").split()) if title_tag else None
    author_meta = soup.find("meta", attrs={"name": "author"})
    author = author_meta.get("content") if author_meta else None
    for tag in [*soup("title"), *soup("head")]:  # html.parser only makes a head for an explicit <head>
        tag.decompose()
    blocks = soup.find_all(_HTML_BLOCKS)
    for block in blocks:
        block.insert_before("\n\n")
        block.insert_after("\n\n")
    for br in soup.find_all("br"):
        br.replace_with("\n")
    return soup.get_text(), title or None, str(author) if author else None
