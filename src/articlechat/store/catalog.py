"""The document catalog: one typed record per document, apart from the vector index, and the store's generation."""

from __future__ import annotations

import uuid
from typing import Any

from articlechat.store.chroma import ChromaConnection, guarded
from articlechat.store.records import DocumentRecord

SCHEMA = 2  # 1: documents known only from their chunks' metadata, ids were file paths
_STORE_RECORD = ":store"  # no document id starts with ":"
_NO_VECTOR = [1.0]  # a Chroma record needs an embedding; the catalog is never searched by similarity


class Catalog:
    """Document records in a Chroma collection beside the index, so every process sharing the store shares them
    (and sees a change at once: Chroma reads records, unlike vectors, fresh from its database).

    The store record holds the schema version and a generation that every change renews: a process that finds
    another generation than the one it last saw knows that another process changed the store."""

    def __init__(self, connection: ChromaConnection, name: str) -> None:
        self.connection = connection
        self.name = name
        self.reopen()

    def reopen(self) -> None:
        """Open the collection by name (again)."""
        self.collection: Any = self.connection.client.get_or_create_collection(self.name)

    @guarded
    def state(self) -> tuple[int, str] | None:
        """(schema version, generation); None for a store without a catalog (empty, or made by an earlier version)."""
        metadatas = self.collection.get(ids=[_STORE_RECORD], include=["metadatas"])["metadatas"]
        return (int(metadatas[0]["schema"]), str(metadatas[0]["generation"])) if metadatas else None

    @guarded
    def renew_generation(self) -> str:
        """Mark the store changed; returns the new generation."""
        generation = uuid.uuid4().hex
        self.collection.upsert(ids=[_STORE_RECORD], embeddings=[_NO_VECTOR],
                               metadatas=[{"schema": SCHEMA, "generation": generation}])
        return generation

    @guarded
    def get(self, document: str) -> DocumentRecord | None:
        """The record of ``document``, if it is in the store."""
        metadatas = self.collection.get(ids=[document], include=["metadatas"])["metadatas"]
        return DocumentRecord.from_metadata(metadatas[0]) if metadatas else None

    @guarded
    def all(self) -> list[DocumentRecord]:
        """Every document's record, by id."""
        data = self.collection.get(include=["metadatas"])
        records = [DocumentRecord.from_metadata(m) for i, m in zip(data["ids"], data["metadatas"], strict=True)
                   if i != _STORE_RECORD]
        return sorted(records, key=lambda r: r.id)

    @guarded
    def upsert(self, records: list[DocumentRecord]) -> None:
        """Add or replace ``records``."""
        step = self.connection.max_batch()
        for begin in range(0, len(records), step):
            part = records[begin : begin + step]
            self.collection.upsert(ids=[r.id for r in part], embeddings=[_NO_VECTOR] * len(part),
                                   metadatas=[r.to_metadata() for r in part])

    @guarded
    def delete(self, document: str) -> None:
        """Forget ``document``'s record."""
        self.collection.delete(ids=[document])

    @guarded
    def count(self) -> int:
        """How many documents the catalog lists."""
        return max(0, int(self.collection.count()) - (self.state() is not None))
