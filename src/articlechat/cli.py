"""The ``articlechat`` command line (Typer). Heavy modules are imported inside the commands that need them."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from articlechat.chain.excerpt import ELLIPSIS
from articlechat.config import Settings, load_settings
from articlechat.errors import ArticlechatError, ConfigError, InvalidInput

if TYPE_CHECKING:
    from articlechat.contract import Answer
    from articlechat.service import ArticleChat

app = typer.Typer(help="Talk to an article: grounded, cited answers from a local Chroma store.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  rich_markup_mode=None)  # plain help: options read `--doc ID`, not boxes of `<str>`

SessionOpt = Annotated[str | None, typer.Option("--session", "-s", metavar="SESSION_ID",
                                                help="Continue this session.")]
DocOpt = Annotated[str | None, typer.Option("--doc", "-d", metavar="ID",
                                            help="Only this document (an id as `documents` lists it).")]
JsonOpt = Annotated[bool, typer.Option("--json", metavar="", help="Print JSON.")]
LlmOpt = Annotated[str | None, typer.Option("--llm", metavar="BACKEND",
                                            help="Answer backend: extractive, openai or llamacpp.")]
InitOpt = Annotated[bool, typer.Option("--init", help="Create a new, empty store where the store folder exists "
                                                      "without its database (a new volume); otherwise refused.")]
CHAT_HELP = """Commands:
  /new       start a new conversation
  /sources   the passages behind the last answer (* = cited)
  /session   the id of this conversation (continue it later with --session ID)
  /help      this list
  /quit      leave (also /exit, /q, Ctrl-D)
Anything else is a question about the article."""


def _version(show: bool) -> None:
    if show:
        from importlib.metadata import version

        typer.echo(f"articlechat {version('articlechat')}")
        raise typer.Exit()


@app.callback()
def main(show_version: Annotated[bool, typer.Option("--version", metavar="", callback=_version, is_eager=True,
                                                    help="Print the version and exit.")] = False) -> None:
    """Talk to an article: grounded, cited answers from a local Chroma store."""


def _err(message: str) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)


def handles_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn articlechat errors into a one-line message and an exit code (2: bad input or settings, 1: other)."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (InvalidInput, ConfigError) as exc:
            _err(f"error: {exc}")
            raise typer.Exit(2) from None
        except ArticlechatError as exc:
            _err(f"error: {exc}")
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            raise typer.Exit(130) from None

    return wrapper


def _settings(llm: str | None = None) -> Settings:
    return load_settings(**({"llm": llm} if llm else {}))


def _service(settings: Settings, **options: bool) -> ArticleChat:
    """The application service over the configured store (``options``: those of :meth:`ArticleChat.open`)."""
    from articlechat.service import ArticleChat

    return ArticleChat.open(settings, **options)


def _ready_service(settings: Settings) -> ArticleChat:
    """The service ready to answer, after ingesting the bundled article into an empty store."""
    _show_warnings()
    chat = _service(settings)
    if doc := chat.prepare():
        _err_dim(f"First use: added the bundled article “{doc.title}” by {doc.author} to the store.")
    return chat


def _err_dim(message: str) -> None:
    typer.secho(message, dim=True, err=True)


class _WarningLine(logging.Handler):
    """Shows a warning of articlechat's (such as a model fallback) as one line on stderr, without a traceback."""

    def emit(self, record: logging.LogRecord) -> None:
        typer.secho(f"warning: {record.getMessage()}", fg=typer.colors.YELLOW, err=True)


def _show_warnings() -> None:
    logger = logging.getLogger("articlechat")
    if not any(isinstance(h, _WarningLine) for h in logger.handlers):
        logger.addHandler(_WarningLine(logging.WARNING))


def _print_answer(answer: Answer, streamed: bool = False) -> None:
    if not streamed:
        typer.echo(answer.answer)
    cited = [s for s in answer.sources if s.cited]
    if cited:
        typer.echo("\nSources:")
    for s in cited:
        typer.secho(f"  [{s.n}] {s.title or s.source} (chars {s.start}-{s.end})", bold=True)
        typer.echo(f"      {_snippet(s.text, answer.answer, s.n)}")


