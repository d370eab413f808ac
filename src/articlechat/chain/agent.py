"""The conversational agent, composed: session history -> retriever -> reader (answer selection and answerability)
-> answerer (quotes, or a language model) -> the answer contract."""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np

from articlechat.chain.answering import Answerer, Composed, Token
from articlechat.chain.extractive import ExtractiveAnswerer
from articlechat.chain.grounding import Grounding, Verdict, ground, ground_in_summary
from articlechat.chain.reader import Reader, shipped_model
from articlechat.chain.retrieval import Retrieval, Retriever
from articlechat.chain.summary import summarize
from articlechat.config import Settings
from articlechat.contract import Answer, Source
from articlechat.errors import InvalidInput
from articlechat.history import SessionStore, Turn
from articlechat.language import LanguageProfile, profile_for
from articlechat.store import ArticleStore

CANDIDATES_PER_ANSWER = 3  # candidate passages fetched per passage kept, before reranking by the reader
SUMMARY_SENTENCES = 4
HEADLINE_CHARS = 2_000  # of a title embedded for a summary: the model reads 256 word pieces, a page's title may be huge
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_MARKER = re.compile(r"\s*\[\d+\]")

__all__ = ["Agent", "Composed", "Token", "clean_question"]


def clean_question(question: str, max_chars: int) -> str:
    """The question without control characters and outer whitespace; refuses empty and over-long questions."""
    text = _CONTROL.sub(" ", question or "").strip()
    if not text:
        raise InvalidInput("The question is empty.")
    if len(text) > max_chars:
        raise InvalidInput(
            f"The question is {len(text):,} characters long; the limit is {max_chars:,}"
            " (ARTICLECHAT_MAX_QUESTION_CHARS)."
        )
    return text


def standalone_query(question: str, history: list[Turn], language: LanguageProfile) -> str:
    """The question with the previous question and, when it was answered, its answer prepended, when it refers
    back to the conversation ("When did that happen?" looks for the date in the sentence just quoted)."""
    if not history or not language.refers_back(question):
        return question
    previous = history[-1]
    answer = _MARKER.sub("", previous.answer) if previous.answered else ""
    return " ".join(part for part in (previous.question, answer, question) if part)


def decline_message(grounding: Grounding, language: LanguageProfile) -> str:
    """The polite refusal; it never repeats the question (which may carry an injection)."""
    if grounding.notice:
        return grounding.notice
    titles = {p.title for p in grounding.passages if p.title}
    return language.decline(f"“{titles.pop()}”" if len(titles) == 1 else "the articles here")


def sources_of(grounding: Grounding, cited: set[int]) -> list[Source]:
    """The contract's sources: the kept passages in rank order, marked when the answer cites them."""
    return [
        Source(n=p.n, text=p.text, source=p.source, title=p.title, start=p.start, end=p.end, score=p.score,
               cited=p.n in cited)
        for p in grounding.passages
    ]


