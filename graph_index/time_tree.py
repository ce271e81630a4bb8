"""The time tree: year → quarter → month → day nodes, only where there is content.

What is filed where (documented rule):

- a **passage** is filed under the period of its date at the date's own granularity — a document
  dated "2024-06" goes to the month node ``time:2024-06``, one dated "2024-06-03" to the day node,
  "2024-Q2" to the quarter node, "2024" to the year node (finer instants are filed under their day);
- a **fact** is filed under the period in which its validity *starts*, at the granularity it was
  stated at (a fact "from Jan, 2006 to Jan, 2015" goes to ``time:2006-01``; "in Q3 2024" to
  ``time:2024-Q3``). Undated facts, facts without a start, and decade/century-grained facts are not
  filed.

A node exists when it or a descendant holds content. Every node's summary is written from its own
content and its children's summaries, so a change to a leaf re-summarises exactly that leaf and its
ancestors.
"""

from __future__ import annotations

from collections.abc import Iterable

from tgrag.kernel.records import Fact, Passage, TimeLevel, TimeNode
from tgrag.kernel.temporal import Granularity, TimeInterval, period_of

_LEVEL_OF = {
    Granularity.INSTANT: TimeLevel.DAY,
    Granularity.DAY: TimeLevel.DAY,
    Granularity.MONTH: TimeLevel.MONTH,
    Granularity.QUARTER: TimeLevel.QUARTER,
    Granularity.YEAR: TimeLevel.YEAR,
}
_GRAN_OF = {TimeLevel.DAY: Granularity.DAY, TimeLevel.MONTH: Granularity.MONTH,
            TimeLevel.QUARTER: Granularity.QUARTER, TimeLevel.YEAR: Granularity.YEAR}
_PARENT_LEVEL = {TimeLevel.DAY: TimeLevel.MONTH, TimeLevel.MONTH: TimeLevel.QUARTER,
                 TimeLevel.QUARTER: TimeLevel.YEAR, TimeLevel.YEAR: None}
LEVEL_DEPTH = {TimeLevel.YEAR: 0, TimeLevel.QUARTER: 1, TimeLevel.MONTH: 2, TimeLevel.DAY: 3}


def node_interval(interval: TimeInterval | None) -> TimeInterval | None:
    """The calendar period (day/month/quarter/year) a dated thing is filed under, or None."""
    if interval is None or interval.start is None:
        return None
    level = _LEVEL_OF.get(interval.granularity)
    if level is None:
        return None
    return period_of(interval.start, _GRAN_OF[level])


def level_of(interval: TimeInterval) -> TimeLevel:
    return _LEVEL_OF[interval.granularity]


def node_id_of(interval: TimeInterval | None) -> str | None:
    iv = node_interval(interval)
    return TimeNode.id_for(iv) if iv is not None else None


def parent_interval(interval: TimeInterval) -> TimeInterval | None:
    parent = _PARENT_LEVEL[level_of(interval)]
    if parent is None or interval.start is None:
        return None
    return period_of(interval.start, _GRAN_OF[parent])


def ancestors(interval: TimeInterval) -> list[TimeInterval]:
    """Strict ancestors, nearest first (day → month, quarter, year)."""
    out = []
    cur = parent_interval(interval)
    while cur is not None:
        out.append(cur)
        cur = parent_interval(cur)
    return out


def ancestor_ids(node_id: str) -> list[str]:
    return [TimeNode.id_for(a) for a in ancestors(interval_of_id(node_id))]


def interval_of_id(node_id: str) -> TimeInterval:
    """``time:2024-Q3`` → its interval (raises TimeError for a malformed id)."""
    return TimeInterval.from_label(node_id.split(":", 1)[1])


def parent_id_of(interval: TimeInterval) -> str | None:
    p = parent_interval(interval)
    return TimeNode.id_for(p) if p is not None else None


def empty_node(interval: TimeInterval) -> TimeNode:
    return TimeNode(TimeNode.id_for(interval), level_of(interval), interval, parent_id_of(interval))


def passage_leaf(passage: Passage) -> str | None:
    return node_id_of(passage.date)


def fact_leaf(fact: Fact) -> str | None:
    return node_id_of(fact.valid)


def with_ancestors(node_ids: Iterable[str]) -> set[str]:
    out: set[str] = set()
    for nid in node_ids:
        out.add(nid)
        out.update(ancestor_ids(nid))
    return out


def bottom_up(node_ids: Iterable[str]) -> list[str]:
    """Node ids ordered deepest level first (days, months, quarters, years), then by id."""
    return sorted(node_ids, key=lambda n: (-LEVEL_DEPTH[level_of(interval_of_id(n))], n))


def label_of(node_id: str) -> str:
    return node_id.split(":", 1)[1]
