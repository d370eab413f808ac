"""Excerpts: a sentence too long to read as an answer is quoted in part, around what answers (real embedding model,
real store on disk, the CLI's source snippets)."""

from __future__ import annotations

import re
import time

import pytest

from articlechat.chain.agent import Agent, standalone_query
from articlechat.chain.excerpt import ANSWER_CHARS, ELLIPSIS, MIN_ROOM, SCORED_CLAUSES, clauses, excerpt, marked
from articlechat.chain.features import SENTENCE_FEATURES, Candidate, analyse, new_typed_piece
from articlechat.chain.reader import SHORT_ANSWER_CHARS
from articlechat.cli import _snippet
from articlechat.config import Settings
from articlechat.embeddings import EmbeddingBackend
from articlechat.history import SessionStore
from articlechat.ingest import Ingestor
from articlechat.ingest.split import Span
from articlechat.store import ArticleStore

LONG = ("The Normans were the people who in the 10th and 11th centuries gave their name to Normandy, a region in "
        "France, which they conquered, descended from Norse raiders and pirates from Denmark, Iceland and Norway who, "
        "under their leader Rollo, agreed to swear fealty to King Charles III of West Francia, and through "
        "generations of assimilation and mixing with the native Frankish and Roman-Gaulish populations, their "
        "descendants would gradually merge with the Carolingian-based cultures of West Francia, keeping only a few "
        "words of Old Norse in the place names of the coast, where their longships had first landed in the year 841.")
ARTICLE = f"""The Normans

{LONG}

The duchy of Normandy, which they formed by treaty with the French crown, was a great fief of medieval France.
"""


def words_in(text: str) -> float:
    return float(sum(word in text for word in ("Rollo", "leader")))


def test_a_sentence_that_fits_is_quoted_whole() -> None:
    sentence = Span(10, 10 + len("Rollo led them."), "Rollo led them.")
    assert excerpt(sentence, ANSWER_CHARS, words_in) is sentence
    assert marked(sentence, sentence) == "Rollo led them."


def test_a_long_sentence_is_cut_around_the_short_answer_into_a_span_of_the_document() -> None:
    document = "Intro. " + LONG
    sentence = Span(7, 7 + len(LONG), LONG)
    for focus in ("Denmark, Iceland and Norway", "the year 841", None):
        part = excerpt(sentence, 200, words_in, focus)
        assert len(part.text) <= 200 and document[part.start : part.end] == part.text
        assert (focus or "under their leader Rollo") in part.text
        quoted = marked(sentence, part)
        assert quoted.startswith(ELLIPSIS) == (part.start > sentence.start)
        assert quoted.endswith(ELLIPSIS) == (part.end < sentence.end)
    assert [c.text for c in clauses(Span(0, 23, "One, two (three) \u2013 four"))] == ["One,", "two", "(three)",
                                                                                  "\u2013 four"]


def test_a_clause_too_long_by_itself_is_cut_at_words() -> None:
    text = " ".join(f"word{i}" for i in range(200))
    part = excerpt(Span(0, len(text), text), 100, words_in, "word150")
    assert len(part.text) <= 100 and "word150" in part.text and part.text == text[part.start : part.end]
    assert re.fullmatch(r"word\d+( word\d+)*", part.text)  # whole words only


def test_two_sentences_quoted_together_with_the_short_answer_stay_within_the_limit(agent: Agent) -> None:
    first = "In 841 the Norse raiders under their leader Rollo first landed on the coast of what became Normandy, " \
            "where their longships sailed up the Seine, burning the abbeys that stood along its banks, one by one."
    second = "Their descendants, who had merged with the Frankish and Roman-Gaulish populations by then, swore " \
             "fealty to King Charles III of West Francia in return for the lands around Rouen, and kept them."
    chosen = [Candidate(None, Span(0, len(first), first), 0, 0.5),  # type: ignore[arg-type]  # no passage needed
              Candidate(None, Span(len(first) + 1, len(first) + 1 + len(second), second), 1, 0.4)]  # type: ignore
    question = analyse("Who led the Norse raiders?", [first, second], agent.reader.language)
    short = "Rollo the Walker, son of Rognvald Eysteinsson"  # long enough that the pair and it exceed the limit
    parts = agent.reader.excerpts(question, chosen, short)
    answer = f"{short}. " + " ".join(marked(c.sentence, part) for c, part in zip(chosen, parts, strict=True))
    assert len(first) + 1 + len(second) < ANSWER_CHARS < len(short) + 2 + len(first) + 1 + len(second)  # the premise
    assert len(answer) <= ANSWER_CHARS and parts[1] is chosen[1].sentence and ELLIPSIS in answer


