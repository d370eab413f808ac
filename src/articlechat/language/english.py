"""English: stop words, lemmas (LemmInflect's table), antonyms and capital-for-country aliases (WordNet's), answer
types, whole-document questions, messages."""

from __future__ import annotations

import gzip
import re
from bisect import bisect_left
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path

from articlechat.errors import ConfigError
from articlechat.language.profile import LanguageProfile
from articlechat.language.wordnet import WordRelations

STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being below between both
but by can could did do does doing done down during each either else ever few for from further get gets got had has
have having he her here hers herself him himself his how i if in into is it its itself just least less like many me
might more most much must my myself no nor not now of off on once only or other our ours ourselves out over own per
perhaps quite rather really same say said says she should so some such than that the their theirs them themselves then
there these they this those through thus to too under until up upon us very was we were what whatever when where which
while who whom whose why will with within without would yet you your yours yourself
according article articles author authors writer text piece op-ed oped tell told explain describe mention mentions
mentioned write writes wrote written think thinks thought please happen happens happened name named called
""".split())
NEGATIONS = frozenset("not no never none nobody nothing neither nor without n't cannot".split())
ANAPHORA = frozenset("""
it its he him his she her hers they them their theirs this that these those there then such former latter
""".split())

# A sentence opening that refers to what came before ("This is because...", "As such, ..."): such a sentence does
# not stand alone in a summary.
LEANS_BACK = re.compile(r"^\W*(?:this|these|that|those|it|its|they|their|such|he|she|his|her|as such|thus|hence"
                        r"|therefore)\b", re.I)
# A question that opens by continuing the previous one ("And the total cost?", "What about Russia?").
FOLLOWS_ON = re.compile(r"^\W*(?:and|but|also|so|then|what about|how about)\b", re.I)
# Whose role a question about a person names: the answer's in "Who is the chancellor?", someone else's in "Who did the
# chancellor meet?" (the question asks whom its subject acted on).
ASKS_WHO_IS = re.compile(r"^\W*who(?:'s|\u2019s|\s+(?:is|was|are|were))\b", re.I)
ASKS_WHOM = re.compile(r"\bwho(?:m)?\s+(?:did|does|do|has|have|had|will|would|can|could|should|might|must)\b", re.I)
# A question after something besides what was said ("Who else?", "What other...?"); "each other" asks for nothing more.
ASKS_FOR_MORE = re.compile(r"\b(?:else|(?<!each )other|(?<!one )another|besides|apart from)\b", re.I)
_MONTH = r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
_DATE = re.compile(rf"\b(?:1[0-9]|20)\d\d(?:s)?\b|\b\d{{1,2}}(?:st|nd|rd|th)? (?:of )?{_MONTH}\b|\b{_MONTH}\b"
                   r"|\b(?:\d+(?:st|nd|rd|th)|[a-z]+(?:teenth|tieth|th|first|second|third)) century\b"
                   r"|\b(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b")
# An amount in words answers "how much" (not "how many"): "a limited amount of trade", "a significant share".
_AMOUNT = (r"\b(?:an? )?(?:limited|small|large|significant|considerable|modest|substantial|huge|vast|tiny|great|"
           r"growing|increasing|record|negligible) (?:amount|number|quantity|share|sum|proportion|volume|level)"
           r"(?: of \w+)?")
_NUMBER = (r"\b\d[\d,.]*\b|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|"
           r"fifty|hundred|thousand|million|billion|dozen|half|twice)\b")
# A run of capitalised words (with "of", "de", "the" inside a name): a person, an organisation or a place.
_NAME = re.compile(r"\b[A-Z][\w'\u2019.-]*(?:\s+(?:(?:of|de|la|von|van|the|and|for)\s+)?[A-Z][\w'\u2019.-]*)*")

ANSWER_TYPES = (
    (re.compile(r"^\W*(?:(?:since |until )?when\b|(?:in |on |by |from )?(?:what|which) (?:year|date|month|day|decade"
                r"|century|period|time)\b)|\bwhat (?:year|date|month|day|decade|century)\b", re.I), "date"),
    (re.compile(r"\bhow much\b", re.I), "amount"),
    (re.compile(r"\bhow (?:many|long|old|far|big|large|often)\b|\bwhat (?:percentage|percent|number|amount|"
                r"proportion|share)\b", re.I), "number"),
    (re.compile(r"^\W*(?:who(?:m|se)?\b|(?:which|what) (?:person|man|woman|people|group|"
                r"organi[sz]ation|company|leader|king|president|minister|party)\b)", re.I), "person"),
    (re.compile(r"^\W*(?:where\b|(?:in |to |from )?(?:which|what) (?:country|city|place|region|state|town|area|"
                r"continent|nation|location)\b)", re.I), "place"),
    (re.compile(r"^\W*(?:what|which) (?:is|was|are|were) the name\b|\bwhat (?:is|was) (?:it|he|she) called\b",
                re.I), "entity"),
)
TYPE_PATTERNS = {"date": _DATE, "number": re.compile(_NUMBER, re.I), "amount": re.compile(f"{_AMOUNT}|{_NUMBER}", re.I),
                 "person": _NAME, "place": _NAME, "entity": _NAME}

_DOCUMENT = r"(?:article|piece|op-?ed|story|essay|column|text|post|report|author|writer)"
_WRITER = r"(?:author|writer|columnist)"
_ON_SUBJECT = r"(?: (?:on|about|of) (?:the|this) [\w-]+)?"  # "... on the talks": the article's own subject
_REQUEST = r"(?:please |can you |could you |would you )?"
_ASPECT = r"(?:main |central |key |overall )?(?:argument|point|thesis|message|gist|takeaway|conclusion|claim)s?"
WHOLE_DOCUMENT = re.compile(
    rf"^\W*{_REQUEST}(?:summari[sz]e|sum up|give (?:me )?(?:a |the )?(?:short |brief |quick )?"
    rf"(?:summary|gist|overview))"
    rf"(?: (?:of )?(?:the|this) {_DOCUMENT})?(?: for me)?(?: please)?\W*$"
    rf"|^\W*what(?:'s| is| are) (?:the|this) {_DOCUMENT}(?:'s)? (?:about|saying|arguing|{_ASPECT})\W*$"
    rf"|^\W*(?:tl;?dr|gist|summary|in a nutshell)\W*$"
    rf"|^\W*what(?:'s| is| are) the {_ASPECT}(?: of (?:the|this) {_DOCUMENT})?\W*$"
    rf"|^\W*what(?:'s| is| are) the {_WRITER}(?:'s)? (?:main |overall )?(?:view|opinion|position|stance|argument|"
    rf"verdict|take|conclusion)s?{_ON_SUBJECT}\W*$"
    rf"|^\W*what does the {_WRITER} (?:argue|think|believe|conclude){_ON_SUBJECT}\W*$",
    re.IGNORECASE,
)
TITLE_QUESTION = re.compile(rf"^\W*what(?:'s| is) the (?:title|headline)(?: of (?:the|this) {_DOCUMENT})?\W*$"
                            rf"|^\W*what is (?:the|this) {_DOCUMENT} called\W*$", re.IGNORECASE)
BYLINE = re.compile(r"^\s*By\s+(?P<name>[A-Z][\w.'\u2019-]*(?:\s+[A-Z][\w.'\u2019-]*)*)")
AUTHOR_QUESTION = re.compile(
    rf"^\W*(?:who (?:wrote|authored|is the (?:author|writer) of) (?:the|this) {_DOCUMENT}|who (?:is|was) the "
    rf"(?:author|writer|columnist)|who wrote (?:it|this)|what is the (?:author|writer)'s name|by whom was (?:the|this)"
    rf" {_DOCUMENT} written)\W*$", re.IGNORECASE)


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


@lru_cache(maxsize=100_000)
def _entries(word: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(PART-OF-SPEECH, lemmas) pairs the lemma table lists for ``word``."""
    lines = _lexicon()
    key = word.encode()
    at = bisect_left(lines, key, key=lambda line: line.split(b",", 1)[0])
    found = []
    while at < len(lines) and lines[at].startswith(key + b","):
        _, pos, forms = lines[at].decode().split(",", 2)
        found.append((pos.upper(), tuple(forms.split("/"))))
        at += 1
    return tuple(found)


