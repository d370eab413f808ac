"""Every benchmark in one command, one table: ingest throughput, warm in-process answers, a cold CLI ask, and the API
under load with the embedded store and with 1 and N workers on a Chroma server, with memory and the machine it ran on.

    .venv/bin/python bench/run.py [--quick] [--workers 2] [--clients 16] [--seconds 10] [--rounds 5]
                                  [--cold-runs 5] [--json]

The default run takes about a minute on a 2-core machine; --quick, about half a minute. The table is Markdown, ready
for the README. The machines are shared and noisy: compare numbers from one run, not across runs. Exit status 1 when
any API request failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from core import bench_cold, bench_ingest, bench_warm
from scale import run_scale

QUICK = {"rounds": 2, "cold_runs": 3, "seconds": 4.0}


def machine() -> dict[str, object]:
    """What the numbers were measured on."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")),
                 platform.processor() or "unknown CPU")
    meminfo = Path("/proc/meminfo").read_text().split()
    return {"cpu": model, "cores": len(os.sched_getaffinity(0)),
            "ram_gb": round(int(meminfo[meminfo.index("MemTotal:") + 1]) / 2**20, 1),
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%d"),
            "load_before": round(os.getloadavg()[0], 2)}


def run_all(args: argparse.Namespace) -> dict[str, object]:
    """Run every benchmark with the options given."""
    info = machine()
    with tempfile.TemporaryDirectory(prefix="articlechat-bench-") as tmp:
        core = {"ingest": bench_ingest(Path(tmp) / "ingest"),
                "warm_ask": bench_warm(Path(tmp) / "warm", args.rounds),
                "cold_cli_ask": bench_cold(Path(tmp) / "warm", args.cold_runs)}
    return {"machine": info, **core, "api": run_scale(args.workers, args.clients, args.seconds)}


def table(results: dict) -> list[str]:
    """The results as one Markdown table."""
    ingest, warm, cold, api = results["ingest"], results["warm_ask"], results["cold_cli_ask"], results["api"]
    lines = ["| benchmark | throughput | p50 | p95 | p99 | errors | memory (RSS) |", "|---|--:|--:|--:|--:|--:|--:|",
             *(f"| ingest {label}, embedded store ({ingest[label]['passages']} passages, {ingest['documents']} docs) "
               f"| {ingest[label]['passages_per_cpu_s']:.1f} passages/CPU-s, {ingest[label]['passages_per_s']:.1f}/s "
               "| | | | | |" for label in ("before", "after")),
             f"| ask in process, warm ({warm['asks']} answers) | | {warm['p50_ms']:.1f} ms | {warm['p95_ms']:.1f} ms "
             "| | | |",
             f"| `articlechat ask`, cold process (median of {cold['runs']}) | | {cold['wall_s_median']:.2f} s wall "
             f"| | | | {cold['peak_rss_mb']:.0f} MB peak |"]
    for row in api["rows"]:
        workers = f"{row['workers']} worker{'s' if row['workers'] > 1 else ''}"
        lines.append(f"| API `POST /api/ask`, {row['config']}, {workers} | {row['rps']} req/s | {row['p50_ms']} ms "
                     f"| {row['p95_ms']} ms | {row['p99_ms']} ms | {row['errors']} | {row['rss_mb']:.0f} MB |")
    lines.append(f"| Chroma server (`chroma run`) | | | | | | {api['chroma_rss_mb']:.0f} MB |")
    return lines


def describe(results: dict, args: argparse.Namespace) -> str:
    """The machine line and how the API load was run."""
    m = results["machine"]
    return (f"{m['date']}: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM, Python {m['python']}, load average "
            f"{m['load_before']} at the start. API load: {args.clients} clients for {args.seconds:g} s per "
            "configuration on loopback, the extractive default, each worker's models loaded before it starts.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"a shorter run: {QUICK} unless given")
    parser.add_argument("--workers", type=int, default=2, help="API workers of the scaled-out configuration")
    parser.add_argument("--clients", type=int, default=16, help="concurrent API clients")
    parser.add_argument("--seconds", type=float, help="measured API load per configuration (default 10)")
    parser.add_argument("--rounds", type=int, help="passes over the dev questions in process (default 5)")
    parser.add_argument("--cold-runs", type=int, help="cold CLI processes (default 5)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    defaults = QUICK if args.quick else {"rounds": 5, "cold_runs": 5, "seconds": 10.0}
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    results = run_all(args)
    if args.json:
        print(json.dumps(results))
    else:
        print("\n".join(table(results)))
        print()
        print(describe(results, args))
    sys.exit(1 if any(row["errors"] for row in results["api"]["rows"]) else 0)


if __name__ == "__main__":
    main()
