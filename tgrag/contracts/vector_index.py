"""The ``VectorIndex`` (+ ``Transactional``) contract, written once.

A backend's test module subclasses :class:`VectorIndexContract` and provides

- an ``index`` fixture: a fresh, empty index of dimension :data:`DIM` on persistent storage (a
  file path, a server collection) that nothing else uses;
- ``reopen(index)``: a second instance over the same storage, as another process would open it
  (it sees what was saved or committed, and nothing of ``index``'s unsaved state).

::

    class TestMyIndex(VectorIndexContract):
        @pytest.fixture
        def index(self, tmp_path):
            return MyIndex(DIM, tmp_path / "vectors")

        def reopen(self, index):
            return MyIndex(DIM, index.path)
"""

from __future__ import annotations

import numpy as np
import pytest

from tgrag.kernel.errors import IndexCorruptError, InputError
from tgrag.kernel.protocols import Transactional, VectorIndex
from tgrag.kernel.temporal import TimeInterval

DIM = 16
_RNG = np.random.default_rng(7)
VECS = _RNG.normal(size=(40, DIM)).astype(np.float32)
IDS = [f"v{i:02d}" for i in range(40)]
Y2019, Y2020, Y2021 = (TimeInterval.from_label(y) for y in ("2019", "2020", "2021"))
# v00..v09 in 2019, v10..v19 in 2020, v20..v29 in 2021, v30..v39 undated
INTERVALS = [Y2019] * 10 + [Y2020] * 10 + [Y2021] * 10 + [None] * 10


def unit(i: int) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    v[i] = 1.0
    return v


def brute(query: np.ndarray, admitted: list[str] | None = None) -> list[tuple[str, float]]:
    """The exact ranking of :data:`VECS` for ``query`` (cosine, ties by id), over ``admitted``."""
    q = query / np.linalg.norm(query)
    mat = VECS / np.linalg.norm(VECS, axis=1, keepdims=True)
    sims = {i: float(s) for i, s in zip(IDS, mat @ q)}
    keep = IDS if admitted is None else admitted
    return sorted(((i, sims[i]) for i in keep), key=lambda h: (-h[1], h[0]))


def ranked_ids(hits: list[tuple[str, float]]) -> list[str]:
    return [h for h, _ in hits]


