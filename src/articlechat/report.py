"""The reader-question report: what readers asked about each document, what it did not answer (content gaps) and
which answers they found unhelpful, from the exchanges of the session store.

Near-duplicate questions ("Who wrote the article?", "Who is the author of the article?") are grouped by the
similarity of their embeddings (the product's embedding backend), except when their question words ask for
different things ("Where did the summit take place?" and "When did the summit take place?" embed almost alike).
No reader or session identifier enters the report.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from pydantic import BaseModel, Field

from articlechat.embeddings import EmbeddingBackend
from articlechat.errors import InvalidInput
from articlechat.history import ExchangeRecord

SIMILAR = 0.8  # cosine similarity from which two wordings are one question (all-MiniLM-L6-v2)
MAX_EMBEDDED = 2000  # distinct wordings embedded per document; rarer ones are grouped by their exact wording only
MAX_WORDINGS = 5  # other wordings listed per question
TOP = 10  # questions listed per document, most asked first
UNHELPFUL = 20  # unhelpful answers listed per document, latest first
NO_DOCUMENT = "(questions over all documents that found nothing)"
# The question word fixes what is asked for; "what", "which" and a bare "how" do not.
_ASKS_FOR = re.compile(r"\b(who|whom|whose|when|where|why|how (?:many|much|long|old|often|far)|what|which|how)\b")
_NEUTRAL = {"what", "which", "how"}
_SPACE = re.compile(r"\s+")


class QuestionGroup(BaseModel):
    """One question as readers asked it, with its near-duplicates."""

    question: str = Field(description="The wording asked most often.")
    asked: int = Field(description="How many times it was asked, in any of its wordings.")
    answered: int
    declined: int
    wordings: list[str] = Field(default_factory=list, description="Other wordings grouped with it, most asked first.")


class FeedbackCounts(BaseModel):
    """Readers' thumbs up and down."""

    up: int = 0
    down: int = 0


class UnhelpfulAnswer(BaseModel):
    """An answer a reader marked as not helpful."""

    exchange_id: int
    question: str
    answer: str
    answered: bool
    asked_at: datetime


class DocumentReport(BaseModel):
    """What readers asked about one document (``doc`` None: questions over all documents that found nothing)."""

    doc: str | None
    title: str | None = None
    questions: int
    answered: int
    declined: int
    feedback: FeedbackCounts
    most_asked: list[QuestionGroup] = Field(description="The most asked questions, near-duplicates grouped.")
    content_gaps: list[QuestionGroup] = Field(description="Questions the document did not answer, most asked first.")
    unhelpful: list[UnhelpfulAnswer] = Field(description="Answers readers found unhelpful, latest first.")


class Report(BaseModel):
    """The reader-question report over the exchanges since ``since`` (about ``doc`` when given)."""

    generated_at: datetime
    doc: str | None = None
    since: datetime | None = None
    questions: int
    answered: int
    declined: int
    feedback: FeedbackCounts
    documents: list[DocumentReport] = Field(description="One entry per document, most questions first.")


@dataclass
class _Wording:
    """One distinct wording (questions equal up to case, spacing and end punctuation) and its exchanges."""

    text: str
    asked: int = 0
    answered: int = 0
    spellings: Counter[str] = field(default_factory=Counter)

    def add(self, exchange: ExchangeRecord) -> None:
        self.asked += 1
        self.answered += exchange.answered
        self.spellings[exchange.question.strip()] += 1