def _snippet(passage: str, answer: str, n: int, width: int = 220) -> str:
    """The part of ``passage`` that the answer quotes before ``[n]``, else the passage's start, in about ``width``
    characters."""
    text = " ".join(passage.split())
    quoted = [" ".join(piece.split()) for part in re.findall(rf"([^\[\]]+?)\s*\[{n}\]", answer)
              for piece in part.split(ELLIPSIS)]
    at = next((text.find(q) for q in quoted if q and q in text), 0)
    start = max(0, at - 20) if at else 0
    snippet = text[start : start + width]
    return ("..." if start else "") + snippet + ("..." if start + width < len(text) else "")


def _stream_answer(chat: ArticleChat, question: str, session_id: str | None, doc: str | None) -> Answer:
    """Print tokens as they arrive; return the final answer."""
    from articlechat.contract import Answer

    for event in chat.stream(question, session_id, doc):
        if isinstance(event, Answer):
            typer.echo()
            return event
        typer.echo(event.text, nl=False)
    raise ArticlechatError("The answer stream ended without an answer.")


@app.command()
@handles_errors
def ask(question: Annotated[str, typer.Argument(metavar="QUESTION", help="Your question about the article.")],
        session: SessionOpt = None, doc: DocOpt = None, as_json: JsonOpt = False, llm: LlmOpt = None) -> None:
    """Ask one question (continue a conversation with --session)."""
    from articlechat.service import ArticleChat

    settings = _settings(llm)
    ArticleChat.check_question(question, settings)  # refuse bad input before loading any model
    chat = _ready_service(settings)
    if as_json:
        typer.echo(chat.ask(question, session, doc).model_dump_json())
        return
    answer = _stream_answer(chat, question, session, doc)
    _print_answer(answer, streamed=True)
    _err_dim(f"session: {answer.session_id}")


@app.command()
@handles_errors
def chat(session: SessionOpt = None, doc: DocOpt = None, llm: LlmOpt = None) -> None:
    """An interactive conversation (/new, /sources, /session, /help, /quit)."""
    settings = _settings(llm)
    service = _ready_service(settings)
    doc = service.check_conversation(session, doc)  # an unknown document or session stops here, not at a question
    history_file = settings.data_dir / "chat_history"
    _enable_readline(history_file)
    last: Answer | None = None
    typer.secho(f"Continuing session {session}." if session else "A new conversation.", dim=True)
    typer.secho("Ask about the article. Commands: /new  /sources  /session  /help  /quit", dim=True)
    while True:
        try:
            line = input("you> ").strip()
        except EOFError:
            typer.echo()
            break
        if line in ("/quit", "/exit", "/q"):
            break
        if line in ("/help", "/?"):
            typer.echo(CHAT_HELP)
        elif line == "/new":
            session, last = None, None
            typer.secho("(new conversation)", dim=True)
        elif line == "/sources":
            _print_sources(last)
        elif line == "/session":
            typer.echo(session or "(no session yet: it starts with the first answer)")
        elif line.startswith("/"):
            _err(f"Unknown command {line.split()[0]}; /help lists the commands.")
        elif line:
            try:
                typer.secho("articlechat> ", fg=typer.colors.CYAN, nl=False)
                last = _stream_answer(service, line, session, doc)
                if session is None:
                    typer.secho(f"(session {last.session_id}: continue it with --session {last.session_id})",
                                dim=True)
                session = last.session_id
            except InvalidInput as exc:
                _err(f"error: {exc}")
    if session:
        _err_dim(f"session: {session}")
    _save_readline(history_file)


def _print_sources(answer: Answer | None) -> None:
    if answer is None:
        typer.secho("(no answer yet)", dim=True)
        return
    for s in answer.sources:
        mark = "*" if s.cited else " "
        typer.echo(f"{mark}[{s.n}] {s.title or s.source} score={s.score:.2f}\n    {' '.join(s.text.split())}")


def _enable_readline(history_file: Path) -> None:
    try:
        import readline

        if history_file.exists():
            readline.read_history_file(history_file)
    except (ImportError, OSError):
        pass


def _save_readline(history_file: Path) -> None:
    try:
        import readline

        history_file.parent.mkdir(parents=True, exist_ok=True)
        readline.set_history_length(1000)
        readline.write_history_file(history_file)
    except (ImportError, OSError):
        pass


