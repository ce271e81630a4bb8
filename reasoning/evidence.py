"""Evidence for the reader: KG facts valid in the scope + passages + time-tree summaries.

De-duplicated (same record, or same normalised text), ordered (the facts that match the question's
relation first, by relevance then time; then passages by retrieval rank; then the other facts; then
period summaries) and cut to a token budget counted once, here, with the reader model's tokenizer
(``count``; the word estimate without one). An item that does not fit is dropped rather than
truncated, except the first, which is always kept.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from tgrag.kernel.errors import ConfigError
from tgrag.kernel.protocols import GraphStore
from tgrag.kernel.records import Entity, Evidence, EvidenceKind, Fact, TimeNode
from tgrag.kernel.temporal import Granularity, TimeInterval

if TYPE_CHECKING:
    from reasoning.kg_answer import KGAnswerer

_WS = re.compile(r"\W+")
PERIOD_GRANULARITIES = (Granularity.YEAR, Granularity.QUARTER, Granularity.MONTH)


class Linker(Protocol):
    """What the graph indexer offers the reasoner: entity linking and time-tree summaries."""

    def link(self, text: str) -> list[Entity]: ...

    def summary(self, label: str) -> TimeNode | None: ...


_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"“(])|\s*\n+\s*")


def scope_sentences(evidence: Sequence[Evidence], scope: TimeInterval | None) -> list[Evidence]:
    """Time-scoped reading of undated passages: drop the sentences whose every time expression
    lies outside ``scope`` (sentences without one are kept); a passage left with nothing is dropped.

    Dated passages were already filtered by the retriever; facts and summaries pass unchanged.
    """
    if scope is None:
        return list(evidence)
    from tgrag.kernel.timeparse import find_time_expressions

    out = []
    for ev in evidence:
        if ev.kind is not EvidenceKind.PASSAGE or ev.date is not None:
            out.append(ev)
            continue
        kept = []
        for sentence in _SENTENCE.split(ev.text):
            mentions = find_time_expressions(sentence)
            if not mentions or any(m.interval.overlaps(scope) for m in mentions):
                kept.append(sentence.strip())
        text = " ".join(k for k in kept if k)
        if text:
            out.append(ev if text == ev.text.strip() else replace(ev, text=text))
    return out


FOCUS_MODES = ("off", "fill", "only")
_NAME_TOKEN = re.compile(r"[A-Z][\w'-]{3,}")


def about_entities(ev: Evidence, entities: Sequence[Entity]) -> bool:
    """The passage mentions one of ``entities``: it is among an entity's linked mentions, or its text
    names the entity in full or by the last word of a multi-word name ("Detmer" for "Ty Detmer")."""
    for ent in entities:
        if ev.ref_id in ent.mentions or ent.name in ev.text:
            return True
        words = ent.name.split()
        if len(words) > 1 and _NAME_TOKEN.fullmatch(words[-1]) and re.search(rf"\b{re.escape(words[-1])}\b", ev.text):
            return True
    return False


def focus_on_entities(passages: Sequence[Evidence], entities: Sequence[Entity], k: int, *, mode: str = "fill",
                      max_mentions: int = 50) -> list[Evidence]:
    """The ``k`` passages a reader sees, from a deeper retrieval: those about the question's entities
    first, in retrieval order. ``fill`` tops up with the others in retrieval order, ``only`` shows the
    passages about the entities alone (all ``k`` retrieved when none is). Entities linked to more than
    ``max_mentions`` passages say little about which passage is meant and are not used; with no
    entity left the retrieval order stands."""
    if mode not in FOCUS_MODES:
        raise ConfigError(f"entity_focus must be one of {FOCUS_MODES}, got {mode!r}")
    specific = [e for e in entities if 0 < len(e.mentions) <= max_mentions]
    if mode == "off" or not specific:
        return list(passages[:k])
    about = [ev for ev in passages if about_entities(ev, specific)]
    if not about:
        return list(passages[:k])
    if mode == "only":
        return about[:k]
    chosen = {id(ev) for ev in about[:k]}
    rest = [ev for ev in passages if id(ev) not in chosen]
    return about[:k] + rest[: max(0, k - len(about))]


def estimate_tokens(text: str) -> int:
    return int(len(text.split()) * 1.3) + 3


def fact_text(fact: Fact, names: dict[str, str]) -> str:
    if fact.text:
        return fact.text
    obj = names.get(fact.object, fact.object) if fact.object_is_entity else fact.object
    return f"{names.get(fact.subject, fact.subject)} {fact.predicate} {obj}"


def kg_fact_evidence(graph: GraphStore, entities: Sequence[Entity], scope: TimeInterval | None, *,
                     limit: int = 8) -> list[Evidence]:
    """Facts on the linked entities (as subject or object) valid in ``scope``, newest last."""
    facts: dict[str, Fact] = {}
    for ent in entities:
        for f in graph.facts(subject=ent.entity_id, during=scope) + graph.facts(object=ent.entity_id, during=scope):
            facts.setdefault(f.fact_id, f)
    if not facts:
        return []
    ids = {f.subject for f in facts.values()} | {f.object for f in facts.values() if f.object_is_entity}
    names = {e.entity_id: e.name for e in graph.entities(ids)}
    ordered = sorted(facts.values(), key=lambda f: (-f.confidence, _start_ts(f), f.fact_id))[:limit]
    return [Evidence(EvidenceKind.FACT, f.fact_id, fact_text(f, names), f.confidence, f.effective, f.doc_id)
            for f in ordered]


def _start_ts(f: Fact) -> float:
    return f.valid.start.timestamp() if f.valid is not None and f.valid.start is not None else float("inf")


def ranked_fact_evidence(kg: KGAnswerer, graph: GraphStore, question: str, scope: TimeInterval | None,
                         entities: Sequence[Entity], *, limit: int = 8) -> tuple[list[Evidence], list[Evidence]]:
    """Facts on the linked entities valid in ``scope``, ranked by how well their predicate matches the
    question's relation, then fit to the scope, then time (:meth:`KGAnswerer.rank`). Returns (the
    facts that match the relation, the others), ``limit`` in all."""
    ranked, _, _ = kg.rank(question, scope, anchors=entities)
    ranked = ranked[:limit]
    if not ranked:
        return [], []
    ids = {r.fact.subject for r in ranked} | {r.fact.object for r in ranked if r.fact.object_is_entity}
    names = {e.entity_id: e.name for e in graph.entities(ids)}
    good: list[Evidence] = []
    rest: list[Evidence] = []
    for r in ranked:
        f = r.fact
        ev = Evidence(EvidenceKind.FACT, f.fact_id, fact_text(f, names), round(r.relation_score, 4), f.effective,
                      f.doc_id)
        (good if r.relation_score >= kg.relation_threshold else rest).append(ev)
    return good, rest


def is_period_scope(scope: TimeInterval | None) -> bool:
    return scope is not None and scope.bounded and scope.granularity in PERIOD_GRANULARITIES \
        and "/" not in scope.label()


def summary_evidence(graph: GraphStore, scope: TimeInterval | None, linker: Linker | None = None
                     ) -> list[Evidence]:
    """The time-tree summary of the scope's period (a year, quarter or month), when it has one."""
    if not is_period_scope(scope):
        return []
    assert scope is not None
    label = scope.label()
    node = linker.summary(label) if linker is not None else \
        next(iter(graph.time_nodes([TimeNode.id_for(scope)])), None)
    if node is None or not node.summary:
        return []
    return [Evidence(EvidenceKind.SUMMARY, node.node_id, node.summary, 0.0, node.interval, None,
                     f"Summary of {label}")]


