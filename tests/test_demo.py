"""`tgrag.demo`: scored with the project's metrics, each question's wall time counted once, and the
run record written (fakes at the model boundary; the real stores, spaCy and the loop underneath)."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tgrag.demo import run_demo, score, score_answer, write_record
from tgrag.facade import TemporalGraphRAG
from tgrag.kernel.records import LLMRequest
from tgrag.testing import HashingEmbedder, ScriptedLLM


def test_score_uses_the_shared_rules() -> None:
    assert score("Mara Ellison", ["Mara Ellison"], False) == {"outcome": "correct", "correct": True,
                                                              "em": 1.0, "f1": 1.0}
    contained = score("It was Mara Ellison, the chief executive of the company then", ["Mara Ellison"], False)
    assert contained["correct"] and contained["em"] == 0.0 and 0 < contained["f1"] < 0.5
    assert score("Tobias Renwick", ["Mara Ellison"], False)["outcome"] == "incorrect"
    assert score("", ["Mara Ellison"], True) == {"outcome": "abstained", "correct": False, "em": 0.0, "f1": 0.0}
    assert score("", [], True)["outcome"] == "correct" and score("2012", [], False)["outcome"] == "incorrect"
    assert score_answer("mara ellison.", ["Mara Ellison"], False) == (True, 1.0)


def _slow_reader(req: LLMRequest) -> str | None:
    """Every call takes 50 ms; reader prompts get the June-2020 CEO right and abstain otherwise."""
    time.sleep(0.05)
    prompt = req.messages[-1].content
    if "Evidence:" not in prompt:
        return None
    if "June 2020" in prompt:
        return "Answer: Mara Ellison\nCitations: [1]"
    return "Answer: unknown\nCitations: none"


class SlowQueryEmbedder(HashingEmbedder):
    """Each query embedding takes 20 ms, so answering time is dominated by work inside ``query``."""

    def encode(self, texts: Sequence[str], *, kind: str = "passage") -> np.ndarray:
        if kind == "query":
            time.sleep(0.02)
        return super().encode(texts, kind=kind)


@pytest.fixture(scope="module")
def run() -> Iterator[tuple[dict, list[float]]]:
    """The demo on 10 questions, with the wall time of every ``query`` call measured around it."""
    walls: list[float] = []
    real_query = TemporalGraphRAG.query

    def timed_query(self: TemporalGraphRAG, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return real_query(self, *args, **kwargs)
        finally:
            walls.append(time.perf_counter() - t0)

    llm = ScriptedLLM([_slow_reader], default='{"subquestions": []}')
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        mp.setattr(TemporalGraphRAG, "query", timed_query)
        yield run_demo(Path(tmp) / "idx", limit=10, llm=llm, embedder=SlowQueryEmbedder()), walls


@pytest.fixture(scope="module")
def summary(run: tuple[dict, list[float]]) -> dict:
    return run[0]


def test_each_question_is_timed_once(run: tuple[dict, list[float]]) -> None:
    summary, walls = run
    per_q = summary["per_question"]
    assert len(per_q) == summary["questions"] == len(walls) == 10
    assert summary["llm_calls"] == sum(q["llm_calls"] for q in per_q)
    # a question's seconds are its wall time, not the sum of its stage timings (which include their
    # own total: summing them about doubles the time)
    for q, wall in zip(per_q, walls):
        assert wall <= q["seconds"] <= wall + 0.01, q["id"]
        assert q["seconds"] >= 0.05 * q["llm_calls"]
    assert sum(q["seconds"] for q in per_q) <= summary["answer_seconds"]
    assert summary["answer_seconds"] + summary["index_seconds"] <= summary["wall_seconds"]


def test_summary_is_the_count_of_scored_answers(summary: dict) -> None:
    per_q = summary["per_question"]
    q01 = next(q for q in per_q if q["id"] == "demo-q01")
    assert q01["gold"] == ["Mara Ellison"]
    assert q01["correct"] == score(q01["answer"], q01["gold"], q01["abstained"])["correct"]
    assert summary["correct"] == sum(q["correct"] for q in per_q)
    assert summary["accuracy"] == pytest.approx(summary["correct"] / 10)
    answerable = [q for q in per_q if q["answerable"]]
    assert summary["f1"] == pytest.approx(sum(q["f1"] for q in answerable) / len(answerable))
    assert summary["reader"] == "scripted" and summary["embedder"] == "hashing-256"


def test_record_names_commit_load_and_reader(summary: dict, tmp_path: Path) -> None:
    out = tmp_path / "results" / "demo.json"
    write_record(summary, out, command="python -m tgrag.demo --limit 3")
    rec = json.loads(out.read_text())
    assert rec["command"] == "python -m tgrag.demo --limit 3"
    assert rec["commit"] and len(rec["machine"]["load_average_1_5_15_at_start"]) == 3
    assert {"correct", "questions", "wall_seconds", "llm_calls", "reader", "date"} <= rec.keys()
