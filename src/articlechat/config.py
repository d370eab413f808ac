"""All settings in one place: environment variables prefixed ``ARTICLECHAT_`` and an optional ``.env`` file."""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, ClassVar, Literal, TypeVar

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from articlechat.errors import ConfigError

MIN_API_KEY_CHARS = 16
GENERATE_KEY = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'

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
    cache_dir: Path = Field(default_factory=_default_cache_dir,
                            description="Derived model and word-vector files (safe to delete).")
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
        None, description=f"Bearer key for the admin endpoints, at least {MIN_API_KEY_CHARS} characters; unset = "
                          "admin endpoints disabled (403)."
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        [], description="Addresses or networks of the reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are "
                        "believed, comma-separated; empty = none (not even loopback).")
    max_connections: int = Field(500, ge=1, le=1_000_000, description="Open connections (or requests in progress) "
                                                                     "per process before new requests get 503.")
    header_timeout: float = Field(10.0, gt=0, le=600, description="Seconds a client may take to send a request's "
                                                                  "headers before the connection is closed.")
    max_header_bytes: int = Field(65_536, ge=4_096, le=16_777_216, description="Largest request line and headers, "
                                                                               "in bytes (more: 400).")
    max_headers: int = Field(100, ge=10, le=10_000, description="Most header fields in one request (more: 431).")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        ["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"],
        description="Browser origins allowed to call the API, comma-separated; `:*` allows any port.",
    )
    rate_limit_client: str = Field(
        "60/minute", description="Chat requests per client address, e.g. `60/minute;1000/day`; empty = unlimited."
    )
    rate_limit_session: str = Field("20/minute", description="Chat requests per session; empty = unlimited.")
    rate_limit_admin_failures: str = Field(
        "10/minute", description="Failed admin authentications per client address before 429; empty = unlimited.")
    max_messages: int = Field(50, ge=1, le=10_000, description="Most messages in one /v1/chat/completions request.")
    max_conversation_chars: int = Field(50_000, ge=1_000, le=10_000_000, description="Most characters of all the "
                                        "messages of one /v1/chat/completions request together.")
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

    @field_validator("cors_origins", "trusted_proxies", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip()
            return json.loads(value) if value.startswith("[") else [o.strip() for o in value.split(",") if o.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry[:100]!r} is not an IP address or network (e.g. 10.0.0.5, 10.0.0.0/24)") \
                    from None
        return value

    @field_validator("api_key")
    @classmethod
    def _check_api_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        length = len(value.get_secret_value().strip())
        problem = "is set but empty" if not length else f"is only {length} characters long"
        if length < MIN_API_KEY_CHARS:
            raise ValueError(f"the admin key {problem}; use at least {MIN_API_KEY_CHARS} random characters, e.g. "
                             f"from `{GENERATE_KEY}`, or unset the variable to disable the admin API")
        return value

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if not origin.startswith(("http://", "https://")):
                raise ValueError(f"'{origin}' has no scheme: a browser origin is scheme://host[:port], e.g. "
                                 f"https://{origin.split('://')[-1]}")
        return value

    @field_validator("database_url", "redis_url", "decline_threshold", "reader_model", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("use redis://HOST:PORT/DB, rediss://... or unix://PATH")
        return value

    @field_validator("rate_limit_client", "rate_limit_session", "rate_limit_admin_failures")
    @classmethod
    def _check_rate(cls, value: str) -> str:
        from limits import parse_many

        if value.strip():
            parse_many(value)  # raises ValueError on bad syntax
        return value.strip()

    # Settings by concern (typed views over the flat fields above)

    @property
    def store(self) -> StoreSettings:
        """Store, splitting and embedding settings."""
        return StoreSettings.of(self)

    @property
    def answering(self) -> AnsweringSettings:
        """Retrieval and answer-backend settings."""
        return AnsweringSettings.of(self)

    @property
    def server(self) -> ServerSettings:
        """HTTP service settings."""
        return ServerSettings.of(self)

    @property
    def limits(self) -> LimitSettings:
        """Rate limits and size caps."""
        return LimitSettings.of(self)

    @property
    def database(self) -> DatabaseSettings:
        """Session database and shared counters."""
        return DatabaseSettings.of(self)

    @property
    def fetch(self) -> FetchSettings:
        """Web fetching settings."""
        return FetchSettings.of(self)

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
        return self.store.chroma_path

    @property
    def sessions_path(self) -> Path:
        """The SQLite session database."""
        return self.data_dir / "sessions.sqlite3"

    @property
    def session_database(self) -> Path | str:
        """The session database: ARTICLECHAT_DATABASE_URL, else the SQLite file under data_dir."""
        return self.database_url.get_secret_value() if self.database_url else self.sessions_path


_View = TypeVar("_View", bound="SettingsView")


@dataclass(frozen=True)
class SettingsView:
    """A typed, read-only view of one concern's settings. Field ``f`` is the flat setting ``PREFIX + f`` (else
    ``f``), so every ``ARTICLECHAT_*`` variable keeps its name."""

    PREFIX: ClassVar[str] = ""

    @classmethod
    def flat_name(cls, name: str) -> str:
        """The flat Settings field behind view field ``name``."""
        return cls.PREFIX + name if cls.PREFIX + name in Settings.model_fields else name

    @classmethod
    def of(cls: type[_View], settings: Settings) -> _View:
        """This view of ``settings``."""
        return cls(**{f.name: getattr(settings, cls.flat_name(f.name)) for f in fields(cls)})


@dataclass(frozen=True)
class StoreSettings(SettingsView):
    """Where documents and vectors live, and how they are split and embedded."""

    data_dir: Path
    cache_dir: Path
    collection: str
    chroma_host: str | None
    chroma_port: int
    chroma_ssl: bool
    chroma_auth_header: str
    chroma_auth_token: SecretStr | None
    chroma_timeout: float
    chunk_size: int
    chunk_overlap: int
    embeddings: str
    embeddings_model: str
    embed_threads: int
    ingest_threads: int

    @property
    def chroma_path(self) -> Path:
        """The embedded Chroma store's folder."""
        return self.data_dir / "chroma"


@dataclass(frozen=True)
class AnsweringSettings(SettingsView):
    """Retrieval, the decline gate and the answer backends."""

    top_k: int
    decline_threshold: float | None
    reader_model: Path | None
    uncertain_band: float
    history_turns: int
    llm: str | None
    openai_api_key: SecretStr | None
    openai_base_url: str | None
    llm_model: str
    temperature: float
    max_tokens: int
    llm_timeout: float
    llm_retries: int
    llamacpp_model_path: Path | None
    llamacpp_threads: int


@dataclass(frozen=True)
class ServerSettings(SettingsView):
    """`articlechat serve`: where it listens, who may call it, and the bounds of one connection."""

    host: str
    port: int
    api_key: SecretStr | None
    cors_origins: list[str]
    trusted_proxies: list[str]
    max_connections: int
    header_timeout: float
    max_header_bytes: int
    max_headers: int


@dataclass(frozen=True)
class LimitSettings(SettingsView):
    """How much one client, session or request may ask for."""

    rate_limit_client: str
    rate_limit_session: str
    rate_limit_admin_failures: str
    max_question_chars: int
    max_messages: int
    max_conversation_chars: int
    max_request_bytes: int
    max_file_bytes: int


@dataclass(frozen=True)
class DatabaseSettings(SettingsView):
    """Shared state: the session database and the rate-limit counters."""

    PREFIX: ClassVar[str] = "database_"

    url: SecretStr | None
    pool_size: int
    redis_url: SecretStr | None
    session_ttl_days: int


@dataclass(frozen=True)
class FetchSettings(SettingsView):
    """Fetching pages, sitemaps and feeds from the web (a page's size cap is ``limits.max_file_bytes``)."""

    PREFIX: ClassVar[str] = "fetch_"

    timeout: float
    concurrency: int
    max_urls: int
    max_redirects: int
    private_addresses: bool


SETTINGS_VIEWS: tuple[type[SettingsView], ...] = (StoreSettings, AnsweringSettings, ServerSettings, LimitSettings,
                                                  DatabaseSettings, FetchSettings)


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, ``.env`` and ``overrides``; a bad value raises :class:`ConfigError`."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"ARTICLECHAT_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"Invalid setting: {problems}") from None
