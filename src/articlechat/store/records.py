"""Typed records at the store's joints: a document of the catalog, a chunk of the vector index, a search hit."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def encode_vectors(vectors: np.ndarray) -> str:
    """Pack sentence vectors into a metadata string (float16, base64)."""
    return base64.b64encode(vectors.astype(np.float16).tobytes()).decode("ascii")


def decode_vectors(packed: str, dimension: int) -> np.ndarray:
    """Inverse of :func:`encode_vectors`."""
    return np.frombuffer(base64.b64decode(packed), dtype=np.float16).reshape(-1, dimension).astype(np.float32)


@dataclass
class DocumentRecord:
    """One document of the catalog: its id, what is known about it and a digest of the text stored for it."""

    id: str
    title: str | None = None
    author: str | None = None
    published: str | None = None  # ISO 8601 date, as the page or the options gave it
    url: str | None = None  # canonical URL
    language: str | None = None
    passages: int = 0
    chars: int = 0
    digest: str = ""  # sha256 of the cleaned text and labels: an unchanged document is skipped before splitting
    ingested_at: str | None = None

    @property
    def source(self) -> str:
        """The id under its name in the answer contract (``Source.source``)."""
        return self.id

    @property
    def chunks(self) -> int:
        """Passages, under their earlier name."""
        return self.passages

    def to_metadata(self) -> dict[str, str | int]:
        """Chroma metadata (no None values)."""
        return {name: value for name, value in self.__dict__.items() if value is not None}

    @classmethod
    def from_metadata(cls, meta: dict[str, Any]) -> DocumentRecord:
        """Inverse of :meth:`to_metadata`."""
        return cls(**{name: meta[name] for name in cls.__dataclass_fields__ if name in meta})


@dataclass
class ChunkRecord:
    """One passage of a document in the vector index, with its sentences' offsets and vectors."""

    id: str
    document: str
    text: str
    start: int
    end: int
    index: int  # position among the document's passages
    title: str | None = None
    author: str | None = None
    sentences: list[tuple[int, int]] = field(default_factory=list)
    sentence_vectors: np.ndarray | None = field(default=None, repr=False)
    ingested_at: str | None = None

    def to_metadata(self) -> dict[str, str | int]:
        """Chroma metadata: the layout the retriever reads (``source``, ``chunk``, packed sentence vectors)."""
        vectors = self.sentence_vectors if self.sentence_vectors is not None else np.zeros((0, 0))
        return {"source": self.document, "title": self.title or "", "author": self.author or "",
                "start": self.start, "end": self.end, "chunk": self.index,
                "sentences": json.dumps([list(s) for s in self.sentences]),
                "sentence_vectors": encode_vectors(vectors), "ingested_at": self.ingested_at or ""}

    @classmethod
    def from_stored(cls, chunk_id: str, text: str, meta: dict[str, Any], dimension: int | None = None) -> ChunkRecord:
        """A chunk read back from the index (sentence vectors decoded when ``dimension`` is given)."""
        vectors = decode_vectors(meta.get("sentence_vectors", ""), dimension) if dimension else None
        return cls(chunk_id, meta["source"], text, int(meta["start"]), int(meta["end"]), int(meta.get("chunk", 0)),
                   meta.get("title") or None, meta.get("author") or None,
                   [(a, b) for a, b in json.loads(meta.get("sentences") or "[]")], vectors,
                   meta.get("ingested_at") or None)


@dataclass
class Hit:
    """One retrieved chunk with its cosine similarity to the query."""

    id: str
    text: str
    metadata: dict[str, Any]
    score: float

    def chunk(self, dimension: int | None = None) -> ChunkRecord:
        """The hit as a typed chunk record."""
        return ChunkRecord.from_stored(self.id, self.text, self.metadata, dimension)


def rebuild_text(chunks: list[ChunkRecord]) -> str:
    """A document's cleaned text from its chunks' offsets (the gaps between chunks were whitespace)."""
    out: list[str] = []
    cursor = 0
    for chunk in sorted(chunks, key=lambda c: c.start):
        start = chunk.start
        if start > cursor:
            out.append("\n\n" if start - cursor >= 2 else " ")
            out.append(" " * (start - cursor - 2) if start - cursor > 2 else "")
            cursor = start
        out.append(chunk.text[cursor - start :])
        cursor = max(cursor, start + len(chunk.text))
    return "".join(out)
