"""Scale benchmarks. ``--corpus``: a store of >= 500 real documents (the HTML pages of Debian's python3-doc, read
from disk): ingest passages per CPU-second, store size, warm answers p50/p95 over the whole store unscoped and
scoped to one document beside the single-article warm answers of bench/core.py in the same run, and memory:

    .venv/bin/python bench/scale.py --corpus [--docs 500] [--max-chars 4000] [--questions 40] [--json]

Otherwise, a scale-out load test on loopback: the same bounded load (N clients x T seconds of POST /api/ask, see
load.py) against

  1. the embedded store in one process (the default install),
  2. one API worker on a Chroma server (`chroma run`),
  3. --workers N API workers sharing that Chroma server,

printing req/s, p50/p95/p99 latency, errors (must be zero) and the servers' resident memory for each.

    .venv/bin/python bench/scale.py [--workers 2] [--clients 16] [--seconds 10] [--json]

It starts `chroma run` on a free 127.0.0.1 port, ingests the bundled article into it, runs each configuration in turn
on a fresh data directory, and stops every process it started. Exit status 1 when any request failed.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import re
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from core import bench_warm, percentile
from load import own_server, run_load  # also puts tests/ on the path

from articlechat.config import Settings
from articlechat.embeddings import build_embeddings, ingest_threads
from articlechat.errors import ArticlechatError
from articlechat.history import SessionStore
from articlechat.ingest import Ingestor
from articlechat.ingest.load import LoadedDocument, load_file
from articlechat.store import ArticleStore
from servers import ApiServer, ChromaServer, chroma_server_running

if TYPE_CHECKING:
    from articlechat.chain.agent import Agent

READY_LINE = re.compile(r"\bready: .* chunks in the store")  # each worker logs it when its startup is done
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def group_rss_mb(pgid: int) -> float:
    """Resident memory (MB) of every process in process group ``pgid``: a server and its workers."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "pid (comm)": state, ppid, pgrp, ...
        except OSError:  # the process has gone
            continue
        if int(fields[2]) == pgid:
            total += int(fields[21]) * PAGE_BYTES  # rss, in pages
    return round(total / 2**20, 1)


def wait_for_workers(server: ApiServer, workers: int, timeout: float = 180.0) -> None:
    """Until every worker has loaded its models (only ready workers accept connections, so a late one would miss
    the start of the load and serve the rest of it)."""
    deadline = time.monotonic() + timeout
    while len(READY_LINE.findall(server.log.read_text(errors="replace"))) < workers:
        if time.monotonic() > deadline or server.process.poll() is not None:
            raise RuntimeError(f"{workers} workers not ready:\n{server.log.read_text()[-3000:]}")
        time.sleep(0.2)


def ingest_bundled(chroma: ChromaServer, data_dir: Path) -> int:
    """Put the bundled article into the Chroma server's default collection; the number of chunks there."""
    settings = Settings(_env_file=None, data_dir=data_dir, chroma_host=chroma.host, chroma_port=chroma.port)
    store = ArticleStore(settings, build_embeddings(settings))
    Ingestor(store).ensure_bundled_article()
    return store.count()


def measure(label: str, server: ApiServer, workers: int, clients: int, seconds: float) -> dict[str, object]:
    """The load's results on ``server`` and the memory its processes hold afterwards."""
    wait_for_workers(server, workers)
    result = asyncio.run(run_load(server.url, clients, seconds))
    return {"config": label, "workers": workers, **result, "rss_mb": group_rss_mb(server.process.pid)}


def run_scale(workers: int = 2, clients: int = 16, seconds: float = 10.0) -> dict[str, object]:
    """Every configuration's row, and the Chroma server's memory at the end."""
    with own_server() as server:
        rows = [measure("embedded store", server, 1, clients, seconds)]
    with (tempfile.TemporaryDirectory(prefix="articlechat-scale-") as tmp,
          chroma_server_running(Path(tmp) / "chroma", Path(tmp) / "chroma.log") as chroma):
        chunks = ingest_bundled(chroma, Path(tmp) / "ingest")
        env = {"ARTICLECHAT_CHROMA_HOST": chroma.host, "ARTICLECHAT_CHROMA_PORT": str(chroma.port)}
        for count in dict.fromkeys((1, workers)):
            with own_server(count, **env) as server:
                rows.append(measure("Chroma server", server, count, clients, seconds))
        chroma_rss = group_rss_mb(chroma.process.pid)
    return {"rows": rows, "chroma_rss_mb": chroma_rss, "chroma_chunks": chunks}


PYTHON_DOCS = Path("/usr/share/doc/python3-doc/html")  # apt-get install python3-doc


def corpus_documents(count: int, max_chars: int) -> list[LoadedDocument]:
    """The first ``count`` pages of the Python documentation that load, each cut to its first ``max_chars``
    characters (0: whole) so that a run stays short on a small machine."""
    if not PYTHON_DOCS.is_dir():
        raise SystemExit(f"{PYTHON_DOCS} is missing: apt-get install python3-doc")
    docs: list[LoadedDocument] = []
    for path in sorted(PYTHON_DOCS.rglob("*.html")):
        if len(docs) == count:
            break
        try:
            doc = load_file(path, 10**7, PYTHON_DOCS)
        except ArticlechatError:
            continue
        docs.append(dataclasses.replace(doc, text=doc.text[:max_chars]) if max_chars else doc)
    return docs


