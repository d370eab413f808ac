"""Benchmark the offline core: ingest throughput, warm in-process answer latency, cold CLI ask (wall time, peak RSS).

    .venv/bin/python bench/core.py [--json] [--copies 20] [--rounds 5] [--cold-runs 5]

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
from articlechat.embeddings import build_embeddings
from articlechat.history import SessionStore
from articlechat.ingest import Ingestor, bundled_article
from articlechat.ingest.load import LoadedDocument
from articlechat.store import ArticleStore

DEV_SET = Path(__file__).resolve().parents[2] / "shared" / "eval" / "qa_dev.jsonl"
COLD_QUESTION = "Who did Kim Jong Un meet on the 25th of April?"


def percentile(values: list[float], share: float) -> float:
    """The ``share`` quantile (0..1) of ``values``, nearest-rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def bench_ingest(data_dir: Path, copies: int) -> dict[str, float]:
    """Ingest ``copies`` variants of the bundled article into a fresh store; chunks per second."""
    settings = Settings(_env_file=None, data_dir=data_dir)
    store = ArticleStore(settings, build_embeddings(settings))
    ingestor = Ingestor(store)
    article = bundled_article()
    started = time.perf_counter()
    for i in range(copies):
        text = f"{article.text}\n\nEdition {i}."  # distinct content, so nothing is skipped as unchanged
        ingestor.ingest_document(LoadedDocument(f"bench/copy-{i}.txt", text, article.title, article.author))
    seconds = time.perf_counter() - started
    return {"chunks": store.count(), "seconds": seconds, "chunks_per_s": store.count() / seconds}


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
    parser.add_argument("--copies", type=int, default=20, help="article copies to ingest")
    parser.add_argument("--rounds", type=int, default=5, help="passes over the dev questions")
    parser.add_argument("--cold-runs", type=int, default=5, help="cold CLI processes")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {
            "ingest": bench_ingest(Path(tmp) / "ingest", args.copies),
            "warm_ask": bench_warm(Path(tmp) / "warm", args.rounds),
            "cold_cli_ask": bench_cold(Path(tmp) / "warm", args.cold_runs),
        }
    if args.json:
        print(json.dumps(results))
        return
    ingest, warm, cold = results["ingest"], results["warm_ask"], results["cold_cli_ask"]
    print(f"ingest          {ingest['chunks_per_s']:.1f} chunks/s  ({ingest['chunks']} chunks, sentences embedded too)")
    print(f"warm ask        p50 {warm['p50_ms']:.1f} ms  p95 {warm['p95_ms']:.1f} ms  ({warm['asks']} answers)")
    print(f"cold CLI ask    {cold['wall_s_median']:.2f} s median wall, {cold['peak_rss_mb']:.0f} MB peak RSS "
          f"({cold['runs']} runs)")


if __name__ == "__main__":
    main()
