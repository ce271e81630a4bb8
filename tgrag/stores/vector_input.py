"""Input checks and normalisation shared by the vector backends (FAISS, Milvus)."""

from __future__ import annotations

import numpy as np

from tgrag.kernel.errors import InputError


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
