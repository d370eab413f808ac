"""Server memory under many distinct rate-limit keys: RSS of a real `articlechat serve` before and after N requests
that each carry a different well-formed session id, then L requests that each carry a different long (--id-chars)
session id, then M first questions (each a new session that is answered).

    .venv/bin/python bench/memory.py [--requests 10000] [--long 3000] [--id-chars 50000] [--answers 500]
                                     [--clients 8] [--url URL --pid PID] [--json]

Without --url it starts `articlechat serve` on a free 127.0.0.1 port over a temporary data directory (the bundled
article, the extractive default, the per-address limit raised so that the per-session limit is what each request
reaches, the default per-session limit). With --url, --pid names the server process whose RSS (with its children) is
read from /proc. Target: < 20 MB growth across the distinct-id requests (both kinds).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import time
from collections import Counter
from pathlib import Path

import httpx
from load import QUESTIONS, own_server

TARGET_MB = 20.0
WARM_UP = 200


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants, in MB (from /proc)."""
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            status = (proc / "status").read_text()
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        pgid = int(stat.rsplit(")", 1)[1].split()[2])
        if int(proc.name) == pid or pgid == os.getpgid(pid):
            total += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
    return total / 1024


async def send(url: str, bodies: list[dict[str, str]], clients: int) -> Counter[int]:
    """POST every body to /api/ask with ``clients`` concurrent connections; the count of each status code."""
    statuses: Counter[int] = Counter()
    queue = iter(bodies)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60.0) as http:

        async def worker() -> None:
            for body in queue:
                statuses[(await http.post("/api/ask", json=body)).status_code] += 1

        await asyncio.gather(*(worker() for _ in range(clients)))
    return statuses


def distinct_ids(count: int, chars: int = 24) -> list[dict[str, str]]:
    """Requests that each name a different session id of ``chars`` characters that no server has issued."""
    pad = "x" * (chars - 24)
    return [{"question": QUESTIONS[i % len(QUESTIONS)], "session_id": secrets.token_urlsafe(18) + pad}
            for i in range(count)]


def first_questions(count: int) -> list[dict[str, str]]:
    """Requests that each start a new session."""
    return [{"question": QUESTIONS[i % len(QUESTIONS)]} for i in range(count)]


def phase(url: str, pid: int, bodies: list[dict[str, str]], clients: int) -> dict[str, object]:
    """Send ``bodies``; the status codes, the rate and the RSS afterwards."""
    started = time.perf_counter()
    status = asyncio.run(send(url, bodies, clients))
    seconds = time.perf_counter() - started
    time.sleep(1.0)
    return {"requests": len(bodies), "status": dict(status), "rps": round(len(bodies) / seconds, 1),
            "rss_mb": round(rss_mb(pid), 1)}


def measure(url: str, pid: int, requests: int, long: int, id_chars: int, answers: int,
            clients: int) -> dict[str, object]:
    """RSS before and after each phase, with the status codes the phases got."""
    asyncio.run(send(url, distinct_ids(WARM_UP) + first_questions(WARM_UP // 4), clients))
    time.sleep(1.0)
    before = round(rss_mb(pid), 1)
    phases = {"distinct ids": phase(url, pid, distinct_ids(requests), clients),
              f"distinct {id_chars:,}-char ids": phase(url, pid, distinct_ids(long, id_chars), clients),
              "first questions": phase(url, pid, first_questions(answers), clients)}
    growth = 0.0
    previous = before
    for name, result in phases.items():
        result["growth_mb"] = round(float(result["rss_mb"]) - previous, 1)
        previous = float(result["rss_mb"])
        growth += result["growth_mb"] if name != "first questions" else 0.0
    return {"rss_before_mb": before, "phases": phases, "growth_ids_mb": round(growth, 1),
            "target_met": growth < TARGET_MB}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=10_000, help="requests with distinct session ids")
    parser.add_argument("--long", type=int, default=3_000, help="requests with distinct long session ids")
    parser.add_argument("--id-chars", type=int, default=50_000, help="length of the long session ids")
    parser.add_argument("--answers", type=int, default=500, help="first questions answered afterwards")
    parser.add_argument("--clients", type=int, default=8, help="concurrent connections")
    parser.add_argument("--url", help="a running server (default: start one); needs --pid")
    parser.add_argument("--pid", type=int, help="the running server's process id")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    if args.url:
        if not args.pid:
            parser.error("--url needs --pid")
        result = measure(args.url.rstrip("/"), args.pid, args.requests, args.long, args.id_chars, args.answers,
                         args.clients)
    else:
        with own_server(ARTICLECHAT_RATE_LIMIT_CLIENT="1000000/minute",
                        ARTICLECHAT_RATE_LIMIT_SESSION="20/minute") as server:
            result = measure(server.url, server.process.pid, args.requests, args.long, args.id_chars, args.answers,
                             args.clients)
    if args.json:
        print(json.dumps(result))
        return
    print(f"RSS before: {result['rss_before_mb']} MB")
    for name, p in result["phases"].items():
        print(f"{p['requests']:>6} requests, {name} ({p['rps']} req/s, status {p['status']}): RSS {p['rss_mb']} MB, "
              f"growth {p['growth_mb']} MB")
    print(f"target (< {TARGET_MB:.0f} MB growth across the distinct ids, {result['growth_ids_mb']} MB): "
          f"{'met' if result['target_met'] else 'missed'}")


if __name__ == "__main__":
    main()