IdOpt = Annotated[str | None, typer.Option("--id", metavar="ID", help="The document's id (one file only; default: "
                                                                      "its canonical URL, else a slug of its name).")]


@app.command()
@handles_errors
def ingest(paths: Annotated[list[str], typer.Argument(
        help=".txt, .md or .html files, folders of them, or http(s) URLs of articles, sitemaps or RSS/Atom feeds.",
        metavar="PATH|URL...")],
           doc_id: IdOpt = None,
           title: Annotated[str | None, typer.Option(metavar="TITLE",
                                                     help="The title (default: from the document).")] = None,
           author: Annotated[str | None, typer.Option(metavar="NAME",
                                                      help="The author (default: from the document).")] = None,
           published: Annotated[str | None, typer.Option("--date", metavar="YYYY-MM-DD",
                                                         help="The publication date.")] = None,
           url: Annotated[str | None, typer.Option(metavar="URL",
                                                   help="The canonical URL (default: from the page).")] = None,
           init: InitOpt = False) -> None:
    """Add or update documents in the store (unchanged files and pages add nothing)."""
    from articlechat.ingest.fetch import is_url
    from articlechat.store.chroma import init_embedded_store

    meta = {k: v for k, v in {"id": doc_id, "title": title, "author": author, "published": published,
                              "url": url}.items() if v}
    if meta and any(is_url(p) for p in paths):
        raise InvalidInput("--id, --title, --author, --date and --url describe one file; pages bring their own.")
    settings = _settings()
    if init and init_embedded_store(settings):
        _err_dim(f"created a new, empty store in {settings.store.chroma_path}")
    chat = _service(settings, ingesting=True)
    with _passage_progress("embedding passages") as on_progress:
        report = chat.ingest(paths, meta, on_progress)
    for _source, message in report.failed:
        _err(f"failed: {message}")
    for label in ("added", "replaced", "unchanged"):
        for source in getattr(report, label):
            typer.echo(f"{label}: {source}")
    typer.echo(report.summary())
    server = running_server(settings)
    if server and (report.added or report.replaced):
        _err_dim(f"The server running at {server} (pid file {server_file(settings)}) answers about these documents "
                 "from its next request on; no restart needed.")
    if report.failed:
        raise typer.Exit(1)


@app.command()
@handles_errors
def extract(target: Annotated[str, typer.Argument(help="An .html, .md or .txt file, or an http(s) URL.",
                                                  metavar="PATH|URL")],
            as_json: JsonOpt = False) -> None:
    """Print what `ingest` would store for one file or page (id, title, author, date, url, language, text)."""
    from articlechat.ingest.web import extract_target

    doc = extract_target(target, _settings())
    fields = {"id": doc.id, "title": doc.title, "author": doc.author, "date": doc.published, "url": doc.url,
              "language": doc.language}
    if as_json:
        typer.echo(json.dumps({**fields, "text": doc.text}, ensure_ascii=False))
        return
    for name, value in fields.items():
        typer.echo(f"{name + ':':<10}{value or ''}".rstrip())
    typer.echo(f"\n{doc.text}")


@contextmanager
def _passage_progress(label: str) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on stderr: passages done / total, rate and time left."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]}"), TimeRemainingColumn())
    with Progress(*columns, transient=True, console=_stderr_console()) as progress:
        task = progress.add_task(label, total=None, rate="")

        def on_progress(done: int, total: int) -> None:
            speed = progress.tasks[0].speed
            progress.update(task, total=total, completed=done, rate=f"{speed:.1f} passages/s" if speed else "")

        yield on_progress


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def server_file(settings: Settings) -> Path:
    """Where a running `serve` writes its pid and address, for an `ingest` beside it to find."""
    return settings.data_dir / "server.json"


def running_server(settings: Settings) -> str | None:
    """The address of a `serve` running on this store, if one is."""
    try:
        marker = json.loads(server_file(settings).read_text())
        os.kill(int(marker["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return str(marker["url"])


@contextmanager
def _announced(settings: Settings, url: str) -> Iterator[None]:
    """Write :func:`server_file` while the server runs."""
    marker = server_file(settings)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"pid": os.getpid(), "url": url}))
    try:
        yield
    finally:
        marker.unlink(missing_ok=True)


