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


def test_summary_vector_cache_round_trip_reembeds_nothing(tmp_path) -> None:  # noqa: ANN001
    from graph_index.summarise import CentralitySummariser
    from tgrag.testing import HashingEmbedder

    class Counting(HashingEmbedder):
        calls = 0

        def encode(self, texts, *, kind="passage"):  # noqa: ANN001, ANN201
            Counting.calls += len(texts)
            return super().encode(texts, kind=kind)

    node = tt.empty_node(TimeInterval.from_label("2024-07"))
    texts = [f"Acme reported figure {i} for the month. Beta answered with number {i}." for i in range(12)]
    first = CentralitySummariser(Counting(), max_sentences=3)
    want = first.summarise(node, texts, [])
    assert first.save_cache(tmp_path / "vec.npz") == 24
    Counting.calls = 0
    second = CentralitySummariser(Counting(), max_sentences=3)
    assert second.load_cache(tmp_path / "vec.npz") == 24
    assert second.summarise(node, texts, []) == want and Counting.calls == 0
