"""UPR reranking: scores equal a direct log-likelihood computation; order and retriever wrapper."""

from __future__ import annotations

import math

import numpy as np
import pytest

from reasoning.rerank import RerankedRetriever, UPRReranker, fuse_with_retriever, upr_prompt
from tgrag.kernel.errors import ConfigError
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


def _ev(ids: str, scores: list[float] | None = None) -> list[Evidence]:
    return [Evidence(EvidenceKind.PASSAGE, p, f"{p} text", (scores or [0.0] * len(ids))[i])
            for i, p in enumerate(ids)]


def test_fusion_with_the_retriever_order_matches_hand_computed_rrf():
    pool = _ev("abcd")  # the retriever's order
    reranked = _ev("dcab", [-0.1, -0.2, -0.3, -0.4])  # UPR's order, with UPR scores
    # k0 = 0, weight 0.5 each: a 1/2·(1/3 + 1) = .667, d .625, c .417, b .375
    fused = fuse_with_retriever(pool, reranked, 0.5, k0=0)
    assert [e.ref_id for e in fused] == ["a", "d", "c", "b"]
    assert [e.score for e in fused] == [-0.3, -0.1, -0.2, -0.4]  # items keep their UPR scores
    assert [e.ref_id for e in fuse_with_retriever(pool, reranked, 1.0)] == list("dcab")
    assert [e.ref_id for e in fuse_with_retriever(pool, reranked, 0.0)] == list("abcd")
    # a tie (p0: .5/2 + .5/1 = p1: .5/1 + .5/2) goes by passage id, so fusion is deterministic
    assert [e.ref_id for e in fuse_with_retriever(_ev(["p0", "p1"]), _ev(["p1", "p0"]), 0.5, k0=0)] == ["p0", "p1"]
    with pytest.raises(ConfigError, match="rerank_upr_weight"):
        fuse_with_retriever(pool, reranked, 1.5)


def test_reranked_retriever_fuses_when_upr_weight_is_below_one():
    # UPR alone puts p1 first (test above); with the retriever's order weighted 0.75, p0 stays first
    retr = RerankedRetriever(_ListRetriever(passages()), UPRReranker(TableLM(TABLES)), depth=3, upr_weight=0.25)
    assert [e.ref_id for e in retr.retrieve(Q, 3)] == ["p0", "p1", "p2"]
    with pytest.raises(ConfigError, match="rerank_upr_weight"):
        RerankedRetriever(_ListRetriever(passages()), UPRReranker(TableLM(TABLES)), upr_weight=-0.1)
