"""The VectorIndex contract (tgrag.contracts.vector_index) on the FAISS backends: flat (the
default), HNSW and IVF, each on generation files in a temp directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from tgrag.contracts.vector_index import DIM, VectorIndexContract
from tgrag.kernel.protocols import VectorIndex
from tgrag.stores.faiss_ann import FaissHNSWVectorIndex, FaissIVFVectorIndex
from tgrag.stores.faiss_index import FaissVectorIndex


class TestFaissFlat(VectorIndexContract):
    @pytest.fixture
    def index(self, tmp_path: Path) -> FaissVectorIndex:
        return FaissVectorIndex(DIM, tmp_path / "vectors.faiss")

    def reopen(self, index: VectorIndex) -> VectorIndex:
        assert isinstance(index, FaissVectorIndex)
        return FaissVectorIndex(DIM, index.path)


class TestFaissHNSW(VectorIndexContract):
    @pytest.fixture
    def index(self, tmp_path: Path) -> FaissHNSWVectorIndex:
        return FaissHNSWVectorIndex(DIM, tmp_path / "vectors.faiss", m=8, ef_construction=40, ef_search=16)

    def reopen(self, index: VectorIndex) -> VectorIndex:
        assert isinstance(index, FaissHNSWVectorIndex)
        return FaissHNSWVectorIndex(DIM, index.path, m=8, ef_construction=40, ef_search=16)


class TestFaissIVF(VectorIndexContract):
    @pytest.fixture
    def index(self, tmp_path: Path) -> FaissIVFVectorIndex:
        return FaissIVFVectorIndex(DIM, tmp_path / "vectors.faiss", nlist=4, nprobe=4)

    def reopen(self, index: VectorIndex) -> VectorIndex:
        assert isinstance(index, FaissIVFVectorIndex)
        return FaissIVFVectorIndex(DIM, index.path, nlist=4, nprobe=4)
