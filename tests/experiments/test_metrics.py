"""Metrics against hand-computed expectations."""

from __future__ import annotations

import pytest

from experiments.datasets import QAExample
from experiments.metrics import (
    answer_metrics,
    best_em_f1,
    cost_metrics,
    evaluate,
    exact_match,
    f1_score,
    normalize_answer,
    retrieval_metrics,
    temporal_metrics,
)
from experiments.records import Prediction
from tgrag.kernel.records import Usage


def ex(qid: str, answers: tuple[str, ...] = ("x",), supporting: tuple[str, ...] = (), *, unanswerable: bool = False,
       qtype: str = "t", hops: int = 2) -> QAExample:
    return QAExample(qid, f"q {qid}?", answers, supporting, qtype=qtype, hops=hops, unanswerable=unanswerable)


def pr(qid: str, answer: str | None = None, retrieved: tuple[str, ...] = (), *, abstained: bool = False,
       usage: Usage | None = None, seconds: float = 0.0) -> Prediction:
    return Prediction(qid, "m", answer, abstained, retrieved, usage=usage or Usage(), seconds=seconds)


def test_normalisation_is_squad_style() -> None:
    assert normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert normalize_answer("An apple, a pear and THE plum.") == "apple pear and plum"


def test_em_and_f1_hand_computed() -> None:
    assert exact_match("the Rush", "Rush") == 1.0
    # pred tokens: [new, york, city], gold: [new, york] -> P = 2/3, R = 1, F1 = 0.8
    f1, p, r = f1_score("New York City", "new york")
    assert (round(f1, 6), round(p, 6), r) == (0.8, round(2 / 3, 6), 1.0)
    assert f1_score("yes", "no")[0] == 0.0
    assert f1_score("no", "no")[0] == 1.0
    assert best_em_f1("Spurs", ["Tottenham", "spurs"]) == (1.0, 1.0)


def test_answer_metrics_skip_retrieval_only_and_unanswerable() -> None:
    exs = [ex("a", ("Paris",)), ex("b", ("Marie Curie",)), ex("c", unanswerable=True), ex("d")]
    preds = [pr("a", "paris"), pr("b", "Curie"), pr("c", "something"), pr("d", None)]
    summary, items = answer_metrics(exs, preds)
    # a: EM 1, F1 1; b: EM 0, F1 = 2*(1*0.5)/(1.5) = 2/3
    assert summary["n"] == 2
    assert summary["em"] == pytest.approx(0.5)
    assert summary["f1"] == pytest.approx((1 + 2 / 3) / 2)
    assert summary["token_recall"] == pytest.approx((1 + 1 / 2) / 2)  # "curie" is 1 of 2 gold tokens
    assert [i["id"] for i in items] == ["a", "b"]


def test_abstaining_on_answerable_scores_zero() -> None:
    summary, _ = answer_metrics([ex("a", ("Paris",))], [pr("a", "", abstained=True)])
    assert summary["em"] == 0.0 and summary["f1"] == 0.0


def test_recall_and_precision_at_k() -> None:
    exs = [ex("a", supporting=("d1", "d2")), ex("b", supporting=("d9",)), ex("c", supporting=())]
    preds = [pr("a", retrieved=("d3", "d1", "d4", "d2")), pr("b", retrieved=("d1",)), pr("c", retrieved=("d1",))]
    summary, items = retrieval_metrics(exs, preds, ks=(1, 2, 4))
    # a: R@1 0, R@2 .5, R@4 1; P@2 = 1/2, P@4 = 2/4. b: all 0. c: no gold, left out of the means
    assert summary["n"] == 2
    assert summary["recall@1"] == 0.0
    assert summary["recall@2"] == pytest.approx(0.25)
    assert summary["recall@4"] == pytest.approx(0.5)
    assert items[0]["precision@2"] == pytest.approx(0.5)
    assert items[0]["precision@4"] == pytest.approx(0.5)
    assert items[0]["all_found@max"] == 1.0 and items[1]["all_found@max"] == 0.0


def test_temporal_split_counts_abstention_on_unanswerable_as_correct() -> None:
    exs = [ex("u1", ("unanswerable",), unanswerable=True), ex("u2", ("unanswerable",), unanswerable=True),
           ex("a1", ("9.6%, 9.9%",)), ex("a2", ("Crocs, Inc.",)), ex("a3", ("42",))]
    preds = [pr("u1", "", abstained=True), pr("u2", "12%"), pr("a1", "The margins were 9.6%, 9.9%"),
             pr("a2", "", abstained=True), pr("a3", "17")]
    summary, items = temporal_metrics(exs, preds)
    outcomes = {i["id"]: i["outcome"] for i in items}
    assert outcomes == {"u1": "correct", "u2": "incorrect", "a1": "correct", "a2": "abstained", "a3": "incorrect"}
    assert (summary["correct"], summary["abstained"], summary["incorrect"]) == (2, 1, 2)
    assert summary["accuracy"] == pytest.approx(0.4)
    assert summary["unanswerable_abstain_rate"] == pytest.approx(0.5)
    assert summary["answerable_accuracy"] == pytest.approx(1 / 3)


def test_cost_totals_and_cached_calls() -> None:
    preds = [pr("a", "x", usage=Usage(2, 100, 10, 1.5, 1), seconds=2.0),
             pr("b", "y", usage=Usage(1, 50, 5, 0.5, 1), seconds=4.0)]
    summary, items = cost_metrics(preds, index_seconds=7.0, index_usage=Usage(3, 30, 3, 0.3, 0))
    assert summary["query"]["calls"] == 3
    assert summary["query"]["prompt_tokens"] == 150
    assert summary["query"]["tokens_per_query"] == pytest.approx(82.5)
    assert summary["query"]["seconds_per_query"]["mean"] == pytest.approx(3.0)
    assert summary["index"]["seconds"] == 7.0 and summary["index"]["calls"] == 3
    assert summary["llm_cached_calls"] == 2 and summary["llm_calls"] == 6
    assert len(items) == 2


def test_evaluate_breaks_down_by_type_and_hops() -> None:
    exs = [ex("a", ("x",), ("d1",), qtype="bridge", hops=2), ex("b", ("y",), ("d2",), qtype="comparison", hops=3)]
    preds = [pr("a", "x", ("d1",)), pr("b", "z", ("d3",))]
    summary, _ = evaluate(exs, preds, ks=(1,))
    assert summary["by_type"]["f1"] == {"bridge": 1.0, "comparison": 0.0}
    assert summary["by_hops"]["recall@1"] == {"2": 1.0, "3": 0.0}
