"""FaissVectorIndex: add/replace/remove, allowed filter, atomic save of index + id map together."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tgrag.kernel import IndexCorruptError, InputError, StoreError
from tgrag.kernel.protocols import VectorIndex
from tgrag.stores.faiss_index import FaissVectorIndex
from tgrag.testing import HashingEmbedder

EMB = HashingEmbedder(64)
TEXTS = {f"p{i}": f"passage number {i} about topic {i % 5} and item {i % 7}" for i in range(40)}


def _filled(path: Path | None = None) -> FaissVectorIndex:
    idx = FaissVectorIndex(64, path)
    ids = list(TEXTS)
    idx.add(ids, EMB.encode([TEXTS[i] for i in ids]))
    return idx


def test_protocol_and_basic_search() -> None:
    idx = _filled()
    assert isinstance(idx, VectorIndex)
    assert len(idx) == 40 and "p3" in idx and "nope" not in idx and 3 not in idx
    hits = idx.search(EMB.encode([TEXTS["p3"]], kind="query")[0], 5)
    assert hits[0][0] == "p3" and hits[0][1] == pytest.approx(1.0, abs=1e-5)
    assert len(hits) == 5 and [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    assert idx.search(EMB.encode(["x"])[0], 0) == []
    assert len(idx.search(EMB.encode(["x"])[0], 100)) == 40


def test_vectors_are_normalised_for_cosine() -> None:
    idx = FaissVectorIndex(3)
    idx.add(["a", "b"], np.array([[10.0, 0, 0], [0, 0.5, 0.5]], dtype=np.float32))
    hits = idx.search(np.array([2.0, 0, 0]), 2)
    assert hits[0] == ("a", pytest.approx(1.0))
    assert hits[1] == ("b", pytest.approx(0.0, abs=1e-6))


def test_add_replaces_existing_ids_and_remove() -> None:
    idx = FaissVectorIndex(3)
    idx.add(["a", "b"], np.eye(3, dtype=np.float32)[:2])
    idx.add(["a"], np.array([[0, 0, 1.0]]))
    assert len(idx) == 2 and idx.ids() == ["b", "a"]
    assert idx.search(np.array([0, 0, 1.0]), 1) == [("a", pytest.approx(1.0))]
    assert idx.search(np.array([1.0, 0, 0]), 1)[0][0] != "a"
    idx.add(["c", "c"], np.array([[1.0, 0, 0], [0, 1.0, 0]]))  # last one wins
    assert len(idx) == 3 and idx.vector("c").tolist() == [0, 1.0, 0]
    assert idx.remove(["a", "zzz", "a"]) == 1
    assert len(idx) == 2 and "a" not in idx and idx.remove(["a"]) == 0


def test_allowed_filter_still_returns_k() -> None:
    idx = _filled()
    q = EMB.encode([TEXTS["p0"]])[0]
    allowed = {f"p{i}" for i in range(1, 40, 2)} | {"unknown"}
    hits = idx.search(q, 7, allowed=allowed)
    assert len(hits) == 7 and all(h in allowed for h, _ in hits)
    full = [h for h in idx.search(q, 40) if h[0] in allowed][:7]
    assert [h for h, _ in hits] == [h for h, _ in full]
    score_p2 = dict(idx.search(q, 40))["p2"]
    assert idx.search(q, 5, allowed={"p2"}) == [("p2", pytest.approx(score_p2))]
    assert idx.search(q, 5, allowed=set()) == [] and idx.search(q, 5, allowed={"x"}) == []


def test_allowed_filter_large_set_uses_faiss_selector() -> None:
    idx = FaissVectorIndex(8)
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(5000, 8)).astype(np.float32)
    ids = [f"v{i}" for i in range(5000)]
    idx.add(ids, vecs)
    allowed = set(ids[::2])
    hits = idx.search(vecs[1], 10, allowed=allowed)
    assert len(hits) == 10 and all(h in allowed for h, _ in hits)
    brute = sorted(((i, float(v @ vecs[1] / np.linalg.norm(v) / np.linalg.norm(vecs[1])))
                    for i, v in zip(ids, vecs) if i in allowed), key=lambda t: -t[1])[:10]
    assert [h for h, _ in hits] == [h for h, _ in brute]


def test_dimension_mismatch_is_a_clear_error(tmp_path: Path) -> None:
    idx = FaissVectorIndex(4)
    with pytest.raises(InputError, match=r"expected \(n, 4\)"):
        idx.add(["a"], np.ones((1, 5)))
    with pytest.raises(InputError, match="expected"):
        idx.search(np.ones(3), 1)
    with pytest.raises(InputError, match="2 ids for 1 vectors"):
        idx.add(["a", "b"], np.ones((1, 4)))
    path = tmp_path / "v.faiss"
    saved = FaissVectorIndex(4, path)
    saved.add(["a"], np.ones((1, 4)))
    saved.save()
    with pytest.raises(StoreError, match="dimension 4"):
        FaissVectorIndex(8, path)


def test_save_load_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "idx" / "vectors.faiss"
    idx = _filled(path)
    idx.remove(["p5"])
    idx.add(["p6"], EMB.encode(["replaced text"]))
    idx.save()
    assert sorted(p.name for p in path.parent.iterdir()) == ["vectors.faiss"]
    again = FaissVectorIndex(64, path)
    assert again.ids() == idx.ids() and len(again) == 39 and "p5" not in again
    q = EMB.encode(["topic 3 item 2"])[0]
    assert again.search(q, 10) == idx.search(q, 10)
    again.add(["new"], EMB.encode(["brand new"]))  # int ids keep growing after a reload
    assert len(again) == 40 and again.search(EMB.encode(["brand new"])[0], 1)[0][0] == "new"
    assert again.vector("p6").tolist() == pytest.approx(idx.vector("p6").tolist())


def _rewrite(path: Path, **replace: bytes) -> None:
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    for key, blob in replace.items():
        members[f"{key}.npy"] = _npy(blob)
    with zipfile.ZipFile(path, "w") as z:
        for name, blob in members.items():
            z.writestr(name, blob)


def _npy(blob: bytes) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.frombuffer(blob, dtype=np.uint8))
    return buf.getvalue()


def test_mismatched_id_map_raises(tmp_path: Path) -> None:
    path = tmp_path / "vectors.faiss"
    _filled(path).save()
    with np.load(path) as z:
        pairs = json.loads(z["ids"].tobytes())
    _rewrite(path, ids=json.dumps(pairs[:-1]).encode())
    with pytest.raises(IndexCorruptError, match="disagree"):
        FaissVectorIndex(64, path)


def test_mismatched_header_raises(tmp_path: Path) -> None:
    path = tmp_path / "vectors.faiss"
    _filled(path).save()
    _rewrite(path, header=json.dumps({"format": 1, "dim": 64, "count": 3, "next": 40}).encode())
    with pytest.raises(IndexCorruptError, match="disagree"):
        FaissVectorIndex(64, path)


@pytest.mark.parametrize("content", [b"", b"garbage bytes", b"PK\x03\x04truncated"])
def test_corrupt_file_raises(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "vectors.faiss"
    path.write_bytes(content)
    with pytest.raises(IndexCorruptError, match="vectors.faiss"):
        FaissVectorIndex(64, path)


def test_truncated_faiss_blob_raises(tmp_path: Path) -> None:
    path = tmp_path / "vectors.faiss"
    _filled(path).save()
    with np.load(path) as z:
        blob = z["index"].tobytes()
    _rewrite(path, index=blob[: len(blob) // 2])
    with pytest.raises(IndexCorruptError, match="vectors.faiss"):
        FaissVectorIndex(64, path)


def test_reload_discards_unsaved_changes(tmp_path) -> None:
    import numpy as np

    from tgrag.stores.faiss_index import FaissVectorIndex

    idx = FaissVectorIndex(4, tmp_path / "v.faiss")
    idx.add(["a"], np.eye(4, dtype=np.float32)[:1])
    idx.save()
    idx.add(["b"], np.eye(4, dtype=np.float32)[1:2])
    idx.remove(["a"])
    idx.reload()
    assert idx.ids() == ["a"]
