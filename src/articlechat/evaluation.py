"""Run a question set and score the agent on it, in either format of ../shared/eval/README.md:

- scripted items (``kind``, ``turns``, ``expect`` / ``evidence`` / ``forbid``), scored per kind;
- SQuAD items (``id``, ``doc``, ``question``, ``answers``, ``impossible``), asked scoped to their ``doc`` (a file in
  ``articles/`` beside the question file) and scored with SQuAD's normalisation, overall and per article.
"""

from __future__ import annotations

import re
import string
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol, get_args

from pydantic import (
    BaseModel,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from articlechat.contract import Answer
from articlechat.errors import InvalidInput

if TYPE_CHECKING:
    from articlechat.ingest import Ingestor

Kind = Literal["factual", "followup", "unanswerable", "injection"]
Outcome = Literal["correct", "over_decline", "wrong_answer", "declined", "false_answer"]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
MAX_ANSWER_CHARS = 400  # a longer answer is not counted correct, whatever it contains
MAX_HISTORY_TURNS = 10  # earlier questions a SQuAD item may replay before its own
ARTICLES_FOLDER = "articles"  # a SQuAD set's documents, beside its question file
_MARKER = re.compile(r"\s*\[\d+\]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


class Asker(Protocol):
    """What the evaluation needs of an agent."""

    def ask(self, question: str, session_id: str | None = None, doc: str | None = None) -> Answer:
        """Answer ``question`` in session ``session_id`` (a new one when None), about document ``doc`` if given."""


class Report(Protocol):
    """What `articlechat eval` prints."""

    def to_json(self, with_items: bool = True) -> dict[str, Any]:
        """JSON-ready figures (``with_items``: each item's result too)."""

    def lines(self) -> list[str]:
        """The figures as a readable table."""


# --- Question sets -------------------------------------------------------------------------------------------------


class ScriptedItem(BaseModel):
    """A scripted item: one or more turns in one session, the last one scored by its ``kind``."""

    id: str = ""
    kind: Kind
    turns: list[Text] = Field(min_length=1)
    expect: list[list[str]] = Field(default_factory=list)
    evidence: str | None = None
    forbid: list[str] = Field(default_factory=list)


class SquadItem(BaseModel):
    """A SQuAD 2.0 question about one article: answerable (``answers`` holds the gold texts) or ``impossible``."""

    id: str = Field(min_length=1)
    doc: str = Field(min_length=1, description="The article's file name in the articles/ folder.")
    question: Text
    answers: list[str]
    impossible: bool
    history: list[Text] = Field(default_factory=list, max_length=MAX_HISTORY_TURNS,
                                description="Questions asked before it in the same session (a follow-up's context).")

    @field_validator("doc")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if Path(value).name != value or value in (".", ".."):
            raise ValueError("must be a file name in the articles folder, not a path")
        return value

    @model_validator(mode="after")
    def _answers_match(self) -> SquadItem:
        if self.impossible == any(normalize(a) for a in self.answers):
            raise ValueError("an impossible question has no answers; an answerable one needs at least one")
        return self


def _format_of(data: Any) -> str:
    return "squad" if isinstance(data, dict) and "question" in data and "kind" not in data else "scripted"


EvalItem = Annotated[Annotated[ScriptedItem, Tag("scripted")] | Annotated[SquadItem, Tag("squad")],
                     Discriminator(_format_of)]
_ITEM = TypeAdapter(EvalItem)


def load_items(path: Path) -> list[ScriptedItem] | list[SquadItem]:
    """Read and check a question set (one format per file); a malformed line raises :class:`InvalidInput`."""
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise InvalidInput(f"{path}: not UTF-8 text") from None
    items: list[Any] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = _ITEM.validate_json(line)
        except ValidationError as exc:
            problems = "; ".join(f"{_location(e['loc'])}: {e['msg']}" for e in exc.errors())
            raise InvalidInput(f"{path}:{number}: {problems}") from None
        if items and type(item) is not type(items[0]):
            raise InvalidInput(f"{path}:{number}: a {_format_of(item.model_dump())} item in a file of "
                               f"{_format_of(items[0].model_dump())} items (use one format per file)")
        items.append(item)
    if not items:
        raise InvalidInput(f"{path}: no questions in this file")
    return items


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc if p not in ("scripted", "squad")) or "line"


def squad_articles(path: Path, items: list[SquadItem]) -> dict[str, Path]:
    """The article file of every ``doc`` the items name (in ``articles/`` beside ``path``); missing ones raise."""
    folder = path.parent / ARTICLES_FOLDER
    if not folder.is_dir():
        raise InvalidInput(f"{folder}: no such folder (a SQuAD set's articles go in {ARTICLES_FOLDER}/ beside it)")
    articles = {name: folder / name for name in sorted({item.doc for item in items})}
    missing = [name for name, file in articles.items() if not file.is_file()]
    if missing:
        raise InvalidInput(f"{folder}: no article {', '.join(missing)} (named by the questions' doc field)")
    return articles


def ingest_articles(ingestor: Ingestor, articles: dict[str, Path]) -> dict[str, str]:
    """Put each article into the store (unchanged ones add nothing); returns doc name -> the stored source."""
    from articlechat.ingest.load import load_file

    sources = {}
    for name, file in articles.items():
        document = load_file(file, ingestor.settings.max_file_bytes)
        ingestor.ingest_document(document)
        sources[name] = document.id
    return sources


# --- Scoring helpers -----------------------------------------------------------------------------------------------


def without_markers(text: str) -> str:
    """``text`` without its ``[n]`` citation markers."""
    return _MARKER.sub("", text).strip()


def normalize(text: str) -> str:
    """SQuAD's official normalisation: lower case, no punctuation, no a/an/the, whitespace collapsed."""
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION)).split())


