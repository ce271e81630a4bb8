"""bench/answers.py keeps the methods a re-run does not ask; bench/kg_path.py's KG-only count."""

from __future__ import annotations

from types import SimpleNamespace

from tests.bench_scripts import load_bench

answers = load_bench("answers")
kg_path = load_bench("kg_path")


def test_a_rerun_of_one_method_keeps_the_other_methods_rows_and_says_where_they_came_from() -> None:
    old = {"machine": {"commit": "old"}, "llm": "qwen-1.5b",
           "datasets": {"hotpotqa": {"summary": {"loop": {"em": 30.0}, "dense_read": {"em": 36.0}},
                                     "questions": {"loop": [{"id": "q1", "em": 0.0}],
                                                   "dense_read": [{"id": "q1", "em": 1.0}]}}}}
    entry = {"machine": {"commit": "new"}, "summary": {"loop": {"em": 40.0}},
             "questions": {"loop": [{"id": "q1", "em": 1.0}]}}
    answers.keep_other_methods(entry, old, "hotpotqa", {"loop"})
    assert entry["questions"]["loop"] == [{"id": "q1", "em": 1.0}]  # this run's rows win
    assert entry["questions"]["dense_read"] == [{"id": "q1", "em": 1.0}]
    assert entry["summary"] == {"loop": {"em": 40.0}, "dense_read": {"em": 36.0}}
    assert entry["kept_from_earlier_run"] == {"dense_read": {"machine": {"commit": "old"}, "llm": "qwen-1.5b"}}
    # kept again by a later re-run: the origin stays the first run's, not the run that kept it
    again = {"machine": {"commit": "newer"}, "summary": {"loop": {}}, "questions": {"loop": []}}
    answers.keep_other_methods(again, {"datasets": {"hotpotqa": entry}}, "hotpotqa", {"loop"})
    assert again["kept_from_earlier_run"]["dense_read"]["machine"] == {"commit": "old"}
    fresh = {"summary": {}, "questions": {}}
    answers.keep_other_methods(fresh, old, "musique", {"loop"})  # a set the old file lacks
    assert "kept_from_earlier_run" not in fresh and fresh["questions"] == {}


def _ans(text: str, paths: list[str], abstained: bool = False, *, scope: str | None = None,
         valid: str | None = None) -> SimpleNamespace:
    kg = {"facts": ["fact:1"], "ranked": [{"fact_id": "fact:1", "valid": valid}, {"fact_id": "fact:2", "valid": "x"}]}
    trace = [SimpleNamespace(stage="scope", data={"interval": scope}), SimpleNamespace(stage="kg", data=kg),
             *[SimpleNamespace(stage="answer", data={"path": p}) for p in paths]]
    return SimpleNamespace(text=text, abstained=abstained, trace=trace)


def test_only_a_call_free_kg_answer_counts_as_answered_from_the_kg() -> None:
    assert kg_path.kg_row(_ans("Harrowgate", ["kg"]), 0, ["Harrowgate"]) == {
        "kg_only": True, "prediction": "Harrowgate", "em": 1.0, "scoped": False, "dated": False}
    dated = kg_path.kg_row(_ans("Harrowgate", ["kg"], scope="[2020, 2021)", valid="[2019, )"), 0, ["Harrowgate"])
    assert dated["scoped"] and dated["dated"]
    assert kg_path.kg_row(_ans("Oslo", ["kg"]), 0, ["Harrowgate"])["em"] == 0.0
    assert not kg_path.kg_row(_ans("Harrowgate", ["kg"]), 1, ["Harrowgate"])["kg_only"]  # the reader was asked
    assert not kg_path.kg_row(_ans("Harrowgate", ["reader"]), 0, ["Harrowgate"])["kg_only"]
    assert not kg_path.kg_row(_ans("", ["kg"], abstained=True), 0, ["Harrowgate"])["kg_only"]
    rows = [{"kg_only": True, "em": 1.0, "scoped": True, "dated": True}, {"kg_only": True, "em": 0.0},
            {"kg_only": False, "em": None}]
    assert kg_path.part_summary(rows) == {
        "questions": 3, "kg_answers": 2, "kg_em": 50.0, "kg_correct": 1,
        "by_kind": {"scoped, dated facts": {"kg_answers": 1, "kg_correct": 1, "kg_em": 100.0},
                    "other": {"kg_answers": 1, "kg_correct": 0, "kg_em": 0.0}}}
    assert kg_path.part_summary(rows[2:])["kg_em"] is None
