"""Several API workers: `articlechat serve --workers 2` on a Chroma server, both workers answering one conversation
(sessions live in the SQLite file they share); without a Chroma server, more than one worker is refused."""

from __future__ import annotations

import time

import httpx

from articlechat.contract import Answer
from conftest import run_cli
from servers import free_port
from test_api import FIRST, FOLLOW_UP

MAX_FOLLOW_UPS = 40


def wait_for_workers(http: httpx.Client, count: int, timeout: float = 90.0) -> set[str]:
    """The workers (pids in X-Served-By) seen on fresh connections, once ``count`` of them have answered."""
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    while len(seen) < count:
        assert time.monotonic() < deadline, f"only workers {seen} answered within {timeout}s"
        seen.add(http.get("/healthz").headers["x-served-by"])
        time.sleep(0.05)
    return seen


def test_several_workers_need_a_chroma_server() -> None:
    result = run_cli("serve", "--workers", "2", "--port", str(free_port()), env={"ARTICLECHAT_CHROMA_HOST": ""},
                     timeout=60)
    assert result.returncode == 2 and not result.stdout and "Traceback" not in result.stderr
    assert "chroma run --path DIR --host 127.0.0.1 --port 8001" in result.stderr
    assert "ARTICLECHAT_CHROMA_HOST=127.0.0.1" in result.stderr and "--workers 1" in result.stderr


def test_a_conversation_continues_on_whichever_worker_answers(two_workers: str) -> None:
    # Connection: close makes every request a new connection, which either worker may accept.
    with httpx.Client(base_url=two_workers, timeout=60.0, headers={"Connection": "close"}) as http:
        workers = wait_for_workers(http, 2)
        first = http.post("/api/ask", json={"question": FIRST})
        assert first.status_code == 200, first.text
        session_id = Answer.model_validate(first.json()).session_id
        served = [first.headers["x-served-by"]]
        for _ in range(MAX_FOLLOW_UPS):
            response = http.post("/api/ask", json={"question": FOLLOW_UP, "session_id": session_id})
            assert response.status_code == 200, response.text  # a worker without the session would say 404
            follow = Answer.model_validate(response.json())
            assert follow.session_id == session_id and follow.answered and "25th of april" in follow.answer.lower()
            served.append(response.headers["x-served-by"])
            if set(served) == workers and len(served) >= 4:
                break
        assert set(served) == workers, f"one worker answered all {len(served)} questions"
        messages = http.get(f"/api/sessions/{session_id}/messages").json()["messages"]
    assert [m["content"] for m in messages[::2]] == [FIRST] + [FOLLOW_UP] * (len(served) - 1)
