"""Conversation sessions in the session database (SQLite)."""

import asyncio
import json
import re
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import update

from articlechat.errors import InvalidInput, NotFound
from articlechat.history import ExchangeRecord, SessionInfo, SessionStore, Turn, migrate, schema
from servers import postgres_running


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """One PostgreSQL server for the module."""
    with postgres_running() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def sessions(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SessionStore]:
    """An empty session store on each engine (a fresh database of its own on the module's PostgreSQL server)."""
    if request.param == "sqlite":
        yield SessionStore(tmp_path / "data" / "sessions.sqlite3")
        return
    server = request.getfixturevalue("postgres")
    name = f"t{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    store = SessionStore(server.rsplit("/", 1)[0] + f"/{name}")
    yield store
    store.close()


def test_a_conversation_is_recorded_and_survives_reopening(sessions: SessionStore) -> None:
    info = sessions.create()
    assert re.fullmatch(r"[A-Za-z0-9_-]{24}", info.id) and info.doc is None
    sources = [{"n": 1, "text": "passage", "cited": True}]
    sessions.add_exchange(info, "First question?", "First answer [1]", True, sources)
    sessions.add_exchange(info, "Second question?", "The article doesn't say.", False, [])

    reopened = SessionStore(sessions.database)
    messages = reopened.messages(info.id)
    assert [(m.role, m.content, m.answered) for m in messages] == [
        ("user", "First question?", None), ("assistant", "First answer [1]", True),
        ("user", "Second question?", None), ("assistant", "The article doesn't say.", False)]
    assert messages[1].sources == sources
    assert reopened.recent_turns(info.id, 1) == [Turn("Second question?", "The article doesn't say.", False)]
    assert [t.question for t in reopened.recent_turns(info.id, 5)] == ["First question?", "Second question?"]
    assert reopened.recent_turns(info.id, 0) == []
    got = reopened.get(info.id)
    assert (got.messages, got.first_question) == (4, "First question?") and got.updated_at >= info.updated_at


def test_open_continues_or_starts_and_checks_the_scope(sessions: SessionStore) -> None:
    scoped = sessions.create(doc="a.txt")
    assert sessions.open(scoped.id, None).doc == "a.txt"
    assert sessions.open(scoped.id, "a.txt").id == scoped.id
    with pytest.raises(InvalidInput, match=r"scoped to a\.txt"):
        sessions.open(scoped.id, "b.txt")
    unscoped = sessions.create()
    with pytest.raises(InvalidInput, match="all documents"):
        sessions.open(unscoped.id, "a.txt")
    fresh = sessions.open(None, "b.txt")
    assert fresh.id not in (scoped.id, unscoped.id) and fresh.doc == "b.txt"


@pytest.mark.parametrize("bad_id", ["", "short", "x" * 65, "../../etc/passwd", "abc'; DROP TABLE sessions;--",
                                    "unknown-but-well-formed"])
def test_unknown_sessions_are_not_found(sessions: SessionStore, bad_id: str) -> None:
    with pytest.raises(NotFound, match="Unknown session"):
        sessions.open(bad_id, None)


def test_list_orders_by_last_use_and_delete_forgets(sessions: SessionStore) -> None:
    first, second = sessions.create(), sessions.create()
    sessions.add_exchange(first, "Newest?", "Yes.", True, [])
    assert [s.id for s in sessions.list()][:2] == [first.id, second.id]
    sessions.delete(first.id)
    assert [s.id for s in sessions.list()] == [second.id]
    with pytest.raises(NotFound):
        sessions.messages(first.id)


