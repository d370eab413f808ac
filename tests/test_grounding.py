"""The decline gate and answer selection on questions of each kind (real model, real store)."""

import pytest

from articlechat.chain.agent import Agent
from articlechat.chain.lexical import answer_pattern, asks_for_gist, focus_terms, vocabulary


@pytest.mark.parametrize(("question", "missing"), [
    ("What is the GDP of North Korea?", ["gdp"]),
    ("What is the population of Russia?", ["population"]),
    ("How old is Vladimir Putin?", ["old"]),
    ("Is aviation fuel allowed to be shipped to North Korea?", []),  # verbs may be paraphrased
    ("Which body approved the sanctions?", []),  # frame words name the kind of answer
])
def test_focus_terms_are_the_nouns_names_and_how_adjectives_the_text_lacks(question: str, missing: list[str]) -> None:
    text = ("North Korea faces sanctions; Russia and Vladimir Putin say they enforce them. States are banned from"
            " supplying aviation fuel. The UN approved them.")
    assert focus_terms(question, set(vocabulary(text))) == missing


@pytest.mark.parametrize(("question", "kind"), [
    ("Summarize the article.", "gist"),
    ("What's this piece about?", "gist"),
    ("Can you give me a short summary?", "gist"),
    ("What is the title of the article?", "title"),
    ("What is the main point about sanctions?", None),
    ("Who did Kim meet?", None),
])
def test_questions_about_the_whole_document_are_recognised(question: str, kind: str | None) -> None:
    assert asks_for_gist(question) == kind


def test_answer_forms_follow_the_question_wording() -> None:
    assert answer_pattern("When did they meet?").search("On the 25th of April they met.")
    assert not answer_pattern("When did they meet?").search("They met in a hurry.")
    assert answer_pattern("How much trade is there?").search("There is only a limited amount of trade.")
    assert not answer_pattern("How long did the meeting last?").search("On the 25th of April they met.")
    assert answer_pattern("Who met Putin?") is None
    assert answer_pattern("Until when?") is None  # "until North Korea denuclearises" answers it too


def test_summary_quotes_the_title_and_lead_from_the_opening_passage(agent: Agent) -> None:
    answer = agent.ask("Summarize the article.")
    assert answer.answered
    assert answer.answer.startswith("Russia and North Korea talks are just a diplomatic spectacle [1]")
    assert answer.sources[0].start == 0 and answer.sources[0].cited


@pytest.mark.parametrize("question", [
    "How long did the meeting last?",  # no duration in the article
    "When did Russia limit North Korean migrant workers?",  # the date-bearing sentences are about other things
    "What is the capital of North Korea?",
])
def test_declines_when_no_sentence_of_the_right_form_or_topic_exists(agent: Agent, question: str) -> None:
    assert not agent.ask(question).answered


@pytest.mark.parametrize(("question", "expected"), [
    ("When did the six-party talks break down?", "2009"),
    ("In which month did the Hanoi summit take place?", "February"),
    ("How much trade is there between the two countries?", "limited amount of trade"),
])
def test_typed_questions_get_a_sentence_of_that_form(agent: Agent, question: str, expected: str) -> None:
    answer = agent.ask(question)
    assert answer.answered and expected in answer.answer
