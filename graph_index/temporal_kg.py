"""Temporal knowledge-graph rules: which relations are single-valued, the supersede rule, queries.

**Single-valued relations** (one value at a time) come in two kinds, keyed differently:

- *subject-keyed* — a subject has one value at a time: numeric reports (``revenue``, ``net
  income``, … — one value per subject per period). Key: ``(subject, predicate)``. ``play for`` is
  deliberately *not* single-valued (a player is with a club and a national team at once), nor is
  ``member of`` (people join several bodies).
- *holder-keyed roles* — an office has one holder at a time: ``chair of``, ``head of``, ``head
  coach of``, ``chief executive officer of``, ``president of``, ``mayor of``, ``prime minister
  of``, … (see :func:`is_holder_role`). Key: ``(object, predicate)``; a person may still hold
  several different offices.

Everything else (``work for``, ``member of``, ``acquire``, ``attend``, …) is multi-valued and never
supersedes anything.

**Supersede rule** (:func:`supersede`): within one key, facts are ordered by valid start; a fact
``f`` is closed at the start of the *next* fact ``g`` (earliest start strictly after ``f``'s start,
different value, starting before ``f``'s stated end) — ``invalid_at = g.valid.start``,
``superseded_by = g.fact_id``. Because closure is recomputed from the whole group, the result does
not depend on insertion order, applying it twice changes nothing, and deleting ``g`` (then
recomputing) re-opens ``f``. Facts of other keys are never touched; undated facts never take part.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from tgrag.kernel.protocols import GraphStore
from tgrag.kernel.records import Fact
from tgrag.kernel.temporal import TimeInterval

_HOLDER_ROLE = re.compile(
    r"^(?:chair|chairman|chairwoman|chairperson|head|head coach|coach|manager|chief executive officer|"
    r"chief executive|ceo|chief financial officer|cfo|chief operating officer|coo|president|"
    r"prime minister|mayor|governor|premier|chancellor|leader|director general|secretary general|"
    r"general secretary|speaker|head of government|head of state|head of the government|"
    r"monarch|king|queen|pope|rector|vice chancellor|principal|headmaster|editor|editor in chief|"
    r"commissioner|chief justice|first minister)(?: of)$"
)
SUBJECT_KEYED: frozenset[str] = frozenset()
METRIC_PREDICATES = frozenset({
    "revenue", "net revenue", "total revenue", "sale", "net sale", "net income", "income",
    "operating income", "profit", "net profit", "gross profit", "earning", "earnings per share",
    "eps", "gross margin", "operating margin", "margin", "ebitda", "adjusted ebitda", "free cash flow",
    "cash flow", "operating cash flow", "dividend", "guidance", "backlog", "loss", "net loss",
    "share price", "market share", "headcount", "subscriber", "customer", "user", "store", "order",
})


def is_holder_role(predicate: str) -> bool:
    """True for "<unique office> of" predicates (one holder of the office at a time)."""
    return _HOLDER_ROLE.match(predicate) is not None


def is_metric(predicate: str) -> bool:
    return predicate in METRIC_PREDICATES


def default_single_valued(predicate: str) -> bool:
    return predicate in SUBJECT_KEYED or is_metric(predicate) or is_holder_role(predicate)


def supersede_key(fact: Fact) -> tuple[str, str, str] | None:
    """The group a fact competes in, or None when its predicate is multi-valued."""
    if is_holder_role(fact.predicate):
        return ("object", fact.object, fact.predicate)
    if fact.predicate in SUBJECT_KEYED or is_metric(fact.predicate):
        return ("subject", fact.subject, fact.predicate)
    return None


def _value(fact: Fact, by_object: bool) -> str:
    return fact.subject if by_object else fact.object


def _close_group(group: Sequence[Fact], by_object: bool) -> list[Fact]:
    """Recompute invalid_at/superseded_by of one key's facts from scratch (order-independent)."""
    dated = sorted((f for f in group if f.valid is not None and f.valid.start is not None),
                   key=lambda f: (f.valid.start, f.fact_id))  # type: ignore[union-attr]
    closing: dict[str, tuple[datetime, str]] = {}
    starts: list[datetime] = [f.valid.start for f in dated]  # type: ignore[union-attr,misc]
    for i, f in enumerate(dated):
        fs, end = starts[i], f.valid.end  # type: ignore[union-attr]
        for j in range(i + 1, len(dated)):
            g, gs = dated[j], starts[j]
            if gs <= fs:
                continue
            if end is not None and gs >= end:
                break
            if _value(g, by_object) != _value(f, by_object):
                closing[f.fact_id] = (gs, g.fact_id)
                break
    out = []
    for f in group:
        at, by = closing.get(f.fact_id, (None, None))
        out.append(f if (f.invalid_at, f.superseded_by) == (at, by) else f.superseded(at, by))
    return out


