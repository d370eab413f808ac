"""Grounding: rank the sentences of the retrieved passages as evidence, and decide whether the text answers at all."""

from __future__ import annotations

import math
from dataclasses import dataclass

from articlechat.chain.lexical import answer_pattern, content_terms, focus_terms, occurs_in, vocabulary
from articlechat.chain.retrieval import Passage, Retrieval
from articlechat.ingest.split import Span

LEXICAL_WEIGHT = 0.5
CONTEXT_WEIGHT = 0.5
# With a missing focus term, only a very close sentence still counts as an answer (the wording differs, not the topic).
STRONG_MATCH = 0.7
# The headline matches many questions loosely (it names the article's topic) but rarely answers them.
TITLE_PENALTY = 0.15
# A sentence of the wanted form (a date for "When...?") must be nearly as relevant as the best sentence overall.
TYPED_RATIO = 0.8


@dataclass(frozen=True)
class Evidence:
    """A sentence of a passage and how well it answers the question."""

    passage: Passage
    sentence: Span
    score: float
    dense: float
    coverage: float


@dataclass(frozen=True)
class Verdict:
    """Whether the passages answer the question, and why."""

    answerable: bool
    confidence: float
    missing: tuple[str, ...] = ()


@dataclass
class Grounding:
    """The top-k passages (numbered for citation, best first), their sentences ranked as evidence, the verdict."""

    passages: list[Passage]
    evidence: list[Evidence]
    verdict: Verdict
    query: str  # what was searched: the question, resolved against the conversation


def rank_evidence(retrieval: Retrieval) -> list[Evidence]:
    """Every sentence of the retrieved passages, best answer first, each sentence once.

    Score = cosine(question, sentence) + LEXICAL_WEIGHT x the IDF-weighted share of the question's content terms that
    the sentence contains. For a follow-up, the cosine to the resolved query is blended in.
    """
    terms = content_terms(retrieval.question)
    # The question's terms that each sentence contains, per passage (matching a term is the costly step: once each).
    matched = [[{t for t in terms if occurs_in(t, vocabulary(s.text))} for s in p.sentences]
               for p in retrieval.passages]
    found = [m for per_passage in matched for m in per_passage]
    idf = {t: max(0.1, math.log((len(found) + 1) / (1 + sum(t in m for m in found)))) for t in terms}
    total_weight = sum(idf.values()) or 1.0
    ranked = []
    for passage, per_sentence in zip(retrieval.passages, matched, strict=True):
        if not passage.sentences:
            continue
        dense = passage.sentence_vectors @ retrieval.question_vector
        if retrieval.is_followup:
            dense = (1 - CONTEXT_WEIGHT) * dense + CONTEXT_WEIGHT * (passage.sentence_vectors @ retrieval.query_vector)
        for sentence, similarity, contained in zip(passage.sentences, dense, per_sentence, strict=True):
            coverage = sum(idf[t] for t in terms if t in contained) / total_weight if terms else 0.0
            score = float(similarity) + LEXICAL_WEIGHT * coverage
            if sentence.text.strip() == passage.title:
                score -= TITLE_PENALTY
            ranked.append(Evidence(passage, sentence, score, float(similarity), coverage))
    ranked.sort(key=lambda e: e.score, reverse=True)
    unique: dict[tuple[str, int], Evidence] = {}
    for e in ranked:  # overlapping chunks repeat sentences: keep each sentence once, at its best
        unique.setdefault((e.passage.source, e.sentence.start), e)
    return list(unique.values())


def judge(question: str, candidates: list[Passage], evidence: list[Evidence], threshold: float) -> Verdict:
    """The decline gate: answer only when the best evidence clears ``threshold`` and the candidate passages contain
    the question's focus."""
    if not evidence:
        return Verdict(False, float("-inf"))
    best = evidence[0]
    candidates_vocab: set[str] = set()
    for passage in candidates:
        candidates_vocab |= vocabulary(passage.text)
    missing = tuple(focus_terms(question, candidates_vocab))
    answerable = best.score >= threshold and (not missing or best.dense >= STRONG_MATCH)
    return Verdict(answerable, best.score, missing)


def ground(retrieval: Retrieval, top_k: int, threshold: float) -> Grounding:
    """Rerank the candidate passages by their best sentence, keep ``top_k``, number them and judge them.

    When the question's wording fixes the form of its answer ("When...?", "How many...?"), only sentences of that form
    count as evidence; with none, the question is declined.
    """
    evidence = rank_evidence(retrieval)
    wanted = answer_pattern(retrieval.question)
    if wanted and evidence:
        best = evidence[0].score
        evidence = [e for e in evidence if wanted.search(e.sentence.text) and e.score >= TYPED_RATIO * best]
    best_per_passage: dict[int, float] = {}
    for e in evidence:
        best_per_passage.setdefault(id(e.passage), e.score)
    ranked = sorted(retrieval.passages, key=lambda p: best_per_passage.get(id(p), p.score), reverse=True)[:top_k]
    for n, passage in enumerate(ranked, start=1):
        passage.n = n
        passage.score = round(best_per_passage.get(id(passage), passage.score), 4)
    kept = {id(p) for p in ranked}
    evidence = [e for e in evidence if id(e.passage) in kept]
    verdict = judge(retrieval.question, retrieval.passages, evidence, threshold)
    return Grounding(ranked, evidence, verdict, retrieval.query)


def ground_in_opening(retrieval: Retrieval, opening: Passage, top_k: int, sentences: int) -> Grounding:
    """Ground a question about the document as a whole in its opening: the title (and the lead sentence).

    The opening passage becomes source [1], the retrieved passages follow.
    """
    others = [p for p in retrieval.passages if (p.source, p.start) != (opening.source, opening.start)]
    passages = [opening, *others][:top_k]
    for n, passage in enumerate(passages, start=1):
        passage.n = n
        passage.score = round(passage.score, 4)
    lead = [s for s in opening.sentences if not s.text.startswith("By ")][:sentences]
    evidence = [Evidence(opening, sentence, 1.0, 1.0, 1.0) for sentence in lead]
    return Grounding(passages, evidence, Verdict(bool(evidence), 1.0), retrieval.query)
