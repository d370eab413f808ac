"""Document ids: given, else the canonical URL, else a slug of the file name; bounded in length and charset."""

from __future__ import annotations

import re
import unicodedata
from pathlib import PurePath

from articlechat.errors import InvalidInput

MAX_ID_CHARS = 400
MAX_SLUG_CHARS = 80
# Letters, digits and the characters of a URL (RFC 3986): no spaces, no controls, nothing that needs quoting in a
# shell or HTML attribute beyond what a URL carries; it starts with a letter or digit, so never with "/".
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def is_id(value: str) -> bool:
    """Whether ``value`` is a valid document id."""
    return len(value) <= MAX_ID_CHARS and bool(_ID.fullmatch(value))


def check_id(value: str) -> str:
    """``value`` when it is a valid document id, else a clear :class:`InvalidInput`."""
    if len(value) > MAX_ID_CHARS:
        raise InvalidInput(f"A document id has at most {MAX_ID_CHARS} characters; this one has {len(value):,}.")
    if not _ID.fullmatch(value):
        raise InvalidInput(f"'{value[:60]}' is not a document id: use letters, digits and - . _ ~ : / (a URL is "
                           "fine), starting with a letter or digit.")
    return value


def slug(name: str) -> str:
    """``name`` in lower-case ASCII letters and digits joined by ``-`` (``document`` when nothing is left)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return _NOT_SLUG.sub("-", ascii_name.lower()).strip("-")[:MAX_SLUG_CHARS].rstrip("-") or "document"


def id_for_path(path: PurePath, root: PurePath | None = None) -> str:
    """The id of a file: a slug of its name without the extension; for a file found in folder ``root``, of its path
    inside the folder, each part slugged and joined by ``/`` (``guides/setup``), so that files of one name in
    different folders stay apart."""
    parts = path.relative_to(root).parts if root is not None else (path.name,)
    return "/".join(slug(part) for part in (*parts[:-1], PurePath(parts[-1]).stem))


def document_id(given: str | None, url: str | None, path: PurePath | None, root: PurePath | None = None) -> str:
    """The id by the rules: ``given``, else the canonical ``url``, else the file's slug."""
    if given:
        return check_id(given)
    if url and _ID.fullmatch(url) and len(url) <= MAX_ID_CHARS:
        return url
    if path is None:
        raise InvalidInput("The document has no id: give one (`ingest --id`, the upload's `id` field).")
    return id_for_path(path, root)


def legacy_id(source: str) -> str:
    """The id a document stored by an earlier version gets: its URL or id as it was, else the slug of its file."""
    if _ID.fullmatch(source) and len(source) <= MAX_ID_CHARS and not source.startswith("bundled/") and (
            "://" in source or "." not in PurePath(source).name):
        return source
    return id_for_path(PurePath(source))
