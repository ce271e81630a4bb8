"""Scoring one answer against its gold answers: the project's one implementation.

SQuAD / HotpotQA normalisation (lower-case, strip punctuation and articles, collapse whitespace),
exact match, token F1 (yes/no/noanswer must match exactly), token recall, and the correct /
abstained / incorrect outcome of a temporal question. ``experiments.metrics`` aggregates these
over a run (and re-exports them); ``tgrag.demo`` and the benchmark scripts score with them too.
Pure functions over strings: this module imports nothing else of the project.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)
OUTCOMES = ("correct", "abstained", "incorrect")


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


def answer_matches(prediction: str, golds: Sequence[str], *, f1_threshold: float = 0.5) -> bool:
    """True when EM holds, F1 ≥ threshold, or a gold answer (normalised) appears inside the
    prediction (long enumerations in ECT-QA rarely match exactly)."""
    em, f1 = best_em_f1(prediction, golds)
    pred = normalize_answer(prediction)
    contained = any(normalize_answer(g) and normalize_answer(g) in pred for g in golds)
    return em == 1.0 or f1 >= f1_threshold or contained


def answer_outcome(prediction: str, golds: Sequence[str], *, abstained: bool, unanswerable: bool,
                   f1_threshold: float = 0.5) -> str:
    """``correct`` / ``abstained`` / ``incorrect``. Unanswerable: abstaining is correct, answering
    incorrect. Answerable: a matching answer is correct, abstaining is ``abstained``."""
    if unanswerable:
        return "correct" if abstained else "incorrect"
    if abstained:
        return "abstained"
    return "correct" if answer_matches(prediction, golds, f1_threshold=f1_threshold) else "incorrect"