def assemble(groups: Iterable[Sequence[Evidence]], *, max_tokens: int,
             count: Callable[[str], int] = estimate_tokens) -> list[Evidence]:
    """Concatenate evidence groups in order, de-duplicated, within ``max_tokens`` as ``count`` counts
    them (the reader model's tokenizer; each item as the reader shows it)."""
    seen_ids: set[tuple[str, str]] = set()
    seen_text: set[str] = set()
    out: list[Evidence] = []
    budget = max_tokens
    for group in groups:
        for ev in group:
            key = (ev.kind.value, ev.ref_id)
            norm = _WS.sub(" ", ev.text.lower()).strip()
            if key in seen_ids or norm in seen_text:
                continue
            cost = count(evidence_line(len(out) + 1, ev)) + 1
            if cost > budget and out:
                continue
            seen_ids.add(key)
            seen_text.add(norm)
            out.append(ev)
            budget -= cost
    return out


def evidence_line(number: int, ev: Evidence) -> str:
    """One numbered evidence line exactly as the reader shows it."""
    date = f"({ev.date.describe()}) " if ev.date is not None else ""
    title = f"{ev.title}: " if ev.title else ""
    return f"[{number}] {date}{title}{' '.join(ev.text.split())}"


def evidence_summary(evidence: Sequence[Evidence]) -> list[dict[str, Any]]:
    return [{"kind": e.kind.value, "ref_id": e.ref_id, "score": round(e.score, 4), "title": e.title}
            for e in evidence]
