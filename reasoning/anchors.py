"""Event-anchored time scopes (TimeR4-style): "before X", "after X left Y", "while Z was CEO".

The question takes its time from another event. We (1) find the anchor clause, (2) resolve the
event's time from the knowledge graph (a fact joining the event's entity to the question's other
entities, or any dated fact about it) or, failing that, from the time expressions of the passage
that best matches the event, and (3) rewrite the scope with that date: "before" ends at the event's
start, "after" starts at its end (or start), "while"/"during" is the event's interval. Each step is
recorded; an unresolved anchor changes nothing and says why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from graph_index.entities import normal_form
from reasoning.kg_answer import EntityLinker, EventAnchor, KGAnswerer, relation_phrase
from reasoning.retrievers import Retriever
from tgrag.kernel.protocols import GraphStore
from tgrag.kernel.records import Entity, Fact
from tgrag.kernel.temporal import TimeInterval
from tgrag.kernel.timeparse import find_time_expressions

_ANCHOR = re.compile(r"\b(?P<rel>before|after|while|during|when|prior to|following)\s+(?P<event>[^?]+?)\s*\??\s*$",
                     re.IGNORECASE)
_REL = {"before": "before", "prior to": "before", "after": "after", "following": "after",
        "while": "during", "during": "during", "when": "during"}


@dataclass(frozen=True, slots=True)
class AnchorClause:
    relation: str  # before | after | during
    text: str  # the event as written ("Tamás Hoffmann", "the merger", "X left Y")
    start_char: int


def find_anchor(question: str) -> AnchorClause | None:
    """The trailing "before/after/while <event>" clause, unless the event is itself a time
    expression ("before 2010" is an ordinary scope, handled by the scope parser)."""
    q = question.strip()
    if q.lower().startswith("when "):
        q_search = q[5:]
        offset = 5
    else:
        q_search, offset = q, 0
    m = _ANCHOR.search(q_search)
    if m is None:
        return None
    event = m.group("event").strip().rstrip("?").strip()
    if not event:
        return None
    times = find_time_expressions(event)
    if times and sum(len(t.text) for t in times) >= 0.6 * len(event):
        return None
    return AnchorClause(_REL[m.group("rel").lower()], event, m.start() + offset)


@dataclass
class AnchorResolver:
    """Resolves an anchor clause to an :class:`EventAnchor` with an interval."""

    graph: GraphStore
    linker: EntityLinker
    kg: KGAnswerer | None = None
    retriever: Retriever | None = None

    def resolve(self, question: str, clause: AnchorClause) -> tuple[EventAnchor, dict[str, Any]]:
        steps: dict[str, Any] = {"clause": {"relation": clause.relation, "event": clause.text}}
        ev_ents = self.linker.link(clause.text)
        main_ents = [e for e in self.linker.link(question[: clause.start_char])
                     if e.entity_id not in {x.entity_id for x in ev_ents}]
        steps["event_entities"] = [e.name for e in ev_ents]
        steps["question_entities"] = [e.name for e in main_ents]
        fact = self._kg_fact(question, clause, ev_ents, main_ents)
        if fact is not None:
            iv = fact.effective or fact.valid
            anchor = EventAnchor(clause.relation, clause.text, iv, ev_ents[0].entity_id if ev_ents else None,
                                 "kg", fact.fact_id)
            steps["resolved"] = {"source": "kg", "fact": fact.fact_id, "predicate": fact.predicate,
                                 "interval": iv.label() if iv else None}
            return anchor, steps
        iv, pid = self._passage_time(clause)
        if iv is not None:
            steps["resolved"] = {"source": "passage", "passage": pid, "interval": iv.label()}
            return EventAnchor(clause.relation, clause.text, iv, ev_ents[0].entity_id if ev_ents else None,
                               "passage"), steps
        steps["resolved"] = None
        steps["note"] = "the anchor event's time was found neither in the knowledge graph nor in a passage"
        return EventAnchor(clause.relation, clause.text, None, ev_ents[0].entity_id if ev_ents else None), steps

    def _kg_fact(self, question: str, clause: AnchorClause, ev_ents: list[Entity],
                 main_ents: list[Entity]) -> Fact | None:
        """A dated fact joining the event's entity to the question's entities (the same relation
        when the answerer can rank it), else the earliest dated fact about the event entity."""
        ev_ids = {e.entity_id for e in ev_ents}
        main_ids = {e.entity_id for e in main_ents}
        joined: list[Fact] = []
        about: list[Fact] = []
        target = normal_form(clause.text)
        for eid in main_ids:  # the event as the other end of a question entity's fact ("after <post>")
            for f in self.graph.facts(subject=eid):
                if f.valid is not None and f.valid.start is not None and not f.object_is_entity \
                        and normal_form(f.object) == target:
                    joined.append(f)
        for eid in ev_ids:
            for f in self.graph.facts(subject=eid) + self.graph.facts(object=eid):
                if f.valid is None or f.valid.start is None:
                    continue
                ends = {f.subject, f.object if f.object_is_entity else ""}
                (joined if ends & main_ids else about).append(f)
        pool = joined or about
        if not pool:
            return None
        if self.kg is not None and len(pool) > 1:
            relation = relation_phrase(question[: clause.start_char], main_ents)
            scores = self.kg.predicate_scores(relation, [f.predicate for f in pool]) if relation else {}
            return max(pool, key=lambda f: (scores.get(f.predicate, 0.0), -f.valid.start.timestamp()  # type: ignore[union-attr]
                                            if f.valid and f.valid.start else 0.0, f.fact_id))
        return min(pool, key=lambda f: (f.valid.start, f.fact_id))  # type: ignore[union-attr]

    def _passage_time(self, clause: AnchorClause) -> tuple[TimeInterval | None, str | None]:
        if self.retriever is None:
            return None, None
        for ev in self.retriever.retrieve(clause.text, 3):
            for sentence in re.split(r"(?<=[.!?])\s+", ev.text):
                words = {w.lower() for w in re.findall(r"\w+", clause.text) if len(w) > 3}
                if words and sum(w in sentence.lower() for w in words) >= max(1, len(words) // 2):
                    times = find_time_expressions(sentence)
                    if times:
                        return times[0].interval, ev.ref_id
            if ev.date is not None:
                return ev.date, ev.ref_id
        return None, None


def anchored_scope(anchor: EventAnchor, scope: TimeInterval | None) -> TimeInterval | None:
    """The scope rewritten with the event's date (inside ``scope`` when both meet)."""
    iv = anchor.interval
    if iv is None:
        return scope
    if anchor.relation == "before":
        new = TimeInterval(None, iv.start, iv.granularity) if iv.start is not None else None
    elif anchor.relation == "after":
        edge = iv.end if iv.end is not None else iv.start
        new = TimeInterval(edge, None, iv.granularity) if edge is not None else None
    else:
        new = iv
    if new is None:
        return scope
    if scope is None:
        return new
    return scope.intersect(new) or scope
