"""Cosine nearest neighbours over string ids on FAISS (exact inner product on normalised vectors).

The FAISS index (an ``IndexIDMap2`` over ``IndexFlatIP``, int64 ids), the int64 ↔ string id map
and each id's date interval are saved *together in one file*: an ``.npz`` container holding the
serialised index, the id map (JSON), the dated ids' intervals (int64 µs, see
:mod:`tgrag.stores.vector_dates`) and a header (format, dim, count). It is written to a temp file beside ``path``, fsynced and
``os.replace``-d into place, so a crash leaves either the old pair or the new pair, never a mix.
Loading checks that the index and the map agree (same dim, count and id set) and raises
:class:`~tgrag.kernel.errors.IndexCorruptError` otherwise. A file of format 1 (written before the
intervals were stored) loads with its intervals unknown: a time-scoped search then raises until
:meth:`FaissVectorIndex.assign_intervals` supplies them (the facade does, from the documents).

Subclasses (:mod:`tgrag.stores.faiss_ann`) keep this flat index as the source of truth and search
an approximate structure built from it (``_search_index`` and the ``_changed`` hooks).

In an index directory it is a ``Transactional`` participant of the commit protocol: each
generation is its own file (``vectors.g7.faiss``, see :mod:`tgrag.stores.generations`); ``save``
still writes ``path`` itself for standalone use.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO

import faiss
import numpy as np

from tgrag.kernel.errors import IndexCorruptError, InputError, NotFoundError, StoreError
from tgrag.kernel.temporal import TimeInterval
from tgrag.stores.generations import GenerationFiles, atomic_write
from tgrag.stores.vector_dates import encode, scope_mask
from tgrag.stores.vector_input import as_matrix, check_batch, normalise

FORMAT_VERSION = 2
_READABLE = (1, 2)  # format 1: no intervals
# With an allowed set at most this large, score exactly those vectors instead of asking FAISS.
_SMALL_ALLOWED = 2048


class FaissVectorIndex:
    """VectorIndex on FAISS. ``path`` (one file) is loaded when it exists; ``save`` writes it."""

    def __init__(self, dim: int, path: Path | str | None = None) -> None:
        if not isinstance(dim, int) or dim <= 0:
            raise InputError(f"vector dimension must be a positive int, got {dim!r}")
        self.dim = dim
        self.path = Path(path) if path is not None else None
        self._files = GenerationFiles(self.path) if self.path is not None else None
        self._generation = 0
        self._undo: tuple[faiss.Index, dict[str, int], int, np.ndarray] | None = None
        self._reset()
        if self.path is not None and self.path.exists():
            self._load(self.path)

    def _reset(self) -> None:
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
        self._int_of: dict[str, int] = {}
        self._str_of: dict[int, str] = {}
        self._next = 0
        # per int id: (start µs, end µs, kind) with kind 1 dated, 2 undated, 0 not indexed (removed,
        # replaced); int ids only grow, so rows are never reused
        self._dates = np.zeros((0, 3), dtype=np.int64)
        self._dates_known = True
        self._changed()

    # -- writes -----------------------------------------------------------------------------------
    def add(self, ids: Sequence[str], vectors: np.ndarray, *,
            intervals: Sequence[TimeInterval | None] | None = None) -> None:
        """Add or replace vectors (normalised here) with their date intervals (None: undated); a
        repeated id in one call: the last one wins."""
        vecs, ivs, last = check_batch(ids, vectors, self.dim, intervals)
        if not last:
            return
        self.remove(last)
        rows = np.fromiter(last.values(), dtype=np.int64, count=len(last))
        new_ids = np.arange(self._next, self._next + len(last), dtype=np.int64)
        self._next += len(last)
        for sid, iid in zip(last, new_ids.tolist()):
            self._int_of[sid] = iid
            self._str_of[iid] = sid
        self._grow_dates(self._next)
        self._dates[new_ids] = [_date_row(ivs[r]) for r in rows.tolist()]
        added = normalise(vecs[rows])
        self._index.add_with_ids(added, new_ids)
        self._changed(added=(new_ids, added))

    def assign_intervals(self, intervals: dict[str, TimeInterval | None]) -> None:
        """Set the date intervals of indexed ids (ids missing here become undated); makes the
        intervals of a format-1 file known."""
        self._dates[:] = 0
        for sid, iid in self._int_of.items():
            self._dates[iid] = _date_row(intervals.get(sid))
        self._dates_known = True

    @property
    def intervals_known(self) -> bool:
        """False for an index loaded from a format-1 file until ``assign_intervals``."""
        return self._dates_known

    def remove(self, ids: Iterable[str]) -> int:
        gone = [self._int_of.pop(sid) for sid in set(ids) if sid in self._int_of]
        if not gone:
            return 0
        for iid in gone:
            del self._str_of[iid]
        gone_ids = np.asarray(gone, dtype=np.int64)
        removed = self._index.remove_ids(faiss.IDSelectorBatch(gone_ids))
        if removed != len(gone):
            raise StoreError(f"FAISS removed {removed} vectors for {len(gone)} known ids")
        self._dates[gone_ids] = 0
        self._changed(removed=gone_ids)
        return len(gone)

    # -- reads ------------------------------------------------------------------------------------
    def search(self, query: np.ndarray, k: int, *, allowed: set[str] | None = None,
               scope: TimeInterval | None = None, keep_undated: bool = True) -> list[tuple[str, float]]:
        """Top-k (id, cosine), best first (ties by id); within ``allowed`` and ``scope`` when given
        (undated ids pass a scope when ``keep_undated``), still up to k results when that many
        admitted ids are indexed."""
        q = self._as_matrix(np.asarray(query).reshape(1, -1), "query")
        q = normalise(q)
        if k <= 0 or len(self._int_of) == 0:
            return []
        cand = self._candidates(allowed, scope, keep_undated)
        if cand is not None and cand.size == 0:
            return []
        n = min(k, len(self._int_of) if cand is None else int(cand.size))
        if cand is not None and cand.size <= _SMALL_ALLOWED:
            mat = np.vstack([self._index.reconstruct(int(i)) for i in cand])
            sims = mat @ q[0]
            order = np.argsort(-sims, kind="stable")[:n]
            scores, labels = sims[order][None, :], cand[order][None, :]
        else:
            scores, labels = self._search_index(q, n, cand)
        hits = [(self._str_of[int(i)], float(s)) for s, i in zip(scores[0], labels[0]) if i >= 0]
        hits.sort(key=lambda h: (-h[1], h[0]))
        return hits

    def _candidates(self, allowed: set[str] | None, scope: TimeInterval | None, keep_undated: bool
                    ) -> np.ndarray | None:
        """Sorted int ids admitted by ``allowed`` and ``scope`` (None: every id)."""
        cand = None
        if allowed is not None:
            cand = np.fromiter((self._int_of[s] for s in allowed if s in self._int_of), dtype=np.int64)
        if scope is not None:
            if not self._dates_known:
                raise StoreError(f"{self.path}: this vector index was written before intervals were stored; "
                                 "a time-scoped search needs them (assign_intervals, or `tgrag repair`)")
            d = self._dates[:self._next]
            mask = scope_mask(d[:, 0], d[:, 1], d[:, 2] == 1, scope, keep_undated) & (d[:, 2] > 0)
            cand = np.flatnonzero(mask).astype(np.int64) if cand is None else cand[mask[cand]]
        if cand is None or (allowed is None and cand.size == len(self._int_of)):
            return None  # nothing excluded: search everything
        return np.sort(cand)

    def _search_index(self, q: np.ndarray, n: int, cand: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-n over every id (``cand`` None) or over the int ids ``cand``."""
        if cand is None:
            return self._index.search(q, n)
        params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(cand))  # type: ignore[call-arg]
        return self._index.search(q, n, params=params)

    def _changed(self, *, added: tuple[np.ndarray, np.ndarray] | None = None,
                 removed: np.ndarray | None = None) -> None:
        """Hook: vectors were added (int ids, normalised rows) or removed; neither means that the
        whole flat index was replaced (loaded, reset, rolled back)."""

    def _grow_dates(self, n: int) -> None:
        if self._dates.shape[0] < n:
            grown = np.zeros((max(n, 2 * self._dates.shape[0], 64), 3), dtype=np.int64)
            grown[:self._dates.shape[0]] = self._dates
            self._dates = grown

    def vector(self, id_: str) -> np.ndarray:
        """The stored (normalised) vector of ``id_``."""
        if id_ not in self._int_of:
            raise NotFoundError("vector", id_)
        return np.asarray(self._index.reconstruct(self._int_of[id_]), dtype=np.float32)

    def ids(self) -> list[str]:
        """Indexed ids in the order they were (last) added."""
        return sorted(self._int_of, key=self._int_of.__getitem__)

    def __contains__(self, id_: object) -> bool:
        return id_ in self._int_of

    def __len__(self) -> int:
        return len(self._int_of)

    # -- persistence ------------------------------------------------------------------------------
    def save(self) -> None:
        """Write index + id map to ``path`` in one atomic replace; a no-op when in memory only."""
        if self.path is not None:
            atomic_write(self.path, self._write)

    def _write(self, fh: IO[bytes]) -> None:
        if not self._dates_known:
            raise StoreError(f"{self.path}: cannot save a vector index whose intervals are unknown "
                             "(assign_intervals first)")
        header = {"format": FORMAT_VERSION, "dim": self.dim, "count": len(self._int_of),
                  "next": self._next}
        id_map = json.dumps(sorted(((iid, sid) for sid, iid in self._int_of.items())))
        blob = faiss.serialize_index(self._index)
        dated = np.flatnonzero(self._dates[:self._next, 2] == 1).astype(np.int64)
        dates = np.column_stack([dated, self._dates[dated, 0], self._dates[dated, 1]]).astype(np.int64)
        np.savez(fh, header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8),
                 ids=np.frombuffer(id_map.encode(), dtype=np.uint8), index=blob, dates=dates)

    # -- commit protocol (Transactional) ----------------------------------------------------------
    def begin(self, generation: int) -> None:
        if self._files is not None:
            self._files.prune(keep=set(), above=generation - 1)
        else:  # nothing on disk to return to: keep a copy
            self._undo = (faiss.clone_index(self._index), dict(self._int_of), self._next, self._dates.copy())

    def prepare(self, generation: int) -> None:
        if self._files is not None:
            self._files.write(generation, self._write)

    def commit(self, generation: int) -> None:
        self._generation, self._undo = generation, None
        if self._files is not None:
            self._files.prune(keep={generation, generation - 1})

    def abort(self) -> None:
        if self._files is not None:
            self.load(self._generation)
        elif self._undo is not None:
            index, int_of, nxt, dates = self._undo
            self._index, self._int_of, self._next, self._dates, self._undo = index, int_of, nxt, dates, None
            self._str_of = {iid: sid for sid, iid in int_of.items()}
            self._changed()

    def durable(self, generation: int) -> bool:
        return self._files is None or self._files.existing(generation) is not None

    def load(self, generation: int) -> None:
        self._generation, self._undo = generation, None
        if self._files is None:
            return
        self._reset()
        found = self._files.live(generation, "vectors")
        if found is not None:
            self._load(found)

    def reload(self) -> None:
        """Discard unsaved changes: back to what ``path`` holds (empty if it does not exist)."""
        self._reset()
        if self.path is not None and self.path.exists():
            self._load(self.path)

    def _load(self, path: Path) -> None:
        try:
            with np.load(path, allow_pickle=False) as z:
                header = json.loads(z["header"].tobytes().decode())
                pairs = json.loads(z["ids"].tobytes().decode())
                blob = np.ascontiguousarray(z["index"], dtype=np.uint8)
                dates = np.asarray(z["dates"], dtype=np.int64) if "dates" in z.files else None
            index = faiss.deserialize_index(blob)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError,
                UnicodeDecodeError, RuntimeError, EOFError, io.UnsupportedOperation) as exc:
            raise IndexCorruptError(f"{path}: unreadable vector index file: {exc!r}") from exc
        if not isinstance(header, dict) or header.get("format") not in _READABLE:
            raise IndexCorruptError(f"{path}: not a tgrag vector index of format {FORMAT_VERSION}")
        if header.get("dim") != self.dim:
            raise StoreError(f"{path}: index has dimension {header.get('dim')}, this index was "
                             f"opened with dimension {self.dim} (a different embedder?)")
        if index.d != self.dim or not isinstance(index, faiss.IndexIDMap2):
            raise IndexCorruptError(f"{path}: stored FAISS index (d={index.d}, "
                                    f"{type(index).__name__}) does not match its header")
        int_of = {str(sid): int(iid) for iid, sid in pairs}
        faiss_ids = set(faiss.vector_to_array(index.id_map).tolist())
        if (len(int_of) != len(pairs) or header.get("count") != len(int_of)
                or index.ntotal != len(int_of) or faiss_ids != set(int_of.values())):
            raise IndexCorruptError(f"{path}: FAISS index holds {index.ntotal} vectors but the id map "
                                    f"lists {len(pairs)} (count {header.get('count')}); they disagree")
        nxt = max(int(header.get("next", 0)), max(faiss_ids, default=-1) + 1)
        known = header["format"] >= 2
        if known and (dates is None or dates.ndim != 2 or dates.shape[1] != 3
                      or not set(dates[:, 0].tolist()) <= faiss_ids):
            raise IndexCorruptError(f"{path}: the stored intervals do not match the indexed ids")
        self._index = index
        self._int_of = int_of
        self._str_of = {iid: sid for sid, iid in int_of.items()}
        self._next = nxt
        self._dates = np.zeros((0, 3), dtype=np.int64)
        self._grow_dates(nxt)
        self._dates_known = known
        self._dates[list(int_of.values()), 2] = 2
        if known and dates is not None and dates.size:
            self._dates[dates[:, 0], 0:2] = dates[:, 1:3]
            self._dates[dates[:, 0], 2] = 1
        self._changed()

    # -- helpers ----------------------------------------------------------------------------------
    def _as_matrix(self, vectors: np.ndarray, what: str) -> np.ndarray:
        return as_matrix(vectors, self.dim, what)


def _date_row(interval: TimeInterval | None) -> tuple[int, int, int]:
    code = encode(interval)
    return (0, 0, 2) if code is None else (code[0], code[1], 1)
