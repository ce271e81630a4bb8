"""GraphIndexer: passages → entities, temporal facts and the time tree, incrementally both ways.

``add`` processes only the given passages; ``remove`` is its exact inverse (deleting passages and
adding them again restores every entity, fact, interval and summary), and tolerates partially-added
state so the facade can use it as a rollback. Caches of entities, time nodes and fact texts are
loaded lazily from the graph store and kept in step with every write.
"""

from __future__ import annotations

import logging
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from graph_index import temporal_kg as tkg
from graph_index import time_tree as tt
from graph_index.entities import EmbeddingEntityResolver, EntityTable, key_id, merge_mentions, normal_form
from graph_index.extract_spacy import SpacyFactExtractor
from graph_index.protocols import EntityResolver, ExtractionFailure, FactExtractor, Summariser
from graph_index.summarise import CentralitySummariser, candidate_sentences
from tgrag.kernel.protocols import DocumentStore, Embedder, GraphStore
from tgrag.kernel.records import Entity, Fact, Passage, TimeNode
from tgrag.kernel.temporal import TimeInterval

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexReport:
    """What one ``add``/``remove`` did. ``time_nodes_recomputed`` = touched leaves + ancestors that
    still exist; ``time_nodes_removed`` = nodes that lost their last content."""

    passages: int
    facts_added: int
    facts_removed: int
    entities_touched: int
    time_nodes_recomputed: tuple[str, ...]
    extraction_failures: int
    seconds: Mapping[str, float]
    time_nodes_removed: tuple[str, ...] = ()
    facts_superseded: int = 0
    failures: tuple[ExtractionFailure, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"passages": self.passages, "facts_added": self.facts_added,
                "facts_removed": self.facts_removed, "entities_touched": self.entities_touched,
                "time_nodes_recomputed": list(self.time_nodes_recomputed),
                "time_nodes_removed": list(self.time_nodes_removed),
                "facts_superseded": self.facts_superseded,
                "extraction_failures": self.extraction_failures,
                "failures": [f.to_dict() for f in self.failures], "seconds": dict(self.seconds)}


