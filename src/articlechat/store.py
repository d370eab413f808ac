"""The Chroma vector store (embedded PersistentClient or a Chroma server) through langchain-chroma."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar, cast

from articlechat.config import Settings
from articlechat.embeddings import EmbeddingBackend
from articlechat.errors import EmbeddingMismatch, NotFound, StoreUnavailable

_Operation = TypeVar("_Operation", bound=Callable[..., Any])


@dataclass
class Hit:
    """One retrieved chunk with its cosine similarity to the query."""

    id: str
    text: str
    metadata: dict[str, Any]
    score: float


@dataclass
class DocumentInfo:
    """One document in the store, summarised from its chunks."""

    source: str
    title: str | None
    author: str | None
    chunks: int
    chars: int
    ingested_at: str | None = None
    spans: list[tuple[int, str]] = field(default_factory=list, repr=False)

    def text(self) -> str:
        """Rebuild the cleaned text from the chunks' offsets (gaps between chunks were whitespace)."""
        out: list[str] = []
        cursor = 0
        for start, chunk in sorted(self.spans):
            if start > cursor:
                out.append("\n\n" if start - cursor >= 2 else " ")
                out.append(" " * (start - cursor - 2) if start - cursor > 2 else "")
                cursor = start
            out.append(chunk[cursor - start :])
            cursor = max(cursor, start + len(chunk))
        return "".join(out)


