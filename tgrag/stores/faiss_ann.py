"""Approximate FAISS indexes (HNSW, IVF) with the exact semantics of :class:`FaissVectorIndex`.

The flat index of :class:`~tgrag.stores.faiss_index.FaissVectorIndex` stays the source of truth:
it is what is saved (the same file format, generation files, commit protocol) and what replace and
remove act on. The approximate structure is derived from it:

- built lazily at the first search (and after a load, reset or rollback) from the flat vectors;
- kept up to date incrementally: added vectors go into it at once; removed or replaced ones become
  tombstones, excluded by an id selector at search time;
- rebuilt when tombstones exceed a quarter of it (IVF also when the corpus doubled since its
  k-means training, so the centroids follow the data).

Searches return exact cosines (HNSWFlat and IVFFlat keep full vectors); only recall is
approximate. A filtered search (``allowed`` / ``scope``) of at most 2,048 ids scores them exactly;
a larger one searches the approximate structure under an id selector and, when that yields fewer
than k admitted ids while more exist (a selective filter the graph walk or the probed lists miss),
falls back to the exact flat search, so it still returns k ids whenever k are admitted.
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

from tgrag.kernel.errors import InputError
from tgrag.stores.faiss_index import FaissVectorIndex

_REBUILD_STALE = 0.25  # rebuild when this fraction of the approximate index is tombstones
_MIN_POINTS_PER_LIST = 39  # FAISS's k-means wants ~39 training points per centroid


def _positive(name: str, value: int) -> int:
    if not isinstance(value, int) or value <= 0:
        raise InputError(f"{name} must be a positive int, got {value!r}")
    return value


class _ApproximateFaissIndex(FaissVectorIndex):
    """Shared machinery: the derived structure, its tombstones, and the exact fallback."""

    def __init__(self, dim: int, path: Path | str | None = None) -> None:
        self._ann: faiss.Index | None = None
        self._stale: set[int] = set()
        self._built_for = 0
        super().__init__(dim, path)

    # -- subclass hooks ---------------------------------------------------------------------------
    def _build(self, vectors: np.ndarray, ids: np.ndarray) -> faiss.Index:
        raise NotImplementedError

    def _params(self, selector: faiss.IDSelector, n: int) -> faiss.SearchParameters:
        raise NotImplementedError

    # -- derived structure ------------------------------------------------------------------------
    def _changed(self, *, added: tuple[np.ndarray, np.ndarray] | None = None,
                 removed: np.ndarray | None = None) -> None:
        if added is None and removed is None:
            self._ann, self._stale, self._built_for = None, set(), 0
        elif self._ann is not None:
            if added is not None and not self._ann.is_trained:
                self._ann = None  # nothing to add to yet: trained at the next search
            elif added is not None:
                self._ann.add_with_ids(added[1], added[0])
            if removed is not None:
                self._stale.update(removed.tolist())

    def _needs_rebuild(self) -> bool:
        return self._ann is None or len(self._stale) > _REBUILD_STALE * max(1, self._ann.ntotal)

    def _current(self) -> faiss.Index:
        ann = self._ann
        if ann is None or self._needs_rebuild():
            flat = faiss.downcast_index(self._index.index)
            vectors = flat.reconstruct_n(0, flat.ntotal) if flat.ntotal else np.zeros((0, self.dim), np.float32)
            ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
            ann = self._build(vectors, ids)
            self._ann, self._stale, self._built_for = ann, set(), len(ids)
        return ann

    def _search_index(self, q: np.ndarray, n: int, cand: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        ann = self._current()
        if cand is not None:
            selector: faiss.IDSelector | None = faiss.IDSelectorBatch(cand)
        elif self._stale:
            stale = faiss.IDSelectorBatch(np.fromiter(self._stale, dtype=np.int64, count=len(self._stale)))
            selector = faiss.IDSelectorNot(stale)
        else:
            stale, selector = None, None
        scores, labels = ann.search(q, n, params=self._params(selector, n))
        if int((labels[0] >= 0).sum()) < n:  # the approximate search came up short: be exact
            return super()._search_index(q, n, cand)
        return scores, labels


class FaissHNSWVectorIndex(_ApproximateFaissIndex):
    """HNSW graph (``IndexHNSWFlat``, inner product): ``m`` links per node, ``ef_construction`` and
    ``ef_search`` candidate-list sizes (a search uses at least k)."""

    def __init__(self, dim: int, path: Path | str | None = None, *, m: int = 32, ef_construction: int = 200,
                 ef_search: int = 128) -> None:
        self.m = _positive("m", m)
        self.ef_construction = _positive("ef_construction", ef_construction)
        self.ef_search = _positive("ef_search", ef_search)
        super().__init__(dim, path)

    def _build(self, vectors: np.ndarray, ids: np.ndarray) -> faiss.Index:
        hnsw = faiss.IndexHNSWFlat(self.dim, self.m, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = self.ef_construction
        index = faiss.IndexIDMap(hnsw)
        index.add_with_ids(vectors, ids)
        return index

    def _params(self, selector: faiss.IDSelector | None, n: int) -> faiss.SearchParameters:
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(self.ef_search, n)
        if selector is not None:
            params.sel = selector
        return params


class FaissIVFVectorIndex(_ApproximateFaissIndex):
    """Inverted lists (``IndexIVFFlat``, inner product): ``nlist`` k-means cells, ``nprobe`` of them
    searched. While the corpus is small, fewer cells are trained (one per 39 vectors, at least one)
    and the cells are re-trained once the corpus doubled."""

    def __init__(self, dim: int, path: Path | str | None = None, *, nlist: int = 1024, nprobe: int = 16) -> None:
        self.nlist = _positive("nlist", nlist)
        self.nprobe = _positive("nprobe", nprobe)
        super().__init__(dim, path)

    def _needs_rebuild(self) -> bool:
        grown = len(self) >= 2 * self._built_for and self.trained_lists < self.nlist
        return super()._needs_rebuild() or grown

    @property
    def trained_lists(self) -> int:
        ann = self._ann
        return int(faiss.extract_index_ivf(ann).nlist) if ann is not None else 0

    def _build(self, vectors: np.ndarray, ids: np.ndarray) -> faiss.Index:
        nlist = max(1, min(self.nlist, len(ids) // _MIN_POINTS_PER_LIST))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(self.dim), self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
        if len(ids):
            sample = vectors
            if len(ids) > 256 * nlist:  # k-means on a fixed sample is enough and bounded
                pick = np.random.default_rng(0).choice(len(ids), 256 * nlist, replace=False)
                sample = vectors[np.sort(pick)]
            index.train(sample)
            index.add_with_ids(vectors, ids)
        return index

    def _params(self, selector: faiss.IDSelector | None, n: int) -> faiss.SearchParameters:
        params = faiss.SearchParametersIVF()
        params.nprobe = min(self.nprobe, self.trained_lists or 1)
        if selector is not None:
            params.sel = selector
        return params
