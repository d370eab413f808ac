"""Two machines behind a load balancer: two `articlechat serve` processes, each with a data directory of its own,
sharing one Chroma server, one PostgreSQL and one Redis (all real servers on 127.0.0.1). A conversation started on
one continues on the other, a rate limit reached on one holds on the other, and killing one loses nothing."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from articlechat.contract import Answer
from articlechat.embeddings import EmbeddingBackend
from conftest import ChromaServer, seed_store, server_env, store_env, store_settings
from servers import ApiServer, articlechat_serve, postgres_running, redis_running, stop
from test_api import FIRST, FOLLOW_UP, QUESTION, error_of

SESSION_LIMIT = 3  # chat requests a minute per session


@pytest.fixture(scope="module")
def machines(tmp_path_factory: pytest.TempPathFactory, bundled_data_dir: Path, embedding_backend: EmbeddingBackend,
             chroma_server: ChromaServer) -> Iterator[tuple[ApiServer, ApiServer]]:
    """Machines A and B: `articlechat serve` in work directories ``a`` and ``b`` (data, log, TMPDIR) on one
    collection of the session's Chroma server holding the bundled article, one PostgreSQL and one Redis."""
    work = tmp_path_factory.mktemp("two-machines")
    store = store_settings(work / "unused", chroma_server)  # a fresh collection of the shared Chroma server
    seed_store(bundled_data_dir, store, embedding_backend)
    with postgres_running() as database, redis_running(work) as redis, ExitStack() as stack:
        servers = []
        for name in ("a", "b"):
            (work / name / "tmp").mkdir(parents=True)
            env = server_env(work / name / "data", **store_env(store), ARTICLECHAT_DATABASE_URL=database,
                             ARTICLECHAT_REDIS_URL=redis.url, ARTICLECHAT_RATE_LIMIT_CLIENT="",
                             ARTICLECHAT_RATE_LIMIT_SESSION=f"{SESSION_LIMIT}/minute", TMPDIR=str(work / name / "tmp"))
            servers.append(stack.enter_context(articlechat_serve(work / name, env)))
        yield servers[0], servers[1]


def ask(machine: ApiServer, question: str, session_id: str | None = None) -> httpx.Response:
    """POST /api/ask to one machine (as a load balancer would route it)."""
    body = {"question": question} | ({"session_id": session_id} if session_id else {})
    return httpx.post(f"{machine.url}/api/ask", json=body, timeout=60.0)


def answered(response: httpx.Response) -> Answer:
    assert response.status_code == 200, response.text
    return Answer.model_validate(response.json())


def questions_and_answers(machine: ApiServer, session_id: str) -> list[str]:
    """The stored messages of a session, as read through ``machine``."""
    response = httpx.get(f"{machine.url}/api/sessions/{session_id}/messages", timeout=30.0)
    assert response.status_code == 200, response.text
    return [m["content"] for m in response.json()["messages"]]


def test_a_conversation_started_on_one_machine_continues_on_the_other(machines: tuple[ApiServer, ApiServer]) -> None:
    a, b = machines
    first = answered(ask(a, FIRST))
    follow_up = answered(ask(b, FOLLOW_UP, first.session_id))  # "his country": resolved from the history A wrote
    assert follow_up.session_id == first.session_id
    assert follow_up.answered and "25th of april" in follow_up.answer.lower(), follow_up.answer
    expected = [FIRST, first.answer, FOLLOW_UP, follow_up.answer]
    assert questions_and_answers(a, first.session_id) == questions_and_answers(b, first.session_id) == expected


def test_a_rate_limit_reached_on_one_machine_holds_on_the_other(machines: tuple[ApiServer, ApiServer]) -> None:
    a, b = machines
    session_id = answered(ask(a, QUESTION)).session_id  # starting a session is not counted
    for machine in (a, b, a):  # SESSION_LIMIT requests, counted together
        answered(ask(machine, QUESTION, session_id))
    for machine in (b, a):
        refused = ask(machine, QUESTION, session_id)
        assert error_of(refused, 429)["code"] == "rate_limited" and 1 <= int(refused.headers["retry-after"]) <= 60
    answered(ask(b, QUESTION))  # a new session is not affected


def test_killing_one_machine_loses_nothing(machines: tuple[ApiServer, ApiServer]) -> None:
    a, b = machines
    sessions: dict[str, list[str]] = {}
    for question in (FIRST, QUESTION):
        answer = answered(ask(a, question))
        sessions[answer.session_id] = [question, answer.answer]
    follow_up = answered(ask(a, FOLLOW_UP, answer.session_id))
    sessions[answer.session_id] += [FOLLOW_UP, follow_up.answer]
    os.killpg(a.process.pid, signal.SIGKILL)  # no graceful shutdown: whatever A answered must already be stored
    a.process.wait(10)
    for session_id, messages in sessions.items():
        assert questions_and_answers(b, session_id) == messages
    assert answered(ask(b, FOLLOW_UP, answer.session_id)).answered  # and the conversation goes on on B
    assert len(questions_and_answers(b, answer.session_id)) == 6
    stop(b.process)  # SIGTERM: a graceful stop removes the metrics directory and the pid file; SIGKILL cannot
    assert b.process.returncode == 128 + signal.SIGTERM
    assert not list((b.log.parent / "tmp").glob("articlechat-metrics-*"))
    assert not (b.log.parent / "data" / "server.json").exists()
    assert len(list((a.log.parent / "tmp").glob("articlechat-metrics-*"))) == 1
