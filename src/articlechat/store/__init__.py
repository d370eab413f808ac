"""The store: a document catalog and a vector index behind a small protocol, with the Chroma implementation."""

from articlechat.store.articles import MIGRATE_COMMAND, ArticleStore
from articlechat.store.chroma import ChromaIndex, chroma_client
from articlechat.store.protocol import VectorIndex
from articlechat.store.records import ChunkRecord, DocumentRecord, Hit, decode_vectors, encode_vectors

__all__ = ["MIGRATE_COMMAND", "ArticleStore", "ChromaIndex", "ChunkRecord", "DocumentRecord", "Hit", "VectorIndex",
           "chroma_client", "decode_vectors", "encode_vectors"]
