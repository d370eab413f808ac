"""Retrieval: resolve a follow-up against the conversation, embed it, fetch the top-k passages."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from articlechat.ingest.pipeline import decode_vectors
from articlechat.ingest.split import Span
from articlechat.store import ArticleStore, Hit


@dataclass
class Passage:
    """A retrieved chunk, numbered for citation, with its sentences and their vectors."""

    n: int  # citation number, set once the passage is among the top-k
    text: str
    source: str
    title: str | None
    start: int
    end: int
    score: float
    sentences: list[Span]
    sentence_vectors: np.ndarray


@dataclass
class Retrieval:
    """What the answerers work from."""

    question: str
    query: str
    question_vector: np.ndarray
    query_vector: np.ndarray
    passages: list[Passage]

    @property
    def is_followup(self) -> bool:
        """Whether the query adds conversation context to the question."""
        return self.query != self.question


@lru_cache(maxsize=4096)
def _sentences(chunk_id: str, text: str, start: int, spans: str, packed: str,
               dimension: int) -> tuple[list[Span], np.ndarray]:
    """A chunk's sentences and their vectors, decoded once per chunk (ids change whenever the content does)."""
    sentences = [Span(a, b, text[a - start : b - start]) for a, b in json.loads(spans or "[]")]
    vectors = decode_vectors(packed or "", dimension)
    vectors.flags.writeable = False  # shared between requests
    return sentences, vectors


def _passage(hit: Hit, dimension: int) -> Passage:
    meta = hit.metadata
    start = int(meta["start"])
    sentences, vectors = _sentences(hit.id, hit.text, start, meta.get("sentences", ""),
                                    meta.get("sentence_vectors", ""), dimension)
    return Passage(0, hit.text, meta["source"], meta.get("title") or None, start, int(meta["end"]), hit.score,
                   list(sentences), vectors)


class Retriever:
    """Finds the passages of the store that bear on a question."""

    def __init__(self, store: ArticleStore, candidates: int) -> None:
        self.store = store
        self.candidates = candidates

    def retrieve(self, question: str, query: str | None = None, doc: str | None = None) -> Retrieval:
        """Candidate passages for ``query`` (default: the question), optionally within document ``doc``.

        When the query adds conversation context to the question, both are searched and the passages merged by
        their best score: the context finds what "it" refers to, the question alone what is asked now.
        """
        query = query or question
        backend = self.store.backend
        texts = [question] if query == question else [question, query]
        vectors = backend.query_vectors(texts)
        best: dict[str, Hit] = {}
        for vector in vectors:
            for hit in self.store.search(vector.tolist(), self.candidates, source=doc):
                if hit.id not in best or hit.score > best[hit.id].score:
                    best[hit.id] = hit
        hits = sorted(best.values(), key=lambda h: h.score, reverse=True)[: self.candidates]
        passages = [_passage(hit, backend.dimension()) for hit in hits]
        return Retrieval(question, query, vectors[0], vectors[-1], passages)

    def document(self, source: str, vector: np.ndarray) -> list[Passage]:
        """Every passage of document ``source``, in text order, scored against ``vector``."""
        record = self.store.record(source)
        if record is None or not record.passages:
            return []
        dimension = self.store.backend.dimension()
        hits = self.store.search(vector.tolist(), record.passages, source=source)
        return sorted((_passage(hit, dimension) for hit in hits), key=lambda p: p.start)

    def opening(self, source: str) -> Passage | None:
        """The first passage of document ``source``."""
        hit = self.store.first_chunk(source)
        return _passage(hit, self.store.backend.dimension()) if hit else None
