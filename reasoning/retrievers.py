"""Passage retrievers behind one small protocol: dense, BM25 and their fusion (hybrid).

Time scope: a retriever given ``scope`` only returns passages whose date overlaps it. Both the
scope and the undated-passage policy are arguments of each call, never retriever state. Undated
passages are *kept* by default (``keep_undated=True``): most multi-hop corpora (Wikipedia) carry no
dates, and an undated passage may well state what was true in the scope; the reader is told the
scope. ``keep_undated=False`` makes the scope a hard filter (a caller's ``as_of``/``between``, or
corpora where every relevant document is dated: news, transcripts).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from reasoning.bm25 import BM25Index
from tgrag.kernel.protocols import DocumentStore, Embedder, VectorIndex
from tgrag.kernel.records import Evidence, EvidenceKind, Passage
from tgrag.kernel.temporal import TimeInterval


@runtime_checkable
class Retriever(Protocol):
    def retrieve(self, query: str, k: int, *, scope: TimeInterval | None = None,
                 keep_undated: bool = True) -> list[Evidence]: ...


def passage_evidence(passage: Passage, score: float) -> Evidence:
    return Evidence(EvidenceKind.PASSAGE, passage.passage_id, passage.text, float(score), passage.date,
                    passage.doc_id, passage.title)


def in_scope(passage: Passage, scope: TimeInterval | None, *, keep_undated: bool = True) -> bool:
    if scope is None:
        return True
    if passage.date is None:
        return keep_undated
    return passage.date.overlaps(scope)


def allowed_ids(docs: DocumentStore, scope: TimeInterval | None, *, keep_undated: bool = True
                ) -> set[str] | None:
    """Passage ids admissible under ``scope``, as :func:`in_scope` admits them (None = no restriction:
    no scope, or one that excludes no stored passage). Both come from the store's date index."""
    if scope is None or not docs.scope_excludes(scope, keep_undated=keep_undated):
        return None
    return docs.passage_ids_in(scope, keep_undated=keep_undated)


def to_evidence(docs: DocumentStore, ranked: Sequence[tuple[str, float]]) -> list[Evidence]:
    by_id = {p.passage_id: p for p in docs.get_passages([pid for pid, _ in ranked])}
    return [passage_evidence(by_id[pid], s) for pid, s in ranked if pid in by_id]


class DenseRetriever:
    """Cosine nearest neighbours of the query embedding in the passage VectorIndex."""

    def __init__(self, docs: DocumentStore, vectors: VectorIndex, embedder: Embedder) -> None:
        self.docs = docs
        self.vectors = vectors
        self.embedder = embedder

    def embed(self, query: str) -> np.ndarray:
        return self.embedder.encode([query], kind="query")[0]

    def ranked(self, query: str | np.ndarray, k: int, *, scope: TimeInterval | None = None,
               keep_undated: bool = True, allowed: set[str] | None = None) -> list[tuple[str, float]]:
        """(passage id, cosine) best first; ``allowed`` (already scoped ids) replaces ``scope``,
        which is otherwise applied inside the index (its passages' date intervals)."""
        qv = self.embed(query) if isinstance(query, str) else query
        if allowed is not None:
            return self.vectors.search(qv, k, allowed=allowed) if allowed else []
        return self.vectors.search(qv, k, scope=scope, keep_undated=keep_undated)

    def similarities(self, query: np.ndarray, ids: set[str]) -> dict[str, float]:
        """Cosine of the query with each passage in ``ids`` (unknown ids are left out)."""
        if not ids:
            return {}
        return dict(self.vectors.search(query, len(ids), allowed=ids))

    def retrieve(self, query: str, k: int, *, scope: TimeInterval | None = None,
                 keep_undated: bool = True) -> list[Evidence]:
        return to_evidence(self.docs, self.ranked(query, k, scope=scope, keep_undated=keep_undated))


class BM25Retriever:
    """BM25 over the DocumentStore's passages (title + text), on an incremental :class:`BM25Index`.

    The index is built from the store on first use. A writer that shares ``index`` (the facade)
    updates it with each write's added and removed passages, so it is not rebuilt; a store whose
    passage count no longer matches the index (written by someone who did not tell it), or
    :meth:`invalidate`, makes the next query rebuild it.
    """

    def __init__(self, docs: DocumentStore, index: BM25Index | None = None) -> None:
        self.docs = docs
        self.index = index if index is not None else BM25Index()

    def invalidate(self) -> None:
        self.index.built = False

    def _ensure(self) -> None:
        if self.index.built and len(self.index) == self.docs.count()[1]:
            return
        self.index.build(self.docs.iter_passages())

    def ranked(self, query: str, k: int, *, scope: TimeInterval | None = None,
               keep_undated: bool = True) -> list[tuple[str, float]]:
        self._ensure()
        out: list[tuple[str, float]] = []
        for score, p in self.index.search(query):
            if len(out) >= k:
                break
            if in_scope(p, scope, keep_undated=keep_undated):
                out.append((p.passage_id, score))
        return out

    def retrieve(self, query: str, k: int, *, scope: TimeInterval | None = None,
                 keep_undated: bool = True) -> list[Evidence]:
        return to_evidence(self.docs, self.ranked(query, k, scope=scope, keep_undated=keep_undated))


def reciprocal_rank_fusion(rankings: Sequence[Sequence[tuple[str, float]]], *, k0: int = 60
                           ) -> list[tuple[str, float]]:
    """RRF: score(id) = sum over rankings of 1 / (k0 + rank); ties broken by id."""
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, (pid, _) in enumerate(ranking):
            fused[pid] = fused.get(pid, 0.0) + 1.0 / (k0 + rank + 1)
    return sorted(fused.items(), key=lambda x: (-x[1], x[0]))


class HybridRetriever:
    """Dense + BM25 fused by reciprocal rank over each one's top ``depth``."""

    def __init__(self, dense: DenseRetriever, bm25: BM25Retriever, *, depth: int = 100, k0: int = 60) -> None:
        self.dense = dense
        self.bm25 = bm25
        self.depth = depth
        self.k0 = k0

    def ranked(self, query: str, k: int, *, scope: TimeInterval | None = None, keep_undated: bool = True,
               query_vector: np.ndarray | None = None, allowed: set[str] | None = None
               ) -> list[tuple[str, float]]:
        depth = max(self.depth, k)
        if allowed is None:
            allowed = allowed_ids(self.dense.docs, scope, keep_undated=keep_undated)
        dense = self.dense.ranked(query if query_vector is None else query_vector, depth, allowed=allowed)
        if scope is not None and not dense and allowed is not None and not allowed:
            return []
        sparse = self.bm25.ranked(query, depth, scope=scope, keep_undated=keep_undated)
        return reciprocal_rank_fusion([dense, sparse], k0=self.k0)[:k]

    def retrieve(self, query: str, k: int, *, scope: TimeInterval | None = None,
                 keep_undated: bool = True) -> list[Evidence]:
        return to_evidence(self.dense.docs, self.ranked(query, k, scope=scope, keep_undated=keep_undated))
