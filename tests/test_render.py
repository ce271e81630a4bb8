"""Text rendering used by the CLI and the demo."""

from __future__ import annotations

from datetime import UTC, datetime

from tgrag.kernel import Answer, Evidence, EvidenceKind, Fact, TimeInterval, Usage
from tgrag.render import citation_lines, timeline_lines, timings_line


def test_citations_timings_and_timeline() -> None:
    ev = Evidence(EvidenceKind.PASSAGE, "psg:1", "Mara Ellison leads Veltrane.", date=TimeInterval.from_label("2020-06"),
                  doc_id="vr-001", title="Veltrane")
    ans = Answer("q", "Mara Ellison", False, (ev,), timings={"read": 1.5}, usage=Usage(2, 100, 5, 1.5, 1))
    assert citation_lines(ans) == ["  [1] passage vr-001 (2020-06) Veltrane: Mara Ellison leads Veltrane."]
    assert timings_line(ans) == "read 1.50s | LLM calls 2 (1 cached), tokens 100+5"
    f = Fact.make("ent:m", "chief executive of", "ent:v", object_is_entity=True,
                  valid=TimeInterval(datetime(2019, 3, 1), datetime(2022, 7, 1), "month"), observed_at=None,
                  source_passage_id="psg:1", doc_id="vr-001").superseded(datetime(2022, 7, 1, tzinfo=UTC), "fact:n")
    names = {"ent:m": "Mara Ellison", "ent:v": "Veltrane Robotics"}
    [line] = timeline_lines([f], names.__getitem__)
    assert line.strip() == "2019-03 to 2022-06  Mara Ellison — chief executive of — Veltrane Robotics  (superseded 2022-07-01)"
