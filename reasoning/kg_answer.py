"""KG-grounded answering: the question as a knowledge-graph query (entity, relation, time scope).

1. **Entities**: the question's linked entities (the indexer's linker) are the anchors.
2. **Relation**: what is left of the question once the anchors, the time expressions and the
   question words are removed ("Who was the chief executive of X in 2020?" → "chief executive of")
   is matched against the predicate labels of the anchors' facts by *embedding similarity*, so "led",
   "ran" and "chief executive of" can meet; string equality is never required.
3. **Facts**: those valid in the scope, ranked by relation match, then by how well they fit the
   scope (the share of the scope they cover; for an as-of scope, whether they still hold at its end).

The result depends on what the graph holds (:class:`KGResult.status`):

- ``answer``: one value of the relation in the scope (or, for a relation the graph shows holding
  several values at once and a plural question, the full set): the other end of the fact(s);
- ``ambiguous``: several values fit equally well; the reader decides, with these facts first;
- ``none``: no anchor, a comparison ("A or B?", "are A and B both ...?": the reader weighs both
  sides), a question of more than one relation, or no fact with a matching relation in the scope.

A "who" question takes a person or an organisation, a "where" (or "which country ...") question never
a person, a date or a number: facts whose other end has the wrong type are not candidates.

An event anchor ("before X", "after X") from :mod:`reasoning.anchors` selects the fact that
immediately precedes or follows the anchor's interval.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from reasoning.decompose import is_comparison, looks_single_hop
from tgrag.kernel.protocols import Embedder, GraphStore
from tgrag.kernel.records import Entity, Fact
from tgrag.kernel.temporal import Granularity, TimeInterval
from tgrag.kernel.timeparse import find_time_expressions

_WORD = re.compile(r"[\w'’-]+", re.UNICODE)
# words that carry no relation meaning in a question (question words, auxiliaries, articles)
_FILLER = frozenset(["who", "whom", "whose", "what", "which", "where", "when", "how", "was", "were", "is", "are", "be", "been", "being", "did", "does", "do", "has", "have", "had", "the", "a", "an", "of", "in", "on", "at", "to", "for", "by", "from", "during", "as", "that", "this", "these", "those", "it", "its", "their", "his", "her", "there", "until", "till", "since", "before", "after", "between", "and", "or", "while"])
_TIME_PREP = re.compile(r"\b(?:in|on|at|during|by|from|since|until|till|as of|between|of)\s*$", re.IGNORECASE)
_KEEP_PREP = frozenset({"of", "for", "to", "in", "at", "by", "with", "from"})
_WHO = re.compile(r"^\s*(?:who|whom)\b", re.IGNORECASE)
_WHEN = re.compile(r"^\s*(?:when\b|(?:on|in)\s+(?:what|which)\s+(?:date|day|year|month)\b|"
                   r"(?:what|which)\s+(?:date|day|year|month)\b)", re.IGNORECASE)
_WHERE = re.compile(r"^\s*(?:where\b|(?:(?:in|at|from)\s+)?(?:what|which)\s+(?:city|country|town|village|place|state|"
                    r"county|region|province)\b)", re.IGNORECASE)
_PLURAL = re.compile(r"^\s*(?:which|what)\s+\w+s\b|\b(?:all|list)\b", re.IGNORECASE)
_EPS = 1e-9
_NOT_WHO = frozenset({"GPE", "LOC", "FAC", "DATE", "TIME", "MONEY", "PERCENT", "QUANTITY", "CARDINAL", "ORDINAL"})
# "where" asks for a place (or an organisation's site), never a person, a date or a number (an
# untyped MISC entity stays a candidate: excluding it cost two right TempReason answers, bench/kg_path.py)
_NOT_WHERE = frozenset({"PERSON", "NORP", "DATE", "TIME", "MONEY", "PERCENT", "QUANTITY", "CARDINAL", "ORDINAL"})
# a relation composed of two: a relational noun on the anchor, then a verb on that noun ("where was
# the father of X born?", "when did X's father die?", "which country X's wife is from?"): the KG
# answers the first hop (the father), never the question
_NOUN_ON_ANCHOR = re.compile(r"(?:\b[Tt]he\s+(?P<noun>(?:[a-z]+[\s-]){0,2}[a-z]+)\s+of\s+the X\b|"
                             r"(?<![Ww]hat)(?<![Ww]ho)(?<![Ww]here)(?<![Ww]hen)(?<![Hh]ow)(?<![Ii]t)(?<![Tt]hat)"
                             r"(?<![Tt]here)(?<![Hh]ere)['’]s?\s+(?P<pnoun>[a-z]+(?:-[a-z]+)*)\b)(?P<tail>[^?]*)")
_TAIL_OK = frozenset(["in", "on", "at", "during", "as", "between", "from", "before", "after", "since", "until",
                      "till", "by", "for", "when", "while", "located", "based", "situated", "headquartered", "of"])


def composed_relation(core: str) -> bool:
    """Whether ``core`` (the question with its anchors replaced by "the X") asks a verb of a noun
    related to the anchor ("where was the father of the X born?") rather than the noun itself ("who
    was the chair of the X in 1990?", "who is the X's wife?")."""
    for m in _NOUN_ON_ANCHOR.finditer(core):
        verb = []
        for w in _WORD.findall(m.group("tail")):
            if w.lower() in _TAIL_OK:
                break
            verb.append(w)
        if verb and all(w.islower() for w in verb):  # "Mühldorf am Inn", ", Chișinău": the rest of a name
            return True
    return False


class EntityLinker(Protocol):
    def link(self, text: str) -> list[Entity]: ...


@dataclass(frozen=True, slots=True)
class EventAnchor:
    """A time taken from another event: ``relation`` is "before" | "after" | "during"."""

    relation: str
    text: str
    interval: TimeInterval | None
    entity_id: str | None = None
    source: str = ""  # "kg" | "passage" | "" (unresolved)
    fact_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"relation": self.relation, "text": self.text, "source": self.source,
                "interval": self.interval.label() if self.interval else None,
                "entity_id": self.entity_id, "fact_id": self.fact_id}


