"""Benchmark the offline core: ingest throughput, warm in-process answer latency, cold CLI ask (wall time, peak RSS).

    .venv/bin/python bench/core.py [--json] [--rounds 5] [--cold-runs 5] [--before REV] [--repeats 3] [--ingest-only]

Ingest is measured before (the code of git revision REV, exported from this repository) and after (this checkout),
each in fresh processes, in turns, in the same run.

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
from articlechat.ingest import Ingestor
from articlechat.store import ArticleStore

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ARTICLECHAT_SHARED", REPO.parent / "shared"))  # ../shared
BUNDLED_FILE = REPO / "src" / "articlechat" / "data" / "articles" / "russia-north-korea-talks.txt"
BEFORE_REVISION = "5652255"  # the code before the ingest work of issue 11 (one document at a time, one thread)
DEV_SET = SHARED / "eval" / "qa_dev.jsonl"
FRESH_SET = REPO / "tests" / "data" / "qa_paraphrase.jsonl"
SQUAD_ARTICLES = DEV_SET.parent / "squad-dev" / "articles"
COLD_QUESTION = "Who did Kim Jong Un meet on the 25th of April?"


def percentile(values: list[float], share: float) -> float:
    """The ``share`` quantile (0..1) of ``values``, nearest-rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def bench_files() -> list[Path]:
    """Real, distinct articles as files: the bundled op-ed and the Wikipedia articles of the SQuAD dev set."""
    return [BUNDLED_FILE, *sorted(SQUAD_ARTICLES.glob("*.txt"))]


def export_src(revision: str, target: Path) -> Path:
    """The ``src`` folder of ``revision`` of this repository, exported into ``target`` (no worktree is made)."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", revision, "src"], check=True, capture_output=True)
    target.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target / "src"


def _ingest_once(src: Path, data_dir: Path) -> dict[str, float]:
    """One ingest of the bench files into a fresh store by the code in ``src``, in a process of its own."""
    command = [sys.executable, str(Path(__file__).with_name("ingest_once.py")), str(data_dir),
               *map(str, bench_files())]
    env = {**os.environ, "PYTHONPATH": str(src)}
    return json.loads(subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout)


def _medians(runs: list[dict[str, float]]) -> dict[str, object]:
    cpu = statistics.median(r["cpu_s"] for r in runs)
    wall = statistics.median(r["wall_s"] for r in runs)
    passages = runs[0]["passages"]
    return {"passages": passages, "repeats": len(runs), "cpu_s": round(cpu, 2), "wall_s": round(wall, 2),
            "cpu_s_runs": [round(r["cpu_s"], 2) for r in runs],
            "passages_per_cpu_s": round(passages / cpu, 1), "passages_per_s": round(passages / wall, 1)}


def bench_ingest(data_dir: Path, before: str = BEFORE_REVISION, repeats: int = 3) -> dict[str, object]:
    """Ingest the same real articles into fresh stores with the code of revision ``before`` and with this checkout's
    code, in turns (``repeats`` times each, so that both see the same load), the way `articlechat ingest` runs in
    each version. Medians of passages per CPU-second (sentence vectors included) and per second of wall time."""
    runs: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    srcs = {"before": export_src(before, data_dir / "before-src"), "after": REPO / "src"}
    for repeat in range(repeats):
        for label, src in srcs.items():
            runs[label].append(_ingest_once(src, data_dir / f"{label}-{repeat}"))
    result = {label: _medians(r) for label, r in runs.items()}
    after, earlier = result["after"], result["before"]
    return {"documents": len(bench_files()), "revision": before, **result,
            "cpu_speedup": round(earlier["cpu_s"] / after["cpu_s"] * after["passages"] / earlier["passages"], 2),
            "wall_speedup": round(after["passages_per_s"] / earlier["passages_per_s"], 2),
            "chunks": after["passages"], "chunks_per_s": after["passages_per_s"]}


def dev_questions() -> list[list[str]]:
    """The turns of every item of the development set."""
    return [json.loads(line)["turns"] for line in DEV_SET.read_text().splitlines() if line.strip()]


def fresh_questions() -> list[list[str]]:
    """The turns of the paraphrase set's items: questions the warm rounds have not asked."""
    return [json.loads(line)["turns"] for line in FRESH_SET.read_text().splitlines() if line.strip()]


def _timed_asks(agent: object, items: list[list[str]]) -> list[float]:
    """Milliseconds per ask, each item's turns in one session."""
    timings = []
    for turns in items:
        session = None
        for question in turns:
            started = time.perf_counter()
            session = agent.ask(question, session).session_id  # type: ignore[attr-defined]
            timings.append((time.perf_counter() - started) * 1000)
    return timings


def bench_warm(data_dir: Path, rounds: int) -> dict[str, float]:
    """Full in-process answers (retrieval + extraction + session write) over the dev questions, after a warm-up
    round; then, once each, questions not asked before (what caches of earlier questions cannot spare)."""
    from articlechat.chain.agent import Agent

    settings = Settings(_env_file=None, data_dir=data_dir)
    store = ArticleStore(settings, build_embeddings(settings))
    Ingestor(store).ensure_bundled_article()
    agent = Agent(settings, store, SessionStore(settings.sessions_path))
    _timed_asks(agent, dev_questions())  # round 0 warms caches up
    timings = [t for _ in range(rounds) for t in _timed_asks(agent, dev_questions())]
    fresh = _timed_asks(agent, fresh_questions())
    return {"asks": len(timings), "p50_ms": statistics.median(timings), "p95_ms": percentile(timings, 0.95),
            "fresh_asks": len(fresh), "fresh_p50_ms": statistics.median(fresh)}


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
    parser.add_argument("--before", default=BEFORE_REVISION, help="git revision whose ingest is the 'before'")
    parser.add_argument("--repeats", type=int, default=3, help="ingests of each version (medians are reported)")
    parser.add_argument("--ingest-only", action="store_true", help="only the ingest benchmark")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results: dict[str, dict] = {"ingest": bench_ingest(Path(tmp) / "ingest", args.before, args.repeats)}
        if not args.ingest_only:
            results["warm_ask"] = bench_warm(Path(tmp) / "warm", args.rounds)
            results["cold_cli_ask"] = bench_cold(Path(tmp) / "warm", args.cold_runs)
    if args.json:
        print(json.dumps(results))
        return
    ingest = results["ingest"]
    for label in ("before", "after"):
        run = ingest[label]
        print(f"ingest {label:<7}  {run['passages_per_cpu_s']:.1f} passages/CPU-s  {run['passages_per_s']:.1f} "
              f"passages/s  ({run['passages']} passages with their sentence vectors; median of {run['repeats']}, "
              f"CPU-s {run['cpu_s_runs']})")
    print(f"ingest ratio    {ingest['cpu_speedup']:.2f}x passages per CPU-second, {ingest['wall_speedup']:.2f}x per "
          f"second (before: revision {ingest['revision']})")
    if "warm_ask" in results:
        warm, cold = results["warm_ask"], results["cold_cli_ask"]
        print(f"warm ask        p50 {warm['p50_ms']:.1f} ms  p95 {warm['p95_ms']:.1f} ms  ({warm['asks']} answers)")
        print(f"cold CLI ask    {cold['wall_s_median']:.2f} s median wall, {cold['peak_rss_mb']:.0f} MB peak RSS "
              f"({cold['runs']} runs)")

if __name__ == "__main__":
    main()
