"""Ingestion: folders, idempotency, replacement, bad files, no half documents, and the `ingest` command."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from articlechat.cli import app
from articlechat.errors import InvalidInput
from articlechat.ingest import BUNDLED_SOURCE, Ingestor
from articlechat.ingest.load import load_file
from articlechat.ingest.split import chunk_id, chunk_spans
from articlechat.store import ArticleStore
from conftest import run_cli

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
    return {chunk_id(doc.source, c) for c in chunk_spans(doc.text, store.settings.chunk_size,
                                                        store.settings.chunk_overlap)}


def test_folder_ingest_is_idempotent(store: ArticleStore, library: Path) -> None:
    ingestor = Ingestor(store)
    seen: list[tuple[str, int, int]] = []
    report = ingestor.ingest_paths([library], lambda path, number, total: seen.append((Path(path).name, number, total)))
    sources = {str((library / name).resolve()) for name in ("bees.txt", "nested/cats.md", "tides.html")}
    assert set(report.added) == sources and not report.failed
    assert report.summary() == "3 added, 0 unchanged, 0 replaced, 0 failed"
    assert [(n, t) for _, n, t in seen] == [(1, 3), (2, 3), (3, 3)]
    titles = {d.source: d.title for d in store.documents()}
    assert titles == {str((library / "bees.txt").resolve()): "Bees in winter",
                      str((library / "nested/cats.md").resolve()): "Cats at rest",
                      str((library / "tides.html").resolve()): "How tides work"}
    ids = set(store.collection.get(include=[])["ids"])

    again = ingestor.ingest_paths([library, library / "bees.txt"])
    assert sorted(again.unchanged) == sorted([*sources, str((library / "bees.txt").resolve())])
    assert not (again.added or again.replaced or again.failed)
    assert set(store.collection.get(include=[])["ids"]) == ids


def test_changed_file_replaces_its_chunks(store: ArticleStore, tmp_path: Path) -> None:
    path = tmp_path / "volcano.txt"
    path.write_text(long_article("volcanoes", 10))
    ingestor = Ingestor(store)
    assert ingestor.ingest_paths([path]).added
    old_ids, _ = stored(store, str(path.resolve()))
    assert len(old_ids) > 3

    # Edit the middle, drop the end: some chunks stay, some change, some disappear.
    text = long_article("volcanoes", 10).replace("Paragraph 4 about", "Paragraph four, rewritten, about")
    path.write_text(text.rsplit("\n\n", 3)[0])
    report = ingestor.ingest_paths([path])
    assert report.replaced == [str(path.resolve())] and report.summary().startswith("0 added, 0 unchanged, 1 replaced")

    ids, chunks = stored(store, str(path.resolve()))
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
    ids, _ = stored(store, str(path.resolve()))

    path.with_suffix(".json").write_text(json.dumps({"title": "New title", "author": "A. Writer"}))
    assert ingestor.ingest_paths([path]).replaced == [str(path.resolve())]
    assert stored(store, str(path.resolve()))[0] == ids and store.count() == len(ids)
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
    real_add = ArticleStore.add_chunks

    def add_half_then_fail(self: ArticleStore, ids: list[str], texts: list[str], metadatas: list[dict],
                           vectors: list[list[float]]) -> None:
        if metadatas and metadatas[0]["source"] == str(big.resolve()):
            half = len(ids) // 2
            real_add(self, ids[:half], texts[:half], metadatas[:half], vectors[:half])
            assert self.count() >= half > 0
            raise RuntimeError("disk full")
        real_add(self, ids, texts, metadatas, vectors)

    monkeypatch.setattr(ArticleStore, "add_chunks", add_half_then_fail)
    report = Ingestor(store).ingest_paths([big, library])
    assert report.failed == [(str(big), f"{big}: RuntimeError: disk full")]
    assert len(report.added) == 3
    assert not store.has_source(str(big.resolve()))
    assert {d.source for d in store.documents()} == set(report.added)


def test_a_failed_update_keeps_the_previous_version(store: ArticleStore, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "river.txt"
    path.write_text(long_article("rivers"))
    ingestor = Ingestor(store)
    ingestor.ingest_paths([path])
    before = stored(store, str(path.resolve()))

    real_add = ArticleStore.add_chunks

    def add_one_then_fail(self: ArticleStore, ids: list[str], *rest: list) -> None:
        real_add(self, ids[:1], *(r[:1] for r in rest))
        raise RuntimeError("connection lost")

    monkeypatch.setattr(ArticleStore, "add_chunks", add_one_then_fail)
    path.write_text(long_article("rivers").replace("Paragraph 0", "The first paragraph"))
    assert ingestor.ingest_paths([path]).failed
    assert stored(store, str(path.resolve())) == before


def test_uploaded_text_and_bundled_article(store: ArticleStore) -> None:
    ingestor = Ingestor(store)
    assert ingestor.ensure_bundled_article() is True
    assert ingestor.ensure_bundled_article() is False
    assert [d.source for d in store.documents()] == [BUNDLED_SOURCE]
    assert ingestor.ingest_text(CATS.encode(), "cats.md") == "added"
    assert ingestor.ingest_text(CATS.encode(), "cats.md") == "unchanged"
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
    assert f"added: {(library / 'bees.txt').resolve()}" in result.stdout
    failures = [line for line in result.stderr.splitlines() if line.startswith("failed: ")]
    assert len(failures) == len(bad_files)
    for name, path in bad_files.items():
        assert any(str(path) in line and MESSAGES[name] in line for line in failures), name
    assert "Traceback" not in result.stderr

    bees = str((library / "bees.txt").resolve())
    (library / "bees.txt").write_text(BEES + "\nThey eat the honey they stored in autumn.\n")
    again = run_cli("ingest", str(library), env={"FORCE_COLOR": "1"})  # a terminal gets the progress bar
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[-1] == "0 added, 2 unchanged, 1 replaced, 0 failed"
    assert "ingesting" in again.stderr and "/3" in again.stderr

    removed = CliRunner().invoke(app, ["remove", bees])
    assert removed.exit_code == 0 and f"removed {bees}" in removed.output
    documents = json.loads(CliRunner().invoke(app, ["documents", "--json"]).output)
    assert {d["title"] for d in documents} == {"Cats at rest", "How tides work"}
    assert all(d["chunks"] >= 1 and d["chars"] > 0 and d["ingested_at"] for d in documents)
