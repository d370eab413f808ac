"""An OpenAI-compatible model server: llama.cpp's own HTTP server (xllamacpp), by default on the packaged SmolLM2.

``python -m articlechat.llm_server --port 8080`` serves ``/v1/models`` and ``/v1/chat/completions`` (streaming too)
on 127.0.0.1 until SIGINT or SIGTERM; point the ``openai`` backend at it with ``OPENAI_BASE_URL=http://HOST:PORT/v1``.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from articlechat.errors import ConfigError
from articlechat.llm import llamacpp_params, packaged_gguf, start_llamacpp

STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m articlechat.llm_server", description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="GGUF chat model (default: the packaged SmolLM2-135M-Instruct)")
    parser.add_argument("--alias", default="local", help="the model name clients ask for (default: local)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default: 8080)")
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads (default: 1)")
    parser.add_argument("--api-key", help="the key clients must send (Authorization: Bearer KEY); default: none")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Serve until SIGINT or SIGTERM, then stop the server cleanly."""
    args = parse_args(argv)
    try:
        params = llamacpp_params(args.model or packaged_gguf(), args.threads, args.host, args.port)
        params.model_alias = {args.alias}
        params.api_keys = [args.api_key] if args.api_key else []
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # the server's threads inherit the mask
        server = start_llamacpp(params)
    except ConfigError as exc:
        sys.exit(f"error: {exc}")
    print(f"serving {params.model.path} as {args.alias!r} on {server.listening_address}/v1", flush=True)
    signal.sigwait(STOP_SIGNALS)
    del server  # stops llama.cpp's loop and listener


if __name__ == "__main__":
    main()
