"""Admin endpoints (Bearer ARTICLECHAT_API_KEY): upload, list and remove documents."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Annotated

from anyio.to_thread import run_sync
from fastapi import APIRouter, Depends, Form, UploadFile

from articlechat.api.errors import PayloadTooLarge
from articlechat.api.schemas import DocumentOut, RemoveResult, UploadResult
from articlechat.api.security import require_admin
from articlechat.api.state import AppState, app_state
from articlechat.errors import InvalidInput, NotFound
from articlechat.ingest import Ingestor

UPLOAD_PATH = "/api/documents"
router = APIRouter(prefix=UPLOAD_PATH, tags=["admin"], dependencies=[Depends(require_admin)])
State = Annotated[AppState, Depends(app_state)]
MULTIPART_OVERHEAD = 64 * 1024  # room for the form's headers and boundaries around the file


# The file part, as the schema's encoding documents it (a text file: its name's extension says which format).
UPLOAD_ENCODING = {"file": {"contentType": "text/plain, text/markdown, text/html", "headers": {"Content-Disposition": {
    "schema": {"type": "string"}, "example": 'form-data; name="file"; filename="article.txt"'}}}}


@router.post("", openapi_extra={"requestBody": {"content": {"multipart/form-data": {"encoding": UPLOAD_ENCODING}}}})
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
    store = state.store

    def ingest() -> tuple[str, str]:
        with state.ingest_lock:
            return Ingestor(store).ingest_text(raw, name, doc_id or source)

    stored_id, outcome = await run_sync(ingest)
    return UploadResult(source=stored_id, outcome=outcome)


@router.get("")
async def list_documents(state: State) -> list[DocumentOut]:
    """Every document in the store."""
    docs = await run_sync(state.store.documents)
    return [DocumentOut.model_validate(d, from_attributes=True) for d in docs]


@router.delete("/{source:path}")
async def remove_document(source: str, state: State) -> RemoveResult:
    """Remove a document (its source as listed) from the store."""
    store = state.store

    def remove() -> int:
        with state.ingest_lock:
            return store.delete_source(source)

    removed = await run_sync(remove)
    if not removed:
        raise NotFound(f"No document '{source}' in the store (see GET /api/documents).")
    return RemoveResult(source=source, removed_chunks=removed)
