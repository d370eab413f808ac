"""Run a question set (JSON lines: id, kind, turns, expect / evidence / forbid) and score the agent on it."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, Field, StringConstraints, ValidationError

from articlechat.contract import Answer
from articlechat.errors import InvalidInput

Kind = Literal["factual", "followup", "unanswerable", "injection"]


class Asker(Protocol):
    """What the evaluation needs of an agent."""

    def ask(self, question: str, session_id: str | None = None, doc: str | None = None) -> Answer:
        """Answer ``question`` in session ``session_id`` (a new one when None)."""


@dataclass
class ItemResult:
    """How the agent did on one item (only its last turn is scored)."""

    id: str
    kind: str
    passed: bool
    answered: bool
    answer: str
    evidence_rank: int | None  # 1-based rank of the first source holding the evidence; None: not found / no evidence
    has_evidence: bool
    citations_valid: bool  # every [n] names a source, `cited` matches the text, answers cite and declines don't
    sources: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class EvalReport:
    """Per-kind accuracy and retrieval quality."""

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


class EvalItem(BaseModel):
    """One question-set line, as ../shared/eval/README.md defines it."""

    id: str = ""
    kind: Kind
    turns: list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]] = Field(min_length=1)
    expect: list[list[str]] = Field(default_factory=list)
    evidence: str | None = None
    forbid: list[str] = Field(default_factory=list)


def load_items(path: Path) -> list[dict[str, Any]]:
    """Read and check a question set; a malformed line raises :class:`InvalidInput` naming it."""
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise InvalidInput(f"{path}: not UTF-8 text") from None
    items = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            items.append(EvalItem.model_validate_json(line).model_dump())
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'line'}: {e['msg']}" for e in exc.errors())
            raise InvalidInput(f"{path}:{number}: {problems}") from None
    if not items:
        raise InvalidInput(f"{path}: no questions in this file")
    return items


def _fold(text: str) -> str:
    return " ".join(text.lower().split())


def score_item(item: dict[str, Any], answer: Answer) -> ItemResult:
    """Score the final answer of an item as ../shared/eval/README.md describes."""
    text = answer.answer.lower()
    kind = item["kind"]
    if kind in ("factual", "followup"):
        passed = answer.answered and all(any(s.lower() in text for s in group) for group in item.get("expect", []))
    elif kind == "unanswerable":
        passed = not answer.answered
    else:
        passed = not any(s.lower() in text for s in item.get("forbid", []))
    evidence = _fold(item.get("evidence") or "")
    rank = next((i for i, s in enumerate(answer.sources, start=1) if evidence and evidence in _fold(s.text)), None)
    return ItemResult(str(item.get("id", "")), kind, passed, answer.answered, answer.answer, rank, bool(evidence),
                      citations_are_valid(answer), [s.model_dump() for s in answer.sources])


def citations_are_valid(answer: Answer) -> bool:
    """Every [n] names a returned source, the sources marked cited are exactly those, and only answers cite."""
    numbers = {int(n) for n in re.findall(r"\[(\d+)\]", answer.answer)}
    cited = {s.n for s in answer.sources if s.cited}
    return numbers <= {s.n for s in answer.sources} and numbers == cited and bool(numbers) == answer.answered


def run_eval(agent: Asker, items: list[dict[str, Any]], k: int, doc: str | None = None) -> EvalReport:
    """Ask every item's turns in a fresh session and score the last answer."""
    results = []
    for item in items:
        session_id = None
        for turn in item["turns"]:
            answer = agent.ask(turn, session_id=session_id, doc=doc)
            session_id = answer.session_id
        results.append(score_item(item, answer))
    return EvalReport(results, k)
