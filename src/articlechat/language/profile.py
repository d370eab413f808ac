"""The language profile: what the reader, the retriever and the messages need to know about a language."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import process
from rapidfuzz.distance import OSA

from articlechat.errors import InvalidInput
from articlechat.language.wordnet import WordRelations

AnswerType = str  # "person", "date", "number", "amount" (a number or one in words), "place", "entity" or "" (any)
NAMED_TYPES = frozenset({"person", "place", "entity"})  # answered by a proper name
PRECEDING_CHARS = 40  # of the text before a name, for the words that make it a place or give a role
MIN_CORRECTED_CHARS = 3  # shorter words are too close to too many others to tell a typo ("wy" ~ "why", "my"...)


def _before(text: str, found: re.Match[str]) -> str:
    """The text just before a match: what makes a name a place ("in the ...") or gives a person's role."""
    return text[max(0, found.start() - PRECEDING_CHARS) : found.start()]


@dataclass(frozen=True)
class Token:
    """A word of a text: where it is, its folded form (lower case, no accents) and its lemmas."""

    text: str
    start: int
    end: int
    folded: str
    lemmas: frozenset[str]
    is_stop: bool
    is_capitalized: bool
    is_number: bool


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: one object per language
class LanguageProfile:
    """The rules of one language. Build one with a module's ``PROFILE``; look one up with :func:`profile_for`."""

    code: str
    name: str
    stopwords: frozenset[str]
    question_words: frozenset[str]  # what a misspelt word opening a question is put right to
    sentence_ends: str  # a word after one of these characters (and spaces) opens a sentence
    negations: frozenset[str]
    anaphora: frozenset[str]
    leans_back: re.Pattern[str]  # a sentence opening that refers to the sentence before
    follows_on: re.Pattern[str]  # a question opening that continues the previous question
    asks_for_more: re.Pattern[str]  # a question after something besides what was already said ("Who else?")
    asks_who_is: re.Pattern[str]  # a question after who holds a role ("Who is the chancellor?")
    asks_whom: re.Pattern[str]  # a question after whom its subject acted on ("Who did X meet?")
    lemmatize: Callable[[str], frozenset[str]]
    is_listed: Callable[[str], bool]  # whether the lexicon knows the word (a typo is not listed)
    answer_types: tuple[tuple[re.Pattern[str], AnswerType], ...]
    type_patterns: dict[AnswerType, re.Pattern[str]]
    whole_document: re.Pattern[str]
    title_question: re.Pattern[str]
    byline: re.Pattern[str]  # with a group "name"
    author_question: re.Pattern[str]
    is_proper_name: Callable[[str], bool]
    person_likeness: Callable[[str], int]
    role_words: Callable[[str], frozenset[str]]  # the role written before a name, from the text before it
    place_likeness: Callable[[str, str], int]  # a name and the text before it
    name_kinds: Callable[[str], frozenset[str]]  # "place", "person": what a name is known to name
    negation_suffix: str
    antonyms: WordRelations  # to spot a word swapped for its opposite
    aliases: WordRelations  # other names of the same thing (a capital for its country), matched as its lemmas
    decline_template: str
    unsupported_template: str
    word: re.Pattern[str] = re.compile(r"(?:[^\W\d_]\.){2,}|\w+(?:['\u2019-]\w+)*")  # U.S. is one word

    def tokens(self, text: str) -> list[Token]:
        """The words of ``text`` (cached per text: passages recur across questions)."""
        return list(_tokens(self, text))

    def corrected(self, question: str) -> str:
        """The question with misspelt question words put right ("Wat did they discus?" -> "What did they discus?",
        "and wher?" -> "and where?"): a word the lexicon does not list, one edit (a transposition counts as one)
        from exactly one question word, in lower case or opening a sentence (a capitalised word elsewhere is taken
        for a name, as in "Angkor Wat"); a question word written with accents is put right too ("Whó" -> "Who"),
        as the answer types are read from the plain spelling. Other words are left alone: the reader matches them
        by edit distance."""
        pieces: list[str] = []
        end = 0
        for token in self.tokens(question):
            right = None if token.is_number else _question_word_meant(self, token.folded) or self._accented(token)
            if right and (token.text.islower() or (token.text[1:].islower() and self._opens(question, token.start))):
                pieces += [question[end : token.start], right.capitalize() if token.is_capitalized else right]
                end = token.end
        return "".join(pieces) + question[end:] if pieces else question

    def _accented(self, token: Token) -> str | None:
        """The question word ``token`` is when written with accents ("Whó": "who"; "Who's" is none)."""
        plain = fold(token.text)
        return plain if plain in self.question_words and plain != token.text.lower() else None

    def _opens(self, text: str, at: int) -> bool:
        """Whether position ``at`` of ``text`` begins it or follows the end of a sentence (looked for a bounded way
        back)."""
        before = text[max(0, at - PRECEDING_CHARS) : at].rstrip()
        return not before or before[-1] in self.sentence_ends

    def initials(self, text: str) -> frozenset[str]:
        """The initials of the text's names of two words or more, which an acronym may stand for ("SP" for "the
        Scottish Parliament", "SNP" for "Scottish National Party"; stop words inside a name are skipped)."""
        found = set()
        for name in self.type_patterns["entity"].findall(text):
            letters = [t.folded[0] for t in self.tokens(name) if not t.is_stop and not t.is_number]
            if len(letters) > 1:
                found.add("".join(letters).upper())
        return frozenset(found)

    def content_tokens(self, text: str) -> list[Token]:
        """The words that carry meaning: no stopwords, no one-letter words (numbers stay)."""
        return [t for t in self.tokens(text) if not t.is_stop and (len(t.folded) > 1 or t.is_number)]

    def expected_answer(self, question: str) -> AnswerType:
        """The kind of answer the question's wording asks for, or "" when it does not say ("And where?" asks as
        "Where?" does)."""
        asked = self.follows_on.sub("", question, count=1)
        return next((kind for pattern, kind in self.answer_types if pattern.search(asked)), "")

    def type_matches(self, kind: AnswerType, text: str) -> list[str]:
        """The pieces of ``text`` of answer type ``kind`` (names for "person", dates for "date"...), in order."""
        if kind == "person":
            return [name for name, _ in self.people(text)]
        pattern = self.type_patterns.get(kind)
        found = list(pattern.finditer(text)) if pattern else []
        if kind not in NAMED_TYPES:
            return [m.group() for m in found]
        names = [m for m in found if self.is_proper_name(m.group())]
        if kind == "place":  # a listed place, or a name after "in", "at"...; listed places first
            ranked = [(self.place_likeness(m.group(), _before(text, m)), m.group()) for m in names]
            return [name for likeness, name in sorted(ranked, key=lambda r: -r[0]) if likeness]
        return [m.group() for m in names]

    def people(self, text: str) -> list[tuple[str, frozenset[str]]]:
        """The names of ``text`` that may be people's (a known place is nobody), titled and full names first, each
        with the words of the role written before it ("leader" for "North Korean leader, Kim Jong Un")."""
        pattern = self.type_patterns.get("person")
        names = [m for m in (pattern.finditer(text) if pattern else ()) if self.is_proper_name(m.group())
                 and self.name_kinds(m.group()) != frozenset({"place"})]
        return [(m.group(), self.role_words(_before(text, m)))
                for m in sorted(names, key=lambda m: self.person_likeness(m.group()), reverse=True)]

    def role_asked(self, question: str) -> str:
        """Whose role a question's words name: "answer" ("Who is the chancellor?"), "other" ("Who did the chancellor
        meet?": whom its subject acted on), or "" when it cannot tell."""
        if self.asks_who_is.search(question):
            return "answer"
        return "other" if self.asks_whom.search(question) else ""

    def refers_back(self, question: str) -> bool:
        """Whether a question leans on the conversation (a pronoun, an opening that continues the previous question,
        or too few words of its own)."""
        tokens = self.tokens(question)
        return (any(t.folded in self.anaphora for t in tokens) or bool(self.follows_on.match(question))
                or len(self.content_tokens(question)) <= 2)

    def stands_alone(self, sentence: str) -> bool:
        """Whether a sentence reads on its own, without the one before it (for summaries)."""
        return not self.leans_back.search(sentence)

    def asks_about_document(self, question: str) -> str | None:
        """"author", "title" or "gist" when the question is about the document as a whole, else None."""
        if self.author_question.search(question):
            return "author"
        if self.title_question.search(question):
            return "title"
        if self.whole_document.search(question):
            return "gist"
        return None

    def is_negated(self, text: str) -> bool:
        """Whether ``text`` holds a negation word."""
        suffix = self.negation_suffix
        return any(t.folded in self.negations or (suffix and t.folded.endswith(suffix)) for t in self.tokens(text))

    def looks_like(self, text: str, minimum_share: float = 0.12) -> bool:
        """Whether ``text`` reads as this language: enough of its words are this language's stopwords.

        Short texts (fewer than 4 words) are given the benefit of the doubt.
        """
        tokens = [t for t in self.tokens(text) if not t.is_number]
        if len(tokens) < 4:
            return True
        return sum(t.is_stop for t in tokens) / len(tokens) >= minimum_share

    def decline(self, where: str) -> str:
        """The polite refusal, naming where it looked."""
        return self.decline_template.format(where=where)

    def unsupported(self) -> str:
        """The message for a question that is not in this language."""
        return self.unsupported_template.format(language=self.name)