def chroma_client(settings: Settings) -> Any:
    """A chromadb client: HttpClient when ``chroma_host`` is set, else a PersistentClient under ``data_dir``."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    try:
        if settings.chroma_host:
            headers = {}
            if settings.chroma_auth_token:
                token = settings.chroma_auth_token.get_secret_value()
                is_bearer = settings.chroma_auth_header.lower() == "authorization"
                headers[settings.chroma_auth_header] = f"Bearer {token}" if is_bearer else token
            client = chromadb.HttpClient(
                host=settings.chroma_host, port=settings.chroma_port, ssl=settings.chroma_ssl,
                headers=headers, settings=chroma_settings,
            )
            _bound_requests(client, settings.chroma_timeout)
            return client
        settings.chroma_path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(settings.chroma_path), settings=chroma_settings)
    except Exception as exc:  # chromadb raises many types for an unreachable or unreadable store
        raise StoreUnavailable(f"Cannot open the Chroma store ({_where(settings)}): {exc}") from exc


def _bound_requests(client: Any, seconds: float) -> None:
    """Give every request of a chromadb HttpClient a timeout: chromadb builds its httpx session with none (a hung
    server would hang the caller) and has no setting for it."""
    import httpx

    client._server._session.timeout = httpx.Timeout(seconds)


def _where(settings: Settings) -> str:
    if settings.chroma_host:
        return f"server {settings.chroma_host}:{settings.chroma_port}"
    return str(settings.chroma_path)


def _guarded(operation: _Operation) -> _Operation:
    """Wrap a store operation: an unreachable or hung Chroma server raises :class:`StoreUnavailable`, and a
    collection handle gone stale (the collection was rebuilt by another process, e.g. `reindex`) is reopened by name
    and the operation tried once more."""

    @wraps(operation)
    def guarded(self: ArticleStore, *args: Any, **kwargs: Any) -> Any:
        import httpx
        from chromadb.errors import NotFoundError

        try:
            try:
                return operation(self, *args, **kwargs)
            except NotFoundError:
                self._open()
                return operation(self, *args, **kwargs)
        except httpx.TransportError as exc:
            raise StoreUnavailable(f"The Chroma {_where(self.settings)} cannot be reached "
                                   f"({type(exc).__name__}: {str(exc) or 'no answer'}).") from exc

    return cast(_Operation, guarded)


class ArticleStore:
    """Chunks of every ingested document in one Chroma collection built by one embedding model."""

    def __init__(self, settings: Settings, backend: EmbeddingBackend, client: Any | None = None,
                 verify: bool = True) -> None:
        self.settings = settings
        self.backend = backend
        self.client = client or chroma_client(settings)
        self.verify = verify
        self._open()

    def _open(self) -> None:
        """Open the collection by name (again, after another process rebuilt it). With :attr:`verify`, refuse one
        built with another embedding model, keeping the handle in use."""
        from langchain_chroma import Chroma

        try:
            opened = Chroma(
                client=self.client,
                collection_name=self.settings.collection,
                embedding_function=self.backend.embeddings,
                collection_metadata={
                    "hnsw:space": "cosine",
                    "embedding_model": self.backend.model_id,
                    "embedding_dim": self.backend.dimension(),
                },
            )
        except Exception as exc:
            raise StoreUnavailable(f"Cannot open the collection '{self.settings.collection}': {exc}") from exc
        if self.verify:
            self._refuse_other_model(opened._collection.metadata or {})
        self.vectorstore = opened

    @property
    def collection(self) -> Any:
        """The underlying chromadb collection."""
        return self.vectorstore._collection

    def _refuse_other_model(self, meta: dict[str, Any]) -> None:
        """Refuse a collection (its metadata) built with another embedding model or dimension."""
        built_with = (meta.get("embedding_model"), meta.get("embedding_dim"))
        wanted = (self.backend.model_id, self.backend.dimension())
        if built_with[0] and built_with != wanted:
            raise EmbeddingMismatch(
                f"The collection '{self.settings.collection}' was built with the embedding model "
                f"'{built_with[0]}' ({built_with[1]} dimensions), but the settings select '{wanted[0]}' "
                f"({wanted[1]} dimensions). Run `articlechat reindex` to rebuild it with the configured model, "
                "or change ARTICLECHAT_EMBEDDINGS back."
            )

    @_guarded
    def count(self) -> int:
        """How many chunks the collection holds."""
        return self.collection.count()

    @_guarded
    def search(self, query_vector: list[float], k: int, source: str | None = None) -> list[Hit]:
        """The ``k`` chunks nearest to ``query_vector``, optionally only from document ``source``."""
        found = self.vectorstore.similarity_search_by_vector_with_relevance_scores(
            query_vector, k=k, filter={"source": source} if source else None
        )
        return [Hit(doc.id or "", doc.page_content, doc.metadata, 1.0 - distance) for doc, distance in found]

    @_guarded
    def first_chunk(self, source: str) -> Hit | None:
        """The opening chunk of document ``source`` (its title and lead)."""
        data = self.collection.get(where={"$and": [{"source": source}, {"chunk": 0}]},
                                   include=["documents", "metadatas"])
        if not data["ids"]:
            return None
        return Hit(data["ids"][0], data["documents"][0], data["metadatas"][0], 1.0)

    @_guarded
    def chunk_ids(self, source: str) -> set[str]:
        """Ids of the chunks stored for ``source``."""
        return set(self.collection.get(where={"source": source}, include=[])["ids"])

    @_guarded
    def add_chunks(self, ids: list[str], texts: list[str], metadatas: list[dict[str, Any]],
                   vectors: list[list[float]]) -> None:
        """Upsert chunks whose vectors were computed already."""
        max_batch = self.client.get_max_batch_size()
        for begin in range(0, len(ids), max_batch):
            end = begin + max_batch
            self.collection.upsert(ids=ids[begin:end], documents=texts[begin:end],
                                   metadatas=metadatas[begin:end], embeddings=vectors[begin:end])

    @_guarded
    def delete_ids(self, ids: list[str]) -> None:
        """Remove the chunks ``ids`` (none: nothing to do)."""
        if ids:
            self.collection.delete(ids=ids)

    def delete_source(self, source: str) -> int:
        """Remove every chunk of ``source``; returns how many there were."""
        ids = list(self.chunk_ids(source))
        self.delete_ids(ids)
        return len(ids)

    @_guarded
    def documents(self, with_text: bool = False) -> list[DocumentInfo]:
        """Every document in the store, by source."""
        include = ["metadatas", "documents"] if with_text else ["metadatas"]
        data = self.collection.get(include=include)
        by_source: dict[str, DocumentInfo] = {}
        texts = data.get("documents") or [None] * len(data["ids"])
        for meta, text in zip(data["metadatas"], texts, strict=True):
            info = by_source.get(meta["source"])
            if info is None:
                info = by_source[meta["source"]] = DocumentInfo(
                    meta["source"], meta.get("title") or None, meta.get("author") or None, 0, 0,
                    meta.get("ingested_at"),
                )
            info.chunks += 1
            info.chars = max(info.chars, int(meta.get("end", 0)))
            if text is not None:
                info.spans.append((int(meta["start"]), text))
        return sorted(by_source.values(), key=lambda d: d.source)

    @_guarded
    def labels(self, source: str) -> tuple[str, str] | None:
        """The (title, author) stored with document ``source``; None when it is not in the store."""
        metadatas = self.collection.get(where={"source": source}, limit=1, include=["metadatas"])["metadatas"]
        return (metadatas[0].get("title", ""), metadatas[0].get("author", "")) if metadatas else None

    def has_source(self, source: str) -> bool:
        """Whether document ``source`` has chunks in the store."""
        return self.labels(source) is not None

    def resolve_source(self, name: str) -> str:
        """The stored source that ``name`` means: the source itself, or a file path as the user typed it."""
        if self.has_source(name):
            return name
        if "\0" not in name:  # no path holds a NUL byte (resolving one raises)
            absolute = str(Path(name).expanduser().resolve())
            if self.has_source(absolute):
                return absolute
        raise NotFound(f"No document '{name}' in the store (see `articlechat documents`).")

    def staging(self) -> ArticleStore:
        """An empty sibling collection to rebuild into before :meth:`replace_with` swaps it in."""
        name = f"{self.settings.collection[:50]}-reindex"
        staging = ArticleStore(self.settings.model_copy(update={"collection": name}), self.backend, self.client,
                               verify=False)
        staging.vectorstore.reset_collection()  # a reindex that died earlier may have left one behind
        return staging

    def replace_with(self, staging: ArticleStore) -> None:
        """Make ``staging``'s collection this store's collection (the old one is dropped)."""
        self.client.delete_collection(self.settings.collection)
        staging.collection.modify(name=self.settings.collection)
        self._open()

