"""The chat endpoints the widget uses: ask, ask with a Server-Sent Events stream, and sessions."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from anyio.to_thread import run_sync
from fastapi import APIRouter, Depends, Response
from sse_starlette import EventSourceResponse

from articlechat.api.errors import describe, error_body
from articlechat.api.schemas import AskRequest, MessageOut, SessionMessages
from articlechat.api.security import client_limit
from articlechat.api.state import AppState, app_state
from articlechat.chain.agent import Token
from articlechat.contract import Answer

router = APIRouter(tags=["chat"])
State = Annotated[AppState, Depends(app_state)]
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
PING_SECONDS = 15


@router.post("/api/ask", dependencies=[Depends(client_limit)])
async def ask(body: AskRequest, state: State) -> Answer:
    """Answer a question: the same contract as `articlechat ask --json`."""
    await run_sync(state.limits.check_session, body.session_id, state.chat.session_exists)
    return await state.runner.ask(body.question, body.session_id, body.doc)


@router.post("/api/ask/stream", dependencies=[Depends(client_limit)], response_class=EventSourceResponse,
             responses={200: {"content": {"text/event-stream": {}},
                              "description": "`token` events ({text}), one `sources` event ([Source]), then `done` "
                                             "(the answer contract); `error` ({error: {code, message}}) on failure."}})
async def ask_stream(body: AskRequest, state: State) -> EventSourceResponse:
    """Answer a question as Server-Sent Events; closing the connection stops the answer."""
    await run_sync(state.limits.check_session, body.session_id, state.chat.session_exists)
    items = await state.runner.open_stream(body.question, body.session_id, body.doc)
    return EventSourceResponse(_events(items), headers=STREAM_HEADERS, ping=PING_SECONDS)


async def _events(items: AsyncIterator[Token | Answer]) -> AsyncIterator[dict[str, str]]:
    try:
        async for item in items:
            if isinstance(item, Answer):
                yield {"event": "sources", "data": json.dumps([s.model_dump() for s in item.sources])}
                yield {"event": "done", "data": item.model_dump_json()}
            else:
                yield {"event": "token", "data": json.dumps({"text": item.text})}
    except Exception as exc:  # the response has started: report the failure in the stream
        _status, code, message = describe(exc)
        yield {"event": "error", "data": json.dumps(error_body(code, message))}


@router.get("/api/sessions/{session_id}/messages")
async def session_messages(session_id: str, state: State) -> SessionMessages:
    """Every message of a conversation, oldest first."""
    conversation = await run_sync(state.chat.history, session_id)
    return SessionMessages(session_id=conversation.session.id, doc=conversation.session.doc,
                           messages=[MessageOut.model_validate(m, from_attributes=True)
                                     for m in conversation.messages])


@router.delete("/api/sessions/{session_id}", status_code=204)
async def delete_session(session_id: str, state: State) -> Response:
    """Forget a conversation."""
    await run_sync(state.chat.forget, session_id)
    return Response(status_code=204)
