"""One ingest of the benchmark articles into a fresh store, by whatever articlechat is importable; prints JSON.

    PYTHONPATH=SRC python bench/ingest_once.py DATA_DIR FILE...

`bench/core.py` runs this once per repeat for the code being measured and for an earlier revision of it (its `src`
exported from git), so that both are measured the way `articlechat ingest` runs in that version, in one benchmark
run. It uses only what every version has: settings, `runtime.open_store` and `Ingestor.ingest_paths`.
"""

from __future__ import annotations

import inspect
import json
import sys
import time
from pathlib import Path

from articlechat.config import Settings
from articlechat.ingest import Ingestor
from articlechat.runtime import open_store


def main() -> None:
    data_dir, files = Path(sys.argv[1]), [Path(f) for f in sys.argv[2:]]
    settings = Settings(_env_file=None, data_dir=data_dir)
    ingesting = "ingesting" in inspect.signature(open_store).parameters  # as `articlechat ingest` opens it
    store = open_store(settings, ingesting=True) if ingesting else open_store(settings)
    store.backend.vectors(["warm-up"])  # the model's first run allocates; not part of an ingest's work
    cpu, wall = time.process_time(), time.perf_counter()
    report = Ingestor(store).ingest_paths(files)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if report.failed:
        raise SystemExit(f"ingest failed: {report.failed}")
    print(json.dumps({"passages": store.count(), "cpu_s": cpu, "wall_s": wall}))


if __name__ == "__main__":
    main()
