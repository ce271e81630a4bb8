"""Personalized PageRank over the entity–passage graph, and fusion of rankings (hashing embedder)."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

from reasoning.assembly import build_query_side
from reasoning.fusion import FusionRetriever, FusionSettings, MemoEmbedder, weighted_rrf
from reasoning.ppr import (
    ENTITY,
    PASSAGE,
    EntityPassageGraph,
    PPRRetriever,
    PPRSettings,
    personalized_pagerank,
)
from reasoning.retrievers import DenseRetriever
from reasoning.settings import ReasoningSettings
from tests.reasoning.conftest import build_env
from tgrag.kernel.errors import ConfigError
from tgrag.kernel.records import Entity, Fact
from tgrag.kernel.temporal import TimeInterval
from tgrag.testing import HashingEmbedder

# a small weighted graph with a dangling node ("e" has no out-edges)
EDGES = [("a", "b", 1.0), ("b", "c", 2.0), ("c", "a", 0.5), ("c", "d", 1.5), ("d", "b", 1.0), ("a", "e", 0.7)]
NODES = ["a", "b", "c", "d", "e"]


def _matrix(edges, nodes, *, undirected=False):
    pos = {n: i for i, n in enumerate(nodes)}
    rows = [pos[u] for u, _, _ in edges] + ([pos[v] for _, v, _ in edges] if undirected else [])
    cols = [pos[v] for _, v, _ in edges] + ([pos[u] for u, _, _ in edges] if undirected else [])
    w = [x for *_, x in edges] * (2 if undirected else 1)
    return sp.csr_array((w, (rows, cols)), shape=(len(nodes), len(nodes)))


@pytest.mark.parametrize("damping", [0.5, 0.85])
def test_ppr_matches_networkx_on_a_directed_graph_with_a_dangling_node(damping):
    g = nx.DiGraph()
    g.add_nodes_from(NODES)
    g.add_weighted_edges_from(EDGES)
    personalization = {"a": 0.0, "b": 0.3, "c": 0.0, "d": 0.0, "e": 0.7}
    expected = nx.pagerank(g, alpha=damping, personalization=personalization, weight="weight", tol=1e-10, max_iter=1000)
    got = personalized_pagerank(_matrix(EDGES, NODES), np.array([personalization[n] for n in NODES]),
                                damping=damping, tol=1e-10, max_iter=1000)
    assert got == pytest.approx([expected[n] for n in NODES], abs=1e-8)


def test_ppr_matches_networkx_on_an_undirected_graph():
    g = nx.Graph()
    g.add_weighted_edges_from(EDGES)
    personalization = {"a": 1.0, "b": 0.0, "c": 0.0, "d": 2.0, "e": 0.0}
    expected = nx.pagerank(g, alpha=0.5, personalization=personalization, weight="weight", tol=1e-10, max_iter=1000)
    got = personalized_pagerank(_matrix(EDGES, NODES, undirected=True),
                                np.array([personalization[n] for n in NODES]), damping=0.5, tol=1e-10, max_iter=1000)
    assert got == pytest.approx([expected[n] for n in NODES], abs=1e-8)
    assert got.sum() == pytest.approx(1.0)


def test_ppr_rejects_a_personalization_without_mass():
    with pytest.raises(ConfigError):
        personalized_pagerank(_matrix(EDGES, NODES), np.zeros(len(NODES)))
    assert personalized_pagerank(sp.csr_array((0, 0)), np.zeros(0)).shape == (0,)


# -- the entity–passage graph of an index ----------------------------------------------------------
ROWS = [
    ("Zorbal Nights", "Zorbal Nights is a 1968 drama film directed by Pal Gabor.", "1968"),
    ("Pal Gabor", "Pal Gabor was born in Budapest. His father was Janos Gabor.", "1990"),
    ("Janos Gabor", "Janos Gabor was a chemist. He founded Acme Dyes.", None),
    ("Weather", "Rain fell in the valley all week.", None),
]


def _env_with_entities():
    """A corpus whose KG (entities with mentions, one entity–entity fact) is written by hand."""
    env = build_env(ROWS)
    pid = env.pid
    ents = [Entity.make("Pal Gabor", "pal gabor", mentions=(pid("Zorbal Nights"), pid("Pal Gabor"))),
            Entity.make("Janos Gabor", "janos gabor", mentions=(pid("Pal Gabor"), pid("Janos Gabor"))),
            Entity.make("Zorbal Nights", "zorbal nights", mentions=(pid("Zorbal Nights"),)),
            Entity.make("Budapest", "budapest", mentions=(pid("Pal Gabor"),))]
    fact = Fact.make(ents[0].entity_id, "father", ents[1].entity_id, object_is_entity=True,
                     valid=TimeInterval.from_label("1990"), observed_at=None,
                     source_passage_id=pid("Pal Gabor"), doc_id="d")
    env.graph.upsert([*ents, fact])
    return env, ents


def test_ppr_retriever_scores_are_networkx_pagerank_of_the_index_graph():
    env, ents = _env_with_entities()
    st = PPRSettings(damping=0.5, passage_seeds=2, entity_seeds=0, tol=1e-12)
    retr = PPRRetriever(DenseRetriever(env.docs, env.vectors, env.embedder), env.graph, settings=st)
    question = "Who was the father of Pal Gabor?"
    ranked = retr.ranked(question, 4)
    g = retr.index_graph()
    assert set(g.kind.tolist()) == {PASSAGE, ENTITY}
    nxg = nx.Graph()
    nxg.add_nodes_from(g.nodes)
    coo = g.adjacency.tocoo()
    for r, c, w in zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist()):
        nxg.add_edge(g.nodes[r], g.nodes[c], weight=w)
    # the mention, fact and hop edges all made it in
    assert nxg.has_edge(env.pid("Janos Gabor"), ents[1].entity_id)
    expected = nx.pagerank(nxg, alpha=0.5, personalization=retr.last_seeds, weight="weight", tol=1e-12)
    passages = sorted(env.passages, key=lambda p: (-expected[p.passage_id], p.passage_id))
    assert [pid for pid, _ in ranked] == [p.passage_id for p in passages]
    assert [s for _, s in ranked] == pytest.approx([expected[p.passage_id] for p in passages], abs=1e-9)
    assert retr.last_seeds  # the linked entity "Pal Gabor" and the dense passages


def test_time_scope_removes_out_of_scope_passages_and_their_only_entities():
    env, ents = _env_with_entities()
    g = EntityPassageGraph.from_stores(sorted(env.docs.passage_ids()), env.graph,
                                       lambda names: env.embedder.encode(names, kind="query"), PPRSettings())
    allowed = {env.pid("Zorbal Nights"), env.pid("Janos Gabor"), env.pid("Weather")}  # "1968", undated kept
    kept, adj = g.scoped(allowed, TimeInterval.from_label("1968"), keep_undated=True)
    kept_ids = {g.nodes[i] for i in kept.tolist()}
    assert env.pid("Pal Gabor") not in kept_ids
    assert ents[3].entity_id not in kept_ids  # Budapest: only the 1990 passage mentions it
    assert {ents[0].entity_id, ents[1].entity_id} <= kept_ids  # still mentioned by kept passages
    assert adj.shape == (len(kept), len(kept))
    # the 1990 father fact is no edge in 1968
    i, j = (int(np.flatnonzero(kept == g.index[e.entity_id])[0]) for e in ents[:2])
    assert adj[i, j] == 0
    unscoped_kept, unscoped = g.scoped(None, None, keep_undated=True)
    a, b = g.index[ents[0].entity_id], g.index[ents[1].entity_id]
    assert unscoped[a, b] > 0 and len(unscoped_kept) == len(g.nodes)

    retr = PPRRetriever(DenseRetriever(env.docs, env.vectors, env.embedder), env.graph)
    scoped = [pid for pid, _ in retr.ranked("Who was the father of Pal Gabor?", 4,
                                             scope=TimeInterval.from_label("1968"))]
    assert env.pid("Pal Gabor") not in scoped and scoped
    strict = [pid for pid, _ in retr.ranked("Who was the father of Pal Gabor?", 4,
                                             scope=TimeInterval.from_label("1968"), keep_undated=False)]
    assert strict == [env.pid("Zorbal Nights")]


def test_chain_rounds_seed_the_bridge_entities_of_the_first_rounds_top_passages():
    env, ents = _env_with_entities()
    one = PPRRetriever(DenseRetriever(env.docs, env.vectors, env.embedder), env.graph,
                       settings=PPRSettings(rounds=1, entity_seeds=0))
    two = PPRRetriever(DenseRetriever(env.docs, env.vectors, env.embedder), env.graph,
                       settings=PPRSettings(rounds=3, entity_seeds=0, bridge_passages=1))
    q = "What did the father of the director of the 1968 drama film found?"  # no entity named: the bridges come from passages
    first = one.ranked(q, 4)
    chained = two.ranked(q, 4)
    assert set(one.last_seeds) < set(two.last_seeds)  # bridge entities joined the seeds
    assert chained != first


# -- fusion ----------------------------------------------------------------------------------------
class _Fixed:
    def __init__(self, ranking):
        self.ranking = ranking

    def ranked(self, query, k, *, scope=None, keep_undated=True):
        return self.ranking[:k]


def test_fusion_is_deterministic_and_breaks_ties_by_id():
    env = build_env(ROWS)
    a, b, c, d = sorted(env.docs.passage_ids())
    members = {"dense": _Fixed([(b, 0.9), (a, 0.8)]), "walk": _Fixed([(a, 2.0), (b, 1.0)]),
               "ppr": _Fixed([(d, 0.1), (c, 0.05)])}
    st = FusionSettings(("dense", "walk", "ppr"), (1.0, 1.0, 1.0), k0=60, depth=10)
    fused = FusionRetriever(env.docs, members, settings=st)
    first = fused.ranked("q", 4)
    assert [pid for pid, _ in first] == [a, b, d, c]  # a and b tie: by id
    assert all(fused.ranked("q", 4) == first for _ in range(3))
    reordered = FusionRetriever(env.docs, dict(reversed(list(members.items()))), settings=st)
    assert reordered.ranked("q", 4) == first
    heavier = FusionSettings(("dense", "walk", "ppr"), (1.0, 1.0, 3.0), k0=60, depth=10)
    assert [p for p, _ in FusionRetriever(env.docs, members, settings=heavier).ranked("q", 2)] == [d, c]
    assert weighted_rrf([[("x", 1.0)], [("y", 1.0)]], [1.0, 1.0]) == [("x", 1 / 61), ("y", 1 / 61)]


def test_fusion_settings_are_checked():
    with pytest.raises(ConfigError):
        FusionSettings(("dense", "nope"), (1.0, 1.0))
    with pytest.raises(ConfigError):
        FusionSettings(("dense",), (1.0, 2.0))
    with pytest.raises(ConfigError):
        PPRSettings(damping=1.0)


def test_query_side_builds_ppr_and_fusion_and_embeds_a_question_once():
    env, _ = _env_with_entities()

    class Counting(HashingEmbedder):
        calls = 0

        def encode(self, texts, *, kind="passage"):
            if kind == "query" and len(texts) == 1:
                Counting.calls += 1
            return super().encode(texts, kind=kind)

    side = build_query_side(env.docs, env.vectors, env.graph, Counting(256), None,
                            settings=ReasoningSettings(retriever="fusion"))
    assert isinstance(side.dense.embedder, MemoEmbedder)
    side.ppr.index_graph()
    evidence = side.retriever().retrieve("Who was the father of Pal Gabor?", 3)
    assert len(evidence) == 3 and Counting.calls == 1
    assert side.retriever("ppr") is side.ppr


def test_a_built_graph_is_reused_only_with_the_same_edge_settings():
    env, _ = _env_with_entities()
    dense = DenseRetriever(env.docs, env.vectors, env.embedder)
    first = PPRRetriever(dense, env.graph, settings=PPRSettings(damping=0.5))
    built = first.index_graph()
    assert PPRRetriever(dense, env.graph, settings=PPRSettings(damping=0.7)).reuse_graph(first)
    other = PPRRetriever(dense, env.graph, settings=PPRSettings(hop_edge=2.0))
    assert not other.reuse_graph(first) and other.index_graph() is not built
