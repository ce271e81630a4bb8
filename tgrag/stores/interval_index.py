"""Ids by half-open time interval, answering "which overlap ``[s, e)``?" without a full scan.

Intervals are kept in sorted lists (``bisect``), split by shape:

- bounded ``[a, b)``: one list per *length class* ``c = (b - a).bit_length()`` (microseconds), so
  every interval of class ``c`` is shorter than ``2**c``. An overlap needs ``a < e`` and ``b > s``,
  hence ``s - 2**c < a < e``: a bisect on the starts, and the few intervals of that window that end
  before ``s`` are filtered out. At most ~64 classes exist (in practice a handful: days, months,
  years), so a query costs O(classes · log n + matches);
- open at the end ``[a, ∞)``: overlap iff ``a < e``, a bisect on the starts;
- open at the start ``(-∞, b)``: overlap iff ``b > s``, a bisect on the ends;
- unbounded on both sides: overlaps everything.

The overlap rule is :meth:`TimeInterval.overlaps` exactly (the tests compare the two).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort

from tgrag.kernel.temporal import TimeInterval
from tgrag.stores.fact_rules import dt_to_micros

_OPEN_END, _OPEN_START = -1, -2  # bucket keys of the open shapes; bounded buckets are classes >= 0
_BIG = 1 << 80  # sorts after every second component: bisect_right then skips equal first components


class IntervalIndex:
    """String ids each with one interval; ``overlapping(scope)`` lists the ids whose interval
    overlaps ``scope``. Re-adding an id replaces its interval."""

    def __init__(self) -> None:
        self._buckets: dict[int, list[tuple[int, int, str]]] = {}  # key → sorted (sort key, other end, id)
        self._always: set[str] = set()
        self._where: dict[str, tuple[int, tuple[int, int, str]] | None] = {}  # id → (bucket, entry)

    def __len__(self) -> int:
        return len(self._where)

    def add(self, id_: str, interval: TimeInterval) -> None:
        self.remove(id_)
        a, b = dt_to_micros(interval.start), dt_to_micros(interval.end)
        if a is None and b is None:
            self._always.add(id_)
            self._where[id_] = None
            return
        if b is None:
            key, entry = _OPEN_END, (a, 0, id_)
        elif a is None:
            key, entry = _OPEN_START, (b, 0, id_)
        else:
            key, entry = (b - a).bit_length(), (a, b, id_)
        insort(self._buckets.setdefault(key, []), entry)
        self._where[id_] = (key, entry)

    def remove(self, id_: str) -> None:
        if id_ not in self._where:
            return
        place = self._where.pop(id_)
        if place is None:
            self._always.discard(id_)
            return
        key, entry = place
        bucket = self._buckets[key]
        del bucket[bisect_left(bucket, entry)]
        if not bucket:
            del self._buckets[key]

    def overlapping(self, scope: TimeInterval) -> set[str]:
        s, e = dt_to_micros(scope.start), dt_to_micros(scope.end)
        out = set(self._always)
        for key, bucket in self._buckets.items():
            if key == _OPEN_END:  # [a, ∞) overlaps iff a < e
                hi = len(bucket) if e is None else bisect_left(bucket, (e,))
                out.update(x[2] for x in bucket[:hi])
            elif key == _OPEN_START:  # (-∞, b) overlaps iff s < b
                lo = 0 if s is None else bisect_right(bucket, (s, _BIG))
                out.update(x[2] for x in bucket[lo:])
            else:
                lo = 0 if s is None else bisect_right(bucket, (s - (1 << key), _BIG))
                hi = len(bucket) if e is None else bisect_left(bucket, (e,))
                out.update(x[2] for x in bucket[lo:hi] if s is None or x[1] > s)
        return out