def test_no_room_left_still_quotes_a_span_of_the_document() -> None:
    text = "Rollo met " + " ".join(["Ab"] * 300) + ", who led the raiders, and then, after years, went home."
    for room in (-50, 0, 5):  # a short answer that takes all the room
        part = excerpt(Span(0, len(text), text), room, words_in, "Ab Ab")
        assert 0 < len(part.text) <= MIN_ROOM and text[part.start : part.end] == part.text


@pytest.mark.parametrize(("question", "sentence"), [
    ("Where did they land?", "They landed in " + " ".join(f"Raider{i}" for i in range(400)) + "."),
    ("How many raiders came?", "They came " + ",".join(["100"] * 500) + " strong.")])
def test_a_huge_name_or_number_is_no_short_answer(agent: Agent, question: str, sentence: str) -> None:
    candidate = Candidate(None, Span(0, len(sentence), sentence), 0, 0.5)  # type: ignore[arg-type]
    analysed = analyse(question, [sentence], agent.reader.language)
    assert len(new_typed_piece(analysed, sentence, agent.reader.language) or "") > SHORT_ANSWER_CHARS  # the premise
    assert agent.reader.short_answer(analysed, candidate) is None
    assert len(agent.reader.excerpts(analysed, [candidate], None)[0].text) <= ANSWER_CHARS


def test_a_huge_sentence_costs_a_bounded_excerpt() -> None:
    text = ", ".join(f"clause {i} about Rollo" for i in range(40_000)) + "."
    started = time.perf_counter()
    part = excerpt(Span(0, len(text), text), ANSWER_CHARS, words_in, "clause 39990 ")
    assert time.perf_counter() - started < 1.0 and "clause 39990 " in part.text and len(part.text) <= ANSWER_CHARS
    assert SCORED_CLAUSES < 40_000


def test_an_answer_from_a_long_sentence_is_short_cited_and_leads_with_the_short_answer(
        settings: Settings, embedding_backend: EmbeddingBackend) -> None:
    store = ArticleStore(settings, embedding_backend)
    doc, _ = Ingestor(store).ingest_text(ARTICLE.encode(), "normans.txt")
    agent = Agent(settings, store, SessionStore(settings.sessions_path))
    answer = agent.ask("Who was the leader of the Norse raiders?", doc=doc)
    text = re.sub(r"\s*\[\d+\]", "", answer.answer).strip()
    assert answer.answered and answer.short_answer == "Rollo" and re.search(r"\[1\]$", answer.answer)
    assert len(text) <= ANSWER_CHARS and ELLIPSIS in text and "under their leader Rollo" in text
    for piece in text.removeprefix("Rollo. ").split(ELLIPSIS):  # every quoted piece is the article's text
        assert piece.strip(" ,") in ARTICLE
    cut = f"Rollo. {ELLIPSIS}under their leader Rollo, agreed to swear fealty{ELLIPSIS} [1]"  # the CLI shows where
    assert "Norway who, under their leader Rollo, agreed" in _snippet(LONG, cut, 1)[:60]

    previous = agent.sessions.recent_turns(answer.session_id, 1)  # the sentence quoted in part was said
    follow = "When did their longships first land?"
    query = standalone_query(follow, previous, agent.reader.language)
    found, _, rows = agent.reader.features(agent.retriever.retrieve(follow, query, doc))
    said = [c.sentence.text for c, flag in zip(found, rows[:, SENTENCE_FEATURES.index("said_before")], strict=True)
            if flag]
    assert any("under their leader Rollo" in text and len(text) > ANSWER_CHARS for text in said)
