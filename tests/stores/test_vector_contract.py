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


def test_format_1_file_gets_its_intervals_assigned(tmp_path: Path) -> None:
    import io
    import json
    import zipfile

    import numpy as np

    from tgrag.contracts.vector_index import IDS, INTERVALS, VECS, Y2020
    from tgrag.kernel import StoreError

    path = tmp_path / "vectors.faiss"
    old = FaissVectorIndex(DIM, path)
    old.add(IDS, VECS, intervals=INTERVALS)
    old.save()
    with zipfile.ZipFile(path) as z:  # what a format-1 writer left: no intervals member
        members = {n: z.read(n) for n in z.namelist() if n != "dates.npy"}
    header = json.loads(np.load(io.BytesIO(members["header.npy"])).tobytes())
    buf = io.BytesIO()
    np.save(buf, np.frombuffer(json.dumps({**header, "format": 1}).encode(), dtype=np.uint8))
    members["header.npy"] = buf.getvalue()
    with zipfile.ZipFile(path, "w") as z:
        for name, blob in members.items():
            z.writestr(name, blob)
    legacy = FaissVectorIndex(DIM, path)
    assert not legacy.intervals_known and legacy.search(VECS[0], 3) == old.search(VECS[0], 3)
    with pytest.raises(StoreError, match="intervals"):
        legacy.search(VECS[0], 3, scope=Y2020)
    legacy.assign_intervals(dict(zip(IDS, INTERVALS)))
    assert legacy.search(VECS[0], 40, scope=Y2020) == old.search(VECS[0], 40, scope=Y2020)
    legacy.save()
    assert FaissVectorIndex(DIM, path).search(VECS[0], 40, scope=Y2020) == old.search(VECS[0], 40, scope=Y2020)
