"""What the reader's models see: features of the question and of each candidate sentence with its neighbours.

Every feature is language-neutral arithmetic over the language profile's tokens: the profile decides what a word, a
stop word, a lemma, a negation and an answer type are.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import lru_cache
from itertools import pairwise

import numpy as np
from rapidfuzz.distance import OSA

from articlechat.chain.excerpt import ANSWER_CHARS, clauses
from articlechat.chain.retrieval import Passage, Retrieval
from articlechat.embeddings import EmbeddingBackend, OnnxMiniLMEmbeddings, PieceVectors
from articlechat.ingest.split import Span
from articlechat.language import LanguageProfile, Token

FUZZY_MATCH = 0.8  # a typo or a shared stem counts for this much of an exact (lemma) match
MIN_FUZZY_LENGTH = 5  # shorter words match only exactly: "cat" is not "car"
MAX_EDIT_SHARE = 0.2  # at most one edit per five letters
# For a follow-up, the resolved query's similarity counts this much: more when the question has almost no words of
# its own ("When did that happen?"), less when it names what it asks about ("What seat does his country hold?").
CONTEXT_WEIGHT = {"bare": 0.5, "worded": 0.2}
BARE_QUESTION_TERMS = 1

SENTENCE_FEATURES = (
    "terms_soft", "soft_missing_rarest", "cosine", "cosine_gap", "cosine_rank", "passage_score", "terms_sentence",
    "terms_window", "terms_plain",
    "bigrams", "missing_names", "missing_numbers", "missing_rarest", "type_wanted", "type_found",
    "negation_mismatch", "antonym", "is_title", "length", "swapped_date", "swapped_number", "swapped_name",
    "one_replaced", "said_before", "beside_said",
)
QUESTION_FEATURES = (  # word-vector matches only: exact-word ones penalise paraphrased questions
    "best_terms_soft", "best_soft_missing_rarest", "best_logit", "margin", "best_cosine", "best_missing_names",
    "best_missing_numbers", "type_wanted", "best_type_found", "absent_names", "question_terms", "best_passage_score",
    "best_swapped", "negation_unmatched", "best_one_replaced", "best_antonym", "aligned", "followup",
    "best_said",
)


CACHED_PIECES = 10_000  # contextual word-piece vectors the alignment keeps (~15 MB)
SOFT_MATCH = 0.45  # word-vector cosine from which two words count as the same idea (Moscow ~ Russia)
# Words whose vectors are kept (~1.5 KB each: ~15 MB at most, however many distinct words questions bring).
CACHED_WORDS = 10_000
MIN_EXCERPT_CHARS = 20  # a shorter clause of a long sentence found in an earlier answer does not show it was quoted


class WordVectors:
    """Embeddings of single words: from the backend's precomputed table when it has one, else embedded on first sight
    and cached, at most ``capacity`` of them (the same article's words recur across questions)."""

    def __init__(self, backend: EmbeddingBackend, capacity: int = CACHED_WORDS) -> None:
        self.embed = backend.vectors
        self.table = backend.word_table()
        self.capacity = capacity
        self.cache: dict[str, np.ndarray] = {}

    def of(self, words: Iterable[str]) -> dict[str, np.ndarray]:
        """word -> unit vector for every word given, embedding the ones neither table nor cache holds in one batch."""
        wanted = list(dict.fromkeys(words))
        known = {w: self.cache[w] for w in wanted if w in self.cache}
        if self.table:
            listed = [w for w in wanted if w not in known and w in self.table.rows]
            rows = np.asarray(self.table.vectors[[self.table.rows[w] for w in listed]]) if listed else ()
            known.update(zip(listed, rows, strict=True))
        new = [w for w in wanted if w not in known]
        if new:
            embedded = dict(zip(new, self.embed(new), strict=True))
            if len(self.cache) + len(new) > self.capacity:
                self.cache.clear()
            self.cache.update(embedded)
            known.update(embedded)
        return {w: known[w] for w in wanted}

    def cosines(self, terms: list[str], words: list[str]) -> np.ndarray:
        """The cosine of each term (row) to each of ``words`` (column), which must all have word vectors; the rows
        of numbers and code are 0. The words new to the cache are embedded in one model run."""
        found = np.zeros((len(terms), len(words)))
        rows = [i for i, t in enumerate(terms) if has_word_vector(t)]
        if rows and words:
            vectors = self.of([*(terms[i] for i in rows), *words])
            found[rows] = np.stack([vectors[terms[i]] for i in rows]) @ np.stack([vectors[w] for w in words]).T
        return found


class Alignment:
    """How closely a sentence restates the question, word piece by word piece: for each content piece of the
    question, the best cosine of its contextual vector (the packaged MiniLM's) to the sentence's pieces. A question
    made from the sentence by swapping a word ("President Wilson" for "Prime Minister Wilson") keeps one piece that
    nothing in the sentence matches well in context. The last texts' vectors are kept, ``capacity`` word pieces in
    all (~1.5 KB each)."""

    def __init__(self, model: OnnxMiniLMEmbeddings, language: LanguageProfile,
                 capacity: int = CACHED_PIECES) -> None:
        self.model = model
        self.language = language
        self.capacity = capacity
        self.cache: dict[str, PieceVectors] = {}
        self.cached_pieces = 0

    def __call__(self, question: str, sentence: str) -> float:
        """The lowest best cosine of the question's content pieces, the pieces of a word the sentence has (by lemma
        or alias: "Moscow" where it says "Russia") counting 1: 1 when it has none (nothing it says is missing), 0
        when the sentence has none."""
        asked, said = self._vectors([question, sentence])
        content = [i for i, piece in enumerate(asked.pieces)
                   if piece.strip("#").isalnum() and piece not in self.language.stopwords]
        if not content:
            return 1.0
        if not said.pieces:
            return 0.0
        best = (asked.vectors[content] @ said.vectors.T).max(axis=1)
        words = text_words(self.language, sentence)
        found = [(t.start, t.end) for t in self.language.tokens(question) if words.match(t) == 1.0]
        inside = [any(start <= asked.spans[i][0] < end for start, end in found) for i in content]
        return float(np.where(inside, 1.0, best).min())

    def _vectors(self, texts: list[str]) -> list[PieceVectors]:
        found = {t: kept for t in texts if (kept := self.cache.get(t)) is not None}  # another thread may clear it
        new = [t for t in dict.fromkeys(texts) if t not in found]
        if new:
            found.update(zip(new, self.model.piece_vectors(new), strict=True))
            size = sum(len(found[t].pieces) for t in new)
            if self.cached_pieces + size > self.capacity:
                self.cache.clear()
                self.cached_pieces = 0
            self.cache.update((t, found[t]) for t in new)
            self.cached_pieces += size
        return [found[t] for t in texts]


def has_word_vector(word: str) -> bool:
    """Whether ``word`` is matched by word vectors too: not a number (numbers match exactly) nor code (``tp_new``)."""
    return not any(c.isdigit() or c == "_" for c in word)


@dataclass(frozen=True)
class Candidate:
    """A sentence that may answer the question, with its place in the text and its neighbours."""

    passage: Passage
    sentence: Span
    index: int  # in passage.sentences
    cosine: float

    @property
    def key(self) -> tuple[str, int]:
        """Identifies the sentence in the store (overlapping passages repeat sentences)."""
        return self.passage.source, self.sentence.start

    def window(self) -> list[Span]:
        """The sentence with its neighbours in the passage."""
        return self.passage.sentences[max(0, self.index - 1) : self.index + 2]


@dataclass(frozen=True)
class QuestionTerm:
    """A content word of the question, with its weight (rarer among the candidates = heavier)."""

    token: Token
    weight: float
    is_name: bool
    own: bool = True  # False for a follow-up's words taken from the conversation


@dataclass(frozen=True)
class Question:
    """The question as the reader sees it."""

    text: str
    terms: tuple[QuestionTerm, ...]
    wanted: str  # the expected answer type, "" when any
    negated: bool
    folded_words: frozenset[str]  # said already: the question's words, and the conversation's when it asks for more
    lemmas: frozenset[str]  # of all its words
    context: str = ""  # what a follow-up leans on: the previous question and answer, whitespace folded
    role: str = ""  # whose role its words name: the "answer"'s, an "other" person's, or "" (LanguageProfile.role_asked)

    @property
    def followup(self) -> bool:
        """Whether the question leans on the conversation."""
        return bool(self.context)


def candidates(retrieval: Retrieval, context_weight: float) -> list[Candidate]:
    """Every sentence of the retrieved passages, once each (at its best similarity), best first; for a follow-up,
    the similarity to the resolved query counts ``context_weight``."""
    best: dict[tuple[str, int], Candidate] = {}
    for passage in retrieval.passages:
        if not passage.sentences:
            continue
        similarity = passage.sentence_vectors @ retrieval.question_vector
        if retrieval.is_followup:
            context = passage.sentence_vectors @ retrieval.query_vector
            similarity = (1 - context_weight) * similarity + context_weight * context
        for index, (sentence, cosine) in enumerate(zip(passage.sentences, similarity, strict=True)):
            candidate = Candidate(passage, sentence, index, float(cosine))
            if candidate.key not in best or candidate.cosine > best[candidate.key].cosine:
                best[candidate.key] = candidate
    return sorted(best.values(), key=lambda c: c.cosine, reverse=True)


CONTEXT_TERM_WEIGHT = 0.3  # a follow-up's words from the conversation count this much of the question's own


def context_weight(question: str, language: LanguageProfile) -> float:
    """How much a follow-up leans on the conversation, by how many words of its own it has."""
    own = len(language.content_tokens(question))
    return CONTEXT_WEIGHT["bare" if own <= BARE_QUESTION_TERMS else "worded"]


def analyse(question: str, pool: Iterable[str], language: LanguageProfile, context: str = "") -> Question:
    """The question's content terms weighted by how rare they are in ``pool`` (the candidate sentences); the words
    of ``context`` (what a follow-up refers to) join them at a lower weight."""
    texts = list(pool)
    own = _terms(question, texts, language, 1.0)
    seen = {t.token.folded for t in own}
    borrowed = [replace(t, own=False) for t in _terms(context, texts, language, CONTEXT_TERM_WEIGHT)
                if t.token.folded not in seen]
    tokens = language.tokens(question)
    asks_for_more = bool(context) and language.asks_for_more.search(question) is not None
    said = language.tokens(f"{context} {question}") if asks_for_more else tokens
    return Question(question, (*own, *borrowed), language.expected_answer(question), language.is_negated(question),
                    frozenset(t.folded for t in said), frozenset().union(*(t.lemmas for t in tokens)),
                    " ".join(context.split()), language.role_asked(question))


def _terms(text: str, pool: list[str], language: LanguageProfile, scale: float) -> tuple[QuestionTerm, ...]:
    tokens = language.tokens(text)
    unique = {t.folded: (i, t) for i, t in reversed(list(enumerate(tokens)))
              if not t.is_stop and (len(t.folded) > 1 or t.is_number)}
    terms = []
    for i, token in sorted(unique.values(), key=lambda pair: pair[0]):
        frequency = sum(1 for sentence in pool if text_words(language, sentence).match(token) > 0)
        weight = scale * (math.log((len(pool) + 1) / (frequency + 1)) + 1.0)
        terms.append(QuestionTerm(token, weight, token.is_capitalized and i > 0 and not token.is_number))
    return tuple(terms)


class TextWords:
    """A text's words, indexed for matching question terms against them."""

    def __init__(self, tokens: Iterable[Token], names: frozenset[str] = frozenset(),
                 initials: frozenset[str] = frozenset()) -> None:
        """``names``: the multi-word names to index as one ("north_korea"); ``initials``: the acronyms the text's
        names stand for (:meth:`LanguageProfile.initials`)."""
        tokens = list(tokens)
        acronyms = [t for t in tokens if _is_acronym(t)]
        self.lemmas = frozenset().union(*(t.lemmas for t in tokens), _phrases(tokens) & names)
        self.acronym_lemmas = frozenset().union(*(t.lemmas for t in acronyms), initials)
        self.fuzzy = _by_prefix(t.folded for t in tokens)
        self.acronym_fuzzy = _by_prefix(t.folded for t in acronyms)
        self.content = _content_words(tokens)

    def match(self, term: Token) -> float:
        """How well ``term`` occurs here: 1 for the word or a lemma of it, FUZZY_MATCH for a typo or a shared stem,
        else 0. An acronym matches acronyms only: UN is not the Un of Kim Jong Un, US not us. A word with figures
        matches by its figures only: "60-minute" is not matched by "40-minute" through "minute"."""
        acronym = _is_acronym(term)
        figured = _has_figures(term.folded)
        forms = frozenset(form for form in term.lemmas if _has_figures(form)) if figured else term.lemmas
        if forms & (self.acronym_lemmas if acronym else self.lemmas):
            return 1.0
        if figured:  # a figure a typo apart is another number: 1875 is not 1975
            return 0.0
        near = (self.acronym_fuzzy if acronym else self.fuzzy).get(term.folded[:2], ())
        return FUZZY_MATCH if any(_near(term.folded, word) for word in near) else 0.0


def _has_figures(word: str) -> bool:
    """Whether a word is written with figures, wholly or in part ("1999", "60-minute", "pre-1975")."""
    return any(character.isdigit() for character in word)


def _phrases(tokens: list[Token]) -> set[str]:
    """The text's runs of two and three words, joined as multi-word names are ("north_korea"); the index keeps the
    ones that are names of the language's aliases."""
    words = [t.folded for t in tokens]
    return {"_".join(words[i : i + n]) for n in (2, 3) for i in range(len(words) - n + 1)}


def _by_prefix(words: Iterable[str]) -> dict[str, list[str]]:
    """The words long enough for a fuzzy match, by their first two letters (which a fuzzy match keeps)."""
    grouped: dict[str, list[str]] = {}
    for word in dict.fromkeys(words):
        if len(word) >= MIN_FUZZY_LENGTH:
            grouped.setdefault(word[:2], []).append(word)
    return grouped


@lru_cache(maxsize=20_000)
def text_words(language: LanguageProfile, text: str) -> TextWords:
    """The indexed words of ``text`` (cached: passages recur across questions)."""
    return TextWords(language.tokens(text), language.aliases.names, language.initials(text))


def matches(term: Token, tokens: Iterable[Token], language: LanguageProfile) -> float:
    """How well ``term`` occurs among ``tokens`` (:meth:`TextWords.match`)."""
    return TextWords(tokens, language.aliases.names).match(term)


def _is_acronym(token: Token) -> bool:
    letters = token.text.replace(".", "")
    return len(letters) > 1 and letters.isupper()


@lru_cache(maxsize=200_000)
def _near(first: str, second: str) -> bool:
    """A typo apart (a transposition counts as one edit: Britian ~ Britain), or the same stem (violations ~
    violating), for words long enough to tell."""
    if min(len(first), len(second)) < MIN_FUZZY_LENGTH or first[:2] != second[:2]:
        return False
    if first[:6] == second[:6] and min(len(first), len(second)) >= 6:
        return True
    limit = int(MAX_EDIT_SHARE * max(len(first), len(second)))
    return limit >= 1 and OSA.distance(first, second, score_cutoff=limit) <= limit


@dataclass(frozen=True)
class TermMatches:
    """How each of the question's terms occurs in one text: by lemma or typo (:func:`matches`), and the best word-vector
    cosine to its content words. A window's matches are the element-wise maximum of its sentences'."""

    lexical: np.ndarray
    similarity: np.ndarray

    def __or__(self, other: TermMatches) -> TermMatches:
        return TermMatches(np.maximum(self.lexical, other.lexical), np.maximum(self.similarity, other.similarity))


class TermMatcher:
    """The question's terms matched against texts, each text once; the word vectors of all the texts' words are
    compared with the terms' in one product."""

    def __init__(self, question: Question, texts: Iterable[str], language: LanguageProfile,
                 words: WordVectors) -> None:
        self.question = question
        self.indexed = {text: text_words(language, text) for text in texts}
        vocabulary = list(dict.fromkeys(w for indexed in self.indexed.values() for w in indexed.content))
        self.column = {word: i for i, word in enumerate(vocabulary)}
        self.cosines = words.cosines([t.token.folded for t in question.terms], vocabulary)
        self.found: dict[str, TermMatches] = {}

    def __call__(self, text: str) -> TermMatches:
        """The matches in ``text`` (one of the texts given)."""
        if text not in self.found:
            indexed = self.indexed[text]
            lexical = np.array([indexed.match(t.token) for t in self.question.terms], dtype=np.float64)
            columns = [self.column[w] for w in indexed.content]
            similarity = self.cosines[:, columns].max(axis=1) if columns else np.zeros(len(self.question.terms))
            self.found[text] = TermMatches(lexical, similarity)
        return self.found[text]


def _content_words(tokens: list[Token]) -> list[str]:
    """The words of ``tokens`` that word vectors compare with the question's terms."""
    return [t.folded for t in tokens if not t.is_stop and has_word_vector(t.folded)]


def _coverage(question: Question, lexical: np.ndarray, weighted: bool = True) -> float:
    if not question.terms:
        return 0.0
    weights = np.array([t.weight for t in question.terms]) if weighted else np.ones(len(question.terms))
    return float(lexical @ weights / weights.sum())


def _bigrams(pairs: set[tuple[str, str]], tokens: list[Token]) -> float:
    """The share of the question's adjacent word pairs (stop words included) that the sentence repeats."""
    if not pairs:
        return 0.0
    return len(pairs & set(pairwise(t.folded for t in tokens))) / len(pairs)


def _missing(question: Question, lexical: np.ndarray) -> tuple[float, float, float]:
    """(share of the question's names absent, 1 if one of its numbers is absent, weight of its rarest absent term
    relative to its rarest term); a follow-up's words from the conversation are context, not constraints."""
    own = [(t, found) for t, found in zip(question.terms, lexical, strict=True) if t.own]
    absent = [t for t, found in own if found == 0.0]
    names = [t for t, _ in own if t.is_name]
    missing_names = sum(t.is_name for t in absent) / len(names) if names else 0.0
    missing_numbers = float(any(t.token.is_number for t in absent))
    heaviest = max((t.weight for t, _ in own), default=1.0)
    rarest = max((t.weight for t in absent), default=0.0) / heaviest
    return missing_names, missing_numbers, rarest


def _type_found(question: Question, text: str, language: LanguageProfile) -> float:
    """1 when the sentence holds something of the wanted type that the question does not already say."""
    if not question.wanted:
        return 0.0
    return float(new_typed_piece(question, text, language) is not None)


def new_typed_piece(question: Question, text: str, language: LanguageProfile) -> str | None:
    """The first piece of ``text`` of the wanted answer type with a content word the question does not say; a person
    must share no word with it ("Who did Kim meet?" is not answered by "Kim Jong Un"), nor, when the question asks
    whom someone acted on, with the role written before the name ("Who did Pyongyang's leader meet?" is not answered
    by "North Korean leader, Kim Jong Un"); when it asks who holds a role, a person in that role comes first."""
    if not question.wanted:
        return None
    asked = question.folded_words

    def is_new(words: frozenset[str], role: frozenset[str]) -> bool:
        if question.wanted != "person":
            return bool(words - asked)
        return not (words | (role if question.role == "other" else frozenset())) & asked

    found = [(piece, role) for piece, words, role in typed_pieces(language, question.wanted, text)
             if words and is_new(words, role)]
    if question.wanted == "person" and question.role == "answer":  # "Who is the chancellor?": the one in that role
        found.sort(key=lambda pair: not _in_asked_role(question, pair[1], language))
    return found[0][0] if found else None


def _in_asked_role(question: Question, role: frozenset[str], language: LanguageProfile) -> bool:
    """Whether the role written before a name is one the question's words say, by lemma ("abbots" for "abbot")."""
    return any(language.lemmatize(word) & question.lemmas for word in role)


def names_role_holder(question: Question, text: str, language: LanguageProfile) -> bool:
    """Whether ``text`` has every word of the question and names a person new to it with a role the question's
    words say, by lemma ("Russian President, Vladimir Putin" for "Who is the Russian President?", not for "Who was
    the US President?"; "two Italian abbots, William of Volpiano" for "Who was an Italian abbot?")."""
    asked, said = question.folded_words, text_words(language, text)
    return all(said.match(t.token) for t in question.terms if t.own) and any(
        _in_asked_role(question, role, language) and not words & asked
        for _, words, role in typed_pieces(language, "person", text))


@lru_cache(maxsize=20_000)
def typed_pieces(language: LanguageProfile, kind: str, text: str
                 ) -> tuple[tuple[str, frozenset[str], frozenset[str]], ...]:
    """Each piece of ``text`` of answer type ``kind``, in order, with its content words and, for a person, the words
    of the role written before it (cached per text)."""
    found = language.people(text) if kind == "person" else [(m, frozenset()) for m in language.type_matches(kind, text)]
    return tuple((piece, frozenset(t.folded for t in language.tokens(piece)) - language.stopwords, role)
                 for piece, role in found)


@dataclass(frozen=True)
class Mentions:
    """The words of the dates, numbers and proper names a text mentions (folded, stop words left out)."""

    dates: frozenset[str]
    numbers: frozenset[str]
    names: frozenset[str]

    def __or__(self, other: Mentions) -> Mentions:
        return Mentions(self.dates | other.dates, self.numbers | other.numbers, self.names | other.names)


@lru_cache(maxsize=20_000)
def mentions(text: str, language: LanguageProfile) -> Mentions:
    """What ``text`` mentions of each kind that a swapped question changes (cached per text)."""
    def words(pieces: list[str]) -> frozenset[str]:
        return frozenset(t.folded for piece in pieces for t in language.tokens(piece) if not t.is_stop)

    return Mentions(words(language.type_matches("date", text)),
                    frozenset(t.folded for t in language.tokens(text) if t.is_number),
                    words(language.type_matches("entity", text)))


def _swapped(question: Question, asked: Mentions, window: TermMatches, said: Mentions) -> tuple[float, float, float]:
    """For dates, numbers and names: 1 when the question mentions one the window does not (a name not even by word
    vector) while the window mentions another of that kind ("the 25th of March" against "the 25th of April")."""
    unmatched_name = any(t.own and t.is_name and lexical == 0.0 and similarity < SOFT_MATCH
                         for t, lexical, similarity in zip(question.terms, window.lexical, window.similarity,
                                                           strict=True))
    return (float(bool(asked.dates - said.dates) and bool(said.dates - asked.dates)),
            float(bool(asked.numbers - said.numbers) and bool(said.numbers - asked.numbers)),
            float(unmatched_name and bool(said.names - question.folded_words)))


def _one_replaced(question: Question, window: TermMatches) -> float:
    """1 when every term of the question but one occurs in the window, and that one only as a word of similar
    vector: the pattern of a question made from the sentence by swapping one word (highest -> lowest)."""
    own = [(lexical, similarity) for t, lexical, similarity in zip(question.terms, window.lexical, window.similarity,
                                                                    strict=True) if t.own]
    unmatched = [similarity for lexical, similarity in own if lexical == 0.0]
    return float(len(own) >= 3 and len(unmatched) == 1 and unmatched[0] >= SOFT_MATCH)


def _opposed(question: Question, window: TermMatches, spans: list[Span], language: LanguageProfile) -> bool:
    """Whether the window (``spans``) has an antonym of a question term it lacks, which the question does not say
    itself: "closing speakers" against "opening speakers", the pattern of a question made by swapping a word."""
    antonyms = language.antonyms
    lacking = [t.token.lemmas for t, lexical in zip(question.terms, window.lexical, strict=True)
               if t.own and lexical == 0.0 and any(antonyms.of(form) for form in t.token.lemmas)]
    if not lacking:  # most questions: no word with an antonym is missing, and the window's words are not needed
        return False
    others = frozenset().union(*(text_words(language, s.text).lemmas for s in spans)) - question.lemmas
    return any(antonyms.relate(forms, others - language.stopwords) for forms in lacking)


def _polarity(question: Question, negated: bool, opposed: bool) -> tuple[float, float]:
    """(1 when the sentence says the opposite of the question: one side negated, or an antonym, but not both, as
    "ended without agreement" and "ended in disagreement" say the same; 1 for an antonym that no negation cancels)."""
    return float((question.negated != negated) != opposed), float(opposed and question.negated == negated)


def _soft(question: Question, window: TermMatches) -> tuple[float, float]:
    """(IDF-weighted share of the question's terms matched by word vectors in the window, weight of the rarest term
    with no match even so, relative to the rarest term)."""
    if not question.terms:
        return 0.0, 0.0
    soft = np.maximum(window.lexical, np.where(window.similarity >= SOFT_MATCH, window.similarity, 0.0))
    weights = np.array([t.weight for t in question.terms])
    own = np.array([t.own for t in question.terms])
    absent = weights[(soft == 0.0) & own]
    return float(soft @ weights / weights.sum()), float(absent.max() / weights[own].max()) if absent.size else 0.0


def sentence_features(question: Question, found: list[Candidate], language: LanguageProfile,
                      words: WordVectors) -> np.ndarray:
    """One row of SENTENCE_FEATURES per candidate (each sentence's terms matched once, windows combining them)."""
    best = found[0].cosine if found else 0.0
    pairs = set(pairwise(t.folded for t in language.tokens(question.text)))
    asked = mentions(question.text, language)
    matched = TermMatcher(question, (span.text for candidate in found for span in candidate.window()), language,
                          words)

    rows = []
    for rank, candidate in enumerate(found):
        text = candidate.sentence.text
        own = matched(text)
        window, window_mentions = own, mentions(text, language)
        for span in candidate.window():
            window, window_mentions = window | matched(span.text), window_mentions | mentions(span.text, language)
        rows.append([*_soft(question, window),
            candidate.cosine, best - candidate.cosine, math.log1p(rank), candidate.passage.score,
            _coverage(question, own.lexical), _coverage(question, window.lexical),
            _coverage(question, own.lexical, weighted=False), _bigrams(pairs, language.tokens(text)),
            *_missing(question, window.lexical), float(bool(question.wanted)), _type_found(question, text, language),
            *_polarity(question, language.is_negated(text), _opposed(question, window, candidate.window(), language)),
            float(text.strip() == (candidate.passage.title or "").strip()), math.log1p(len(text)) / 6.0,
            *_swapped(question, asked, window, window_mentions), _one_replaced(question, window),
            *_said_before(question, candidate),
        ])
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(SENTENCE_FEATURES))


