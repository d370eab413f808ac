"""The application service that the CLI and the API call, used directly against a real store on disk."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from articlechat.config import Settings
from articlechat.contract import Answer
from articlechat.embeddings import EmbeddingBackend
from articlechat.errors import InvalidInput, NotFound
from articlechat.history import schema
from articlechat.ingest import BUNDLED_SOURCE, bundled_article
from articlechat.service import ArticleChat, Ingested, Purged, Readiness, Removed
from articlechat.store import ArticleStore
from test_api import LIGHTHOUSE, QUESTION


@pytest.fixture
def chat(settings: Settings, embedding_backend: EmbeddingBackend) -> ArticleChat:
    """The service over an empty store on disk (sharing the test session's embedding model)."""
    return ArticleChat(settings, ArticleStore(settings, embedding_backend))


def test_open_prepares_answers_streams_and_keeps_the_conversation(settings: Settings) -> None:
    chat = ArticleChat.open(settings)
    assert chat.prepare() == bundled_article() and chat.prepare() is None  # first use only
    assert chat.readiness() == Readiness("extractive", chat.store.count())

    answer = chat.ask(QUESTION)
    assert answer.answered and "Putin" in answer.answer and chat.session_exists(answer.session_id)
    *tokens, streamed = chat.stream("When did that happen?", answer.session_id)
    assert isinstance(streamed, Answer) and streamed.session_id == answer.session_id
    assert "".join(t.text for t in tokens) == streamed.answer

    conversation = chat.history(answer.session_id)
    assert conversation.session.id == answer.session_id and conversation.session.doc is None
    assert [m.role for m in conversation.messages] == ["user", "assistant"] * 2
    assert conversation.messages[0].content == QUESTION
    assert [s.id for s in chat.conversations()] == [answer.session_id]

    chat.forget(answer.session_id)
    assert not chat.session_exists(answer.session_id)
    with pytest.raises(NotFound):
        chat.history(answer.session_id)


def test_a_bad_question_is_refused_before_any_model_loads(settings: Settings) -> None:
    with pytest.raises(InvalidInput):
        ArticleChat.check_question("   ", settings)
    with pytest.raises(InvalidInput, match="ARTICLECHAT_MAX_QUESTION_CHARS"):
        ArticleChat.check_question("why? " * settings.max_question_chars, settings)
    assert ArticleChat.check_question(f"  {QUESTION} ", settings) == QUESTION


def test_documents_ingested_listed_and_removed(chat: ArticleChat, tmp_path: Path) -> None:
    assert chat.ingest_upload(LIGHTHOUSE, "lighthouse.md") == Ingested("lighthouse", "added")
    assert chat.ingest_upload(LIGHTHOUSE, "lighthouse.md") == Ingested("lighthouse", "unchanged")
    notes = tmp_path / "Field Notes.txt"
    notes.write_text("Field notes\n\nThe heron returned to the marsh on the third of May.\n")
    report = chat.ingest([str(notes), str(tmp_path / "missing.txt")], {"author": "R. Lane"})
    assert report.added == ["field-notes"] and len(report.failed) == 1

    listed = {d.id: d for d in chat.documents()}
    assert set(listed) == {"lighthouse", "field-notes"}
    assert listed["lighthouse"].title == "The Vey Lighthouse" and listed["field-notes"].author == "R. Lane"
    assert chat.document_id(str(notes)) == "field-notes"  # a file as it was given to ingest
    assert chat.readiness().passages == sum(d.passages for d in listed.values())

    assert chat.remove("field-notes") == Removed("field-notes", listed["field-notes"].passages)
    with pytest.raises(NotFound):
        chat.remove("field-notes")
    with pytest.raises(NotFound):
        chat.document_id("field-notes")
    assert [d.id for d in chat.documents()] == ["lighthouse"]
    assert chat.reindex().added == ["lighthouse"] and chat.ask("Who built the Vey lighthouse?").answered


def test_sessions_purged_by_retention_without_opening_the_store(settings: Settings, chat: ArticleChat) -> None:
    chat.ingest_upload(LIGHTHOUSE, "lighthouse.md")
    kept, old = chat.ask("Who built the Vey lighthouse?"), chat.ask("When was it automated?")
    with chat.sessions.engine.begin() as db:
        db.execute(update(schema.sessions).where(schema.sessions.c.id == old.session_id)
                   .values(updated_at=datetime.now(UTC) - timedelta(days=3)))
    sessions_only = ArticleChat(settings)
    assert sessions_only.purge_sessions(0) == Purged(0, 0)
    assert sessions_only.purge_sessions(2) == Purged(2, 1)
    assert [s.id for s in sessions_only.conversations()] == [kept.session_id]
    assert "store" not in sessions_only.__dict__  # sessions alone load no embedding model


def test_the_bundled_article_is_not_added_to_a_store_with_documents(chat: ArticleChat) -> None:
    chat.ingest_upload(LIGHTHOUSE, "lighthouse.md")
    assert chat.prepare() is None
    assert BUNDLED_SOURCE not in {d.id for d in chat.documents()}
