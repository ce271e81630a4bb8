"""FAISS HNSW and IVF beyond the shared contract: recall against flat, filters that the
approximate search would miss still return k admitted ids, tombstones and rebuilds, re-training."""

from __future__ import annotations

import numpy as np
import pytest

from tgrag.kernel import InputError
from tgrag.stores.faiss_ann import FaissHNSWVectorIndex, FaissIVFVectorIndex
from tgrag.stores.faiss_index import FaissVectorIndex

DIM = 32


def clustered(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, DIM))
    return (centres[rng.integers(0, 40, n)] + 0.35 * rng.normal(size=(n, DIM))).astype(np.float32)


def build(index: FaissVectorIndex, vecs: np.ndarray) -> list[str]:
    ids = [f"v{i}" for i in range(len(vecs))]
    index.add(ids, vecs)
    return ids


def recall(index: FaissVectorIndex, flat: FaissVectorIndex, queries: np.ndarray, k: int = 10) -> float:
    found = [len({h for h, _ in index.search(q, k)} & {h for h, _ in flat.search(q, k)}) for q in queries]
    return sum(found) / (k * len(queries))


@pytest.mark.parametrize("make", [lambda: FaissHNSWVectorIndex(DIM, m=16, ef_construction=80, ef_search=64),
                                  lambda: FaissIVFVectorIndex(DIM, nlist=32, nprobe=8)], ids=["hnsw", "ivf"])
def test_recall_against_flat(make) -> None:
    vecs = clustered(4000)
    queries = vecs[:50] + 0.2 * np.random.default_rng(1).normal(size=(50, DIM)).astype(np.float32)
    flat, ann = FaissVectorIndex(DIM), make()
    build(flat, vecs)
    build(ann, vecs)
    assert recall(ann, flat, queries) >= 0.9
    for q in queries[:5]:  # returned scores are exact cosines, ordered with ties by id
        hits = ann.search(q, 10)
        exact = dict(flat.search(q, 4000))
        assert all(s == pytest.approx(exact[h], abs=1e-5) for h, s in hits)
        assert hits == sorted(hits, key=lambda h: (-h[1], h[0]))


def test_ivf_selective_filter_still_returns_k() -> None:
    vecs = clustered(6000)
    ivf = FaissIVFVectorIndex(DIM, nlist=64, nprobe=1)  # one probed list: most admitted ids are elsewhere
    ids = build(ivf, vecs)
    flat = FaissVectorIndex(DIM)
    build(flat, vecs)
    far = np.argsort(vecs @ vecs[0])[:2500]  # the 2,500 least similar to the query: above the exact-scoring size
    allowed = {ids[i] for i in far}
    hits = ivf.search(vecs[0], 10, allowed=allowed)
    assert len(hits) == 10 and {h for h, _ in hits} <= allowed
    assert hits == flat.search(vecs[0], 10, allowed=allowed)


def test_hnsw_tombstones_and_rebuild() -> None:
    vecs = clustered(1000)
    hnsw = FaissHNSWVectorIndex(DIM, m=8, ef_construction=40, ef_search=32)
    ids = build(hnsw, vecs)
    hnsw.search(vecs[0], 5)
    first = hnsw._ann
    hnsw.remove(ids[:100])  # 10%: tombstones in the same structure
    hits = hnsw.search(vecs[0], 50)
    assert hnsw._ann is first and not {h for h, _ in hits} & set(ids[:100]) and len(hits) == 50
    hnsw.add(["v500"], vecs[1][None, :])  # a replacement: the old vector is a tombstone too
    assert hnsw.search(vecs[1], 2)[0][1] == pytest.approx(1.0, abs=1e-5)
    assert "v500" in {h for h, _ in hnsw.search(vecs[1], 2)}
    hnsw.remove(ids[100:400])  # now over a quarter: rebuilt without them
    hnsw.search(vecs[0], 5)
    assert hnsw._ann is not first and hnsw._ann.ntotal == len(hnsw) == 600


def test_ivf_retrains_when_the_corpus_doubles() -> None:
    vecs = clustered(4000)
    ivf = FaissIVFVectorIndex(DIM, nlist=64, nprobe=8)
    ivf.add([f"a{i}" for i in range(400)], vecs[:400])
    ivf.search(vecs[0], 3)
    assert ivf.trained_lists == 400 // 39
    ivf.add([f"b{i}" for i in range(400, 4000)], vecs[400:])
    assert ivf.search(vecs[3000], 1)[0] == ("b3000", pytest.approx(1.0, abs=1e-5))
    assert ivf.trained_lists == 64


def test_parameters_are_checked() -> None:
    with pytest.raises(InputError, match="m must be"):
        FaissHNSWVectorIndex(8, m=0)
    with pytest.raises(InputError, match="nprobe"):
        FaissIVFVectorIndex(8, nprobe=-1)


def _commit(index: FaissVectorIndex, generation: int) -> None:
    index.begin(generation)
    index.prepare(generation)
    index.commit(generation)


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_the_structure_is_saved_with_its_generation_and_reused_on_reopen(tmp_path, kind) -> None:  # noqa: ANN001
    def make(**kw):  # noqa: ANN003, ANN202
        return FaissHNSWVectorIndex(DIM, tmp_path / "vectors.faiss", m=kw.get("m", 8), ef_construction=40) \
            if kind == "hnsw" else FaissIVFVectorIndex(DIM, tmp_path / "vectors.faiss", nlist=kw.get("m", 8))

    vecs = clustered(600)
    index = make()
    ids = build(index, vecs)
    index.search(vecs[0], 5)  # builds the structure
    index.remove(ids[:10])  # tombstones
    _commit(index, 1)
    assert (tmp_path / "vectors.ann.g1.faiss").exists()
    expected = [index.search(v, 5) for v in vecs[20:40]]
    again = make()
    again.load(1)
    assert again._ann is not None and again._stale == index._stale  # loaded, not rebuilt
    assert [again.search(v, 5) for v in vecs[20:40]] == expected
    other = make(m=16)  # other parameters: the saved structure is not theirs
    other.load(1)
    assert other._ann is None
    assert [h for h, _ in other.search(vecs[25], 5)] == [h for h, _ in expected[5]]
    _commit(again, 2)  # written again (its structure exists); generation 0 and older pruned
    assert sorted(p.name for p in tmp_path.glob("vectors.ann.*")) == ["vectors.ann.g1.faiss", "vectors.ann.g2.faiss"]
    (tmp_path / "vectors.ann.g2.faiss").write_bytes(b"not an index")
    broken = make()
    broken.load(2)  # a damaged cache is rebuilt, never an error
    assert broken._ann is None
    assert [h for h, _ in broken.search(vecs[25], 5)] == [h for h, _ in expected[5]]
