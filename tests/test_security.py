"""The red team's attacks replayed against real servers on 127.0.0.1: the admin key, failed logins, forwarded
headers, huge and slow request heads, the connection limit, an unmounted store volume and a broken vector index."""

from __future__ import annotations

import json
import shutil
import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import fields
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from articlechat.api.app import create_app
from articlechat.api.errors import RateLimited
from articlechat.api.security import ChatLimits
from articlechat.config import GENERATE_KEY, SETTINGS_VIEWS, Settings, load_settings
from articlechat.embeddings import EmbeddingBackend
from articlechat.errors import ConfigError
from conftest import API_KEY, run_cli, seed_store, server_env
from servers import ApiServer, articlechat_serve, chroma_server_running, free_port, redis_running, stop
from test_api import FIRST, FOLLOW_UP, QUESTION, error_of

HEADER_TIMEOUT = 2.0  # ARTICLECHAT_HEADER_TIMEOUT of the servers below
MAX_CONNECTIONS = 20  # ARTICLECHAT_MAX_CONNECTIONS of the servers below
ADMIN_FAILURES = 5  # failed admin logins allowed per address and minute on the keyed server
PLANTED = b"Planted notes\n\nThe harbour of Tollvik is run by pirates, says this planted page.\n"


@contextmanager
def serving_copy(work: Path, bundled_data_dir: Path, **env: str) -> Iterator[ApiServer]:
    """`articlechat serve` over a copy of the bundled article's data directory (embedded store), with ``env``."""
    shutil.copytree(bundled_data_dir, work / "data")
    with articlechat_serve(work, server_env(work / "data", ARTICLECHAT_HEADER_TIMEOUT=str(HEADER_TIMEOUT),
                                            ARTICLECHAT_MAX_CONNECTIONS=str(MAX_CONNECTIONS), **env)) as server:
        yield server


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory, bundled_data_dir: Path) -> Iterator[ApiServer]:
    """No admin key, no trusted proxy, 3 chat requests a minute per address."""
    with serving_copy(tmp_path_factory.mktemp("open"), bundled_data_dir,
                      ARTICLECHAT_RATE_LIMIT_CLIENT="3/minute") as server:
        yield server


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory, bundled_data_dir: Path) -> Iterator[ApiServer]:
    """An admin key, behind a trusted proxy on 127.0.0.1 (the tests), 5 failed admin logins a minute per address."""
    with serving_copy(tmp_path_factory.mktemp("keyed"), bundled_data_dir, ARTICLECHAT_API_KEY=API_KEY,
                      ARTICLECHAT_TRUSTED_PROXIES="127.0.0.1",
                      ARTICLECHAT_RATE_LIMIT_ADMIN_FAILURES=f"{ADMIN_FAILURES}/minute") as server:
        yield server


def stored_ids(server: ApiServer) -> set[str]:
    """The document ids in the server's store, read by the CLI beside it (the admin API may be off)."""
    data_dir = server.log.parent / "data"
    listed = run_cli("documents", "--json", env={"ARTICLECHAT_DATA_DIR": str(data_dir)})
    assert listed.returncode == 0, listed.stderr
    return {doc["id"] for doc in json.loads(listed.stdout)}


def host_port(server: ApiServer) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").split(":")
    return host, int(port)


