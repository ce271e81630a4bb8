"""UPR reranking: scores equal a direct log-likelihood computation; order and retriever wrapper."""

from __future__ import annotations

import math

import numpy as np
import pytest

from reasoning.rerank import RerankedRetriever, UPRReranker, upr_prompt
from tgrag.kernel.records import Evidence, EvidenceKind
from tgrag.testing import TableLM

Q = "who won it"
TABLES = [
    ("alpha", {(): {"who": 0.5, "it": 0.5}, ("who",): {"won": 0.25, "it": 0.75}, ("who", "won"): {"it": 1.0}}),
    ("beta", {(): {"who": 0.9, "it": 0.1}, ("who",): {"won": 0.8, "it": 0.2}, ("who", "won"): {"it": 0.5, "who": 0.5}}),
    ("gamma", {(): {"who": 0.1, "it": 0.9}}),
]


def passages() -> list[Evidence]:
    return [Evidence(EvidenceKind.PASSAGE, f"p{i}", f"{name} text", 1.0 - i / 10)
            for i, name in enumerate(("alpha", "beta", "gamma"))]


def direct_loglik(lm: TableLM, prompt: str, question: str) -> float:
    """Mean log p(q_t | prompt, q_<t) token by token through next-token rows."""
    ids = lm.encode(question)
    total = 0.0
    for t in range(len(ids)):
        total += float(lm.next_token_logprobs([prompt], [ids[:t]])[0, ids[t]])
    return total / len(ids)


def test_upr_scores_equal_direct_log_likelihood():
    lm = TableLM(TABLES)
    ev = passages()
    scores = UPRReranker(lm, batch_size=2).scores(Q, ev)
    assert scores[0] == pytest.approx((math.log(0.5) + math.log(0.25) + math.log(1.0)) / 3)
    assert scores[1] == pytest.approx((math.log(0.9) + math.log(0.8) + math.log(0.5)) / 3)
    assert scores[2] == -np.inf  # gamma's table ends after "who": "won" has no mass
    for s, e in zip(scores, ev):
        assert s == pytest.approx(direct_loglik(lm, upr_prompt(e), Q))


def test_rerank_orders_by_upr_and_batches():
    lm = TableLM(TABLES)
    reranker = UPRReranker(lm, batch_size=2)
    out = reranker.rerank(Q, passages())
    assert [e.ref_id for e in out] == ["p1", "p0", "p2"]
    assert out[0].score == pytest.approx((math.log(0.9) + math.log(0.8) + math.log(0.5)) / 3)
    assert [n for _, n in lm.calls] == [2, 1]
    assert reranker.rerank(Q, []) == []


def test_batches_go_by_prompt_length_and_scores_keep_the_input_order():
    lm = TableLM(TABLES)
    ev = [Evidence(EvidenceKind.PASSAGE, "p0", "beta " + "long " * 30, 0.9),
          Evidence(EvidenceKind.PASSAGE, "p1", "gamma", 0.8),
          Evidence(EvidenceKind.PASSAGE, "p2", "alpha " + "mid " * 10, 0.7)]
    asked: list[list[str]] = []
    inner = lm.logprobs

    def recording(prompts, conts):  # type: ignore[no-untyped-def]
        asked.append([p.split(": ")[-1].split()[0] for p in prompts])
        return inner(prompts, conts)

    lm.logprobs = recording  # type: ignore[method-assign]
    scores = UPRReranker(lm, batch_size=2).scores(Q, ev)
    assert asked == [["gamma", "alpha"], ["beta"]]
    for s, e in zip(scores, ev):
        assert s == pytest.approx(direct_loglik(lm, upr_prompt(e), Q))


class _ListRetriever:
    def __init__(self, items):
        self.items = items
        self.asked: list[int] = []

    def retrieve(self, query, k, *, scope=None, keep_undated=True):
        self.asked.append(k)
        return self.items[:k]


def test_reranked_retriever_reranks_the_top_depth_then_cuts_to_k():
    inner = _ListRetriever(passages())
    retr = RerankedRetriever(inner, UPRReranker(TableLM(TABLES)), depth=3)
    got = retr.retrieve(Q, 1)
    assert inner.asked == [3]
    assert [e.ref_id for e in got] == ["p1"]  # the walk's first (p0) loses to p1
    walk_only = RerankedRetriever(_ListRetriever(passages()), UPRReranker(TableLM(TABLES)), depth=1)
    assert [e.ref_id for e in walk_only.retrieve(Q, 1)] == ["p0"]
