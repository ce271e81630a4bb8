"""GraphIndexer: incremental add/remove, recompute sets, supersede through the store, identity."""

from __future__ import annotations

from graph_index import time_tree as tt
from graph_index.kg_qa import answer
from tests.graph_index.conftest import make_doc
from tgrag.kernel.records import Passage

ACME_2019 = ["Acme | acquire | Beta | 14 March 2019", "Jane Doe | chair of | Acme | from Jan, 2006 to Jan, 2015"]
ACME_Q3 = ["Acme Inc. | revenue | $2.1 billion | Q3 2024", "John Roe | chair of | Acme | from Jan, 2010 to Dec, 2022"]
ACME_JUNE = ["Acme | hire | Bob Smith | "]


def test_add_builds_facts_entities_and_tree(env) -> None:  # noqa: ANN001
    rep = env.add("d1", ACME_2019, "2019-06-30")
    assert rep.facts_added == 2 and rep.extraction_failures == 0
    acme = env.indexer.entity("acme")
    assert acme is not None and acme.mentions
    assert set(rep.time_nodes_recomputed) == tt.with_ancestors(
        ["time:2019-06-30", "time:2019-03-14", "time:2006-01"])
    node = env.indexer.summary("2019-Q1")
    assert node is not None and "Acme" in node.summary
    assert env.indexer.summary("2019").summary  # type: ignore[union-attr]
    assert env.indexer.summary("2020-Q1") is None


def test_month_dated_doc_and_recompute_set_is_leaves_plus_ancestors(env) -> None:  # noqa: ANN001
    env.add("d1", ACME_2019, "2019-06-30")
    before = {n.node_id: n for n in env.graph.time_nodes()}
    rep = env.add("d3", ACME_JUNE, "2024-06")
    assert set(rep.time_nodes_recomputed) == {"time:2024-06", "time:2024-Q2", "time:2024"}
    after = {n.node_id: n for n in env.graph.time_nodes()}
    assert "time:2024-06" in after and not any(k.startswith("time:2024-06-") for k in after)
    for nid, node in before.items():  # untouched nodes are byte-identical
        assert after[nid] == node


def test_supersede_through_indexer_and_reopen_on_delete(env) -> None:  # noqa: ANN001
    env.add("d1", ACME_2019, "2019-06-30")
    rep = env.add("d2", ACME_Q3, "2024-10-20")
    assert rep.facts_superseded == 1
    jane = [f for f in env.indexer.timeline("Acme") if f.predicate == "chair of" and f.invalid_at]
    assert len(jane) == 1 and jane[0].invalid_at.year == 2010
    assert answer(env.graph, env.indexer.table, "Who was the chair of Acme in Jun, 2012?") == "John Roe"
    assert answer(env.graph, env.indexer.table, "Who was the chair of Acme in Jun, 2008?") == "Jane Doe"
    env.delete("d2")
    reopened = [f for f in env.indexer.timeline("Acme") if f.predicate == "chair of"]
    assert len(reopened) == 1 and reopened[0].invalid_at is None and reopened[0].superseded_by is None
    assert answer(env.graph, env.indexer.table, "Who was the chair of Acme in Jun, 2012?") == "Jane Doe"


def test_delete_then_reinsert_is_identical(env) -> None:  # noqa: ANN001
    env.add("d1", ACME_2019, "2019-06-30")
    env.add("d2", ACME_Q3, "2024-10-20")
    env.add("d3", ACME_JUNE, "2024-06")
    full = env.state()
    for doc_id, lines, date in (("d2", ACME_Q3, "2024-10-20"), ("d1", ACME_2019, "2019-06-30"),
                                ("d3", ACME_JUNE, "2024-06")):
        rep = env.delete(doc_id)
        assert rep.facts_removed >= 1
        assert env.state() != full
        env.add(doc_id, lines, date)
        assert env.state() == full


def test_remove_everything_leaves_empty_graph_and_tolerates_repeats(env) -> None:  # noqa: ANN001
    env.add("d1", ACME_2019, "2019-06-30")
    ps = env.passages["d1"]
    rep = env.indexer.remove(ps)
    assert "time:2019" in rep.time_nodes_removed
    assert env.graph.counts() == {"entities": 0, "facts": 0, "time_nodes": 0, "hops": 0}
    again = env.indexer.remove(ps)  # rollback of a partially / never added batch is a no-op
    assert again.facts_removed == 0 and again.time_nodes_recomputed == ()