@dataclass(frozen=True, slots=True)
class RankedFact:
    fact: Fact
    relation_score: float
    fit: float
    answer: str  # the other end's name (or the literal, or the fact's date for "when" questions)

    def to_dict(self) -> dict[str, Any]:
        return {"fact_id": self.fact.fact_id, "predicate": self.fact.predicate, "answer": self.answer,
                "relation_score": round(self.relation_score, 4), "fit": round(self.fit, 4),
                "valid": self.fact.effective.label() if self.fact.effective else None}


@dataclass(frozen=True, slots=True)
class KGResult:
    status: str  # "answer" | "ambiguous" | "none"
    answer: str = ""
    facts: tuple[Fact, ...] = ()  # the facts the answer rests on
    ranked: tuple[RankedFact, ...] = ()  # every matching fact, best first (for the reader's evidence)
    relation: str = ""
    anchors: tuple[str, ...] = ()
    reason: str = ""
    multi_valued: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "answer": self.answer, "facts": [f.fact_id for f in self.facts],
                "relation": self.relation, "anchors": list(self.anchors), "reason": self.reason,
                "multi_valued": self.multi_valued, "ranked": [r.to_dict() for r in self.ranked[:8]]}


def relation_phrase(question: str, anchors: Sequence[Entity], *, drop: Sequence[str] = ()) -> str:
    """The question with the anchors' surface forms, ``drop`` spans, time expressions and question
    words removed: what is asked *about* the anchor ("chief executive of", "team play for")."""
    q = question
    for span in sorted(drop, key=len, reverse=True):
        if span:
            q = q.replace(span, " ")
    for m in sorted(find_time_expressions(q), key=lambda m: -m.start_char):
        head = _TIME_PREP.sub("", q[: m.start_char])  # "in June 2020": the preposition goes with the time
        q = head + " " + q[m.end_char:]
    low = q.lower()
    for ent in anchors:
        for name in sorted({ent.name, *ent.aliases}, key=len, reverse=True):
            if name:
                low = re.sub(r"(?<!\w)" + re.escape(name.lower()) + r"(?!\w)", " | ", low)
    words = re.findall(r"[\w'’-]+|\|", low)
    out: list[str] = []
    for i, w in enumerate(words):
        nxt = words[i + 1] if i + 1 < len(words) else "|"
        if w == "|":
            continue
        tail_empty = all(x == "|" or x in _FILLER for x in words[i + 1:])
        if w in _KEEP_PREP and out and out[-1] not in _KEEP_PREP and (nxt == "|" or tail_empty):
            out.append(w)  # "chief executive of <X>": the preposition that binds the anchor
        elif w not in _FILLER and not w.endswith("'s"):
            out.append(w)
    return " ".join(out).strip()


def find_anchor_start(question: str) -> int:
    m = re.search(r"\b(?:before|after|while|during|when|prior to|following)\b(?!.*\b(?:before|after|while|during|"
                  r"prior to|following)\b)", question[1:], re.IGNORECASE)
    return m.start() + 1 if m else len(question)


