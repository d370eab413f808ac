"""The reader and the language profile: word matching, contradictions, answer types, short answers, follow-ups on
the previous answer, summaries (real embedding model, real store)."""

from __future__ import annotations

import itertools
import time
from dataclasses import replace

import numpy as np
import pytest

from articlechat.chain.agent import HEADLINE_CHARS, Agent, standalone_query
from articlechat.chain.features import (
    QUESTION_FEATURES,
    SENTENCE_FEATURES,
    Alignment,
    TermMatcher,
    WordVectors,
    _missing,
    _one_replaced,
    _opposed,
    _polarity,
    _soft,
    _swapped,
    _type_found,
    analyse,
    matches,
    mentions,
    names_role_holder,
    new_typed_piece,
    question_features,
    text_words,
)
from articlechat.chain.reader import ReaderModel, shipped_model
from articlechat.embeddings import EmbeddingBackend
from articlechat.ingest import BUNDLED_SOURCE, Ingestor, bundled_article
from articlechat.ingest.split import Span
from articlechat.language import profile_for

EN = profile_for("en")


def tokens(text: str) -> list:
    return EN.tokens(text)


def lexical(question, text: str) -> np.ndarray:
    return np.array([matches(t.token, tokens(text), EN) for t in question.terms])


def term(word: str):
    return EN.tokens(word)[0]


def test_words_are_folded_and_whole() -> None:
    assert [t.folded for t in tokens("Schrödinger met the U.S. envoy")] == ["schrodinger", "met", "the", "us", "envoy"]
    assert not tokens("the U.S. envoy")[1].is_stop  # the acronym US is not the pronoun us
    assert "meet" in term("met").lemmas and "sanction" in term("sanctions").lemmas
    assert "denuclearize" in term("denuclearise").lemmas  # British spelling


@pytest.mark.parametrize(("word", "text", "expected"), [
    ("met", "Kim meets Putin", 1.0),  # lemma
    ("Schrodinger", "Schrödinger's cat", 1.0),  # accents
    ("Vladmir", "Vladimir Putin", 0.8),  # typo
    ("violations", "violating the sanctions", 0.8),  # shared stem
    ("cat", "a car", 0.0),  # short words match only exactly
    ("six-nation", "the six-party talks", 1.0),  # a compound matches by its parts
    ("Putin", "the Kim-Putin summit", 1.0),
    ("Mars", "the rotation of Earth", 0.0),
    ("60-minute", "a 40-minute long Question Time", 0.0),  # a word with figures matches by its figures only...
    ("pre-1875", "the pre-1975 council", 0.0),  # ... and no figure is a typo of another
    ("60-minute", "a session of 60 minutes", 1.0),
    ("1999", "on 12 May 1999", 1.0),
    ("3", "three of the most popular libraries", 1.0),  # a number in figures or in words
    ("three", "the 3 libraries", 1.0),
    ("4", "three of the libraries", 0.0),
    ("1980", "throughout the 1980s and 1990s", 1.0),  # a year of the decade
    ("1950's", "a war in the 1950s", 1.0),
    ("Britian", "Britain lost its colonies", 0.8),  # a transposition is one edit
])
def test_terms_match_by_lemma_accent_typo_and_stem(word: str, text: str, expected: float) -> None:
    assert matches(term(word), tokens(text), EN) == expected


def test_an_acronym_matches_the_initials_of_a_name_the_text_gives() -> None:
    text = "Presented to the Scottish Parliament by the Queen, as the Presiding Officer said."
    assert EN.initials(text) == {"SP", "PO"}  # stop words inside a name and one-word names give none
    assert EN.initials("On the 25th of April, North Korean leader, Kim Jong Un met") == {"NK", "KJU"}
    words = text_words(EN, text)
    assert [words.match(term(word)) for word in ("SP", "PO", "SNP", "Sp")] == [1.0, 1.0, 0.0, 0.0]


def test_terms_match_by_meaning_through_word_vectors(embedding_backend: EmbeddingBackend) -> None:
    words = WordVectors(embedding_backend)
    question = analyse("What did Moscow decide?", ["Russia decided to act."], EN)
    matcher = TermMatcher(question, ["Russia decided to act.", "Bees cluster in winter."], EN, words)
    coverage, rarest_missing = _soft(question, matcher("Russia decided to act."))
    assert coverage > 0.85 and rarest_missing == 0.0  # Moscow ~ Russia (by its cosine), decide ~ decided
    unrelated = _soft(question, matcher("Bees cluster in winter."))
    assert unrelated[0] < 0.5 and unrelated[1] == 1.0


