"""The graph-store contract on the networkx backend, plus its JSON persistence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.stores.contract import A, B, GraphStoreContract, fact, year
from tgrag.kernel import IndexCorruptError, TimeInterval
from tgrag.kernel.protocols import GraphStore
from tgrag.stores.networkx_store import NetworkXGraphStore


class TestNetworkXGraphStore(GraphStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> NetworkXGraphStore:
        return NetworkXGraphStore(tmp_path / "graph.json")

    def reopen(self, store: GraphStore) -> GraphStore:
        assert isinstance(store, NetworkXGraphStore) and store.path is not None
        store.save()
        store.close()
        return NetworkXGraphStore(store.path)


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "graph.json"
    store = NetworkXGraphStore(path)
    store.upsert([A, B, fact(A, "knows", B, year(2020))])
    store.save()
    store.upsert([fact(B, "knows", A, year(2021))])
    store.save()
    assert sorted(p.name for p in path.parent.iterdir()) == ["graph.json"]
    assert len(json.loads(path.read_text())["facts"]) == 2


def test_in_memory_store_save_is_a_no_op(tmp_path: Path) -> None:
    store = NetworkXGraphStore()
    store.upsert([A])
    store.save()
    assert store.path is None and store.counts()["entities"] == 1


@pytest.mark.parametrize("content", ["{not json", '{"format": 99}', '{"format": 1, "entities": [{}]}'])
def test_corrupt_graph_file_raises(tmp_path: Path, content: str) -> None:
    path = tmp_path / "graph.json"
    path.write_text(content)
    with pytest.raises(IndexCorruptError, match="graph.json"):
        NetworkXGraphStore(path)


def test_reload_discards_unsaved_changes(tmp_path) -> None:
    from tgrag.kernel import Entity
    from tgrag.stores.networkx_store import NetworkXGraphStore

    g = NetworkXGraphStore(tmp_path / "g.json")
    g.upsert([Entity.make("Acme", "acme")])
    g.save()
    g.upsert([Entity.make("Beta", "beta")])
    g.reload()
    assert [e.name for e in g.entities()] == ["Acme"]


def test_facts_by_object_time_and_predicate_read_only_their_index(monkeypatch) -> None:
    """facts(object=), facts(during=) and facts(predicate=) examine the matching facts (a few),
    not all of them: the store's fact filter is called once per candidate."""
    import tgrag.stores.networkx_store as nx_store
    from tests.stores.contract import ent

    store = NetworkXGraphStore()
    people = [ent(f"Person {i}") for i in range(300)]
    store.upsert([*people, *(fact(p, f"rel{i % 7}", people[(i + 1) % 300], year(1800 + i))
                             for i, p in enumerate(people))])
    store.upsert([fact(people[0], "age", "42", year(1990))])
    examined: list[str] = []
    real = nx_store.fact_matches

    def counting(f, during):
        examined.append(f.fact_id)
        return real(f, during)

    monkeypatch.setattr(nx_store, "fact_matches", counting)
    assert [f.subject for f in store.facts(object=people[5].entity_id)] == [people[4].entity_id]
    assert [f.object for f in store.facts(object="42")] == ["42"]
    assert len(examined) == 2
    examined.clear()
    got = store.facts(during=TimeInterval.from_label("1850"))
    assert [f.subject for f in got] == [people[50].entity_id] and len(examined) == 1
    examined.clear()
    assert len(store.facts(predicate="rel3")) == len([i for i in range(300) if i % 7 == 3]) == len(examined)
