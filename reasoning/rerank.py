"""UPR reranking (Sachan et al., 2022): order passages by how well they let the LM write the question.

A passage's score is the mean log-likelihood of the question's tokens given the passage,
(1/|q|) Σ_t log p(q_t | passage, q_<t), under any :class:`~tgrag.kernel.protocols.SequenceScorer`
(the generator's logit machinery), batched by prompt length (shortest first, so little padding); caching is the scorer's wrapper
(``tgrag.models.scorer_cache.CachedScorer``). :class:`RerankedRetriever` reranks the top ``depth``
of any retriever and keeps the best k, so the reranking happens before the evidence budget is
filled; the reranked evidence carries its UPR score.

UPR as published ranks by the question's likelihood alone. On multi-hop questions that favours the
passage the question names and pushes out the bridge passage reached through it
(``bench/upr_ranks.py``), so ``upr_weight`` < 1 keeps the retriever's order in the vote: the final
order is the weighted reciprocal-rank fusion (:func:`reasoning.fusion.weighted_rrf`) of UPR's order
(weight ``upr_weight``) and the retriever's (weight ``1 - upr_weight``); 1 is UPR alone, 0 the
retriever's order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from reasoning.fusion import weighted_rrf
from reasoning.retrievers import Retriever
from tgrag.kernel.errors import ConfigError
from tgrag.kernel.protocols import SequenceScorer
from tgrag.kernel.records import Evidence
from tgrag.kernel.temporal import TimeInterval

RERANKERS = ("walk", "upr")  # "walk": the retriever's own order
UPR_PROMPT = "Passage: {passage}\nPlease write a question based on this passage."


def upr_prompt(ev: Evidence, max_words: int = 300) -> str:
    title = f"{ev.title}: " if ev.title else ""
    return UPR_PROMPT.format(passage=title + " ".join(ev.text.split()[:max_words]))


class UPRReranker:
    """Scores passages by the mean log-likelihood of the question given each of them."""

    def __init__(self, scorer: SequenceScorer, *, batch_size: int = 8, max_words: int = 300) -> None:
        if batch_size < 1:
            raise ConfigError(f"UPR batch_size must be >= 1, got {batch_size}")
        self.scorer = scorer
        self.batch_size = batch_size
        self.max_words = max_words
        self.calls = 0  # scorer calls made (batches)

    def scores(self, question: str, evidence: Sequence[Evidence]) -> list[float]:
        ids = self.scorer.encode(question)
        if not ids:
            raise ConfigError("UPR needs a non-empty question")
        prompts = [upr_prompt(e, self.max_words) for e in evidence]
        # batches of similar length: a right-padded batch costs its longest row times its size
        order = sorted(range(len(prompts)), key=lambda i: (len(prompts[i]), i))
        out = [0.0] * len(prompts)
        for i in range(0, len(order), self.batch_size):
            rows = order[i:i + self.batch_size]
            lps = self.scorer.logprobs([prompts[r] for r in rows], [ids] * len(rows))
            for r, lp in zip(rows, lps, strict=True):
                out[r] = sum(lp) / len(lp)
            self.calls += 1
        return out

    def rerank(self, question: str, evidence: Sequence[Evidence]) -> list[Evidence]:
        """Best UPR score first (ties keep the given order); each item's score becomes its UPR score."""
        if not evidence:
            return []
        scores = self.scores(question, evidence)
        order = sorted(range(len(evidence)), key=lambda i: (-scores[i], i))
        return [replace(evidence[i], score=scores[i]) for i in order]


def fuse_with_retriever(pool: Sequence[Evidence], reranked: Sequence[Evidence], upr_weight: float, *,
                        k0: int = 60) -> list[Evidence]:
    """``reranked`` (the UPR order of ``pool``) reordered by the weighted RRF of UPR's order (weight
    ``upr_weight``) and the retriever's order ``pool`` (weight ``1 - upr_weight``); ties by passage id.
    Items keep their UPR scores. ``upr_weight`` 1 returns ``reranked`` as it is."""
    if not 0.0 <= upr_weight <= 1.0:
        raise ConfigError(f"rerank_upr_weight must be in [0, 1], got {upr_weight}")
    if upr_weight == 1.0:
        return list(reranked)
    by_id = {e.ref_id: e for e in reranked}
    fused = weighted_rrf([[(e.ref_id, e.score) for e in reranked], [(e.ref_id, e.score) for e in pool]],
                         [upr_weight, 1.0 - upr_weight], k0=k0)
    return [by_id[pid] for pid, _ in fused]


class RerankedRetriever:
    """Any retriever's top ``depth``, reranked by UPR (fused with the retriever's own order when
    ``upr_weight`` < 1), cut to k."""

    def __init__(self, inner: Retriever, reranker: UPRReranker, *, depth: int = 20, upr_weight: float = 1.0,
                 k0: int = 60) -> None:
        if depth < 1:
            raise ConfigError(f"rerank_depth must be >= 1, got {depth}")
        if not 0.0 <= upr_weight <= 1.0:
            raise ConfigError(f"rerank_upr_weight must be in [0, 1], got {upr_weight}")
        self.inner = inner
        self.reranker = reranker
        self.depth = depth
        self.upr_weight = upr_weight
        self.k0 = k0

    def retrieve(self, query: str, k: int, *, scope: TimeInterval | None = None,
                 keep_undated: bool = True) -> list[Evidence]:
        pool = self.inner.retrieve(query, max(k, self.depth), scope=scope, keep_undated=keep_undated)
        reranked = self.reranker.rerank(query, pool)
        return fuse_with_retriever(pool, reranked, self.upr_weight, k0=self.k0)[:k]
