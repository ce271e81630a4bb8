"""Personalized PageRank over the entity–passage graph (HippoRAG 2 style), LLM-free.

The graph is the one tgrag's index already holds, read through the stores' protocols:

- **passage nodes** (every passage of the DocumentStore) and **entity nodes** (every entity of the
  GraphStore);
- **mention edges** entity — passage for each passage an entity is mentioned in (``Entity.mentions``);
- **fact edges** subject — object for each fact whose object is an entity;
- **synonym edges** entity — entity when their names' embeddings are close (cosine ≥
  ``synonym_threshold``, at most ``synonym_neighbours`` per entity), weighted by the cosine;
- **hop edges** passage — passage for each passage-graph :class:`~tgrag.kernel.records.Hop`,
  weighted by the hop's score.

Every edge is undirected (HippoRAG's graph is), with a per-kind weight from :class:`PPRSettings`.

A query's **personalization** puts mass on the entities the question names (linked by their names,
:func:`graph_index.indexer.link_entities`, and by embedding similarity of the question with entity
names) and on its top dense passages (min-max normalised cosine times ``passage_weight``, the
node-type weight); an entity seed is divided by the number of passages mentioning it (HippoRAG's
node specificity) when ``specificity`` is on. The time scope removes nodes: passages outside it,
entities mentioned only by such passages, facts whose validity lies outside it.

PageRank itself is :func:`personalized_pagerank`, a scipy sparse power iteration that computes what
``networkx.pagerank(G, alpha, personalization)`` computes on the same graph (the tests check it
value by value); it runs on a matrix built once per index version instead of converting a networkx
graph on every query.

**Chains** (``rounds`` > 1): the bridge entities of the first round's top ``bridge_passages``
passages (entities they mention that the question did not name) seed a second walk together with
the first round's seeds; rounds stop when the top ``k`` no longer changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from graph_index.entities import EntityTable
from graph_index.indexer import link_entities
from graph_index.passage_graph import normalise_key
from reasoning.retrievers import DenseRetriever, allowed_ids, to_evidence
from tgrag.kernel.errors import ConfigError
from tgrag.kernel.protocols import GraphStore
from tgrag.kernel.records import Entity, Evidence
from tgrag.kernel.temporal import TimeInterval

PASSAGE, ENTITY = 0, 1


@dataclass(frozen=True, slots=True)
class PPRSettings:
    # defaults: the best of bench/retrieval.py's grid on the tune half (retrieval.json "tuning")
    damping: float = 0.7  # probability of following an edge (HippoRAG 2 uses 0.5)
    passage_seeds: int = 5  # top dense passages in the personalization
    entity_seeds: int = 0  # entities linked by name-embedding similarity (besides names found verbatim)
    entity_min_similarity: float = 0.5
    passage_weight: float = 0.5  # node-type weight of passage seeds (entity seeds weigh 1)
    specificity: bool = True  # divide an entity seed by its number of mentioning passages
    mention_edge: float = 1.0
    fact_edge: float = 1.0
    synonym_edge: float = 1.0
    hop_edge: float = 1.0
    synonym_threshold: float = 0.85
    synonym_neighbours: int = 5
    rounds: int = 1  # >1: iterative retrieval seeded by bridge entities
    bridge_passages: int = 2
    bridge_weight: float = 0.5
    max_iter: int = 100
    tol: float = 1e-6

    def __post_init__(self) -> None:
        if not 0.0 < self.damping < 1.0:
            raise ConfigError(f"ppr damping must be in (0, 1), got {self.damping}")
        if self.rounds < 1:
            raise ConfigError(f"ppr rounds must be >= 1, got {self.rounds}")
        if self.passage_seeds < 0 or self.entity_seeds < 0:
            raise ConfigError("ppr seed counts must be >= 0")


def transition(adjacency: sp.csr_array | sp.csr_matrix) -> tuple[sp.csr_array, np.ndarray]:
    """(row-normalised adjacency, dangling-node mask): the walk matrix of :func:`personalized_pagerank`."""
    out_weight = np.asarray(adjacency.sum(axis=1)).ravel()
    inv = np.zeros(adjacency.shape[0])
    inv[out_weight != 0] = 1.0 / out_weight[out_weight != 0]
    return sp.csr_array(sp.diags_array(inv) @ adjacency), out_weight == 0


def personalized_pagerank(adjacency: sp.csr_array | sp.csr_matrix, personalization: np.ndarray, *,
                          damping: float = 0.85, max_iter: int = 100, tol: float = 1e-6,
                          walk: tuple[sp.csr_array, np.ndarray] | None = None) -> np.ndarray:
    """PageRank with restart distribution ``personalization`` on a weighted adjacency matrix
    (row = source), the power iteration of ``networkx.pagerank``: rows are normalised to sums of
    1, dangling nodes jump by the personalization, convergence when the L1 change < N × tol.
    ``walk`` is ``transition(adjacency)`` when the caller keeps it.

    Raises ``ConfigError`` for a personalization that is negative or sums to 0 and
    ``networkx.PowerIterationFailedConvergence`` when ``max_iter`` is reached first."""
    n = adjacency.shape[0]
    if n == 0:
        return np.zeros(0)
    p = np.asarray(personalization, dtype=float)
    if p.shape != (n,) or (p < 0).any() or p.sum() <= 0:
        raise ConfigError("personalization must be a non-negative vector with a positive sum, one per node")
    p = p / p.sum()
    matrix, dangling = walk if walk is not None else transition(adjacency)
    x = np.full(n, 1.0 / n)
    for _ in range(max_iter):
        last = x
        x = damping * (x @ matrix + x[dangling].sum() * p) + (1 - damping) * p
        if np.abs(x - last).sum() < n * tol:
            return x
    import networkx as nx

    raise nx.PowerIterationFailedConvergence(max_iter)


class EntityPassageGraph:
    """The entity–passage graph of one index version as a symmetric sparse matrix.

    ``nodes[i]`` is a passage id or an entity id, ``kind[i]`` PASSAGE or ENTITY. Fact edges keep the
    fact's effective interval so that a time scope can drop them.
    """

    def __init__(self, passage_ids: Sequence[str], entities: Sequence[Entity],
                 facts: Sequence[tuple[str, str, TimeInterval | None]],
                 hops: Sequence[tuple[str, str, float]], name_vectors: np.ndarray,
                 settings: PPRSettings) -> None:
        self.nodes = list(passage_ids) + [e.entity_id for e in entities]
        self.index = {nid: i for i, nid in enumerate(self.nodes)}
        self.n_passages = len(passage_ids)
        self.kind = np.array([PASSAGE] * len(passage_ids) + [ENTITY] * len(entities), dtype=np.int8)
        self.entities = list(entities)
        self.table = EntityTable(entities)
        self.name_vectors = name_vectors
        self.mention_count = np.zeros(len(self.nodes))
        rows: list[int] = []
        cols: list[int] = []
        weights: list[float] = []
        fact_of_edge: list[int] = []  # index into self.fact_scopes, -1 for other edges

        def edge(a: int, b: int, w: float, fact: int = -1) -> None:
            if a != b and w > 0:
                rows.append(a)
                cols.append(b)
                weights.append(w)
                fact_of_edge.append(fact)

        for e in entities:
            ei = self.index[e.entity_id]
            pis = [self.index[p] for p in e.mentions if p in self.index and self.index[p] < self.n_passages]
            self.mention_count[ei] = len(pis)
            for pi in pis:
                edge(ei, pi, settings.mention_edge)
        self.fact_scopes: list[TimeInterval | None] = []
        for subj, obj, valid in facts:
            if subj in self.index and obj in self.index:
                edge(self.index[subj], self.index[obj], settings.fact_edge, len(self.fact_scopes))
                self.fact_scopes.append(valid)
        for src, dst, score in hops:
            if src in self.index and dst in self.index:
                edge(self.index[src], self.index[dst], settings.hop_edge * score)
        for a, b, cos in synonym_pairs(name_vectors, settings.synonym_threshold, settings.synonym_neighbours):
            edge(self.n_passages + a, self.n_passages + b, settings.synonym_edge * cos)
        n = len(self.nodes)
        r = np.asarray(rows + cols, dtype=np.int64)  # both directions: the graph is undirected
        c = np.asarray(cols + rows, dtype=np.int64)
        self.edge_rows, self.edge_cols = r, c
        self.edge_weights = np.asarray(weights + weights, dtype=float)
        self.edge_fact = np.asarray(fact_of_edge + fact_of_edge, dtype=np.int64)
        self.adjacency = sp.csr_array((self.edge_weights, (r, c)), shape=(n, n))
        self.adjacency.sum_duplicates()
        self.walk = transition(self.adjacency)  # of the whole graph; a scoped graph gets its own

    @classmethod
    def from_stores(cls, passage_ids: Sequence[str], graph: GraphStore, name_vectors_of: object,
                    settings: PPRSettings) -> EntityPassageGraph:
        """Read entities, entity–entity facts and hops from ``graph``; ``name_vectors_of(names)``
        embeds entity names (an embedder's query side), normalised as the passage graph's keys, so an
        index's key embeddings (``passage_keys.faiss``) hold the same vectors."""
        entities = graph.entities()
        facts = [(f.subject, f.object, f.effective) for f in graph.facts() if f.object_is_entity]
        hops = [(h.src, h.dst, h.score) for h in graph.hops()]
        names = [normalise_key(e.name) or e.name for e in entities]  # the passage graph's key of the name
        vecs = name_vectors_of(names) if names else np.zeros((0, 1), dtype=np.float32)  # type: ignore[operator]
        return cls(sorted(passage_ids), entities, facts, hops, np.asarray(vecs, dtype=np.float32), settings)

    def scoped(self, allowed: set[str] | None, scope: TimeInterval | None, keep_undated: bool
               ) -> tuple[np.ndarray, sp.csr_array]:
        """(kept node indices, adjacency among them) under a time scope; everything without one."""
        if allowed is None and scope is None:
            return np.arange(len(self.nodes)), self.adjacency
        keep = np.ones(len(self.nodes), dtype=bool)
        if allowed is not None:
            keep[: self.n_passages] = [pid in allowed for pid in self.nodes[: self.n_passages]]
        # an entity stays when an allowed passage mentions it
        ent_rows = self.edge_rows[self.edge_fact < 0]
        ent_cols = self.edge_cols[self.edge_fact < 0]
        is_mention = (self.kind[ent_rows] == ENTITY) & (self.kind[ent_cols] == PASSAGE)
        alive = np.zeros(len(self.nodes), dtype=bool)
        alive[ent_rows[is_mention][keep[ent_cols[is_mention]]]] = True
        keep[self.n_passages:] = alive[self.n_passages:]
        edge_ok = keep[self.edge_rows] & keep[self.edge_cols]
        if scope is not None and self.fact_scopes:
            fact_ok = np.array([(iv is None and keep_undated) or (iv is not None and iv.overlaps(scope))
                                for iv in self.fact_scopes] + [True])  # index -1: not a fact edge
            edge_ok &= fact_ok[self.edge_fact]
        kept = np.flatnonzero(keep)
        position = np.full(len(self.nodes), -1, dtype=np.int64)
        position[kept] = np.arange(len(kept))
        adj = sp.csr_array((self.edge_weights[edge_ok],
                            (position[self.edge_rows[edge_ok]], position[self.edge_cols[edge_ok]])),
                           shape=(len(kept), len(kept)))
        adj.sum_duplicates()
        return kept, adj


def synonym_pairs(vectors: np.ndarray, threshold: float, neighbours: int) -> list[tuple[int, int, float]]:
    """Pairs (i < j) of rows whose cosine is ≥ ``threshold``, each row's ``neighbours`` closest."""
    n = vectors.shape[0]
    if n < 2 or neighbours <= 0:
        return []
    import faiss

    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    sims, labels = index.search(np.ascontiguousarray(vectors, dtype=np.float32), min(n, neighbours + 1))
    out: dict[tuple[int, int], float] = {}
    for i in range(n):
        for s, j in zip(sims[i].tolist(), labels[i].tolist()):
            if j >= 0 and j != i and s >= threshold:
                out[(min(i, j), max(i, j))] = float(s)
    return [(a, b, s) for (a, b), s in sorted(out.items())]


class PPRRetriever:
    """Retriever: personalization from the question → PageRank → passages by their rank mass."""

    def __init__(self, dense: DenseRetriever, graph: GraphStore, *, settings: PPRSettings | None = None) -> None:
        self.dense = dense
        self.graph = graph
        self.settings = settings or PPRSettings()
        self._graph: EntityPassageGraph | None = None
        self._built_for: tuple[object, ...] | None = None
        self.last_seeds: dict[str, float] = {}

    def index_graph(self) -> EntityPassageGraph:
        """The entity–passage graph, rebuilt when the stores' counts changed since it was built."""
        version = (self.dense.docs.count(), tuple(sorted(self.graph.counts().items())), len(self.dense.vectors))
        if self._graph is None or self._built_for != version:
            embedder = self.dense.embedder
            self._graph = EntityPassageGraph.from_stores(
                sorted(self.dense.docs.passage_ids()), self.graph,
                lambda names: embedder.encode(names, kind="query"), self.settings)
            self._built_for = version
        return self._graph

    def edge_settings(self) -> tuple[float | int, ...]:
        st = self.settings
        return (st.mention_edge, st.fact_edge, st.synonym_edge, st.hop_edge, st.synonym_threshold,
                st.synonym_neighbours)

    def reuse_graph(self, other: PPRRetriever) -> bool:
        """Take ``other``'s built graph when it reads the same stores with the same edge settings
        (query-time settings such as damping or seeds may differ); True when taken."""
        if other._graph is None or other.graph is not self.graph or other.dense.docs is not self.dense.docs \
                or other.edge_settings() != self.edge_settings():
            return False
        self._graph, self._built_for = other._graph, other._built_for
        return True

    def seeds(self, g: EntityPassageGraph, query: str, qv: np.ndarray, dense: Sequence[tuple[str, float]]
              ) -> dict[int, float]:
        """Personalization mass per node index: linked entities and the top dense passages."""
        st = self.settings
        mass: dict[int, float] = {}

        def add_entity(eid: str, w: float) -> None:
            i = g.index.get(eid)
            if i is None or g.kind[i] != ENTITY or w <= 0:
                return
            if st.specificity:
                w /= max(1.0, g.mention_count[i])
            mass[i] = max(mass.get(i, 0.0), w)

        for ent in link_entities(g.table, query):
            add_entity(ent.entity_id, 1.0)
        if st.entity_seeds and g.name_vectors.shape[0]:
            sims = g.name_vectors @ qv
            top = np.argsort(-sims, kind="stable")[: st.entity_seeds]
            for j in top.tolist():
                if sims[j] >= st.entity_min_similarity:
                    add_entity(g.entities[j].entity_id, float(sims[j]))
        top_dense = list(dense[: st.passage_seeds])
        if top_dense:
            scores = [s for _, s in dense]
            lo, hi = min(scores), max(scores)
            for pid, s in top_dense:
                i = g.index.get(pid)
                if i is not None:
                    norm = (s - lo) / (hi - lo) if hi > lo else 1.0
                    mass[i] = mass.get(i, 0.0) + st.passage_weight * max(norm, 1e-6)
        return mass

    def ranked(self, query: str, k: int, *, scope: TimeInterval | None = None,
               keep_undated: bool = True) -> list[tuple[str, float]]:
        st = self.settings
        g = self.index_graph()
        qv = self.dense.embed(query)
        allowed = allowed_ids(self.dense.docs, scope, keep_undated=keep_undated)
        if allowed is not None and not allowed:
            return []
        dense = self.dense.ranked(qv, max(st.passage_seeds, k, 50), allowed=allowed)
        mass = self.seeds(g, query, qv, dense)
        self.last_seeds = {g.nodes[i]: w for i, w in mass.items()}  # the personalization of the last round
        if not mass:
            return dense[:k]
        kept, adj = g.scoped(allowed, scope, keep_undated)
        walk = g.walk if adj is g.adjacency else transition(adj)
        position = {int(node): j for j, node in enumerate(kept.tolist())}
        ranking: list[tuple[str, float]] = []
        for round_ in range(st.rounds):
            scores = self._walk(adj, walk, kept, position, mass)
            new = self._top_passages(g, kept, scores, allowed, k)
            if ranking and [p for p, _ in new] == [p for p, _ in ranking]:
                break  # this round added nothing
            ranking = new
            if round_ + 1 == st.rounds:
                break
            bridges = self._bridges(g, [p for p, _ in ranking[: st.bridge_passages]], mass)
            if not bridges:
                break
            mass = {**mass, **bridges}
            self.last_seeds = {g.nodes[i]: w for i, w in mass.items()}
        return ranking

    def _walk(self, adj: sp.csr_array, walk: tuple[sp.csr_array, np.ndarray], kept: np.ndarray,
              position: dict[int, int], mass: dict[int, float]) -> np.ndarray:
        p = np.zeros(len(kept))
        for i, w in mass.items():
            j = position.get(i)
            if j is not None:
                p[j] += w
        if p.sum() <= 0:
            return p
        st = self.settings
        return personalized_pagerank(adj, p, damping=st.damping, max_iter=st.max_iter, tol=st.tol, walk=walk)

    @staticmethod
    def _top_passages(g: EntityPassageGraph, kept: np.ndarray, scores: np.ndarray,
                      allowed: set[str] | None, k: int) -> list[tuple[str, float]]:
        idx = np.flatnonzero(g.kind[kept] == PASSAGE)
        order = idx[np.lexsort((kept[idx], -scores[idx]))]  # nodes are sorted by id: ties by id
        out = []
        for j in order.tolist():
            pid = g.nodes[kept[j]]
            if allowed is None or pid in allowed:
                out.append((pid, float(scores[j])))
                if len(out) >= k:
                    break
        return out

    def _bridges(self, g: EntityPassageGraph, top: Sequence[str], mass: dict[int, float]) -> dict[int, float]:
        """Entities the top passages mention that are not seeds yet, weighted like linked ones."""
        st = self.settings
        out: dict[int, float] = {}
        for pid in top:
            for eid in sorted(g.table.by_passage.get(pid, ())):
                i = g.index.get(eid)
                if i is None or i in mass or i in out:
                    continue
                w = st.bridge_weight
                if st.specificity:
                    w /= max(1.0, g.mention_count[i])
                out[i] = w
        return out

    def retrieve(self, query: str, k: int, *, scope: TimeInterval | None = None,
                 keep_undated: bool = True) -> list[Evidence]:
        return to_evidence(self.dense.docs, self.ranked(query, k, scope=scope, keep_undated=keep_undated))

