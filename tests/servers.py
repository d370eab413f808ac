"""Start real servers on 127.0.0.1 for tests: a free port, readiness polling, always stopped."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest


def required_program(program: str, package: str) -> Path:
    """The path of ``program`` (a name on PATH, or a path), which a test needs to start a real server or browser.

    Missing, the test is skipped, or fails when the environment variable ``CI`` is set: CI must run every test.
    ``package`` names the Debian package to install (scripts/install --dev installs its list of them).
    """
    found = shutil.which(program)
    if found:
        return Path(found)
    message = f"{program} is not installed (apt-get install {package}, or scripts/install --dev)"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI is set, so this test fails instead of skipping", pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_ready(url: str, process: subprocess.Popen, timeout: float, log: Path) -> None:
    """Poll ``url`` until it answers below 500, or fail with the server's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready after {timeout}s:\n{log.read_text()[-3000:]}")


def wait_for_port(port: int, process: subprocess.Popen, timeout: float, log: Path) -> None:
    """Wait until 127.0.0.1:``port`` accepts connections, or fail with the server's log."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server not listening on {port}:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.1)


def stop(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM the server's process group, then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout)


@contextmanager
def running_server(command: list[str], ready_url: str, log: Path, env: dict[str, str] | None = None,
                   timeout: float = 60.0) -> Iterator[subprocess.Popen]:
    """Run ``command`` until the block ends; yields the process once ``ready_url`` answers."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                                   start_new_session=True)
    try:
        wait_until_ready(ready_url, process, timeout, log)
        yield process
    finally:
        stop(process)


class ApiServer(NamedTuple):
    """A running `articlechat serve`."""

    url: str
    process: subprocess.Popen  # the leader of its own process group (with --workers N, the workers are in it too)
    log: Path


@contextmanager
def articlechat_serve(work: Path, env: dict[str, str], *options: str, timeout: float = 120.0) -> Iterator[ApiServer]:
    """`articlechat serve OPTIONS` on a free 127.0.0.1 port with ``env`` (log: ``work/server.log``), once /readyz
    answers; stopped when the block ends."""
    port = free_port()
    command = [sys.executable, "-m", "articlechat", "serve", "--host", "127.0.0.1", "--port", str(port), *options]
    url, log = f"http://127.0.0.1:{port}", work / "server.log"
    with running_server(command, f"{url}/readyz", log, env=env, timeout=timeout) as process:
        yield ApiServer(url, process, log)


CHROMA_CLI = Path(sys.executable).with_name("chroma")  # installed with chromadb


@dataclass
class ChromaServer:
    """A running `chroma run`."""

    port: int
    path: Path  # where it persists
    process: subprocess.Popen
    host: str = "127.0.0.1"


@contextmanager
def chroma_server_running(path: Path, log: Path, port: int | None = None) -> Iterator[ChromaServer]:
    """`chroma run` on 127.0.0.1 (a free port unless given), persisting under ``path``; stopped when the block ends."""
    port = port or free_port()
    command = [str(CHROMA_CLI), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)]
    with running_server(command, f"http://127.0.0.1:{port}/api/v2/heartbeat", log) as process:
        yield ChromaServer(port, path, process)


PG_BIN = Path("/usr/lib/postgresql/15/bin")


@contextmanager
def postgres_running() -> Iterator[str]:
    """PostgreSQL 15 (Debian's) in a fresh cluster in a temporary directory on a free 127.0.0.1 port, run as user
    postgres when this is root; yields a ``postgresql://`` URL; stopped and removed when the block ends."""
    required_program(str(PG_BIN / "initdb"), "postgresql")
    data, port = Path(tempfile.mkdtemp(prefix="articlechat-pg-")), free_port()
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(data, "postgres")
    subprocess.run([*as_user, str(PG_BIN / "initdb"), "-D", str(data), "-U", "articlechat", "--auth=trust", "-E",
                    "UTF8"], check=True, capture_output=True)
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run([*as_user, str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(data / "log"),
                    "-w", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://articlechat@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


@dataclass
class RedisServer:
    """A running redis-server."""

    port: int
    process: subprocess.Popen

    @property
    def url(self) -> str:
        """Its ``redis://`` URL (database 0)."""
        return f"redis://127.0.0.1:{self.port}/0"


@contextmanager
def redis_running(work: Path, port: int | None = None) -> Iterator[RedisServer]:
    """Debian's redis-server on 127.0.0.1 (a free port unless given), no persistence, log ``work/redis.log``;
    stopped when the block ends (also when a test stopped it earlier)."""
    binary = required_program("redis-server", "redis-server")
    port = port or free_port()
    command = [str(binary), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
               "--dir", str(work)]
    log = work / "redis.log"
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_port(port, process, 20.0, log)
        yield RedisServer(port, process)
    finally:
        stop(process)
