"""What the rest of articlechat needs from a vector index; :class:`~articlechat.store.chroma.ChromaIndex` is one."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from articlechat.store.records import ChunkRecord, Hit


class VectorIndex(Protocol):
    """Passages and their vectors, searchable by similarity, optionally within one document."""

    def upsert(self, chunks: list[ChunkRecord], vectors: np.ndarray) -> None:
        """Add or overwrite ``chunks`` with their passage ``vectors`` (one row each)."""

    def delete(self, ids: list[str]) -> None:
        """Remove the chunks ``ids``."""

    def query(self, vector: list[float], k: int, document: str | None = None) -> list[Hit]:
        """The ``k`` chunks nearest to ``vector``, best first, optionally only from ``document``."""

    def get(self, document: str, with_text: bool = False) -> list[ChunkRecord]:
        """The chunks of ``document``."""

    def opening(self, document: str) -> Hit | None:
        """The first chunk of ``document``."""

    def all_chunks(self, with_text: bool = False) -> list[ChunkRecord]:
        """Every chunk (their text too with ``with_text``)."""

    def count(self) -> int:
        """How many chunks the index holds."""

    def probe(self) -> int:
        """:meth:`count`, after checking with a real query that the index finds what it holds."""

    def staging(self) -> VectorIndex:
        """An empty sibling index to rebuild into."""

    def swap(self, staging: VectorIndex) -> None:
        """Make ``staging`` this index (its content replaces this one's)."""

    def reopen(self) -> None:
        """Open again what another process may have changed under this one."""
