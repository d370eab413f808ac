"""A language's antonyms from a wordnet, to spot a question that swapped a word for its opposite.

The table (built by ``scripts/build_antonyms.py``) has one line per word: the word, then its antonyms, tab-separated.
It is read on first use (~6,000 words, under 1 MB in memory).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from functools import cached_property
from importlib import resources

from articlechat.errors import ConfigError


class Antonyms:
    """The antonym table ``name`` packaged in ``data/language``."""

    def __init__(self, name: str) -> None:
        self.name = name

    @cached_property
    def table(self) -> dict[str, frozenset[str]]:
        """word -> its antonyms."""
        try:
            data = resources.files("articlechat").joinpath("data", "language", self.name).read_bytes()
            lines = gzip.decompress(data).decode().splitlines()
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            raise ConfigError(f"Cannot read the antonym table {self.name}: {exc}; reinstall articlechat.") from None
        return {word: frozenset(opposites) for word, *opposites in (line.split("\t") for line in lines)}

    def opposed(self, forms: Iterable[str], others: frozenset[str]) -> bool:
        """Whether one of ``others`` is an antonym of a word with lemmas ``forms``: "closing" and "opening"."""
        return any(not self.table.get(form, frozenset()).isdisjoint(others) for form in forms)
