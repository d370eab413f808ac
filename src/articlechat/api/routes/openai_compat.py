"""OpenAI's chat completions wire format, so any OpenAI client or chat UI can talk to the agent."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from sse_starlette import EventSourceResponse

from articlechat.api.errors import PayloadTooLarge, describe, error_body
from articlechat.api.routes.chat import PING_SECONDS, STREAM_HEADERS
from articlechat.api.runner import NOT_STORED
from articlechat.api.schemas import (
    MODEL_ID,
    AnswerFields,
    ChatCompletion,
    ChatCompletionRequest,
    ChatMessage,
    CompletionChoice,
    CompletionMessage,
    ModelCard,
    ModelList,
)
from articlechat.api.security import client_limit
from articlechat.api.state import AppState, app_state
from articlechat.chain.agent import Token
from articlechat.config import Settings
from articlechat.contract import Answer
from articlechat.errors import InvalidInput
from articlechat.service import ArticleChat

router = APIRouter(prefix="/v1", tags=["openai-compatible"])
State = Annotated[AppState, Depends(app_state)]
_STARTED = int(time.time())


def split_conversation(messages: list[ChatMessage], settings: Settings) -> tuple[list[tuple[str, str]], str]:
    """(earlier question/answer turns, the question): the last message is the user's question; each earlier user
    message answered by an assistant message is a turn. System and tool messages are ignored. Too many messages, a
    question the agent would refuse, or too many characters in all are refused before anything is read or stored."""
    limits = settings.limits
    if len(messages) > limits.max_messages:
        raise InvalidInput(f"{len(messages)} messages is over the limit of {limits.max_messages} "
                           "(ARTICLECHAT_MAX_MESSAGES).")
    texts = [message.text() for message in messages]
    ArticleChat.check_question(texts[-1], settings)  # a too long question is named as such
    if (total := sum(map(len, texts))) > limits.max_conversation_chars:
        raise PayloadTooLarge(f"The messages hold {total:,} characters in all, over the limit of "
                              f"{limits.max_conversation_chars:,} (ARTICLECHAT_MAX_CONVERSATION_CHARS).")
    if messages[-1].role != "user":
        raise InvalidInput("The last message must be the user's question (role 'user').")
    turns: list[tuple[str, str]] = []
    pending: str | None = None
    for message, text in zip(messages[:-1], texts[:-1], strict=True):
        if message.role == "user":
            pending = text
        elif message.role == "assistant" and pending is not None:
            turns.append((pending, text))
            pending = None
    return turns, texts[-1]


@router.get("/models")
async def models() -> ModelList:
    """The one model this server offers: the articlechat agent."""
    return ModelList(data=[ModelCard(id=MODEL_ID, created=_STARTED)])


@router.post("/chat/completions", dependencies=[Depends(client_limit)], response_model=ChatCompletion,
             responses={200: {"content": {"text/event-stream": {}},
                              "description": "A chat.completion, or chat.completion.chunk events when streaming."}})
async def chat_completions(body: ChatCompletionRequest, state: State) -> Any:
    """Answer the last user message; earlier user/assistant messages are the conversation so far. With `store: true`
    the conversation and the answer are kept as a session; otherwise nothing is recorded. The answer contract's other
    fields (answered, session_id, sources, backend, fallback) ride along at the top level."""
    turns, question = split_conversation(body.messages, state.settings)
    runner, session_id = state.runner, None
    if body.store:
        session_id = await runner.replay(turns, body.doc)
    else:
        runner = runner.unrecorded(turns)
    completion_id, created = f"chatcmpl-{secrets.token_urlsafe(18)}", int(time.time())
    if not body.stream:
        answer = await runner.ask(question, session_id, body.doc)
        return ChatCompletion(id=completion_id, created=created, model=MODEL_ID,
                              choices=[CompletionChoice(message=CompletionMessage(content=answer.answer))],
                              **_extra_fields(answer))
    items = await runner.open_stream(question, session_id, body.doc)
    head = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": MODEL_ID}
    return EventSourceResponse(_chunks(items, head), headers=STREAM_HEADERS, ping=PING_SECONDS)


def _extra_fields(answer: Answer) -> dict[str, Any]:
    fields = AnswerFields.model_validate(answer, from_attributes=True).model_dump()
    return {**fields, "session_id": None if answer.session_id == NOT_STORED else answer.session_id}


def _chunk(head: dict[str, Any], delta: dict[str, str], finish_reason: str | None = None, **extra: Any) -> str:
    choice = {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
    return json.dumps({**head, "choices": [choice], **extra})


async def _chunks(items: AsyncIterator[Token | Answer], head: dict[str, Any]) -> AsyncIterator[str]:
    yield _chunk(head, {"role": "assistant", "content": ""})
    try:
        async for item in items:
            if isinstance(item, Answer):
                yield _chunk(head, {}, "stop", **_extra_fields(item))
            else:
                yield _chunk(head, {"content": item.text})
    except Exception as exc:  # the response has started: OpenAI clients raise on an error payload
        _status, code, message = describe(exc)
        yield json.dumps(error_body(code, message))
    yield "[DONE]"