class GraphIndexer:
    def __init__(self, graph: GraphStore, docs: DocumentStore, embedder: Embedder, *,
                 extractor: FactExtractor | None = None, summariser: Summariser | None = None,
                 resolver: EntityResolver | None = None, show_progress: bool = True,
                 single_valued: Callable[[str], bool] = tkg.default_single_valued) -> None:
        self.graph = graph
        self.docs = docs
        self.embedder = embedder
        self.extractor = extractor or SpacyFactExtractor(show_progress=show_progress)
        self.summariser = summariser or CentralitySummariser(embedder)
        self.resolver = resolver or EmbeddingEntityResolver(embedder)
        self.show_progress = show_progress
        self.single_valued = single_valued
        self._table: EntityTable | None = None
        self._nodes: dict[str, TimeNode] | None = None
        self._fact_info: dict[str, tuple[datetime | None, str]] | None = None

    # -- caches -----------------------------------------------------------------------------------
    @property
    def table(self) -> EntityTable:
        if self._table is None:
            self._table = EntityTable(self.graph.entities())
        return self._table

    @property
    def nodes(self) -> dict[str, TimeNode]:
        if self._nodes is None:
            self._nodes = {n.node_id: n for n in self.graph.time_nodes()}
        return self._nodes

    @property
    def fact_info(self) -> dict[str, tuple[datetime | None, str]]:
        if self._fact_info is None:
            self._fact_info = {f.fact_id: _info(f) for f in self.graph.facts()}
        return self._fact_info

    def refresh(self) -> None:
        """Drop the caches (call after the graph store was changed by someone else)."""
        self._table = self._nodes = self._fact_info = None

    # -- add --------------------------------------------------------------------------------------
    def add(self, passages: Sequence[Passage]) -> IndexReport:
        secs: dict[str, float] = {}
        t0 = t = time.perf_counter()
        result = self.extractor.extract(passages)
        secs["extract"] = time.perf_counter() - t
        for fail in result.failures:
            log.warning("passage %s: extraction failed (%s)", fail.passage_id, fail.reason)

        t = time.perf_counter()
        table = self.table
        names = [(m.name, m.type) for m in result.entities]
        names += [(f.subject, f.subject_type) for f in result.facts]
        names += [(f.obj, f.object_type) for f in result.facts if f.object_is_entity]
        ids = self.resolver.resolve(names, table)
        seen: dict[str, set[tuple[str, str, str]]] = defaultdict(set)  # id -> (passage, surface, type)
        for m in result.entities:
            if (m.name, m.type) in ids:
                seen[ids[(m.name, m.type)]].add((m.passage_id, m.name, m.type))
        linked: list[tuple[Any, str, str]] = []  # (raw fact, subject id, object id or literal)
        for rf in result.facts:
            sid = ids.get((rf.subject, rf.subject_type))
            oid = ids.get((rf.obj, rf.object_type)) if rf.object_is_entity else rf.obj
            if sid is None or oid is None or (rf.object_is_entity and sid == oid):
                continue
            seen[sid].add((rf.passage_id, rf.subject, rf.subject_type))
            if rf.object_is_entity:
                seen[oid].add((rf.passage_id, rf.obj, rf.object_type))
            linked.append((rf, sid, oid))
        touched: list[Entity] = []
        for eid in sorted(seen):
            ent = table.get(eid)
            if ent is None:
                continue
            ent = merge_mentions(ent, forms=seen[eid])
            table.put(ent)
            touched.append(ent)
        touched, moves, moved_out, moved_in = self._move_to_key_ids(touched)
        self.graph.upsert(touched)
        new_facts: dict[str, Fact] = {}
        for rf, sid, oid in linked:
            sid = moves.get(sid, sid)
            oid = moves.get(oid, oid) if rf.object_is_entity else oid
            fact = Fact.make(sid, rf.predicate, oid, object_is_entity=rf.object_is_entity, valid=rf.valid,
                             observed_at=rf.observed_at, source_passage_id=rf.passage_id,
                             doc_id=rf.doc_id, confidence=rf.confidence, text=rf.text)
            prev = new_facts.get(fact.fact_id)
            if prev is None or fact.confidence > prev.confidence:
                new_facts[fact.fact_id] = fact
        added = len(new_facts)
        for f in moved_in:
            new_facts.setdefault(f.fact_id, f)
        secs["entities"] = time.perf_counter() - t

        t = time.perf_counter()
        facts = sorted(new_facts.values(), key=lambda f: f.fact_id)
        superseded = self._store_facts(facts)
        secs["facts"] = time.perf_counter() - t

        t = time.perf_counter()
        leaves: dict[str, tuple[set[str], set[str], set[str], set[str]]] = defaultdict(
            lambda: (set(), set(), set(), set()))
        for p in passages:
            nid = tt.passage_leaf(p)
            if nid is not None:
                leaves[nid][0].add(p.passage_id)
        for f in facts:
            nid = tt.fact_leaf(f)
            if nid is not None:
                leaves[nid][1].add(f.fact_id)
        for f in moved_out:
            nid = tt.fact_leaf(f)
            if nid is not None:
                leaves[nid][3].add(f.fact_id)
        recomputed = self._update_tree(leaves)
        secs["time_tree"] = time.perf_counter() - t
        secs["total"] = time.perf_counter() - t0
        return IndexReport(len(passages), added, 0, len(touched), recomputed[0],
                           len(result.failures), secs, recomputed[1], superseded, result.failures)

    # -- remove -----------------------------------------------------------------------------------
    def remove(self, passages: Sequence[Passage]) -> IndexReport:
        secs: dict[str, float] = {}
        t0 = t = time.perf_counter()
        pids = {p.passage_id for p in passages}
        gone = self.graph.facts(passage_ids=sorted(pids))
        gone_ids = {f.fact_id for f in gone}
        keys = {tkg.supersede_key(f) for f in gone if self.single_valued(f.predicate)} - {None}
        self.graph.delete(sorted(gone_ids))
        remaining = tkg.group_members(self.graph, keys)  # type: ignore[arg-type]
        reopened = tkg.reopen(remaining, gone, single_valued=self.single_valued)
        self.graph.upsert(reopened)
        info = self.fact_info
        for fid in gone_ids:
            info.pop(fid, None)
        secs["facts"] = time.perf_counter() - t

        t = time.perf_counter()
        table = self.table
        touched_ids = sorted({eid for pid in pids for eid in table.by_passage.get(pid, ())})
        keep: list[Entity] = []
        drop: list[str] = []
        for eid in touched_ids:
            ent = table.get(eid)
            if ent is None:
                continue
            ent = merge_mentions(ent, remove=pids)
            if ent.mentions:
                table.put(ent)
                keep.append(ent)
            else:
                table.drop(eid)
                drop.append(eid)
        self.graph.delete(drop)
        keep, _, moved_out, moved_in = self._move_to_key_ids(keep)
        self.graph.upsert(keep)
        self._store_facts(moved_in)
        secs["entities"] = time.perf_counter() - t

        t = time.perf_counter()
        changes: dict[str, tuple[set[str], set[str], set[str], set[str]]] = defaultdict(
            lambda: (set(), set(), set(), set()))
        for nid, node in self.nodes.items():
            rp = pids.intersection(node.passage_ids)
            rf = gone_ids.intersection(node.fact_ids)
            if rp or rf:
                changes[nid] = (set(), set(), rp, rf)
        for f, slot in [*((f, 3) for f in moved_out), *((f, 1) for f in moved_in)]:
            nid = tt.fact_leaf(f)
            if nid is not None:
                changes[nid][slot].add(f.fact_id)
        recomputed = self._update_tree(changes)
        secs["time_tree"] = time.perf_counter() - t
        secs["total"] = time.perf_counter() - t0
        return IndexReport(len(passages), 0, len(gone_ids), len(touched_ids), recomputed[0], 0, secs,
                           recomputed[1], len(reopened))

    def _store_facts(self, facts: Sequence[Fact]) -> int:
        """Write new ``facts`` with the supersession of their single-valued groups closed over what
        the store holds; only facts that changed are written. Returns how many stored facts it closed."""
        if not facts:
            return 0
        keys = {tkg.supersede_key(f) for f in facts if self.single_valued(f.predicate)} - {None}
        existing = tkg.group_members(self.graph, keys)  # type: ignore[arg-type]
        before = {f.fact_id: f for f in existing}
        updated = tkg.supersede(existing, facts, single_valued=self.single_valued)
        changed = [f for f in updated if f.fact_id not in before or before[f.fact_id] != f]
        self.graph.upsert(changed)
        info = self.fact_info
        for f in facts:
            info[f.fact_id] = _info(f)
        return sum(1 for f in changed if f.fact_id in before)

    # -- entity ids -------------------------------------------------------------------------------
    def _move_to_key_ids(self, entities: Sequence[Entity]
                         ) -> tuple[list[Entity], dict[str, str], list[Fact], list[Fact]]:
        """Give each of ``entities`` whose id is not its key id (:func:`graph_index.entities.key_id`)
        that id, with the facts on it re-made under the new ids (their fact ids hash entity ids).
        The old entity and its facts leave the graph store and the caches; the new entity is in the
        entity table, not yet in the store. Returns (the entities as they are now, {old id: new id},
        the facts removed, the facts re-made: not yet stored, their supersession not yet closed)."""
        table = self.table
        moves: dict[str, str] = {}
        for ent in entities:
            new = key_id(ent)
            if new is not None and new != ent.entity_id and new not in table.by_id and new not in moves.values():
                moves[ent.entity_id] = new
        if not moves:
            return list(entities), {}, [], []
        old_facts = {f.fact_id: f for eid in sorted(moves) for f in tkg.facts_about(self.graph, eid)}
        remade = [Fact.make(moves.get(f.subject, f.subject), f.predicate,
                            moves.get(f.object, f.object) if f.object_is_entity else f.object,
                            object_is_entity=f.object_is_entity, valid=f.valid, observed_at=f.observed_at,
                            source_passage_id=f.source_passage_id, doc_id=f.doc_id, confidence=f.confidence,
                            text=f.text) for f in sorted(old_facts.values(), key=lambda f: f.fact_id)]
        self.graph.delete(sorted(moves))  # an entity takes the facts on it along
        info = self.fact_info
        for fid in old_facts:
            info.pop(fid, None)
        out = []
        for ent in entities:
            if ent.entity_id in moves:
                table.drop(ent.entity_id)
                ent = replace(ent, entity_id=moves[ent.entity_id])
                table.put(ent)
            out.append(ent)
        log.debug("moved %d entities to their key ids, re-made %d facts", len(moves), len(remade))
        return out, moves, list(old_facts.values()), remade

    # -- time tree --------------------------------------------------------------------------------
    def _update_tree(self, changes: Mapping[str, tuple[set[str], set[str], set[str], set[str]]]
                     ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Apply (add passages, add facts, remove passages, remove facts) per leaf, prune empty
        nodes, re-summarise the touched leaves and all their ancestors. Returns (recomputed, removed)."""
        nodes = self.nodes
        for nid, (ap, af, rp, rf) in changes.items():
            node = nodes.get(nid) or tt.empty_node(tt.interval_of_id(nid))
            ps = (set(node.passage_ids) | ap) - rp
            fs = (set(node.fact_ids) | af) - rf
            nodes[nid] = replace(node, passage_ids=tuple(sorted(ps)), fact_ids=tuple(sorted(fs)))
        affected = tt.with_ancestors(changes)
        for nid in affected:
            if nid not in nodes:
                nodes[nid] = tt.empty_node(tt.interval_of_id(nid))
        children: dict[str, set[str]] = defaultdict(set)
        for n in nodes.values():
            if n.parent_id is not None:
                children[n.parent_id].add(n.node_id)
        removed: list[str] = []
        for nid in tt.bottom_up(affected):
            n = nodes[nid]
            if not n.passage_ids and not n.fact_ids and not children.get(nid):
                removed.append(nid)
                del nodes[nid]
                if n.parent_id is not None:
                    children[n.parent_id].discard(nid)
        self.graph.delete(removed)
        order = [nid for nid in tt.bottom_up(affected) if nid in nodes]
        by_level: dict[int, list[str]] = defaultdict(list)
        for nid in order:
            by_level[tt.LEVEL_DEPTH[nodes[nid].level]].append(nid)
        info = self.fact_info
        limit = getattr(self.summariser, "max_candidates", None)
        for depth in sorted(by_level, reverse=True):
            items = []
            for nid in by_level[depth]:
                n = nodes[nid]
                fids = sorted(n.fact_ids, key=lambda f: (_start_key(info.get(f)), f))
                texts = [info[f][1] for f in fids if f in info and info[f][1]]
                kids = sorted(children.get(nid, ()), key=lambda c: (nodes[c].interval.start, c))
                kid_summaries = [nodes[c].summary for c in kids if nodes[c].summary]
                texts += self._passage_texts(n.passage_ids, texts, kid_summaries, limit)
                items.append((n, texts, kid_summaries))
            it: Iterable[Any] = items
            summaries = self.summariser.summarise_batch(list(it))
            for (n, _, _), s in zip(items, summaries):
                nodes[n.node_id] = replace(n, summary=s)
        self.graph.upsert(nodes[nid] for nid in order)
        return tuple(sorted(order)), tuple(sorted(removed))

    def _passage_texts(self, pids: Sequence[str], texts: Sequence[str], kid_summaries: Sequence[str],
                       limit: int | None) -> list[str]:
        """Texts of a node's passages, in node order, read only as far as the summariser looks: an
        extractive summariser takes the first ``limit`` unique sentences of (children's summaries,
        fact texts, passages), so once those are reached the rest of the period is never read (a
        year node whose children and facts fill the candidates reads none of its passages)."""
        if not pids:
            return []
        if limit is None:
            got = {p.passage_id: p.text for p in self.docs.get_passages(list(pids))}
            return [got[p] for p in pids if p in got]
        out: list[str] = []
        have = len(candidate_sentences(texts, kid_summaries, limit=limit))
        for i in range(0, len(pids), _PASSAGE_CHUNK):
            if have >= limit:
                break
            chunk = list(pids[i: i + _PASSAGE_CHUNK])
            got = {p.passage_id: p.text for p in self.docs.get_passages(chunk)}
            out += [got[p] for p in chunk if p in got]
            have = len(candidate_sentences([*texts, *out], kid_summaries, limit=limit))
        return out

    # -- lookups ----------------------------------------------------------------------------------
    def entity(self, name_or_id: str) -> Entity | None:
        """Entity by id, name or alias (normal-form match)."""
        return self.table.lookup(name_or_id)

    def link(self, text: str) -> list[Entity]:
        """Entities mentioned in ``text``: longest capitalised n-grams whose normal form is a known
        name or alias (a possessive "'s" aside), left to right, non-overlapping."""
        return link_entities(self.table, text)

    def summary(self, label: str) -> TimeNode | None:
        label = label.split(":", 1)[1] if label.startswith("time:") else label
        nid = TimeNode.id_for(TimeInterval.from_label(label))
        found = self.graph.time_nodes([nid])
        return found[0] if found else None

    def timeline(self, entity: str) -> list[Fact]:
        ent = self.table.lookup(entity)
        return tkg.timeline(self.graph, ent.entity_id) if ent is not None else []

    def facts_about(self, entity: str, during: TimeInterval | None = None) -> list[Fact]:
        ent = self.table.lookup(entity)
        return tkg.facts_about(self.graph, ent.entity_id, during) if ent is not None else []


def _info(f: Fact) -> tuple[datetime | None, str]:
    return (f.valid.start if f.valid is not None else None, f.text)


def _start_key(info: tuple[datetime | None, str] | None) -> str:
    return info[0].isoformat() if info is not None and info[0] is not None else "~"


_MAX_NGRAM = 10
_PASSAGE_CHUNK = 16


_TOKEN = re.compile(r"[^\s,?!;:()\"]+")
_POSSESSIVE_END = re.compile(r"['’]s?$")


def link_entities(table: EntityTable, text: str) -> list[Entity]:
    toks = [(m.start(), m.end()) for m in _TOKEN.finditer(text)]
    out: list[Entity] = []
    seen: set[str] = set()
    i = 0
    while i < len(toks):
        hit = None
        for j in range(min(len(toks), i + _MAX_NGRAM), i, -1):
            surface = text[toks[i][0]: toks[j - 1][1]].rstrip(".'")
            if not any(c.isupper() or c.isdigit() for c in surface):
                continue
            eid = table.by_norm.get(normal_form(surface))
            if eid is None and (bare := _POSSESSIVE_END.sub("", surface)) != surface:
                eid = table.by_norm.get(normal_form(bare))  # a possessive: "Maria Lind's successor"
            if eid is not None:
                hit = (j, eid)
                break
        if hit is None:
            i += 1
            continue
        i = hit[0]
        if hit[1] not in seen and hit[1] in table.by_id:
            seen.add(hit[1])
            out.append(table.by_id[hit[1]])
    return out


def entity_names(entities: Iterable[Entity]) -> list[str]:
    return [e.name for e in entities]