def innermost(linker: EntityLinker, entities: Sequence[Entity]) -> list[Entity]:
    """Linked entities with a description that embeds another known entity ("chief executive of
    Veltrane Robotics", extracted as an appositive) replaced by the entity inside it."""
    out: list[Entity] = []
    for ent in entities:
        words = ent.name.split()
        inner: list[Entity] = []
        descriptive = bool(words) and words[0][:1].islower()  # a name ("Walid Azaro") is kept whole
        for i in range(1, len(words) if descriptive else 1):
            inner = [e for e in linker.link(" ".join(words[i:])) if e.entity_id != ent.entity_id]
            if inner:
                break
        for e in inner or [ent]:
            if all(e.entity_id != o.entity_id for o in out):
                out.append(e)
    return out


def predicate_text(predicate: str) -> str:
    """A predicate label as a phrase: the extractor's "be headquartered in" → "headquartered in"."""
    return re.sub(r"^be\s+", "", predicate.strip())


def fit_to_scope(valid: TimeInterval | None, scope: TimeInterval | None) -> float:
    """How well a fact's effective interval fits the scope, in [0, 1].

    Bounded scope: the share of the scope the fact covers. As-of scope (open start): 1 when the fact
    still holds at the scope's end, 0.5 when it only held earlier. No scope: 0.5 (nothing to fit)."""
    if valid is None:
        return 0.0
    if scope is None:
        return 0.5
    if not valid.overlaps(scope):
        return 0.0
    if scope.start is None or scope.end is None:
        edge = scope.end if scope.start is None else scope.start
        assert edge is not None
        probe = edge.timestamp() - 1e-3 if scope.start is None else edge.timestamp()
        holds = (valid.start is None or valid.start.timestamp() <= probe) and \
                (valid.end is None or probe < valid.end.timestamp())
        return 1.0 if holds else 0.5
    inter = valid.intersect(scope)
    assert inter is not None and inter.start is not None and inter.end is not None
    span = (scope.end - scope.start).total_seconds()
    return max(_EPS, (inter.end - inter.start).total_seconds() / span) if span > 0 else 1.0


def _start(f: Fact) -> datetime:
    iv = f.effective or f.valid
    return iv.start if iv is not None and iv.start is not None else datetime.min.replace(tzinfo=None)


def _ts(dt: datetime | None, default: float) -> float:
    return dt.timestamp() if dt is not None and dt.tzinfo is not None else default


