"""Evidence for the reader: passages + KG facts valid in the scope + time-tree summaries.

De-duplicated (same record, or same normalised text), ordered (passages by retrieval rank, then
facts by time, then period summaries) and cut to a token budget (1 word ≈ 1.3 tokens; the last item
that does not fit is dropped rather than truncated, except the first, which is always kept).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any, Protocol

from tgrag.kernel.protocols import GraphStore
from tgrag.kernel.records import Entity, Evidence, EvidenceKind, Fact, TimeNode
from tgrag.kernel.temporal import Granularity, TimeInterval

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
    ordered = sorted(facts.values(), key=lambda f: (-f.confidence, f.fact_id))[:limit]
    return [Evidence(EvidenceKind.FACT, f.fact_id, fact_text(f, names), f.confidence, f.effective, f.doc_id)
            for f in ordered]


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


def assemble(groups: Iterable[Sequence[Evidence]], *, max_tokens: int) -> list[Evidence]:
    """Concatenate evidence groups in order, de-duplicated, within ``max_tokens``."""
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
            cost = estimate_tokens(ev.title + " " + ev.text)
            if cost > budget and out:
                continue
            seen_ids.add(key)
            seen_text.add(norm)
            out.append(ev)
            budget -= cost
    return out


def evidence_summary(evidence: Sequence[Evidence]) -> list[dict[str, Any]]:
    return [{"kind": e.kind.value, "ref_id": e.ref_id, "score": round(e.score, 4), "title": e.title}
            for e in evidence]
