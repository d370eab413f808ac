"""Shared fixtures: real settings in temp dirs, the real embedding model, a store with the bundled article."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage

sys.path.insert(0, str(Path(__file__).parent))

from articlechat.chain.agent import Agent
from articlechat.config import Settings, load_settings
from articlechat.contract import Answer
from articlechat.embeddings import EmbeddingBackend, build_embeddings
from articlechat.history import SessionStore
from articlechat.ingest import Ingestor
from articlechat.runtime import build_agent
from articlechat.store import ArticleStore
from servers import ChromaServer, articlechat_serve, chroma_server_running, free_port, running_server

REPO = Path(__file__).resolve().parent.parent
DEV_SET = REPO.parent / "shared" / "eval" / "qa_dev.jsonl"
EXTRA_SET = Path(__file__).parent / "data" / "qa_extra.jsonl"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, chroma: ChromaServer | None) -> None:
    """No test reads the developer's .env, API keys or data directory. The store is the embedded one under the data
    directory or, in server mode, a collection of the test's own on the session's Chroma server."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ARTICLECHAT_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ARTICLECHAT_DATA_DIR", str(tmp_path / "data"))
    for name, value in store_env(store_settings(tmp_path / "data", chroma)).items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="session")
def embedding_backend() -> EmbeddingBackend:
    """The packaged embedding model, loaded once."""
    return build_embeddings(Settings(_env_file=None))


@pytest.fixture(scope="session")
def bundled_data_dir(tmp_path_factory: pytest.TempPathFactory, embedding_backend: EmbeddingBackend) -> Path:
    """A data directory holding the bundled article, built once and copied by the tests that need it."""
    data_dir = tmp_path_factory.mktemp("bundled") / "data"
    Ingestor(ArticleStore(store_settings(data_dir, None), embedding_backend)).ensure_bundled_article()
    return data_dir


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """An empty data directory for this test."""
    return tmp_path / "data"


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return load_settings(data_dir=data_dir)


@pytest.fixture
def store(settings: Settings, embedding_backend: EmbeddingBackend) -> ArticleStore:
    """An empty store on disk."""
    return ArticleStore(settings, embedding_backend)


@pytest.fixture
def seeded_data_dir(bundled_data_dir: Path, data_dir: Path, embedding_backend: EmbeddingBackend) -> Path:
    """This test's data directory; its store (embedded, or its collection on the Chroma server) holds a copy of the
    bundled article."""
    seed_store(bundled_data_dir, load_settings(data_dir=data_dir), embedding_backend)
    return data_dir


@pytest.fixture
def agent(seeded_data_dir: Path, settings: Settings, embedding_backend: EmbeddingBackend) -> Iterator[Agent]:
    """The extractive agent over the bundled article."""
    yield Agent(settings, ArticleStore(settings, embedding_backend), SessionStore(settings.sessions_path))


