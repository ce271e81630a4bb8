"""The trainable bi-encoder: one sentence-transformers model for queries and passages (tied weights).

Queries and passages share the weights, as ``tgrag.models.embedders.SentenceTransformerEmbedder``
(the index's embedder) encodes both kinds with one model; asymmetric models keep their prefixes.
Contrastive losses update the model through both sides; the reader-feedback and distillation
losses pass passage vectors through ``grad=False`` (REPLUG updates the query side only), but with
tied weights the saved model embeds passages with the updated weights too, so an index is always
re-built with the trained model (``experiments.training.reindex``).

:meth:`BiEncoder.save` writes a directory ``SentenceTransformer(path)`` and ``embedder=<path>``
load, with ``tgrag_embedder.json`` naming the model after its base and a digest of its weights
(``all-MiniLM-L6-v2-ft-3fa9c2d1e0b4``): an index's manifest records that name and refuses any other
embedder, another fine-tune of the same base included.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tgrag.kernel.errors import ModelError
from tgrag.models.assets import minilm_path
from tgrag.models.embedders import NAME_FILE, model_name


def weights_digest(path: Path) -> str:
    """sha256 over the weight files of a saved model directory (sorted by relative path)."""
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in (".safetensors", ".bin"))
    if not files:
        raise ModelError(f"{path}: no weight files (.safetensors / .bin) to fingerprint")
    for p in files:
        h.update(str(p.relative_to(path)).encode())
        with open(p, "rb") as f:
            while block := f.read(1 << 22):
                h.update(block)
    return h.hexdigest()


class BiEncoder:
    """A sentence-transformers model being trained: differentiable ``embed`` and numpy ``encode``."""

    def __init__(self, spec: str | None = None, *, device: str = "cpu", max_seq_length: int | None = None,
                 query_prefix: str = "", passage_prefix: str = "") -> None:
        from sentence_transformers import SentenceTransformer

        path = spec or str(minilm_path())
        try:
            self.model = SentenceTransformer(path, device=device, local_files_only=os.path.exists(path))
        except OSError as e:
            raise ModelError(f"cannot load sentence-transformers model {path!r}: {e}") from e
        if max_seq_length:
            self.model.max_seq_length = max_seq_length
        self.spec = spec
        self.device = device
        self.base_name = model_name(spec)
        self.prefixes = {"query": query_prefix, "passage": passage_prefix}

    def parameters(self) -> Any:
        return self.model.parameters()

    def train(self, mode: bool = True) -> None:
        self.model.train(mode)

    def embed(self, texts: Sequence[str], *, kind: str, grad: bool = True) -> Any:
        """(len(texts), d) L2-normalised embeddings as a torch tensor (with autograd when ``grad``)."""
        import torch

        prefix = self.prefixes[kind]
        features = self.model.preprocess([prefix + t for t in texts])
        features = {k: v.to(self.device) for k, v in features.items() if hasattr(v, "to")}
        with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
            out = self.model(features)["sentence_embedding"]
        return torch.nn.functional.normalize(out, dim=-1)

    def encode(self, texts: Sequence[str], *, kind: str, batch_size: int = 32, show_progress: bool = False
               ) -> np.ndarray:
        """Normalised float32 vectors in eval mode, no gradient (mining, evaluation)."""
        was_training = self.model.training
        self.model.eval()
        try:
            if not texts:
                return np.zeros((0, self.dim), dtype=np.float32)
            vecs = self.model.encode([self.prefixes[kind] + t for t in texts], batch_size=batch_size,
                                     normalize_embeddings=True, convert_to_numpy=True,
                                     show_progress_bar=show_progress)
        finally:
            self.model.train(was_training)
        return np.ascontiguousarray(vecs, dtype=np.float32)

    @property
    def dim(self) -> int:
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        dim = getter()
        if dim is None:
            raise ModelError(f"{self.base_name}: the model does not state its embedding dimension")
        return int(dim)

    def save(self, path: Path, *, info: Mapping[str, Any] | None = None) -> str:
        """Save to ``path`` (a sentence-transformers directory) and name it; returns the name."""
        path.mkdir(parents=True, exist_ok=True)
        self.model.save(str(path))
        base = self.base_name.split("-ft-")[0]
        name = f"{base}-ft-{weights_digest(path)[:12]}"
        record = {"name": name, "base": self.base_name, "base_spec": self.spec, **dict(info or {})}
        (path / NAME_FILE).write_text(json.dumps(record, indent=1, default=str) + "\n", encoding="utf-8")
        return name
