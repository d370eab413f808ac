"""The Chroma vector index (embedded PersistentClient or a Chroma server), through langchain-chroma."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np

from articlechat.config import Settings
from articlechat.embeddings import EmbeddingBackend
from articlechat.errors import EmbeddingMismatch, StoreUnavailable
from articlechat.store.records import ChunkRecord, Hit

_Operation = TypeVar("_Operation", bound=Callable[..., Any])
DATABASE_FILE = "chroma.sqlite3"  # what an embedded store folder always holds once created
INIT_COMMAND = "articlechat serve --init"


def where(settings: Settings) -> str:
    """The store's location, for messages."""
    store = settings.store
    if store.chroma_host:
        return f"server {store.chroma_host}:{store.chroma_port}"
    return str(store.chroma_path)


def check_embedded_store(path: Path) -> None:
    """Refuse a store folder that exists without its database: an unmounted volume or a lost file, not a new store
    (opening it would silently start an empty one and serve only the bundled article). An absent folder is a new
    store."""
    if path.exists() and not (path / DATABASE_FILE).is_file():
        raise StoreUnavailable(
            f"The store folder {path} exists but holds no {DATABASE_FILE}: is the data volume mounted? "
            f"Nothing was changed. If a new, empty store is what you want there, run `{INIT_COMMAND}` (or "
            "`articlechat ingest --init PATH...`), which creates it.")


def init_embedded_store(settings: Settings) -> bool:
    """Create an empty embedded store in a folder that has none (``--init``); True when it did. A Chroma server or
    an existing store is left as it is."""
    path = settings.store.chroma_path
    if settings.store.chroma_host or (path / DATABASE_FILE).is_file():
        return False
    path.mkdir(parents=True, exist_ok=True)
    _persistent_client(path)
    return True


def _persistent_client(path: Path) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    return chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False))


def chroma_client(settings: Settings) -> Any:
    """A chromadb client: HttpClient when ``chroma_host`` is set, else a PersistentClient under ``data_dir`` (a new
    store when its folder is absent; a folder without its database is refused, see :func:`check_embedded_store`)."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    store = settings.store
    if not store.chroma_host:
        check_embedded_store(store.chroma_path)
    try:
        if store.chroma_host:
            headers = {}
            if store.chroma_auth_token:
                token = store.chroma_auth_token.get_secret_value()
                is_bearer = store.chroma_auth_header.lower() == "authorization"
                headers[store.chroma_auth_header] = f"Bearer {token}" if is_bearer else token
            client = chromadb.HttpClient(host=store.chroma_host, port=store.chroma_port, ssl=store.chroma_ssl,
                                         headers=headers, settings=ChromaSettings(anonymized_telemetry=False))
            _bound_requests(client, store.chroma_timeout)
            return client
        store.chroma_path.mkdir(parents=True, exist_ok=True)
        return _persistent_client(store.chroma_path)
    except Exception as exc:  # chromadb raises many types for an unreachable or unreadable store
        raise StoreUnavailable(f"Cannot open the Chroma store ({where(settings)}): {exc}") from exc


def _bound_requests(client: Any, seconds: float) -> None:
    """Give every request of a chromadb HttpClient a timeout: chromadb builds its httpx session with none (a hung
    server would hang the caller) and has no setting for it."""
    import httpx

    client._server._session.timeout = httpx.Timeout(seconds)


class ChromaConnection:
    """The chromadb client one store's index and catalog share, renewed when another process changed the store."""

    def __init__(self, settings: Settings, client: Any | None = None) -> None:
        self.settings = settings
        self.client = client or chroma_client(settings)

    def renew(self) -> None:
        """A fresh client. An embedded client keeps each collection's vector index in memory from the time it first
        read it and never sees what another process added (a filtered query then fails with "Error finding id");
        chromadb shares one such system per path in a process, so the path's cached system is dropped first (handles
        still holding it keep working on what they read). A server client sees every change: it is kept."""
        if self.settings.store.chroma_host:
            return
        from chromadb.api.shared_system_client import SharedSystemClient

        path = str(self.settings.store.chroma_path)
        SharedSystemClient._identifier_to_system.pop(path, None)
        SharedSystemClient._identifier_to_refcount.pop(path, None)
        self.client = chroma_client(self.settings)

    def max_batch(self) -> int:
        """The most records one request may carry."""
        return int(self.client.get_max_batch_size())


def guarded(operation: _Operation) -> _Operation:
    """Wrap a Chroma operation: an unreachable or hung server raises :class:`StoreUnavailable`, and a collection
    handle gone stale (rebuilt by another process, e.g. `reindex`) is reopened by name and the operation tried again."""

    @wraps(operation)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        import httpx
        from chromadb.errors import NotFoundError

        try:
            try:
                return operation(self, *args, **kwargs)
            except NotFoundError:
                self.reopen()
                return operation(self, *args, **kwargs)
        except httpx.TransportError as exc:
            raise StoreUnavailable(f"The Chroma {where(self.connection.settings)} cannot be reached "
                                   f"({type(exc).__name__}: {str(exc) or 'no answer'}).") from exc

    return cast(_Operation, wrapper)


