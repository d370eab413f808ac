"""Excerpts: the part of a long sentence that answers, so that an answer stays short enough to read as one.

A sentence is cut at its clause breaks (commas, semicolons, colons, dashes, brackets). The clauses that hold the
short answer, else the clause that matches the question best (of the first SCORED_CLAUSES), are kept, and their
neighbours are added, the better matching first, while they fit; a clause too long by itself is cut at words around
the short answer or its middle. An excerpt is a span of the document, so it is cited and found in the text as a
whole sentence is.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from articlechat.ingest.split import Span

ANSWER_CHARS = 400  # the longest answer that still reads as one (and the longest the eval counts as an answer)
ELLIPSIS = "\u2026"  # marks where a quoted sentence was cut
SCORED_CLAUSES = 200  # of a sentence, at most this many clauses are scored for relevance (bounded cost)
MIN_ROOM = 80  # a quote is never cut shorter than this, however long the short answer before it
_CLAUSE_BREAK = re.compile(r"(?<=[,;:])\s+|\s+(?=[(\u2013\u2014])|(?<=\))\s+")
_WORD = re.compile(r"\S+")


def clauses(sentence: Span) -> list[Span]:
    """The sentence's clauses, as spans of the document, in order."""
    pieces, begin = [], 0
    for found in _CLAUSE_BREAK.finditer(sentence.text):
        pieces.append((begin, found.start()))
        begin = found.end()
    pieces.append((begin, len(sentence.text)))
    return [Span(sentence.start + a, sentence.start + b, sentence.text[a:b]) for a, b in pieces if b > a]


def excerpt(sentence: Span, room: int, relevance: Callable[[str], float], focus: str | None = None) -> Span:
    """The sentence itself when it has at most ``room`` characters, else its most relevant run of clauses that fits
    (``relevance`` scores a clause's text; the clauses holding ``focus``, the short answer, come first)."""
    room = max(room, MIN_ROOM)
    if len(sentence.text) <= room:
        return sentence
    parts = clauses(sentence)
    at = sentence.text.find(focus) if focus else -1
    held = [i for i, p in enumerate(parts) if at >= 0 and p.start - sentence.start < at + len(focus or "")
            and p.end - sentence.start > at]
    scores = [relevance(p.text) if i < SCORED_CLAUSES else 0.0 for i, p in enumerate(parts)]
    first = held[0] if held else max(range(len(parts)), key=lambda i: scores[i])
    last = held[-1] if held and parts[held[-1]].end - parts[first].start <= room else first
    while True:
        sides = [i for i in (first - 1, last + 1) if 0 <= i < len(parts)
                 and parts[max(i, last)].end - parts[min(i, first)].start <= room]
        if not sides:
            break
        chosen = max(sides, key=lambda i: scores[i])
        first, last = min(first, chosen), max(last, chosen)
    begin, end = parts[first].start - sentence.start, parts[last].end - sentence.start
    kept = Span(sentence.start + begin, sentence.start + end, sentence.text[begin:end])
    return kept if len(kept.text) <= room else _middle_words(kept, room, focus)


def _middle_words(span: Span, room: int, focus: str | None) -> Span:
    """The words of ``span`` around ``focus`` (else around its middle) that fit in ``room`` characters."""
    at = span.text.find(focus) if focus else -1
    centre = at + len(focus or "") // 2 if at >= 0 else len(span.text) // 2
    begin = max(0, min(centre - room // 2, len(span.text) - room))
    words = [w for w in _WORD.finditer(span.text) if w.start() >= begin and w.end() <= begin + room]
    if not words:
        return Span(span.start + begin, span.start + begin + room, span.text[begin : begin + room])
    a, b = words[0].start(), words[-1].end()
    return Span(span.start + a, span.start + b, span.text[a:b])


def lead(short: str | None) -> str:
    """How the short answer opens an answer: "A limited amount of trade. " (nothing when there is none)."""
    return f"{short[:1].upper()}{short[1:]}. " if short else ""


def marked(sentence: Span, part: Span) -> str:
    """The quoted text of ``part`` of ``sentence``, with an ellipsis where the sentence was cut."""
    text = part.text.strip()
    if part.end < sentence.end:
        text = text.rstrip(",;:\u2013\u2014 ") + ELLIPSIS
    return (ELLIPSIS if part.start > sentence.start else "") + text
