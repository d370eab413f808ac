"""Wiring: turn settings into the live store, session database and agent."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from articlechat.config import Settings
from articlechat.history import SessionStore
from articlechat.store import ArticleStore

if TYPE_CHECKING:
    from langchain_core.callbacks import BaseCallbackHandler

    from articlechat.chain.agent import Agent
    from articlechat.chain.answering import Answerer
    from articlechat.chain.reader import Reader


def open_store(settings: Settings, verify: bool = True, ingesting: bool = False,
               migrating: bool = False) -> ArticleStore:
    """The article store with the configured embedding backend (``verify``: refuse a mismatched collection;
    ``ingesting``: the model on every core; ``migrating``: open a store of an earlier version for `reindex`)."""
    from articlechat.embeddings import build_embeddings, ingest_threads

    backend = build_embeddings(settings, ingest_threads(settings) if ingesting else None)
    return ArticleStore(settings, backend, verify=verify, migrating=migrating)


def open_sessions(settings: Settings) -> SessionStore:
    """The configured session database (opening it migrates it to this version)."""
    return SessionStore(settings.session_database, settings.database_pool_size)


def build_agent(settings: Settings, store: ArticleStore | None = None,
                callbacks: list[BaseCallbackHandler] | None = None, sessions: SessionStore | None = None) -> Agent:
    """The agent for the configured answer backend; ``callbacks`` (LangChain handlers) see every model call."""
    from articlechat.chain.agent import Agent
    from articlechat.chain.reader import Reader, ReaderModel, shipped_model
    from articlechat.language import profile_for

    store = store or open_store(settings)
    sessions = sessions or open_sessions(settings)
    model = ReaderModel.load(settings.answering.reader_model) if settings.answering.reader_model else shipped_model()
    reader = Reader.for_backend(model, profile_for("en"), store.backend)
    answerer = ANSWERERS[settings.answer_backend](settings, store, reader, callbacks)
    return Agent(settings, store, sessions, answerer, reader)


def _extractive(settings: Settings, store: ArticleStore, reader: Reader,
                callbacks: list[BaseCallbackHandler] | None) -> Answerer:
    from articlechat.chain.extractive import ExtractiveAnswerer

    return ExtractiveAnswerer()


def _generative(settings: Settings, store: ArticleStore, reader: Reader,
                callbacks: list[BaseCallbackHandler] | None) -> Answerer:
    from articlechat.chain.generative import CONDENSE_MAX_TOKENS, GenerativeAnswerer
    from articlechat.llm import build_chat_model

    # Condensing a follow-up is optional: one try, and the extractive resolution stands when it fails.
    condense_model = build_chat_model(settings, max_tokens=CONDENSE_MAX_TOKENS, max_retries=0)
    return GenerativeAnswerer(settings, build_chat_model(settings), reader, store.backend, condense_model, callbacks)


# The answer backends, by the name ARTICLECHAT_ANSWER_BACKEND (or --llm) gives.
ANSWERERS: dict[str, Callable[[Settings, ArticleStore, Reader, list[BaseCallbackHandler] | None], Answerer]] = {
    "extractive": _extractive, "openai": _generative, "llamacpp": _generative,
}
