"""Request and response bodies of the HTTP API (the answer itself is :class:`articlechat.contract.Answer`).

Request bodies are validated strictly: exactly what the schema says, no coercion (``"stream": 0`` is not a boolean)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from articlechat.contract import Source
from articlechat.store.records import DocumentRecord

MODEL_ID = "articlechat"
EXAMPLE_QUESTION = "Who did Kim Jong Un meet on the 25th of April?"


class AskRequest(BaseModel):
    """A question, optionally continuing a session and/or scoped to one document."""

    model_config = ConfigDict(extra="forbid", strict=True,
                              json_schema_extra={"examples": [{"question": EXAMPLE_QUESTION}]})

    question: str = Field(min_length=1, description="The question (limit: ARTICLECHAT_MAX_QUESTION_CHARS).",
                          json_schema_extra={"pattern": r"\S"})  # not blank: the agent says so in its own words
    session_id: str | None = Field(None, description="Continue this conversation; omit to start a new one.")
    doc: str | None = Field(None, description="Only this document (a source from GET /api/documents).")


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


class MessageOut(BaseModel):
    role: Literal["user", "assistant"]
    content: str
    created_at: str
    answered: bool | None = None
    sources: list[Source] | None = None


class SessionMessages(BaseModel):
    session_id: str
    doc: str | None
    messages: list[MessageOut]


class DocumentOut(BaseModel):
    """A stored document: its id, what is known about it and its size. ``source`` and ``chunks`` repeat ``id`` and
    ``passages`` under their earlier names, for clients of earlier versions."""

    id: str
    title: str | None
    author: str | None
    published: str | None = Field(description="Publication date (ISO 8601), as the page or the options gave it.")
    url: str | None = Field(description="Canonical URL.")
    passages: int
    chars: int
    ingested_at: str | None
    source: str = Field(description="The id, under its earlier name.")
    chunks: int = Field(description="Passages, under their earlier name.")

    @classmethod
    def of(cls, record: DocumentRecord) -> DocumentOut:
        """The listing entry of a catalog record."""
        return cls.model_validate(record, from_attributes=True)


class UploadResult(BaseModel):
    source: str
    outcome: Literal["added", "unchanged", "replaced"]


class RemoveResult(BaseModel):
    source: str
    removed_chunks: int


class Readiness(BaseModel):
    status: Literal["ready"]
    backend: str
    chunks: int


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    """An OpenAI chat message; only the text of user and assistant messages is used."""

    model_config = ConfigDict(extra="ignore", strict=True)

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        """The message's text (text parts joined by newlines)."""
        if isinstance(self.content, list):
            return "\n".join(p.text for p in self.content if p.type == "text" and p.text)
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    """OpenAI's chat completion request. Sampling options are accepted and ignored; system messages are ignored
    (the agent's grounding rules cannot be overridden by a client)."""

    model_config = ConfigDict(extra="ignore", strict=True, json_schema_extra={"examples": [
        {"model": MODEL_ID, "messages": [{"role": "user", "content": EXAMPLE_QUESTION}]},
        {"model": MODEL_ID, "stream": True, "messages": [{"role": "user", "content": EXAMPLE_QUESTION}]},
    ]})

    model: str = MODEL_ID
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    doc: str | None = Field(None, description="articlechat extension: only this document.")


class CompletionMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class CompletionChoice(BaseModel):
    index: int = 0
    message: CompletionMessage
    finish_reason: Literal["stop"] = "stop"
    logprobs: None = None


class AnswerFields(BaseModel):
    """The answer contract's fields other than the text, carried at the top level of completions."""

    answered: bool
    session_id: str
    sources: list[Source]
    backend: str
    fallback: bool


class ChatCompletion(AnswerFields):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "articlechat"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
