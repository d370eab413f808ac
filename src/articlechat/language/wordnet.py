"""Tables of related words from a wordnet: antonyms (to spot a word swapped for its opposite) and aliases (a
capital for its country).

Each table (built by ``scripts/build_wordnet_tables.py``) has one line per word: the word, then its related words,
tab-separated; multi-word names are joined with ``_``. A table is read on first use (a few thousand words).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from functools import cached_property
from importlib import resources

from articlechat.errors import ConfigError


class WordRelations:
    """The table ``name`` packaged in ``data/language``."""

    def __init__(self, name: str) -> None:
        self.name = name

    @cached_property
    def table(self) -> dict[str, frozenset[str]]:
        """word -> its related words."""
        try:
            data = resources.files("articlechat").joinpath("data", "language", self.name).read_bytes()
            lines = gzip.decompress(data).decode().splitlines()
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            raise ConfigError(f"Cannot read the word table {self.name}: {exc}; reinstall articlechat.") from None
        return {word: frozenset(related) for word, *related in (line.split("\t") for line in lines)}

    @cached_property
    def names(self) -> frozenset[str]:
        """The table's multi-word names ("north_korea"), which a text's runs of words are matched against."""
        return frozenset(w for word, related in self.table.items() for w in (word, *related) if "_" in w)

    def of(self, word: str) -> frozenset[str]:
        """The words related to ``word`` (none when the table does not have it)."""
        return self.table.get(word, frozenset())

    def relate(self, forms: Iterable[str], others: frozenset[str]) -> bool:
        """Whether one of ``others`` is related to one of a word's ``forms``: "closing" and "opening"."""
        return any(not self.of(form).isdisjoint(others) for form in forms)