def contains_answer(text: str, golds: list[str]) -> bool:
    """Whether a normalised gold answer occurs in normalised ``text`` (markers removed) as whole words."""
    padded = f" {normalize(without_markers(text))} "
    return any(gold and f" {gold} " in padded for gold in map(normalize, golds))


def citations_are_valid(answer: Answer) -> bool:
    """Every [n] names a returned source, the sources marked cited are exactly those, and only answers cite."""
    numbers = {int(n) for n in re.findall(r"\[(\d+)\]", answer.answer)}
    cited = {s.n for s in answer.sources if s.cited}
    return numbers <= {s.n for s in answer.sources} and numbers == cited and bool(numbers) == answer.answered


def _fold(text: str) -> str:
    return " ".join(text.lower().split())


def ask_or_refusal(agent: Asker, question: str, session_id: str | None, doc: str | None) -> tuple[Answer, str | None]:
    """The agent's answer and None; or, when it refuses the question as bad input, a decline and the error message
    (one refused question must not end the run)."""
    try:
        return agent.ask(question, session_id=session_id, doc=doc), None
    except InvalidInput as exc:
        return Answer(answer="", answered=False, session_id=session_id or "", sources=[]), str(exc)


def converse(agent: Asker, turns: list[str], doc: str | None) -> tuple[Answer, str | None]:
    """Ask ``turns`` in order in one fresh session; the last turn's answer (and refusal, as :func:`ask_or_refusal`).
    A refused earlier turn ends the conversation there: its decline and error are the result, not lost."""
    session_id = None
    for turn in turns:
        answer, error = ask_or_refusal(agent, turn, session_id, doc)
        if error:
            break
        session_id = answer.session_id or session_id
    return answer, error


# --- Scripted sets -------------------------------------------------------------------------------------------------


@dataclass
class ItemResult:
    """How the agent did on one scripted item (only its last turn is scored)."""

    id: str
    kind: str
    passed: bool
    answered: bool
    answer: str
    evidence_rank: int | None  # 1-based rank of the first source holding the evidence; None: not found / no evidence
    has_evidence: bool
    citations_valid: bool  # every [n] names a source, `cited` matches the text, answers cite and declines don't
    sources: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None  # the agent refused the last turn as bad input (scored as a decline)


