"""Date intervals of indexed vectors as int64 microseconds, and the time-scope test on them.

Every vector index stores, per id, the date interval of what it embeds (a passage's date), so a
time scope is applied inside the index (a FAISS id selector, a Milvus filter expression) with the
rule of :func:`reasoning.retrievers.in_scope`: a dated id matches when its half-open interval
overlaps the scope; an undated one matches when ``keep_undated``. Open bounds are stored as
sentinels beyond any real date (``datetime`` spans years 1..9999, about ±2.5e17 µs).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

from tgrag.kernel.errors import InputError
from tgrag.kernel.temporal import TimeInterval

OPEN_START = -(2**62)  # an interval with no start
OPEN_END = 2**62  # an interval with no end
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(dt: datetime) -> int:
    """Microseconds since 1970-01-01 UTC (exact, for any aware or naive-UTC datetime)."""
    aware = dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)
    delta = aware - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def encode(interval: TimeInterval | None) -> tuple[int, int] | None:
    """(start, end) in microseconds with open bounds as sentinels; None for undated."""
    if interval is None:
        return None
    return (OPEN_START if interval.start is None else micros(interval.start),
            OPEN_END if interval.end is None else micros(interval.end))


def check_intervals(intervals: Sequence[TimeInterval | None] | None, n: int) -> list[TimeInterval | None]:
    """``intervals`` of an ``add`` of ``n`` ids, checked (None: all undated)."""
    if intervals is None:
        return [None] * n
    out = list(intervals)
    if len(out) != n:
        raise InputError(f"{len(out)} intervals for {n} ids")
    for iv in out:
        if iv is not None and not isinstance(iv, TimeInterval):
            raise InputError(f"intervals must be TimeInterval or None, got {iv!r}")
    return out


def scope_mask(starts: np.ndarray, ends: np.ndarray, dated: np.ndarray, scope: TimeInterval,
               keep_undated: bool) -> np.ndarray:
    """Boolean mask over encoded intervals: which rows ``scope`` admits."""
    s, e = encode(scope) or (OPEN_START, OPEN_END)
    hit = dated & (starts < e) & (ends > s)
    return hit | ~dated if keep_undated else hit


def scope_expression(scope: TimeInterval, keep_undated: bool, *, start: str = "start", end: str = "end") -> str:
    """The same test as a Milvus boolean expression over nullable int64 fields (null: undated)."""
    s, e = encode(scope) or (OPEN_START, OPEN_END)
    dated = f"({start} is not null and {start} < {e} and {end} > {s})"
    return f"({dated} or {start} is null)" if keep_undated else dated
