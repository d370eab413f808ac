"""Conversation sessions in SQLite."""

import re
import threading
from pathlib import Path

import pytest

from articlechat.errors import InvalidInput, NotFound
from articlechat.history import SessionStore, Turn


@pytest.fixture
def sessions(tmp_path: Path) -> SessionStore:
    return SessionStore(tmp_path / "data" / "sessions.sqlite3")


def test_a_conversation_is_recorded_and_survives_reopening(sessions: SessionStore) -> None:
    info = sessions.create()
    assert re.fullmatch(r"[A-Za-z0-9_-]{24}", info.id) and info.doc is None
    sources = [{"n": 1, "text": "passage", "cited": True}]
    sessions.add_exchange(info.id, "First question?", "First answer [1]", True, sources)
    sessions.add_exchange(info.id, "Second question?", "The article doesn't say.", False, [])

    reopened = SessionStore(sessions.path)
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
    sessions.add_exchange(first.id, "Newest?", "Yes.", True, [])
    assert [s.id for s in sessions.list()][:2] == [first.id, second.id]
    sessions.delete(first.id)
    assert [s.id for s in sessions.list()] == [second.id]
    with pytest.raises(NotFound):
        sessions.messages(first.id)


def test_concurrent_writers_lose_nothing(sessions: SessionStore) -> None:
    ids = [sessions.create().id for _ in range(4)]

    def talk(session_id: str) -> None:
        store = SessionStore(sessions.path)  # one connection per writer, as several workers would have
        for i in range(15):
            store.add_exchange(session_id, f"q{i}", f"a{i}", True, [])

    threads = [threading.Thread(target=talk, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert [len(sessions.messages(i)) for i in ids] == [30] * 4
    assert [t.question for t in sessions.recent_turns(ids[0], 2)] == ["q13", "q14"]
