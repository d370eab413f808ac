"""Wiring: turn settings into the live store, session database and agent."""

from __future__ import annotations

from articlechat.config import Settings
from articlechat.history import SessionStore
from articlechat.store import ArticleStore


def open_store(settings: Settings, verify: bool = True) -> ArticleStore:
    """The article store with the configured embedding backend (``verify``: refuse a mismatched collection)."""
    from articlechat.embeddings import build_embeddings

    return ArticleStore(settings, build_embeddings(settings), verify=verify)


def build_agent(settings: Settings, store: ArticleStore | None = None):
    """The agent for the configured answer backend."""
    from articlechat.chain.agent import Agent

    return Agent(settings, store or open_store(settings), SessionStore(settings.sessions_path))
