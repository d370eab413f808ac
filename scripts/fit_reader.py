"""Fit the reader's two models on SQuAD-format questions and report held-out (leave-one-article-out) figures.

    .venv/bin/python scripts/fit_reader.py [--questions ../shared/eval/squad-dev/qa.jsonl] [--out PATH] [--json]

Each article's questions are scored by models fitted on the other articles only (the decline threshold, too, is
chosen on those), so the printed figures are held-out ones. The shipped model is then fitted on all the articles,
with the threshold that maximised the held-out overall score, and written with a note of the data and commit that
made it. Needs scikit-learn (`pip install -e .[fit]`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from articlechat.chain.agent import CANDIDATES_PER_ANSWER
from articlechat.chain.extractive import quote
from articlechat.chain.features import (
    QUESTION_FEATURES,
    SENTENCE_FEATURES,
    Candidate,
    Question,
    WordVectors,
    question_features,
)
from articlechat.chain.grounding import ground
from articlechat.chain.reader import LinearModel, Reader, ReaderModel
from articlechat.chain.retrieval import Retrieval, Retriever
from articlechat.config import load_settings
from articlechat.evaluation import (
    MAX_ANSWER_CHARS,
    SquadItem,
    contains_answer,
    load_items,
    squad_articles,
    without_markers,
)
from articlechat.ingest import Ingestor
from articlechat.ingest.load import load_file
from articlechat.language import profile_for
from articlechat.runtime import open_store

ROOT = Path(__file__).resolve().parent.parent
# The shared SQuAD dev articles, and questions written here about the bundled op-ed (not the paraphrase test set).
DEFAULT_QUESTIONS = [ROOT.parent / "shared" / "eval" / "squad-dev" / "qa.jsonl",
                     ROOT / "tests" / "data" / "oped-train" / "qa.jsonl"]
DEFAULT_OUT = ROOT / "src" / "articlechat" / "data" / "reader" / "reader.json"
THRESHOLDS = np.round(np.arange(0.2, 0.71, 0.025), 3)
REGULARISATION = 1.0


@dataclass
class Example:
    """One question with its retrieval, candidate features and per-candidate labels."""

    item: SquadItem
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
        items += load_items(questions)
        for name, file in squad_articles(questions, load_items(questions)).items():
            document = load_file(file, settings.max_file_bytes)
            ingestor.ingest_document(document)
            sources[name] = document.id
    retriever = Retriever(store, settings.top_k * CANDIDATES_PER_ANSWER)
    reader = Reader(ReaderModel.untrained(), profile_for("en"), WordVectors(store.backend.vectors))
    examples = []
    for item in items:
        retrieval = retriever.retrieve(item.question, None, sources[item.doc])
        found, question, rows = reader.features(retrieval)
        labels = np.array([not item.impossible and contains_answer(c.sentence.text, item.answers) for c in found])
        examples.append(Example(item, retrieval, found, question, rows, labels))
    return examples, reader


def article_weights(examples: list[Example]) -> dict[str, float]:
    """Each example's weight so that every article counts the same, whatever its number of questions."""
    sizes = {doc: sum(e.item.doc == doc for e in examples) for doc in {e.item.doc for e in examples}}
    return {doc: len(examples) / (len(sizes) * size) for doc, size in sizes.items()}


def standardised(rows: np.ndarray, labels: np.ndarray, names: tuple[str, ...], weights: np.ndarray) -> LinearModel:
    """A logistic model fitted on standardised features, rows weighted."""
    mean, scale = rows.mean(axis=0), rows.std(axis=0) + 1e-6
    fitted = LogisticRegression(C=REGULARISATION, max_iter=5000).fit((rows - mean) / scale, labels,
                                                                        sample_weight=weights)
    return LinearModel(names, mean, scale, fitted.coef_[0], float(fitted.intercept_[0]))


def fit_sentence(examples: list[Example]) -> LinearModel:
    """The "contains the answer" model, on answerable questions whose candidates hold the answer."""
    usable = [e for e in examples if e.labels.any()]
    weight = article_weights(examples)
    return standardised(np.vstack([e.rows for e in usable]), np.concatenate([e.labels for e in usable]),
                        SENTENCE_FEATURES, np.concatenate([np.full(len(e.labels), weight[e.item.doc]) for e in usable]))


def gate_row(reader: Reader, sentence: LinearModel, example: Example) -> tuple[np.ndarray, bool]:
    """The answerability features of an example under ``sentence``, and whether the chosen sentence is right."""
    logits = sentence.logits(example.rows)
    order = np.argsort(-logits, kind="stable")
    features = question_features(example.question, example.found, example.rows, logits, order, reader.language)
    return features, bool(example.labels[order[0]]) if len(order) else False


def fit_gate(reader: Reader, examples: list[Example]) -> tuple[LinearModel, LinearModel]:
    """Both models on ``examples``; the gate learns from sentence choices made by models that did not see the
    article (nested leave-one-article-out), as at run time."""
    rows, labels, weights = [], [], []
    weight = article_weights(examples)
    for doc in sorted({e.item.doc for e in examples}):
        inner = fit_sentence([e for e in examples if e.item.doc != doc])
        for example in (e for e in examples if e.item.doc == doc):
            features, right = gate_row(reader, inner, example)
            rows.append(features)
            labels.append(right)
            weights.append(weight[doc])
    return fit_sentence(examples), standardised(np.array(rows), np.array(labels), QUESTION_FEATURES,
                                                np.array(weights))


