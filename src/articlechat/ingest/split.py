"""Split cleaned text into overlapping chunks and sentences, both with character offsets into the text."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

# A sentence ends at . ! or ? (optionally followed by a closing quote or bracket) before whitespace and a capital,
# digit or opening quote; common abbreviations do not end sentences.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'\u201d\u2019)\]]*\s+(?=[\"'\u201c\u2018(\[]?[A-Z0-9])")
_ABBREVIATIONS = re.compile(
    r"(?:\b(?:Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|Gen|Col|Lt|Sgt|Gov|Sen|Rep|Pres|No|vs|etc|e\.g|i\.e|Inc|Ltd|Co|Corp|Jan|Feb"
    r"|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)|\b[A-Z](?:\.[A-Z])*)\.$"
)
_ABBREVIATION_WINDOW = 8  # the longest abbreviation with its dot fits: only the end of a sentence is looked at


@dataclass(frozen=True)
class Span:
    """A piece of the document: ``text == document[start:end]``."""

    start: int
    end: int
    text: str


def sentence_spans(text: str) -> list[Span]:
    """Split ``text`` into sentences (paragraph breaks always end one)."""
    spans: list[Span] = []
    for para in re.finditer(r"[^\n]+", text):
        begin = para.start()
        for boundary in _SENTENCE_END.finditer(para.group()):
            end = para.start() + boundary.start()
            if _ABBREVIATIONS.search(text, max(begin, end - _ABBREVIATION_WINDOW), end):
                continue
            spans.append(Span(begin, end, text[begin:end]))
            begin = para.start() + boundary.end()
        if begin < para.end():
            spans.append(Span(begin, para.end(), text[begin : para.end()]))
    return [s for s in spans if s.text.strip()]


def chunk_spans(text: str, chunk_size: int, chunk_overlap: int) -> list[Span]:
    """Split ``text`` into chunks of about ``chunk_size`` characters that break at paragraphs, then sentences."""
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=chunk_size,
        chunk_overlap=min(chunk_overlap, chunk_size // 2),
        separators=["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""],
        keep_separator="end",
        add_start_index=True,
    )
    spans = []
    for doc in splitter.create_documents([text]):
        start = doc.metadata["start_index"]
        spans.append(Span(start, start + len(doc.page_content), doc.page_content))
    return spans


def sentences_by_chunk(chunks: list[Span], sentences: list[Span]) -> list[list[Span]]:
    """Each chunk's sentences, cut at its edges (fragments under 3 characters dropped); both lists in text order, so
    one pass over the sentences serves every chunk."""
    grouped: list[list[Span]] = []
    first = 0
    for chunk in chunks:
        while first < len(sentences) and sentences[first].end <= chunk.start:
            first += 1
        inside = []
        for s in sentences[first:]:
            if s.start >= chunk.end:
                break
            start, end = max(s.start, chunk.start), min(s.end, chunk.end)
            if end - start >= 3:
                inside.append(Span(start, end, chunk.text[start - chunk.start : end - chunk.start]))
        grouped.append(inside)
    return grouped


def chunk_id(source: str, span: Span) -> str:
    """A stable id from the chunk's source, position and content."""
    return hashlib.sha256(f"{source}\x00{span.start}\x00{span.text}".encode()).hexdigest()[:32]

