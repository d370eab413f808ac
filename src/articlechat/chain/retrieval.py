"""Retrieval: embed the question (and its conversation context), fetch the nearest passages, reorder them with a
lexical ranking and keep the candidates."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from rank_bm25 import BM25Okapi

from articlechat.ingest.pipeline import decode_vectors
from articlechat.ingest.split import Span
from articlechat.language import LanguageProfile
from articlechat.store import ArticleStore, Hit

SHORTLIST = 40  # nearest passages that the lexical ranking reorders before the candidates are kept
FUSION_K = 60  # reciprocal rank fusion's constant (Cormack, Clarke and Buettcher, SIGIR 2009)


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


@lru_cache(maxsize=4096)
def _terms(language: LanguageProfile, text: str) -> tuple[str, ...]:
    """The lexical ranking's terms of ``text``: each content word's lemmas (cached: passages recur)."""
    return tuple(lemma for token in language.content_tokens(text) for lemma in sorted(token.lemmas))


def fuse(hits: list[Hit], query: str, language: LanguageProfile) -> list[Hit]:
    """``hits`` (nearest first) reordered by reciprocal rank fusion of that order and their BM25 order for
    ``query``: a passage that says the question's rarer words rises, one only near in meaning stays."""
    terms = _terms(language, query)
    texts = [_terms(language, hit.text) for hit in hits] if terms else []
    if not any(texts):
        return hits
    scores = BM25Okapi(texts).get_scores(terms)
    lexical_rank = np.empty(len(hits), dtype=np.int64)
    lexical_rank[np.argsort(-scores, kind="stable")] = np.arange(len(hits))
    fused = 1.0 / (FUSION_K + np.arange(len(hits))) + 1.0 / (FUSION_K + lexical_rank)
    return [hits[i] for i in np.argsort(-fused, kind="stable")]


def _passage(hit: Hit, dimension: int) -> Passage:
    meta = hit.metadata
    start = int(meta["start"])
    sentences, vectors = _sentences(hit.id, hit.text, start, meta.get("sentences", ""),
                                    meta.get("sentence_vectors", ""), dimension)
    return Passage(0, hit.text, meta["source"], meta.get("title") or None, start, int(meta["end"]), hit.score,
                   list(sentences), vectors)


def _put_right(query: str, question: str, asked: str) -> str:
    """The query with the question it ends with (after any conversation context) replaced by ``asked``."""
    return query.removesuffix(question) + asked if query.endswith(question) else query


class Retriever:
    """Finds the passages of the store that bear on a question."""

    def __init__(self, store: ArticleStore, candidates: int, language: LanguageProfile) -> None:
        self.store = store
        self.candidates = candidates
        self.language = language

    def retrieve(self, question: str, query: str | None = None, doc: str | None = None) -> Retrieval:
        """Candidate passages for ``query`` (default: the question), optionally within document ``doc``.

        When the query adds conversation context to the question, both are searched and the passages merged by
        their best score: the context finds what "it" refers to, the question alone what is asked now. The
        nearest :data:`SHORTLIST` are then reordered by :func:`fuse` and the first ``candidates`` kept. The
        question's misspelt question words are put right first (:meth:`LanguageProfile.corrected`).
        """
        asked = self.language.corrected(question)
        query, question = _put_right(query or question, question, asked), asked
        backend = self.store.backend
        texts = [question] if query == question else [question, query]
        vectors = backend.query_vectors(texts)
        best: dict[str, Hit] = {}
        for vector in vectors:
            for hit in self.store.search(vector.tolist(), max(self.candidates, SHORTLIST), source=doc):
                if hit.id not in best or hit.score > best[hit.id].score:
                    best[hit.id] = hit
        nearest = sorted(best.values(), key=lambda h: h.score, reverse=True)
        hits = fuse(nearest, query, self.language)[: self.candidates]
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
