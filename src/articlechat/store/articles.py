"""The article store: the document catalog and the vector index of one collection, kept fresh across processes."""

from __future__ import annotations

from threading import Lock
from typing import Any

import numpy as np

from articlechat.config import Settings
from articlechat.embeddings import EmbeddingBackend
from articlechat.errors import NotFound, StoreOutdated
from articlechat.store.catalog import Catalog
from articlechat.store.chroma import ChromaConnection, ChromaIndex
from articlechat.store.ids import is_id
from articlechat.store.records import ChunkRecord, DocumentRecord, Hit, rebuild_text

MIGRATE_COMMAND = "articlechat reindex"


class ArticleStore:
    """Documents (catalog records) and their passages (vector index) in one Chroma collection pair.

    Every operation first compares the catalog's generation with the one this process last saw: when another process
    (a CLI ingest, another worker) changed the store, what this one holds open is reopened, so it answers about the
    new documents at once. With ``migrating``, a store made by an earlier version is opened for `reindex` instead of
    refused."""

    def __init__(self, settings: Settings, backend: EmbeddingBackend, client: Any | None = None,
                 verify: bool = True, migrating: bool = False) -> None:
        self.settings = settings
        self.backend = backend
        self.migrating = migrating
        self.connection = ChromaConnection(settings, client)
        self.index = ChromaIndex(self.connection, settings.collection, backend, verify)
        self.catalog = Catalog(self.connection, f"{settings.collection}-catalog")
        self._lock = Lock()
        state = self.catalog.state()
        self._seen = state[1] if state else None

    @property
    def client(self) -> Any:
        """The chromadb client in use."""
        return self.connection.client

    @property
    def collection(self) -> Any:
        """The index's chromadb collection."""
        return self.index.collection

    def fresh(self) -> None:
        """Reopen what another process changed since this one last looked; refuse a store of an earlier version."""
        state = self.catalog.state()
        generation = state[1] if state else None
        if generation != self._seen:
            with self._lock:
                if generation != self._seen:
                    self.connection.renew()
                    self.index.reopen()
                    self.catalog.reopen()
                    self._seen = generation
        if state is None and not self.migrating and self.index.count():
            raise StoreOutdated(f"The store at {self.settings.collection!r} was made by an earlier version of "
                                f"articlechat (documents named by file paths). Run `{MIGRATE_COMMAND}` once to migrate "
                                "it: documents get short ids and a catalog; nothing is lost.")

    def _changed(self) -> None:
        self._seen = self.catalog.renew_generation()

    # Reads -----------------------------------------------------------------------------------------------------

    def count(self) -> int:
        """How many passages the store holds."""
        self.fresh()
        return self.index.count()

    def probe(self) -> int:
        """How many passages the store holds, after a real query of its vector index (see :meth:`ChromaIndex.probe`)."""
        self.fresh()
        return self.index.probe()

    def search(self, query_vector: list[float], k: int, source: str | None = None) -> list[Hit]:
        """The ``k`` passages nearest to ``query_vector``, optionally only from document ``source``."""
        self.fresh()
        return self.index.query(query_vector, k, source)

    def first_chunk(self, source: str) -> Hit | None:
        """The opening passage of document ``source`` (its title and lead)."""
        self.fresh()
        return self.index.opening(source)

    def chunk_ids(self, source: str) -> set[str]:
        """Ids of the passages stored for ``source``."""
        self.fresh()
        return {c.id for c in self.index.get(source)}

    def record(self, source: str) -> DocumentRecord | None:
        """The catalog record of ``source``."""
        self.fresh()
        return self.catalog.get(source)

    def documents(self) -> list[DocumentRecord]:
        """Every document's record, by id."""
        self.fresh()
        return self.catalog.all()

    def document_text(self, source: str) -> str:
        """The cleaned text of ``source``, rebuilt from its passages."""
        self.fresh()
        return rebuild_text(self.index.get(source, with_text=True))

    def has_source(self, source: str) -> bool:
        """Whether document ``source`` is in the store."""
        return self.record(source) is not None

    def resolve_source(self, name: str) -> str:
        """``name`` when it is the id of a stored document, else :class:`NotFound`."""
        if is_id(name) and self.has_source(name):
            return name
        raise NotFound(f"No document '{name[:200]}' in the store (see `articlechat documents`).")

    # Writes ----------------------------------------------------------------------------------------------------

    def upsert_chunks(self, chunks: list[ChunkRecord], vectors: np.ndarray) -> None:
        """Add or overwrite passages."""
        self.fresh()
        self.index.upsert(chunks, vectors)
        self._changed()

    def delete_chunks(self, ids: list[str]) -> None:
        """Remove passages."""
        if ids:
            self.index.delete(ids)
            self._changed()

    def put_record(self, record: DocumentRecord) -> None:
        """Add or replace a document's catalog record."""
        self.catalog.upsert([record])
        self._changed()

    def delete_source(self, source: str) -> int:
        """Remove document ``source`` (passages and record); returns how many passages there were."""
        ids = sorted(self.chunk_ids(source))
        self.index.delete(ids)
        self.catalog.delete(source)
        self._changed()
        return len(ids)

    # Rebuilding ------------------------------------------------------------------------------------------------

    def staging(self) -> ArticleStore:
        """An empty sibling store (index and catalog) to rebuild into before :meth:`replace_with` swaps it in."""
        name = f"{self.settings.collection[:50]}-reindex"
        staging = ArticleStore(self.settings.model_copy(update={"collection": name}), self.backend,
                               self.connection.client, verify=False)
        staging.index.vectorstore.reset_collection()  # a reindex that died earlier may have left one behind
        self.connection.client.delete_collection(staging.catalog.name)
        staging.catalog.reopen()
        return staging

    def replace_with(self, staging: ArticleStore) -> None:
        """Make ``staging``'s index and catalog this store's (the old ones are dropped)."""
        self.index.swap(staging.index)
        client = self.connection.client
        if self.catalog.name in {c.name for c in client.list_collections()}:
            client.delete_collection(self.catalog.name)
        staging.catalog.collection.modify(name=self.catalog.name)
        self.catalog.reopen()
        self._changed()
        self.migrating = False
