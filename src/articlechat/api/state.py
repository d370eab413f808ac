"""What the routes share: settings, the agent runner, metrics and rate limits (built when the app starts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from threading import Lock

from fastapi import Request

from articlechat.api.observability import Metrics
from articlechat.api.runner import AgentRunner
from articlechat.api.security import ChatLimits
from articlechat.chain.agent import Agent
from articlechat.config import Settings
from articlechat.store import ArticleStore


@dataclass
class AppState:
    """The objects one app's routes share."""

    settings: Settings
    metrics: Metrics
    limits: ChatLimits
    runner: AgentRunner
    ingest_lock: Lock = field(default_factory=Lock)  # one document change at a time

    @property
    def agent(self) -> Agent:
        """The agent answering in this process."""
        return self.runner.agent

    @property
    def store(self) -> ArticleStore:
        """The agent's article store."""
        return self.runner.agent.store


def app_state(request: Request) -> AppState:
    """Dependency: this app's shared state."""
    return request.app.state.articlechat
