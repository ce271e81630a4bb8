"""Hard negatives: a query's BM25 (bm25s) and dense top k, minus its positives.

With ``margin`` set, a mined passage whose dense score is above the positive's minus the margin
(``s(neg) > s(pos) - margin``, the weakest positive counting) is taken for an unlabelled positive
(a likely false negative, RocketQA's denoising) and dropped. Mining uses the model as it is before
training (ANCE would re-mine as it trains; this keeps a run reproducible from its config).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from experiments.training.data import Corpus, Example
from tgrag.kernel.errors import ConfigError

_TOKEN = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class MiningSettings:
    """How many hard negatives each query gets from BM25 and from the dense model, how deep the
    rankings are read, and the false-negative margin (None: keep every mined passage)."""

    bm25_k: int = 3
    dense_k: int = 3
    depth: int = 30
    margin: float | None = None

    def __post_init__(self) -> None:
        if self.bm25_k < 0 or self.dense_k < 0 or self.depth < 1:
            raise ConfigError(f"mining needs bm25_k, dense_k >= 0 and depth >= 1, got {self}")

    @property
    def enabled(self) -> bool:
        return self.bm25_k + self.dense_k > 0


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


class BM25Ranker:
    """bm25s over the corpus passages (lower-cased word tokens, no stemming, no stop words)."""

    def __init__(self, corpus: Corpus) -> None:
        import bm25s

        self.ids = corpus.ids
        self._bm25 = bm25s.BM25()
        self._bm25.index([tokenize(corpus.text(p)) for p in self.ids], show_progress=False)

    def ranked(self, queries: Sequence[str], depth: int) -> list[list[str]]:
        k = min(depth, len(self.ids))
        if not queries or k == 0:
            return [[] for _ in queries]
        docs, scores = self._bm25.retrieve([tokenize(q) or ["_"] for q in queries], k=k, show_progress=False,
                                           n_threads=1)
        return [[self.ids[int(i)] for i, s in zip(row, srow) if s > 0] for row, srow in zip(docs, scores)]


def dense_ranked(query_vecs: np.ndarray, passage_vecs: np.ndarray, ids: Sequence[str], depth: int
                 ) -> list[list[str]]:
    """Top ``depth`` passage ids per query by inner product (ties to the lower index)."""
    if len(ids) == 0 or len(query_vecs) == 0:
        return [[] for _ in range(len(query_vecs))]
    sims = query_vecs @ passage_vecs.T
    k = min(depth, len(ids))
    top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return [[ids[int(i)] for i in row] for row in top]


def mine(examples: Sequence[Example], corpus: Corpus, settings: MiningSettings, *,
         query_vecs: np.ndarray | None, passage_vecs: np.ndarray | None,
         bm25: BM25Ranker | None = None) -> list[Example]:
    """Each example with ``negatives``: up to ``bm25_k`` from BM25 then up to ``dense_k`` more from
    the dense ranking (no duplicates), never a positive, nor (with a margin) a passage scored
    within the margin of the positive. ``query_vecs`` (one per example) and ``passage_vecs`` (one
    per ``corpus.ids``) are the model's vectors; they are needed for dense mining and the margin."""
    if not settings.enabled or not examples:
        return list(examples)
    needs_dense = settings.dense_k > 0 or settings.margin is not None
    if needs_dense and (query_vecs is None or passage_vecs is None):
        raise ConfigError("dense mining and the false-negative margin need query and passage vectors")
    ids = corpus.ids
    position = {p: i for i, p in enumerate(ids)}
    by_bm25 = (bm25 or BM25Ranker(corpus)).ranked([e.query for e in examples], settings.depth) \
        if settings.bm25_k > 0 else [[] for _ in examples]
    by_dense = dense_ranked(query_vecs, passage_vecs, ids, settings.depth) \
        if settings.dense_k > 0 and query_vecs is not None and passage_vecs is not None else [[] for _ in examples]
    out = []
    for i, ex in enumerate(examples):
        positives = set(ex.positives)
        ceiling = None
        if settings.margin is not None and query_vecs is not None and passage_vecs is not None:
            pos_scores = [float(query_vecs[i] @ passage_vecs[position[p]]) for p in ex.positives if p in position]
            ceiling = min(pos_scores) - settings.margin if pos_scores else None

        def keep(pid: str, qi: int = i, pos: set[str] = positives, top: float | None = ceiling) -> bool:
            if pid in pos:
                return False
            return top is None or float(query_vecs[qi] @ passage_vecs[position[pid]]) <= top  # type: ignore[index]

        chosen: list[str] = []
        for ranking, k in ((by_bm25[i], settings.bm25_k), (by_dense[i], settings.dense_k)):
            taken = 0
            for pid in ranking:
                if taken >= k:
                    break
                if pid not in chosen and keep(pid):
                    chosen.append(pid)
                    taken += 1
        out.append(replace(ex, negatives=tuple(chosen)))
    return out
