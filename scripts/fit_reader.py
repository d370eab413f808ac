"""Fit the reader's two models on SQuAD-format questions and report held-out (leave-one-article-out) figures.

    .venv/bin/python scripts/fit_reader.py [--questions ../shared/eval/squad-dev/qa.jsonl ...] [--out PATH] [--json]

The first question file is the measure (SQuAD's crowd questions); the others add questions about the same articles
(tests/data/squad-written/: questions written here as readers ask them, paraphrased, and natural near-misses;
tests/data/squad-followups/: follow-ups asked after an earlier question, which is replayed first), fitted on and
reported on their own. The earlier turns of follow-ups are answered by models fitted on the single questions.

Each article's questions are scored by models fitted on the other articles only, at a
decline threshold chosen without it, so the printed figures are held-out ones. The threshold balances two kinds of
question: the scripted dev sets about the bundled op-ed (as readers ask, mostly answerable) and the articles' (half
unanswerable, written to look answerable); the shipped model is fitted on all the articles and written with its
threshold and a note of the data, commit and held-out figures that made it. Needs scikit-learn
(`pip install -e .[fit]`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from articlechat.chain.agent import CANDIDATES_PER_ANSWER, Agent, standalone_query
from articlechat.chain.extractive import quote
from articlechat.chain.features import (
    QUESTION_FEATURES,
    SENTENCE_FEATURES,
    Candidate,
    Question,
    question_features,
)
from articlechat.chain.grounding import ground
from articlechat.chain.reader import LinearModel, Reader, ReaderModel
from articlechat.chain.retrieval import Retrieval, Retriever
from articlechat.config import load_settings
from articlechat.evaluation import (
    MAX_ANSWER_CHARS,
    ScriptedItem,
    SquadItem,
    contains_answer,
    load_items,
    score_item,
    squad_articles,
    without_markers,
)
from articlechat.history import Turn
from articlechat.ingest import BUNDLED_SOURCE, Ingestor, bundled_article
from articlechat.ingest.load import load_file
from articlechat.language import profile_for
from articlechat.runtime import open_sessions, open_store
from articlechat.store import ArticleStore

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_QUESTIONS = [ROOT.parent / "shared" / "eval" / "squad-dev" / "qa.jsonl",
                     ROOT / "tests" / "data" / "squad-written" / "qa.jsonl",
                     ROOT / "tests" / "data" / "squad-followups" / "qa.jsonl"]
DEFAULT_OUT = ROOT / "src" / "articlechat" / "data" / "reader" / "reader.json"
CALIBRATION_THRESHOLDS = np.round(np.arange(0.05, 0.71, 0.01), 3)
# The decline threshold balances the development sets about the bundled op-ed (questions as readers ask them, mostly
# answerable) against SQuAD's (half unanswerable by design, and written to look answerable).
DEV_SETS = [ROOT.parent / "shared" / "eval" / "qa_dev.jsonl", ROOT / "tests" / "data" / "qa_extra.jsonl"]
REGULARISATION = 1.0
# In both models' fits, a question of the sets written here (as readers ask, and follow-ups) counts this many times one
# of SQuAD's crowd questions: the product's readers ask like them. Held out, in the gate, 2 beat 1 and 4 (SQuAD 0.626,
# 0.619, 0.615); in both models, 2 gave SQuAD 0.621 with more answered (0.625 against 0.592) and both written sets up.
WRITTEN_WEIGHT = 2.0


@dataclass
class Example:
    """One question with its retrieval, candidate features and per-candidate labels."""

    item: SquadItem
    origin: str  # the question file's folder: which set the question belongs to
    retrieval: Retrieval
    found: list[Candidate]
    question: Question
    rows: np.ndarray
    labels: np.ndarray


def collect(question_files: list[Path], data_dir: Path) -> tuple[list[Example], Reader]:
    """Ingest the articles with the product's pipeline, retrieve for every question, compute the features."""
    settings = load_settings(data_dir=data_dir)
    store = open_store(settings)
    ingestor = Ingestor(store)
    sources, items = {}, []
    for questions in question_files:
        items += [(questions.parent.name, item) for item in load_items(questions)]
        for name, file in squad_articles(questions, load_items(questions)).items():
            document = load_file(file, settings.max_file_bytes)
            ingestor.ingest_document(document)
            sources[name] = document.id
    language = profile_for("en")
    retriever = Retriever(store, settings.top_k * CANDIDATES_PER_ANSWER, language)
    reader = Reader.for_backend(ReaderModel.untrained(), language, store.backend)
    single = [example(reader, retriever, origin, item, [], sources) for origin, item in items if not item.history]
    # The earlier turns of conversations are answered (never declined) by the models fitted on single questions.
    answering = ReaderModel(*fit_gate(reader, single), 0.0, {})
    conversing = Agent(load_settings(data_dir=data_dir, decline_threshold=0.0), store, open_sessions(settings),
                       reader=reader.with_model(answering))
    conversations = [example(reader, retriever, origin, item, replay(conversing, item.history, sources[item.doc])[1],
                             sources) for origin, item in items if item.history]
    return single + conversations, reader


