"""The Chroma store on disk: search, documents, removal, the embedding-model record and `reindex`."""

import dataclasses
from pathlib import Path

import pytest

from articlechat.config import Settings
from articlechat.embeddings import EmbeddingBackend
from articlechat.errors import EmbeddingMismatch
from articlechat.ingest import BUNDLED_SOURCE, Ingestor, bundled_article
from articlechat.ingest.load import LoadedDocument, parse_document
from articlechat.store import ArticleStore
from conftest import run_cli

CHROMA_MODES = ("local", "server")  # every test runs against the embedded store and a Chroma server
BEES = parse_document("Bees in winter\n\nHoney bees cluster inside the hive to stay warm. Workers shiver their flight "
                      "muscles to make heat.\n\nA colony needs about 20 kilograms of honey to survive the winter.",
                      "text", "bees.txt", {"id": "garden/bees"})


def other_model(backend: EmbeddingBackend) -> EmbeddingBackend:
    """The real model under another id: what a changed ARTICLECHAT_EMBEDDINGS looks like to the store."""
    return dataclasses.replace(backend, model_id="other-model-v2")


def snapshot(store: ArticleStore) -> dict[str, tuple]:
    """Each document's metadata, rebuilt text and chunk offsets."""
    data = store.collection.get(include=["metadatas", "documents"])
    offsets: dict[str, list] = {}
    for meta, text in zip(data["metadatas"], data["documents"], strict=True):
        offsets.setdefault(meta["source"], []).append((meta["start"], meta["end"], text))
    return {d.id: (d.title, d.author, d.passages, store.document_text(d.id), sorted(offsets[d.id]))
            for d in store.documents()}


def test_search_documents_and_remove(store: ArticleStore) -> None:
    ingestor = Ingestor(store)
    assert ingestor.ingest_document(bundled_article()) == "added"
    assert ingestor.ingest_document(BEES) == "added"
    meta = store.collection.metadata
    assert (meta["hnsw:space"], meta["embedding_model"], meta["embedding_dim"]) == (
        "cosine", store.backend.model_id, 384)

    hits = store.search(store.backend.vectors(["How much honey does a colony need?"])[0].tolist(), 3)
    assert hits[0].metadata["source"] == "garden/bees" and "20 kilograms" in hits[0].text
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert 0.3 < hits[0].score <= 1.0
    scoped = store.search(store.backend.vectors(["honey"])[0].tolist(), 20, source=BUNDLED_SOURCE)
    assert scoped and {h.metadata["source"] for h in scoped} == {BUNDLED_SOURCE}

    docs = {d.source: d for d in store.documents()}
    assert set(docs) == {BUNDLED_SOURCE, "garden/bees"}
    bundled = docs[BUNDLED_SOURCE]
    assert (bundled.title, bundled.author, bundled.chars) == (
        "Russia and North Korea talks are just a diplomatic spectacle", "Lawrence White", len(bundled_article().text))
    assert bundled.chunks == len(store.chunk_ids(BUNDLED_SOURCE)) > 1
    assert snapshot(store)[BUNDLED_SOURCE][3] == bundled_article().text
    assert store.first_chunk(BUNDLED_SOURCE).metadata["chunk"] == 0

    assert store.delete_source("garden/bees") == docs["garden/bees"].chunks
    assert not store.has_source("garden/bees") and store.has_source(BUNDLED_SOURCE)
    assert store.delete_source("garden/bees") == 0
    assert store.count() == bundled.chunks


def test_another_embedding_model_is_refused_with_a_pointer_to_reindex(store: ArticleStore, settings: Settings) -> None:
    Ingestor(store).ingest_document(BEES)
    with pytest.raises(EmbeddingMismatch) as err:
        ArticleStore(settings, other_model(store.backend))
    message = str(err.value)
    assert "`articlechat reindex`" in message
    assert store.backend.model_id in message and "other-model-v2" in message
    ArticleStore(settings, store.backend)  # the model that built it opens it


def test_reindex_rebuilds_with_the_configured_model(store: ArticleStore, settings: Settings) -> None:
    Ingestor(store).ingest_document(bundled_article())
    Ingestor(store).ingest_document(BEES)
    before = snapshot(store)
    # A reindex that died earlier left its staging collection behind.
    staging = f"{settings.collection}-reindex"
    store.client.create_collection(staging).add(ids=["junk"], embeddings=[[0.0] * 384], documents=["x"])

    other = ArticleStore(settings, other_model(store.backend), verify=False)
    report = Ingestor(other).reindex()

    assert sorted(report.added) == sorted(before) and not report.failed
    assert other.collection.metadata["embedding_model"] == "other-model-v2"
    names = {c.name for c in other.client.list_collections()}
    assert settings.collection in names and staging not in names
    reopened = ArticleStore(settings, other_model(store.backend))
    assert snapshot(reopened) == before
    with pytest.raises(EmbeddingMismatch):
        ArticleStore(settings, store.backend)
    hits = reopened.search(reopened.backend.vectors(["honey for the winter"])[0].tolist(), 1)
    assert hits[0].metadata["source"] == "garden/bees"


def test_a_collection_rebuilt_elsewhere_is_reopened(store: ArticleStore, settings: Settings) -> None:
    """Another holder of the store (a second worker, the CLI) reindexes: this one's collection handle went stale."""
    Ingestor(store).ingest_document(BEES)
    Ingestor(ArticleStore(settings, store.backend)).reindex()  # drops the collection, renames the rebuilt one
    assert store.count() == len(store.chunk_ids("garden/bees")) > 0
    hits = store.search(store.backend.vectors(["honey for the winter"])[0].tolist(), 1)
    assert hits[0].metadata["source"] == "garden/bees"
    Ingestor(ArticleStore(settings, other_model(store.backend), verify=False)).reindex()
    for _ in range(2):  # rebuilt with another model: refused, every time
        with pytest.raises(EmbeddingMismatch, match="`articlechat reindex`"):
            store.count()


