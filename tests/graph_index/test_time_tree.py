from __future__ import annotations

from graph_index import time_tree as tt
from tgrag.kernel.records import Document, Passage, TimeLevel
from tgrag.kernel.temporal import TimeInterval


def test_month_dated_document_attaches_to_month() -> None:
    doc = Document.make("x", date=TimeInterval.from_label("2024-06"))
    assert tt.passage_leaf(Passage.make(doc, "x", 0)) == "time:2024-06"
    day = Document.make("y", date=TimeInterval.from_label("2024-06-03"))
    assert tt.passage_leaf(Passage.make(day, "y", 0)) == "time:2024-06-03"
    assert tt.node_id_of(TimeInterval.from_label("2024-Q3")) == "time:2024-Q3"
    assert tt.node_id_of(TimeInterval.from_label("1990s")) is None
    assert tt.node_id_of(None) is None


def test_levels_and_ancestors() -> None:
    assert tt.ancestor_ids("time:2024-07-15") == ["time:2024-07", "time:2024-Q3", "time:2024"]
    assert tt.ancestor_ids("time:2024-Q3") == ["time:2024"]
    assert tt.ancestor_ids("time:2024") == []
    node = tt.empty_node(TimeInterval.from_label("2024-07"))
    assert node.level is TimeLevel.MONTH and node.parent_id == "time:2024-Q3"
    assert tt.with_ancestors(["time:2024-07-15", "time:2023-02"]) == {
        "time:2024-07-15", "time:2024-07", "time:2024-Q3", "time:2024",
        "time:2023-02", "time:2023-Q1", "time:2023"}
    assert tt.bottom_up(["time:2024", "time:2024-07", "time:2024-07-15", "time:2024-Q3"]) == [
        "time:2024-07-15", "time:2024-07", "time:2024-Q3", "time:2024"]


def test_range_fact_filed_under_its_start_month() -> None:
    span = TimeInterval(TimeInterval.from_label("2006-01").start, TimeInterval.from_label("2015-01").end,
                        TimeInterval.from_label("2006-01").granularity)
    assert tt.node_id_of(span) == "time:2006-01"
