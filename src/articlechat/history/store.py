"""Conversation sessions and their exchanges in a SQL database: a SQLite file (the embedded default; WAL mode, busy
timeout, safe for threads and worker processes) or PostgreSQL (shared by several machines; a connection pool)."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, delete, event, func, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError

from articlechat.errors import ConfigError, DatabaseUnavailable, InvalidInput, NotFound
from articlechat.history.migrate import upgrade
from articlechat.history.schema import exchanges, sessions

log = logging.getLogger("articlechat.history")
_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_INSERT = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}  # both have INSERT ... ON CONFLICT DO NOTHING


@dataclass(frozen=True)
class SessionInfo:
    """A conversation: its id, the document it is scoped to (None = all) and its size."""

    id: str
    doc: str | None
    created_at: str
    updated_at: str
    messages: int = 0
    first_question: str | None = None


@dataclass(frozen=True)
class Message:
    """One message of a conversation; an answer carries the id of its exchange (for feedback)."""

    role: str
    content: str
    created_at: str
    answered: bool | None = None
    sources: list[dict[str, Any]] | None = None
    exchange_id: int | None = None


@dataclass(frozen=True)
class Turn:
    """A question and the answer it got."""

    question: str
    answer: str
    answered: bool


@dataclass(frozen=True)
class ExchangeRecord:
    """A question and its answer as the reader-question report reads them: no reader or session identifiers."""

    id: int
    doc: str | None
    question: str
    answer: str
    answered: bool
    helpful: bool | None  # the reader's feedback; None when none was given
    created_at: datetime


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def valid_session_id(session_id: str | None) -> bool:
    """Whether ``session_id`` has the shape of the ids this store issues (checked before any lookup)."""
    return bool(session_id and _SESSION_ID.match(session_id))


def connect(database: Path | str, pool_size: int = 5) -> Engine:
    """An engine for a SQLite file (a path, or ``sqlite:///PATH``) or a ``postgresql://`` URL (psycopg 3, pooled)."""
    try:
        url = make_url(f"sqlite:///{database}" if isinstance(database, Path) else database)
    except ArgumentError:
        raise ConfigError("ARTICLECHAT_DATABASE_URL is not a database URL: use postgresql://USER:PASSWORD@HOST:PORT/DB"
                          " or sqlite:///PATH.") from None
    backend = url.get_backend_name()
    if backend == "postgresql":
        return create_engine(url.set(drivername="postgresql+psycopg"), pool_size=pool_size, max_overflow=pool_size,
                             pool_pre_ping=True, pool_recycle=1800, pool_timeout=10,
                             connect_args={"connect_timeout": 10, "application_name": "articlechat"})
    if backend != "sqlite":
        raise ConfigError(f"ARTICLECHAT_DATABASE_URL: unsupported database '{backend}'; use postgresql:// or sqlite://.")
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_timeout=30)
    event.listen(engine, "connect", _sqlite_connection)
    event.listen(engine, "begin", lambda connection: connection.exec_driver_sql("BEGIN"))
    return engine


def _sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    """Autocommit at the driver so that SQLAlchemy's BEGIN covers DDL too (migrations are atomic); WAL; waits for a
    busy writer; foreign keys on (deleting a session deletes its exchanges)."""
    dbapi_connection.isolation_level = None
    for pragma in ("journal_mode=WAL", "busy_timeout=30000", "synchronous=NORMAL", "foreign_keys=ON"):
        dbapi_connection.execute(f"PRAGMA {pragma}")


