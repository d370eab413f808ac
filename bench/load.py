"""Load-test POST /api/ask on loopback: N concurrent clients for T seconds, then stop and report.

    .venv/bin/python bench/load.py [--clients 16] [--seconds 10] [--rate 0] [--url URL] [--json]

Without --url it starts `articlechat serve` on a free 127.0.0.1 port over a temporary data directory (the bundled
article, the extractive default, rate limits off) and stops it afterwards. With --url, the server's rate limits must
allow the load (ARTICLECHAT_RATE_LIMIT_CLIENT= and ARTICLECHAT_RATE_LIMIT_SESSION= switch them off).
Each request is a first question (a new session), cycling through answerable and unanswerable questions.
Closed loop by default: each client sends its next request as soon as it has the answer, so the req/s is the server's
capacity and latency grows with the queue (clients / throughput). --rate R paces the clients to offer R req/s in total
(open loop); latency then counts from each request's scheduled time, so a server that falls behind is not flattered.
Target on a 2-core machine: >= 80 req/s with 16 clients, p95 <= 100 ms, no errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from servers import ApiServer, articlechat_serve  # the test suite's server launcher

QUESTIONS = [
    "Who did Kim Jong Un meet on the 25th of April?",
    "What ended the summit between Kim and Trump without agreement?",
    "Which body approved the sanctions that Russia says it enforces?",
    "Is aviation fuel allowed to be shipped to North Korea?",
    "What is the author's overall verdict on the talks?",
    "What is the GDP of North Korea?",
    "Since when has Russia had little say over the Korean peninsula?",
    "Who is the current Secretary-General of the United Nations?",
]
WARM_UP_SECONDS = 1.0
TARGET = {"rps": 80.0, "p95_ms": 100.0, "errors": 0}


@contextmanager
def own_server(workers: int = 1, **env: str) -> Iterator[ApiServer]:
    """`articlechat serve --workers N` on a free port over a fresh data directory (the bundled article, the extractive
    default, rate limits off, the embedded store unless ``env`` names a Chroma server); stopped afterwards."""
    with tempfile.TemporaryDirectory(prefix="articlechat-load-") as tmp:
        env = {"ARTICLECHAT_DATA_DIR": str(Path(tmp) / "data"), "ARTICLECHAT_LLM": "extractive",
               "ARTICLECHAT_RATE_LIMIT_CLIENT": "", "ARTICLECHAT_RATE_LIMIT_SESSION": "",
               "ARTICLECHAT_CHROMA_HOST": "", **env}
        with articlechat_serve(Path(tmp), env, "--workers", str(workers), timeout=180) as server:
            yield server


async def ask_once(http: httpx.AsyncClient, question: str) -> str | None:
    """POST one question; an error description, or None on success."""
    try:
        response = await http.post("/api/ask", json={"question": question})
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None if response.status_code == 200 else f"HTTP {response.status_code}: {response.text[:200]}"


async def client(http: httpx.AsyncClient, number: int, clients: int, until: float, interval: float,
                 latencies: list[float], errors: list[str]) -> float:
    """Ask questions until ``until``: every ``interval`` seconds, or back to back when it is 0. Returns the time
    the last request was sent (later than scheduled when the server could not keep up)."""
    next_at = sent = time.perf_counter() + interval * number / clients  # paced clients take turns
    while next_at < until:
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        sent = time.perf_counter()
        scheduled = next_at if interval else sent
        error = await ask_once(http, QUESTIONS[number % len(QUESTIONS)])
        if error:
            errors.append(error)
        else:
            latencies.append(time.perf_counter() - scheduled)
        number += clients
        next_at = next_at + interval if interval else time.perf_counter()
    return sent


async def run_load(url: str, clients: int, seconds: float, rate: float = 0.0) -> dict[str, float]:
    """Warm up, then run ``clients`` concurrent clients for ``seconds``, offering ``rate`` req/s (0: flat out)."""
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    interval = clients / rate if rate else 0.0
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30.0) as http:
        warm_until = time.perf_counter() + WARM_UP_SECONDS
        await asyncio.gather(*(client(http, n, clients, warm_until, 0.0, [], []) for n in range(clients)))
        latencies: list[float] = []
        errors: list[str] = []
        started = time.perf_counter()
        last_sent = await asyncio.gather(*(client(http, n, clients, started + seconds, interval, latencies, errors)
                                           for n in range(clients)))
        # Flat out: until the last answer. Paced: the schedule's length, longer if sending fell behind it.
        elapsed = max(seconds, max(last_sent) - started) if interval else time.perf_counter() - started
    for error in sorted(set(errors))[:5]:
        print(f"error: {error}", file=sys.stderr)
    cuts = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else [0.0] * 99
    return {"clients": clients, "offered_rps": rate or None, "seconds": round(elapsed, 2),
            "requests": len(latencies), "errors": len(errors),
            "rps": round(len(latencies) / elapsed, 1), "p50_ms": round(cuts[49] * 1000, 1),
            "p95_ms": round(cuts[94] * 1000, 1), "p99_ms": round(cuts[98] * 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running server (default: start one)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured duration")
    parser.add_argument("--rate", type=float, default=0.0, help="total req/s to offer (default: flat out)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    if args.url:
        result = asyncio.run(run_load(args.url.rstrip("/"), args.clients, args.seconds, args.rate))
    else:
        with own_server() as server:
            result = asyncio.run(run_load(server.url, args.clients, args.seconds, args.rate))
    met = (result["rps"] >= TARGET["rps"] and result["p95_ms"] <= TARGET["p95_ms"]
           and result["errors"] <= TARGET["errors"])
    if args.json:
        print(json.dumps({**result, "target_met": met}))
        return
    offered = f" offering {args.rate:g} req/s" if args.rate else " flat out"
    print(f"POST /api/ask  {result['clients']} clients{offered} x {result['seconds']} s: {result['requests']} answers, "
          f"{result['rps']} req/s, p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, p99 {result['p99_ms']} ms, "
          f"{result['errors']} errors")
    print(f"target (>= {TARGET['rps']:.0f} req/s, p95 <= {TARGET['p95_ms']:.0f} ms, no errors): "
          f"{'met' if met else 'missed'}")


if __name__ == "__main__":
    main()
