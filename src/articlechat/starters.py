"""Suggested starter questions for a document, derived from its content and kept only when the product answers them.

The extractive summary (``chain/summary.py``) picks the document's central sentences over its course; each gives a
topic, a date it opens with ("On the 25th of April") or a name it mentions ("Kim Jong Un", "UN Security Council"),
most mentioned first, and the topic goes into one of the question templates below. A candidate becomes a starter
only when the agent's decline gate would answer it (retrieval and the gate only: no model call, nothing stored).
Starters are cached per document and recomputed when the document changes (its digest or ingest time in the
catalog).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from itertools import cycle
from threading import Lock
from typing import NamedTuple

import numpy as np

from articlechat.chain.summary import summarize
from articlechat.embeddings import EmbeddingBackend
from articlechat.errors import NotFound
from articlechat.ingest.split import sentence_spans
from articlechat.language.english import STOPWORDS, parts_of_speech
from articlechat.store import ArticleStore

# The question templates, all in one place (English, like the product's answers).
ON_DATE = "What happened {when}?"
ABOUT = ("What does the article say about {topic}?", "What role does {topic} play?", "What is said about {topic}?")
GIST = "What is the article about?"

COUNT = 3  # starters per document
SUMMARY_SENTENCES = 6  # central sentences whose topics are tried first
MAX_SENTENCES = 300  # longer documents: this many sentences, evenly spaced, are embedded for the summary

_MONTH = r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
_DATE = re.compile(rf"\b(?:[Oo]n|[Ii]n) (?:the \d{{1,2}}(?:st|nd|rd|th) of {_MONTH}(?: \d{{4}})?"
                   rf"|{_MONTH} \d{{1,2}}(?:st|nd|rd|th)?(?:,? \d{{4}})?|(?:{_MONTH} )?(?:1[5-9]|20)\d\d|{_MONTH})\b")
_CAPITALISED = r"[A-Z][\w\u2019'-]*"  # no backtracking: a run is matched in one pass
_NAME = re.compile(rf"{_CAPITALISED}(?: (?:of (?:the )?)?{_CAPITALISED})*")
_SENTENCE_START = re.compile(r"^[\W\d_]*")
_NEXT_WORD = re.compile(r" ([a-z]+)\b")
_POSSESSIVE = re.compile(r"['\u2019]s$")
_DEMONYM_ENDINGS = ("an", "ese", "ish", "ian", "i")  # "North Korean leader", "Russian government"
_CALENDAR = re.compile(rf"^(?:{_MONTH}|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)$")

Answerable = Callable[[str], bool]


def date_phrase(sentence: str) -> str | None:
    """The date a sentence speaks of ("on the 25th of April", "in 2018"), in lower-case-preposition form."""
    match = _DATE.search(sentence)
    return match.group(0)[0].lower() + match.group(0)[1:] if match else None


class _Mention(NamedTuple):
    """A run of capitalised words in a sentence."""

    name: str
    opens: bool  # it opens the sentence
    after_the: bool  # "the" comes before it
    following: str  # the lower-case word after it, if any


def _mentions(sentence: str) -> Iterator[_Mention]:
    opening = _SENTENCE_START.match(sentence)
    start = opening.end() if opening else 0
    for match in _NAME.finditer(sentence):
        name = _POSSESSIVE.sub("", match.group(0)).rstrip("'\u2019-")
        opens, after_the = match.start() == start, sentence.endswith(("the ", "The "), 0, match.start())
        if name.startswith("The "):  # "The United States refused."
            name, opens, after_the = name.removeprefix("The "), False, True
        following = _NEXT_WORD.match(sentence, match.end())
        yield _Mention(name, opens, after_the, following.group(1) if following else "")


def _known(mention: _Mention, inside: set[str]) -> _Mention | None:
    """A sentence-opening mention as a name that also occurs inside a sentence: whole, or without its first word
    ("Yet Russia" is "Russia"); None when it is neither."""
    if not mention.opens or mention.name in inside:
        return mention
    rest = mention.name.partition(" ")[2]
    return mention._replace(name=rest, opens=False) if rest in inside else None


def _adjectival(mention: _Mention) -> bool:
    """Whether the mention is a demonym used as an adjective ("Russian" in "the Russian government")."""
    if not (mention.name.endswith(_DEMONYM_ENDINGS) and mention.following) or mention.following in STOPWORDS:
        return False
    kinds = parts_of_speech(mention.following)
    return not kinds or "NOUN" in kinds


def document_names(sentences: list[str]) -> Counter[str]:
    """The names of things the document mentions, with how often, as a question would say them ("the United
    States"): runs of capitalised words (a run that opens a sentence only when it also occurs inside one), but not
    demonyms mostly used as adjectives, nor bare months or weekdays."""
    inside = {m.name for s in sentences for m in _mentions(s) if not m.opens}
    mentions = [m for m in (_known(m, inside) for s in sentences for m in _mentions(s))
                if m and not _CALENDAR.match(m.name)]
    counts = Counter(m.name for m in mentions)
    adjectival = Counter(m.name for m in mentions if _adjectival(m))
    with_the = Counter(m.name for m in mentions if m.after_the)
    return Counter({f"the {name}" if 2 * with_the[name] > count else name: count for name, count in counts.items()
                    if 2 * adjectival[name] < count})


def candidate_questions(sentences: list[str], vectors: np.ndarray) -> Iterator[str]:
    """Questions about the document, best first: the date of the first dated summary sentence, the main name of each
    other summary sentence in document order, the document's other names by mentions, then the question about the
    whole document."""
    names = document_names(sentences)
    summary = [sentences[i] for i in summarize(sentences, vectors, SUMMARY_SENTENCES)]
    dated = next((s for s in summary if date_phrase(s)), None)
    if dated:
        yield ON_DATE.format(when=date_phrase(dated))
    topics = [_main_name(s, names) for s in summary if s is not dated] + [n for n, _ in names.most_common()]
    for topic, template in zip(_distinct(topics), cycle(ABOUT)):
        yield template.format(topic=topic)
    yield GIST


def _main_name(sentence: str, names: Counter[str]) -> str | None:
    """The most mentioned of the document's names that ``sentence`` mentions."""
    forms = {form for m in _mentions(sentence) for form in (m.name, m.name.partition(" ")[2])}  # "Yet Russia"
    here = {name for form in forms for name in (form, f"the {form}") if name in names}
    return max(sorted(here), key=lambda n: names[n], default=None)


def _distinct(topics: list[str | None]) -> Iterator[str]:
    """The topics in order, without repeats or one inside another ("Kim" after "Kim Jong Un")."""
    used: list[str] = []
    for topic in topics:
        if topic and not any(topic in u or u in topic for u in used):
            used.append(topic)
            yield topic


def derive_starters(text: str, backend: EmbeddingBackend, answerable: Answerable, count: int = COUNT) -> list[str]:
    """Up to ``count`` questions about ``text`` that ``answerable`` accepts."""
    sentences = [s.text for s in sentence_spans(text)]
    if len(sentences) > MAX_SENTENCES:
        sentences = [sentences[int(i)] for i in np.linspace(0, len(sentences) - 1, MAX_SENTENCES)]
    if not sentences:
        return []
    starters: list[str] = []
    for question in candidate_questions(sentences, backend.vectors(sentences)):
        if question not in starters and answerable(question):
            starters.append(question)
            if len(starters) == count:
                break
    return starters


class StarterQuestions:
    """Starter questions per document of ``store``, derived once per version of the document.

    ``answerable(question, doc)`` says whether the product answers ``question`` about ``doc``."""

    def __init__(self, store: ArticleStore, answerable: Callable[[str, str], bool], count: int = COUNT) -> None:
        self.store = store
        self.answerable = answerable
        self.count = count
        self._cache: dict[str, tuple[tuple[str, str | None], list[str]]] = {}
        self._lock = Lock()

    def for_document(self, doc: str) -> list[str]:
        """The starters of document ``doc`` (:class:`NotFound` when it is not in the store)."""
        record = self.store.record(doc)
        if record is None:
            raise NotFound(f"No document '{doc[:200]}' in the store (see GET /api/documents).")
        version = (record.digest, record.ingested_at)
        cached = self._cache.get(doc)
        if cached and cached[0] == version:
            return cached[1]
        with self._lock:  # one derivation at a time: concurrent first requests wait for it
            cached = self._cache.get(doc)
            if cached and cached[0] == version:
                return cached[1]
            starters = derive_starters(self.store.document_text(doc), self.store.backend,
                                       lambda question: self.answerable(question, doc), self.count)
            self._cache[doc] = (version, starters)
            return starters