def test_cli_names_reindex_and_reindex_repairs(settings: Settings, embedding_backend: EmbeddingBackend) -> None:
    """The user's path: a store built by another model, `ask` refuses, `reindex` rebuilds, `ask` answers."""
    built = ArticleStore(settings, other_model(embedding_backend))
    Ingestor(built).ingest_document(bundled_article())
    before = snapshot(built)
    refused = run_cli("ask", "Who did Kim Jong Un meet?")
    assert refused.returncode == 1, refused.stderr
    assert "other-model-v2" in refused.stderr and "`articlechat reindex`" in refused.stderr
    assert "Traceback" not in refused.stderr and not refused.stdout

    rebuilt = run_cli("reindex")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "reindexed 1 documents" in rebuilt.stdout, rebuilt.stderr
    assert snapshot(ArticleStore(settings, embedding_backend)) == before


def test_rebuilt_text_matches_documents_with_tight_chunks(tmp_path: Path, embedding_backend: EmbeddingBackend) -> None:
    """`reindex` works from the stored chunks: their text and gaps must rebuild the cleaned text exactly."""
    settings = Settings(_env_file=None, data_dir=tmp_path / "tight", chunk_size=120, chunk_overlap=0)
    store = ArticleStore(settings, embedding_backend)
    Ingestor(store).ingest_document(bundled_article())
    Ingestor(store).ingest_document(BEES)
    rebuilt = {d.id: store.document_text(d.id) for d in store.documents()}
    assert rebuilt == {BUNDLED_SOURCE: bundled_article().text, "garden/bees": BEES.text}


def legacy_store(settings: Settings, backend: EmbeddingBackend, sources: dict[str, LoadedDocument]) -> None:
    """A store as an earlier version made it: passages only (no catalog), named by file paths."""
    store = ArticleStore(settings, backend)
    Ingestor(store).ingest_documents([(d.id, d) for d in sources.values()])
    data = store.collection.get(include=["documents", "metadatas", "embeddings"])
    store.client.delete_collection(store.catalog.name)
    store.client.delete_collection(store.collection.name)
    rename = {doc.id: old for old, doc in sources.items()}
    metadatas = [{**m, "source": rename[m["source"]]} for m in data["metadatas"]]
    store.client.create_collection(settings.collection, metadata=dict(store.collection.metadata)).add(
        ids=data["ids"], documents=data["documents"], metadatas=metadatas, embeddings=data["embeddings"])


def test_a_store_of_an_earlier_version_is_refused_then_migrated(settings: Settings,
                                                                 embedding_backend: EmbeddingBackend) -> None:
    bundled = bundled_article()
    legacy_store(settings, embedding_backend, {"bundled/russia-north-korea-talks.txt": bundled,
                                               "/srv/articles/garden/bees.txt": BEES,
                                               "/srv/other/bees.md": dataclasses.replace(BEES, id="other")})
    refused = run_cli("ask", "Who did Kim Jong Un meet?")
    assert refused.returncode == 1 and "earlier version" in refused.stderr
    assert "`articlechat reindex`" in refused.stderr and "Traceback" not in refused.stderr
    listed = run_cli("documents")
    assert listed.returncode == 1 and "`articlechat reindex`" in listed.stderr

    migrated = run_cli("reindex")
    assert migrated.returncode == 0, migrated.stderr
    store = ArticleStore(settings, embedding_backend)
    docs = {d.id: d for d in store.documents()}
    assert set(docs) == {"russia-north-korea-talks", "bees", "bees-2"}
    assert (docs["russia-north-korea-talks"].title, docs["russia-north-korea-talks"].author) == (
        bundled.title, bundled.author)
    assert store.document_text("russia-north-korea-talks") == bundled.text
    assert {store.document_text("bees"), store.document_text("bees-2")} == {BEES.text}
    asked = run_cli("ask", "--doc", "russia-north-korea-talks", "Who did Kim Jong Un meet?")
    assert asked.returncode == 0 and "Putin" in asked.stdout, asked.stderr


def test_the_store_generation_reopens_what_another_process_changed(store: ArticleStore, settings: Settings,
                                                                   embedding_backend: EmbeddingBackend) -> None:
    """A second holder of the store (another process: its own chromadb system) adds and removes documents; this one
    finds them at its next operation, scoped and unscoped, with no "Error finding id"."""
    Ingestor(store).ingest_document(bundled_article())
    query = store.backend.vectors(["How much honey does a colony need?"])[0].tolist()
    assert store.search(query, 2)  # the index is read (and, embedded, held in memory) now
    other = run_cli("ingest", "--id", "garden/bees", str(_bees_file(settings)))
    assert other.returncode == 0, other.stderr
    assert store.search(query, 1, source="garden/bees")[0].metadata["source"] == "garden/bees"
    assert store.search(query, 1)[0].metadata["source"] == "garden/bees"
    assert run_cli("remove", "garden/bees").returncode == 0
    assert store.search(query, 3, source="garden/bees") == [] and not store.has_source("garden/bees")


def _bees_file(settings: Settings) -> Path:
    path = settings.data_dir.parent / "bees.txt"
    path.write_text(BEES.text)
    return path
