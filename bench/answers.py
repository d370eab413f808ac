"""Answer speed before and after a change, in one run: warm in-process answers (the dev questions repeated, and
the paraphrase set's questions, not asked before) and a cold `articlechat ask`, each measured for two source trees on
the same machine, alternating, medians over repeats.

    .venv/bin/python bench/answers.py --before /path/to/old/checkout [--repeats 3] [--rounds 3] [--cold-runs 5]

``--before`` is another checkout of articlechat (e.g. `git worktree add /tmp/before <commit>`); "after" is this
one. Each measurement runs in a fresh process with PYTHONPATH pointing at that tree's ``src``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
_RUN = """
import json, sys
from pathlib import Path
sys.path.insert(0, {bench!r})
from core import bench_cold, bench_warm
data = Path({data!r})
print(json.dumps({{"warm": bench_warm(data, {rounds}), "cold": bench_cold(data, {cold_runs})}}))
"""


def measure(tree: Path, data_dir: Path, rounds: int, cold_runs: int) -> dict:
    """Warm and cold figures for the code in ``tree`` (its own data directory, made on first use)."""
    code = _RUN.format(bench=str(HERE), data=str(data_dir), rounds=rounds, cold_runs=cold_runs)
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "ARTICLECHAT_DATA_DIR": str(data_dir)}
    result = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="the other checkout")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3, help="passes over the dev questions per warm measurement")
    parser.add_argument("--cold-runs", type=int, default=3, help="cold CLI processes per measurement")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    trees = {"before": args.before.resolve(), "after": HERE.parent}
    runs: dict[str, list[dict]] = {label: [] for label in trees}
    with tempfile.TemporaryDirectory(prefix="articlechat-answers-") as tmp:
        for _ in range(args.repeats):
            for label, tree in trees.items():  # alternating, so both see the same machine load
                runs[label].append(measure(tree, Path(tmp) / label, args.rounds, args.cold_runs))
    summary = {label: {"warm_p50_ms": statistics.median(r["warm"]["p50_ms"] for r in found),
                       "warm_p95_ms": statistics.median(r["warm"]["p95_ms"] for r in found),
                       "fresh_p50_ms": statistics.median(r["warm"]["fresh_p50_ms"] for r in found),
                       "cold_wall_s": statistics.median(r["cold"]["wall_s_median"] for r in found),
                       "cold_peak_rss_mb": max(r["cold"]["peak_rss_mb"] for r in found)}
               for label, found in runs.items()}
    ratios = {key: summary["after"][key] / summary["before"][key]
              for key in ("warm_p50_ms", "fresh_p50_ms", "cold_wall_s")}
    if args.json:
        print(json.dumps({"summary": summary, "ratios": ratios}))
        return
    for label, figures in summary.items():
        print(f"{label:<6}  warm p50 {figures['warm_p50_ms']:.1f} ms  p95 {figures['warm_p95_ms']:.1f} ms  "
              f"new questions p50 {figures['fresh_p50_ms']:.1f} ms  cold ask {figures['cold_wall_s']:.2f} s  "
              f"peak RSS {figures['cold_peak_rss_mb']:.0f} MB")
    print(f"after/before: warm p50 x{ratios['warm_p50_ms']:.2f}, new questions p50 x{ratios['fresh_p50_ms']:.2f}, "
          f"cold ask x{ratios['cold_wall_s']:.2f} "
          f"(medians of {args.repeats} alternating repeats)")


if __name__ == "__main__":
    main()
