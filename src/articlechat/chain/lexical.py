"""Word-level helpers: content terms, matching word forms (lemmas), the question's focus, anaphora."""

from __future__ import annotations

import gzip
import re
from bisect import bisect_left
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path

from articlechat.errors import ConfigError

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'\u2019-]*")
STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being below between both
but by can could did do does doing done down during each either else ever few for from further get gets got had has
have having he her here hers herself him himself his how i if in into is it its itself just least less like many me
might more most much must my myself no nor not now of off on once only or other our ours ourselves out over own per
perhaps quite rather really same say said says she should so some such than that the their theirs them themselves then
there these they this those through thus to too under until up upon us very was we were what whatever when where which
while who whom whose why will with within without would yet you your yours yourself
according article articles author authors text piece op-ed oped tell told explain describe mention mentions mentioned
write writes wrote written think thinks thought please happen happens happened
""".split())
# Words that name the kind of answer wanted ("which body", "in which month") or the article's stance, not its topic:
# a question may use them although the text does not.
FRAME_WORDS = frozenset("""
body bodies month months year years day days date time times place places part parts way ways thing things kind kinds
type types sort sorts name names number numbers amount lot group groups reason reasons role roles person someone
something anything country countries organisation organization event events fact facts detail details example
verdict opinion opinions view views argument arguments conclusion conclusions point points thesis claim claims stance
summary gist takeaway idea ideas message main overall key tone purpose outcome outcomes result results effect effects
impact consequence consequences implication significance goal goals aim aims motive motives motivation cause causes
benefit benefits advantage advantages one two three four five six seven eight nine ten both title titles headline
""".split())
ANAPHORA = frozenset("""
it its he him his she her hers they them their theirs this that these those there then such former latter one ones
""".split())
_NOUN_CONTEXT = frozenset("a an the his her its their our my your of any some no many much few several".split())
_MIN_PREFIX = 6  # words this long may match by a shared 7-letter start (violations ~ violating) or containment


def _normal(token: str) -> str:
    return re.sub(r"['\u2019]s?$", "", token.lower()).strip("-")


def words(text: str) -> list[str]:
    """Lower-cased word tokens (possessive 's dropped)."""
    return [_normal(w) for w in _WORD.findall(text)]


def content_terms(text: str) -> list[str]:
    """The words of ``text`` that carry meaning, in order, unique: no stopwords (acronyms such as US stay)."""
    seen: dict[str, None] = {}
    for token in _WORD.findall(text):
        word = _normal(token)
        is_acronym = len(token) >= 2 and token.isupper()
        if word and (is_acronym or (word not in STOPWORDS and len(word) > 1)):
            seen.setdefault(word, None)
    return list(seen)


@lru_cache(maxsize=1)
def _lexicon() -> list[bytes]:
    """LemmInflect's English lemma table (80k sorted ``word,pos,lemma[/lemma]`` lines), kept as compact bytes.

    Reading the table directly costs ~6 MB; loading it through lemminflect's API costs ~35 MB.
    """
    spec = find_spec("lemminflect")  # locate the package without importing it (its import loads numpy models)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("The lemminflect package is missing; reinstall articlechat.")
    table = Path(spec.submodule_search_locations[0]) / "resources" / "lemma_lu.csv.gz"
    return gzip.decompress(table.read_bytes()).split(b"\n")


@lru_cache(maxsize=50_000)
def _entries(word: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(PART-OF-SPEECH, lemmas) pairs the lexicon lists for ``word``."""
    lines = _lexicon()
    key = word.encode()
    at = bisect_left(lines, key, key=lambda line: line.split(b",", 1)[0])
    found = []
    while at < len(lines) and lines[at].startswith(key + b","):
        _, pos, forms = lines[at].decode().split(",", 2)
        found.append((pos.upper(), tuple(forms.split("/"))))
        at += 1
    return tuple(found)


@lru_cache(maxsize=50_000)
def lemmas(word: str) -> frozenset[str]:
    """The word and every lemma it may have (met -> meet, sanctions -> sanction)."""
    found = {word, word.replace("-", "")}
    for _, forms in _entries(word):
        found.update(forms)
    return frozenset(found)


def parts_of_speech(word: str) -> frozenset[str]:
    """The parts of speech ``word`` can have; empty for words the lexicon does not know (names, acronyms)."""
    return frozenset(pos for pos, _ in _entries(word))


@lru_cache(maxsize=20_000)
def vocabulary(text: str) -> frozenset[str]:
    """Every lemma of every word of ``text`` (cached: passages and their sentences recur across questions)."""
    found: set[str] = set()
    for word in set(words(text)):
        found |= lemmas(word)
    return frozenset(found)


def occurs_in(term: str, vocab: frozenset[str] | set[str]) -> bool:
    """Whether some form of ``term`` occurs in ``vocab`` (a :func:`vocabulary`)."""
    forms = lemmas(term)
    if forms & vocab:
        return True
    stem = term.replace("-", "")
    return len(stem) >= _MIN_PREFIX and any(
        len(v) >= _MIN_PREFIX and (v.startswith(stem[:_MIN_PREFIX + 1]) or stem in v) for v in vocab
    )


def focus_terms(question: str, vocab: set[str]) -> list[str]:
    """Topic words of the question that the text lacks: nouns, names, and adjectives asked about with "how".

    A question whose focus is missing from the passages ("the GDP of North Korea") is one the text cannot answer,
    however close its other words come. Verbs are left out: the text often says the same with another verb.
    """
    tokens = words(question)
    missing = []
    for i, word in enumerate(tokens):
        if word in STOPWORDS or word in FRAME_WORDS or len(word) < 2 or occurs_in(word, vocab):
            continue
        pos = parts_of_speech(word)
        before = tokens[i - 1] if i else ""
        noun_only = "NOUN" in pos and not ({"VERB", "ADJ", "ADV"} & pos)
        noun_here = "NOUN" in pos and before in _NOUN_CONTEXT
        asked_how = before == "how" and "ADJ" in pos
        if not pos or noun_only or noun_here or asked_how:
            missing.append(word)
    return missing


_NUMBER = (r"\b\d[\d,.]*\b|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty"
           r"|fifty|hundred|thousand|million|billion|dozen|half|twice|once)\b")
_DATE = (r"\b(?:1[5-9]|20)\d\d(?:s)?\b|\b\d{1,2}(?:st|nd|rd|th)\b|\b(?:January|February|March|April|June|July|August"
         r"|September|October|November|December|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b"
         r"|\b(?:today|yesterday|tomorrow|ago|decade|century|centuries)\b")
_QUANTITY = r"\b(?:little|limited|few|several|many|much|most|some|no|none|small|large|significant|amount)\b"
# What a question asks for, when its wording says: a date, a number or amount, a duration or an age.
_ANSWER_TYPES = (
    (re.compile(r"^\W*(?:(?:since )?when|(?:in |on )?(?:what|which) (?:year|date|month|day|decade))\b", re.I),
     re.compile(_DATE)),
    (re.compile(r"\bhow many\b", re.I), re.compile(_NUMBER, re.I)),
    (re.compile(r"\bhow much\b", re.I), re.compile(f"{_NUMBER}|{_QUANTITY}", re.I)),
    (re.compile(r"\bhow long\b", re.I),
     re.compile(rf"(?:{_NUMBER}|\ba few|\bseveral|\bmany)\s+(?:second|minute|hour|day|week|month|year|decade)s?\b"
                r"|\bsince\b", re.I)),
    (re.compile(r"\bhow old\b", re.I), re.compile(_NUMBER, re.I)),
)


_DOCUMENT = r"(?:article|piece|op-?ed|story|essay|column|text|post|report)"
_GIST = re.compile(
    rf"\b(?:summar(?:y|ise|ize)|gist|tl;?dr|in a nutshell|thesis|(?:main|central|key|overall) (?:point|argument|idea"
    rf"|message|claim|takeaway)s?|what(?:'s| is| are) (?:the|this) {_DOCUMENT}(?:'s)? (?:about|saying|arguing))\b",
    re.IGNORECASE,
)
_TITLE = re.compile(rf"\b(?:title|headline)\b.*\b{_DOCUMENT}\b|\b{_DOCUMENT}\b.*\b(?:title|headline|called)\b",
                    re.IGNORECASE)


_REQUEST_WORDS = frozenset("give provide quick short brief briefly me can could".split())


def asks_for_gist(question: str) -> str | None:
    """"title" or "gist" when the question asks about the document as a whole ("Summarize the article") rather than
    about something in it ("What is the main point about sanctions?")."""
    for kind, pattern in (("title", _TITLE), ("gist", _GIST)):
        if match := pattern.search(question):
            rest = question[: match.start()] + question[match.end() :]
            topic = [t for t in content_terms(rest) if t not in FRAME_WORDS and t not in _REQUEST_WORDS
                     and not re.fullmatch(_DOCUMENT, t)]
            return None if topic else kind
    return None


def answer_pattern(question: str) -> re.Pattern[str] | None:
    """A pattern that any sentence answering ``question`` must match (a date for "when", a number for "how many"...),
    or None when the question's wording does not constrain the answer's form."""
    return next((wanted for asks, wanted in _ANSWER_TYPES if asks.search(question)), None)


def refers_back(question: str) -> bool:
    """Whether a question leans on earlier turns (a pronoun, or too few words of its own)."""
    tokens = words(question)
    return any(t in ANAPHORA for t in tokens) or len(content_terms(question)) <= 2
