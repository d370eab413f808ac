"""Load, split, embed and upsert documents: idempotent per document, never half a document in the store."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np

from articlechat.errors import ArticlechatError, InvalidInput
from articlechat.ingest.load import SUPPORTED_SUFFIXES, LoadedDocument, decode_text, load_file, parse_document
from articlechat.ingest.split import Span, chunk_id, chunk_spans, sentence_spans
from articlechat.store import ArticleStore

Outcome = Literal["added", "unchanged", "replaced"]
BUNDLED_ARTICLE = "russia-north-korea-talks.txt"
BUNDLED_SOURCE = f"bundled/{BUNDLED_ARTICLE}"


@dataclass
class IngestReport:
    """What an ingest run did, per document."""

    added: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def record(self, source: str, outcome: Outcome) -> None:
        """Note what happened to ``source``."""
        getattr(self, outcome).append(source)

    def summary(self) -> str:
        """One line of counts, e.g. ``1 added, 0 unchanged, 0 replaced, 0 failed``."""
        return (f"{len(self.added)} added, {len(self.unchanged)} unchanged, "
                f"{len(self.replaced)} replaced, {len(self.failed)} failed")


def collect_files(paths: Iterable[Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Expand folders into their supported files; returns (files, problems with the given paths)."""
    files: list[Path] = []
    problems: list[tuple[str, str]] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES
                           and not any(part.startswith(".") for part in p.relative_to(path).parts))
            if not found:
                problems.append((str(path), f"{path}: no .txt, .md or .html files in this folder"))
            files.extend(found)
        elif path.exists() or path.suffix.lower() in SUPPORTED_SUFFIXES:
            files.append(path)
        else:
            problems.append((str(path), f"{path}: no such file or folder"))
    return files, problems


def bundled_article() -> LoadedDocument:
    """The op-ed that ships with articlechat, with its title and author."""
    folder = resources.files("articlechat") / "data" / "articles"
    meta = json.loads((folder / BUNDLED_ARTICLE.replace(".txt", ".json")).read_text(encoding="utf-8"))
    raw = (folder / BUNDLED_ARTICLE).read_text(encoding="utf-8")
    return parse_document(raw, "text", BUNDLED_SOURCE, meta)


def _sentences_in(chunk: Span, sentences: list[Span]) -> list[Span]:
    """The sentences of ``chunk``, cut at its edges."""
    inside = []
    for s in sentences:
        start, end = max(s.start, chunk.start), min(s.end, chunk.end)
        if end - start >= 3:
            inside.append(Span(start, end, chunk.text[start - chunk.start : end - chunk.start]))
    return inside


def encode_vectors(vectors: np.ndarray) -> str:
    """Pack sentence vectors into a metadata string (float16, base64)."""
    return base64.b64encode(vectors.astype(np.float16).tobytes()).decode("ascii")


def decode_vectors(packed: str, dimension: int) -> np.ndarray:
    """Inverse of :func:`encode_vectors`."""
    return np.frombuffer(base64.b64decode(packed), dtype=np.float16).reshape(-1, dimension).astype(np.float32)


class Ingestor:
    """Puts documents into an :class:`ArticleStore`."""

    def __init__(self, store: ArticleStore) -> None:
        self.store = store
        self.settings = store.settings

    def ingest_document(self, doc: LoadedDocument) -> Outcome:
        """Store ``doc``: unchanged documents add nothing; a changed one (text, title or author) replaces its chunks."""
        chunks = chunk_spans(doc.text, self.settings.chunk_size, self.settings.chunk_overlap)
        ids = [chunk_id(doc.source, c) for c in chunks]
        existing = self.store.chunk_ids(doc.source)
        relabelled = bool(existing) and self.store.labels(doc.source) != (doc.title or "", doc.author or "")
        if existing == set(ids) and not relabelled:
            return "unchanged"
        fresh = [(i, c) for i, c in zip(ids, chunks, strict=True) if relabelled or i not in existing]
        records = self._records(doc, [c for _, c in fresh], [i for i, _ in fresh], ids)
        try:
            self.store.add_chunks(*records)
        except Exception:
            self.store.delete_ids([i for i, _ in fresh if i not in existing])  # leave no half document behind
            raise
        self.store.delete_ids(sorted(existing - set(ids)))
        return "replaced" if existing else "added"

    def _records(self, doc: LoadedDocument, chunks: list[Span], ids: list[str],
                 all_ids: list[str]) -> tuple[list[str], list[str], list[dict], list[list[float]]]:
        sentences = sentence_spans(doc.text)
        per_chunk = [_sentences_in(c, sentences) for c in chunks]
        backend = self.store.backend
        chunk_vectors = backend.vectors([c.text for c in chunks])
        unique = sorted({(s.start, s.end): s.text for group in per_chunk for s in group}.items())
        sentence_vectors = backend.vectors([text for _, text in unique])
        row_of = {key: row for row, (key, _) in enumerate(unique)}
        now = datetime.now(UTC).isoformat(timespec="seconds")
        metadatas = []
        for chunk, group, chunk_key in zip(chunks, per_chunk, ids, strict=True):
            rows = [row_of[(s.start, s.end)] for s in group]
            metadatas.append({
                "source": doc.source, "title": doc.title or "", "author": doc.author or "",
                "start": chunk.start, "end": chunk.end, "chunk": all_ids.index(chunk_key),
                "sentences": json.dumps([[s.start, s.end] for s in group]),
                "sentence_vectors": encode_vectors(sentence_vectors[rows]), "ingested_at": now,
            })
        return ids, [c.text for c in chunks], metadatas, chunk_vectors.tolist()

    def ingest_paths(self, paths: Iterable[Path],
                     on_file: Callable[[str, int, int], None] | None = None) -> IngestReport:
        """Ingest files and folders; every good file is stored even when others fail."""
        report = IngestReport()
        files, problems = collect_files(paths)
        report.failed.extend(problems)
        for number, path in enumerate(files, start=1):
            if on_file:
                on_file(str(path), number, len(files))
            try:
                doc = load_file(path, self.settings.max_file_bytes)
                report.record(doc.source, self.ingest_document(doc))
            except ArticlechatError as exc:
                report.failed.append((str(path), str(exc)))
            except Exception as exc:  # one bad file must not stop the others
                report.failed.append((str(path), f"{path}: {type(exc).__name__}: {exc}"))
        return report

    def ingest_text(self, raw: bytes, filename: str, source: str | None = None) -> Outcome:
        """Ingest an uploaded file's bytes (kind from ``filename``'s suffix)."""
        kind = SUPPORTED_SUFFIXES.get(Path(filename).suffix.lower())
        if kind is None:
            raise InvalidInput(f"{filename}: unsupported file type (use .txt, .md or .html)")
        if len(raw) > self.settings.max_file_bytes:
            raise InvalidInput(f"{filename}: over the limit of {self.settings.max_file_bytes:,} bytes")
        doc = parse_document(decode_text(raw, filename), kind, source or filename)
        return self.ingest_document(doc)

    def ensure_bundled_article(self) -> bool:
        """Ingest the bundled op-ed when the store is empty; True when it did."""
        if self.store.count():
            return False
        self.ingest_document(bundled_article())
        return True

    def reindex(self) -> IngestReport:
        """Rebuild the collection with the configured embedding model from the stored documents' text."""
        staging = self.store.staging()
        builder = Ingestor(staging)
        report = IngestReport()
        for info in self.store.documents(with_text=True):
            doc = LoadedDocument(info.source, info.text(), info.title, info.author)
            report.record(doc.source, builder.ingest_document(doc))
        self.store.replace_with(staging)
        return report