def _listed(word: str) -> bool:
    """Whether the lemma table lists ``word`` as a common word."""
    return bool(_entries(word))


def parts_of_speech(word: str) -> frozenset[str]:
    """The parts of speech ``word`` can have; empty for words the table does not know (names, acronyms)."""
    return frozenset(pos for pos, _ in _entries(word))


_DEMONYM = re.compile(r"(?:an|ese|ish)$")  # Russian, Korean, Chinese, British: adjectives, not names


TITLES = frozenset("""
president prime minister chancellor king queen prince princess emperor empress pope sir lord lady mr mrs ms dr
general governor senator mayor judge professor saint st bishop duke
""".split())


def _words(run: str) -> list[str]:
    return [w.strip(".,'\u2019").lower() for w in run.split()]


# A role written just before a name: "North Korean leader, Kim Jong Un", "met with Russian President Vladimir Putin".
_ROLE_BEFORE = re.compile(r"((?:[\w'\u2019-]+\s+){0,2}[\w'\u2019-]+),?\s+$")


def role_words(before: str) -> frozenset[str]:
    """The words of the role written right before a name (``before`` is the text before it): the titles and common
    nouns of its last three words ("leader" of "North Korean leader, "; "president" of "with Russian President")."""
    found = _ROLE_BEFORE.search(before)
    if not found:
        return frozenset()
    written = found.group(1).split()
    return frozenset(word for word, text in zip(_words(found.group(1)), written, strict=True)
                     if word in TITLES or (text.islower() and word not in STOPWORDS and _only_noun(word)))


