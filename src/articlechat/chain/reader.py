"""The reader: which sentence answers the question, whether the passages answer it at all, and the short answer.

Two logistic models fitted on real questions (``scripts/fit_reader.py``, weights in ``data/reader/reader.json``):
one scores each candidate sentence for "contains the answer", the other the question for "the chosen sentence
answers it". Their features come from :mod:`articlechat.chain.features`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from articlechat.chain.excerpt import ANSWER_CHARS, ELLIPSIS, excerpt, lead
from articlechat.chain.features import (
    QUESTION_FEATURES,
    SENTENCE_FEATURES,
    Alignment,
    Candidate,
    Question,
    WordVectors,
    analyse,
    candidates,
    context_weight,
    names_role_holder,
    new_typed_piece,
    question_features,
    sentence_features,
    text_words,
)
from articlechat.chain.retrieval import Retrieval
from articlechat.embeddings import EmbeddingBackend
from articlechat.errors import ConfigError
from articlechat.ingest.split import Span
from articlechat.language import LanguageProfile

MODEL_FILE = "reader.json"
SHORT_ANSWER_CHARS = 100  # a longer run of capitalised words is no name to lead an answer with
PAIR_MARGIN = 1.0  # the next sentence is quoted too when it scores within this many logits of the best
ROLE_CANDIDATES = 3  # "Who is the X?": of the best sentences this many, the first that names the X is chosen


@dataclass(frozen=True)
class LinearModel:
    """A standardised logistic model: features named, their mean and scale, weights and bias."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float

    @classmethod
    def from_json(cls, data: dict[str, Any], expected: tuple[str, ...]) -> LinearModel:
        """The model stored in ``data``; its features must be the code's, in order."""
        if tuple(data["features"]) != expected:
            raise ConfigError("The reader model does not match this version's features; refit it with "
                              "scripts/fit_reader.py.")
        arrays = [np.asarray(data[key], dtype=np.float64) for key in ("mean", "scale", "weights")]
        if any(a.shape != (len(expected),) for a in arrays) or not all(np.isfinite(a).all() for a in arrays):
            raise ConfigError("The reader model's weights are malformed; refit it with scripts/fit_reader.py.")
        return cls(expected, *arrays, float(data["bias"]))

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (what :meth:`from_json` reads)."""
        return {"features": list(self.features), "mean": self.mean.round(6).tolist(),
                "scale": self.scale.round(6).tolist(), "weights": self.weights.round(6).tolist(),
                "bias": round(self.bias, 6)}

    def logits(self, rows: np.ndarray) -> np.ndarray:
        """The log-odds for each row of features."""
        return ((rows - self.mean) / self.scale) @ self.weights + self.bias


def probability(logit: float) -> float:
    """The logistic function."""
    return float(1.0 / (1.0 + np.exp(-logit)))


@dataclass(frozen=True)
class ReaderModel:
    """The fitted sentence and answerability models, the calibrated decline threshold, and where they came from."""

    sentence: LinearModel
    gate: LinearModel
    threshold: float
    provenance: dict[str, Any]

    @classmethod
    def load(cls, path: Path | None = None) -> ReaderModel:
        """The shipped model (or the one at ``path``); a missing or malformed file is a configuration error."""
        try:
            text = path.read_text() if path else resources.files("articlechat").joinpath(
                "data", "reader", MODEL_FILE).read_text()
            data = json.loads(text)
            return cls(LinearModel.from_json(data["sentence"], SENTENCE_FEATURES),
                       LinearModel.from_json(data["gate"], QUESTION_FEATURES), float(data["threshold"]),
                       data.get("provenance", {}))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"Cannot read the reader model {path or MODEL_FILE} (ARTICLECHAT_READER_MODEL): "
                              f"{exc}") from None

    @classmethod
    def untrained(cls) -> ReaderModel:
        """A model with no weights (every sentence and question alike): what fitting starts from."""
        def blank(names: tuple[str, ...]) -> LinearModel:
            return LinearModel(names, np.zeros(len(names)), np.ones(len(names)), np.zeros(len(names)), 0.0)

        return cls(blank(SENTENCE_FEATURES), blank(QUESTION_FEATURES), 0.5, {})

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (what :meth:`load` reads)."""
        return {"provenance": self.provenance, "threshold": round(self.threshold, 4),
                "sentence": self.sentence.to_json(), "gate": self.gate.to_json()}


@lru_cache(maxsize=1)
def shipped_model() -> ReaderModel:
    """The model shipped in the package, loaded once."""
    return ReaderModel.load()


@dataclass(frozen=True)
class Scored:
    """A candidate sentence with its "contains the answer" log-odds."""

    candidate: Candidate
    logit: float


@dataclass(frozen=True)
class Reading:
    """What the reader concluded: candidates best first, the sentence(s) to quote and the part of each quoted (the
    whole sentence unless the answer would be too long), the chance they answer, and the short answer when the
    question asks for a name, date, number or place the sentence holds."""

    ranked: list[Scored]
    chosen: list[Candidate]
    probability: float
    short_answer: str | None
    quotes: list[Span]


