"""In-process graph store on networkx, persisted as one JSON file (atomic: tmp + os.replace).

Layout in memory:
- ``kg``: a ``MultiDiGraph`` over entity ids; every fact whose object is an entity is an edge
  ``subject → object`` keyed by its ``fact_id``. Facts with literal objects are kept in the fact
  table only (they are not entity-to-entity paths).
- ``passage_graph``: a ``MultiDiGraph`` over passage ids; every :class:`Hop` is an edge keyed by its
  ``hop_id``.
- tables of the records themselves (entities, facts, time nodes, hops) keyed by id, and the fact
  indexes ``facts()`` reads instead of scanning: by subject, by object (entity ids; literal values
  apart, so deleting an id never touches a literal), by predicate, by source passage, and by
  effective interval (:class:`~tgrag.stores.interval_index.IntervalIndex`).

In an index directory it is a ``Transactional`` participant of the commit protocol: each
generation is its own file (``graph.g7.json``, see :mod:`tgrag.stores.generations`); ``save``
still writes ``path`` itself for standalone use.

A fact may name an entity that was never upserted; the id is then a bare node of ``kg`` (reachable
by ``neighbours``) but not an entity record. The Neo4j backend behaves the same way.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import networkx as nx

from tgrag.kernel.errors import IndexCorruptError, InputError
from tgrag.kernel.records import Entity, Fact, Hop, TimeNode
from tgrag.kernel.temporal import TimeInterval
from tgrag.stores.fact_rules import check_depth, fact_matches, sort_facts, utc_fact
from tgrag.stores.generations import GenerationFiles, atomic_write
from tgrag.stores.interval_index import IntervalIndex

FORMAT_VERSION = 1
Record = Entity | Fact | TimeNode | Hop


class NetworkXGraphStore:
    """GraphStore on networkx. ``path`` (a JSON file) is loaded when it exists; ``save`` writes it."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.kg = nx.MultiDiGraph()
        self.passage_graph = nx.MultiDiGraph()
        self._entities: dict[str, Entity] = {}
        self._facts: dict[str, Fact] = {}
        self._time_nodes: dict[str, TimeNode] = {}
        self._hops: dict[str, Hop] = {}
        self._by_subject: dict[str, set[str]] = defaultdict(set)
        self._by_object: dict[str, set[str]] = defaultdict(set)
        self._by_literal: dict[str, set[str]] = defaultdict(set)
        self._by_predicate: dict[str, set[str]] = defaultdict(set)
        self._by_passage: dict[str, set[str]] = defaultdict(set)
        self._by_time = IntervalIndex()
        self._files = GenerationFiles(self.path) if self.path is not None else None
        self._generation = 0
        self._undo: list[Record] | None = None
        if self.path is not None and self.path.exists():
            self._load(self.path)

    # -- writes -----------------------------------------------------------------------------------
    def upsert(self, records: Iterable[Record]) -> None:
        for rec in records:
            if isinstance(rec, Entity):
                self._entities[rec.entity_id] = rec
                self.kg.add_node(rec.entity_id)
            elif isinstance(rec, Fact):
                self._remove_fact(rec.fact_id)
                self._add_fact(utc_fact(rec))
            elif isinstance(rec, TimeNode):
                self._time_nodes[rec.node_id] = rec
            elif isinstance(rec, Hop):
                old = self._hops.get(rec.hop_id)
                if old is not None and (old.src, old.dst) == (rec.src, rec.dst):
                    self._hops[rec.hop_id] = rec  # a re-scored hop: its edge stays
                    continue
                self._remove_hop(rec.hop_id)
                self._hops[rec.hop_id] = rec
                self.passage_graph.add_edge(rec.src, rec.dst, key=rec.hop_id)
            else:
                raise InputError(f"cannot store a {type(rec).__name__} in a graph store: {rec!r}")

    def delete(self, ids: Iterable[str]) -> None:
        for rid in ids:
            # an entity id (upserted or only named by facts): the facts on it go with it
            for fid in list(self._by_subject.get(rid, ())) + list(self._by_object.get(rid, ())):
                self._remove_fact(fid)
            self._entities.pop(rid, None)
            if rid in self.kg:
                self.kg.remove_node(rid)
            self._remove_fact(rid)
            self._time_nodes.pop(rid, None)
            self._remove_hop(rid)

    def _add_fact(self, fact: Fact) -> None:
        self._facts[fact.fact_id] = fact
        self._by_subject[fact.subject].add(fact.fact_id)
        self._by_passage[fact.source_passage_id].add(fact.fact_id)
        self._by_predicate[fact.predicate].add(fact.fact_id)
        if fact.effective is not None:
            self._by_time.add(fact.fact_id, fact.effective)
        if fact.object_is_entity:
            self._by_object[fact.object].add(fact.fact_id)
            self.kg.add_edge(fact.subject, fact.object, key=fact.fact_id)
        else:
            self._by_literal[fact.object].add(fact.fact_id)

    def _remove_fact(self, fact_id: str) -> None:
        fact = self._facts.pop(fact_id, None)
        if fact is None:
            return
        _discard(self._by_subject, fact.subject, fact_id)
        _discard(self._by_passage, fact.source_passage_id, fact_id)
        _discard(self._by_predicate, fact.predicate, fact_id)
        _discard(self._by_literal, fact.object, fact_id)
        self._by_time.remove(fact_id)
        if fact.object_is_entity:
            _discard(self._by_object, fact.object, fact_id)
            if self.kg.has_edge(fact.subject, fact.object, key=fact_id):
                self.kg.remove_edge(fact.subject, fact.object, key=fact_id)
            for node in (fact.subject, fact.object):  # drop bare nodes nothing refers to any more
                if node in self.kg and node not in self._entities and not self.kg.succ[node] \
                        and not self.kg.pred[node]:
                    self.kg.remove_node(node)

    def _remove_hop(self, hop_id: str) -> None:
        hop = self._hops.pop(hop_id, None)
        if hop is None:
            return
        g = self.passage_graph
        g.remove_edge(hop.src, hop.dst, key=hop_id)
        for node in (hop.src, hop.dst):  # no neighbour either way (O(1); degree() counts every edge)
            if node in g and not g.succ[node] and not g.pred[node]:
                g.remove_node(node)

    # -- reads ------------------------------------------------------------------------------------
    def entities(self, ids: Iterable[str] | None = None) -> list[Entity]:
        """All entities sorted by id, or those asked for in the order asked (unknown ids skipped)."""
        if ids is None:
            return [self._entities[k] for k in sorted(self._entities)]
        return [self._entities[i] for i in _unique(ids) if i in self._entities]

    def facts(self, *, subject: str | None = None, predicate: str | None = None,
              object: str | None = None, during: TimeInterval | None = None,
              passage_ids: Iterable[str] | None = None) -> list[Fact]:
        pools: list[set[str]] = []  # the index entries of each given filter; the smallest drives
        if subject is not None:
            pools.append(self._by_subject.get(subject, set()))
        if object is not None:
            pools.append(self._by_object.get(object, set()) | self._by_literal.get(object, set()))
        if passage_ids is not None:
            pools.append(set().union(*(self._by_passage.get(pid, set()) for pid in set(passage_ids))))
        if predicate is not None:
            pools.append(self._by_predicate.get(predicate, set()))
        if during is not None and not pools:  # the time index only when nothing narrower is given
            pools.append(self._by_time.overlapping(during))
        pool: Iterable[Fact] = self._facts.values()
        if pools:
            pools.sort(key=len)
            pool = (self._facts[c] for c in pools[0] if all(c in other for other in pools[1:]))
        out = [f for f in pool
               if (predicate is None or f.predicate == predicate)
               and (object is None or f.object == object)
               and (subject is None or f.subject == subject)
               and fact_matches(f, during)]
        return sort_facts(out)

    def neighbours(self, entity_id: str, *, depth: int = 1, during: TimeInterval | None = None
                   ) -> list[Fact]:
        check_depth(depth)
        if entity_id not in self.kg:
            return []
        seen_nodes = {entity_id}
        frontier = [entity_id]
        found: dict[str, Fact] = {}
        for _ in range(depth):
            nxt: list[str] = []
            for node in frontier:
                edges = [(v, k) for _, v, k in self.kg.out_edges(node, keys=True)]
                edges += [(u, k) for u, _, k in self.kg.in_edges(node, keys=True)]
                for other, fid in edges:
                    fact = self._facts[fid]
                    if not fact_matches(fact, during):
                        continue
                    found[fid] = fact
                    if other not in seen_nodes:
                        seen_nodes.add(other)
                        nxt.append(other)
            frontier = nxt
        return sort_facts(list(found.values()))

    def time_nodes(self, ids: Iterable[str] | None = None) -> list[TimeNode]:
        """All time nodes sorted by id, or those asked for in the order asked (unknown skipped)."""
        if ids is None:
            return [self._time_nodes[k] for k in sorted(self._time_nodes)]
        return [self._time_nodes[i] for i in _unique(ids) if i in self._time_nodes]

    def hops(self, *, src: Iterable[str] | None = None, dst: Iterable[str] | None = None) -> list[Hop]:
        """Hops whose src is in ``src`` and dst in ``dst`` (each when given), sorted by
        (src, -score, hop_id)."""
        if src is not None:
            pool = [self._hops[k] for s in set(src) if s in self.passage_graph
                    for _, _, k in self.passage_graph.out_edges(s, keys=True)]
        else:
            pool = list(self._hops.values())
        if dst is not None:
            dsts = set(dst)
            pool = [h for h in pool if h.dst in dsts]
        return sort_hops(pool)

    def counts(self) -> dict[str, int]:
        return {"entities": len(self._entities), "facts": len(self._facts),
                "time_nodes": len(self._time_nodes), "hops": len(self._hops)}

    # -- persistence ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "entities": [e.to_dict() for e in self.entities()],
            "facts": [f.to_dict() for f in sorted(self._facts.values(), key=lambda f: f.fact_id)],
            "time_nodes": [t.to_dict() for t in self.time_nodes()],
            "hops": [h.to_dict() for h in sorted(self._hops.values(), key=lambda h: h.hop_id)],
        }

    def save(self) -> None:
        """Write the graph to ``path`` atomically; a no-op for an in-memory store."""
        if self.path is None:
            return
        atomic_write_text(self.path, json.dumps(self.to_dict(), ensure_ascii=False))

    def close(self) -> None:
        """Nothing to release (call ``save`` to persist)."""

    # -- commit protocol (Transactional) ----------------------------------------------------------
    def begin(self, generation: int) -> None:
        if self._files is not None:
            self._files.prune(keep=set(), above=generation - 1)
        # records are frozen: the undo state is the tables' contents, not copies of the records
        self._undo = [*self._entities.values(), *self._facts.values(), *self._time_nodes.values(),
                      *self._hops.values()]

    def prepare(self, generation: int) -> None:
        if self._files is not None:
            text = json.dumps(self.to_dict(), ensure_ascii=False).encode("utf-8")
            self._files.write(generation, lambda fh: fh.write(text))

    def commit(self, generation: int) -> None:
        self._generation, self._undo = generation, None
        if self._files is not None:
            self._files.prune(keep={generation, generation - 1})

    def abort(self) -> None:
        if self._undo is not None:
            undo = self._undo
            self._reset()
            self.upsert(undo)

    def durable(self, generation: int) -> bool:
        return self._files is None or self._files.existing(generation) is not None

    def load(self, generation: int) -> None:
        self._generation, self._undo = generation, None
        if self._files is None:
            return
        self._reset()
        found = self._files.live(generation, "graph records")
        if found is not None:
            self._load(found)

    def _reset(self) -> None:
        self.kg, self.passage_graph = nx.MultiDiGraph(), nx.MultiDiGraph()
        self._entities, self._facts, self._time_nodes, self._hops = {}, {}, {}, {}
        self._by_subject, self._by_object, self._by_passage = defaultdict(set), defaultdict(set), defaultdict(set)
        self._by_literal, self._by_predicate, self._by_time = defaultdict(set), defaultdict(set), IntervalIndex()

    def reload(self) -> None:
        """Discard unsaved changes: back to what ``path`` holds (empty if it does not exist)."""
        self.__init__(self.path)  # type: ignore[misc]

    def _load(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise IndexCorruptError(f"{path}: cannot read graph JSON: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
            raise IndexCorruptError(f"{path}: not a tgrag graph file of format {FORMAT_VERSION}")
        try:
            records: list[Record] = [Entity.from_dict(d) for d in data["entities"]]
            records += [Fact.from_dict(d) for d in data["facts"]]
            records += [TimeNode.from_dict(d) for d in data["time_nodes"]]
            records += [Hop.from_dict(d) for d in data["hops"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexCorruptError(f"{path}: malformed record: {exc!r}") from exc
        self.upsert(records)


def sort_hops(hops: Iterable[Hop]) -> list[Hop]:
    return sorted(hops, key=lambda h: (h.src, -h.score, h.hop_id))


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to a temp file beside ``path``, fsync it, then ``os.replace`` it into place."""
    data = text.encode("utf-8")
    atomic_write(path, lambda fh: fh.write(data))


def _discard(index: dict[str, set[str]], key: str, value: str) -> None:
    bucket = index.get(key)
    if bucket is not None:
        bucket.discard(value)
        if not bucket:
            del index[key]


def _unique(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ids))
