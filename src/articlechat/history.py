"""Conversation sessions in SQLite (WAL mode, busy timeout: safe for threads and several worker processes)."""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from articlechat.errors import InvalidInput, NotFound

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    doc TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content TEXT NOT NULL,
    answered INTEGER,
    sources TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_session ON messages(session_id, id);
"""
_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


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
    """One message of a conversation."""

    role: str
    content: str
    created_at: str
    answered: bool | None = None
    sources: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class Turn:
    """A question and the answer it got."""

    question: str
    answer: str
    answered: bool


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class SessionStore:
    """Sessions and their messages in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()  # one connection per thread, reused across calls
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=True)
            db.execute("PRAGMA busy_timeout=30000")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL: durable across crashes, no fsync per answer
            db.execute("PRAGMA foreign_keys=ON")
            db.row_factory = sqlite3.Row
            self._local.db = db
        try:
            yield db
        finally:
            if db.in_transaction:  # an error inside BEGIN ... COMMIT must not leave the connection mid-transaction
                db.rollback()

    def create(self, doc: str | None = None) -> SessionInfo:
        """Start a session with a random, unguessable id."""
        now = _now()
        info = SessionInfo(secrets.token_urlsafe(18), doc, now, now)
        with self._connect() as db:
            db.execute("INSERT INTO sessions (id, doc, created_at, updated_at) VALUES (?, ?, ?, ?)",
                       (info.id, doc, now, now))
        return info

    def get(self, session_id: str) -> SessionInfo:
        """The session ``session_id``, or :class:`NotFound`."""
        if not _SESSION_ID.match(session_id or ""):
            raise NotFound(f"Unknown session '{session_id}'.")
        with self._connect() as db:
            row = db.execute(
                "SELECT s.*, (SELECT COUNT(*) FROM messages m WHERE m.session_id = s.id) AS messages,"
                " (SELECT content FROM messages m WHERE m.session_id = s.id AND role = 'user' ORDER BY id LIMIT 1)"
                " AS first_question FROM sessions s WHERE s.id = ?", (session_id,)).fetchone()
        if row is None:
            raise NotFound(f"Unknown session '{session_id}'.")
        return SessionInfo(**dict(row))

    def open(self, session_id: str | None, doc: str | None) -> SessionInfo:
        """Continue ``session_id`` (its document scope must match ``doc`` when given) or start a new session."""
        if session_id is None:
            return self.create(doc)
        info = self.get(session_id)
        if doc is not None and info.doc != doc:
            scope = info.doc or "all documents"
            raise InvalidInput(f"Session '{session_id}' is scoped to {scope}, not to '{doc}'; start a new session.")
        return info

    def add_exchange(self, session_id: str, question: str, answer: str, answered: bool,
                     sources: list[dict[str, Any]]) -> None:
        """Record a question and its answer."""
        now = _now()
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO messages (session_id, role, content, created_at) VALUES (?, 'user', ?, ?)",
                       (session_id, question, now))
            db.execute("INSERT INTO messages (session_id, role, content, answered, sources, created_at)"
                       " VALUES (?, 'assistant', ?, ?, ?, ?)",
                       (session_id, answer, int(answered), json.dumps(sources), now))
            db.execute("UPDATE sessions SET updated_at = ? WHERE id = ?", (now, session_id))
            db.execute("COMMIT")

    def messages(self, session_id: str) -> list[Message]:
        """Every message of the session, oldest first."""
        self.get(session_id)
        with self._connect() as db:
            rows = db.execute("SELECT role, content, answered, sources, created_at FROM messages"
                              " WHERE session_id = ? ORDER BY id", (session_id,)).fetchall()
        return [Message(r["role"], r["content"], r["created_at"],
                        None if r["answered"] is None else bool(r["answered"]),
                        json.loads(r["sources"]) if r["sources"] else None) for r in rows]

    def recent_turns(self, session_id: str, limit: int) -> list[Turn]:
        """The last ``limit`` question/answer pairs, oldest first."""
        if limit <= 0:
            return []
        with self._connect() as db:
            rows = db.execute("SELECT role, content, answered FROM messages WHERE session_id = ?"
                              " ORDER BY id DESC LIMIT ?", (session_id, limit * 2)).fetchall()
        rows = list(reversed(rows))
        return [Turn(q["content"], a["content"], bool(a["answered"]))
                for q, a in zip(rows[::2], rows[1::2], strict=False) if q["role"] == "user"]

    def list(self, limit: int = 50) -> list[SessionInfo]:
        """The most recently used sessions."""
        with self._connect() as db:
            ids = [r["id"] for r in db.execute("SELECT id FROM sessions ORDER BY updated_at DESC LIMIT ?", (limit,))]
        return [self.get(i) for i in ids]

    def delete(self, session_id: str) -> None:
        """Forget a session and its messages."""
        self.get(session_id)
        with self._connect() as db:
            db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
