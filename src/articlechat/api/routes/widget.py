"""What the chat widget asks the server: its settings for a page (does the document exist, the longest question,
the starter questions), and readers' thumbs up and down on answers."""

from __future__ import annotations

from typing import Annotated, Literal

from anyio.to_thread import run_sync
from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from articlechat.api.security import client_limit
from articlechat.api.state import AppState, app_state

router = APIRouter(tags=["chat"])
State = Annotated[AppState, Depends(app_state)]
CONFIG_CACHE = "no-cache"  # revalidated each time: a document may be added, changed or removed at any moment


class WidgetConfig(BaseModel):
    """The widget's settings for one page."""

    doc: str | None = Field(description="The document asked about (the widget's data-doc); null: all documents.")
    exists: bool = Field(description="Whether that document is in the store (always true for all documents).")
    title: str | None = Field(description="The document's title.")
    max_question_chars: int = Field(description="The longest question the server accepts.")
    starters: list[str] = Field(description="Suggested first questions about the document, which it answers.")


def _whole(value: object) -> object:
    """A JSON number that is a whole number (``42.0`` is one to JSON Schema) as an int; anything else unchanged."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


class FeedbackRequest(BaseModel):
    """A reader's verdict on an answer: ``up`` helpful, ``down`` not helpful (a second verdict replaces the first)."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={
        "examples": [{"session_id": "oisnpBrLwPUhmCnNg5HMvUzO", "exchange_id": 42, "value": "up"}]})

    session_id: str = Field(max_length=64, description="The session the answer belongs to.")
    exchange_id: Annotated[int, BeforeValidator(_whole)] = Field(
        ge=1, le=2**53, description="The answer's `exchange_id` (from the answer contract or the session's messages).")
    value: Literal["up", "down"]


@router.get("/api/widget/config")
async def widget_config(state: State, response: Response,
                        doc: Annotated[str | None, Query(max_length=400, description="The widget's data-doc.")] = None,
                        ) -> WidgetConfig:
    """The widget's settings for a page about `doc`; an unknown `doc` gives `exists: false` (not an error), so the
    widget can tell the page's developer and stay hidden."""
    settings = await run_sync(state.chat.widget_config, doc)
    response.headers["Cache-Control"] = CONFIG_CACHE
    return WidgetConfig.model_validate(settings, from_attributes=True)


@router.post("/api/feedback", status_code=204, dependencies=[Depends(client_limit)])
async def feedback(body: FeedbackRequest, state: State) -> Response:
    """Record a reader's thumbs up or down on an answer of their session (404 when the session has no such answer)."""
    await run_sync(state.chat.feedback, body.session_id, body.exchange_id, body.value == "up")
    return Response(status_code=204)
