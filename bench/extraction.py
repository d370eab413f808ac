"""Article-body extraction on ../shared/eval/extraction-dev: precision, recall and F1 per extractor.

    .venv/bin/python bench/extraction.py [--dir ../shared/eval/extraction-dev] [--only NAME,...] [--json]

The metric is the article-extraction benchmark's own (scrapinghub/article-extraction-benchmark, evaluate.py): both
texts split into words (``\\w+``), runs of 4 words (shingles) counted; per page tp, fp and fn are divided by their sum;
precision and recall are the means over pages (pages with nothing predicted do not count for precision), F1 =
2PR/(P+R). ``product`` is what `articlechat ingest` stores for an HTML page; the other rows are the libraries
(trafilatura, readability-lxml, newspaper4k) with the settings compared when choosing.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "shared" / "eval" / "extraction-dev"
_WORD = re.compile(r"\w+")
Extractor = Callable[[str, str], str]


@dataclass(frozen=True)
class Score:
    """One page's shingle counts, each divided by their sum."""

    tp: float
    fp: float
    fn: float


def shingles(text: str, n: int = 4) -> Counter[tuple[str, ...]]:
    """Runs of ``n`` consecutive words with their counts (one shorter run for a text of fewer words)."""
    words = _WORD.findall(text or "")
    return Counter(tuple(words[i : i + n]) for i in range(max(1, len(words) - n + 1)) if words[i : i + n])


def score_page(true: str, pred: str) -> Score:
    """Shared, extra and missed shingles of ``pred`` against ``true``, normalised per page."""
    want, got = shingles(true), shingles(pred)
    tp, fp, fn = sum((want & got).values()), sum((got - want).values()), sum((want - got).values())
    total = tp + fp + fn
    return Score(tp / total, fp / total, fn / total) if total else Score(0.0, 0.0, 0.0)


def _precision(s: Score) -> float:
    return 1.0 if s.fp == s.fn == 0 else (0.0 if s.tp == s.fp == 0 else s.tp / (s.tp + s.fp))


def _recall(s: Score) -> float:
    return 1.0 if s.fp == s.fn == 0 else (0.0 if s.tp == s.fn == 0 else s.tp / (s.tp + s.fn))


def summarise(scores: list[Score]) -> dict[str, float]:
    """Mean precision and recall over pages and their F1."""
    precision = statistics.mean(_precision(s) for s in scores if s.tp + s.fp > 0)
    recall = statistics.mean(_recall(s) for s in scores if s.tp + s.fn > 0)
    return {"precision": precision, "recall": recall, "f1": 2 * precision * recall / (precision + recall)}


def _product(html: str, url: str) -> str:
    from articlechat.errors import InvalidInput
    from articlechat.ingest.load import parse_document

    try:
        return parse_document(html, "html", url).text
    except InvalidInput:
        return ""


def _trafilatura(**options: bool) -> Extractor:
    def run(html: str, url: str) -> str:
        import trafilatura

        return trafilatura.extract(html, url=url, **options) or ""

    return run


def _readability(html: str, url: str) -> str:
    import lxml.html
    from readability import Document

    summary = Document(html, url=url).summary(html_partial=True)
    return lxml.html.fromstring(summary).text_content() if summary.strip() else ""


def _newspaper(html: str, url: str) -> str:
    from newspaper import Article

    def parse(**language: str) -> str:
        article = Article(url, fetch_images=False, **language)
        article.download(input_html=html)
        article.parse()
        return article.text

    try:
        return parse()
    except ImportError:  # a language whose tokenizer needs nltk (newspaper4k[nlp]): its English rules instead
        return parse(language="en")


def _visible_text(html: str, url: str) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "lxml")
    for tag in soup(["script", "style", "noscript"]):
        tag.decompose()
    return soup.get_text(" ")


EXTRACTORS: dict[str, Extractor] = {
    "product": _product,
    "trafilatura": _trafilatura(),
    "trafilatura-no-comments": _trafilatura(include_comments=False),
    "trafilatura-precision": _trafilatura(include_comments=False, favor_precision=True),
    "trafilatura-recall": _trafilatura(include_comments=False, favor_recall=True),
    "trafilatura-no-tables": _trafilatura(include_comments=False, include_tables=False),
    "trafilatura-no-fallback": _trafilatura(include_comments=False, no_fallback=True),
    "readability-lxml": _readability,
    "newspaper4k": _newspaper,
    "visible-text": _visible_text,
}


def load_pages(folder: Path) -> list[tuple[str, str, str]]:
    """(html, url, marked body) for every page of the set."""
    truth = json.loads((folder / "ground-truth.json").read_text(encoding="utf-8"))
    pages = []
    for key, item in sorted(truth.items()):
        raw = gzip.decompress((folder / "html" / f"{key}.html.gz").read_bytes())
        pages.append((raw.decode("utf-8", errors="replace"), item["url"], item["articleBody"]))
    return pages


def run(folder: Path, names: list[str]) -> dict[str, dict[str, float]]:
    """Score each named extractor on every page of ``folder``; adds seconds per page."""
    pages = load_pages(folder)
    results = {}
    for name in names:
        start = time.perf_counter()
        scores = [score_page(body, EXTRACTORS[name](html, url)) for html, url, body in pages]
        results[name] = {**summarise(scores), "seconds_per_page": (time.perf_counter() - start) / len(pages)}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="the extraction-dev folder")
    parser.add_argument("--only", default="", help="comma-separated extractor names (default: all)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or list(EXTRACTORS)
    unknown = sorted(set(names) - set(EXTRACTORS))
    if unknown:
        parser.error(f"unknown extractor(s) {', '.join(unknown)}; choose from {', '.join(EXTRACTORS)}")
    results = run(args.dir, names)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print("| extractor | precision | recall | F1 | s/page |\n| --- | --- | --- | --- | --- |")
    for name, r in results.items():
        print(f"| {name} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | {r['seconds_per_page']:.3f} |")


if __name__ == "__main__":
    main()