@dataclass
class KGAnswerer:
    """Answers a question from the temporal KG when the graph holds one value in the scope."""

    graph: GraphStore
    linker: EntityLinker
    embedder: Embedder
    relation_threshold: float = 0.5  # cosine of question relation and predicate label
    tier_margin: float = 0.08  # facts within this of the best relation score compete
    weak_threshold: float = 0.3  # a weaker best match counts when it beats every other predicate ...
    weak_margin: float = 0.1  # ... by this much ("belong to" ~ "member of")
    _pred_vecs: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    # -- relation matching --------------------------------------------------------------------
    def predicate_scores(self, relation: str, predicates: Sequence[str]) -> dict[str, float]:
        """Cosine similarity of the question's relation phrase with each predicate label."""
        if not relation or not predicates:
            return {}
        todo = sorted({p for p in predicates if p not in self._pred_vecs})
        if todo:
            vecs = self.embedder.encode([predicate_text(p) for p in todo], kind="passage")
            self._pred_vecs.update(zip(todo, vecs))
        qv = self.embedder.encode([relation], kind="query")[0]
        return {p: float(np.dot(qv, self._pred_vecs[p])) for p in set(predicates)}

    def multi_valued(self, predicate: str, subject_side: bool) -> bool:
        """True when the graph shows an entity holding several values of ``predicate`` at once
        (ownership of several firms) rather than one at a time (a chief executive)."""
        by_anchor: dict[str, list[Fact]] = {}
        for f in self.graph.facts(predicate=predicate):
            if f.valid is None:
                continue
            by_anchor.setdefault(f.subject if subject_side else f.object, []).append(f)
        for facts in by_anchor.values():
            values = {f.object if subject_side else f.subject for f in facts}
            if len(values) < 2:
                continue
            for i, a in enumerate(facts):
                for b in facts[i + 1:]:
                    va, vb = (a.object, b.object) if subject_side else (a.subject, b.subject)
                    ea, eb = a.effective, b.effective
                    if va != vb and ea is not None and eb is not None and ea.overlaps(eb) \
                            and ea.granularity.rank > 1 and eb.granularity.rank > 1:
                        return True
        return False

    # -- the query ----------------------------------------------------------------------------
    def rank(self, question: str, scope: TimeInterval | None, *, anchors: Sequence[Entity] | None = None,
             event: EventAnchor | None = None) -> tuple[list[RankedFact], str, list[Entity]]:
        """Facts of the anchors valid in the scope whose predicate matches the question's relation,
        best first (relation match, then fit to the scope, then time)."""
        linked = innermost(self.linker, list(anchors) if anchors is not None else self.linker.link(question))
        ev_ent = event.entity_id if event is not None else None
        ents = [e for e in linked if e.entity_id != ev_ent]
        if not ents:
            return [], "", []
        relation = relation_phrase(question, linked, drop=[event.text] if event is not None else [])
        facts: dict[str, Fact] = {}
        names: dict[str, str] = {e.entity_id: e.name for e in linked}
        anchor_ids = {e.entity_id for e in ents}
        for ent in ents:
            for f in self.graph.facts(subject=ent.entity_id) + self.graph.facts(object=ent.entity_id):
                facts.setdefault(f.fact_id, f)
        if not facts:
            return [], relation, ents
        other_ids = {f.object for f in facts.values() if f.object_is_entity} | {f.subject for f in facts.values()}
        others = self.graph.entities(other_ids - set(names))
        names.update({e.entity_id: e.name for e in others})
        types = {e.entity_id: e.type for e in [*linked, *others]}
        scores = self.predicate_scores(relation, [f.predicate for f in facts.values()])
        when = bool(_WHEN.search(question))
        who = bool(_WHO.search(question))
        where = bool(_WHERE.search(question))
        ranked = []
        for f in facts.values():
            rel = scores.get(f.predicate, 0.0)
            if f.subject in anchor_ids and (not f.object_is_entity or f.object not in anchor_ids):
                other, other_is_entity = f.object, f.object_is_entity
            elif f.object_is_entity and f.object in anchor_ids and f.subject not in anchor_ids:
                other, other_is_entity = f.subject, True
            elif when:  # both ends named in the question: "when did A acquire B?"
                other, other_is_entity = "", False
            else:
                continue
            if when:
                if f.valid is None or f.valid.start is None:
                    continue
                answer = f.valid.describe()
            else:
                if who and (not other_is_entity or types.get(other, "") in _NOT_WHO):
                    continue  # "who" asks for a person or an organisation, not a place or a date
                if where and other_is_entity and types.get(other, "") in _NOT_WHERE:
                    continue  # "where was the father of X born?": the father is not the answer
                answer = names.get(other, other) if other_is_entity else other
            eff = f.effective
            if scope is not None and (eff is None or not eff.overlaps(scope)):
                continue
            ranked.append(RankedFact(f, rel, fit_to_scope(eff, scope), answer))
        ranked.sort(key=lambda r: (-r.relation_score, -r.fit, _ts(_start(r.fact), 0.0), r.fact.fact_id))
        return ranked, relation, ents

    def answer(self, question: str, scope: TimeInterval | None, *, event: EventAnchor | None = None,
               anchors: Sequence[Entity] | None = None) -> KGResult:
        ranked, relation, ents = self.rank(question, None if event is not None else scope, anchors=anchors,
                                           event=event)
        names = tuple(e.name for e in ents)
        if not ents:
            return KGResult("none", relation=relation, reason="no linked entity")
        core = question[: find_anchor_start(question)] if event is not None else question
        for ent in ents:  # entity names may hold "of the ..." themselves: judge the question around them
            for name in sorted({ent.name, *ent.aliases}, key=len, reverse=True):
                core = re.sub(re.escape(name), "the X", core, flags=re.IGNORECASE) if name else core
        if is_comparison(question):  # "A or B?", "are A and B both ...?": one fact is never the answer
            return KGResult("none", ranked=tuple(ranked), relation=relation, anchors=names,
                            reason="a comparison: the reader weighs both sides")
        if not looks_single_hop(core) or composed_relation(core):
            return KGResult("none", ranked=tuple(ranked), relation=relation, anchors=names,
                            reason="not a single-relation question")
        matching = [r for r in ranked if r.relation_score >= self.relation_threshold]
        if not matching and ranked:  # a weaker match still counts when it clearly beats every other predicate
            best_pred, best_score = ranked[0].fact.predicate, ranked[0].relation_score
            others = [r.relation_score for r in ranked if r.fact.predicate != best_pred]
            if best_score >= self.weak_threshold and best_score - max(others, default=0.0) >= self.weak_margin:
                matching = [r for r in ranked if r.fact.predicate == best_pred]
        if not matching:
            return KGResult("none", ranked=tuple(ranked), relation=relation, anchors=names,
                            reason="no fact with a matching relation in the scope")
        best = matching[0].relation_score
        tier = [r for r in matching if r.relation_score >= best - self.tier_margin]
        if event is not None:
            return self._by_event(tier, event, tuple(ranked), relation, names, scope)
        values: dict[str, list[RankedFact]] = {}
        for r in tier:
            values.setdefault(r.answer, []).append(r)
        if len(values) == 1:
            (value, rs), = values.items()
            return KGResult("answer", value, tuple(r.fact for r in rs), tuple(ranked), relation, names,
                            "one value in the scope")
        top = tier[0].fact
        subject_side = any(top.subject == e.entity_id for e in ents)
        if _PLURAL.search(question) and self.multi_valued(top.predicate, subject_side):
            ordered = sorted(values, key=lambda v: min(_ts(_start(r.fact), 0.0) for r in values[v]))
            return KGResult("answer", ", ".join(ordered), tuple(r.fact for v in ordered for r in values[v]),
                            tuple(ranked), relation, names, "all values of a multi-valued relation",
                            multi_valued=True)
        fits = sorted(((max(r.fit for r in rs), v) for v, rs in values.items()), reverse=True)
        if scope is not None and fits[0][0] >= 0.5 and fits[1][0] <= 0.5 * fits[0][0]:
            value = fits[0][1]
            return KGResult("answer", value, tuple(r.fact for r in values[value]), tuple(ranked), relation,
                            names, "one value fits the scope best")
        if scope is not None and scope.bounded and scope.granularity.rank <= Granularity.MONTH.rank:
            # a month (or finer) that several values span: the most recent appointment holds then
            whole = [v for f, v in fits if f >= 0.99] or [v for f, v in fits if f >= 0.5]
            if whole:
                value = max(whole, key=lambda v: max(_ts(_start(r.fact), 0.0) for r in values[v]))
                return KGResult("answer", value, tuple(r.fact for r in values[value]), tuple(ranked), relation,
                                names, f"the latest started of {len(whole)} values that hold in the scope")
        return KGResult("ambiguous", ranked=tuple(ranked), relation=relation, anchors=names,
                        reason=f"{len(values)} values fit the scope")

    def _by_event(self, tier: list[RankedFact], event: EventAnchor, ranked: tuple[RankedFact, ...],
                  relation: str, names: tuple[str, ...], scope: TimeInterval | None) -> KGResult:
        """The fact immediately before / after / during the anchor event's interval."""
        iv = event.interval
        if iv is None:
            return KGResult("ambiguous", ranked=ranked, relation=relation, anchors=names,
                            reason="event anchor unresolved")
        cands = [r for r in tier if r.fact.fact_id != event.fact_id and r.fact.valid is not None
                 and r.fact.valid.start is not None and r.answer.lower() != event.text.lower()]
        pick: RankedFact | None = None
        if event.relation == "before" and iv.start is not None:
            cut = iv.start.timestamp()
            before = [r for r in cands if _start(r.fact).timestamp() < cut]
            pick = max(before, key=lambda r: (_start(r.fact).timestamp(), r.relation_score), default=None)
        elif event.relation == "after":
            edge = iv.start if iv.start is not None else iv.end
            if edge is not None:
                after = [r for r in cands if _start(r.fact).timestamp() > edge.timestamp()]
                pick = min(after, key=lambda r: (_start(r.fact).timestamp(), -r.relation_score), default=None)
        else:
            during = [r for r in cands if r.fact.effective is not None and r.fact.effective.overlaps(iv)]
            values = {r.answer for r in during}
            pick = during[0] if len(values) == 1 else None
        if pick is None:
            return KGResult("ambiguous", ranked=ranked, relation=relation, anchors=names,
                            reason=f"no single fact {event.relation} the event")
        return KGResult("answer", pick.answer, (pick.fact,), ranked, relation, names,
                        f"the fact {event.relation} the event")


def fact_order_key(rank_of: Callable[[Fact], tuple[float, float]]) -> Callable[[Fact], tuple[Any, ...]]:
    """Sort key for facts in the reader's evidence: relevance first, then time, never by id alone."""
    def key(f: Fact) -> tuple[Any, ...]:
        rel, fit = rank_of(f)
        return (-rel, -fit, _ts(_start(f), 0.0), f.fact_id)
    return key
