"""Shared fixtures: real settings in temp dirs, the real embedding model, a store with the bundled article."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from articlechat.chain.agent import Agent
from articlechat.config import Settings, load_settings
from articlechat.embeddings import EmbeddingBackend, build_embeddings
from articlechat.history import SessionStore
from articlechat.ingest import Ingestor
from articlechat.store import ArticleStore

REPO = Path(__file__).resolve().parent.parent
DEV_SET = REPO.parent / "shared" / "eval" / "qa_dev.jsonl"
EXTRA_SET = Path(__file__).parent / "data" / "qa_extra.jsonl"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's .env, API keys or data directory."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ARTICLECHAT_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture(scope="session")
def embedding_backend() -> EmbeddingBackend:
    """The packaged embedding model, loaded once."""
    return build_embeddings(Settings(_env_file=None))


@pytest.fixture(scope="session")
def bundled_data_dir(tmp_path_factory: pytest.TempPathFactory, embedding_backend: EmbeddingBackend) -> Path:
    """A data directory holding the bundled article, built once and copied by the tests that need it."""
    data_dir = tmp_path_factory.mktemp("bundled") / "data"
    settings = Settings(_env_file=None, data_dir=data_dir)
    Ingestor(ArticleStore(settings, embedding_backend)).ensure_bundled_article()
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
def seeded_data_dir(bundled_data_dir: Path, data_dir: Path) -> Path:
    """This test's data directory, holding a copy of the store with the bundled article."""
    shutil.copytree(bundled_data_dir, data_dir)
    return data_dir


@pytest.fixture
def agent(seeded_data_dir: Path, settings: Settings, embedding_backend: EmbeddingBackend) -> Iterator[Agent]:
    """The extractive agent over the bundled article."""
    yield Agent(settings, ArticleStore(settings, embedding_backend), SessionStore(settings.sessions_path))