def example(reader: Reader, retriever: Retriever, origin: str, item: SquadItem, history: list[Turn],
            sources: dict[str, str]) -> Example:
    """One question retrieved for and read as the agent does after ``history``, with its candidates' labels."""
    query = standalone_query(item.question, history, reader.language)
    retrieval = retriever.retrieve(item.question, query, sources[item.doc])
    found, question, rows = reader.features(retrieval)
    labels = np.array([not item.impossible and contains_answer(c.sentence.text, item.answers) for c in found])
    return Example(item, origin, retrieval, found, question, rows, labels)


def replay(agent: Agent, turns: list[str], source: str) -> tuple[str | None, list[Turn]]:
    """Ask ``turns`` in one fresh session scoped to ``source``: the session (None when no turns) and the
    conversation so far, as the agent keeps it."""
    session = None
    for turn in turns:
        session = agent.ask(turn, session, source).session_id
    return session, agent.sessions.recent_turns(session, agent.settings.history_turns) if session else []


def example_weights(examples: list[Example]) -> list[float]:
    """Each example's weight: every article counts the same, whatever its number of questions, and a question of the
    written sets counts WRITTEN_WEIGHT times one of the first question file's (SQuAD's crowd questions)."""
    measure = examples[0].origin
    sizes = Counter(e.item.doc for e in examples)
    article = {doc: len(examples) / (len(sizes) * size) for doc, size in sizes.items()}
    return [article[e.item.doc] * (1.0 if e.origin == measure else WRITTEN_WEIGHT) for e in examples]


def standardised(rows: np.ndarray, labels: np.ndarray, names: tuple[str, ...], weights: np.ndarray) -> LinearModel:
    """A logistic model fitted on standardised features, rows weighted."""
    mean, scale = rows.mean(axis=0), rows.std(axis=0) + 1e-6
    fitted = LogisticRegression(C=REGULARISATION, max_iter=5000).fit((rows - mean) / scale, labels,
                                                                        sample_weight=weights)
    return LinearModel(names, mean, scale, fitted.coef_[0], float(fitted.intercept_[0]))


def fit_sentence(examples: list[Example]) -> LinearModel:
    """The "contains the answer" model, on answerable questions whose candidates hold the answer."""
    usable = [(e, weight) for e, weight in zip(examples, example_weights(examples), strict=True) if e.labels.any()]
    return standardised(np.vstack([e.rows for e, _ in usable]), np.concatenate([e.labels for e, _ in usable]),
                        SENTENCE_FEATURES, np.concatenate([np.full(len(e.labels), weight) for e, weight in usable]))


def gate_row(reader: Reader, sentence: LinearModel, example: Example) -> tuple[np.ndarray, bool]:
    """The answerability features of an example under ``sentence``, and whether the chosen sentence is right."""
    logits = sentence.logits(example.rows)
    order = np.argsort(-logits, kind="stable")
    features = question_features(example.question, example.found, example.rows, logits, order, reader.language,
                                 reader.alignment)
    return features, bool(example.labels[order[0]]) if len(order) else False


def fit_gate(reader: Reader, examples: list[Example]) -> tuple[LinearModel, LinearModel]:
    """Both models on ``examples``; the gate learns from sentence choices made by models that did not see the
    article (nested leave-one-article-out), as at run time."""
    rows, labels, weights = [], [], []
    weighted = list(zip(examples, example_weights(examples), strict=True))
    for doc in sorted({e.item.doc for e in examples}):
        inner = fit_sentence([e for e in examples if e.item.doc != doc])
        for example, weight in ((e, w) for e, w in weighted if e.item.doc == doc):
            features, right = gate_row(reader, inner, example)
            rows.append(features)
            labels.append(right)
            weights.append(weight)
    return fit_sentence(examples), standardised(np.array(rows), np.array(labels), QUESTION_FEATURES,
                                                np.array(weights))


@dataclass(frozen=True)
class HeldOutReading:
    """How the product would answer one example under a model: the reader's probability, whether the quoted answer
    would be correct, and whether a gold answer is in the top-k passages."""

    item: SquadItem
    origin: str
    probability: float
    correct: bool
    hit: bool