class SessionStore:
    """Sessions and their exchanges in one database, migrated to this version's schema when opened."""

    def __init__(self, database: Path | str, pool_size: int = 5) -> None:
        self.database = database
        self.engine = connect(database, pool_size)
        with self._guard():
            upgrade(self.engine)

    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except (OperationalError, InterfaceError) as exc:
            log.error("session database error: %s", exc)
            raise DatabaseUnavailable("The session database is unavailable; try again shortly.") from None

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        with self._guard(), self.engine.begin() as connection:
            yield connection

    def new(self, doc: str | None = None) -> SessionInfo:
        """A session with a random, unguessable id, stored with its first exchange (an aborted answer leaves none)."""
        now = _iso(_now())
        return SessionInfo(secrets.token_urlsafe(18), doc, now, now)

    def create(self, doc: str | None = None) -> SessionInfo:
        """A new session, stored now."""
        info = self.new(doc)
        with self._begin() as db:
            db.execute(sessions.insert().values(id=info.id, doc=doc, created_at=_now(), updated_at=_now()))
        return info

    def get(self, session_id: str) -> SessionInfo:
        """The stored session ``session_id``, or :class:`NotFound`."""
        found = self._infos(sessions.c.id == session_id, 1) if valid_session_id(session_id) else []
        if not found:
            raise NotFound(f"Unknown session '{session_id}'.")
        return found[0]

    def exists(self, session_id: str | None) -> bool:
        """Whether ``session_id`` is a stored session (a malformed id is not looked up)."""
        if not valid_session_id(session_id):
            return False
        with self._begin() as db:
            return db.execute(select(sessions.c.id).where(sessions.c.id == session_id)).first() is not None

    def _infos(self, where: Any, limit: int) -> list[SessionInfo]:
        of_session = exchanges.c.session_id == sessions.c.id
        count = select(func.count()).where(of_session).scalar_subquery()
        first = select(exchanges.c.question).where(of_session).order_by(exchanges.c.id).limit(1).scalar_subquery()
        query = (select(sessions, count.label("exchanges"), first.label("first_question")).where(where)
                 .order_by(sessions.c.updated_at.desc()).limit(limit))
        with self._begin() as db:
            rows = db.execute(query).all()
        return [SessionInfo(r.id, r.doc, _iso(r.created_at), _iso(r.updated_at), 2 * r.exchanges, r.first_question)
                for r in rows]

    def open(self, session_id: str | None, doc: str | None) -> SessionInfo:
        """Continue ``session_id`` (its document scope must match ``doc`` when given) or start a new session."""
        if session_id is None:
            return self.new(doc)
        info = self.get(session_id)
        if doc is not None and info.doc != doc:
            scope = info.doc or "all documents"
            raise InvalidInput(f"Session '{session_id}' is scoped to {scope}, not to '{doc}'; start a new session.")
        return info

    def add_exchange(self, session: SessionInfo, question: str, answer: str, answered: bool,
                     sources: list[dict[str, Any]], doc: str | None = None) -> int:
        """Record a question and its answer (``doc``: the document asked about, default the session's scope),
        storing the session with its first exchange; the exchange's id."""
        now = _now()
        with self._begin() as db:
            insert = _INSERT[self.engine.dialect.name](sessions)
            db.execute(insert.values(id=session.id, doc=session.doc, created_at=now, updated_at=now)
                       .on_conflict_do_nothing(index_elements=[sessions.c.id]))
            exchange_id = db.execute(exchanges.insert().values(
                session_id=session.id, doc=doc or session.doc, question=question, answer=answer, answered=answered,
                sources=sources, created_at=now).returning(exchanges.c.id)).scalar_one()
            db.execute(update(sessions).where(sessions.c.id == session.id).values(updated_at=now))
        return exchange_id

    def messages(self, session_id: str) -> list[Message]:
        """Every message of the session, oldest first."""
        self.get(session_id)
        with self._begin() as db:
            rows = db.execute(select(exchanges).where(exchanges.c.session_id == session_id)
                              .order_by(exchanges.c.id)).all()
        return [message for r in rows for message in (
            Message("user", r.question, _iso(r.created_at)),
            Message("assistant", r.answer, _iso(r.created_at), r.answered, r.sources, r.id))]

    def recent_turns(self, session_id: str, limit: int) -> list[Turn]:
        """The last ``limit`` question/answer pairs, oldest first."""
        if limit <= 0:
            return []
        with self._begin() as db:
            rows = db.execute(select(exchanges.c.question, exchanges.c.answer, exchanges.c.answered)
                              .where(exchanges.c.session_id == session_id)
                              .order_by(exchanges.c.id.desc()).limit(limit)).all()
        return [Turn(r.question, r.answer, r.answered) for r in reversed(rows)]

    def list(self, limit: int = 50) -> list[SessionInfo]:
        """The most recently used sessions."""
        return self._infos(true(), limit)

    def delete(self, session_id: str) -> None:
        """Forget a session and its exchanges."""
        self.get(session_id)
        with self._begin() as db:
            db.execute(delete(sessions).where(sessions.c.id == session_id))

    def set_feedback(self, session_id: str, exchange_id: int, helpful: bool) -> None:
        """Record the reader's verdict on an answer of the session (a second verdict replaces the first)."""
        with self._begin() as db:
            changed = db.execute(update(exchanges).where(exchanges.c.id == exchange_id,
                                                         exchanges.c.session_id == session_id)
                                 .values(feedback=1 if helpful else -1)).rowcount
        if not changed:
            raise NotFound(f"No answer {exchange_id} in session '{session_id}'.")

    def exchanges(self, doc: str | None = None, since: datetime | None = None) -> list[ExchangeRecord]:
        """Every exchange (about ``doc``, from ``since`` on, when given), oldest first."""
        query = select(exchanges).order_by(exchanges.c.created_at, exchanges.c.id)
        if doc is not None:
            query = query.where(exchanges.c.doc == doc)
        if since is not None:
            query = query.where(exchanges.c.created_at >= (since if since.tzinfo else since.replace(tzinfo=UTC)))
        with self._begin() as db:
            rows = db.execute(query).all()
        return [ExchangeRecord(r.id, r.doc, r.question, r.answer, r.answered,
                               None if r.feedback is None else r.feedback > 0, r.created_at) for r in rows]

    def purge(self, older_than: datetime) -> int:
        """Delete the sessions (and their exchanges) last used before ``older_than``; how many were deleted."""
        with self._begin() as db:
            return db.execute(delete(sessions).where(sessions.c.updated_at < older_than)).rowcount

    def close(self) -> None:
        """Close the pooled connections."""
        self.engine.dispose()
