"""All settings in one place: environment variables prefixed ``ARTICLECHAT_`` and an optional ``.env`` file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from articlechat.errors import ConfigError


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "articlechat"


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "articlechat"


class Settings(BaseSettings):
    """Every tunable of articlechat. Field ``foo`` is read from ``ARTICLECHAT_FOO``."""

    model_config = SettingsConfigDict(
        env_prefix="ARTICLECHAT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # Storage
    data_dir: Path = Field(default_factory=_default_data_dir, description="Chroma store and session database.")
    cache_dir: Path = Field(default_factory=_default_cache_dir, description="Derived model files (safe to delete).")
    collection: str = Field("articles", min_length=3, max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]+[A-Za-z0-9]$")
    chroma_host: str | None = Field(None, description="Chroma server host; unset = embedded store under data_dir.")
    chroma_port: int = Field(8000, ge=1, le=65535)
    chroma_ssl: bool = False
    chroma_auth_header: str = "Authorization"
    chroma_auth_token: SecretStr | None = None
    chroma_timeout: float = Field(10.0, gt=0, description="Seconds a Chroma server request may take; then 503.")

    # Ingestion
    chunk_size: int = Field(600, ge=100, le=8000, description="Characters per chunk.")
    chunk_overlap: int = Field(100, ge=0, le=2000)
    max_file_bytes: int = Field(5_000_000, ge=1_000)

    # Fetching from the web (`ingest URL`, POST /api/documents {"url": ...}); a page's size cap is max_file_bytes
    fetch_timeout: float = Field(20.0, gt=0, le=600, description="Seconds one URL may take to fetch, in all.")
    fetch_concurrency: int = Field(4, ge=1, le=32, description="URLs fetched at once.")
    fetch_max_urls: int = Field(1000, ge=1, le=1_000_000, description="Most pages taken from the sitemaps and feeds "
                                                                       "of one ingest.")
    fetch_max_redirects: int = Field(5, ge=0, le=20)
    fetch_private_addresses: bool = Field(False, description="Allow fetching from loopback, private and link-local "
                                                             "addresses (e.g. a site under development).")

    # Embeddings
    embeddings: Literal["onnx", "openai"] = "onnx"
    embeddings_model: str = "text-embedding-3-small"
    embed_threads: int = Field(1, ge=1, le=64, description="onnxruntime threads for the embedded model.")
    ingest_threads: int = Field(0, ge=0, le=64, description="onnxruntime threads while ingesting (0: all cores).")

    # Retrieval and answering
    top_k: int = Field(4, ge=1, le=20)
    decline_threshold: float | None = Field(
        None, ge=0.0, le=1.0, description="Minimum probability (from the fitted reader) that the quoted sentence "
        "answers, to answer at all; unset = the threshold calibrated with the shipped model.")
    reader_model: Path | None = Field(None, description="A reader model file made by scripts/fit_reader.py; unset = "
                                      "the one shipped with articlechat.")
    uncertain_band: float = Field(0.15, ge=0.0, le=1.0, description="With a generative backend, questions within "
                                  "this much of the threshold go to the model, which may still decline.")
    max_question_chars: int = Field(1000, ge=10, le=100_000)
    history_turns: int = Field(3, ge=0, le=50, description="Earlier turns used to resolve follow-ups.")

    # Generative backends
    llm: Literal["extractive", "openai", "llamacpp"] | None = Field(
        None, description="Answer backend; default: openai when a key or base URL is set, else extractive."
    )
    openai_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("ARTICLECHAT_OPENAI_API_KEY", "OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        None, validation_alias=AliasChoices("ARTICLECHAT_OPENAI_BASE_URL", "OPENAI_BASE_URL")
    )
    llm_model: str = "gpt-4o-mini"
    temperature: float = Field(0.1, ge=0.0, le=2.0)
    max_tokens: int = Field(400, ge=1, le=32_000)
    llm_timeout: float = Field(30.0, gt=0)
    llm_retries: int = Field(2, ge=0, le=10)
    llamacpp_model_path: Path | None = None
    llamacpp_threads: int = Field(1, ge=1, le=64)

    # HTTP service (`articlechat serve`)
    host: str = Field("127.0.0.1", description="Address `articlechat serve` listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port `articlechat serve` listens on.")
    api_key: SecretStr | None = Field(
        None, description="Bearer key for the admin endpoints; unset = admin endpoints disabled (403)."
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        ["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"],
        description="Browser origins allowed to call the API, comma-separated; `:*` allows any port.",
    )
    rate_limit_client: str = Field(
        "60/minute", description="Chat requests per client address, e.g. `60/minute;1000/day`; empty = unlimited."
    )
    rate_limit_session: str = Field("20/minute", description="Chat requests per session; empty = unlimited.")
    max_messages: int = Field(50, ge=1, le=10_000, description="Most messages in one /v1/chat/completions request.")
    max_request_bytes: int = Field(1_000_000, ge=1_000, description="Largest request body (uploads: max_file_bytes).")

    # Shared state (several processes or machines)
    database_url: SecretStr | None = Field(
        None, description="Session database, e.g. postgresql://USER:PASSWORD@HOST:5432/DB; unset = SQLite in data_dir.")
    database_pool_size: int = Field(5, ge=1, le=100, description="Pooled database connections per process.")
    redis_url: SecretStr | None = Field(
        None, description="Rate-limit counters in Redis, e.g. redis://HOST:6379/0; unset = in process memory.")
    session_ttl_days: int = Field(30, ge=0, le=36_500, description="Days an unused session is kept; 0 = forever.")

    @field_validator("data_dir", "cache_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip()
            return json.loads(value) if value.startswith("[") else [o.strip() for o in value.split(",") if o.strip()]
        return value

    @field_validator("database_url", "redis_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("use redis://HOST:PORT/DB, rediss://... or unix://PATH")
        return value

    @field_validator("rate_limit_client", "rate_limit_session")
    @classmethod
    def _check_rate(cls, value: str) -> str:
        from limits import parse_many

        if value.strip():
            parse_many(value)  # raises ValueError on bad syntax
        return value.strip()

    @property
    def answer_backend(self) -> str:
        """The backend in force: the explicit setting, else openai when configured, else extractive."""
        if self.llm:
            return self.llm
        return "openai" if (self.openai_api_key or self.openai_base_url) else "extractive"

    def openai_client_options(self) -> dict[str, object]:
        """Keyword arguments shared by every OpenAI(-compatible) client the product builds."""
        key = self.openai_api_key or SecretStr("not-needed")  # local servers accept any key; the client needs one
        return {
            "api_key": key,
            "base_url": self.openai_base_url,
            "timeout": self.llm_timeout,
            "max_retries": self.llm_retries,  # the openai client retries transient errors with backoff
        }

    @property
    def chroma_path(self) -> Path:
        """The embedded Chroma store's folder."""
        return self.data_dir / "chroma"

    @property
    def sessions_path(self) -> Path:
        """The SQLite session database."""
        return self.data_dir / "sessions.sqlite3"

    @property
    def session_database(self) -> Path | str:
        """The session database: ARTICLECHAT_DATABASE_URL, else the SQLite file under data_dir."""
        return self.database_url.get_secret_value() if self.database_url else self.sessions_path


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, ``.env`` and ``overrides``; a bad value raises :class:`ConfigError`."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"ARTICLECHAT_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"Invalid setting: {problems}") from None