class ChromaIndex:
    """Passages of every document in one Chroma collection built by one embedding model."""

    def __init__(self, connection: ChromaConnection, name: str, backend: EmbeddingBackend,
                 verify: bool = True) -> None:
        self.connection = connection
        self.name = name
        self.backend = backend
        self.verify = verify
        self.reopen()

    def reopen(self) -> None:
        """Open the collection by name (again, after another process changed it). With :attr:`verify`, refuse one
        built with another embedding model, keeping the handle in use."""
        from langchain_chroma import Chroma

        try:
            opened = Chroma(
                client=self.connection.client,
                collection_name=self.name,
                embedding_function=self.backend.embeddings,
                collection_metadata={"hnsw:space": "cosine", "embedding_model": self.backend.model_id,
                                     "embedding_dim": self.backend.dimension()},
            )
        except Exception as exc:
            raise StoreUnavailable(f"Cannot open the collection '{self.name}': {exc}") from exc
        if self.verify:
            self._refuse_other_model(opened._collection.metadata or {})
        self.vectorstore = opened

    @property
    def collection(self) -> Any:
        """The underlying chromadb collection."""
        return self.vectorstore._collection

    def _refuse_other_model(self, meta: dict[str, Any]) -> None:
        built_with = (meta.get("embedding_model"), meta.get("embedding_dim"))
        wanted = (self.backend.model_id, self.backend.dimension())
        if built_with[0] and built_with != wanted:
            raise EmbeddingMismatch(
                f"The collection '{self.name}' was built with the embedding model '{built_with[0]}' "
                f"({built_with[1]} dimensions), but the settings select '{wanted[0]}' ({wanted[1]} dimensions). Run "
                "`articlechat reindex` to rebuild it with the configured model, or change ARTICLECHAT_EMBEDDINGS back."
            )

    @guarded
    def count(self) -> int:
        """How many chunks the collection holds."""
        return int(self.collection.count())

    @guarded
    def probe(self) -> int:
        """How many chunks the collection holds, after a real one-chunk nearest-neighbour query: an index whose
        vector files are damaged or gone finds nothing though its chunks are stored (:class:`StoreUnavailable`)."""
        chunks = int(self.collection.count())
        axis = [1.0] + [0.0] * (self.backend.dimension() - 1)
        if chunks and not self.collection.query(query_embeddings=[axis], n_results=1, include=[])["ids"][0]:
            raise StoreUnavailable(f"The vector index of the collection '{self.name}' finds nothing though it holds "
                                   f"{chunks} passages: rebuild it with `articlechat reindex`.")
        return chunks

    @guarded
    def query(self, vector: list[float], k: int, document: str | None = None) -> list[Hit]:
        """The ``k`` chunks nearest to ``vector``, optionally only from ``document``."""
        found = self.vectorstore.similarity_search_by_vector_with_relevance_scores(
            vector, k=k, filter={"source": document} if document else None)
        return [Hit(doc.id or "", doc.page_content, doc.metadata, 1.0 - distance) for doc, distance in found]

    @guarded
    def get(self, document: str, with_text: bool = False) -> list[ChunkRecord]:
        """The chunks of ``document`` (without ``with_text``: ids and offsets)."""
        return self._records(self.collection.get(where={"source": document}, include=_include(with_text)))

    @guarded
    def opening(self, document: str) -> Hit | None:
        """The first chunk of ``document``."""
        data = self.collection.get(where={"$and": [{"source": document}, {"chunk": 0}]},
                                   include=["documents", "metadatas"])
        return Hit(data["ids"][0], data["documents"][0], data["metadatas"][0], 1.0) if data["ids"] else None

    @guarded
    def all_chunks(self, with_text: bool = False) -> list[ChunkRecord]:
        """Every chunk."""
        return self._records(self.collection.get(include=_include(with_text)))

    def _records(self, data: dict[str, Any]) -> list[ChunkRecord]:
        texts = data.get("documents") or [""] * len(data["ids"])
        return [ChunkRecord.from_stored(i, t, m) for i, t, m in zip(data["ids"], texts, data["metadatas"], strict=True)]

    @guarded
    def upsert(self, chunks: list[ChunkRecord], vectors: np.ndarray) -> None:
        """Upsert chunks whose vectors were computed already, in batches the client accepts."""
        step = self.connection.max_batch()
        for begin in range(0, len(chunks), step):
            part = chunks[begin : begin + step]
            self.collection.upsert(ids=[c.id for c in part], documents=[c.text for c in part],
                                   metadatas=[c.to_metadata() for c in part],
                                   embeddings=np.asarray(vectors[begin : begin + step], dtype=np.float32))

    @guarded
    def delete(self, ids: list[str]) -> None:
        """Remove the chunks ``ids`` (none: nothing to do)."""
        step = self.connection.max_batch()
        for begin in range(0, len(ids), step):
            self.collection.delete(ids=ids[begin : begin + step])

    def staging(self) -> ChromaIndex:
        """An empty sibling collection to rebuild into before :meth:`swap`."""
        staging = ChromaIndex(self.connection, f"{self.name[:50]}-reindex", self.backend, verify=False)
        staging.vectorstore.reset_collection()  # a reindex that died earlier may have left one behind
        return staging

    def swap(self, staging: ChromaIndex) -> None:  # type: ignore[override]
        """Make ``staging``'s collection this one (the old one is dropped)."""
        self.connection.client.delete_collection(self.name)
        staging.collection.modify(name=self.name)
        self.reopen()


def _include(with_text: bool) -> list[str]:
    return ["metadatas", "documents"] if with_text else ["metadatas"]
