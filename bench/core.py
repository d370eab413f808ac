"""Benchmark the offline core: ingest throughput, warm in-process answer latency, cold CLI ask (wall time, peak RSS).

    .venv/bin/python bench/core.py [--json] [--rounds 5] [--cold-runs 5]

Prints medians; the machines are shared and noisy, so compare numbers from one run, not across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from articlechat.config import Settings
from articlechat.embeddings import build_embeddings, ingest_threads
from articlechat.history import SessionStore
from articlechat.ingest import Ingestor, bundled_article
from articlechat.ingest.load import LoadedDocument, parse_document
from articlechat.ingest.pipeline import EMBED_BATCH_TEXTS
from articlechat.store import ArticleStore

SHARED = Path(os.environ.get("ARTICLECHAT_SHARED", Path(__file__).resolve().parents[2] / "shared"))  # ../shared
DEV_SET = SHARED / "eval" / "qa_dev.jsonl"
SQUAD_ARTICLES = DEV_SET.parent / "squad-dev" / "articles"
COLD_QUESTION = "Who did Kim Jong Un meet on the 25th of April?"


def percentile(values: list[float], share: float) -> float:
    """The ``share`` quantile (0..1) of ``values``, nearest-rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def bench_documents() -> list[LoadedDocument]:
    """Real, distinct articles: the bundled op-ed and the Wikipedia articles of the SQuAD dev set."""
    docs = [bundled_article()]
    for path in sorted(SQUAD_ARTICLES.glob("*.txt")):
        docs.append(parse_document(path.read_text(encoding="utf-8"), "text", path.name))
    return docs


def _ingest_once(data_dir: Path, docs: list[LoadedDocument], threads: int | None, batch_texts: int) -> dict:
    settings = Settings(_env_file=None, data_dir=data_dir)
    store = ArticleStore(settings, build_embeddings(settings, threads))
    cpu, wall = time.process_time(), time.perf_counter()
    report = Ingestor(store, batch_texts).ingest_documents([(d.id, d) for d in docs])
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"passages": report.passages, "cpu_s": round(cpu, 2), "wall_s": round(wall, 2),
            "passages_per_cpu_s": round(report.passages / cpu, 1), "passages_per_s": round(report.passages / wall, 1)}


def bench_ingest(data_dir: Path) -> dict[str, object]:
    """Ingest the same real articles into fresh stores twice, in one run: as before (one document at a time, its
    passages and sentences embedded apart, the model on one thread) and as now (texts batched across documents and
    embedded once each, the model on every core). Passages per CPU-second and per second of wall time."""
    docs = bench_documents()
    before = _ingest_once(data_dir / "before", docs, 1, 1)
    after = _ingest_once(data_dir / "after", docs, ingest_threads(Settings(_env_file=None)), EMBED_BATCH_TEXTS)
    return {"documents": len(docs), "before": before, "after": after,
            "cpu_speedup": round(after["passages_per_cpu_s"] / before["passages_per_cpu_s"], 2),
            "wall_speedup": round(after["passages_per_s"] / before["passages_per_s"], 2),
            "chunks": after["passages"], "chunks_per_s": after["passages_per_s"]}


def dev_questions() -> list[list[str]]:
    """The turns of every item of the development set."""
    return [json.loads(line)["turns"] for line in DEV_SET.read_text().splitlines() if line.strip()]


def bench_warm(data_dir: Path, rounds: int) -> dict[str, float]:
    """Full in-process answers (retrieval + extraction + session write) over the dev questions, after a warm-up."""
    from articlechat.chain.agent import Agent

    settings = Settings(_env_file=None, data_dir=data_dir)
    store = ArticleStore(settings, build_embeddings(settings))
    Ingestor(store).ensure_bundled_article()
    agent = Agent(settings, store, SessionStore(settings.sessions_path))
    items = dev_questions()
    timings = []
    for round_number in range(rounds + 1):
        for turns in items:
            session = None
            for question in turns:
                started = time.perf_counter()
                session = agent.ask(question, session).session_id
                if round_number:  # round 0 warms caches up
                    timings.append((time.perf_counter() - started) * 1000)
    return {"asks": len(timings), "p50_ms": statistics.median(timings), "p95_ms": percentile(timings, 0.95)}


# Runs one command and prints its wall time and peak RSS (KiB). A small launcher process is used because a child
# forked from this (large) benchmark process would count the parent's pages in its own peak RSS before exec.
_MEASURE = """
import resource, subprocess, sys, time
started = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, capture_output=True)
print(time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def bench_cold(data_dir: Path, runs: int) -> dict[str, float]:
    """Wall time and peak RSS of a fresh `articlechat ask` process on a store that holds the article."""
    env = {**os.environ, "ARTICLECHAT_DATA_DIR": str(data_dir)}
    command = [sys.executable, "-c", _MEASURE, str(Path(sys.executable).with_name("articlechat")), "ask",
               COLD_QUESTION]
    walls, rss = [], []
    for _ in range(runs):
        wall, peak_kib = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout.split()
        walls.append(float(wall))
        rss.append(int(peak_kib) / 1024)
    return {"runs": runs, "wall_s_median": statistics.median(walls), "peak_rss_mb": max(rss)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="passes over the dev questions")
    parser.add_argument("--cold-runs", type=int, default=5, help="cold CLI processes")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {
            "ingest": bench_ingest(Path(tmp) / "ingest"),
            "warm_ask": bench_warm(Path(tmp) / "warm", args.rounds),
            "cold_cli_ask": bench_cold(Path(tmp) / "warm", args.cold_runs),
        }
    if args.json:
        print(json.dumps(results))
        return
    ingest, warm, cold = results["ingest"], results["warm_ask"], results["cold_cli_ask"]
    for label in ("before", "after"):
        run = ingest[label]
        print(f"ingest {label:<7}  {run['passages_per_cpu_s']:.1f} passages/CPU-s  "
              f"{run['passages_per_s']:.1f} passages/s  ({run['passages']} passages with their sentence vectors)")
    print(f"warm ask        p50 {warm['p50_ms']:.1f} ms  p95 {warm['p95_ms']:.1f} ms  ({warm['asks']} answers)")
    print(f"cold CLI ask    {cold['wall_s_median']:.2f} s median wall, {cold['peak_rss_mb']:.0f} MB peak RSS "
          f"({cold['runs']} runs)")


if __name__ == "__main__":
    main()