class Agent:
    """Answers questions about the stored articles, in sessions, grounded in and citing the text."""

    def __init__(self, settings: Settings, store: ArticleStore, sessions: SessionStore,
                 answerer: Answerer | None = None, reader: Reader | None = None) -> None:
        self.settings = settings
        self.store = store
        self.sessions = sessions
        self.language = profile_for("en")
        self.retriever = Retriever(store, settings.answering.top_k * CANDIDATES_PER_ANSWER, self.language)
        self.reader = reader or Reader.for_backend(shipped_model(), self.language, store.backend)
        self.answerer: Answerer = answerer or ExtractiveAnswerer()

    @property
    def backend_name(self) -> str:
        """The answer backend's name, as the contract reports it."""
        return self.answerer.name

    @property
    def threshold(self) -> float:
        """The decline threshold: the setting when given, else the one calibrated with the reader's model."""
        return self.settings.answering.decline_threshold if self.settings.answering.decline_threshold is not None \
            else self.reader.model.threshold

    def ask(self, question: str, session_id: str | None = None, doc: str | None = None) -> Answer:
        """Answer ``question`` in session ``session_id`` (a new one when None), optionally about document ``doc``."""
        *_, answer = self.stream(question, session_id, doc)
        assert isinstance(answer, Answer)
        return answer

    def stream(self, question: str, session_id: str | None = None,
               doc: str | None = None) -> Iterator[Token | Answer]:
        """Yield the answer text as :class:`Token` pieces, then the full :class:`Answer`."""
        question = clean_question(question, self.settings.max_question_chars)
        if doc is not None:
            doc = self.store.resolve_source(doc)
        session = self.sessions.open(session_id, doc)
        history = self.sessions.recent_turns(session.id, self.settings.history_turns)
        grounding = self.ground(question, history, session.doc)
        composed = None
        if grounding.verdict.answerable:
            composed = yield from self.answerer.compose(question, history, grounding)
        if composed is None or composed.declined:
            fallback = bool(composed and composed.fallback)
            composed = Composed(decline_message(grounding, self.language), set(), fallback, declined=True)
            yield Token(composed.text)
        answered = not composed.declined and bool(composed.cited)
        answer = Answer(answer=composed.text, answered=answered, session_id=session.id,
                        sources=sources_of(grounding, composed.cited), backend=self.backend_name,
                        fallback=composed.fallback, short_answer=grounding.short_answer if answered else None)
        cited = next((s.source for s in answer.sources if s.cited), None)
        exchange = self.sessions.add_exchange(session, question, answer.answer, answer.answered,
                                              [s.model_dump() for s in answer.sources], doc=session.doc or cited)
        yield answer.model_copy(update={"exchange_id": exchange or None})  # readers' feedback names the exchange

    def ground(self, question: str, history: list[Turn], doc: str | None) -> Grounding:
        """Retrieve for the question (resolved against the history), read the passages and judge them."""
        grounding = self.search(question, standalone_query(question, history, self.language), doc)
        if not history or not grounding.verdict.answerable:
            return grounding
        rewritten = self.answerer.resolve(question, history)
        if rewritten is None or rewritten in (question, grounding.query):
            return grounding
        condensed = self.search(question, rewritten, doc)
        return condensed if condensed.verdict.answerable else grounding

    def search(self, question: str, query: str, doc: str | None) -> Grounding:
        """Retrieve for ``question`` and its resolved ``query``, keep the top-k passages and judge them."""
        retrieval = self.retriever.retrieve(question, query, doc)
        question = retrieval.question  # with misspelt question words put right
        if not self.language.looks_like(question):
            return Grounding(retrieval.passages[: self.settings.answering.top_k], [], Verdict(False, 0.0), query,
                             notice=self.language.unsupported())
        about = self.language.asks_about_document(question)
        if about and retrieval.passages:
            source = doc or retrieval.passages[0].source
            return self.byline(retrieval, source) if about == "author" else self.summary(retrieval, source)
        reading = self.reader.read(retrieval)
        band = self.settings.answering.uncertain_band if self.answerer.checks_answerability else 0.0
        return ground(retrieval, reading, self.settings.answering.top_k, self.threshold, band)

    def byline(self, retrieval: Retrieval, source: str) -> Grounding:
        """Ground "Who wrote this?" in the document's byline (the author's name leads the answer)."""
        opening = self.retriever.opening(source)
        for sentence in opening.sentences if opening else []:
            if match := self.language.byline.match(sentence.text):
                grounding = ground_in_summary(retrieval, [(opening, sentence)])
                grounding.short_answer = match.group("name")
                return grounding
        return ground_in_summary(retrieval, [])

    def summary(self, retrieval: Retrieval, source: str) -> Grounding:
        """Ground a question about the whole document in its extractive summary."""
        passages = self.retriever.document(source, retrieval.question_vector)
        sentences = [(p, s, v) for p in passages for s, v in zip(p.sentences, p.sentence_vectors, strict=True)]
        unique = list({s.start: (p, s, v) for p, s, v in sentences}.values())
        if not unique:
            return ground_in_summary(retrieval, [])
        title = passages[0].title
        headline = self.store.backend.vectors([title[:HEADLINE_CHARS]])[0] if title else None
        chosen = summarize([s.text for _, s, _ in unique], np.stack([v for *_, v in unique]), SUMMARY_SENTENCES,
                           self.language.stands_alone, headline)
        return ground_in_summary(retrieval, [(unique[i][0], unique[i][1]) for i in chosen])
