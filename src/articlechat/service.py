"""The application service: every use case of articlechat, wired once, for the CLI and the HTTP API alike.

``ArticleChat.open(settings)`` opens the configured article store; the answering agent and the session database open
when first needed, so listing documents loads no answer model. Methods take and return typed records
(:class:`~articlechat.contract.Answer`, :class:`~articlechat.store.records.DocumentRecord`, the session records of
:mod:`articlechat.history`...) and raise the domain errors of :mod:`articlechat.errors`, never HTTP statuses.
They are synchronous: the API calls them from worker threads."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from threading import Lock
from typing import TYPE_CHECKING

from articlechat.config import Settings
from articlechat.contract import Answer
from articlechat.errors import NotFound, StoreUnavailable
from articlechat.history import Message, SessionInfo, SessionStore
from articlechat.ingest import Ingestor, IngestReport
from articlechat.ingest.pipeline import Outcome, Progress
from articlechat.store import ArticleStore
from articlechat.store.records import DocumentRecord

if TYPE_CHECKING:
    from langchain_core.callbacks import BaseCallbackHandler

    from articlechat.chain.agent import Agent, Token
    from articlechat.ingest.load import LoadedDocument
    from articlechat.report import Report
    from articlechat.starters import StarterQuestions

log = logging.getLogger("articlechat.service")


@dataclass(frozen=True)
class Conversation:
    """A session and its messages, oldest first."""

    session: SessionInfo
    messages: list[Message]


@dataclass(frozen=True)
class Ingested:
    """One document stored by an upload or a page fetch."""

    id: str
    outcome: Outcome


@dataclass(frozen=True)
class Removed:
    """A document taken out of the store, with how many passages it had."""

    id: str
    passages: int


@dataclass(frozen=True)
class Purged:
    """A retention run: sessions unused for ``days`` days deleted (``days`` 0: retention is off)."""

    days: int
    removed: int


@dataclass(frozen=True)
class WidgetSettings:
    """What the chat widget needs for a page about ``doc`` (None: all documents)."""

    doc: str | None
    exists: bool
    title: str | None
    max_question_chars: int
    starters: list[str]


@dataclass(frozen=True)
class Readiness:
    """The service can answer: its backend and the passages its store holds."""

    backend: str
    passages: int


class ArticleChat:
    """Ask, stream, history, forget, documents, ingest, remove, reindex, purge and readiness over one store, one
    session database and one answering agent."""

    def __init__(self, settings: Settings, store: ArticleStore | None = None, agent: Agent | None = None,
                 callbacks: list[BaseCallbackHandler] | None = None) -> None:
        """Over ``store`` (None: the configured one, opened when first used); ``agent``: answer with this one (and
        its store and sessions) instead of building one when first asked; ``callbacks`` (LangChain handlers) see
        every model call of the agent built."""
        self.settings = settings
        self.callbacks = callbacks
        self.ingest_lock = Lock()  # one document change at a time in this process
        given = {"store": store} if store else {}
        if agent:
            given = {"store": agent.store, "sessions": agent.sessions, "agent": agent}
        self.__dict__.update(given)  # the cached properties below, already known

    @classmethod
    def open(cls, settings: Settings, *, verify: bool = True, ingesting: bool = False, migrating: bool = False,
             callbacks: list[BaseCallbackHandler] | None = None) -> ArticleChat:
        """The service over the configured store (``verify``: refuse a collection of another embedding model;
        ``ingesting``: the embedding model on every core; ``migrating``: open a store of an earlier version, for
        :meth:`reindex`)."""
        from articlechat.runtime import open_store

        return cls(settings, open_store(settings, verify, ingesting, migrating), callbacks=callbacks)

    @classmethod
    def over(cls, agent: Agent) -> ArticleChat:
        """The service answering with ``agent`` (its settings, store and sessions)."""
        return cls(agent.settings, agent.store, agent)

    @cached_property
    def store(self) -> ArticleStore:
        """The configured article store (opened when first used)."""
        from articlechat.runtime import open_store

        return open_store(self.settings)

    @cached_property
    def sessions(self) -> SessionStore:
        """The session database (opened, and migrated, when first used)."""
        from articlechat.runtime import open_sessions

        return open_sessions(self.settings)

    @cached_property
    def agent(self) -> Agent:
        """The answering agent for the configured backend (built, loading its models, when first used)."""
        from articlechat.runtime import build_agent

        return build_agent(self.settings, self.store, self.callbacks, self.sessions)

    @property
    def backend_name(self) -> str:
        """Which backend answers (``extractive``, ``openai``, ``llamacpp``)."""
        return self.agent.backend_name

    def prepare(self) -> LoadedDocument | None:
        """Load the answering models now and ingest the bundled article into an empty store; the article when it
        was added."""
        from articlechat.ingest import bundled_article

        self.agent  # noqa: B018  (built now, not at the first question)
        with self.ingest_lock:
            return bundled_article() if self._ingestor.ensure_bundled_article() else None

    # Answers -------------------------------------------------------------------------------------------------------

    @staticmethod
    def check_question(question: str, settings: Settings) -> str:
        """The question, cleaned, or :class:`InvalidInput` (empty, too long): before loading any model."""
        from articlechat.chain.agent import clean_question

        return clean_question(question, settings.max_question_chars)

    def ask(self, question: str, session_id: str | None = None, doc: str | None = None) -> Answer:
        """The whole answer to ``question``, in session ``session_id`` (None: a new one), about ``doc`` (None: all
        documents), with the id of the exchange that recorded it."""
        return self.agent.ask(question, session_id, doc)

    def stream(self, question: str, session_id: str | None = None,
               doc: str | None = None) -> Iterator[Token | Answer]:
        """The answer as :class:`~articlechat.chain.agent.Token` pieces, then the whole :class:`Answer` (with its
        exchange id); closing the iterator abandons the answer (nothing is recorded)."""
        return self.agent.stream(question, session_id, doc)

    # Sessions ------------------------------------------------------------------------------------------------------

    def session_exists(self, session_id: str | None) -> bool:
        """Whether ``session_id`` is a stored session."""
        return self.sessions.exists(session_id)

    def check_conversation(self, session_id: str | None, doc: str | None) -> str | None:
        """Before a conversation starts: the id of the document ``doc`` names (:class:`NotFound` when none) and, when
        it continues ``session_id``, that the session exists and is scoped to that document (:class:`NotFound`,
        :class:`InvalidInput`)."""
        doc_id = self.document_id(doc) if doc else None
        if session_id:
            self.sessions.open(session_id, doc_id)
        return doc_id

    def history(self, session_id: str) -> Conversation:
        """Session ``session_id`` and its messages, or :class:`NotFound`."""
        return Conversation(self.sessions.get(session_id), self.sessions.messages(session_id))

    def forget(self, session_id: str) -> None:
        """Delete session ``session_id`` and its messages (:class:`NotFound` when there is none)."""
        self.sessions.delete(session_id)

    def conversations(self, limit: int = 50) -> list[SessionInfo]:
        """The most recently used sessions."""
        return self.sessions.list(limit)

    def purge_sessions(self, days: int | None = None) -> Purged:
        """Delete the sessions unused for ``days`` (default ``ARTICLECHAT_SESSION_TTL_DAYS``; 0: none). Opening the
        session database migrates it either way."""
        days = self.settings.session_ttl_days if days is None else days
        sessions = self.sessions
        return Purged(days, sessions.purge(datetime.now(UTC) - timedelta(days=days)) if days else 0)

    # Documents -----------------------------------------------------------------------------------------------------

    def documents(self) -> list[DocumentRecord]:
        """Every document in the store."""
        return self.store.documents()

    def document_id(self, name: str) -> str:
        """The stored document ``name`` means: an id, or the path of a file as it was given to `ingest`; else
        :class:`NotFound`."""
        from articlechat.store.ids import id_for_path

        if len(name) < 4096 and "\0" not in name and not self.store.has_source(name) and Path(name).is_file():
            name = id_for_path(Path(name))
        return self.store.resolve_source(name)

    def remove(self, doc_id: str) -> Removed:
        """Delete document ``doc_id`` (exactly as listed), or :class:`NotFound`."""
        with self.ingest_lock:
            passages = self.store.delete_source(doc_id)
        if not passages:
            raise NotFound(f"No document '{doc_id[:200]}' in the store.")
        return Removed(doc_id, passages)

    @cached_property
    def _ingestor(self) -> Ingestor:
        return Ingestor(self.store)

    def ingest(self, targets: list[str], meta: dict[str, str] | None = None,
               on_progress: Progress | None = None) -> IngestReport:
        """Ingest files, folders and http(s) URLs (articles, sitemaps, feeds); ``meta`` (id, title, author,
        published, url) describes a single file. Every good one is stored even when others fail."""
        from articlechat.ingest.fetch import is_url
        from articlechat.ingest.web import WebIngest

        urls = [t for t in targets if is_url(t)]
        with self.ingest_lock:
            report = self._ingestor.ingest_paths([Path(t) for t in targets if not is_url(t)], on_progress, meta)
            if urls:
                WebIngest(self._ingestor, None, report).run(urls)
        return report

    def ingest_upload(self, raw: bytes, filename: str, doc_id: str | None = None) -> Ingested:
        """Ingest an uploaded file's bytes (its kind from ``filename``'s suffix) under ``doc_id`` (else its canonical
        URL, else a slug of ``filename``)."""
        with self.ingest_lock:
            return Ingested(*self._ingestor.ingest_text(raw, filename, doc_id))

    def ingest_url(self, url: str) -> Ingested:
        """Fetch one article page and ingest it (unchanged since the last fetch: nothing to do)."""
        from articlechat.ingest.web import WebIngest

        with self.ingest_lock:
            return Ingested(*WebIngest(self._ingestor).page(url))

    def reindex(self, on_progress: Progress | None = None) -> IngestReport:
        """Rebuild the index with the configured embedding model (migrating a store of an earlier version); with any
        failure the store is left as it was."""
        with self.ingest_lock:
            return self._ingestor.reindex(on_progress)

    # Readers: the widget, feedback and the report -------------------------------------------------------------------

    def feedback(self, session_id: str, exchange_id: int, helpful: bool) -> None:
        """Record a reader's verdict on answer ``exchange_id`` of session ``session_id`` (:class:`NotFound` when the
        session has no such answer); a second verdict replaces the first."""
        self.sessions.set_feedback(session_id, exchange_id, helpful)

    def report(self, doc: str | None = None, since: datetime | None = None) -> Report:
        """The reader-question report over the exchanges about ``doc`` (None: every document) from ``since`` on (UTC
        unless it says otherwise)."""
        from articlechat.report import build_report

        since = since.replace(tzinfo=UTC) if since and since.tzinfo is None else since
        titles = {d.id: d.title for d in self.store.documents()}
        return build_report(self.sessions.exchanges(doc, since), self.store.backend, titles, doc, since)

    @cached_property
    def _starters(self) -> StarterQuestions:
        from articlechat.starters import StarterQuestions

        return StarterQuestions(self.store, lambda question, doc: self.agent.ground(question, [], doc).verdict
                                .answerable)

    def starters(self, doc: str) -> list[str]:
        """Three suggested questions about document ``doc`` that the product answers (derived once per version of
        the document); :class:`NotFound` for an unknown document."""
        return self._starters.for_document(doc)

    def widget_config(self, doc: str | None) -> WidgetSettings:
        """What the widget on a page about ``doc`` needs; an unknown ``doc`` is reported (``exists`` false), not
        raised."""
        limit = self.settings.max_question_chars
        if doc is None:
            return WidgetSettings(None, True, None, limit, [])
        record = self.store.record(doc)
        if record is None:
            return WidgetSettings(doc, False, None, limit, [])
        return WidgetSettings(doc, True, record.title, limit, self.starters(doc))

    # Operations ----------------------------------------------------------------------------------------------------

    def readiness(self) -> Readiness:
        """The backend and the passages stored, or :class:`StoreUnavailable` when a real query of the index does not
        answer."""
        try:
            passages = self.store.probe()
        except StoreUnavailable:
            raise
        except Exception as exc:  # whatever else the store client raises, the service is not ready
            raise StoreUnavailable(f"The store cannot be reached: {exc}") from exc
        return Readiness(self.backend_name, passages)