def test_link_and_timeline(env) -> None:  # noqa: ANN001
    env.add("d1", ACME_2019, "2019-06-30")
    env.add("d2", ACME_Q3, "2024-10-20")
    names = [e.name for e in env.indexer.link("What did Acme Inc. buy after Jane Doe left?")]
    assert names == ["Acme", "Jane Doe"]
    tl = env.indexer.timeline("Acme Inc")
    starts = [f.valid.start for f in tl if f.valid is not None]
    assert starts == sorted(starts) and len(tl) == 4
    during = env.indexer.facts_about("Acme", during=tt.interval_of_id("time:2024-Q3"))
    assert {f.predicate for f in during} == {"revenue"}
    in_2012 = env.indexer.facts_about("Acme", during=tt.interval_of_id("time:2012"))
    assert [(f.predicate, env.indexer.entity(f.subject).name) for f in in_2012] == [  # type: ignore[union-attr]
        ("chair of", "John Roe")]


def test_reopened_store_supports_incremental_delete_and_reinsert(env, tmp_path) -> None:  # noqa: ANN001
    from graph_index.indexer import GraphIndexer
    from tgrag.stores.networkx_store import NetworkXGraphStore

    env.add("d1", ACME_2019, "2019-06-30")
    env.add("d2", ACME_Q3, "2024-10-20")
    full = env.state()
    env.graph.path = tmp_path / "graph.json"
    env.graph.save()
    env.graph = NetworkXGraphStore(tmp_path / "graph.json")
    env.indexer = GraphIndexer(env.graph, env.docs, env.indexer.embedder, extractor=env.indexer.extractor,
                               show_progress=False)
    assert env.state() == full
    env.delete("d1")
    env.add("d1", ACME_2019, "2019-06-30")
    assert env.state() == full


def test_llm_summariser_by_config_and_centrality_bound(env) -> None:  # noqa: ANN001
    from graph_index.summarise import CentralitySummariser, LLMSummariser
    from tgrag.testing import ScriptedLLM

    llm = ScriptedLLM([("during 2019-Q1", "Acme bought Beta in March 2019.")], default="A quiet period.")
    env.indexer.summariser = LLMSummariser(llm)
    env.add("d1", ACME_2019, "2019-06-30")
    assert env.indexer.summary("2019-Q1").summary == "Acme bought Beta in March 2019."  # type: ignore[union-attr]
    assert any("Acme bought Beta" in c.messages[-1].content for c in llm.calls)  # parents read children
    summ = CentralitySummariser(env.indexer.embedder, max_sentences=2, max_chars=120)
    node = env.indexer.summary("2019")
    texts = [f"Sentence number {i} about Acme and Beta." for i in range(20)]
    out = summ.summarise(node, texts, [])  # type: ignore[arg-type]
    assert 0 < len(out) <= 120 and out.count("Sentence number") <= 2


def test_node_passages_read_only_as_far_as_the_summary_looks(env) -> None:  # noqa: ANN001
    from graph_index.summarise import CentralitySummariser

    reads: list[int] = []
    get = env.docs.get_passages

    def counting_get(ids):  # noqa: ANN001, ANN202
        reads.append(len(ids))
        return get(ids)

    env.docs.get_passages = counting_get
    env.indexer.summariser = CentralitySummariser(env.indexer.embedder, max_candidates=6, max_sentences=2)
    lines = [f"Acme shipped product number {i} to Beta." for i in range(60)]
    doc, _ = make_doc("big", lines, "2019-06-30")
    ps = [Passage.make(doc, line, i) for i, line in enumerate(lines)]
    env.docs.put([doc], ps)
    env.indexer.add(ps)
    node = env.indexer.summary("2019-06-30")
    assert node is not None and len(node.passage_ids) == 60
    assert sum(reads) < 60  # only the first chunk of the day's passages was read
    by_id = {p.passage_id: p.text for p in ps}
    eager = env.indexer.summariser.summarise(node, [by_id[p] for p in node.passage_ids], [])
    assert node.summary == eager