@app.command()
@handles_errors
def documents(as_json: JsonOpt = False) -> None:
    """List the documents in the store: id, title, author, date, URL and passages."""
    docs = _service(_settings(), verify=False).documents()
    if as_json:
        typer.echo(json.dumps([{"id": d.id, "title": d.title, "author": d.author, "date": d.published, "url": d.url,
                                "passages": d.passages, "chars": d.chars, "ingested_at": d.ingested_at}
                               for d in docs]))
        return
    if not docs:
        typer.echo("The store is empty. Add documents with `articlechat ingest PATH`.")
    for d in docs:
        labels = [d.title or "(no title)", f"by {d.author}" if d.author else "", d.published or "", d.url or ""]
        typer.echo(f"{d.id}\n    {' · '.join(x for x in labels if x)} · {d.passages} passages · "
                   f"{d.chars:,} chars · ingested {d.ingested_at}")


@app.command()
@handles_errors
def remove(source: Annotated[str, typer.Argument(metavar="ID", help="A document id as `documents` lists it (or the "
                                                                   "file it was ingested from).")]) -> None:
    """Delete a document from the store."""
    chat = _service(_settings(), verify=False)
    removed = chat.remove(chat.document_id(source))
    typer.echo(f"removed {removed.id} ({removed.passages} passages)")


@app.command()
@handles_errors
def reindex() -> None:
    """Rebuild the collection with the configured embedding model from the stored documents (and migrate a store
    made by an earlier version)."""
    chat = _service(_settings(), verify=False, ingesting=True, migrating=True)
    with _passage_progress("re-embedding passages") as on_progress:
        report = chat.reindex(on_progress)
    for _source, message in report.failed:
        _err(f"failed: {message}")
    if report.failed:
        raise ArticlechatError("The store was left as it was: fix the documents above and run `articlechat reindex` "
                               "again.")
    typer.echo(f"reindexed {len(report.added)} documents")


@app.command()
@handles_errors
def sessions(as_json: JsonOpt = False) -> None:
    """List recent conversations."""
    from articlechat.service import ArticleChat

    found = ArticleChat(_settings()).conversations()
    if as_json:
        typer.echo(json.dumps([s.__dict__ for s in found]))
        return
    if not found:
        typer.echo("No sessions yet.")
    for s in found:
        first = (s.first_question or "")[:60]
        typer.echo(f"{s.id}  {s.updated_at}  {s.messages // 2} turns  {s.doc or 'all documents'}  {first}")


@app.command("purge-sessions")
@handles_errors
def purge_sessions(days: Annotated[int | None, typer.Option(min=0, metavar="DAYS",
                                                            help="Delete sessions unused this many days "
                                                                       "(default: ARTICLECHAT_SESSION_TTL_DAYS).",
                                                            show_default=False)] = None) -> None:
    """Migrate the session database to this version and delete the sessions unused for too long."""
    from articlechat.service import ArticleChat

    purged = ArticleChat(_settings()).purge_sessions(days)
    typer.echo(f"purged {purged.removed} sessions unused for {purged.days} days" if purged.days
               else "retention is off: nothing purged")


def _exit_on_signal(signum: int, _frame: object) -> None:
    """Exit with the shell's status for a fatal signal (128 + its number), unwinding the stack."""
    raise SystemExit(128 + signum)


