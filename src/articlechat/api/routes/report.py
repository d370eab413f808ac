"""The reader-question report (Bearer ARTICLECHAT_API_KEY)."""

from __future__ import annotations

from typing import Annotated

from anyio.to_thread import run_sync
from fastapi import APIRouter, Depends, Query

from articlechat.api.security import require_admin
from articlechat.api.state import AppState, app_state
from articlechat.report import Report, parse_since

router = APIRouter(tags=["admin"], dependencies=[Depends(require_admin)])
State = Annotated[AppState, Depends(app_state)]
SINCE = r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})?)?$"


@router.get("/api/report")
async def report(state: State,
                 doc: Annotated[str | None, Query(max_length=400, description="Only this document.")] = None,
                 since: Annotated[str | None, Query(pattern=SINCE, description="Only questions from this date "
                                                    "(YYYY-MM-DD) or ISO 8601 time on (UTC unless it says).")] = None,
                 ) -> Report:
    """What readers asked, per document: counts, answered and declined, the most asked questions (near-duplicates
    grouped), the questions it did not answer (content gaps), feedback and the answers found unhelpful."""
    return await run_sync(state.chat.report, doc, parse_since(since) if since else None)
