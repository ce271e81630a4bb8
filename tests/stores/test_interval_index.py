"""IntervalIndex: overlap queries equal TimeInterval.overlaps over every shape of interval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from tgrag.kernel.temporal import TimeInterval
from tgrag.stores.interval_index import IntervalIndex

_BASE = datetime(2000, 1, 1, tzinfo=UTC)
_POINT = st.integers(0, 400).map(lambda d: _BASE + timedelta(days=d))


@st.composite
def intervals(draw: st.DrawFn) -> TimeInterval:
    start, end = draw(st.none() | _POINT), draw(st.none() | _POINT)
    if start is not None and end is not None:
        start, end = min(start, end), max(start, end)
        if start == end:
            end = start + timedelta(microseconds=draw(st.sampled_from([1, 2, 3, 86_400_000_000])))
    return TimeInterval(start, end)


@settings(max_examples=200, deadline=None)
@given(st.lists(intervals(), max_size=40), st.lists(intervals(), min_size=1, max_size=5),
       st.sets(st.integers(0, 39)))
def test_overlapping_equals_the_overlap_rule(stored, scopes, removed) -> None:
    index = IntervalIndex()
    for i, iv in enumerate(stored):
        index.add(f"i{i}", iv)
    for i, iv in enumerate(stored):  # re-adding replaces
        index.add(f"i{i}", iv)
    for i in removed:
        index.remove(f"i{i}")
    index.remove("never-added")
    kept = {f"i{i}": iv for i, iv in enumerate(stored) if i not in removed}
    assert len(index) == len(kept)
    for scope in scopes:
        assert index.overlapping(scope) == {k for k, iv in kept.items() if iv.overlaps(scope)}


def test_replacing_an_interval_moves_the_id() -> None:
    index = IntervalIndex()
    index.add("a", TimeInterval.from_label("2020"))
    index.add("a", TimeInterval.from_label("2022"))
    assert index.overlapping(TimeInterval.from_label("2020")) == set()
    assert index.overlapping(TimeInterval.from_label("2022-05")) == {"a"}
