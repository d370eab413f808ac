"""The reader-question report over a scripted set of exchanges written through the real session store (SQLite on
disk), grouped with the real embedding model."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from articlechat.embeddings import EmbeddingBackend
from articlechat.errors import InvalidInput
from articlechat.history import SessionStore, schema
from articlechat.report import (
    DocumentReport,
    Report,
    asks_for,
    build_report,
    format_report,
    normal_wording,
    parse_since,
)

OP_ED = "russia-north-korea-talks"
BAKERY = "bakery"
# (document the session is scoped to, question, answered, feedback) in the order readers asked them
SCRIPT: list[tuple[str | None, str, bool, bool | None]] = [
    (OP_ED, "Who wrote the article?", True, True),
    (OP_ED, "who wrote the article", True, None),
    (OP_ED, "Who is the author of the article?", True, True),
    (OP_ED, "Who wrote the article?", True, False),
    (OP_ED, "Where did the summit take place?", True, None),
    (OP_ED, "When did the summit take place?", True, False),
    (OP_ED, "What is the GDP of South Korea?", False, None),
    (OP_ED, "What is the GDP of South Korea ?", False, False),
    (OP_ED, "What is the capital of France?", False, None),
    (OP_ED, "Why is Russia unlikely to offer sanctions relief?", True, True),
    (BAKERY, "When does the bakery open?", True, True),
    (BAKERY, "Does the bakery sell croissants?", False, None),
    (None, "What is the weather tomorrow?", False, None),
]
OLD_QUESTION = "What did Kim Jong Un say in 2019?"


@pytest.fixture
def sessions(tmp_path: Path) -> SessionStore:
    """A session store on disk holding SCRIPT (each exchange in a session of its own, as different readers), plus
    one question asked 40 days ago."""
    store = SessionStore(tmp_path / "data" / "sessions.sqlite3")
    for doc, question, answered, helpful in SCRIPT:
        session = store.new(doc)
        answer = "An answer from the article [1]" if answered else "The article doesn't say."
        exchange = store.add_exchange(session, question, answer, answered, [])
        if helpful is not None:
            store.set_feedback(session.id, exchange, helpful)
    old = store.new(OP_ED)
    exchange = store.add_exchange(old, OLD_QUESTION, "The article doesn't say.", False, [])
    with store.engine.begin() as db:
        db.execute(update(schema.exchanges).where(schema.exchanges.c.id == exchange)
                   .values(created_at=datetime.now(UTC) - timedelta(days=40)))
    return store


def document(report: Report, doc: str | None) -> DocumentReport:
    return next(d for d in report.documents if d.doc == doc)


def test_counts_groups_gaps_and_feedback_per_document(sessions: SessionStore,
                                                      embedding_backend: EmbeddingBackend) -> None:
    report = build_report(sessions.exchanges(), embedding_backend, {OP_ED: "Russia and North Korea talks"})
    assert (report.questions, report.answered, report.declined) == (len(SCRIPT) + 1, 8, 6)
    assert (report.feedback.up, report.feedback.down) == (4, 3)
    assert [d.doc for d in report.documents] == [OP_ED, BAKERY, None]  # most questions first

    op_ed = document(report, OP_ED)
    assert op_ed.title == "Russia and North Korea talks"
    assert (op_ed.questions, op_ed.answered, op_ed.declined) == (11, 7, 4)
    assert (op_ed.feedback.up, op_ed.feedback.down) == (3, 3)
    top = op_ed.most_asked[0]  # case, spacing and a rewording of the same question are one question
    assert (top.question, top.asked, top.answered) == ("Who wrote the article?", 4, 4)
    assert top.wordings == ["Who is the author of the article?"]
    asked = {g.question: g.asked for g in op_ed.most_asked}
    assert asked["Where did the summit take place?"] == 1  # alike in embedding, but where is not when
    assert asked["When did the summit take place?"] == 1
    assert asked["What is the GDP of South Korea?"] == 2
    assert "What is the capital of France?" in asked

    gaps = {g.question: (g.asked, g.declined) for g in op_ed.content_gaps}
    assert gaps == {"What is the GDP of South Korea?": (2, 2), "What is the capital of France?": (1, 1),
                    OLD_QUESTION: (1, 1)}
    assert next(iter(gaps)) == "What is the GDP of South Korea?"  # most asked gap first

    unhelpful = [(u.question, u.answered) for u in op_ed.unhelpful]  # latest first
    assert unhelpful == [("What is the GDP of South Korea ?", False), ("When did the summit take place?", True),
                         ("Who wrote the article?", True)]
    assert all(u.exchange_id and u.answer for u in op_ed.unhelpful)

    bakery = document(report, BAKERY)
    assert (bakery.questions, bakery.answered, bakery.declined) == (2, 1, 1)
    assert [g.question for g in bakery.content_gaps] == ["Does the bakery sell croissants?"]
    assert document(report, None).content_gaps[0].question == "What is the weather tomorrow?"


def test_since_and_doc_narrow_the_report(sessions: SessionStore, embedding_backend: EmbeddingBackend) -> None:
    since = datetime.now(UTC) - timedelta(days=7)
    report = build_report(sessions.exchanges(OP_ED, since), embedding_backend, doc=OP_ED, since=since)
    assert [d.doc for d in report.documents] == [OP_ED]
    assert report.questions == 10 and report.doc == OP_ED and report.since == since
    assert OLD_QUESTION not in {g.question for g in report.documents[0].content_gaps}
    assert build_report(sessions.exchanges("no-such-doc"), embedding_backend).documents == []


def test_the_report_is_json_without_reader_identifiers(sessions: SessionStore,
                                                       embedding_backend: EmbeddingBackend) -> None:
    report = build_report(sessions.exchanges(), embedding_backend)
    text = report.model_dump_json()
    assert Report.model_validate_json(text) == report
    ids = {s.id for s in sessions.list(100)}
    assert len(ids) == len(SCRIPT) + 1 and not any(i in text for i in ids)
    assert "session" not in json.dumps(json.loads(text)).lower()


def test_the_text_report_lists_what_an_editor_looks_for(sessions: SessionStore,
                                                        embedding_backend: EmbeddingBackend) -> None:
    text = format_report(build_report(sessions.exchanges(), embedding_backend, {OP_ED: "Russia and North Korea"}))
    assert text.splitlines()[0] == "14 questions: 8 answered, 6 declined; feedback 4 up, 3 down"
    assert f"{OP_ED} (Russia and North Korea)" in text
    assert "   4x  Who wrote the article?  (also: Who is the author of the article?)" in text
    assert "content gaps (not answered):" in text and "unhelpful answers:" in text


def test_question_wordings() -> None:
    assert normal_wording("  Who  WROTE the article ?! ") == "who wrote the article"
    assert asks_for("Where did it happen?") == "where"
    assert asks_for("And how many people came?") == "how many"
    assert asks_for("What is the population?") is None
    assert asks_for("How does it work?") is None


def test_since_takes_a_date_or_a_time() -> None:
    assert parse_since("2026-12-01") == datetime(2026, 12, 1, tzinfo=UTC)
    assert parse_since("2026-12-01T09:30") == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    assert parse_since("2026-12-01T09:30+01:00") == datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
    with pytest.raises(InvalidInput, match="YYYY-MM-DD"):
        parse_since("last week")
