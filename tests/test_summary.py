"""The extractive summary: central sentences over the article's course, no repeats, bounded cost."""

from __future__ import annotations

import time

import numpy as np
import pytest

from articlechat.chain.summary import MAX_CONSIDERED, summarize
from articlechat.embeddings import EmbeddingBackend
from articlechat.ingest import bundled_article
from articlechat.ingest.split import sentence_spans
from articlechat.language import profile_for


@pytest.fixture(scope="module")
def op_ed(embedding_backend: EmbeddingBackend) -> tuple[list[str], np.ndarray]:
    """The bundled op-ed's sentences (headline and byline included, as ingest splits them) and their embeddings."""
    sentences = [s.text for s in sentence_spans(bundled_article().text)]
    return sentences, embedding_backend.vectors(sentences)


def body_paragraph(sentence: str) -> int:
    """The number of the op-ed's body paragraph (0: the opening, 5: the conclusion) that holds ``sentence``."""
    paragraphs = [p for p in bundled_article().text.split("\n\n") if len(p.split()) > 20]
    assert len(paragraphs) == 6
    return next(n for n, p in enumerate(paragraphs) if sentence in p)


@pytest.mark.parametrize("count", [3, 4, 5])
def test_the_op_ed_summary_runs_from_the_opening_to_the_conclusion(op_ed: tuple[list[str], np.ndarray],
                                                                   count: int) -> None:
    sentences, vectors = op_ed
    picked = summarize(sentences, vectors, count)
    assert len(picked) == count and picked == sorted(set(picked))
    article = bundled_article()
    assert not {sentences[i] for i in picked} & {article.title, f"By {article.author}"}  # headline and byline skipped
    paragraphs = [body_paragraph(sentences[i]) for i in picked]
    assert paragraphs[0] == 0 and paragraphs[-1] == 5 and set(paragraphs) & {1, 2, 3, 4}, paragraphs
    assert "Putin" in sentences[picked[0]]  # the opening says who met whom


def test_no_near_duplicates(op_ed: tuple[list[str], np.ndarray]) -> None:
    sentences, vectors = op_ed
    doubled = sentences + sentences  # every sentence twice: a copy must not be picked beside its original
    picked = summarize(doubled, np.vstack([vectors, vectors]), 5)
    assert len({doubled[i] for i in picked}) == len(picked) >= 3
    chosen = vectors[[i % len(sentences) for i in picked]]
    similarity = chosen @ chosen.T
    assert similarity[~np.eye(len(picked), dtype=bool)].max() < 0.9


def test_long_documents_cost_a_bounded_time() -> None:
    rng = np.random.default_rng(7)
    n = 20 * MAX_CONSIDERED
    sentences = [f"Sentence number {i} of a very long document is here." for i in range(n)]
    vectors = rng.normal(size=(n, 384)).astype(np.float32)
    started = time.perf_counter()
    picked = summarize(sentences, vectors, 4)
    assert time.perf_counter() - started < 2.0
    assert len(picked) == 4 and picked[0] < n / 4 and picked[-1] >= 3 * n / 4  # still spread over the whole text


def test_small_and_bad_inputs() -> None:
    vectors = np.eye(3, dtype=np.float32)
    assert summarize([], np.zeros((0, 3)), 4) == []
    assert summarize(["A Headline Without A Full Stop", "By Jane Doe", "Short."], vectors) == []
    body = ["The first full sentence says one thing.", "A Headline", "The second full sentence says another."]
    assert summarize(body, vectors, 4) == [0, 2]
    with pytest.raises(ValueError, match="3 sentences but 2 vectors"):
        summarize(body, vectors[:2])
    with pytest.raises(ValueError, match="count must be at least 1"):
        summarize(body, vectors, 0)


def test_sentences_that_lean_on_the_one_before_are_left_out(op_ed: tuple[list[str], np.ndarray]) -> None:
    sentences, vectors = op_ed
    english = profile_for("en")
    picked = [sentences[i] for i in summarize(sentences, vectors, 4, english.stands_alone)]
    assert len(picked) == 4 and all(english.stands_alone(s) for s in picked), picked
    assert not english.stands_alone("This is because Russia has previously been accused of violating sanctions.")
    assert not english.stands_alone("As such, this meeting is unlikely to have any long term implications.")
    assert english.stands_alone("Thistle grows on the hills of Scotland in the summer.")
    leaning = ["This one follows the sentence before it.", "It says more of the same thing here."]
    assert summarize(leaning, np.eye(2, dtype=np.float32), 2, english.stands_alone) == [0, 1]  # nothing else to pick


@pytest.mark.parametrize("count", [3, 4, 5])
def test_the_headlines_claim_is_in_the_summary(op_ed: tuple[list[str], np.ndarray],
                                               embedding_backend: EmbeddingBackend, count: int) -> None:
    sentences, vectors = op_ed
    article = bundled_article()
    english = profile_for("en")
    headline = embedding_backend.vectors([article.title])[0]
    without = [sentences[i] for i in summarize(sentences, vectors, count, english.stands_alone)]
    picked = summarize(sentences, vectors, count, english.stands_alone, headline)
    assert not any("spectacle" in s for s in without)  # centrality alone misses the op-ed's thesis
    assert len(picked) == count and any("spectacle" in sentences[i] for i in picked)  # the headline's claim
    paragraphs = [body_paragraph(sentences[i]) for i in picked]
    assert paragraphs[0] == 0 and paragraphs[-1] == 5, paragraphs  # still from the opening to the conclusion


def test_the_sentence_closest_to_the_headline_is_kept_once() -> None:
    body = ["The first full sentence says one thing.", "The second full sentence says another.",
            "The third full sentence says the headline's point."]
    vectors = np.eye(3, dtype=np.float32)
    assert summarize(body, vectors, 1, headline=np.array([0.0, 0.2, 1.0])) == [2]
    assert summarize(body, vectors, 3, headline=np.array([0.0, 1.0, 0.1])) == [0, 1, 2]
