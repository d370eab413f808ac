"""The openai backend against a real OpenAI-compatible server: llama.cpp serving the packaged SmolLM2 on loopback.

The tiny model's wording is poor and never asserted: these tests check the guarantees around it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import openai
import pytest
import tiktoken
from typer.testing import CliRunner

from articlechat.chain.agent import Token
from articlechat.cli import app
from articlechat.config import load_settings
from articlechat.contract import Answer
from articlechat.embeddings import EmbeddingBackend
from articlechat.errors import BackendError
from articlechat.runtime import build_agent
from conftest import (
    LLAMA_API_KEY,
    LLAMA_MODEL,
    LlamaServer,
    ModelCalls,
    check_citations,
    llama_server_running,
    served_agent,
    use_model_server,
)
from servers import free_port, stop

MEETING = "Who did Kim Jong Un meet on the 25th of April?"
SUMMIT = "Which summit with President Trump failed in February?"
FOLLOW_UP = "Has Russia been accused of helping North Korea evade sanctions?"


def no_tiktoken(*args: object, **kwargs: object) -> None:
    raise AssertionError("tiktoken was called: its encodings cannot be downloaded offline")


def test_a_conversation_through_the_model_server(llama_server: LlamaServer, monkeypatch: pytest.MonkeyPatch,
                                                 seeded_data_dir: Path, embedding_backend: EmbeddingBackend,
                                                 model_calls: ModelCalls) -> None:
    use_model_server(monkeypatch, llama_server.base_url)
    monkeypatch.setattr(tiktoken, "get_encoding", no_tiktoken)
    monkeypatch.setattr(tiktoken, "encoding_for_model", no_tiktoken)
    agent = served_agent(seeded_data_dir, embedding_backend, model_calls)

    *tokens, first = list(agent.stream(SUMMIT))  # streaming: tokens as they come, then the contract object
    assert len(tokens) > 1 and all(isinstance(t, Token) for t in tokens) and isinstance(first, Answer)
    assert "".join(t.text for t in tokens) == first.answer
    assert (first.answered, first.backend, first.fallback) == (True, "openai", False)
    check_citations(first)  # citations only ever name the passages given
    assert model_calls.steps == ["answer"]  # no history: no condensation
    assert model_calls.tokens <= 48 + 1  # ARTICLECHAT_MAX_TOKENS reaches the server (llama.cpp adds one piece)

    follow_up = agent.ask(FOLLOW_UP, first.session_id)
    assert model_calls.steps == ["answer", "condense", "answer"]
    assert SUMMIT in model_calls.prompts[1]
    check_citations(follow_up)
    assert follow_up.answered and not follow_up.fallback

    declined = agent.ask("Who won the football world cup in 2018?", first.session_id)
    assert not declined.answered and not declined.fallback
    assert model_calls.steps == ["answer", "condense", "answer"]  # a decline calls no model, history or not


def test_a_server_killed_mid_session_gives_the_extractive_answer(
        smollm2_gguf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seeded_data_dir: Path,
        embedding_backend: EmbeddingBackend, model_calls: ModelCalls, caplog: pytest.LogCaptureFixture) -> None:
    with llama_server_running(smollm2_gguf, tmp_path) as server:
        use_model_server(monkeypatch, server.base_url)
        generative = served_agent(seeded_data_dir, embedding_backend, model_calls)
        first = generative.ask(MEETING)
        assert first.answered and not first.fallback
        stop(server.process)
        with caplog.at_level(logging.WARNING, logger="articlechat"):
            answer = generative.ask(FOLLOW_UP, first.session_id)
    offline = build_agent(load_settings(data_dir=seeded_data_dir, llm="extractive"))
    extractive = offline.ask(FOLLOW_UP, offline.ask(MEETING).session_id)  # the same conversation, answered offline
    # The same answer (or decline) from the same passages; scores differ a little, as the two histories' first
    # answers were worded differently.
    assert (answer.answer, answer.answered) == (extractive.answer, extractive.answered)
    assert sorted((s.start, s.cited) for s in answer.sources) == sorted((s.start, s.cited) for s in extractive.sources)
    assert answer.fallback and answer.backend == "openai"
    [warning] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert server.base_url in warning and "\n" not in warning


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.usefixtures("seeded_data_dir")
def test_an_unreachable_server_url_answers_extractively_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    # Design: a closed port looks like a server that is down, so the answer falls back and a one-line warning names
    # OPENAI_BASE_URL, instead of the question failing.
    use_model_server(monkeypatch, f"http://127.0.0.1:{free_port()}/v1")
    code, out, err = invoke("ask", MEETING, "--llm", "openai", "--json")
    assert code == 0, err
    answer = Answer.model_validate(json.loads(out))
    assert answer.answered and answer.fallback and answer.backend == "openai"
    [warning] = [line for line in err.splitlines() if line.startswith("warning:")]
    assert "OPENAI_BASE_URL" in warning and "Traceback" not in err


@pytest.mark.usefixtures("seeded_data_dir")
def test_a_wrong_key_is_a_clear_error(llama_server: LlamaServer, monkeypatch: pytest.MonkeyPatch) -> None:
    use_model_server(monkeypatch, llama_server.base_url, api_key="not-the-key")  # the server answers 401
    code, _, err = invoke("ask", MEETING, "--llm", "openai")
    assert code == 1 and "Traceback" not in err
    [error] = [line for line in err.splitlines() if line.startswith("error:")]
    assert "401" in error and "OPENAI_API_KEY" in error


def test_an_unknown_model_address_is_a_clear_error(llama_server: LlamaServer, monkeypatch: pytest.MonkeyPatch,
                                                   seeded_data_dir: Path, embedding_backend: EmbeddingBackend,
                                                   model_calls: ModelCalls) -> None:
    # The server answers 404 at a base URL with a wrong path, here Ollama's native /api instead of /v1 (llama.cpp
    # serves any model name; OpenAI, vLLM and Ollama answer an unknown model with the same 404).
    use_model_server(monkeypatch, llama_server.base_url.removesuffix("/v1") + "/api")
    agent = served_agent(seeded_data_dir, embedding_backend, model_calls)
    with pytest.raises(BackendError, match="ARTICLECHAT_LLM_MODEL") as raised:
        agent.ask(MEETING)
    assert "OPENAI_BASE_URL" in str(raised.value) and LLAMA_MODEL in str(raised.value)


def test_the_model_server_lists_its_model_to_a_client_with_the_key(llama_server: LlamaServer) -> None:
    client = openai.OpenAI(base_url=llama_server.base_url, api_key=LLAMA_API_KEY, max_retries=0)
    assert LLAMA_MODEL in [model.id for model in client.models.list()]
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=llama_server.base_url, api_key="not-the-key", max_retries=0).models.list()
