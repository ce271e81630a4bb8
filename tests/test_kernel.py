"""Kernel: import purity, record round trips, content ids, interval algebra."""

from __future__ import annotations

import ast
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tgrag.kernel import (
    Answer,
    Document,
    Entity,
    Evidence,
    EvidenceKind,
    Fact,
    Granularity,
    Hop,
    LLMRequest,
    Passage,
    TimeError,
    TimeInterval,
    TimeLevel,
    TimeNode,
    TraceStep,
    Usage,
)

KERNEL = Path(__file__).resolve().parents[1] / "tgrag" / "kernel"
ALLOWED_THIRD_PARTY = {"numpy", "dateparser"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


@pytest.mark.parametrize("path", sorted(KERNEL.glob("*.py")), ids=lambda p: p.name)
def test_kernel_imports_nothing_else_of_the_project(path: Path) -> None:
    for mod in _imports(path):
        top = mod.split(".")[0]
        if top == "tgrag":
            assert mod.startswith("tgrag.kernel"), f"{path.name} imports {mod}"
        else:
            assert top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY or top == "__future__", \
                f"{path.name} imports {mod}"


def test_importing_kernel_does_not_load_pipeline() -> None:
    code = ("import sys, tgrag.kernel; bad=[m for m in sys.modules if m.split('.')[0] in "
            "('graph_index','reasoning','experiments','hydra','torch')]; print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def _iv(label: str) -> TimeInterval:
    return TimeInterval.from_label(label)


def test_records_round_trip() -> None:
    doc = Document.make("Acme hired Ann.", date=_iv("2021"), title="Acme")
    p = Passage.make(doc, doc.text, 0)
    e = Entity.make("Acme Inc.", "acme", type="ORG", aliases=("Acme", "Acme Inc."), mentions=(p.passage_id,),
                    forms=[(p.passage_id, "Acme Inc.", "ORG"), (p.passage_id, "Acme", "")])
    f = Fact.make(e.entity_id, "hire", "Ann", object_is_entity=False, valid=_iv("2021-03"),
                  observed_at=doc.date.start, source_passage_id=p.passage_id, doc_id=doc.doc_id, text=doc.text)
    f2 = f.superseded(datetime(2021, 3, 20, tzinfo=UTC), "fact:x")
    node = TimeNode(TimeNode.id_for(_iv("2021-Q1")), TimeLevel.QUARTER, _iv("2021-Q1"), "time:2021", "s",
                    (p.passage_id,), (f.fact_id,))
    hop = Hop.make(p.passage_id, "psg:2", "Who is Ann?", 0.7)
    ev = Evidence(EvidenceKind.PASSAGE, p.passage_id, p.text, 0.5, p.date, doc.doc_id, doc.title)
    ans = Answer("q", "Ann", False, (ev,), _iv("2021"), (TraceStep("read", {"k": 1}, 0.1),),
                 {"total": 1.0}, Usage(1, 10, 2, 0.5, 0), (ev,))
    req = LLMRequest.chat("hi", system="sys", max_tokens=5, stop=("\n",))
    for rec in (doc, p, e, f, f2, node, hop, ev, ans, req):
        assert type(rec).from_dict(rec.to_dict()) == rec


def test_content_ids_are_stable_and_prefixed() -> None:
    a = Document.make("same text", date=_iv("2020"))
    b = Document.make("same text", date=_iv("2020"))
    c = Document.make("same text", date=_iv("2020-01-01"))  # a day is not a year
    assert a.doc_id == b.doc_id and a.doc_id.startswith("doc:")
    assert a.doc_id != c.doc_id


def test_supersede_keeps_fact_id_and_clips_effective_interval() -> None:
    f = Fact.make("ent:a", "ceo of", "ent:b", object_is_entity=True, valid=_iv("2019"), observed_at=None,
                  source_passage_id="psg:1", doc_id="doc:1")
    g = f.superseded(datetime(2019, 7, 1, tzinfo=UTC), "fact:new")
    assert g.fact_id == f.fact_id
    assert g.effective == TimeInterval(datetime(2019, 1, 1, tzinfo=UTC), datetime(2019, 7, 1, tzinfo=UTC),
                                       Granularity.YEAR)
    assert f.superseded(datetime(2018, 1, 1, tzinfo=UTC), "x").effective is None


@pytest.mark.parametrize("label,start,end,gran", [
    ("2021", datetime(2021, 1, 1), datetime(2022, 1, 1), Granularity.YEAR),
    ("2024-Q3", datetime(2024, 7, 1), datetime(2024, 10, 1), Granularity.QUARTER),
    ("2024-02", datetime(2024, 2, 1), datetime(2024, 3, 1), Granularity.MONTH),
    ("2024-02-29", datetime(2024, 2, 29), datetime(2024, 3, 1), Granularity.DAY),
    ("1990s", datetime(1990, 1, 1), datetime(2000, 1, 1), Granularity.DECADE),
])
def test_labels(label: str, start: datetime, end: datetime, gran: Granularity) -> None:
    iv = _iv(label)
    assert (iv.start, iv.end, iv.granularity) == (start.replace(tzinfo=UTC), end.replace(tzinfo=UTC), gran)
    assert iv.label() == label


def test_half_open_and_errors() -> None:
    a, b = _iv("2021"), _iv("2022")
    assert not a.overlaps(b) and not b.overlaps(a)
    assert a.contains(datetime(2021, 12, 31, 23, 59, tzinfo=UTC)) and not a.contains(b.start)
    assert TimeInterval(None, None).overlaps(a)
    with pytest.raises(TimeError):
        TimeInterval(datetime(2021, 1, 2, tzinfo=UTC), datetime(2021, 1, 1, tzinfo=UTC))
    with pytest.raises(TimeError):
        TimeInterval.from_label("21st of never")


_dt = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)).map(lambda d: d.replace(tzinfo=UTC))


@st.composite
def intervals(draw: st.DrawFn) -> TimeInterval:
    a = draw(st.one_of(st.none(), _dt))
    b = draw(st.one_of(st.none(), _dt))
    if a is not None and b is not None:
        if a == b:
            b = a + timedelta(seconds=1)
        a, b = min(a, b), max(a, b)
    return TimeInterval(a, b)


@given(intervals(), intervals())
def test_overlap_is_symmetric_and_matches_intersection(x: TimeInterval, y: TimeInterval) -> None:
    assert x.overlaps(y) == y.overlaps(x)
    inter = x.intersect(y)
    assert (inter is not None) == x.overlaps(y)
    if inter is not None:
        assert x.covers(inter) and y.covers(inter)


@given(intervals(), _dt)
def test_clip_end_never_extends(x: TimeInterval, at: datetime) -> None:
    c = x.clip_end(at)
    if c is not None:
        assert x.covers(c) and (c.end is not None and c.end <= at)


@pytest.mark.parametrize("iv,text", [
    (TimeInterval.from_label("2024-Q3"), "2024-Q3"),
    (TimeInterval(datetime(2006, 1, 1), datetime(2015, 2, 1), Granularity.MONTH), "2006-01 to 2015-01"),
    (TimeInterval(datetime(2021, 5, 1), None, Granularity.MONTH), "since 2021-05"),
    (TimeInterval(None, datetime(2020, 7, 1), Granularity.DAY), "before 2020-07-01"),
    (TimeInterval(datetime(2019, 1, 1), datetime(2021, 1, 1), Granularity.YEAR), "2019 to 2020"),
    (TimeInterval(None, None), "any time"),
])
def test_describe_is_readable_at_granularity(iv: TimeInterval, text: str) -> None:
    assert iv.describe() == text