class Reader:
    """Reads the retrieved passages for the question with the fitted models."""

    def __init__(self, model: ReaderModel, language: LanguageProfile, words: WordVectors,
                 alignment: Alignment) -> None:
        self.model = model
        self.language = language
        self.words = words
        self.alignment = alignment

    @classmethod
    def for_backend(cls, model: ReaderModel, language: LanguageProfile, backend: EmbeddingBackend) -> Reader:
        """A reader whose word vectors come from ``backend`` and contextual vectors from the packaged model."""
        return cls(model, language, WordVectors(backend), Alignment(backend.contextual_model(), language))

    def with_model(self, model: ReaderModel) -> Reader:
        """The same reader (and its caches) with another model."""
        return Reader(model, self.language, self.words, self.alignment)

    def features(self, retrieval: Retrieval) -> tuple[list[Candidate], Question, np.ndarray]:
        """The candidate sentences, the analysed question (a follow-up with its context) and their features."""
        found = candidates(retrieval, context_weight(retrieval.question, self.language))
        context = retrieval.query.removesuffix(retrieval.question) if retrieval.is_followup else ""
        question = analyse(retrieval.question, [c.sentence.text for c in found], self.language, context)
        return found, question, sentence_features(question, found, self.language, self.words)

    def read(self, retrieval: Retrieval) -> Reading:
        """Score every candidate sentence, choose what to quote and judge whether it answers."""
        return self.judge(*self.features(retrieval))

    def judge(self, found: list[Candidate], question: Question, rows: np.ndarray) -> Reading:
        """The reading, from the candidates' features."""
        if not found:
            return Reading([], [], 0.0, None, [])
        logits = self.model.sentence.logits(rows)
        order = np.argsort(-logits, kind="stable")
        gate = question_features(question, found, rows, logits, order, self.language, self.alignment)
        chance = probability(float(self.model.gate.logits(gate[None])[0]))
        ranked = [Scored(found[i], float(logits[i])) for i in self.role_holder_first(question, found, order)]
        chosen = self.quoted(ranked)
        short = self.short_answer(question, chosen[0])
        return Reading(ranked, chosen, chance, short, self.excerpts(question, chosen, short))

    def role_holder_first(self, question: Question, found: list[Candidate], order: np.ndarray) -> np.ndarray:
        """The candidates' ``order`` (best first), except that for "Who is the X?" the first of the best
        ROLE_CANDIDATES that names a holder of the role comes first ("Who is the Russian President?": the sentence
        with "Russian President, Vladimir Putin", not one that speaks of the president without naming him). The
        gate has judged the best candidate by log-odds: whether the passages answer; this chooses what to quote. A
        follow-up keeps the order: its own words name the role only in part."""
        if question.role != "answer" or question.wanted != "person" or question.followup:
            return order
        best = order[:ROLE_CANDIDATES]
        holder = next((i for i in best if names_role_holder(question, found[i].sentence.text, self.language)), None)
        return order if holder is None else np.concatenate([[holder], [i for i in order if i != holder]])

    def quoted(self, ranked: list[Scored]) -> list[Candidate]:
        """The best sentence, and the one next to it in the text when that scores nearly as well and the two make
        an answer short enough (ANSWER_CHARS)."""
        best = ranked[0]
        for other in ranked[1:3]:
            same_passage = other.candidate.passage is best.candidate.passage
            adjacent = same_passage and abs(other.candidate.index - best.candidate.index) == 1
            fits = len(best.candidate.sentence.text) + len(other.candidate.sentence.text) < ANSWER_CHARS
            if adjacent and fits and best.logit - other.logit <= PAIR_MARGIN:
                return sorted([best.candidate, other.candidate], key=lambda c: c.sentence.start)
        return [best.candidate]

    def excerpts(self, question: Question, chosen: list[Candidate], short: str | None) -> list[Span]:
        """The part of each chosen sentence to quote: all of them when the answer (with the short answer before it)
        fits ANSWER_CHARS, else the longest is cut to the clauses that match the question best."""
        room = ANSWER_CHARS - len(lead(short)) - 2 * len(ELLIPSIS)
        longest = max(chosen, key=lambda c: len(c.sentence.text))
        others = sum(len(c.sentence.text) + 1 for c in chosen if c is not longest)

        def relevance(text: str) -> float:
            words = text_words(self.language, text)
            return sum(term.weight * words.match(term.token) for term in question.terms)

        return [excerpt(c.sentence, room - others, relevance, short) if c is longest else c.sentence for c in chosen]

    def short_answer(self, question: Question, chosen: Candidate) -> str | None:
        """The name, date, number or place of the wanted type in the chosen sentence that the question does not
        already say; None when the question wants no such thing, the sentence holds none, or the piece is too long
        to be one (SHORT_ANSWER_CHARS)."""
        piece = new_typed_piece(question, chosen.sentence.text, self.language)
        piece = piece.strip(" ,.;:") if piece else None
        return piece if piece and len(piece) <= SHORT_ANSWER_CHARS else None
