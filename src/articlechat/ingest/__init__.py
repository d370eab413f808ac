"""Ingestion: load files, clean them, split them into chunks and upsert them into the store."""

from articlechat.ingest.pipeline import BUNDLED_SOURCE, Ingestor, IngestReport, bundled_article

__all__ = ["BUNDLED_SOURCE", "IngestReport", "Ingestor", "bundled_article"]