@dataclass
class EvalReport:
    """Per-kind accuracy and retrieval quality of a scripted set."""

    items: list[ItemResult]
    k: int

    def accuracy(self) -> dict[str, tuple[int, int]]:
        """kind -> (passed, total)."""
        totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for item in self.items:
            totals[item.kind][0] += item.passed
            totals[item.kind][1] += 1
        return {kind: (p, t) for kind, (p, t) in totals.items()}

    def retrieval(self) -> tuple[float, float, int]:
        """(hit@k, MRR, number of items with evidence)."""
        scored = [i for i in self.items if i.has_evidence]
        if not scored:
            return 0.0, 0.0, 0
        hits = sum(i.evidence_rank is not None for i in scored)
        mrr = sum(1 / i.evidence_rank for i in scored if i.evidence_rank) / len(scored)
        return hits / len(scored), mrr, len(scored)

    def citations_valid(self) -> int:
        """How many items' answers have valid citations."""
        return sum(i.citations_valid for i in self.items)

    def to_json(self, with_items: bool = True) -> dict[str, Any]:
        """The report as JSON-ready data (``with_items``: each item's result too)."""
        hit, mrr, n = self.retrieval()
        out: dict[str, Any] = {
            "accuracy": {k: {"passed": p, "total": t, "rate": p / t} for k, (p, t) in self.accuracy().items()},
            f"hit@{self.k}": hit, "mrr": mrr, "items_with_evidence": n, "citations_valid": self.citations_valid(),
        }
        if with_items:
            out["items"] = [asdict(i) for i in self.items]
        return out

    def lines(self) -> list[str]:
        """Per-kind accuracy, retrieval, citations, then the failed items."""
        hit, mrr, n = self.retrieval()
        return [
            *(f"{kind:<13} {passed}/{total}  {passed / total:.0%}" for kind, (passed, total)
              in sorted(self.accuracy().items())),
            f"hit@{self.k:<9} {hit:.0%}  (MRR {mrr:.2f}, {n} items with evidence)",
            f"{'citations':<13} {self.citations_valid()}/{len(self.items)} valid",
            *(f"  failed {i.id} ({i.kind}): {(i.answer or i.error or '')[:100]}" for i in self.items if not i.passed),
        ]


def score_item(item: ScriptedItem, answer: Answer, error: str | None = None) -> ItemResult:
    """Score the final answer of a scripted item as ../shared/eval/README.md describes."""
    text = answer.answer.lower()
    if item.kind in ("factual", "followup"):
        passed = answer.answered and all(any(s.lower() in text for s in group) for group in item.expect)
    elif item.kind == "unanswerable":
        passed = not answer.answered
    else:
        passed = not any(s.lower() in text for s in item.forbid)
    evidence = _fold(item.evidence or "")
    rank = next((i for i, s in enumerate(answer.sources, start=1) if evidence and evidence in _fold(s.text)), None)
    return ItemResult(item.id, item.kind, passed, answer.answered, answer.answer, rank, bool(evidence),
                      citations_are_valid(answer), [s.model_dump() for s in answer.sources], error)


def run_eval(agent: Asker, items: list[ScriptedItem], k: int, doc: str | None = None) -> EvalReport:
    """Ask every item's turns in a fresh session and score the last answer."""
    return EvalReport([score_item(item, *converse(agent, item.turns, doc)) for item in items], k)


# --- SQuAD sets ----------------------------------------------------------------------------------------------------


@dataclass
class SquadResult:
    """How the agent did on one SQuAD question."""

    id: str
    doc: str
    impossible: bool
    outcome: Outcome
    answered: bool
    answer: str
    hit_rank: int | None  # 1-based rank of the first top-k source holding a gold answer; None: none / impossible
    citations_valid: bool
    error: str | None = None  # the agent refused the question as bad input (scored as a decline)


def score_squad(item: SquadItem, answer: Answer, k: int, error: str | None = None) -> SquadResult:
    """Score one SQuAD answer (../shared/eval/README.md): whole-word gold match in an answer of at most 400
    characters without citation markers; declines are right exactly for impossible questions."""
    if item.impossible:
        outcome: Outcome = "false_answer" if answer.answered else "declined"
    elif not answer.answered:
        outcome = "over_decline"
    else:
        short = len(without_markers(answer.answer)) <= MAX_ANSWER_CHARS
        outcome = "correct" if short and contains_answer(answer.answer, item.answers) else "wrong_answer"
    hit = None if item.impossible else next(
        (n for n, s in enumerate(answer.sources[:k], start=1) if contains_answer(s.text, item.answers)), None)
    return SquadResult(item.id, item.doc, item.impossible, outcome, answer.answered, answer.answer, hit,
                       citations_are_valid(answer), error)


