"""Extractive summaries: the article's central sentences, spread over its course, without repeats.

LexRank (Erkan & Radev 2004) over the sentence embeddings gives each sentence its centrality, raised for the first
and last few sentences (news and reference writing state the point up front and sum it up at the end: the lead
bias that makes "the first sentences" a strong summary baseline). The document is cut into as many consecutive parts
as sentences wanted, and each part gives the sentence that best trades that relevance against similarity to the ones
already chosen (maximal marginal relevance), so the summary follows the article from its opening through the middle
to its conclusion. When the headline is given, the body sentence closest to it is one of the sentences and the others
come from one part fewer: the sentence that restates the headline's claim is the article's thesis (Edmundson's
"title method"). A sentence that opens by referring to the one before it ("This is because...") is not chosen.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

MAX_CONSIDERED = 400  # longer documents: this many sentences, evenly spaced, are considered (cost ~ n^2)
MIN_WORDS = 6  # shorter lines (bylines, captions, datelines) are not summary sentences
SENTENCE_ENDS = (".", "!", "?", '"', "\u201d", "'", "\u2019", ")")  # a headline has no closing punctuation
DAMPING = 0.85
ITERATIONS = 50
RELEVANCE = 0.7  # MMR: weight of centrality against redundancy
EDGE_WEIGHT = 0.5  # relevance bonus of the very first and last sentences, fading over EDGE_DECAY sentences
EDGE_DECAY = 2.0
NEAR_DUPLICATE = 0.9  # cosine similarity above which a sentence repeats one already chosen


def summarize(sentences: list[str], vectors: np.ndarray, count: int = 4,
              stands_alone: Callable[[str], bool] = lambda _: True, headline: np.ndarray | None = None) -> list[int]:
    """Indices (in document order) of about ``count`` sentences that summarise the document.

    ``vectors`` holds one embedding per sentence, ``headline`` the headline's (its closest sentence is kept).
    Sentences that do not ``stand alone`` (a language's openings that refer to the sentence before) are left out
    unless no other is usable. Fewer are returned when the document has fewer usable sentences.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, not {count}")
    if len(vectors) != len(sentences):
        raise ValueError(f"{len(sentences)} sentences but {len(vectors)} vectors")
    body = [i for i, s in enumerate(sentences) if _is_body_sentence(s)]
    candidates = _considered([i for i in body if stands_alone(sentences[i])] or body)
    if not candidates:
        return []
    unit = _unit(np.asarray(vectors, dtype=np.float32)[candidates])
    similarity = unit @ unit.T
    relevance = lexrank(similarity) * edge_prior(len(candidates))
    chosen = [] if headline is None else [_closest(unit, headline)]  # positions in ``candidates``
    parts = min(count - len(chosen), len(candidates))
    for part in np.array_split(np.arange(len(candidates)), parts) if parts else []:
        best = _most_relevant(part, relevance, similarity, chosen)
        if best is not None:
            chosen.append(best)
    return sorted(candidates[i] for i in chosen)


def _closest(unit: np.ndarray, vector: np.ndarray) -> int:
    """The row of ``unit`` most similar to ``vector``."""
    return int(np.argmax(unit @ _unit(np.asarray(vector, dtype=np.float32)[None])[0]))


def lexrank(similarity: np.ndarray) -> np.ndarray:
    """Centrality of each sentence: PageRank over the graph of positive cosine similarities (scores sum to 1)."""
    n = len(similarity)
    weights = np.clip(similarity, 0.0, None)
    np.fill_diagonal(weights, 0.0)
    totals = weights.sum(axis=1, keepdims=True)
    transition = np.divide(weights, totals, out=np.full_like(weights, 1.0 / n), where=totals > 0)
    scores = np.full(n, 1.0 / n)
    for _ in range(ITERATIONS):
        scores = (1 - DAMPING) / n + DAMPING * (transition.T @ scores)
    return scores / scores.sum()


def edge_prior(n: int) -> np.ndarray:
    """A weight per position: 1 + EDGE_WEIGHT at the first and last sentence, falling to 1 in between."""
    position = np.arange(n)
    nearest_edge = np.minimum(position, n - 1 - position)
    return 1 + EDGE_WEIGHT * np.exp(-nearest_edge / EDGE_DECAY)


def _most_relevant(part: np.ndarray, relevance: np.ndarray, similarity: np.ndarray, chosen: list[int]) -> int | None:
    """The sentence of ``part`` with the best marginal relevance that repeats none of ``chosen``."""
    redundancy = similarity[np.ix_(part, chosen)].max(axis=1) if chosen else np.zeros(len(part))
    scaled = relevance[part] / relevance.max()
    score = np.where(redundancy < NEAR_DUPLICATE, RELEVANCE * scaled - (1 - RELEVANCE) * redundancy, -np.inf)
    best = int(np.argmax(score))
    return int(part[best]) if np.isfinite(score[best]) else None


def _is_body_sentence(sentence: str) -> bool:
    text = sentence.strip()
    return len(text.split()) >= MIN_WORDS and text.endswith(SENTENCE_ENDS)


def _considered(indices: list[int]) -> list[int]:
    """At most :data:`MAX_CONSIDERED` of ``indices``, evenly spaced over the document."""
    if len(indices) <= MAX_CONSIDERED:
        return indices
    return [indices[int(i)] for i in np.linspace(0, len(indices) - 1, MAX_CONSIDERED)]


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