@contextmanager
def _metrics_directory() -> Iterator[None]:
    """A fresh directory for this server's Prometheus metrics, as PROMETHEUS_MULTIPROC_DIR, removed when it stops: the
    workers write their counters there and /metrics sums them. prometheus_client reads the variable when it is first
    imported, so nothing may import it before."""
    import shutil
    import tempfile

    directory = tempfile.mkdtemp(prefix="articlechat-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    try:
        yield
    finally:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        shutil.rmtree(directory, ignore_errors=True)


@app.command()
@handles_errors
def serve(host: Annotated[str | None, typer.Option(metavar="HOST", help="Address to listen on (default: "
                                                                       "ARTICLECHAT_HOST, else "
                                                        "127.0.0.1).", show_default=False)] = None,
          port: Annotated[int | None, typer.Option(metavar="PORT", help="Port (default: ARTICLECHAT_PORT, else 8000).",
                                                   show_default=False)] = None,
          workers: Annotated[int, typer.Option(min=1, metavar="N",
                                               help="Worker processes (each loads the models; more than one "
                                                           "needs a Chroma server).")] = 1,
          reload: Annotated[bool, typer.Option("--reload", metavar="",
                                               help="Restart when the code changes (development).")]
          = False, init: InitOpt = False) -> None:
    """Run the HTTP API and widget (OpenAPI docs at /docs); Ctrl-C or SIGTERM stops it gracefully."""
    import uvicorn

    from articlechat.store.chroma import check_embedded_store, init_embedded_store

    settings = _settings()  # bad settings fail here, before any worker starts
    if workers > 1 and not settings.store.chroma_host:
        raise ConfigError(f"--workers {workers} needs a Chroma server: the embedded store is not safe for several "
                          "processes. Start one with `chroma run --path DIR --host 127.0.0.1 --port 8001` (installed "
                          "with chromadb), then set ARTICLECHAT_CHROMA_HOST=127.0.0.1 and ARTICLECHAT_CHROMA_PORT=8001;"
                          " or use --workers 1.")
    if init and init_embedded_store(settings):
        _err_dim(f"created a new, empty store in {settings.store.chroma_path}")
    if not settings.store.chroma_host:
        check_embedded_store(settings.store.chroma_path)  # one clear line, before uvicorn starts
    host, port = host or settings.server.host, port or settings.server.port
    # The app factory runs in the worker processes and reads its settings from the environment.
    os.environ.update(ARTICLECHAT_HOST=host, ARTICLECHAT_PORT=str(port))
    # uvicorn re-raises SIGTERM once it has shut down gracefully: leave through the finally blocks below then.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    with _metrics_directory(), _announced(settings, f"http://{host}:{port}"):
        from articlechat.api.observability import log_config  # after the metrics directory is set (see there)
        from articlechat.api.server import uvicorn_options  # (it imports the API, which imports prometheus_client)

        uvicorn.run("articlechat.api.app:create_app", factory=True, host=host, port=port, workers=workers,
                    reload=reload, reload_dirs=[str(Path(__file__).parent)] if reload else None,
                    log_config=log_config(), access_log=False, timeout_graceful_shutdown=10,
                    **uvicorn_options(settings))


@app.command("eval")
@handles_errors
def evaluate(file: Annotated[Path, typer.Argument(metavar="FILE.jsonl",
                                                  help="Question set, JSON lines: scripted (kind/turns/...) or SQuAD "
                                                        "(id/doc/question/answers/impossible, articles/ beside it).")],
             as_json: JsonOpt = False, llm: LlmOpt = None, doc: DocOpt = None) -> None:
    """Score the agent on a question set: per-kind accuracy, hit@k and MRR; or SQuAD figures overall and per article."""
    from articlechat.evaluation import (
        Report,
        SquadItem,
        ingest_articles,
        load_items,
        run_eval,
        run_squad,
        squad_articles,
    )
    from articlechat.ingest import Ingestor

    items = load_items(file)
    squad = isinstance(items[0], SquadItem)
    if squad and doc:
        raise InvalidInput("--doc does not apply to a SQuAD set: each question names its article (doc).")
    articles = squad_articles(file, items) if squad else {}  # refuse missing articles before loading any model
    settings = _settings(llm)
    chat = _ready_service(settings)
    report: Report
    if squad:
        report = run_squad(chat.agent, items, ingest_articles(Ingestor(chat.store), articles), settings.top_k)
    else:
        report = run_eval(chat.agent, items, settings.top_k, doc)
    if as_json:
        typer.echo(json.dumps(report.to_json()))
        return
    for line in report.lines():
        typer.echo(line)


@app.command()
@handles_errors
def report(doc: DocOpt = None,
           since: Annotated[str | None, typer.Option(metavar="DATE", help="Only questions from this date "
                                                     "(YYYY-MM-DD) or ISO 8601 time on.")] = None,
           as_json: JsonOpt = False) -> None:
    """What readers asked: per document, answered and declined, the most asked questions (near-duplicates grouped),
    the questions it did not answer (content gaps) and the answers readers found unhelpful."""
    from articlechat.report import format_report, parse_since

    moment = parse_since(since) if since else None  # a bad date stops here, before any model loads
    found = _service(_settings(), verify=False).report(doc, moment)
    typer.echo(found.model_dump_json() if as_json else format_report(found))