@dataclass(frozen=True)
class SquadFigures:
    """The SQuAD measures of a group of questions (rates of the answerable / impossible ones, as named)."""

    questions: int
    answerable: int
    impossible: int
    answerable_correct: float
    over_decline: float
    wrong_answer: float
    unanswerable_declined: float
    false_answer: float
    overall: float  # (answerable correct + unanswerable declined) / questions
    hit_at_k: float  # share of answerable questions with a gold answer in a top-k source
    citations_valid: int
    refused: int  # questions the agent refused as bad input

    @classmethod
    def of(cls, results: list[SquadResult]) -> SquadFigures:
        """The figures of ``results``."""
        count = {o: sum(r.outcome == o for r in results) for o in get_args(Outcome)}
        answerable = sum(not r.impossible for r in results)
        impossible = len(results) - answerable
        return cls(
            questions=len(results), answerable=answerable, impossible=impossible,
            answerable_correct=_rate(count["correct"], answerable),
            over_decline=_rate(count["over_decline"], answerable),
            wrong_answer=_rate(count["wrong_answer"], answerable),
            unanswerable_declined=_rate(count["declined"], impossible),
            false_answer=_rate(count["false_answer"], impossible),
            overall=_rate(count["correct"] + count["declined"], len(results)),
            hit_at_k=_rate(sum(r.hit_rank is not None for r in results), answerable),
            citations_valid=sum(r.citations_valid for r in results), refused=sum(r.error is not None for r in results))


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


_COLUMNS = (("answerable_correct", "correct"), ("over_decline", "over-decl"), ("wrong_answer", "wrong"),
            ("unanswerable_declined", "declined"), ("false_answer", "false-ans"), ("overall", "overall"))


@dataclass
class SquadReport:
    """SQuAD figures over all questions and per article."""

    items: list[SquadResult]
    k: int
    seconds: float = 0.0  # time spent asking

    def overall(self) -> SquadFigures:
        """The figures over every question."""
        return SquadFigures.of(self.items)

    def per_article(self) -> dict[str, SquadFigures]:
        """doc -> the figures of its questions, in name order."""
        by_doc: dict[str, list[SquadResult]] = defaultdict(list)
        for item in self.items:
            by_doc[item.doc].append(item)
        return {doc: SquadFigures.of(by_doc[doc]) for doc in sorted(by_doc)}

    def _figures_json(self, figures: SquadFigures) -> dict[str, Any]:
        data = asdict(figures)
        data[f"hit@{self.k}"] = data.pop("hit_at_k")
        return data

    def to_json(self, with_items: bool = True) -> dict[str, Any]:
        """The report as JSON-ready data (``with_items``: each question's result too)."""
        out: dict[str, Any] = {
            "overall": self._figures_json(self.overall()),
            "articles": {doc: self._figures_json(f) for doc, f in self.per_article().items()},
            "seconds": round(self.seconds, 3),
            "ms_per_question": round(1000 * self.seconds / max(1, len(self.items)), 2),
        }
        if with_items:
            out["items"] = [asdict(i) for i in self.items]
        return out

    def lines(self) -> list[str]:
        """A table: one row per article, then all questions; then the time taken."""
        rows = [*self.per_article().items(), ("all", self.overall())]
        width = max(len(name) for name, _ in rows)
        head = [f"{'article':<{width}}", "questions", *(title for _, title in _COLUMNS), f"hit@{self.k}", "citations"]
        table = ["  ".join(f"{h:>9}" if n else h for n, h in enumerate(head))]
        for name, f in rows:
            cells = [f"{getattr(f, key):.3f}" for key, _ in _COLUMNS] + [f"{f.hit_at_k:.3f}"]
            table.append("  ".join([f"{name:<{width}}", f"{f.questions:>9}", *(f"{c:>9}" for c in cells),
                                    f"{f.citations_valid:>5}/{f.questions:<3}"]))
        per_question = 1000 * self.seconds / max(1, len(self.items))
        refused = [f"refused {i.id} ({i.doc}): {i.error}" for i in self.items if i.error]
        return [*table, *refused,
                f"{len(self.items)} questions in {self.seconds:.1f} s ({per_question:.1f} ms a question)"]


def run_squad(agent: Asker, items: list[SquadItem], sources: dict[str, str], k: int) -> SquadReport:
    """Ask each question in a fresh session scoped to its article's stored source (``sources``: doc -> source),
    after the item's earlier questions (its ``history``) in the same session; only its own answer is scored."""
    started = time.perf_counter()
    results = []
    for item in items:
        answer, error = converse(agent, [*item.history, item.question], sources[item.doc])
        results.append(score_squad(item, answer, k, error))
    return SquadReport(results, k, time.perf_counter() - started)
