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

import re
import string
from collections import Counter
from collections.abc import Sequence
from statistics import mean, median
from typing import Any

from experiments.datasets import QAExample
from experiments.records import Prediction
from tgrag.kernel.records import Usage

Summary = dict[str, Any]
PerItem = list[dict[str, Any]]

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)


def normalize_answer(s: str) -> str:
    """SQuAD v1.1 normalisation (the one HotpotQA's evaluator uses)."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1_score(prediction: str, gold: str) -> tuple[float, float, float]:
    """(F1, precision, recall) over normalised tokens; HotpotQA's special case for yes/no."""
    p, g = normalize_answer(prediction), normalize_answer(gold)
    special = {"yes", "no", "noanswer"}
    if (p in special or g in special) and p != g:
        return 0.0, 0.0, 0.0
    pt, gt = p.split(), g.split()
    common = Counter(pt) & Counter(gt)
    same = sum(common.values())
    if same == 0:
        return 0.0, 0.0, 0.0
    precision, recall = same / len(pt), same / len(gt)
    return 2 * precision * recall / (precision + recall), precision, recall


def best_token_recall(prediction: str, golds: Sequence[str]) -> float:
    """Max share of a gold answer's normalised tokens found in the prediction (partial credit for
    long enumerations such as ECT-QA's "9.6%, 9.9%, 15.1%, and 4.9%")."""
    return max((f1_score(prediction, g)[2] for g in golds), default=0.0)


def best_em_f1(prediction: str, golds: Sequence[str]) -> tuple[float, float]:
    """Max EM and max F1 over the acceptable answers."""
    if not golds:
        return 0.0, 0.0
    return (max(exact_match(prediction, g) for g in golds), max(f1_score(prediction, g)[0] for g in golds))


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
    em, f1 = best_em_f1(prediction.answer, example.answers)
    pred = normalize_answer(prediction.answer)
    contained = any(normalize_answer(g) and normalize_answer(g) in pred for g in example.answers)
    return em == 1.0 or f1 >= f1_threshold or contained


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
        if ex.unanswerable:
            outcome = "correct" if pr.abstained else "incorrect"
        elif pr.abstained:
            outcome = "abstained"
        else:
            outcome = "correct" if answer_correct(pr, ex, f1_threshold=f1_threshold) else "incorrect"
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