def fold(text: str) -> str:
    """Lower case without accents: "Schrödinger" -> "schrodinger"."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).replace("\u2019", "'")


@lru_cache(maxsize=20_000)
def _tokens(profile: LanguageProfile, text: str) -> tuple[Token, ...]:
    found = []
    for match in profile.word.finditer(text):
        word = match.group()
        folded = fold(word)
        folded = re.sub(r"'s?$", "", folded).replace(".", "")
        is_acronym = len(folded) > 1 and word.replace(".", "").isupper()
        lemmas = profile.lemmatize(folded)
        if is_acronym:  # its upper-case form, as aliases of at most four letters are spelt: "US", "DPRK"
            lemmas |= {folded.upper(), *profile.aliases.of(folded.upper())}
        found.append(Token(word, match.start(), match.end(), folded, lemmas,
                           folded in profile.stopwords and not is_acronym, word[:1].isupper(), word[:1].isdigit()))
    return tuple(found)


@lru_cache(maxsize=20_000)
def _question_word_meant(profile: LanguageProfile, folded: str) -> str | None:
    """The one question word a word not in the lexicon is a typo of, if any: the only one an edit away, or else the
    only one it lacks a letter of, the commonest typo ("wher": "where", not "when")."""
    if len(folded) < MIN_CORRECTED_CHARS or folded in profile.stopwords or profile.is_listed(folded):
        return None
    near = [word for word, *_ in process.extract(folded, profile.question_words, scorer=OSA.distance,
                                                 score_cutoff=1, limit=None)]
    dropped = [word for word in near if len(word) == len(folded) + 1]
    return near[0] if len(near) == 1 else dropped[0] if len(dropped) == 1 else None


_PROFILES: dict[str, LanguageProfile] = {}


def _load() -> dict[str, LanguageProfile]:
    if not _PROFILES:
        from articlechat.language.english import PROFILE as ENGLISH

        _PROFILES[ENGLISH.code] = ENGLISH
    return _PROFILES


def supported_languages() -> list[str]:
    """The language codes the product answers in."""
    return sorted(_load())


def profile_for(code: str | None) -> LanguageProfile:
    """The profile for language ``code`` (None: English); unsupported languages raise a clear error."""
    profiles = _load()
    key = (code or "en").split("-")[0].lower()
    if key not in profiles:
        raise InvalidInput(f"Documents in language {code!r} are not supported yet; supported: "
                           f"{', '.join(sorted(profiles))}.")
    return profiles[key]