def _only_noun(word: str) -> bool:
    """Whether the lemma table lists ``word`` as a noun and never as a verb ("leader", not "met" or "head")."""
    kinds = parts_of_speech(word)
    return "NOUN" in kinds and "VERB" not in kinds


def name_kinds(run: str) -> frozenset[str]:
    """What WordNet says a name names ("place", "person", both, or nothing known): "the Alps" -> place."""
    return NAME_KINDS.of("_".join(w for w in _words(run) if w != "the"))


_LOCATIVE = re.compile(r"\b(?:in|at|from|to|near|into|across|throughout|outside|inside|within|around|towards?)"
                       r"\s+(?:the\s+)?$", re.IGNORECASE)


def place_likeness(run: str, before: str) -> int:
    """How surely a name is a place's: 2 when WordNet lists it as one, 1 right after a locative preposition ("in",
    "at", "from"...: ``before`` is the text before it), else 0."""
    return 2 if "place" in name_kinds(run) else int(bool(_LOCATIVE.search(before)))


def is_proper_name(run: str) -> bool:
    """Whether a run of capitalised words names someone or somewhere: a title and a name (President Trump), or a
    word no dictionary lists (Putin, Hanoi) and no nationality adjective (Russian President, North Korean) or date
    (April, On Monday)."""
    words = _words(run)
    if _DATE.fullmatch(run) or any(_DEMONYM.search(w) and len(w) > 4 and not _listed(w) for w in words):
        return False
    if (len(words) > 1 and words[0] in TITLES and words[-1] not in TITLES) or name_kinds(run):
        return True
    return any(not _listed(w) for w in words if w not in STOPWORDS and not _DATE.fullmatch(w.capitalize()))


def person_likeness(run: str) -> int:
    """How surely a name is a person's: with a title, then several words (first and last name), then one word."""
    words = _words(run)
    return 2 if words[0] in TITLES else int(len(words) > 1)


ANTONYMS = WordRelations("en-antonyms.tsv.gz")  # from Princeton WordNet 3.0
ALIASES = WordRelations("en-aliases.tsv.gz")  # capitals and countries, from Princeton WordNet 3.0
NAME_KINDS = WordRelations("en-name-kinds.tsv.gz")  # which names are places or people, from Princeton WordNet 3.0


_FIGURES = {word: str(value) for value, word in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve".split())} | {
    "twenty": "20", "thirty": "30", "forty": "40", "fifty": "50", "hundred": "100", "thousand": "1000"}
_WORDS_FOR = {figure: word for word, figure in _FIGURES.items()}
_DECADE = re.compile(r"\d{3}0s")  # "the 1980s" spans 1980


@lru_cache(maxsize=100_000)
def lemmatize(word: str) -> frozenset[str]:
    """The word, every lemma the table gives it (met -> meet, sanctions -> sanction), British -ise as -ize, a number
    in figures for its word and back (three ~ 3), a decade's first year (1980s -> 1980), and the other names of what
    it names (Pyongyang -> north_korea, DPRK)."""
    found = {word, word.replace("-", "")}
    found.update(form for form in (_FIGURES.get(word), _WORDS_FOR.get(word)) if form)
    if _DECADE.fullmatch(word):
        found.add(word[:-1])
    if word.endswith(("ise", "ised", "ising", "isation")):
        found.add(word.replace("is", "iz"))
    for _, forms in _entries(word):
        found.update(forms)
    parts = [part for part in word.split("-") if part not in STOPWORDS]
    if len(parts) > 1:
        found.update(*(lemmatize(part) for part in parts))
    return frozenset(found.union(*(ALIASES.of(form) for form in found)))


PROFILE = LanguageProfile(
    code="en",
    name="English",
    stopwords=STOPWORDS,
    question_words=frozenset("what which who whom whose when where why how".split()),
    sentence_ends=".?!:;\"\u201c\u201d(",
    negations=NEGATIONS,
    anaphora=ANAPHORA,
    leans_back=LEANS_BACK,
    follows_on=FOLLOWS_ON,
    asks_for_more=ASKS_FOR_MORE,
    asks_who_is=ASKS_WHO_IS,
    asks_whom=ASKS_WHOM,
    lemmatize=lemmatize,
    is_listed=_listed,
    answer_types=ANSWER_TYPES,
    type_patterns=TYPE_PATTERNS,
    is_proper_name=is_proper_name,
    person_likeness=person_likeness,
    role_words=role_words,
    place_likeness=place_likeness,
    name_kinds=name_kinds,
    negation_suffix="n't",
    antonyms=ANTONYMS,
    aliases=ALIASES,
    whole_document=WHOLE_DOCUMENT,
    title_question=TITLE_QUESTION,
    byline=BYLINE,
    author_question=AUTHOR_QUESTION,
    decline_template="The article doesn't say. I couldn't find an answer to that in {where}, so I won't guess.",
    unsupported_template="I can only answer questions in {language} for now; please ask in {language}.",
)
