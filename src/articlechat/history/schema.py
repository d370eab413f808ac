"""The session database's tables (SQLAlchemy Core), one schema for SQLite and PostgreSQL; Alembic migrations
(``migrations/versions``) build it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    TypeDecorator,
)

SESSION_ID_CHARS = 64
DOC_ID_CHARS = 512


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every engine (SQLite keeps naive UTC text; PostgreSQL a timestamptz)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the session database stores UTC instants")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s", "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s", "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s"})

sessions = Table(
    "sessions", metadata,
    Column("id", String(SESSION_ID_CHARS), primary_key=True),
    Column("doc", String(DOC_ID_CHARS)),  # the document the conversation is scoped to; NULL = all documents
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index(None, "updated_at"),
)

exchanges = Table(
    "exchanges", metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("session_id", String(SESSION_ID_CHARS), ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False),
    Column("doc", String(DOC_ID_CHARS)),  # the document asked about: the session's scope, else the cited one
    Column("question", Text(), nullable=False),
    Column("answer", Text(), nullable=False),
    Column("answered", Boolean(), nullable=False),
    Column("sources", JSON(), nullable=False),
    Column("feedback", SmallInteger()),  # the reader's verdict: +1 helpful, -1 not helpful, NULL none given
    Column("created_at", UtcDateTime(), nullable=False),
    CheckConstraint("feedback IN (-1, 1)", name="feedback"),
    Index(None, "session_id", "id"),
    Index(None, "doc", "created_at"),
    Index(None, "created_at"),
)