def test_concurrent_writers_lose_nothing(sessions: SessionStore) -> None:
    ids = [sessions.create() for _ in range(4)]

    def talk(session: SessionInfo) -> None:
        store = SessionStore(sessions.database)  # one connection per writer, as several workers would have
        for i in range(15):
            store.add_exchange(session, f"q{i}", f"a{i}", True, [])

    threads = [threading.Thread(target=talk, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert [len(sessions.messages(i.id)) for i in ids] == [30] * 4
    assert [t.question for t in sessions.recent_turns(ids[0].id, 2)] == ["q13", "q14"]


def test_a_new_session_is_stored_only_with_its_first_exchange(sessions: SessionStore) -> None:
    pending = sessions.open(None, "a.txt")
    assert sessions.list() == [] and not sessions.exists(pending.id)  # an aborted answer leaves nothing behind
    sessions.add_exchange(pending, "Q?", "A.", True, [])
    assert sessions.exists(pending.id) and sessions.get(pending.id).doc == "a.txt"
    assert not sessions.exists("x" * 50_000) and not sessions.exists(None)


def test_feedback_and_exchanges_for_the_report(sessions: SessionStore) -> None:
    scoped, unscoped = sessions.new("a.txt"), sessions.new()
    first = sessions.add_exchange(scoped, "What?", "This [1].", True, [])
    sessions.add_exchange(scoped, "Why?", "The article doesn't say.", False, [])
    sessions.add_exchange(unscoped, "Who?", "Her [1].", True, [], doc="b.txt")
    sessions.set_feedback(scoped.id, first, helpful=False)
    sessions.set_feedback(scoped.id, first, helpful=True)  # a second verdict replaces the first
    with pytest.raises(NotFound):
        sessions.set_feedback(unscoped.id, first, helpful=True)  # not an answer of that session
    about_a = sessions.exchanges("a.txt")
    assert [(e.question, e.answered, e.helpful) for e in about_a] == [("What?", True, True), ("Why?", False, None)]
    assert all(isinstance(e, ExchangeRecord) and e.created_at.tzinfo for e in about_a)
    assert [e.doc for e in sessions.exchanges()] == ["a.txt", "a.txt", "b.txt"]
    assert sessions.exchanges(since=datetime.now(UTC) + timedelta(seconds=1)) == []
    assert len(sessions.exchanges(since=datetime.now(UTC) - timedelta(minutes=1))) == 3


def test_purge_forgets_sessions_unused_for_longer_than_the_ttl(sessions: SessionStore) -> None:
    old, recent = sessions.new(), sessions.new()
    sessions.add_exchange(old, "Old?", "Yes.", True, [])
    sessions.add_exchange(recent, "New?", "Yes.", True, [])
    with sessions.engine.begin() as db:
        db.execute(update(schema.sessions).where(schema.sessions.c.id == old.id)
                   .values(updated_at=datetime.now(UTC) - timedelta(days=40)))
    assert sessions.purge(datetime.now(UTC) - timedelta(days=30)) == 1
    assert [s.id for s in sessions.list()] == [recent.id]
    assert [e.question for e in sessions.exchanges()] == ["New?"]  # its exchanges went with it


LEGACY_SCHEMA = """
CREATE TABLE sessions (id TEXT PRIMARY KEY, doc TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant')), content TEXT NOT NULL, answered INTEGER, sources TEXT,
    created_at TEXT NOT NULL);
CREATE INDEX messages_by_session ON messages(session_id, id);
"""


def test_a_database_of_the_previous_version_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "sessions.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(LEGACY_SCHEMA)
    stamp = "2026-11-30T10:00:00.000+00:00"
    db.execute("INSERT INTO sessions VALUES ('legacy-session-1', NULL, ?, ?)", (stamp, stamp))
    sources = json.dumps([{"n": 1, "source": "a.txt", "cited": True}])
    db.executemany("INSERT INTO messages (session_id, role, content, answered, sources, created_at)"
                   " VALUES ('legacy-session-1', ?, ?, ?, ?, ?)",
                   [("user", "Q1?", None, None, stamp), ("assistant", "A1 [1].", 1, sources, stamp),
                    ("user", "Q2?", None, None, stamp), ("assistant", "No.", 0, "[]", stamp)])
    db.commit()
    db.close()
    store = SessionStore(path)
    assert [(t.question, t.answered) for t in store.recent_turns("legacy-session-1", 5)] == [
        ("Q1?", True), ("Q2?", False)]
    assert [e.doc for e in store.exchanges()] == ["a.txt", None]
    assert store.get("legacy-session-1").updated_at.startswith("2026-11-30T10:00:00")
    assert migrate.current(store.engine) == migrate.head()


def test_the_server_purges_expired_sessions_on_its_schedule(sessions: SessionStore) -> None:
    from articlechat.api.app import purge_sessions

    old = sessions.new()
    sessions.add_exchange(old, "Old?", "Yes.", True, [])
    with sessions.engine.begin() as db:
        db.execute(update(schema.sessions).values(updated_at=datetime.now(UTC) - timedelta(days=3)))
    with pytest.raises(TimeoutError):  # it runs until the app stops; its first round is at start-up
        asyncio.run(asyncio.wait_for(purge_sessions(sessions, ttl_days=2), timeout=1.0))
    assert sessions.list() == []
