"""Time-node summaries: extractive by embedding centrality with MMR redundancy removal, or by LLM."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tgrag.kernel.protocols import LLM, Embedder
from tgrag.kernel.records import LLMRequest, TimeNode

log = logging.getLogger(__name__)

_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])|\s*\n+\s*")


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENT.split(text) if s and len(s.strip()) > 1]


def candidate_sentences(texts: Sequence[str], child_summaries: Sequence[str], *, limit: int) -> list[str]:
    """Unique sentences, child summaries first then own texts (in given order), at most ``limit``."""
    seen: set[str] = set()
    out: list[str] = []
    for block in (*child_summaries, *texts):
        for s in split_sentences(block):
            if s not in seen:
                seen.add(s)
                out.append(s)
                if len(out) >= limit:
                    return out
    return out


def mmr_select(vectors: np.ndarray, *, k: int, lam: float = 0.7) -> list[int]:
    """Indices chosen by maximal marginal relevance against the centroid (centrality)."""
    n = vectors.shape[0]
    if n == 0:
        return []
    centroid = vectors.mean(axis=0)
    norm = float(np.linalg.norm(centroid))
    centrality = vectors @ (centroid / norm) if norm > 0 else np.zeros(n, dtype=np.float32)
    sims = vectors @ vectors.T
    chosen: list[int] = []
    best_sim = np.full(n, -np.inf, dtype=np.float64)
    for _ in range(min(k, n)):
        redundancy = np.where(np.isfinite(best_sim), best_sim, 0.0)
        score = lam * centrality - (1 - lam) * redundancy
        score[chosen] = -np.inf
        i = int(np.argmax(score))
        if chosen and best_sim[i] > 0.95:  # everything left is a near-copy of what we have
            break
        chosen.append(i)
        best_sim = np.maximum(best_sim, sims[i])
    return chosen


class CentralitySummariser:
    """Extractive summary: the most central sentences of a node, redundancy removed, bounded length.

    Candidates are the sentences of the children's summaries and of the node's own texts (facts and
    passages), capped at ``max_candidates``; up to ``max_sentences`` are chosen by MMR and emitted in
    candidate order, truncated to ``max_chars``. Deterministic.
    """

    def __init__(self, embedder: Embedder, *, max_sentences: int = 5, max_chars: int = 700,
                 max_candidates: int = 64, lam: float = 0.7, cache_size: int = 200_000) -> None:
        self.embedder = embedder
        self.cache_size = cache_size
        # sentence → vector: a parent's candidates are its children's summary sentences, which were
        # embedded when the children were summarised, so re-summarising ancestors costs little
        self._cache: dict[str, np.ndarray] = {}
        self.max_sentences = max_sentences
        self.max_chars = max_chars
        self.max_candidates = max_candidates
        self.lam = lam

    @property
    def name(self) -> str:
        return f"centrality({self.embedder.name})"

    def summarise(self, node: TimeNode, texts: Sequence[str], child_summaries: Sequence[str]) -> str:
        return self.summarise_batch([(node, texts, child_summaries)])[0]

    def summarise_batch(self, items: Sequence[tuple[TimeNode, Sequence[str], Sequence[str]]]) -> list[str]:
        cands = [candidate_sentences(t, c, limit=self.max_candidates) for _, t, c in items]
        wanted = {s for cs in cands if self._needs_ranking(cs) for s in cs}
        need = sorted(wanted - self._cache.keys())
        if need:
            if len(self._cache) + len(need) > self.cache_size:
                self._cache.clear()
                need = sorted(wanted)
            mat = self.embedder.encode(need)
            self._cache.update((s, mat[i]) for i, s in enumerate(need))
        vec = self._cache
        out = []
        for cs in cands:
            if self._needs_ranking(cs):
                picked = sorted(mmr_select(np.stack([vec[s] for s in cs]), k=self.max_sentences, lam=self.lam))
                cs = [cs[i] for i in picked]
            out.append(self._join(cs))
        return out

    @property
    def cached_vectors(self) -> int:
        """How many sentence vectors the cache holds."""
        return len(self._cache)

    def clear_cache(self) -> None:
        """Forget every cached sentence vector (the index reloads its committed cache after this)."""
        self._cache.clear()

    def save_cache(self, path: str | Path) -> int:
        """Write the sentence-vector cache (sentences + float32 matrix, one ``.npz``, atomically) so a
        reopened index re-summarises touched nodes without re-embedding their old sentences.
        Returns the number of vectors written."""
        path = Path(path)
        keys = sorted(self._cache)
        dim = self._cache[keys[0]].shape[0] if keys else 0
        mat = np.stack([self._cache[k] for k in keys]).astype(np.float32) if keys else np.zeros((0, dim))
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as fh:
            np.savez(fh, sentences=np.array(keys, dtype=str), vectors=mat,
                     embedder=np.array(self.embedder.name))
        tmp.replace(path)
        return len(keys)

    def load_cache(self, path: str | Path) -> int:
        """Merge a cache written by :meth:`save_cache` (ignored, with a warning, when it was made by
        another embedder). Returns the number of vectors loaded."""
        with np.load(Path(path), allow_pickle=False) as data:
            if str(data["embedder"]) != self.embedder.name:
                log.warning("%s: summary vectors of embedder %s, not %s; ignored", path,
                            data["embedder"], self.embedder.name)
                return 0
            sentences, vectors = data["sentences"], data["vectors"]
            self._cache.update((str(s), vectors[i]) for i, s in enumerate(sentences))
            return len(sentences)

    def _needs_ranking(self, cs: Sequence[str]) -> bool:
        return len(cs) > self.max_sentences or sum(len(s) + 1 for s in cs) > self.max_chars

    def _join(self, sentences: Sequence[str]) -> str:
        out: list[str] = []
        used = 0
        for s in sentences:
            if used + len(s) + 1 > self.max_chars:
                if not out:
                    out.append(s[: self.max_chars].rstrip())
                break
            out.append(s)
            used += len(s) + 1
        return " ".join(out)


SUMMARY_PROMPT = """Write a short factual report (at most {max_words} words) of what happened during {label}.
Use only the material below. Keep names, numbers and dates exact. Do not add anything.

{material}

Report:"""


class LLMSummariser:
    """TG-RAG-style "time report" written by an LLM from the node's material (bounded prompt)."""

    def __init__(self, llm: LLM, *, max_words: int = 120, max_material_chars: int = 6000,
                 max_tokens: int = 256) -> None:
        self.llm = llm
        self.max_words = max_words
        self.max_material_chars = max_material_chars
        self.max_tokens = max_tokens

    @property
    def name(self) -> str:
        return f"llm({self.llm.name})"

    def summarise(self, node: TimeNode, texts: Sequence[str], child_summaries: Sequence[str]) -> str:
        lines = candidate_sentences(texts, child_summaries, limit=10_000)
        material: list[str] = []
        used = 0
        for s in lines:
            if used + len(s) > self.max_material_chars:
                break
            material.append(f"- {s}")
            used += len(s) + 3
        if not material:
            return ""
        prompt = SUMMARY_PROMPT.format(max_words=self.max_words, label=node.interval.label(),
                                       material="\n".join(material))
        response = self.llm.complete(LLMRequest.chat(prompt, max_tokens=self.max_tokens))
        return response.text.strip()

    def summarise_batch(self, items: Sequence[tuple[TimeNode, Sequence[str], Sequence[str]]]) -> list[str]:
        return [self.summarise(n, t, c) for n, t, c in items]
