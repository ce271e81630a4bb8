"""Approximate FAISS indexes (HNSW, IVF) with the exact semantics of :class:`FaissVectorIndex`.

The flat index of :class:`~tgrag.stores.faiss_index.FaissVectorIndex` stays the source of truth:
it is what is saved (the same file format, generation files, commit protocol) and what replace and
remove act on. The approximate structure is derived from it:

- built lazily at the first search (and after a load, reset or rollback) from the flat vectors;
- kept up to date incrementally: added vectors go into it at once; removed or replaced ones become
  tombstones, excluded by an id selector at search time;
- rebuilt when tombstones exceed a quarter of it (IVF also when the corpus doubled since its
  k-means training, so the centroids follow the data);
- saved beside the flat file of each generation when it exists at commit (``vectors.ann.gN.faiss``:
  the structure, its tombstones and parameters), and loaded with that generation, so a reopened
  index does not rebuild it. The file is a cache: one that does not match its generation's flat
  index (other parameters, other vectors, unreadable) is ignored and the structure rebuilt.

Searches return exact cosines (HNSWFlat and IVFFlat keep full vectors); only recall is
approximate. A filtered search (``allowed`` / ``scope``) of at most 2,048 ids scores them exactly;
a larger one searches the approximate structure under an id selector and, when that yields fewer
than k admitted ids while more exist (a selective filter the graph walk or the probed lists miss),
falls back to the exact flat search, so it still returns k ids whenever k are admitted.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import IO, Any

import faiss
import numpy as np

from tgrag.kernel.errors import InputError
from tgrag.stores.faiss_index import FaissVectorIndex
from tgrag.stores.generations import GenerationFiles

log = logging.getLogger(__name__)

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
        self._ann_gens: GenerationFiles | None = None
        super().__init__(dim, path)

    # -- subclass hooks ---------------------------------------------------------------------------
    def _build(self, vectors: np.ndarray, ids: np.ndarray) -> faiss.Index:
        raise NotImplementedError

    def _settings(self) -> dict[str, Any]:
        """What the structure was built with: a saved one with other settings is not used."""
        raise NotImplementedError

    # -- the saved structure (a cache of the generation's flat index) ---------------------------
    def _ann_files(self) -> GenerationFiles | None:
        if self.path is None:
            return None
        if self._ann_gens is None:  # one per index, made at first use (``path`` is set by the base)
            self._ann_gens = GenerationFiles(self.path.with_name(f"{self.path.stem}.ann{self.path.suffix}"))
        return self._ann_gens

    def _header(self) -> dict[str, Any]:
        return {"kind": type(self).__name__, "settings": self._settings(), "dim": self.dim,
                "built_for": self._built_for, "next": self._next, "count": len(self)}

    def _write_ann(self, fh: IO[bytes]) -> None:
        assert self._ann is not None
        stale = np.fromiter(sorted(self._stale), dtype=np.int64, count=len(self._stale))
        np.savez(fh, header=np.frombuffer(json.dumps(self._header()).encode(), dtype=np.uint8),
                 index=faiss.serialize_index(self._ann), stale=stale)

    def _read_ann(self, path: Path) -> None:
        try:
            with np.load(path, allow_pickle=False) as z:
                header = json.loads(z["header"].tobytes().decode())
                blob = np.ascontiguousarray(z["index"], dtype=np.uint8)
                stale = set(np.asarray(z["stale"], dtype=np.int64).tolist())
            ann = faiss.deserialize_index(blob)
        except Exception as exc:  # noqa: BLE001  a cache: any unreadable file is rebuilt instead
            log.warning("%s: unreadable saved %s structure (%r); rebuilding it", path, type(self).__name__, exc)
            return
        mine = {**self._header(), "built_for": header.get("built_for")}
        live = set(self._str_of)
        if header != mine or ann.ntotal - len(stale) != len(live) or stale & live:
            log.info("%s: saved structure does not match its generation's vectors; rebuilding it", path)
            return
        self._ann, self._stale, self._built_for = ann, stale, int(header["built_for"])

    def prepare(self, generation: int) -> None:
        super().prepare(generation)
        files = self._ann_files()
        if files is not None and self._ann is not None and not self._needs_rebuild():
            files.write(generation, self._write_ann)

    def begin(self, generation: int) -> None:
        super().begin(generation)
        files = self._ann_files()
        if files is not None:
            files.prune(keep=set(), above=generation - 1)

    def commit(self, generation: int) -> None:
        super().commit(generation)
        files = self._ann_files()
        if files is not None:
            files.prune(keep={generation, generation - 1})

    def load(self, generation: int) -> None:
        super().load(generation)
        files = self._ann_files()
        found = files.existing(generation) if files is not None else None
        if found is not None:
            self._read_ann(found)

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

    def _settings(self) -> dict[str, Any]:
        return {"m": self.m, "ef_construction": self.ef_construction}

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

    def _settings(self) -> dict[str, Any]:
        return {"nlist": self.nlist}

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
