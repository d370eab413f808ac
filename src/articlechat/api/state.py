"""What the routes share: settings, the application service, the async runner of its answers, metrics and rate
limits (built when the app starts). Routes call :attr:`AppState.chat` (and :attr:`AppState.runner` for answers off
the event loop), never the agent, the store or the session database directly."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from articlechat.api.observability import Metrics
from articlechat.api.runner import AgentRunner
from articlechat.api.security import ChatLimits
from articlechat.config import Settings
from articlechat.service import ArticleChat
from articlechat.store import ArticleStore


@dataclass
class AppState:
    """The objects one app's routes share."""

    settings: Settings
    metrics: Metrics
    limits: ChatLimits
    chat: ArticleChat
    runner: AgentRunner  # the service's agent, called from worker threads, with answer metrics

    @classmethod
    def start(cls, settings: Settings, metrics: Metrics, chat: ArticleChat) -> AppState:
        """The state of an app serving ``chat``."""
        return cls(settings, metrics, ChatLimits(settings), chat, AgentRunner(chat.agent, metrics))

    @property
    def store(self) -> ArticleStore:
        """The service's article store (for the demo page)."""
        return self.chat.store


def app_state(request: Request) -> AppState:
    """Dependency: this app's shared state."""
    return request.app.state.articlechat