def _rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))) / 1024


def _timed_answers(agent: Agent, questions: list[tuple[str, str | None]]) -> dict[str, float]:
    for question, doc in questions[:5]:  # warm-up
        agent.ask(question, None, doc)
    timings = []
    for question, doc in questions:
        started = time.perf_counter()
        agent.ask(question, None, doc)
        timings.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": round(statistics.median(timings), 1), "p95_ms": round(percentile(timings, 0.95), 1)}


def run_corpus(count: int, max_chars: int, questions: int) -> dict[str, object]:
    """Ingest the corpus into a fresh embedded store and answer questions about it."""
    from articlechat.chain.agent import Agent

    docs = corpus_documents(count, max_chars)
    with tempfile.TemporaryDirectory(prefix="articlechat-corpus-") as tmp:
        settings = Settings(_env_file=None, data_dir=Path(tmp))
        store = ArticleStore(settings, build_embeddings(settings, ingest_threads(settings)))
        cpu, wall = time.process_time(), time.perf_counter()
        report = Ingestor(store).ingest_documents([(d.id, d) for d in docs])
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        size = sum(f.stat().st_size for f in settings.chroma_path.rglob("*") if f.is_file())
        query_store = ArticleStore(settings, build_embeddings(settings))
        agent = Agent(settings, query_store, SessionStore(settings.sessions_path))
        picked = random.Random(7).sample([d for d in docs if d.title], min(questions, len(docs)))
        asked = [f"What is {d.title.split(' — ')[0]} for?" for d in picked]
        unscoped = _timed_answers(agent, [(q, None) for q in asked])
        scoped = _timed_answers(agent, [(q, d.id) for q, d in zip(asked, picked, strict=True)])
        single = bench_warm(Path(tmp) / "single-article", rounds=2)  # bench/core.py's warm answers, same run
    return {"single_article": {"p50_ms": round(single["p50_ms"], 1), "p95_ms": round(single["p95_ms"], 1)},
            "p95_ratio": {"unscoped": round(unscoped["p95_ms"] / single["p95_ms"], 2),
                          "scoped": round(scoped["p95_ms"] / single["p95_ms"], 2)},
            "documents": len(docs), "failed": len(report.failed), "passages": report.passages,
            "max_chars": max_chars, "ingest_cpu_s": round(cpu, 1), "ingest_wall_s": round(wall, 1),
            "passages_per_cpu_s": round(report.passages / cpu, 1), "store_mb": round(size / 2**20, 1),
            "unscoped": unscoped, "scoped": scoped, "rss_mb": round(_rss_mb()),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def format_rows(rows: list[dict[str, object]]) -> list[str]:
    """A Markdown table of the rows."""
    lines = ["| configuration | workers | req/s | p50 ms | p95 ms | p99 ms | errors | server RSS MB |",
             "|---|--:|--:|--:|--:|--:|--:|--:|"]
    lines += [f"| {r['config']} | {r['workers']} | {r['rps']} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} | "
              f"{r['errors']} | {r['rss_mb']:.0f} |" for r in rows]
    return lines


def format_corpus(r: dict) -> str:
    """The corpus benchmark as a Markdown table."""
    return "\n".join([
        "| documents | passages | ingest | store | answer unscoped p50 / p95 | scoped p50 / p95 | single article "
        "p50 / p95 | RSS (peak) |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|",
        f"| {r['documents']} | {r['passages']} | {r['passages_per_cpu_s']} passages/CPU-s ({r['ingest_cpu_s']} CPU-s, "
        f"{r['ingest_wall_s']} s) | {r['store_mb']} MB | {r['unscoped']['p50_ms']} / {r['unscoped']['p95_ms']} ms | "
        f"{r['scoped']['p50_ms']} / {r['scoped']['p95_ms']} ms | {r['single_article']['p50_ms']} / "
        f"{r['single_article']['p95_ms']} ms | {r['rss_mb']} MB ({r['peak_rss_mb']} MB) |",
        f"p95 over the single article's: unscoped x{r['p95_ratio']['unscoped']}, scoped x{r['p95_ratio']['scoped']}"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2, help="API workers of the scaled-out configuration")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured duration of each configuration")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--corpus", action="store_true", help="the many-documents benchmark instead")
    parser.add_argument("--docs", type=int, default=500, help="documents of the corpus")
    parser.add_argument("--max-chars", type=int, default=4000, help="characters kept per document (0: all)")
    parser.add_argument("--questions", type=int, default=40, help="questions, unscoped and scoped each")
    args = parser.parse_args()
    if args.corpus:
        corpus = run_corpus(args.docs, args.max_chars, args.questions)
        print(json.dumps(corpus) if args.json else format_corpus(corpus))
        return
    result = run_scale(args.workers, args.clients, args.seconds)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"POST /api/ask, {args.clients} clients x {args.seconds:g} s each, loopback")
        print("\n".join(format_rows(result["rows"])))
        print(f"Chroma server: {result['chroma_rss_mb']:.0f} MB RSS, {result['chroma_chunks']} chunks")
    sys.exit(1 if any(r["errors"] for r in result["rows"]) else 0)


if __name__ == "__main__":
    main()
