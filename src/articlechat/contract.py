"""The answer contract shared by ``ask --json``, ``POST /api/ask`` and the stream's ``done`` event."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Source(BaseModel):
    """One retrieved passage, in rank order; ``cited`` when the answer refers to it as ``[n]``."""

    n: int = Field(description="Citation number used in the answer as [n].")
    text: str
    source: str = Field(description="The document the passage comes from.")
    title: str | None = None
    start: int = Field(description="Character offset of the passage in the document's cleaned text.")
    end: int
    score: float = Field(description="The reader's probability that the passage's best sentence holds the answer "
                                     "(sources are ranked by it); 1.0 for the passages a summary quotes.")
    cited: bool = False


class Answer(BaseModel):
    """An answer grounded in the retrieved passages, or a decline (``answered`` false)."""

    answer: str
    answered: bool
    short_answer: str | None = Field(None, description="The name, date, number or place asked for, when the quoted "
                                                       "sentence holds one; null otherwise.")
    session_id: str
    sources: list[Source]
    backend: str = "extractive"
    fallback: bool = False
    exchange_id: int | None = Field(None, description="The stored exchange, for feedback (POST /api/feedback).")