def test_common_words_come_from_the_derived_word_table(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The table (derived once into the cache directory) holds what the model gives each word alone; the reader takes
    common words from it and embeds only the others, so a store of many articles brings few new words per question."""
    from articlechat.embeddings import OnnxMiniLMEmbeddings

    model = OnnxMiniLMEmbeddings(tmp_path)
    backend = EmbeddingBackend(model, model.model_id, model.dimension)
    table = backend.word_table()
    assert len(table.rows) > 20_000 and "moscow" in table.rows and "create_connection" not in table.rows
    for word in ("moscow", "sanctions", "the"):
        assert float(table.get(word) @ model.embed_array([word])[0]) > 1 - 1e-5
    [derived] = tmp_path.glob("words-*")
    assert derived.suffix == ".npy"
    mtime = derived.stat().st_mtime_ns
    again = OnnxMiniLMEmbeddings(tmp_path).word_table()  # read back, not derived again
    assert derived.stat().st_mtime_ns == mtime and again.rows == table.rows
    derived.write_bytes(derived.read_bytes()[:1000])  # a damaged file is derived again, not trusted
    repaired = OnnxMiniLMEmbeddings(tmp_path).word_table()
    assert float(repaired.get("moscow") @ table.get("moscow")) > 1 - 1e-5 and derived.stat().st_size > 30_000_000

    embedded: list[list[str]] = []
    words = WordVectors(backend)
    monkeypatch.setattr(words, "embed", lambda new: embedded.append(new) or backend.vectors(new))
    vectors = words.of(["moscow", "sanctions", "create_connection", "moscow"])
    assert embedded == [["create_connection"]] and list(vectors) == ["moscow", "sanctions", "create_connection"]


def test_numbers_and_names_of_the_question_missing_from_the_sentence_are_contradictions() -> None:
    question = analyse("What did Kim Jong Un do in 2012?", ["Kim Jong Un met Putin in 2019."], EN)
    names, numbers, _ = _missing(question, lexical(question, "Kim Jong Un met Putin in 2019."))
    assert (names, numbers) == (0.0, 1.0)
    question = analyse("Who did Xi Jinping meet?", ["Kim Jong Un met Putin."], EN)
    assert _missing(question, lexical(question, "Kim Jong Un met Putin."))[0] == 1.0


@pytest.mark.parametrize(("question", "text", "expected"), [
    ("Who did Kim Jong Un meet on the 25th of March?", "On the 25th of April, Kim Jong Un met Putin.", (1.0, 0.0, 0.0)),
    ("Who did Kim Jong Un meet in April?", "On the 25th of April, Kim Jong Un met Putin.", (0.0, 0.0, 0.0)),
    ("How many tests did they carry out in 2017?", "In 2016 they carried out 2 tests.", (1.0, 1.0, 0.0)),
    ("When did Kim Jong Un meet Xi Jinping?", "Kim Jong Un met Vladimir Putin.", (0.0, 0.0, 1.0)),
    ("When did Kim Jong Un meet Xi Jinping?", "Kim Jong Un met a delegation.", (0.0, 0.0, 0.0)),  # no other name
])
def test_a_date_number_or_name_swapped_for_another_of_its_kind_is_a_contradiction(
        embedding_backend: EmbeddingBackend, question: str, text: str, expected: tuple) -> None:
    analysed = analyse(question, [text], EN)
    window = TermMatcher(analysed, [text], EN, WordVectors(embedding_backend))(text)
    assert _swapped(analysed, mentions(question, EN), window, mentions(text, EN)) == expected


def test_a_question_that_swaps_one_word_of_the_sentence_is_marked(embedding_backend: EmbeddingBackend) -> None:
    words = WordVectors(embedding_backend)
    text = "Lenin called imperialism the highest stage of capitalism."
    swapped = analyse("Who called imperialism the lowest stage of capitalism?", [text], EN)
    assert _one_replaced(swapped, TermMatcher(swapped, [text], EN, words)(text)) == 1.0
    asked = analyse("Who called imperialism the highest stage of capitalism?", [text], EN)
    assert _one_replaced(asked, TermMatcher(asked, [text], EN, words)(text)) == 0.0


def test_a_negated_question_against_a_plain_sentence_counts_for_the_gate(agent: Agent) -> None:
    def unmatched_negation(question: str) -> float:
        found, analysed, rows = agent.reader.features(agent.retriever.retrieve(question, None, None))
        logits = agent.reader.model.sentence.logits(rows)
        order = np.argsort(-logits, kind="stable")
        gate = question_features(analysed, found, rows, logits, order, EN, agent.reader.alignment)
        return gate[QUESTION_FEATURES.index("negation_unmatched")]

    assert unmatched_negation("Which sanctions has Russia not supported?") == 1.0
    assert unmatched_negation("Which sanctions has Russia supported?") == 0.0


def test_places_and_people_are_told_apart() -> None:
    sentence = ("On the 25th of April, North Korean leader, Kim Jong Un met with Russian President, Vladimir Putin "
                "in Vladivostok, far from the Alps, before Kim returned to Pyongyang by train.")
    assert EN.name_kinds("the Alps") == {"place"} and EN.name_kinds("Putin") == {"person"}  # from WordNet
    assert EN.name_kinds("Washington") == {"place", "person"} and not EN.name_kinds("Kim Jong Un")
    assert EN.type_matches("place", sentence) == ["Vladivostok", "Alps", "Pyongyang"]
    assert EN.type_matches("place", "The talks were held at Holyrood today.") == ["Holyrood"]  # after "at"
    assert EN.type_matches("place", "Kim Jong Un met Vladimir Putin.") == []  # names, but nobody's place
    assert EN.type_matches("person", sentence) == ["Kim Jong Un", "Vladimir Putin", "Kim"]  # no place is a person


def test_antonyms_come_from_wordnet() -> None:
    assert EN.antonyms.relate(term("closing").lemmas, frozenset({"opening"}))
    assert EN.antonyms.relate(term("weaker").lemmas, frozenset({"strong"}))  # by lemma
    assert not EN.antonyms.relate(term("closing").lemmas, frozenset({"final", "speaker"}))
    assert not EN.antonyms.relate(term("Pyongyang").lemmas, frozenset({"seoul"}))  # not in the wordnet


@pytest.mark.parametrize(("word", "text", "expected"), [
    ("Pyongyang", "North Korea is under sanctions.", 1.0),  # a capital for its country, a multi-word name
    ("Pyongyang", "The North Korean leader travelled.", 1.0),  # and for its adjective
    ("Washington", "The US questioned Russian commitment.", 1.0),  # a short alias matches the acronym...
    ("Washington", "They told us nothing.", 0.0),  # ... not the pronoun
    ("Moscow", "Russia has a permanent seat.", 1.0),
    ("Kremlin", "Russia has a permanent seat.", 1.0),  # a part of the capital
    ("Russia", "Moscow said so.", 1.0),  # the country for its capital
    ("Moscow", "Vladivostok hosted the talks.", 0.0),  # another city is not an alias
    ("Pyongyang", "South Korea is wary.", 0.0),
])
def test_a_capital_stands_for_its_country(word: str, text: str, expected: float) -> None:
    assert matches(term(word), tokens(text), EN) == expected


@pytest.mark.parametrize(("question", "text", "expected"), [
    ("How long are closing speakers given?", "Opening speakers are given between 5 and 20 minutes.", (1.0, 1.0)),
    ("How long are opening speakers given?", "Opening speakers are given between 5 and 20 minutes.", (0.0, 0.0)),
    ("What ended the summit without agreement?", "The summit ended in disagreement over sanctions.", (0.0, 0.0)),
    ("Which sanctions has Russia not supported?", "Russia has supported the sanctions.", (1.0, 0.0)),
    ("Which sanctions has Russia not supported?", "Russia has not supported the new sanctions.", (0.0, 0.0)),
])
def test_a_negation_or_an_antonym_says_the_opposite_and_the_two_cancel(
        embedding_backend: EmbeddingBackend, question: str, text: str, expected: tuple) -> None:
    """(negation_mismatch, antonym): "ended without agreement" and "ended in disagreement" say the same."""
    analysed = analyse(question, [text], EN)
    window = TermMatcher(analysed, [text], EN, WordVectors(embedding_backend))(text)
    opposed = _opposed(analysed, window, [Span(0, len(text), text)], EN)
    assert _polarity(analysed, EN.is_negated(text), opposed) == expected


def test_a_word_swapped_for_another_is_aligned_worse_in_context(embedding_backend: EmbeddingBackend) -> None:
    alignment = Alignment(embedding_backend.contextual_model(), EN)
    text = "Lenin called imperialism the highest stage of capitalism."
    faithful = alignment("Who called imperialism the highest stage of capitalism?", text)
    swapped = alignment("Who called feudalism the highest stage of capitalism?", text)
    assert 0.0 < swapped < faithful <= 1.0
    assert alignment("Why?", text) == 1.0  # a question that says nothing misses nothing
    plain = "Russia has a permanent seat on the Security Council."
    assert alignment("Does Moscow have a permanent seat on the Security Council?", plain) == 1.0  # an alias counts
    assert alignment("Does Paris have a permanent seat on the Security Council?", plain) < 0.9
    assert alignment("Who called imperialism the highest stage of capitalism?", text) == faithful  # from the cache
    assert len(alignment.cache) == 7


def test_other_embedding_backends_align_with_the_packaged_model(tmp_path) -> None:
    """The reader's models were fitted with the packaged MiniLM's contextual vectors: a backend without them (OpenAI's
    embeddings, faked here as that cloud is out of reach) lends the packaged model from its cache directory."""
    from langchain_core.embeddings import FakeEmbeddings

    from articlechat.embeddings import OnnxMiniLMEmbeddings

    backend = EmbeddingBackend(FakeEmbeddings(size=8), "openai:fake", 8, tmp_path)
    model = backend.contextual_model()
    assert isinstance(model, OnnxMiniLMEmbeddings) and backend.contextual_model() is model
    [pieces] = model.piece_vectors(["Schrödinger met Putin"])
    assert pieces.pieces[0] == "sc" and pieces.vectors.shape == (len(pieces.pieces), 384)
    assert np.allclose(np.linalg.norm(pieces.vectors, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize(("question", "wanted"), [
    ("When did they meet?", "date"), ("In what year did the talks break down?", "date"),
    ("How many tests were carried out?", "number"), ("How much trade is there?", "amount"),
    ("Who did Kim meet?", "person"),
    ("Where was the summit?", "place"), ("Why did it fail?", ""), ("What happened?", ""),
    ("And where?", "place"), ("But who else?", "person"), ("So how many were there?", "number"),
    ("What about Russia?", ""),
])
def test_expected_answer_types_follow_the_question_wording(question: str, wanted: str) -> None:
    assert EN.expected_answer(question) == wanted


@pytest.mark.parametrize(("question", "corrected"), [
    ("Wat did they discus?", "What did they discus?"),  # "what", not "was": a typo drops a letter most often
    ("Wich two countries?", "Which two countries?"),  # "which", not "with"
    ("and wher did teh talks happen?", "and where did teh talks happen?"),  # only question words are put right
    ("What were the three forms?", "What were the three forms?"),  # "three" is no typo of "there"
    ("Waht is it? Whre did it go", "What is it? Where did it go"),  # a transposition is one edit
    ("When was Angkor Wat built?", "When was Angkor Wat built?"),  # a capitalised word inside a sentence: a name
    ("Hwo met him?", "Hwo met him?"),  # "how" or "who": ambiguous, left alone
    ("Wen did it end?", "Wen did it end?"),  # a word the lexicon lists is no typo
    ("WAT is it?", "WAT is it?"), ("Hw many?", "Hw many?"),  # acronyms and words too short to tell stay
    ("Whó met him? and whére?", "Who met him? and where?"),  # accents on a question word are dropped
    ("Who's there?", "Who's there?"),  # "who's" is no accented "who"
])
def test_misspelt_function_words_are_put_right(question: str, corrected: str) -> None:
    assert EN.corrected(question) == corrected


def test_putting_right_a_huge_question_of_unknown_words_costs_little() -> None:
    letters = "bcdfgjklmnpqrstvxz"
    words = ("W" + "".join(p) for p in itertools.product(letters, repeat=4))  # distinct, unlisted, opening sentences
    question = ". ".join(itertools.islice(words, 15_000))[:100_000]  # the largest question the settings allow
    start = time.perf_counter()
    assert EN.corrected(question) == question
    assert time.perf_counter() - start < 3.0


def test_a_question_word_misspelt_is_read_as_spelt_right(agent: Agent) -> None:
    for typo, right in [("Whta did the US blacklist?", "What did the US blacklist?"),
                        ("Hwen did the six-party talks break down?", "When did the six-party talks break down?"),
                        ("Whén did the six-party talks break down?", "When did the six-party talks break down?")]:
        misspelt, spelt = agent.ask(typo), agent.ask(right)
        assert (misspelt.answered, misspelt.answer, misspelt.short_answer) == (spelt.answered, spelt.answer,
                                                                               spelt.short_answer)
    assert agent.ask("Whn did Kim Jong Un meet Vladimir Putin?").short_answer == "25th of April"
    assert agent.ask("Wich leader did Kim Jong Un meet?").short_answer == "Vladimir Putin"


def test_an_amount_in_words_answers_how_much() -> None:
    text = "There is only a limited amount of trade between both countries, and 1,200 ships."
    assert EN.type_matches("amount", text) == ["a limited amount of trade", "1,200"]
    assert EN.type_matches("number", text) == ["1,200"]  # "how many" wants a count
    assert new_typed_piece(analyse("How much trade is there?", [text], EN), text, EN) == "a limited amount of trade"


def test_the_wanted_type_counts_only_when_the_question_does_not_say_it_already() -> None:
    question = analyse("Who did Kim Jong Un meet?", [], EN)
    assert _type_found(question, "Kim Jong Un met Vladimir Putin.", EN) == 1.0
    assert _type_found(question, "Kim Jong Un travelled by train.", EN) == 0.0


def test_negation_is_found() -> None:
    assert EN.is_negated("Russia has not had a say") and EN.is_negated("It can't work")
    assert not EN.is_negated("Russia has had a say")


def test_the_shipped_model_matches_the_features_and_says_what_made_it() -> None:
    model = shipped_model()
    assert model.sentence.features == SENTENCE_FEATURES
    assert 0.0 < model.threshold < 1.0
    assert {"data", "commit", "date", "held_out", "script"} <= set(model.provenance)
    assert ReaderModel.load().to_json() == model.to_json()


@pytest.mark.parametrize(("question", "person"), [("Who did Kim Jong Un meet?", "Vladimir Putin"),
                                                   ("Who did Kim meet?", "Vladimir Putin"),
                                                   ("Who did Putin meet?", "Kim Jong Un")])
def test_who_questions_lead_with_the_name(agent: Agent, question: str, person: str) -> None:
    answer = agent.ask(question)  # a person named in part by the question ("Kim") is not the answer
    assert answer.answered and answer.short_answer == person
    assert answer.answer.startswith(f"{person}. On the 25th of April")


def test_a_follow_up_finds_the_date_in_the_sentence_just_quoted(agent: Agent) -> None:
    first = agent.ask("Who did Kim Jong Un meet?")
    follow = agent.ask("When did that happen?", session_id=first.session_id)
    assert follow.answered and "25th of April" in (follow.short_answer or "")
    assert "25th of April" in follow.answer


def test_a_follow_up_asking_for_someone_else_is_not_answered_with_the_names_already_said() -> None:
    sentence = "Kim Jong Un met Vladimir Putin, who had met Xi Jinping before."
    context = "Who did Kim Jong Un meet? Vladimir Putin."
    assert new_typed_piece(analyse("Who else has he met?", [sentence], EN, context), sentence, EN) == "Xi Jinping"
    assert new_typed_piece(analyse("Who else has he met?", [], EN, context), "Kim Jong Un met Vladimir Putin.",
                           EN) is None
    assert new_typed_piece(analyse("Who has he met?", [], EN, context), sentence, EN) == "Kim Jong Un"
    assert new_typed_piece(analyse("Who met each other?", [], EN, context), sentence, EN) == "Kim Jong Un"


def test_a_question_about_whom_someone_met_is_not_answered_with_that_person_described_by_role() -> None:
    sentence = "On Monday, the French foreign minister, Anne Marchand met with German Chancellor, Otto Weiss in Bonn."
    def short(question: str) -> str | None:
        return new_typed_piece(analyse(question, [sentence], EN), sentence, EN)

    assert short("Who did France's foreign minister meet?") == "Otto Weiss"
    assert short("Whom has the chancellor met?") == "Anne Marchand"
    assert short("Who met the chancellor?") == "Anne Marchand"  # whose role "chancellor" is, it cannot tell: the first
    assert short("Who did she meet on Monday?") == "Anne Marchand"  # no role asked: the first name
    assert short("Who is the German Chancellor?") == "Otto Weiss"  # asks who holds the role


def test_who_holds_a_role_is_read_from_a_sentence_that_names_the_holder(agent: Agent) -> None:
    question = analyse("Who is the Russian President?", [], EN)
    assert names_role_holder(question, "Kim Jong Un met with Russian President, Vladimir Putin.", EN)
    assert not names_role_holder(question, "The Russian President was visited by Kim Jong Un.", EN)
    assert not names_role_holder(question, "Kim Jong Un travelled by train.", EN)
    assert not names_role_holder(analyse("Who was the US President?", [], EN),  # a president, but not the US's
                                 "Kim Jong Un met with Russian President, Vladimir Putin.", EN)
    assert names_role_holder(analyse("Who was an Italian abbot?", [], EN),  # a role in the plural, by lemma
                             "Under two Italian abbots, William of Volpiano and John of Ravenna, music was taught.", EN)
    assert not names_role_holder(analyse("Who met Vladimir Putin?", [], EN),  # no role asked about
                                 "Kim Jong Un met with Russian President, Vladimir Putin.", EN)
    # The sentence model alone prefers "Furthermore, the Russian President will be able to ... visited by Kim Jong
    # Un ...", which speaks of the president without naming him.
    retrieval = agent.retriever.retrieve("Who is the Russian President?", doc=BUNDLED_SOURCE)
    found, _, rows = agent.reader.features(retrieval)
    by_logit = found[int(np.argmax(agent.reader.model.sentence.logits(rows)))]
    reading = agent.reader.read(retrieval)
    assert "Vladimir Putin" not in by_logit.sentence.text
    assert "Russian President, Vladimir Putin" in reading.chosen[0].sentence.text
    assert reading.short_answer == "Vladimir Putin"


def test_a_role_is_the_titles_and_common_nouns_just_before_a_name() -> None:
    assert EN.role_words("On the 25th of April, North Korean leader, ") == {"leader"}
    assert EN.role_words("talks with Russian President ") == {"president"}
    assert EN.role_words("Kim Jong Un met with ") == frozenset()
    assert EN.role_words("In Vladivostok, ") == frozenset()
    assert EN.role_words("") == frozenset()
    assert EN.role_asked("Who is the German Chancellor?") == "answer"
    assert EN.role_asked("Whom did the chancellor meet?") == "other"
    assert EN.role_asked("Who met the chancellor?") == ""


def test_a_follow_up_knows_which_sentences_the_previous_answer_quoted(agent: Agent) -> None:
    first = agent.ask("Who did Kim Jong Un meet?")
    previous = agent.sessions.recent_turns(first.session_id, 1)
    query = standalone_query("When did that happen?", previous, EN)
    found, question, rows = agent.reader.features(agent.retriever.retrieve("When did that happen?", query))
    said, beside = (rows[:, SENTENCE_FEATURES.index(name)] for name in ("said_before", "beside_said"))
    quoted = [c.sentence.text for c, flag in zip(found, said, strict=True) if flag]
    assert question.followup and quoted and all(text in first.answer for text in quoted)
    for candidate, flag in zip(found, beside, strict=True):  # a neighbour of a quoted sentence in its passage
        neighbours = [s.text for s in candidate.window() if s is not candidate.sentence]
        assert bool(flag) == any(text in first.answer for text in neighbours)
    assert beside.any()
    _, alone, plain = agent.reader.features(agent.retriever.retrieve("When did Kim Jong Un meet Putin?"))
    assert not alone.followup and not plain[:, [SENTENCE_FEATURES.index("said_before"),
                                                SENTENCE_FEATURES.index("beside_said")]].any()


def test_a_huge_title_costs_a_summary_no_more_than_a_bounded_one(agent: Agent, monkeypatch: pytest.MonkeyPatch
                                                                  ) -> None:
    article = bundled_article()
    Ingestor(agent.store).ingest_document(replace(article, id="long-title", title="Talks " * 50_000))
    embedded: list[int] = []
    backend = type(agent.store.backend)
    vectors = backend.vectors
    monkeypatch.setattr(backend, "vectors",
                        lambda self, texts: embedded.extend(map(len, texts)) or vectors(self, texts))
    answer = agent.ask("Summarize the article", doc="long-title")
    assert answer.answered and 3 <= answer.answer.count(" [") <= 5
    assert embedded and max(embedded) <= HEADLINE_CHARS  # the 300 kB title is cut before it is embedded


def test_summaries_cover_the_article_in_order(agent: Agent) -> None:
    answer = agent.ask("Summarize the article")
    length = len(bundled_article().text)
    cited = [s for s in answer.sources if s.cited]
    assert answer.answered and answer.short_answer is None
    assert 3 <= answer.answer.count(" [") <= 5  # 3-5 quoted sentences, each cited
    assert min(s.start for s in cited) < length / 3 and max(s.end for s in cited) > 2 * length / 3
    assert answer.answer.startswith("On the 25th of April")  # the lead, not the headline


@pytest.mark.parametrize("question", ["What is the author's view?", "What is the main argument?",
                                      "What's the columnist's overall verdict on the talks?",
                                      "What does the writer think about this meeting?"])
def test_questions_about_the_whole_article_get_the_summary(agent: Agent, question: str) -> None:
    assert agent.ask(question).answer == agent.ask("Summarize the article").answer


def test_a_question_in_another_language_gets_a_clear_message(agent: Agent) -> None:
    answer = agent.ask("Wer hat Kim Jong Un im April getroffen und worüber haben sie gesprochen?")
    assert not answer.answered and "English" in answer.answer


def test_unanswerable_near_misses_are_declined(agent: Agent) -> None:
    for question in ("What is the population of North Korea?", "What did Japan's prime minister say about the talks?"):
        assert not agent.ask(question).answered, question


def test_candidate_features_are_finite(agent: Agent) -> None:
    retrieval = agent.retriever.retrieve("Who did Kim Jong Un meet?")
    _, _, rows = agent.reader.features(retrieval)
    assert rows.shape[1] == len(SENTENCE_FEATURES) and np.isfinite(rows).all()


@pytest.mark.parametrize("question", ["Who wrote this article?", "Who is the author?", "Who wrote it?"])
def test_who_wrote_it_is_answered_from_the_byline(agent: Agent, question: str) -> None:
    answer = agent.ask(question)
    assert answer.answered and answer.short_answer == "Lawrence White"
    assert answer.answer == "Lawrence White. By Lawrence White [1]" and answer.sources[0].cited


def test_reader_settings_refuse_bad_values_and_take_empty_as_unset(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from articlechat.config import load_settings
    from articlechat.errors import ConfigError

    monkeypatch.setenv("ARTICLECHAT_DECLINE_THRESHOLD", "")
    monkeypatch.setenv("ARTICLECHAT_READER_MODEL", "")
    settings = load_settings()
    assert settings.answering.decline_threshold is None and settings.answering.reader_model is None
    for value, name in (("1.5", "ARTICLECHAT_DECLINE_THRESHOLD"), ("-0.1", "ARTICLECHAT_DECLINE_THRESHOLD"),
                        ("7", "ARTICLECHAT_UNCERTAIN_BAND")):
        monkeypatch.setenv(name, value)
        with pytest.raises(ConfigError, match=name):
            load_settings()
        monkeypatch.delenv(name)
    broken = tmp_path / "reader.json"
    for content in ("not json", '{"sentence": {}}', '{"threshold": 0.3}'):
        broken.write_text(content)
        with pytest.raises(ConfigError, match="ARTICLECHAT_READER_MODEL"):
            ReaderModel.load(broken)
    with pytest.raises(ConfigError, match="ARTICLECHAT_READER_MODEL"):
        ReaderModel.load(tmp_path / "missing.json")
