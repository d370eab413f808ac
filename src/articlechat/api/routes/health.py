"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import logging
from typing import Annotated

from anyio.to_thread import run_sync
from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST

from articlechat.api.schemas import ErrorBody, Readiness
from articlechat.api.state import AppState, app_state
from articlechat.errors import StoreUnavailable
from articlechat.store import ArticleStore

log = logging.getLogger("articlechat.api")
router = APIRouter(tags=["operations"])
State = Annotated[AppState, Depends(app_state)]
NOT_READY = "Not ready: the article index cannot be queried."  # the details go to the log, not to the caller


def probe_index(store: ArticleStore) -> int:
    """Run a real one-passage query against the vector index; the passage count when it answers as the count says
    (an index whose vector files are damaged or gone finds nothing though passages are stored)."""
    chunks = store.count()
    axis = [1.0] + [0.0] * (store.backend.dimension() - 1)
    if chunks and not store.search(axis, 1):
        raise StoreUnavailable(f"The vector index finds nothing though it holds {chunks} passages.")
    return chunks


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"model": ErrorBody, "description": "The index cannot be queried."}})
async def readyz(state: State) -> Readiness:
    """Ready to answer: the models are loaded (at startup) and a real query of the index answers."""
    agent = state.agent
    try:
        chunks = await run_sync(probe_index, agent.store)
    except Exception as exc:  # whatever the store client raises, the service is not ready
        log.warning("not ready: %s", exc)
        raise StoreUnavailable(NOT_READY) from exc
    return Readiness(status="ready", backend=agent.backend_name, chunks=chunks)


@router.get("/metrics", response_class=Response)
async def metrics(state: State) -> Response:
    """Prometheus metrics."""
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
