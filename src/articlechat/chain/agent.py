"""The conversational agent: session history -> retrieval -> grounding gate -> answer -> the answer contract."""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from articlechat.chain.extractive import extract_answer
from articlechat.chain.grounding import Grounding, ground, ground_in_opening
from articlechat.chain.lexical import asks_for_gist
from articlechat.chain.retrieval import Retriever, standalone_query
from articlechat.config import Settings
from articlechat.contract import Answer, Source
from articlechat.errors import InvalidInput
from articlechat.history import SessionStore, Turn
from articlechat.store import ArticleStore

CANDIDATES_PER_ANSWER = 3  # candidate passages fetched per passage kept, before reranking by sentence evidence
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class Token:
    """A piece of the answer text, streamed as it is produced."""

    text: str


class Composed(NamedTuple):
    """An answer's text, the passage numbers it cites, and whether the extractive fallback wrote it."""

    text: str
    cited: set[int]
    fallback: bool = False


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


def decline_message(grounding: Grounding) -> str:
    """The polite refusal; it never repeats the question (which may carry an injection)."""
    titles = {p.title for p in grounding.passages if p.title}
    where = f"“{titles.pop()}”" if len(titles) == 1 else "the articles here"
    return f"The article doesn't say. I couldn't find an answer to that in {where}, so I won't guess."


def sources_of(grounding: Grounding, cited: set[int]) -> list[Source]:
    """The contract's sources: the kept passages in rank order, marked when the answer cites them."""
    return [
        Source(n=p.n, text=p.text, source=p.source, title=p.title, start=p.start, end=p.end, score=p.score,
               cited=p.n in cited)
        for p in grounding.passages
    ]


class Agent:
    """Answers questions about the stored articles, in sessions, grounded in and citing the text."""

    backend_name = "extractive"

    def __init__(self, settings: Settings, store: ArticleStore, sessions: SessionStore) -> None:
        self.settings = settings
        self.store = store
        self.sessions = sessions
        self.retriever = Retriever(store, settings.top_k * CANDIDATES_PER_ANSWER)

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
        if grounding.verdict.answerable:
            composed = yield from self.compose(question, history, grounding)
        else:
            composed = Composed(decline_message(grounding), set())
            yield Token(composed.text)
        answer = Answer(answer=composed.text, answered=grounding.verdict.answerable, session_id=session.id,
                        sources=sources_of(grounding, composed.cited), backend=self.backend_name,
                        fallback=composed.fallback)
        cited = next((s.source for s in answer.sources if s.cited), None)
        self.sessions.add_exchange(session, question, answer.answer, answer.answered,
                                   [s.model_dump() for s in answer.sources], doc=session.doc or cited)
        yield answer

    def ground(self, question: str, history: list[Turn], doc: str | None) -> Grounding:
        """Retrieve for the question (resolved against the history) and run the decline gate."""
        return self.search(question, standalone_query(question, history), doc)

    def search(self, question: str, query: str, doc: str | None) -> Grounding:
        """Retrieve for ``question`` and its resolved ``query``, keep the top-k passages and judge them."""
        retrieval = self.retriever.retrieve(question, query, doc)
        about_document = asks_for_gist(question)
        if about_document and retrieval.passages:
            opening = self.retriever.opening(doc or retrieval.passages[0].source)
            if opening:
                return ground_in_opening(retrieval, opening, self.settings.top_k, 1 if about_document == "title" else 2)
        return ground(retrieval, self.settings.top_k, self.settings.decline_threshold)

    def compose(self, question: str, history: list[Turn], grounding: Grounding) -> Generator[Token, None, Composed]:
        """Produce the answer from grounded evidence, streaming it as tokens; returns a :class:`Composed`."""
        text, cited = extract_answer(grounding.evidence)
        yield Token(text)
        return Composed(text, cited)
