"""Exchanges: one row per question and answer (with its document and the reader's feedback), UTC timestamps.

The messages of the baseline are paired into exchanges; a question without its answer is dropped.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import sqlalchemy as sa
from alembic import op

from articlechat.history.schema import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_old_sessions = sa.table("sessions", sa.column("id"), sa.column("doc"), sa.column("created_at"),
                         sa.column("updated_at"))
_old_messages = sa.table("messages", sa.column("id"), sa.column("session_id"), sa.column("role"),
                         sa.column("content"), sa.column("answered"), sa.column("sources"), sa.column("created_at"))


def _instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _cited_doc(sources: list[dict[str, Any]]) -> str | None:
    return next((s.get("source") for s in sources if s.get("cited")), None)


def _exchanges(messages: list[sa.Row], docs: dict[str, str | None]) -> list[dict[str, Any]]:
    """Each user message followed by an assistant message of the same session, as an exchange row."""
    rows = []
    for question, answer in pairwise(messages):
        if (question.role, answer.role) != ("user", "assistant") or question.session_id != answer.session_id:
            continue
        sources = json.loads(answer.sources) if answer.sources else []
        rows.append({"session_id": answer.session_id, "doc": docs[answer.session_id] or _cited_doc(sources),
                     "question": question.content, "answer": answer.content, "answered": bool(answer.answered),
                     "sources": sources, "feedback": None, "created_at": _instant(answer.created_at)})
    return rows


def upgrade() -> None:
    bind = op.get_bind()
    old_sessions = bind.execute(sa.select(_old_sessions)).all()
    old_messages = bind.execute(sa.select(_old_messages).order_by(_old_messages.c.session_id,
                                                                  _old_messages.c.id)).all()
    op.drop_table("messages")
    op.drop_table("sessions")
    sessions = op.create_table(
        "sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("doc", sa.String(512)),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_sessions_updated_at", "sessions", ["updated_at"])
    exchanges = op.create_table(
        "exchanges",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.String(64), sa.ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False),
        sa.Column("doc", sa.String(512)),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("answered", sa.Boolean(), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("feedback", sa.SmallInteger()),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint("feedback IN (-1, 1)", name="feedback"),
    )
    op.create_index("ix_exchanges_session_id_id", "exchanges", ["session_id", "id"])
    op.create_index("ix_exchanges_doc_created_at", "exchanges", ["doc", "created_at"])
    op.create_index("ix_exchanges_created_at", "exchanges", ["created_at"])
    kept = {s.id: s for s in old_sessions if len(s.id) <= 64}
    if kept:
        op.bulk_insert(sessions, [{"id": s.id, "doc": s.doc, "created_at": _instant(s.created_at),
                                   "updated_at": _instant(s.updated_at)} for s in kept.values()])
    rows = _exchanges([m for m in old_messages if m.session_id in kept], {i: s.doc for i, s in kept.items()})
    if rows:
        op.bulk_insert(exchanges, rows)


def downgrade() -> None:
    raise NotImplementedError("The exchanges cannot be turned back into the baseline's messages; restore a backup.")