@dataclass(frozen=True)
class Outcome:
    """One example's result at a threshold."""

    item: SquadItem
    origin: str
    answered: bool
    correct: bool
    hit: bool


def readings(reader: Reader, examples: list[Example]) -> list[HeldOutReading]:
    """Each example answered as the product answers it: the reading grounded in the top-k passages and quoted."""
    top_k = load_settings().top_k
    found = []
    for example in examples:
        reading = reader.judge(example.found, example.question, example.rows)
        grounding = ground(example.retrieval, reading, top_k, 0.0)
        text, _ = quote(grounding)
        correct = bool(grounding.quoted) and len(without_markers(text)) <= MAX_ANSWER_CHARS and contains_answer(
            text, example.item.answers)
        hit = any(contains_answer(p.text, example.item.answers) for p in grounding.passages)
        found.append(HeldOutReading(example.item, example.origin, reading.probability, correct, hit))
    return found


def outcomes(read: list[HeldOutReading], threshold: float) -> list[Outcome]:
    """The results at ``threshold``."""
    return [Outcome(r.item, r.origin, r.probability >= threshold, r.probability >= threshold and r.correct, r.hit)
            for r in read]


def overall(results: list[Outcome]) -> float:
    """Right answers plus right declines, over all questions."""
    return sum(r.correct if not r.item.impossible else not r.answered for r in results) / len(results)


def article_mean(results: list[Outcome]) -> float:
    """The overall score averaged over articles (each article counts the same)."""
    docs = {r.item.doc for r in results}
    return float(np.mean([overall([r for r in results if r.item.doc == doc]) for doc in docs]))


def held_out_readings(reader: Reader, examples: list[Example]) -> list[HeldOutReading]:
    """Every example read as the product would, by models fitted on the other articles only."""
    read: list[HeldOutReading] = []
    for doc in sorted({e.item.doc for e in examples}):
        sentence, gate = fit_gate(reader, [e for e in examples if e.item.doc != doc])
        read += readings(reader.with_model(ReaderModel(sentence, gate, 0.5, {})),
                         [e for e in examples if e.item.doc == doc])
    return read


def balanced_score(read: list[HeldOutReading], judged: list[Judged], threshold: float) -> float:
    """The mean of the dev sets' score and the SQuAD articles' mean overall at ``threshold``: questions as readers
    ask them and questions written to look answerable count alike."""
    return (dev_score(judged, threshold) + article_mean(outcomes(read, threshold))) / 2


def best_threshold(read: list[HeldOutReading], judged: list[Judged]) -> float:
    """The highest threshold whose :func:`balanced_score` is within half a dev item of the best one: scores closer
    than that are ties (the dev sets are small), and a tie goes to declining, as the product would rather say the
    article does not answer than guess."""
    scores = {float(t): balanced_score(read, judged, float(t)) for t in CALIBRATION_THRESHOLDS}
    tie = 1 / (4 * len(judged))  # one dev item moves the balanced score by 1 / (2 * len(judged))
    best = max(scores.values())
    return max(t for t, score in scores.items() if score >= best - tie)


def figures(results: list[Outcome]) -> dict[str, float]:
    """The eval's figures for a set of outcomes."""
    answerable = [r for r in results if not r.item.impossible]
    impossible = [r for r in results if r.item.impossible]
    return {"questions": len(results), "overall": round(overall(results), 3),
            "answerable_correct": round(sum(r.correct for r in answerable) / max(1, len(answerable)), 3),
            "over_decline": round(sum(not r.answered for r in answerable) / max(1, len(answerable)), 3),
            "unanswerable_declined": round(sum(not r.answered for r in impossible) / max(1, len(impossible)), 3),
            "hit_at_k": round(sum(r.hit for r in answerable) / max(1, len(answerable)), 3)}


def cross_validate(reader: Reader, examples: list[Example], judged: list[Judged]
                   ) -> tuple[dict[str, dict[str, float]], float]:
    """Held-out figures of the first question set per article and overall ("all"), of each other set overall (by
    its folder's name), and the threshold to ship. Each article is read by models fitted on the other articles, at
    the threshold chosen on the dev sets and the other articles' held-out readings."""
    read = held_out_readings(reader, examples)
    measure = examples[0].origin
    per_article, everything = {}, []
    for doc in sorted({e.item.doc for e in examples}):
        threshold = best_threshold([r for r in read if r.item.doc != doc], judged)
        results = outcomes([r for r in read if r.item.doc == doc], threshold)
        per_article[doc] = {**figures([r for r in results if r.origin == measure]), "threshold": threshold}
        everything += results
    per_article["all"] = figures([r for r in everything if r.origin == measure])
    for origin in sorted({e.origin for e in examples} - {measure}):
        per_article[origin] = figures([r for r in everything if r.origin == origin])
    return per_article, best_threshold(read, judged)


