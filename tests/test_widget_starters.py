"""Starter questions: derived from the document, answered by the product, cached per version of the document."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

from articlechat.chain.agent import Agent
from articlechat.errors import NotFound
from articlechat.ingest import BUNDLED_SOURCE, Ingestor
from articlechat.starters import (
    ABOUT,
    GIST,
    ON_DATE,
    StarterQuestions,
    candidate_questions,
    date_phrase,
    document_names,
)

TEMPLATES = [re.escape(t).replace(r"\{topic\}", ".+").replace(r"\{when\}", ".+") for t in (*ABOUT, ON_DATE, GIST)]
HARBOUR = """The Harbour Festival

The Harbour Festival returns to Port Ellery this summer with three days of music on the quay. On the 12th of July \
the Ellery Brass Band opens the festival with a concert at the lighthouse.

The organisers expect twenty thousand visitors. The Port Ellery Council has closed the quay to cars for the three \
days, and extra ferries run from Kestrel Bay every hour.
"""


class Counting:
    """The product's answerability check, counting its calls."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.calls = 0

    def __call__(self, question: str, doc: str) -> bool:
        self.calls += 1
        return self.agent.ground(question, [], doc).verdict.answerable


def test_the_op_ed_starters_are_answered_by_the_product(agent: Agent) -> None:
    starters = StarterQuestions(agent.store, Counting(agent)).for_document(BUNDLED_SOURCE)
    # Which names make the list depends on the fitted reader's verdicts; what it holds is fixed.
    assert len(set(starters)) == 3 and starters[0] == "What does the article say about North Korea?"
    assert any("Kim Jong Un" in q or "Putin" in q for q in starters), starters
    for question in starters:
        assert any(re.fullmatch(t, question) for t in TEMPLATES)
        answer = agent.ask(question, doc=BUNDLED_SOURCE)
        assert answer.answered, (question, answer.answer)


def test_starters_are_cached_until_the_document_changes(agent: Agent) -> None:
    check = Counting(agent)
    starters = StarterQuestions(agent.store, check)
    Ingestor(agent.store).ingest_text(HARBOUR.encode(), "harbour.txt", "harbour")
    first = starters.for_document("harbour")
    assert len(first) == 3 and all(any(re.fullmatch(t, q) for t in TEMPLATES) for q in first), first
    calls = check.calls
    assert starters.for_document("harbour") == first and check.calls == calls  # cached: nothing derived again

    changed = HARBOUR.replace("On the 12th of July", "In August").replace("Kestrel Bay", "Marlow Sands")
    Ingestor(agent.store).ingest_text(changed.encode(), "harbour.txt", "harbour")
    again = starters.for_document("harbour")
    assert check.calls > calls, again  # derived again for the new version
    for question in again:
        assert agent.ask(question, doc="harbour").answered, question

    with pytest.raises(NotFound):
        starters.for_document("no-such-document")


def test_names_and_dates_a_question_can_use() -> None:
    sentences = ["On the 25th of April, North Korean leader, Kim Jong Un met Vladimir Putin.",
                 "Given the sanctions, the Russian government and the United States disagreed.",
                 "The United States refused.", "Russia met North Korea in May.", "Yet Russia stayed.",
                 "Talks with Russia failed."]
    names = document_names(sentences)
    assert {"Kim Jong Un", "Vladimir Putin", "the United States", "Russia", "North Korea"} <= set(names)
    assert not {"North Korean", "Russian", "Given", "The United States", "May", "On", "Yet"} & set(names)
    assert names["the United States"] == 2 and names["Russia"] == 3
    assert date_phrase(sentences[0]) == "on the 25th of April"
    assert date_phrase("Talks broke down in 2009 over sanctions.") == "in 2009"
    assert date_phrase("No date here.") is None


@pytest.mark.parametrize("sentence", ["A" * 200_000, "Aaaa Bbbb of the " * 20_000, "the Xx " * 30_000 + "yy.",
                                      "On the 1st of " * 20_000])
def test_hostile_sentences_cost_linear_time(sentence: str) -> None:
    started = time.perf_counter()
    sentences = [sentence, "A short closing sentence of the text is here."]
    questions = list(candidate_questions(sentences, np.eye(2, 384, dtype=np.float32)))
    assert questions[-1] == GIST and time.perf_counter() - started < 3.0
