"""Sentence-transformers embedder: all-MiniLM-L6-v2 from its PyPI package by default.

Batched, length-sorted (similar lengths share a batch, so padding is minimal), normalised.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from tgrag.kernel.errors import ModelError
from tgrag.models.assets import minilm_path

# A fine-tuned model directory (experiments.training) names itself in this file: its base model and a
# digest of its weights, so an index's manifest tells two fine-tunes of one base apart.
NAME_FILE = "tgrag_embedder.json"


def model_name(model: str | None) -> str:
    """The name an embedder of ``model`` reports (an index's manifest records it): the name in a
    model directory's ``tgrag_embedder.json``, else the directory's name, the hub id, or the default."""
    if model and os.path.isfile(os.path.join(model, NAME_FILE)):
        return str(json.loads(Path(model, NAME_FILE).read_text(encoding="utf-8"))["name"])
    return Path(model).name if model and os.path.exists(model) else (model or "all-MiniLM-L6-v2")


class SentenceTransformerEmbedder:
    """Any sentence-transformers model: a local path, a hub id, or (default) the packaged MiniLM.

    ``query_prefix``/``passage_prefix`` serve asymmetric models (e5: "query: " / "passage: ").
    Batch size 16 is the fastest on 2 CPU cores for MiniLM on passages (bench/foundation.py
    --embed-only: 8 → 77, 16 → 78, 32 → 72, 128 → 58 passages/s on MuSiQue). Queries (``kind=
    "query"``: questions, and the passage graph's entity-name keys, 2-3 words on average) are short,
    so per-batch overhead dominates there: they go in batches of ``query_batch_size`` (256: 2.4× the
    keys/s of batch 16 on MuSiQue's entity names).
    """

    def __init__(self, model: str | None = None, *, batch_size: int = 16, query_batch_size: int = 256,
                 device: str = "cpu",
                 query_prefix: str = "", passage_prefix: str = "", max_seq_length: int | None = None,
                 show_progress: bool = False) -> None:
        self._spec = model
        self.batch_size = batch_size
        self.query_batch_size = query_batch_size
        self.device = device
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.max_seq_length = max_seq_length
        self.show_progress = show_progress
        self._model: Any = None
        self._name = model_name(model)

    @property
    def name(self) -> str:
        return self._name

    def _load(self) -> Any:
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            spec = self._spec or str(minilm_path())
            local = os.path.exists(spec)
            try:
                self._model = SentenceTransformer(spec, device=self.device, local_files_only=local)
            except OSError as e:
                raise ModelError(f"cannot load sentence-transformers model {spec!r}: {e}") from e
            if self.max_seq_length:
                self._model.max_seq_length = self.max_seq_length
        return self._model

    @property
    def dim(self) -> int:
        model = self._load()
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    def encode(self, texts: Sequence[str], *, kind: str = "passage") -> np.ndarray:
        model = self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        prefix = self.query_prefix if kind == "query" else self.passage_prefix
        items = [prefix + t for t in texts]
        # sentence-transformers sorts by length internally within one call; one call = all batches.
        with _single_thread(len(items) <= SMALL_BATCH):
            batch = self.query_batch_size if kind == "query" else self.batch_size
            vecs = model.encode(items, batch_size=batch, normalize_embeddings=True,
                                convert_to_numpy=True, show_progress_bar=self.show_progress)
        return np.ascontiguousarray(vecs, dtype=np.float32)


SMALL_BATCH = 8


@contextmanager
def _single_thread(active: bool) -> Iterator[None]:
    """Encode a few short texts (queries) on one thread: intra-op parallelism gains nothing there,
    and its spin-waiting threads cost 10x when the cores are busy (measured: 417 vs 43 ms/query)."""
    if not active:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