def parse_since(text: str) -> datetime:
    """The instant a report starts from: a date (``2026-12-01``, midnight UTC) or an ISO 8601 time (UTC unless it
    says otherwise)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"'{text[:100]}' is not a date: use YYYY-MM-DD or an ISO 8601 time "
                           "(2026-12-01T09:00).") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def normal_wording(question: str) -> str:
    """The wording that tells questions apart: lower case, single spaces, no punctuation at the end."""
    return _SPACE.sub(" ", question).strip().rstrip("?!. ").lower()


def asks_for(question: str) -> str | None:
    """What the question word asks for ("who", "when", "how many"...), or None when it does not say."""
    match = _ASKS_FOR.search(question.lower())
    if not match or match.group(1) in _NEUTRAL:
        return None
    return match.group(1)


def _wordings(exchanges: list[ExchangeRecord]) -> list[_Wording]:
    """The distinct wordings of ``exchanges``, most asked first (ties: first asked first)."""
    found: dict[str, _Wording] = {}
    for exchange in exchanges:
        key = normal_wording(exchange.question)
        found.setdefault(key, _Wording(key)).add(exchange)
    return sorted(found.values(), key=lambda w: -w.asked)  # stable: ties keep the order they were first asked in


def group_questions(exchanges: list[ExchangeRecord], backend: EmbeddingBackend,
                    threshold: float = SIMILAR) -> list[QuestionGroup]:
    """The questions of ``exchanges`` with near-duplicates grouped, most asked first.

    Leader clustering: each wording, most asked first, joins the most similar group whose first wording asks for the
    same thing (or does not say) when their cosine similarity reaches ``threshold``, else starts a group."""
    wordings = _wordings(exchanges)
    embedded = wordings[:MAX_EMBEDDED]
    vectors = backend.vectors([w.text for w in embedded])
    members: list[list[_Wording]] = []
    leaders: list[int] = []  # index in ``embedded`` of each group's first wording
    for i, wording in enumerate(embedded):
        best = _nearest_group(vectors, leaders, i, embedded, threshold)
        if best is None:
            leaders.append(i)
            members.append([wording])
        else:
            members[best].append(wording)
    members += [[w] for w in wordings[MAX_EMBEDDED:]]
    groups = [_group(m) for m in members]
    return sorted(groups, key=lambda g: -g.asked)


def _nearest_group(vectors: np.ndarray, leaders: list[int], i: int, embedded: list[_Wording],
                   threshold: float) -> int | None:
    if not leaders:
        return None
    similarity = vectors[leaders] @ vectors[i]
    wanted = asks_for(embedded[i].text)
    for best in np.argsort(-similarity):
        if similarity[best] < threshold:
            return None
        other = asks_for(embedded[leaders[best]].text)
        if wanted is None or other is None or wanted == other:
            return int(best)
    return None


def _group(wordings: list[_Wording]) -> QuestionGroup:
    spellings = [w.spellings.most_common(1)[0][0] for w in wordings]
    asked = sum(w.asked for w in wordings)
    answered = sum(w.answered for w in wordings)
    return QuestionGroup(question=spellings[0], asked=asked, answered=answered, declined=asked - answered,
                         wordings=spellings[1 : 1 + MAX_WORDINGS])


def feedback_counts(exchanges: list[ExchangeRecord]) -> FeedbackCounts:
    """How many answers readers marked helpful and not helpful."""
    return FeedbackCounts(up=sum(e.helpful is True for e in exchanges), down=sum(e.helpful is False for e in exchanges))


def document_report(doc: str | None, exchanges: list[ExchangeRecord], backend: EmbeddingBackend,
                    title: str | None = None, top: int = TOP) -> DocumentReport:
    """The report for one document's exchanges."""
    answered = sum(e.answered for e in exchanges)
    unhelpful = sorted((e for e in exchanges if e.helpful is False), key=lambda e: e.created_at, reverse=True)
    return DocumentReport(
        doc=doc, title=title, questions=len(exchanges), answered=answered, declined=len(exchanges) - answered,
        feedback=feedback_counts(exchanges),
        most_asked=group_questions(exchanges, backend)[:top],
        content_gaps=group_questions([e for e in exchanges if not e.answered], backend)[:top],
        unhelpful=[UnhelpfulAnswer(exchange_id=e.id, question=e.question, answer=e.answer, answered=e.answered,
                                   asked_at=e.created_at) for e in unhelpful[:UNHELPFUL]])


def build_report(exchanges: list[ExchangeRecord], backend: EmbeddingBackend,
                 titles: Mapping[str, str | None] | None = None, doc: str | None = None,
                 since: datetime | None = None, top: int = TOP) -> Report:
    """The reader-question report over ``exchanges`` (as ``SessionStore.exchanges(doc, since)`` returns them);
    ``titles`` names the documents."""
    by_doc: dict[str | None, list[ExchangeRecord]] = {}
    for exchange in exchanges:
        by_doc.setdefault(exchange.doc, []).append(exchange)
    titles = titles or {}
    documents = [document_report(d, found, backend, titles.get(d) if d else None, top) for d, found in by_doc.items()]
    documents.sort(key=lambda r: (-r.questions, r.doc is None, r.doc or ""))
    answered = sum(e.answered for e in exchanges)
    return Report(generated_at=datetime.now(UTC), doc=doc, since=since, questions=len(exchanges), answered=answered,
                  declined=len(exchanges) - answered, feedback=feedback_counts(exchanges), documents=documents)


def format_report(report: Report) -> str:
    """The report as text for a terminal."""
    scope = f" about {report.doc}" if report.doc else ""
    since = f" since {report.since:%Y-%m-%d %H:%M}" if report.since else ""
    lines = [f"{report.questions} questions{scope}{since}: {report.answered} answered, {report.declined} declined; "
             f"feedback {report.feedback.up} up, {report.feedback.down} down"]
    for doc in report.documents:
        name = doc.doc or NO_DOCUMENT
        lines += ["", f"{name}" + (f" ({doc.title})" if doc.title else ""),
                  f"  {doc.questions} questions: {doc.answered} answered, {doc.declined} declined; "
                  f"feedback {doc.feedback.up} up, {doc.feedback.down} down"]
        lines += _section("most asked", doc.most_asked)
        lines += _section("content gaps (not answered)", doc.content_gaps)
        if doc.unhelpful:
            lines.append("  unhelpful answers:")
            lines += [f"    #{u.exchange_id} {u.question} -> {_short(u.answer)}" for u in doc.unhelpful]
    return "\n".join(lines)


def _section(heading: str, groups: list[QuestionGroup]) -> list[str]:
    if not groups:
        return []
    lines = [f"  {heading}:"]
    for group in groups:
        also = f"  (also: {'; '.join(group.wordings)})" if group.wordings else ""
        lines.append(f"    {group.asked:>4}x  {group.question}{also}")
    return lines


def _short(text: str, limit: int = 100) -> str:
    flat = _SPACE.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