def run_cli(*args: str, stdin: str | None = None, env: dict[str, str] | None = None,
            timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
    """``articlechat ARGS`` in its own process, as a user runs it, on this test's ARTICLECHAT_DATA_DIR."""
    return subprocess.run([sys.executable, "-m", "articlechat", *args], input=stdin, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


# --- Generative backends: the packaged SmolLM2 behind llama.cpp's OpenAI-compatible server -----------------------

LLAMA_API_KEY = "test-key"  # the llama.cpp server checks it, so a wrong key gets a real 401
LLAMA_MODEL = "smollm2"


@dataclass
class LlamaServer:
    """A running ``python -m articlechat.llm_server`` (llama.cpp's OpenAI-compatible server)."""

    base_url: str  # what OPENAI_BASE_URL is set to
    process: subprocess.Popen


class ModelCalls(BaseCallbackHandler):
    """Records every chat-model call an agent makes: its tags (which step) and prompt, and the tokens streamed."""

    def __init__(self) -> None:
        self.steps: list[str] = []
        self.prompts: list[str] = []
        self.tokens = 0

    def on_chat_model_start(self, serialized: dict[str, Any], messages: list[list[BaseMessage]], *,
                            tags: list[str] | None = None, **kwargs: Any) -> None:
        self.steps += [t.removeprefix("articlechat:") for t in tags or [] if t.startswith("articlechat:")]
        self.prompts.append("\n".join(m.text for m in messages[0]))

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens += bool(token)  # the stream's framing chunks (the role, the finish reason) carry no text


def check_citations(answer: Answer) -> None:
    """Every [n] in the answer names a source given, the cited sources are exactly those, and an answer cites one."""
    numbers = {int(n) for n in re.findall(r"\[(\d+)\]", answer.answer)}
    assert numbers <= {s.n for s in answer.sources}
    assert numbers == {s.n for s in answer.sources if s.cited}
    assert bool(numbers) == answer.answered


@contextmanager
def llama_server_running(gguf: Path, log_dir: Path) -> Iterator[LlamaServer]:
    """Serve ``gguf`` on a free loopback port with one thread, once its model is loaded (``/health`` answers 200);
    stopped when the block ends."""
    port = free_port()
    command = [sys.executable, "-m", "articlechat.llm_server", "--model", str(gguf), "--alias", LLAMA_MODEL,
               "--host", "127.0.0.1", "--port", str(port), "--threads", "1", "--api-key", LLAMA_API_KEY]
    url = f"http://127.0.0.1:{port}"
    with running_server(command, f"{url}/health", log_dir / "llama-server.log", timeout=120) as process:
        yield LlamaServer(f"{url}/v1", process)


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    """The packaged SmolLM2 GGUF (`scripts/install --dev` installs it)."""
    from articlechat.llm import packaged_gguf

    return packaged_gguf()


@pytest.fixture(scope="session")
def llama_server(smollm2_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """One llama.cpp server for the whole session."""
    with llama_server_running(smollm2_gguf, tmp_path_factory.mktemp("llama")) as server:
        yield server


@pytest.fixture
def model_calls() -> ModelCalls:
    return ModelCalls()


def use_model_server(monkeypatch: pytest.MonkeyPatch, base_url: str, api_key: str = LLAMA_API_KEY) -> None:
    """Point the openai backend at ``base_url`` the way a user does, through the environment; short answers."""
    monkeypatch.setenv("OPENAI_BASE_URL", base_url)
    monkeypatch.setenv("OPENAI_API_KEY", api_key)
    monkeypatch.setenv("ARTICLECHAT_LLM_MODEL", LLAMA_MODEL)
    monkeypatch.setenv("ARTICLECHAT_MAX_TOKENS", "48")
    monkeypatch.setenv("ARTICLECHAT_TOP_K", "2")  # a shorter prompt: one llama.cpp thread reads ~150 tokens/s


def served_agent(seeded_data_dir: Path, embedding_backend: EmbeddingBackend, calls: ModelCalls) -> Agent:
    """The agent the environment configures, over a copy of the bundled article, with ``calls`` recording."""
    settings = load_settings(data_dir=seeded_data_dir)
    return build_agent(settings, ArticleStore(settings, embedding_backend), callbacks=[calls])


# --- The store: embedded, or a real Chroma server (`chroma run`) -------------------------------------------------



def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--chroma", choices=("both", "local", "server"), default=os.environ.get("ARTICLECHAT_TEST_CHROMA", "both"),
        help="Store the tests use. both (default): modules that set CHROMA_MODES (store, ingest, API) run each test "
             "against the embedded store and against a Chroma server, the others on the embedded store; local or "
             "server: every test on that store. Default from ARTICLECHAT_TEST_CHROMA.")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """With --chroma=both, run the tests of modules that set ``CHROMA_MODES`` once per mode."""
    if "chroma_mode" not in metafunc.fixturenames or metafunc.config.getoption("--chroma") != "both":
        return
    modes = list(getattr(metafunc.module, "CHROMA_MODES", ()))
    if len(modes) > 1:  # session scope: session fixtures (servers) are built once per mode
        metafunc.parametrize("chroma_mode", modes, indirect=True, scope="session")


@pytest.fixture(scope="session")
def chroma_mode(request: pytest.FixtureRequest) -> str:
    """'local' (the embedded store) or 'server' (the session's Chroma server); see ``--chroma``."""
    return getattr(request, "param", "server" if request.config.getoption("--chroma") == "server" else "local")


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    """One Chroma server for the session; every test gets a collection of its own on it."""
    work = tmp_path_factory.mktemp("chroma")
    with chroma_server_running(work / "chroma", work / "chroma.log") as server:
        yield server


@pytest.fixture(scope="session")
def chroma(chroma_mode: str, request: pytest.FixtureRequest) -> ChromaServer | None:
    """The Chroma server of this mode; None for the embedded store."""
    return request.getfixturevalue("chroma_server") if chroma_mode == "server" else None


def store_settings(data_dir: Path, chroma: ChromaServer | None) -> Settings:
    """Settings for a store of its own: the embedded one under ``data_dir``, or a new collection on ``chroma``."""
    if chroma is None:
        return load_settings(data_dir=data_dir, chroma_host=None, collection="articles")
    return load_settings(data_dir=data_dir, chroma_host=chroma.host, chroma_port=chroma.port,
                         collection=f"test-{uuid.uuid4().hex[:16]}")


def store_env(settings: Settings) -> dict[str, str]:
    """The environment selecting ``settings``' store, for processes the tests start."""
    return {"ARTICLECHAT_CHROMA_HOST": settings.chroma_host or "", "ARTICLECHAT_CHROMA_PORT": str(settings.chroma_port),
            "ARTICLECHAT_COLLECTION": settings.collection}


def seed_store(bundled_data_dir: Path, target: Settings, backend: EmbeddingBackend) -> None:
    """Copy the bundled article's store to ``target``'s store, vectors and all (nothing is embedded again)."""
    if not target.chroma_host:
        shutil.copytree(bundled_data_dir, target.data_dir)
        return
    source = ArticleStore(store_settings(bundled_data_dir, None), backend)
    data = source.collection.get(include=["documents", "metadatas", "embeddings"])
    copy = ArticleStore(target, backend)
    copy.collection.add(ids=data["ids"], documents=data["documents"], metadatas=data["metadatas"],
                        embeddings=np.asarray(data["embeddings"]))
    for record in source.documents():
        copy.put_record(record)


# --- API servers -------------------------------------------------------------------------------------------------

API_KEY = "test-admin-key-0123456789"


def server_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a test server: its own data, the extractive default, nothing from the developer (no admin
    key unless ``extra`` gives one: an empty key is refused)."""
    return {"ARTICLECHAT_DATA_DIR": str(data_dir), "ARTICLECHAT_LLM": "extractive", "OPENAI_API_KEY": "",
            "OPENAI_BASE_URL": "", **extra}


@pytest.fixture(scope="session")
def two_workers(tmp_path_factory: pytest.TempPathFactory, bundled_data_dir: Path, embedding_backend: EmbeddingBackend,
                chroma_server: ChromaServer) -> Iterator[str]:
    """`articlechat serve --workers 2` on a collection of the session's Chroma server holding the bundled article,
    admin key set, rate limits off; yields its base URL."""
    work = tmp_path_factory.mktemp("workers")
    store = store_settings(work / "data", chroma_server)
    seed_store(bundled_data_dir, store, embedding_backend)
    env = server_env(work / "data", **store_env(store), ARTICLECHAT_API_KEY=API_KEY, ARTICLECHAT_RATE_LIMIT_CLIENT="",
                     ARTICLECHAT_RATE_LIMIT_SESSION="")
    with articlechat_serve(work, env, "--workers", "2") as server:
        yield server.url