def _said_before(question: Question, candidate: Candidate) -> tuple[float, float]:
    """For a follow-up: whether the previous answer quoted the sentence, and whether it quoted a neighbour of it
    ("When did that happen?" is often answered by the sentence just quoted or the next one)."""
    if not question.context:
        return 0.0, 0.0

    def said(span: Span) -> bool:  # quoted whole, or (too long to quote whole) in part
        text = " ".join(span.text.split())
        if not text or text in question.context:
            return bool(text)
        return len(text) > ANSWER_CHARS and any(len(part.text) >= MIN_EXCERPT_CHARS and " ".join(part.text.split())
                                                in question.context for part in clauses(span))

    neighbours = [span for span in candidate.window() if span is not candidate.sentence]
    return float(said(candidate.sentence)), float(any(map(said, neighbours)))


def question_features(question: Question, found: list[Candidate], rows: np.ndarray, logits: np.ndarray,
                      order: np.ndarray, language: LanguageProfile, alignment: Alignment) -> np.ndarray:
    """The QUESTION_FEATURES row for the answerability model, given the candidates' features and scores."""
    column = {name: i for i, name in enumerate(SENTENCE_FEATURES)}
    if not found:
        return np.zeros(len(QUESTION_FEATURES))
    top = order[0]
    second = logits[order[1]] if len(order) > 1 else logits[top] - 5.0
    pool = [text_words(language, c.sentence.text) for c in found]
    own = [t for t in question.terms if t.own]
    absent = [t for t in own if not any(text.match(t.token) for text in pool)]
    names = [t for t in own if t.is_name]
    row = rows[top]
    return np.asarray([
        row[column["terms_soft"]], row[column["soft_missing_rarest"]], logits[top], logits[top] - second,
        row[column["cosine"]], row[column["missing_names"]], row[column["missing_numbers"]], row[column["type_wanted"]],
        row[column["type_found"]], sum(t.is_name for t in absent) / len(names) if names else 0.0,
        min(len(own), 10) / 10.0, max(c.passage.score for c in found),
        max(row[column[name]] for name in ("swapped_date", "swapped_number", "swapped_name")),
        float(question.negated and row[column["negation_mismatch"]] == 1.0), row[column["one_replaced"]],
        row[column["antonym"]], alignment(question.text, found[top].sentence.text), float(question.followup),
        max(row[column["said_before"]], row[column["beside_said"]]),
    ])
