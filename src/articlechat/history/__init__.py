"""Conversation sessions: a SQLite file by default, PostgreSQL when ARTICLECHAT_DATABASE_URL names one; one schema,
Alembic migrations applied when the store opens (``articlechat db upgrade`` applies them on demand)."""

from articlechat.history.store import (
    DatabaseUnavailable,
    ExchangeRecord,
    Message,
    SessionInfo,
    SessionStore,
    Turn,
    valid_session_id,
)

__all__ = ["DatabaseUnavailable", "ExchangeRecord", "Message", "SessionInfo", "SessionStore", "Turn",
           "valid_session_id"]