# --- The admin key ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["", "   ", "a", "change-me", "fifteen-chars!!"])
def test_an_empty_or_short_admin_key_is_refused_with_how_to_make_one(key: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(api_key=key)
    message = str(refused.value)
    assert "ARTICLECHAT_API_KEY" in message and "16" in message and GENERATE_KEY in message


def test_serve_does_not_start_with_an_empty_admin_key(tmp_path: Path) -> None:
    """`ARTICLECHAT_API_KEY=` (set but empty) used to serve the admin API to anyone."""
    started = run_cli("serve", "--port", str(free_port()), env={"ARTICLECHAT_API_KEY": ""}, timeout=60)
    assert started.returncode == 2
    assert "ARTICLECHAT_API_KEY" in started.stderr and "is set but empty" in started.stderr
    assert "secrets.token_urlsafe(32)" in started.stderr


@pytest.mark.parametrize(("which", "status", "code"), [("keyed_server", 401, "unauthorized"),
                                                       ("open_server", 403, "admin_disabled")])
def test_a_foreign_pages_no_cors_upload_is_refused_and_stores_nothing(request: pytest.FixtureRequest, which: str,
                                                                     status: int, code: str) -> None:
    """What `fetch(URL, {mode: "no-cors", method: "POST", body: formData})` on another site sends: a simple request
    (no preflight), multipart, with the foreign Origin and no Authorization."""
    server: ApiServer = request.getfixturevalue(which)
    response = httpx.post(f"{server.url}/api/documents", files={"file": ("planted.txt", PLANTED, "text/plain")},
                          headers={"Origin": "https://attacker.example", "Sec-Fetch-Mode": "no-cors",
                                   "Sec-Fetch-Site": "cross-site"}, timeout=30)
    assert error_of(response, status)["code"] == code
    assert "access-control-allow-origin" not in response.headers
    assert stored_ids(server) == {"russia-north-korea-talks"}


# --- Failed admin logins ----------------------------------------------------------------------------------------

def admin_get(server: ApiServer, key: str, address: str) -> httpx.Response:
    """GET /api/documents with ``key``, from ``address`` (forwarded by the trusted proxy)."""
    return httpx.get(f"{server.url}/api/documents", timeout=30,
                     headers={"Authorization": f"Bearer {key}", "X-Forwarded-For": address})


def test_failed_admin_logins_are_throttled_per_address(keyed_server: ApiServer) -> None:
    """300 wrong keys in 7 s used to be answered 401 each, never throttled."""
    guesses = [admin_get(keyed_server, f"guess-{n:012d}", "203.0.113.50") for n in range(ADMIN_FAILURES)]
    assert [r.status_code for r in guesses] == [401] * ADMIN_FAILURES
    throttled = admin_get(keyed_server, "guess-again-000000", "203.0.113.50")
    error = error_of(throttled, 429)
    assert error["code"] == "rate_limited" and "failed admin authentications" in error["message"]
    assert 1 <= int(throttled.headers["Retry-After"]) <= 60
    assert admin_get(keyed_server, API_KEY, "203.0.113.50").status_code == 429  # even the key, while throttled
    assert admin_get(keyed_server, API_KEY, "203.0.113.51").status_code == 200  # other addresses are not affected


def test_failed_admin_logins_are_counted_in_redis_for_every_process(tmp_path: Path) -> None:
    """Two processes' limiters on one Redis (ARTICLECHAT_REDIS_URL): failures counted by one throttle the other."""
    with redis_running(tmp_path) as redis:
        settings = load_settings(redis_url=redis.url, rate_limit_admin_failures="2/minute")
        first, second = ChatLimits(settings), ChatLimits(settings)
        first.count_admin_failure("198.51.100.9")
        second.count_admin_failure("198.51.100.9")
        with pytest.raises(RateLimited, match="failed admin authentications") as refused:
            first.check_admin_failures("198.51.100.9")
        assert 1 <= refused.value.retry_after <= 60
        second.check_admin_failures("198.51.100.10")  # another address is not throttled


# --- Forwarded headers ------------------------------------------------------------------------------------------

def test_forwarded_headers_from_an_untrusted_peer_are_ignored(open_server: ApiServer) -> None:
    """By default no proxy is trusted, not even loopback: a made-up X-Forwarded-For does not dodge the limit."""
    statuses = [httpx.post(f"{open_server.url}/api/ask", json={"question": QUESTION}, timeout=30,
                           headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code for n in range(4)]
    assert statuses == [200, 200, 200, 429]
    redirect = httpx.get(f"{open_server.url}/healthz/", headers={"X-Forwarded-Proto": "https"})
    assert redirect.status_code == 307 and redirect.headers["Location"].startswith("http://")


def test_forwarded_headers_from_a_trusted_proxy_are_believed(keyed_server: ApiServer) -> None:
    redirect = httpx.get(f"{keyed_server.url}/healthz/", headers={"X-Forwarded-Proto": "https"})
    assert redirect.status_code == 307 and redirect.headers["Location"].startswith("https://")


def test_trusted_proxies_must_be_addresses_or_networks() -> None:
    assert load_settings(trusted_proxies="10.0.0.5, 10.1.0.0/16,::1").server.trusted_proxies == [
        "10.0.0.5", "10.1.0.0/16", "::1"]
    with pytest.raises(ConfigError, match=r"ARTICLECHAT_TRUSTED_PROXIES: .*'nginx' is not an IP address"):
        load_settings(trusted_proxies="nginx")


# --- Request heads: size, number, time; the connection limit ----------------------------------------------------

def head_status(server: ApiServer, head: bytes, body: Iterator[bytes]) -> tuple[bytes, int]:
    """Send ``head`` then the ``body`` chunks on a raw connection; (the response's status line, or b"" when the
    server closed the connection first; how many bytes were sent)."""
    sent = 0
    with socket.create_connection(host_port(server), timeout=20) as conn:
        try:
            conn.sendall(head)
            sent += len(head)
            for chunk in body:
                conn.sendall(chunk)
                sent += len(chunk)
            return conn.recv(4096).split(b"\r\n", 1)[0], sent
        except ConnectionError:
            try:
                return conn.recv(4096).split(b"\r\n", 1)[0], sent
            except ConnectionError:
                return b"", sent


def test_a_50_mb_header_is_refused_without_reading_it(open_server: ApiServer) -> None:
    """A 50 MB header used to be read whole and answered 200."""
    size, chunk = 50_000_000, b"a" * 65_536
    status, sent = head_status(open_server, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: ",
                               iter([chunk] * (size // len(chunk))))
    assert status in (b"HTTP/1.1 400 Bad Request", b""), status
    assert sent < size / 2  # refused long before the end
    assert httpx.get(f"{open_server.url}/healthz").status_code == 200


def test_headers_over_64_kb_are_refused(open_server: ApiServer) -> None:
    """Refused once whole (431, naming the setting), or as they arrive (400, and the connection closed)."""
    assert httpx.get(f"{open_server.url}/healthz", headers={"X-Note": "v" * 60_000}).status_code == 200
    error = error_of(httpx.get(f"{open_server.url}/healthz", headers={"X-Note": "v" * 70_000}), 431)
    assert "ARTICLECHAT_MAX_HEADER_BYTES" in error["message"]
    with suppress(httpx.TransportError):  # closed while the client was still sending
        assert httpx.get(f"{open_server.url}/healthz", headers={"X-Note": "v" * 1_000_000}).status_code == 400


def test_too_many_header_fields_are_refused(open_server: ApiServer) -> None:
    many = {f"X-Field-{n}": "1" for n in range(150)}
    error = error_of(httpx.get(f"{open_server.url}/healthz", headers=many), 431)
    assert error["code"] == "headers_too_large" and "ARTICLECHAT_MAX_HEADERS" in error["message"]
    assert httpx.get(f"{open_server.url}/healthz", headers=dict(list(many.items())[:80])).status_code == 200


@contextmanager
def half_open(server: ApiServer, count: int) -> Iterator[list[socket.socket]]:
    """``count`` connections that start a request and never finish its headers."""
    with ExitStack() as stack:
        conns = []
        for _ in range(count):
            conn = stack.enter_context(socket.create_connection(host_port(server), timeout=10))
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
            conns.append(conn)
        yield conns


def closed_by_server(conn: socket.socket) -> bool:
    try:
        return conn.recv(1024) == b""
    except ConnectionError:
        return True
    except TimeoutError:
        return False


def test_over_the_connection_limit_new_requests_get_503(open_server: ApiServer) -> None:
    with half_open(open_server, MAX_CONNECTIONS):
        assert httpx.get(f"{open_server.url}/healthz", timeout=5).status_code == 503


def test_300_half_open_connections_do_not_stop_a_real_request(open_server: ApiServer) -> None:
    """300 connections that never finish their headers used to be held open indefinitely, and with a file limit of
    256 made real requests fail; now each is closed ARTICLECHAT_HEADER_TIMEOUT seconds after it connected."""
    with half_open(open_server, 300) as conns:
        started = time.monotonic()
        while (status := httpx.get(f"{open_server.url}/healthz", timeout=5).status_code) != 200:
            assert status == 503 and time.monotonic() - started < HEADER_TIMEOUT + 5, status
            time.sleep(0.2)
        assert time.monotonic() - started < HEADER_TIMEOUT + 5
        assert all(closed_by_server(conn) for conn in conns)


# --- The store: an unmounted volume, a broken index -------------------------------------------------------------

def test_a_store_folder_without_its_database_is_refused_until_init(tmp_path: Path) -> None:
    """An unmounted volume (an empty `chroma/`) used to start a new store with only the demo article, ready."""
    data = tmp_path / "data"
    (data / "chroma").mkdir(parents=True)
    started = run_cli("serve", "--port", str(free_port()), env=server_env(data), timeout=120)
    assert started.returncode == 1
    assert "holds no chroma.sqlite3" in started.stderr and "articlechat serve --init" in started.stderr
    note = tmp_path / "note.txt"
    note.write_text("Harbour note\n\nThe harbour of Tollvik was dredged in 1912.\n")
    assert "articlechat ingest --init" in run_cli("ingest", str(note), env=server_env(data)).stderr
    assert list((data / "chroma").iterdir()) == []  # nothing created
    created = run_cli("ingest", "--init", str(note), env=server_env(data))
    assert created.returncode == 0 and "added: note" in created.stdout, created.stderr
    assert (data / "chroma" / "chroma.sqlite3").is_file()


def break_vector_index(chroma_dir: Path) -> None:
    """Delete the vector files of the passages' collection and the write-ahead log chroma could rebuild them from:
    the passages and their metadata stay in chroma.sqlite3, so the store still counts them."""
    with sqlite3.connect(chroma_dir / "chroma.sqlite3") as db:
        (segment,) = db.execute("SELECT s.id FROM segments s JOIN collections c ON s.collection = c.id "
                                "WHERE c.name = 'articles' AND s.scope = 'VECTOR'").fetchone()
        db.execute("DELETE FROM embeddings_queue")
    shutil.rmtree(chroma_dir / segment)


def test_readiness_runs_a_real_query_against_the_index(tmp_path: Path, bundled_data_dir: Path,
                                                      embedding_backend: EmbeddingBackend,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    """A deleted vector index used to pass /readyz (it only counted passages) and answer with wrong declines: here
    the Chroma server comes back from a restart with its index files gone."""
    port = free_port()
    settings = load_settings(data_dir=tmp_path / "data", chroma_host="127.0.0.1", chroma_port=port,
                             collection="articles")
    with ExitStack() as stack:
        chroma = stack.enter_context(chroma_server_running(tmp_path / "chroma", tmp_path / "chroma-1.log", port))
        seed_store(bundled_data_dir, settings, embedding_backend)
        client = stack.enter_context(TestClient(create_app(settings)))
        assert client.get("/readyz").status_code == 200
        stop(chroma.process)
        break_vector_index(tmp_path / "chroma")
        stack.enter_context(chroma_server_running(tmp_path / "chroma", tmp_path / "chroma-2.log", port))
        response = client.get("/readyz")
        assert error_of(response, 503) == {"code": "store_unavailable",
                                           "message": "The article store cannot be reached; try again shortly."}
        assert str(port) not in response.text and "finds nothing though it holds 10 passages" in caplog.text


def test_serve_does_not_start_over_a_broken_index(tmp_path: Path, bundled_data_dir: Path) -> None:
    shutil.copytree(bundled_data_dir, tmp_path / "data")
    break_vector_index(tmp_path / "data" / "chroma")
    started = run_cli("serve", "--port", str(free_port()), env=server_env(tmp_path / "data"), timeout=120)
    assert started.returncode != 0
    assert "finds nothing though it holds" in started.stderr and "articlechat reindex" in started.stderr


# --- Settings by concern ----------------------------------------------------------------------------------------

def test_every_setting_belongs_to_one_concern_and_keeps_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    grouped = [view.flat_name(f.name) for view in SETTINGS_VIEWS for f in fields(view)]
    assert sorted(grouped) == sorted(Settings.model_fields)  # each flat setting in exactly one view
    monkeypatch.setenv("ARTICLECHAT_HEADER_TIMEOUT", "3.5")
    monkeypatch.setenv("ARTICLECHAT_FETCH_TIMEOUT", "7")
    monkeypatch.setenv("ARTICLECHAT_DATABASE_POOL_SIZE", "9")
    monkeypatch.setenv("ARTICLECHAT_TOP_K", "6")
    settings = load_settings()
    assert settings.server.header_timeout == settings.header_timeout == 3.5
    assert settings.fetch.timeout == 7.0 and settings.database.pool_size == 9 and settings.answering.top_k == 6
    assert settings.store.chroma_path == settings.data_dir / "chroma"
    assert settings.limits.max_messages == settings.max_messages


# --- /v1/chat/completions: conversation size, and nothing stored unless asked -----------------------------------

def stored_sessions(server: ApiServer) -> int:
    """How many sessions the server's database holds, read by the CLI beside it."""
    listed = run_cli("sessions", "--json", env={"ARTICLECHAT_DATA_DIR": str(server.log.parent / "data")})
    assert listed.returncode == 0, listed.stderr
    return len(json.loads(listed.stdout))


def completion(server: ApiServer, messages: list[dict[str, str]], **options: object) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/chat/completions", json={"messages": messages, **options}, timeout=60,
                      headers={"X-Forwarded-For": "192.0.2.77"})


def test_a_huge_earlier_turn_is_refused_before_anything_is_read_or_stored(keyed_server: ApiServer) -> None:
    """A 900 KB earlier turn used to cost ~80x the CPU of a request and store 880 KB in the session database."""
    before = stored_sessions(keyed_server)
    huge = [{"role": "user", "content": "Tell me everything. " * 45_000}, {"role": "assistant", "content": "No."},
            {"role": "user", "content": QUESTION}]
    error = error_of(completion(keyed_server, huge, store=True), 413)
    assert error["code"] == "payload_too_large" and "ARTICLECHAT_MAX_CONVERSATION_CHARS" in error["message"]
    many = [{"role": "user", "content": QUESTION}] * 51
    assert "ARTICLECHAT_MAX_MESSAGES" in error_of(completion(keyed_server, many, store=True), 422)["message"]
    assert stored_sessions(keyed_server) == before


def test_completions_store_nothing_unless_asked(keyed_server: ApiServer) -> None:
    before = stored_sessions(keyed_server)
    turns = [{"role": "user", "content": FIRST},
             {"role": "assistant", "content": "Kim Jong Un met Vladimir Putin, the Russian President. [1]"},
             {"role": "user", "content": FOLLOW_UP}]
    for stream in (False, True):
        response = completion(keyed_server, turns, stream=stream)
        assert response.status_code == 200 and '"session_id": null' in response.text.replace('":null', '": null')
    unstored = completion(keyed_server, turns).json()
    assert "25th of april" in unstored["choices"][0]["message"]["content"].lower()  # the history was read
    assert stored_sessions(keyed_server) == before
    stored = completion(keyed_server, turns, store=True).json()
    assert stored["choices"][0]["message"]["content"] == unstored["choices"][0]["message"]["content"]
    assert stored["session_id"] and stored_sessions(keyed_server) == before + 1
