"""Admin endpoints (Bearer ARTICLECHAT_API_KEY): upload, list and remove documents."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Annotated

from anyio.to_thread import run_sync
from fastapi import APIRouter, Depends, Form, UploadFile
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.routing import Match
from starlette.types import Scope

from articlechat.api.errors import PayloadTooLarge
from articlechat.api.schemas import DocumentOut, RemoveResult, UploadResult
from articlechat.api.security import require_admin
from articlechat.api.state import AppState, app_state
from articlechat.errors import InvalidInput

UPLOAD_PATH = "/api/documents"
router = APIRouter(prefix=UPLOAD_PATH, tags=["admin"], dependencies=[Depends(require_admin)])
State = Annotated[AppState, Depends(app_state)]
MULTIPART_OVERHEAD = 64 * 1024  # room for the form's headers and boundaries around the file


# The file part, as the schema's encoding documents it (a text file: its name's extension says which format).
UPLOAD_ENCODING = {"file": {"contentType": "text/plain, text/markdown, text/html", "headers": {"Content-Disposition": {
    "schema": {"type": "string"}, "example": 'form-data; name="file"; filename="article.txt"'}}}}


class UrlUpload(BaseModel):
    """An article page to fetch and ingest."""

    url: str = Field(max_length=4000, description="http(s) URL of an article page.",
                     examples=["https://news.example/2026/11/03/tidal-lagoon"])


class JsonBodyRoute(APIRoute):
    """Matches only JSON requests, so that one path takes a JSON body here and a multipart form in the next route."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        content_type = dict(scope.get("headers") or []).get(b"content-type", b"").split(b";")[0].strip().lower()
        return (match, child) if content_type == b"application/json" else (Match.NONE, {})


async def ingest_url(body: UrlUpload, state: State) -> UploadResult:
    """Fetch an article page and ingest it (unchanged since the last fetch: nothing to do)."""
    ingested = await run_sync(state.chat.ingest_url, body.url)
    return UploadResult(source=ingested.id, outcome=ingested.outcome)


router.add_api_route("", ingest_url, methods=["POST"], route_class_override=JsonBodyRoute, include_in_schema=False)
URL_BODY = {"application/json": {"schema": UrlUpload.model_json_schema()}}


@router.post("", openapi_extra={"requestBody": {"content": {"multipart/form-data": {"encoding": UPLOAD_ENCODING},
                                                            **URL_BODY}}},
             description="Ingest an uploaded .txt, .md or .html file (UTF-8) under its file name (or `source`), or "
                         "(a JSON body `{\"url\": ...}`) fetch an article page and ingest it.")
async def upload_document(file: UploadFile, state: State,
                          doc_id: Annotated[str | None, Form(alias="id", description="The document's id (default: "
                                                       "its canonical URL, else a slug of its file name).")] = None,
                          source: Annotated[str | None, Form(description="The id, under its earlier name.")] = None,
                          ) -> UploadResult:
    """Ingest an uploaded .txt, .md or .html file (UTF-8) under `id` (else its canonical URL, else a slug of its file
    name)."""
    limit = state.settings.max_file_bytes
    if file.size is not None and file.size > limit:
        raise PayloadTooLarge(f"The file is {file.size:,} bytes; the limit is {limit:,} (ARTICLECHAT_MAX_FILE_BYTES).")
    name = PurePosixPath((file.filename or "").replace("\\", "/")).name
    if not name:
        raise InvalidInput("The upload has no file name; name it NAME.txt, NAME.md or NAME.html.")
    raw = await file.read()
    ingested = await run_sync(state.chat.ingest_upload, raw, name, doc_id or source)
    return UploadResult(source=ingested.id, outcome=ingested.outcome)


@router.get("")
async def list_documents(state: State) -> list[DocumentOut]:
    """Every document in the store."""
    return [DocumentOut.of(d) for d in await run_sync(state.chat.documents)]


@router.delete("/{source:path}")
async def remove_document(source: str, state: State) -> RemoveResult:
    """Remove a document (its source as listed) from the store."""
    removed = await run_sync(state.chat.remove, source)
    return RemoveResult(source=removed.id, removed_chunks=removed.passages)
