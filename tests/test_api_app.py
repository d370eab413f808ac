"""The app factory in this process: admin disabled without a key, a stream stopped by a client that leaves (real
uvicorn in a thread), a failure in mid-stream, readiness with a Chroma server, model-call metrics with a real model."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from articlechat.api import create_app
from articlechat.chain.agent import Agent, Composed, Token
from articlechat.chain.extractive import ExtractiveAnswerer, quote
from articlechat.chain.grounding import Grounding
from articlechat.config import Settings, load_settings
from articlechat.embeddings import EmbeddingBackend
from articlechat.errors import BackendError
from articlechat.history import SessionStore, Turn
from articlechat.store import ArticleStore
from conftest import LlamaServer, chroma_server_running, use_model_server
from servers import free_port, stop
from test_api import QUESTION, error_of, sse_events

PIECES = 40
PAUSE = 0.05


class SlowAnswerer(ExtractiveAnswerer):
    """The extractive answer streamed in many pieces with a pause between them (as a model writes); with
    ``fail_after``, it fails after that many pieces."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.fail_after = fail_after
        self.produced = 0
        self.abandoned = threading.Event()

    def compose(self, question: str, history: list[Turn], grounding: Grounding) -> Generator[Token, None, Composed]:
        try:
            for n in range(PIECES):
                if n == self.fail_after:
                    raise BackendError("The model server went away.")
                time.sleep(PAUSE)
                self.produced += 1
                yield Token(f"{n} ")
        except GeneratorExit:
            self.abandoned.set()
            raise
        return Composed(*quote(grounding))


def slow_agent(settings: Settings, store: ArticleStore, fail_after: int | None = None) -> tuple[Agent, SlowAnswerer]:
    """The extractive agent with a :class:`SlowAnswerer`."""
    answerer = SlowAnswerer(fail_after)
    return Agent(settings, store, SessionStore(settings.sessions_path), answerer), answerer


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """``app`` under a real uvicorn on a free loopback port, in a thread; stopped when the block ends."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(15)


@pytest.fixture
def seeded_settings(seeded_data_dir: Path) -> Settings:
    return load_settings(data_dir=seeded_data_dir, api_key=None, rate_limit_client="", rate_limit_session="")


def test_admin_routes_are_disabled_without_a_key(seeded_settings: Settings, agent: Agent) -> None:
    with TestClient(create_app(seeded_settings, agent=agent)) as client:
        for response in (client.get("/api/documents"),
                         client.get("/api/documents", headers={"Authorization": "Bearer anything"}),
                         client.delete("/api/documents/x.txt"),
                         client.post("/api/documents", files={"file": ("a.txt", b"text")})):
            error = error_of(response, 403)
            assert error["code"] == "admin_disabled" and "ARTICLECHAT_API_KEY" in error["message"]
        assert client.post("/api/ask", json={"question": QUESTION}).status_code == 200  # chat stays public


def test_a_client_that_leaves_stops_the_answer(seeded_settings: Settings,
                                               embedding_backend: EmbeddingBackend) -> None:
    agent, answerer = slow_agent(seeded_settings, ArticleStore(seeded_settings, embedding_backend))
    with serving(create_app(seeded_settings, agent=agent)) as url, httpx.Client(base_url=url, timeout=30) as http:
        with http.stream("POST", "/api/ask/stream", json={"question": QUESTION}) as response:
            assert response.status_code == 200
            lines = response.iter_lines()
            assert next(lines) == "event: token"
        assert answerer.abandoned.wait(PIECES * PAUSE), "the agent's stream was not closed"
        assert answerer.produced < PIECES / 2
        sessions = agent.sessions.list()
        assert sessions == []  # nothing half-answered was recorded, not even an empty session
        metrics = http.get("/metrics").text
        assert "articlechat_stream_disconnects_total 1.0" in metrics


def test_a_failure_mid_stream_is_an_error_event(seeded_settings: Settings, embedding_backend: EmbeddingBackend,
                                                caplog: pytest.LogCaptureFixture) -> None:
    agent, _ = slow_agent(seeded_settings, ArticleStore(seeded_settings, embedding_backend), fail_after=3)
    with TestClient(create_app(seeded_settings, agent=agent)) as client:
        events = sse_events(client.post("/api/ask/stream", json={"question": QUESTION}))
        assert [name for name, _ in events] == ["token"] * 3 + ["error"]
        error = json.loads(events[-1][1])["error"]
        assert error["code"] == "backend_error" and "server log" in error["message"]
    assert "The model server went away." in caplog.text  # the detail is logged, not shown


def test_readiness_follows_the_store(tmp_path: Path) -> None:
    """With a Chroma server: ready while it answers (the bundled article ingested into it), 503 once it is gone."""
    with chroma_server_running(tmp_path / "chroma", tmp_path / "chroma.log") as chroma:
        settings = load_settings(data_dir=tmp_path / "data", chroma_host=chroma.host, chroma_port=chroma.port)
        with TestClient(create_app(settings)) as client:
            ready = client.get("/readyz")
            assert ready.status_code == 200 and ready.json()["chunks"] >= 10
            stop(chroma.process)
            error = error_of(client.get("/readyz"), 503)
            assert error["code"] == "store_unavailable" and "cannot be reached" in error["message"]
            assert client.get("/healthz").status_code == 200  # alive, just not ready


def test_model_calls_are_timed_with_a_real_model_server(monkeypatch: pytest.MonkeyPatch, seeded_data_dir: Path,
                                                        llama_server: LlamaServer) -> None:
    use_model_server(monkeypatch, llama_server.base_url)
    with TestClient(create_app(load_settings(data_dir=seeded_data_dir))) as client:
        answer = client.post("/api/ask", json={"question": QUESTION}).json()
        assert answer["backend"] == "openai" and not answer["fallback"]
        declined = client.post("/api/ask", json={"question": "Who won the football world cup in 2018?"}).json()
        assert not declined["answered"]
        metrics = client.get("/metrics").text
    assert 'articlechat_model_call_duration_seconds_count{outcome="ok"} 1.0' in metrics  # none for the decline
    assert 'articlechat_answers_total{backend="openai",outcome="answered"} 1.0' in metrics
    assert 'articlechat_answers_total{backend="openai",outcome="declined"} 1.0' in metrics


def test_every_domain_error_has_its_status_in_one_table(caplog: pytest.LogCaptureFixture) -> None:
    """Each error type of articlechat.errors is listed in api/errors' table; those whose message may name internal
    hosts answer a fixed message and log the detail."""
    import inspect

    from articlechat import errors
    from articlechat.api.errors import ERRORS, describe

    domain = {c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, errors.ArticlechatError)}
    assert domain <= set(ERRORS)
    assert not any(hasattr(c, "status_code") for c in domain)  # no HTTP in the domain layer
    assert describe(errors.NotFound("Unknown session 'x'.")) == (404, "not_found", "Unknown session 'x'.")
    status, code, message = describe(errors.StoreUnavailable("The Chroma server 10.0.0.7:8001 cannot be reached"))
    assert (status, code) == (503, "store_unavailable") and "10.0.0.7" not in message
    assert "10.0.0.7:8001" in caplog.text
    status, _code, message = describe(errors.BackendError("http://10.0.0.9:8080/v1 rejected the API key"))
    assert status == 502 and "10.0.0.9" not in message