def outcomes(reader: Reader, examples: list[Example], threshold: float) -> list[tuple[SquadItem, bool, bool, bool]]:
    """(item, answered, answer correct, gold in the top-k passages) for each example, answered as the product
    answers: the reading grounded in the top-k passages and quoted."""
    top_k = load_settings().top_k
    results = []
    for example in examples:
        reading = reader.judge(example.found, example.question, example.rows)
        grounding = ground(example.retrieval, reading, top_k, threshold)
        text, _ = quote(grounding)
        answered = grounding.verdict.answerable
        correct = answered and len(without_markers(text)) <= MAX_ANSWER_CHARS and contains_answer(
            text, example.item.answers)
        hit = any(contains_answer(p.text, example.item.answers) for p in grounding.passages)
        results.append((example.item, answered, correct, hit))
    return results


def overall(results: list[tuple[SquadItem, bool, bool, bool]]) -> float:
    """Right answers plus right declines, over all questions."""
    good = sum(correct if not item.impossible else not answered for item, answered, correct, _ in results)
    return good / len(results)


def article_mean(results: list[tuple[SquadItem, bool, bool, bool]]) -> float:
    """The overall score averaged over articles (each article counts the same)."""
    docs = {r[0].doc for r in results}
    return float(np.mean([overall([r for r in results if r[0].doc == doc]) for doc in docs]))


def with_model(reader: Reader, model: ReaderModel) -> Reader:
    """The same reader with another model."""
    return Reader(model, reader.language, reader.words)


def choose_threshold(reader: Reader, examples: list[Example], fit: Callable) -> float:
    """The threshold maximising overall on ``examples``, each article scored by models fitted on the others."""
    results_by_threshold = {float(t): [] for t in THRESHOLDS}
    for doc in sorted({e.item.doc for e in examples}):
        sentence, gate = fit([e for e in examples if e.item.doc != doc])
        held = with_model(reader, ReaderModel(sentence, gate, 0.5, {}))
        part = [e for e in examples if e.item.doc == doc]
        for threshold in results_by_threshold:
            results_by_threshold[threshold] += outcomes(held, part, threshold)
    return max(results_by_threshold, key=lambda t: (article_mean(results_by_threshold[t]), -abs(t - 0.5)))


def figures(results: list[tuple[SquadItem, bool, bool, bool]]) -> dict[str, float]:
    """The eval's figures for a set of outcomes."""
    answerable = [r for r in results if not r[0].impossible]
    impossible = [r for r in results if r[0].impossible]
    return {"questions": len(results), "overall": round(overall(results), 3),
            "answerable_correct": round(sum(r[2] for r in answerable) / max(1, len(answerable)), 3),
            "over_decline": round(sum(not r[1] for r in answerable) / max(1, len(answerable)), 3),
            "unanswerable_declined": round(sum(not r[1] for r in impossible) / max(1, len(impossible)), 3),
            "hit_at_k": round(sum(r[3] for r in answerable) / max(1, len(answerable)), 3)}


def cross_validate(reader: Reader, examples: list[Example]) -> tuple[dict[str, dict[str, float]], list[float]]:
    """Held-out figures per article and overall: models and threshold fitted on the other articles only."""
    per_article, everything, thresholds = {}, [], []
    for doc in sorted({e.item.doc for e in examples}):
        train = [e for e in examples if e.item.doc != doc]
        threshold = choose_threshold(reader, train, lambda part: fit_gate(reader, part))
        sentence, gate = fit_gate(reader, train)
        held = with_model(reader, ReaderModel(sentence, gate, threshold, {}))
        results = outcomes(held, [e for e in examples if e.item.doc == doc], threshold)
        per_article[doc] = {**figures(results), "threshold": threshold}
        everything += results
        thresholds.append(threshold)
    per_article["all"] = figures(everything)
    return per_article, thresholds


def provenance(question_files: list[Path], held_out: dict[str, dict[str, float]], threshold_note: str) -> dict:
    """What made the model: data, commit, date, and its held-out figures."""
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    files = [f"{q.parent.name}/{q.name} (sha256 {hashlib.sha256(q.read_bytes()).hexdigest()[:16]}, "
             f"{len(load_items(q))} questions)" for q in question_files]
    return {"data": files, "articles": sorted(held_out)[:-1],
            "commit": commit, "date": time.strftime("%Y-%m-%d"), "script": "scripts/fit_reader.py",
            "threshold": threshold_note, "held_out": held_out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=Path, nargs="+", default=DEFAULT_QUESTIONS,
                        help="SQuAD-format question files, each with its articles/ folder.")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--json", action="store_true", help="Print the held-out figures as JSON.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="articlechat-fit-") as tmp:
        examples, reader = collect(args.questions, Path(tmp))
        held_out, thresholds = cross_validate(reader, examples)
        threshold = float(np.median(thresholds))
        sentence, gate = fit_gate(reader, examples)
    model = ReaderModel(sentence, gate, threshold,
                        provenance(args.questions, held_out, f"median of the per-fold thresholds {thresholds}"))
    args.out.write_text(json.dumps(model.to_json(), indent=1) + "\n")
    if args.json:
        print(json.dumps(held_out))
        return
    print("held-out (each article scored by models fitted on the others):")
    for doc, row in held_out.items():
        print(f"  {doc:28s} " + "  ".join(f"{k} {v}" for k, v in row.items()))
    print(f"wrote {args.out} (threshold {threshold})", file=sys.stderr)


if __name__ == "__main__":
    main()
