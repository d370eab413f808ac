"""Scale-out load test on loopback: the same bounded load (N clients x T seconds of POST /api/ask, see load.py) against

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
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from load import own_server, run_load  # also puts tests/ on the path

from articlechat.config import Settings
from articlechat.embeddings import build_embeddings
from articlechat.ingest import Ingestor
from articlechat.store import ArticleStore
from servers import ApiServer, ChromaServer, chroma_server_running

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


def format_rows(rows: list[dict[str, object]]) -> list[str]:
    """A Markdown table of the rows."""
    lines = ["| configuration | workers | req/s | p50 ms | p95 ms | p99 ms | errors | server RSS MB |",
             "|---|--:|--:|--:|--:|--:|--:|--:|"]
    lines += [f"| {r['config']} | {r['workers']} | {r['rps']} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} | "
              f"{r['errors']} | {r['rss_mb']:.0f} |" for r in rows]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2, help="API workers of the scaled-out configuration")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured duration of each configuration")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
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
