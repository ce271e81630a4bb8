"""Input checks and normalisation shared by the vector backends (FAISS, Milvus)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tgrag.kernel.errors import InputError
from tgrag.kernel.temporal import TimeInterval
from tgrag.stores.vector_dates import check_intervals


def as_matrix(vectors: np.ndarray, dim: int, what: str) -> np.ndarray:
    """``vectors`` as a float32 (n, dim) matrix (one vector may be 1-d); InputError otherwise."""
    arr = np.asarray(vectors, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise InputError(f"{what} have shape {tuple(np.shape(vectors))}, expected (n, {dim})")
    if not np.isfinite(arr).all():
        raise InputError(f"{what} contain NaN or infinite values")
    return arr


def normalise(mat: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as a new contiguous float32 array."""
    out = np.array(mat, dtype=np.float32, copy=True)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return np.ascontiguousarray(out)


def check_batch(ids: Sequence[str], vectors: np.ndarray, dim: int,
                intervals: Sequence[TimeInterval | None] | None, *, max_id_len: int | None = None
                ) -> tuple[np.ndarray, list[TimeInterval | None], dict[str, int]]:
    """The checks every backend's ``add`` makes: (the vectors as a float32 (n, dim) matrix, one
    interval per id, {id: the row that wins}: a repeated id's last row). InputError names what is
    wrong: shapes, counts, non-finite values, or an id that is not a (non-empty, short enough) string."""
    vecs = as_matrix(vectors, dim, "vectors")
    if len(ids) != vecs.shape[0]:
        raise InputError(f"{len(ids)} ids for {vecs.shape[0]} vectors")
    ivs = check_intervals(intervals, len(ids))
    last: dict[str, int] = {}
    for row, sid in enumerate(ids):
        if not isinstance(sid, str):
            raise InputError(f"vector ids must be strings, got {sid!r}")
        if max_id_len is not None and not 0 < len(sid) <= max_id_len:
            raise InputError(f"vector ids must be non-empty strings of at most {max_id_len} chars, got {sid!r}")
        last[sid] = row
    return vecs, ivs, last
