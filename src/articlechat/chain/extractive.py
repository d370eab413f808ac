"""The offline answerer: the short answer when there is one, then the quoted sentence(s), each cited as [n]."""

from __future__ import annotations

from collections.abc import Generator

from articlechat.chain.answering import Composed, Token
from articlechat.chain.excerpt import lead
from articlechat.chain.grounding import Grounding
from articlechat.history import Turn


def quote(grounding: Grounding) -> tuple[str, set[int]]:
    """The answer text and the passage numbers it cites."""
    quoted = sorted(grounding.quoted, key=lambda e: (e.passage.n, e.sentence.start)) if len(
        {e.passage.source for e in grounding.quoted}) > 1 else sorted(grounding.quoted, key=lambda e: e.sentence.start)
    body = " ".join(f"{e.quoted_text} [{e.passage.n}]" for e in quoted)
    return lead(grounding.short_answer) + body, {e.passage.n for e in quoted}


class ExtractiveAnswerer:
    """Quotes the article: no model, no network."""

    name = "extractive"
    checks_answerability = False

    def resolve(self, question: str, history: list[Turn]) -> str | None:
        """No rewriting: the reader resolves follow-ups itself."""
        return None

    def compose(self, question: str, history: list[Turn], grounding: Grounding) -> Generator[Token, None, Composed]:
        """The quoted answer, in one piece."""
        text, cited = quote(grounding)
        yield Token(text)
        return Composed(text, cited)
