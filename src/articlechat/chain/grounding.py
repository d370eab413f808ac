"""Grounding: the passages kept for an answer (numbered for citation), the sentences to quote, and the verdict."""

from __future__ import annotations

from dataclasses import dataclass, field

from articlechat.chain.excerpt import marked
from articlechat.chain.reader import Reading, probability
from articlechat.chain.retrieval import Passage, Retrieval
from articlechat.ingest.split import Span


@dataclass(frozen=True)
class Evidence:
    """A sentence of a passage, the reader's log-odds that it holds the answer, and the part of it to quote (the
    whole sentence unless it is too long to read as an answer)."""

    passage: Passage
    sentence: Span
    score: float
    quote: Span | None = None  # None: the whole sentence

    @property
    def quoted_text(self) -> str:
        """The text to quote, with an ellipsis where the sentence was cut."""
        return marked(self.sentence, self.quote or self.sentence)


@dataclass(frozen=True)
class Verdict:
    """Whether the passages answer the question: the reader's probability that the quoted sentence does, against
    the decline threshold; ``certain`` when it is far from the threshold (no model is asked to double-check)."""

    answerable: bool
    confidence: float
    certain: bool = True
    quotable: bool = True  # whether the extractive answerer alone would answer (at the threshold itself)


@dataclass
class Grounding:
    """The top-k passages (numbered for citation, best first), the sentences to quote, the verdict."""

    passages: list[Passage]
    quoted: list[Evidence]
    verdict: Verdict
    query: str  # what was searched: the question, resolved against the conversation
    short_answer: str | None = None
    notice: str | None = field(default=None)  # why the question cannot be answered at all (language...), if so


def number(passages: list[Passage], scores: dict[int, float]) -> list[Passage]:
    """The passages numbered 1.. for citation, in the order given, each with its score (by ``id``)."""
    for n, passage in enumerate(passages, start=1):
        passage.n = n
        passage.score = round(scores.get(id(passage), 0.0), 4)
    return passages


def ground(retrieval: Retrieval, reading: Reading, top_k: int, threshold: float, band: float = 0.0) -> Grounding:
    """Rerank the passages by their best sentence, keep ``top_k`` (those with the quoted sentences first) and judge
    by the reader's probability: answerable at ``threshold`` or above, or within ``band`` below it (uncertain: for
    an answerer that checks answerability itself)."""
    order: dict[int, Passage] = {}
    scores: dict[int, float] = {}
    for scored in reading.ranked:  # best first: a passage's first sentence here is its best
        order.setdefault(id(scored.candidate.passage), scored.candidate.passage)
        scores.setdefault(id(scored.candidate.passage), probability(scored.logit))
    for passage in retrieval.passages:
        order.setdefault(id(passage), passage)
    kept = number(list(order.values())[:top_k], scores)
    logits = {(s.candidate.passage.source, s.candidate.sentence.start): s.logit for s in reading.ranked}
    quoted = [Evidence(c.passage, c.sentence, logits[c.key], part)
              for c, part in zip(reading.chosen, reading.quotes, strict=True) if c.passage in kept]
    chance = reading.probability
    verdict = Verdict(bool(quoted) and chance >= threshold - band, round(chance, 4), abs(chance - threshold) > band,
                      bool(quoted) and chance >= threshold)
    return Grounding(kept, quoted, verdict, retrieval.query, reading.short_answer if verdict.answerable else None)


def ground_in_summary(retrieval: Retrieval, summary: list[tuple[Passage, Span]]) -> Grounding:
    """Ground a question about the whole document in its summary sentences; their passages (in text order, score
    1.0) are the sources."""
    order = {id(passage): passage for passage, _ in summary}
    kept = number(list(order.values()), dict.fromkeys(order, 1.0))
    quoted = [Evidence(passage, sentence, 1.0) for passage, sentence in summary]
    return Grounding(kept, quoted, Verdict(bool(quoted), 1.0), retrieval.query)
