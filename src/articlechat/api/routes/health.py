"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Annotated

from anyio.to_thread import run_sync
from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST

from articlechat.api.schemas import ErrorBody, Readiness
from articlechat.api.state import AppState, app_state

router = APIRouter(tags=["operations"])
State = Annotated[AppState, Depends(app_state)]


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"model": ErrorBody, "description": "The store cannot be reached."}})
async def readyz(state: State) -> Readiness:
    """Ready to answer: the models are loaded (at startup) and the store answers."""
    ready = await run_sync(state.chat.readiness)
    return Readiness(status="ready", backend=ready.backend, chunks=ready.passages)


@router.get("/metrics", response_class=Response)
async def metrics(state: State) -> Response:
    """Prometheus metrics."""
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