def supersede(existing: Sequence[Fact], new: Sequence[Fact], *,
              single_valued: Callable[[str], bool] = default_single_valued) -> list[Fact]:
    """Apply the supersede rule; returns every input fact (existing then new, deduplicated by id)
    with ``invalid_at``/``superseded_by`` recomputed for the single-valued groups that ``new``
    touches. Facts outside those groups are returned unchanged.
    """
    merged: dict[str, Fact] = {}
    for f in (*existing, *new):
        merged[f.fact_id] = f
    touched: set[tuple[str, str, str]] = set()
    for f in new:
        key = supersede_key(f) if single_valued(f.predicate) else None
        if key is not None:
            touched.add(key)
    groups: dict[tuple[str, str, str], list[Fact]] = defaultdict(list)
    for f in merged.values():
        key = supersede_key(f) if single_valued(f.predicate) else None
        if key in touched:
            groups[key].append(f)  # type: ignore[index]
    for key, group in groups.items():
        for f in _close_group(group, by_object=key[0] == "object"):
            merged[f.fact_id] = f
    return list(merged.values())


def reopen(remaining: Sequence[Fact], removed: Sequence[Fact], *,
           single_valued: Callable[[str], bool] = default_single_valued) -> list[Fact]:
    """After ``removed`` leave the graph: recompute the groups they were in over ``remaining``.

    Returns the facts of ``remaining`` whose closure changed (re-opened or closed by another fact).
    """
    keys = {supersede_key(f) for f in removed if single_valued(f.predicate)} - {None}
    changed: list[Fact] = []
    groups: dict[tuple[str, str, str], list[Fact]] = defaultdict(list)
    for f in remaining:
        key = supersede_key(f) if single_valued(f.predicate) else None
        if key in keys:
            groups[key].append(f)  # type: ignore[index]
    for key, group in groups.items():
        before = {f.fact_id: f for f in group}
        for f in _close_group(group, by_object=key[0] == "object"):
            if f != before[f.fact_id]:
                changed.append(f)
    return changed


def group_members(graph: GraphStore, keys: Iterable[tuple[str, str, str]]) -> list[Fact]:
    """All stored facts of the given supersede groups."""
    out: dict[str, Fact] = {}
    for side, ent, pred in keys:
        found = graph.facts(object=ent, predicate=pred) if side == "object" \
            else graph.facts(subject=ent, predicate=pred)
        for f in found:
            out[f.fact_id] = f
    return list(out.values())


# -- queries ------------------------------------------------------------------------------------
def facts_about(graph: GraphStore, entity_id: str, during: TimeInterval | None = None) -> list[Fact]:
    """Facts with ``entity_id`` as subject or (entity) object, valid during ``during``; by time."""
    out = {f.fact_id: f for f in graph.facts(subject=entity_id, during=during)}
    out.update((f.fact_id, f) for f in graph.facts(object=entity_id, during=during))
    return sorted(out.values(), key=_time_key)


def timeline(graph: GraphStore, entity_id: str) -> list[Fact]:
    """Every fact about the entity ordered by valid start (undated last), then id."""
    return facts_about(graph, entity_id)


def neighbours(graph: GraphStore, entity_id: str, *, depth: int = 1,
               during: TimeInterval | None = None) -> list[Fact]:
    """Time-filtered neighbourhood (delegates to the store's implementation)."""
    return graph.neighbours(entity_id, depth=depth, during=during)


def _time_key(f: Fact) -> tuple[int, datetime | None, str]:
    start = f.valid.start if f.valid is not None else None
    if start is None:
        return (1, None, f.fact_id)
    return (0, start, f.fact_id)  # type: ignore[return-value]
