"""Dataset loading: the shared JSONL format, the demo set, sampling and time slicing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments.datasets import load_dataset, load_demo, sample, split_label_docs
from tgrag.kernel.errors import InputError
from tgrag.kernel.temporal import TimeInterval


def write_set(root: Path, questions: list[dict], corpus: list[dict]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "questions.jsonl").write_text("\n".join(json.dumps(q) for q in questions) + "\n")
    (root / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in corpus) + "\n")
    return root


QUESTIONS = [
    {"id": "q1", "question": "Margin in 2024-q1?", "answers": ["9.6%"], "supporting": ["c-2024-q1"],
     "question_date": None, "time_scope": ["2024-q1"], "type": "single-time query",
     "meta": {"split": "local_new", "reasoning_type": "enumeration", "num_hops": 1}},
    {"id": "q2", "question": "Margin before 2018?", "answers": ["unanswerable"], "supporting": [],
     "question_date": None, "time_scope": [], "type": "relative-time query",
     "meta": {"split": "local_base", "reasoning_type": "unanswerable|out-of-scope", "num_hops": 0}},
    {"id": "q3", "question": "Which quarters?", "answers": ["Q1 and Q4"], "supporting": ["c-2024-q1", "c-2024-q4"],
     "question_date": "2025/01/15", "time_scope": ["2024-q1", "2024-q4"], "type": "multi-time query",
     "meta": {"split": "local_new"}},
]
CORPUS = [{"id": f"c-2024-q{q}", "title": f"call Q{q}", "text": f"Margin was {q}%.", "timestamp": f"2024-q{q}",
           "date": f"2024-0{q * 2}-10"} for q in (1, 2, 3, 4)]


def test_shared_format_fields(tmp_path: Path) -> None:
    ds = load_dataset(write_set(tmp_path / "ect", QUESTIONS, CORPUS), date_field="timestamp")
    q1, q2, q3 = ds.questions
    assert ds.name == "ect" and len(ds.documents) == 4
    assert q1.time_scope == TimeInterval.from_label("2024-Q1") and q1.hops == 1 and not q1.unanswerable
    assert q2.unanswerable and q2.time_scope is None
    hull = q3.time_scope
    assert hull is not None and hull.start == TimeInterval.from_label("2024-Q1").start
    assert hull.end == TimeInterval.from_label("2024-Q4").end
    assert q3.question_date == TimeInterval.from_label("2025-01-15")
    doc = ds.documents[0]
    assert doc.date == TimeInterval.from_label("2024-Q1")  # fiscal quarter, not the call date
    assert doc.meta["alt_dates"] == {"date": "2024-02-10"}


def test_default_date_field_uses_the_call_date(tmp_path: Path) -> None:
    ds = load_dataset(write_set(tmp_path / "ect", QUESTIONS, CORPUS))
    assert ds.documents[0].date == TimeInterval.from_label("2024-02-10")


def test_filters_slices_and_seeded_sampling(tmp_path: Path) -> None:
    root = write_set(tmp_path / "ect", QUESTIONS, CORPUS)
    ds = load_dataset(root, date_field="timestamp", question_filter={"split": "local_new"},
                      corpus_slice=["2024-Q1", "2024-Q3"])
    assert [q.qid for q in ds.questions] == ["q1", "q3"]
    assert [d.doc_id for d in ds.documents] == ["c-2024-q1", "c-2024-q3"]
    a = load_dataset(root, limit=2, seed=7).questions
    b = load_dataset(root, limit=2, seed=7).questions
    assert a == b and len(a) == 2
    items = list(range(100))
    assert sample(items, 10, 1) == sample(items, 10, 1) != sample(items, 10, 2)  # type: ignore[arg-type]
    assert split_label_docs(ds.documents, ["2024-Q3"]) == ([ds.documents[1]], [ds.documents[0]])


def test_errors_name_file_and_line(tmp_path: Path) -> None:
    bad = [QUESTIONS[0], {"id": "q9", "question": "x", "answers": "y", "time_scope": ["not a time"]}]
    root = write_set(tmp_path / "bad", bad, CORPUS)
    with pytest.raises(InputError, match=r"questions.jsonl:2.*time_scope"):
        load_dataset(root)
    with pytest.raises(InputError, match="missing date field 'published'"):
        load_dataset(write_set(tmp_path / "ok", QUESTIONS, CORPUS), date_field="published")


def test_demo_set_loads() -> None:
    ds = load_demo()
    assert len(ds.questions) == 18 and len(ds.documents) == 44
    by_id = {q.qid: q for q in ds.questions}
    assert by_id["demo-q17"].unanswerable and not by_id["demo-q01"].unanswerable
    assert by_id["demo-q09"].time_scope is not None and by_id["demo-q09"].time_scope.start is None
    assert by_id["demo-q15"].time_scope is not None and by_id["demo-q15"].time_scope.bounded


def test_balanced_sampling_takes_half_unanswerable(tmp_path: Path) -> None:
    qs = [{**QUESTIONS[0], "id": f"a{i}"} for i in range(6)] + [{**QUESTIONS[1], "id": f"u{i}"} for i in range(10)]
    ds = load_dataset(write_set(tmp_path / "b", qs, CORPUS), limit=4, seed=3, balance_unanswerable=True)
    assert sum(q.unanswerable for q in ds.questions) == 2 and len(ds.questions) == 4
    ds = load_dataset(write_set(tmp_path / "c", qs[:1] + qs[6:], CORPUS), limit=4, balance_unanswerable=True)
    assert sum(q.unanswerable for q in ds.questions) == 3  # only one answerable question exists


def test_empty_gold_answer_marks_a_question_unanswerable() -> None:
    """TimeQA writes ``answers: [""]`` where the entity held no value in the asked period."""
    from experiments.datasets import example_from_row
    timeqa = example_from_row({"id": "t1", "question": "Rainier Brewing Company had headquarters where from 1921 to 1927?",
                               "answers": [""], "supporting": []})
    answered = example_from_row({"id": "t2", "question": "Who?", "answers": ["", "Cairo"]})
    assert timeqa.unanswerable and not answered.unanswerable
