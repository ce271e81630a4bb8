"""Evaluation metrics. Each metric returns ``(summary, per_item)`` (FlashRAG's shape).

- answer quality: EM and F1 with the SQuAD / HotpotQA normalisation (lower-case, strip punctuation
  and articles, collapse whitespace; yes/no/noanswer must match exactly for F1);
- retrieval: supporting-document Recall@k and Precision@k over the ranked, de-duplicated document
  ids a method retrieved;
- temporal: accuracy and the correct / abstained / incorrect split, where a question the set marks
  unanswerable is correct only when the system abstains;
- cost: LLM calls, prompt/completion tokens, cached calls, seconds per query and per stage.

Questions without gold evidence are left out of the retrieval averages (and counted in ``n``), and
retrieval-only predictions (``answer is None``) are left out of the answer averages.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from statistics import mean, median
from typing import Any

from experiments.datasets import QAExample
from experiments.records import Prediction
from tgrag.kernel.records import Usage
from tgrag.scoring import (
    answer_matches,
    answer_outcome,
    best_em_f1,
    best_token_recall,
    exact_match,
    f1_score,
    normalize_answer,
)

# the per-answer scores live in tgrag.scoring (the demo uses them too); re-exported here
__all__ = ["OUTCOME_NOTE", "answer_correct", "answer_metrics", "best_em_f1", "best_token_recall", "breakdown", "cost_metrics",
           "evaluate", "exact_match", "f1_score", "normalize_answer", "retrieval_metrics", "temporal_metrics"]

Summary = dict[str, Any]
PerItem = list[dict[str, Any]]

OUTCOME_NOTE = ("*abstained* counts answerable questions the system abstained on; a question scored as "
                "unanswerable counts as *correct* when the system abstains and *incorrect* when it answers.")


def _pairs(examples: Sequence[QAExample], predictions: Sequence[Prediction]
           ) -> list[tuple[QAExample, Prediction]]:
    by_id = {p.qid: p for p in predictions}
    return [(ex, by_id[ex.qid]) for ex in examples if ex.qid in by_id]


def answer_metrics(examples: Sequence[QAExample], predictions: Sequence[Prediction]) -> tuple[Summary, PerItem]:
    """EM / F1 on answerable questions that got an answer (abstaining scores 0)."""
    items: PerItem = []
    for ex, pr in _pairs(examples, predictions):
        if pr.answer is None or ex.unanswerable:
            continue
        em, f1 = (0.0, 0.0) if pr.abstained else best_em_f1(pr.answer, ex.answers)
        recall = 0.0 if pr.abstained else best_token_recall(pr.answer, ex.answers)
        items.append({"id": ex.qid, "em": em, "f1": f1, "token_recall": recall, "type": ex.qtype, "hops": ex.hops})
    summary: Summary = {"n": len(items)}
    if items:
        summary["em"] = mean(i["em"] for i in items)
        summary["f1"] = mean(i["f1"] for i in items)
        summary["token_recall"] = mean(i["token_recall"] for i in items)
    return summary, items


def retrieval_metrics(examples: Sequence[QAExample], predictions: Sequence[Prediction],
                      ks: Sequence[int] = (1, 2, 5, 10)) -> tuple[Summary, PerItem]:
    """Recall@k = |supporting ∩ top-k| / |supporting|; Precision@k = |supporting ∩ top-k| / k."""
    items: PerItem = []
    for ex, pr in _pairs(examples, predictions):
        gold = set(ex.supporting)
        if not gold:
            continue
        item: dict[str, Any] = {"id": ex.qid, "type": ex.qtype, "hops": ex.hops}
        for k in ks:
            hits = len(gold & set(pr.retrieved[:k]))
            item[f"recall@{k}"] = hits / len(gold)
            item[f"precision@{k}"] = hits / k
        item["all_found@max"] = float(gold <= set(pr.retrieved[:max(ks)])) if ks else 0.0
        items.append(item)
    summary: Summary = {"n": len(items)}
    if items:
        for key in [k for k in items[0] if "@" in k]:
            summary[key] = mean(i[key] for i in items)
    return summary, items


def answer_correct(prediction: Prediction, example: QAExample, *, f1_threshold: float = 0.5) -> bool:
    """An answer counts as correct when EM holds, F1 ≥ threshold, or a gold answer (normalised)
    appears inside the prediction (long enumerations in ECT-QA rarely match exactly)."""
    if prediction.answer is None or prediction.abstained:
        return False
    return answer_matches(prediction.answer, example.answers, f1_threshold=f1_threshold)


def temporal_metrics(examples: Sequence[QAExample], predictions: Sequence[Prediction], *,
                     f1_threshold: float = 0.5) -> tuple[Summary, PerItem]:
    """Outcome per question: ``correct`` / ``abstained`` / ``incorrect``.

    Unanswerable question: abstaining is ``correct``, answering is ``incorrect``.
    Answerable question: a matching answer is ``correct``, abstaining is ``abstained``, anything
    else ``incorrect``. Accuracy = correct / n.
    """
    items: PerItem = []
    for ex, pr in _pairs(examples, predictions):
        if pr.answer is None:
            continue
        outcome = answer_outcome(pr.answer, ex.answers, abstained=pr.abstained, unanswerable=ex.unanswerable,
                                 f1_threshold=f1_threshold)
        items.append({"id": ex.qid, "outcome": outcome, "unanswerable": ex.unanswerable, "type": ex.qtype})
    summary: Summary = {"n": len(items)}
    if items:
        counts = Counter(i["outcome"] for i in items)
        for o in ("correct", "abstained", "incorrect"):
            summary[o] = counts.get(o, 0)
        summary["accuracy"] = counts.get("correct", 0) / len(items)
        ans = [i for i in items if not i["unanswerable"]]
        una = [i for i in items if i["unanswerable"]]
        summary["answerable_accuracy"] = (sum(i["outcome"] == "correct" for i in ans) / len(ans)) if ans else None
        summary["unanswerable_abstain_rate"] = (sum(i["outcome"] == "correct" for i in una) / len(una)
                                                if una else None)
        summary["n_unanswerable"] = len(una)
    return summary, items


def _dist(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {}
    s = sorted(values)
    return {"mean": mean(s), "p50": median(s), "p95": s[min(len(s) - 1, int(0.95 * (len(s) - 1) + 0.5))],
            "max": s[-1], "total": sum(s)}


def _llm(u: Usage) -> dict[str, Any]:
    """LLM usage with its seconds named ``llm_seconds`` (``seconds`` is wall time of the stage)."""
    return {"calls": u.calls, "prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
            "cached_calls": u.cached_calls, "llm_seconds": u.seconds}


def cost_metrics(predictions: Sequence[Prediction], *, index_seconds: float = 0.0,
                 index_usage: Usage | None = None) -> tuple[Summary, PerItem]:
    """LLM and time cost: indexing stage and query stage (totals, per-query distributions)."""
    items: PerItem = [{"id": p.qid, "seconds": p.seconds, **p.usage.to_dict(),
                       "stage_seconds": dict(p.stage_seconds)} for p in predictions]
    total = sum((p.usage for p in predictions), Usage())
    stages: dict[str, list[float]] = {}
    for p in predictions:
        for stage, s in p.stage_seconds.items():
            stages.setdefault(stage, []).append(s)
    iu = index_usage or Usage()
    summary: Summary = {
        "index": {**_llm(iu), "seconds": index_seconds},
        "query": {"n": len(predictions), **_llm(total),
                  "seconds_per_query": _dist([p.seconds for p in predictions]),
                  "llm_calls_per_query": (total.calls / len(predictions)) if predictions else 0.0,
                  "tokens_per_query": ((total.prompt_tokens + total.completion_tokens) / len(predictions)
                                       if predictions else 0.0),
                  "stage_seconds": {k: _dist(v) for k, v in sorted(stages.items())}},
        "llm_cached_calls": total.cached_calls + iu.cached_calls,
        "llm_calls": total.calls + iu.calls,
    }
    return summary, items


def breakdown(per_item: PerItem, key: str, metric: str) -> dict[str, float]:
    """Mean of ``metric`` grouped by ``key`` (e.g. F1 by question type or by hop count)."""
    groups: dict[str, list[float]] = {}
    for it in per_item:
        if metric in it:
            groups.setdefault(str(it.get(key, "")), []).append(float(it[metric]))
    return {g: mean(v) for g, v in sorted(groups.items())}


def evaluate(examples: Sequence[QAExample], predictions: Sequence[Prediction], *, ks: Sequence[int],
             f1_threshold: float = 0.5, index_seconds: float = 0.0, index_usage: Usage | None = None
             ) -> tuple[Summary, dict[str, PerItem]]:
    """All metrics; ``summary`` is what goes into metrics.json, per-item lists feed the report."""
    ans_s, ans_i = answer_metrics(examples, predictions)
    ret_s, ret_i = retrieval_metrics(examples, predictions, ks)
    tmp_s, tmp_i = temporal_metrics(examples, predictions, f1_threshold=f1_threshold)
    cost_s, cost_i = cost_metrics(predictions, index_seconds=index_seconds, index_usage=index_usage)
    summary: Summary = {
        "n_questions": len(examples), "answer": ans_s, "retrieval": ret_s, "temporal": tmp_s, "cost": cost_s,
        "by_type": {"f1": breakdown(ans_i, "type", "f1"), f"recall@{max(ks)}": breakdown(ret_i, "type",
                                                                                         f"recall@{max(ks)}")},
        "by_hops": {"f1": breakdown(ans_i, "hops", "f1"), f"recall@{max(ks)}": breakdown(ret_i, "hops",
                                                                                         f"recall@{max(ks)}")},
    }
    return summary, {"answer": ans_i, "retrieval": ret_i, "temporal": tmp_i, "cost": cost_i}
