"""The FastAPI application: ``create_app(settings)``; ``articlechat serve`` runs it under uvicorn."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from anyio.to_thread import run_sync
from fastapi import FastAPI

from articlechat.api import web
from articlechat.api.errors import install_error_handlers
from articlechat.api.observability import Metrics, ModelCallTimer, RequestContextMiddleware
from articlechat.api.routes import admin, chat, health, openai_compat
from articlechat.api.schemas import ErrorBody
from articlechat.api.security import BodyLimitMiddleware, JsonCORSMiddleware, cors_options
from articlechat.api.state import AppState
from articlechat.chain.agent import Agent
from articlechat.config import Settings, load_settings
from articlechat.history import DatabaseUnavailable, SessionStore
from articlechat.service import ArticleChat

log = logging.getLogger("articlechat.api")
PURGE_SECONDS = 3600


def open_service(settings: Settings, metrics: Metrics) -> ArticleChat:
    """The service for the configured backend, its models loaded and the bundled article in an empty store."""
    chat = ArticleChat.open(settings, callbacks=[ModelCallTimer(metrics.model_calls)])
    if added := chat.prepare():
        log.info("added the bundled article “%s” to the empty store", added.title)
    return chat


async def purge_sessions(sessions: SessionStore, ttl_days: int) -> None:
    """Forget the sessions unused for ``ttl_days`` (0: keep them), now and every PURGE_SECONDS."""
    while ttl_days:
        try:
            removed = await run_sync(sessions.purge, datetime.now(UTC) - timedelta(days=ttl_days))
            if removed:
                log.info("purged %d sessions unused for %d days (ARTICLECHAT_SESSION_TTL_DAYS)", removed, ttl_days)
        except DatabaseUnavailable:
            pass  # logged by the store; the next round tries again
        await asyncio.sleep(PURGE_SECONDS)


def create_app(settings: Settings | None = None, agent: Agent | None = None) -> FastAPI:
    """The API for ``settings`` (default: from the environment). ``agent``: use this agent instead of loading one
    at startup."""
    settings = settings or load_settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        chat = ArticleChat.over(agent) if agent else await run_sync(open_service, settings, metrics)
        app.state.articlechat = AppState.start(settings, metrics, chat)
        ready = await run_sync(chat.readiness)
        log.info("ready: %s answers, %d chunks in the store", ready.backend, ready.passages)
        purging = asyncio.create_task(purge_sessions(chat.sessions, settings.session_ttl_days))
        yield
        purging.cancel()

    app = FastAPI(title="articlechat", summary="Grounded, cited answers about the stored articles.",
                  version="0.1.0", lifespan=lifespan,
                  responses={"4XX": {"model": ErrorBody, "description": "An error: {error: {code, message}}."}})
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, default=(settings.max_request_bytes, "ARTICLECHAT_MAX_REQUEST_BYTES"),
                       limits={admin.UPLOAD_PATH: (settings.max_file_bytes + admin.MULTIPART_OVERHEAD,
                                                   "ARTICLECHAT_MAX_FILE_BYTES")})
    app.add_middleware(JsonCORSMiddleware, **cors_options(settings))
    app.add_middleware(RequestContextMiddleware, metrics=metrics)  # outermost: ids and metrics for every response
    app.include_router(chat.router)
    app.include_router(openai_compat.router)
    app.include_router(admin.router)
    app.include_router(health.router)
    app.include_router(web.router)  # the demo page `GET /` and the widget `GET /widget.js` (issue 5)
    return app
