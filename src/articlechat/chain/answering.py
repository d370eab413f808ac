"""What an answerer is: the protocol every answer backend implements, and the pieces it produces."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, Protocol

from articlechat.history import Turn

if TYPE_CHECKING:
    from articlechat.chain.grounding import Grounding


@dataclass(frozen=True)
class Token:
    """A piece of the answer text, streamed as it is produced."""

    text: str


class Composed(NamedTuple):
    """An answer's text, the passage numbers it cites, whether the extractive fallback wrote it, and whether the
    answerer found that the passages do not answer after all."""

    text: str
    cited: set[int]
    fallback: bool = False
    declined: bool = False


class Answerer(Protocol):
    """Writes the answer from grounded passages: by quoting them, or with a language model."""

    name: str
    checks_answerability: bool  # whether it may decline passages the reader was unsure of (NOT_IN_ARTICLE)

    def resolve(self, question: str, history: list[Turn]) -> str | None:
        """A standalone rewrite of a follow-up, or None to keep the reader's own resolution."""

    def compose(self, question: str, history: list[Turn], grounding: Grounding) -> Generator[Token, None, Composed]:
        """Stream the answer as tokens; return what was composed."""