class VectorIndexContract:
    """Behaviour every VectorIndex backend must show (FAISS flat, HNSW, IVF, Milvus alike)."""

    def reopen(self, index: VectorIndex) -> VectorIndex:
        raise NotImplementedError

    def filled(self, index: VectorIndex) -> VectorIndex:
        index.add(IDS, VECS, intervals=INTERVALS)
        return index

    def committed(self, index: VectorIndex) -> Transactional:
        """``index`` filled and committed as generation 1."""
        tx = _tx(index)
        tx.begin(1)
        self.filled(index)
        tx.prepare(1)
        tx.commit(1)
        return tx

    # -- basics -----------------------------------------------------------------------------------
    def test_implements_protocols(self, index: VectorIndex) -> None:
        assert isinstance(index, VectorIndex) and isinstance(index, Transactional)

    def test_empty_index(self, index: VectorIndex) -> None:
        assert len(index) == 0 and index.ids() == [] and "v00" not in index
        assert index.search(VECS[0], 5) == [] and index.search(VECS[0], 5, scope=Y2020) == []
        assert index.remove(["v00"]) == 0

    def test_search_is_exact_cosine_best_first(self, index: VectorIndex) -> None:
        self.filled(index)
        assert len(index) == 40 and "v03" in index and "zz" not in index and 3 not in index
        assert sorted(index.ids()) == IDS
        for i in (0, 17, 33):
            hits = index.search(VECS[i], 10)
            want = brute(VECS[i])[:10]
            assert ranked_ids(hits) == ranked_ids(want)
            assert [s for _, s in hits] == pytest.approx([s for _, s in want], abs=1e-5)
            assert hits[0] == (IDS[i], pytest.approx(1.0, abs=1e-5))
        assert index.search(VECS[0], 0) == []
        assert ranked_ids(index.search(VECS[5], 100)) == ranked_ids(brute(VECS[5]))

    def test_vectors_are_normalised(self, index: VectorIndex) -> None:
        index.add(["a", "b"], np.stack([10 * unit(0), 0.5 * unit(1) + 0.5 * unit(2)]))
        hits = index.search(3 * unit(0), 2)
        assert hits[0] == ("a", pytest.approx(1.0, abs=1e-5)) and hits[1] == ("b", pytest.approx(0.0, abs=1e-5))

    def test_ties_are_broken_by_id(self, index: VectorIndex) -> None:
        index.add(["c", "a", "d", "b"], np.stack([unit(0), unit(0), unit(1), unit(0)]))
        hits = index.search(unit(0), 4)
        assert ranked_ids(hits) == ["a", "b", "c", "d"]
        assert [s for _, s in hits[:3]] == pytest.approx([1.0, 1.0, 1.0], abs=1e-6)
        top2 = index.search(unit(0), 2)
        assert len(top2) == 2 and all(s == pytest.approx(1.0, abs=1e-6) for _, s in top2)
        assert ranked_ids(top2) == sorted(ranked_ids(top2))

    # -- writes -----------------------------------------------------------------------------------
    def test_add_replaces_and_last_of_a_call_wins(self, index: VectorIndex) -> None:
        index.add(["a", "b"], np.stack([unit(0), unit(1)]))
        index.add(["a"], unit(2)[None, :])
        assert len(index) == 2 and sorted(index.ids()) == ["a", "b"]
        assert index.search(unit(2), 1) == [("a", pytest.approx(1.0, abs=1e-5))]
        assert index.search(unit(0), 1)[0][1] == pytest.approx(0.0, abs=1e-5)
        index.add(["c", "c"], np.stack([unit(3), unit(4)]))
        assert len(index) == 3 and index.search(unit(4), 1) == [("c", pytest.approx(1.0, abs=1e-5))]
        index.add([], np.zeros((0, DIM), dtype=np.float32))
        assert len(index) == 3

    def test_remove(self, index: VectorIndex) -> None:
        self.filled(index)
        assert index.remove(["v01", "v02", "nope", "v01"]) == 2
        assert len(index) == 38 and "v01" not in index and sorted(index.ids()) == sorted(set(IDS) - {"v01", "v02"})
        assert "v01" not in ranked_ids(index.search(VECS[1], 40))
        assert index.remove(["v01"]) == 0
        index.add(["v01"], VECS[1][None, :])  # re-added after removal
        assert index.search(VECS[1], 1)[0][0] == "v01"

    def test_bad_input_is_an_input_error(self, index: VectorIndex) -> None:
        with pytest.raises(InputError):
            index.add(["a"], np.ones((1, DIM + 1), dtype=np.float32))
        with pytest.raises(InputError):
            index.add(["a", "b"], np.ones((1, DIM), dtype=np.float32))
        with pytest.raises(InputError):
            index.add(["a"], np.ones((1, DIM), dtype=np.float32), intervals=[None, None])
        with pytest.raises(InputError):
            index.add(["a"], np.full((1, DIM), np.nan, dtype=np.float32))
        with pytest.raises(InputError):
            index.search(np.ones(DIM - 1, dtype=np.float32), 1)
        assert len(index) == 0

    # -- filters ----------------------------------------------------------------------------------
    def test_allowed_filter_returns_k_admitted(self, index: VectorIndex) -> None:
        self.filled(index)
        allowed = set(IDS[1::3]) | {"unknown"}
        hits = index.search(VECS[0], 7, allowed=allowed)
        assert ranked_ids(hits) == ranked_ids(brute(VECS[0], sorted(allowed - {"unknown"}))[:7])
        assert index.search(VECS[0], 5, allowed={"v04"}) == [("v04", pytest.approx(brute(VECS[0], ["v04"])[0][1],
                                                                                      abs=1e-5))]
        assert index.search(VECS[0], 5, allowed=set()) == [] and index.search(VECS[0], 5, allowed={"x"}) == []
        assert len(index.search(VECS[0], 100, allowed=allowed)) == len(allowed) - 1

    def test_scope_filter(self, index: VectorIndex) -> None:
        self.filled(index)
        q = VECS[3]
        in_2020 = [IDS[i] for i in range(10, 20)]
        undated = [IDS[i] for i in range(30, 40)]
        assert ranked_ids(index.search(q, 40, scope=Y2020, keep_undated=False)) == ranked_ids(brute(q, in_2020))
        assert ranked_ids(index.search(q, 40, scope=Y2020)) == ranked_ids(brute(q, in_2020 + undated))
        assert ranked_ids(index.search(q, 3, scope=Y2020, keep_undated=False)) == ranked_ids(brute(q, in_2020)[:3])
        mid_2019 = TimeInterval.from_label("2019-07")
        assert sorted(ranked_ids(index.search(q, 40, scope=mid_2019, keep_undated=False))) == IDS[:10]
        until_2020 = TimeInterval.until(Y2020.start)  # open start, half-open end: 2019 only
        assert sorted(ranked_ids(index.search(q, 40, scope=until_2020, keep_undated=False))) == IDS[:10]
        since_2021 = TimeInterval(Y2021.start, None)
        assert sorted(ranked_ids(index.search(q, 40, scope=since_2021, keep_undated=False))) == IDS[20:30]
        assert index.search(q, 5, scope=TimeInterval.from_label("1990"), keep_undated=False) == []

    def test_scope_and_allowed_together(self, index: VectorIndex) -> None:
        self.filled(index)
        allowed = {"v00", "v11", "v12", "v25", "v35"}
        hits = index.search(VECS[11], 10, allowed=allowed, scope=Y2020)
        assert ranked_ids(hits) == ranked_ids(brute(VECS[11], ["v11", "v12", "v35"]))
        assert ranked_ids(index.search(VECS[11], 10, allowed=allowed, scope=Y2020, keep_undated=False)) == \
            ranked_ids(brute(VECS[11], ["v11", "v12"]))

    def test_replace_changes_the_interval_and_omitted_means_undated(self, index: VectorIndex) -> None:
        self.filled(index)
        index.add(["v10"], VECS[10][None, :], intervals=[Y2021])
        index.add(["v11"], VECS[11][None, :])
        dated_2020 = set(ranked_ids(index.search(VECS[0], 40, scope=Y2020, keep_undated=False)))
        assert dated_2020 == {IDS[i] for i in range(12, 20)}
        assert "v10" in ranked_ids(index.search(VECS[0], 40, scope=Y2021, keep_undated=False))
        assert "v11" in ranked_ids(index.search(VECS[0], 40, scope=Y2021))  # undated, kept

    # -- persistence ------------------------------------------------------------------------------
    def test_save_and_reopen(self, index: VectorIndex) -> None:
        self.filled(index)
        index.remove(["v05"])
        index.add(["v06"], VECS[7][None, :], intervals=[Y2021])
        index.save()
        again = self.reopen(index)
        assert sorted(again.ids()) == sorted(index.ids()) and len(again) == 39 and "v05" not in again
        for q in (VECS[0], VECS[7], VECS[36]):
            assert again.search(q, 10) == [(h, pytest.approx(s, abs=1e-6)) for h, s in index.search(q, 10)]
        assert sorted(ranked_ids(again.search(VECS[0], 40, scope=Y2021, keep_undated=False))) == \
            sorted(["v06", *IDS[20:30]])
        again.add(["new"], unit(5)[None, :])
        assert again.search(unit(5), 1)[0][0] == "new" and len(again) == 40

    # -- the commit protocol ----------------------------------------------------------------------
    def test_commit_makes_a_generation_loadable(self, index: VectorIndex) -> None:
        tx = _tx(index)
        tx.begin(1)
        self.filled(index)
        assert len(index) == 40  # its own pending writes are visible to it
        tx.prepare(1)
        assert tx.durable(1)
        tx.commit(1)
        reader = self.reopen(index)
        _tx(reader).load(1)
        assert sorted(reader.ids()) == IDS
        assert ranked_ids(reader.search(VECS[2], 5, scope=Y2019, keep_undated=False)) == \
            ranked_ids(brute(VECS[2], IDS[:10])[:5])
        with pytest.raises(IndexCorruptError):
            _tx(self.reopen(index)).load(5)

    def test_abort_returns_to_the_committed_generation(self, index: VectorIndex) -> None:
        tx = self.committed(index)
        tx.begin(2)
        index.remove(IDS[:5])
        index.add(["v10", "extra"], np.stack([VECS[0], unit(1)]), intervals=[Y2019, None])
        assert len(index) == 36 and "extra" in index
        tx.abort()
        assert sorted(index.ids()) == IDS and "extra" not in index and not tx.durable(2)
        assert index.search(VECS[10], 1)[0][0] == "v10" and index.search(VECS[0], 1)[0][0] == "v00"
        assert ranked_ids(index.search(VECS[10], 40, scope=Y2020, keep_undated=False)) == \
            ranked_ids(brute(VECS[10], IDS[10:20]))

    def test_readers_keep_the_committed_generation_during_a_write(self, index: VectorIndex) -> None:
        tx = self.committed(index)
        reader = self.reopen(index)
        _tx(reader).load(1)
        tx.begin(2)
        index.remove(IDS[:20])
        index.add(["v30", "fresh"], np.stack([VECS[0], unit(3)]), intervals=[Y2020, Y2020])
        tx.prepare(2)
        assert sorted(reader.ids()) == IDS and "fresh" not in reader  # prepared, not yet committed
        assert ranked_ids(reader.search(VECS[0], 3)) == ranked_ids(brute(VECS[0])[:3])
        tx.commit(2)
        assert ranked_ids(reader.search(VECS[0], 40)) == ranked_ids(brute(VECS[0]))  # still generation 1
        _tx(reader).load(2)
        assert sorted(reader.ids()) == sorted([*IDS[20:], "fresh"]) and len(reader) == 21
        assert reader.search(VECS[0], 1)[0][0] == "v30"
        assert sorted(ranked_ids(reader.search(VECS[0], 40, scope=Y2020, keep_undated=False))) == ["fresh", "v30"]

    def test_begin_discards_an_interrupted_attempt_and_commit_prunes(self, index: VectorIndex) -> None:
        tx = _tx(index)
        for g in (1, 2):
            tx.begin(g)
            index.add([f"g{g}"], unit(g)[None, :])
            tx.prepare(g)
            tx.commit(g)
        tx.begin(3)
        index.add(["half"], unit(3)[None, :])
        tx.prepare(3)  # then the writer dies before the commit point
        survivor = self.reopen(index)
        stx = _tx(survivor)
        stx.load(2)
        assert sorted(survivor.ids()) == ["g1", "g2"]
        stx.begin(3)
        assert not stx.durable(3) and "half" not in survivor
        survivor.add(["g3"], unit(4)[None, :])
        stx.prepare(3)
        stx.commit(3)
        assert stx.durable(3) and stx.durable(2) and not stx.durable(1)
        last = self.reopen(index)
        _tx(last).load(3)
        assert sorted(last.ids()) == ["g1", "g2", "g3"]


def _tx(index: VectorIndex) -> Transactional:
    if not isinstance(index, Transactional):
        raise TypeError(f"{type(index).__name__} does not implement Transactional")
    return index
