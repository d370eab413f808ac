"""Run the synchronous agent off the event loop: answers, streams that stop when the client goes away, and
conversations replayed from an OpenAI-style message history (stored as a session, or only read)."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import anyio
from anyio.to_thread import run_sync

from articlechat.api.observability import Metrics
from articlechat.chain.agent import Token
from articlechat.contract import Answer
from articlechat.history import SessionInfo, Turn
from articlechat.service import ArticleChat

_END = object()
NOT_STORED = ""  # the session id of an answer given in a :class:`Transcript`


class Transcript:
    """The earlier turns of one OpenAI-style request as the session store of its answer: the agent reads them as the
    conversation's history and records nothing (the request did not ask to be stored)."""

    def __init__(self, turns: list[tuple[str, str]]) -> None:
        now = datetime.now(UTC).isoformat()
        self.session = SessionInfo(NOT_STORED, None, now, now)
        self.turns = [Turn(question, answer, True) for question, answer in turns]

    def open(self, _session_id: str | None, doc: str | None) -> SessionInfo:
        """The one conversation, scoped to ``doc``."""
        return replace(self.session, doc=doc)

    def recent_turns(self, _session_id: str, limit: int) -> list[Turn]:
        """The last ``limit`` turns, oldest first."""
        return self.turns[-limit:] if limit > 0 else []

    def add_exchange(self, *_exchange: Any, **_fields: Any) -> int:
        """Record nothing."""
        return 0


class AgentRunner:
    """The application service's answers, called from worker threads (the event loop never embeds or searches)."""

    def __init__(self, chat: ArticleChat, metrics: Metrics) -> None:
        self.chat = chat
        self.metrics = metrics

    async def ask(self, question: str, session_id: str | None = None, doc: str | None = None) -> Answer:
        """The whole answer at once."""
        answer = await run_sync(self.chat.ask, question, session_id, doc)
        self._record(answer)
        return answer

    async def open_stream(self, question: str, session_id: str | None = None,
                          doc: str | None = None) -> AsyncIterator[Token | Answer]:
        """Start answering and wait for the first piece, so bad input raises here, before any response is sent;
        then iterate the rest. Leaving the iteration early (client gone) closes the agent's stream."""
        items = self.chat.stream(question, session_id, doc)
        first = await run_sync(next, items, _END)  # an error here has finished the generator already
        return self._rest(items, first)

    async def _rest(self, items: Iterator[Token | Answer], item: Any) -> AsyncIterator[Token | Answer]:
        try:
            while item is not _END:
                if isinstance(item, Answer):
                    self._record(item)
                yield item
                item = await run_sync(next, items, _END)
        except (GeneratorExit, anyio.get_cancelled_exc_class()):  # the client went away
            self.metrics.disconnects.inc()
            raise
        finally:
            if item is not _END:
                with anyio.CancelScope(shield=True):
                    await run_sync(items.close)  # GeneratorExit in the agent: the model call is abandoned

    def unrecorded(self, turns: list[tuple[str, str]]) -> AgentRunner:
        """A runner whose answers follow ``turns`` and are not recorded: this agent over a :class:`Transcript`."""
        agent = copy.copy(self.chat.agent)  # shares the store, models and settings; only its sessions differ
        agent.sessions = Transcript(turns)  # type: ignore[assignment]
        return AgentRunner(ArticleChat.over(agent), self.metrics)

    async def replay(self, turns: list[tuple[str, str]], doc: str | None) -> str | None:
        """A new session holding the last ``turns`` (question, answer) that the agent reads as history; None when
        there are none."""
        keep = self.chat.settings.history_turns
        if not turns or not keep:
            return None
        return await run_sync(self._replay, turns[-keep:], doc)

    def _replay(self, turns: list[tuple[str, str]], doc: str | None) -> str:
        sessions = self.chat.sessions
        session = sessions.create(doc)
        for question, answer in turns:
            sessions.add_exchange(session, question, answer, True, [])
        return session.id

    def _record(self, answer: Answer) -> None:
        self.metrics.record_answer(answer, self.chat.settings.answer_backend)