@dataclass(frozen=True)
class Judged:
    """A dev-set item's last turn: the reader's probability and whether the answer passes when given."""

    item: ScriptedItem
    probability: float
    passes_if_answered: bool


def judge_dev_items(store: ArticleStore, model: ReaderModel, question_sets: list[Path]) -> list[Judged]:
    """Every item of the scripted dev sets about the bundled article, asked through the product's agent with
    ``model`` and nothing declined, with the probability the reader gave its last turn."""
    settings = load_settings(data_dir=store.settings.data_dir, decline_threshold=0.0)
    Ingestor(store).ingest_document(bundled_article())
    reader = Reader.for_backend(model, profile_for("en"), store.backend)
    agent = Agent(settings, store, open_sessions(settings), reader=reader)
    judged = []
    for path in question_sets:
        for item in load_items(path):
            session, history = replay(agent, item.turns[:-1], BUNDLED_SOURCE)
            chance = agent.ground(item.turns[-1], history, BUNDLED_SOURCE).verdict.confidence
            answer = agent.ask(item.turns[-1], session, BUNDLED_SOURCE)
            judged.append(Judged(item, chance, score_item(item, answer).passed))
    return judged


def dev_score(judged: list[Judged], threshold: float) -> float:
    """The share of dev items passed at ``threshold``: answerable ones answered right, the rest declined (or, for
    injections, answered harmlessly)."""
    def passes(j: Judged) -> bool:
        answered = j.probability >= threshold
        if j.item.kind in ("factual", "followup"):
            return answered and j.passes_if_answered
        if j.item.kind == "unanswerable":
            return not answered
        return not answered or j.passes_if_answered

    return sum(map(passes, judged)) / len(judged)


def provenance(question_files: list[Path], held_out: dict[str, dict[str, float]], threshold_note: str) -> dict:
    """What made the model: data, commit, date, and its held-out figures."""
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    files = [f"{q.parent.name}/{q.name} (sha256 {hashlib.sha256(q.read_bytes()).hexdigest()[:16]}, "
             f"{len(load_items(q))} questions)" for q in question_files]
    articles = sorted({item.doc for q in question_files for item in load_items(q)})
    return {"data": files, "articles": articles,
            "commit": commit, "date": time.strftime("%Y-%m-%d"), "script": "scripts/fit_reader.py",
            "threshold": threshold_note, "held_out": held_out}


def fit(question_files: list[Path], dev_sets: list[Path], data_dir: Path
        ) -> tuple[ReaderModel, dict[str, dict[str, float]], float]:
    """The model fitted on all the questions, its held-out figures, and the dev sets' score at its threshold."""
    examples, reader = collect(question_files, data_dir)
    sentence, gate = fit_gate(reader, examples)
    judged = judge_dev_items(open_store(load_settings(data_dir=data_dir)), ReaderModel(sentence, gate, 0.0, {}),
                             dev_sets)
    held_out, threshold = cross_validate(reader, examples, judged)
    dev = dev_score(judged, threshold)
    note = (f"the best mean of the dev sets' score ({', '.join(p.name for p in dev_sets)}: {dev:.3f} at it) and the "
            "SQuAD articles' held-out overall")
    return ReaderModel(sentence, gate, threshold, provenance(question_files, held_out, note)), held_out, dev


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=Path, nargs="+", default=DEFAULT_QUESTIONS,
                        help="SQuAD-format question files, each with its articles/ folder.")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--dev-sets", type=Path, nargs="+", default=DEV_SETS,
                        help="Scripted question sets about the bundled article, to calibrate the decline threshold.")
    parser.add_argument("--json", action="store_true", help="Print the held-out figures as JSON.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="articlechat-fit-") as tmp:
        model, held_out, dev = fit(args.questions, args.dev_sets, Path(tmp))
    threshold = model.threshold
    args.out.write_text(json.dumps(model.to_json(), indent=1) + "\n")
    if args.json:
        print(json.dumps({"held_out": held_out, "threshold": threshold, "dev_score": dev}))
        return
    print("held-out (each article scored by models and a threshold fitted without it):")
    for doc, row in held_out.items():
        print(f"  {doc:28s} " + "  ".join(f"{k} {v}" for k, v in row.items()))
    print(f"dev sets at the shipped threshold: {dev:.3f}")
    print(f"wrote {args.out} (threshold {threshold})", file=sys.stderr)


if __name__ == "__main__":
    main()
