"""Listwise targets from a frozen LM: reader feedback (REPLUG LSR) and teacher scores (distillation).

For a training question x the candidates are the current retriever's top k passages. Then

- **REPLUG LSR** (source c): the target is ``log p_LM(y | d, x)`` of the gold answer y (plus the end
  token) given each passage, in the reader's own prompt (``reasoning.generator.RAGGenerator.prompt``)
  and through the project's :class:`~tgrag.kernel.protocols.SequenceScorer` (the embedded Qwen 0.5B
  by default, cached by ``tgrag.models.scorer_cache.CachedScorer``); training minimises
  KL(P_R ‖ Q) with Q = softmax(target / β) (``experiments.training.losses.replug_kl``);
- **UPR teacher** (distillation): the target is UPR's ``log p(x | d)``, the mean log-likelihood of
  the question given the passage (``reasoning.rerank.UPRReranker``), distilled by margin-MSE or KL;
- **walk teacher**: the passage-graph walk's own scores over its ranking (any ``ranked(query, k)``).

The candidate set is fixed when the examples are made (REPLUG re-retrieves as the index is
refreshed; here one retrieval by the model before training keeps a run reproducible).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from tqdm.auto import tqdm

from experiments.training.data import Corpus, Example
from experiments.training.mining import dense_ranked
from reasoning.generator import RAGGenerator
from reasoning.rerank import UPRReranker
from tgrag.kernel.errors import ConfigError
from tgrag.kernel.protocols import SequenceScorer
from tgrag.kernel.records import Evidence, EvidenceKind


def evidence_of(corpus: Corpus, pid: str) -> Evidence:
    p = corpus.passages[pid]
    return Evidence(EvidenceKind.PASSAGE, pid, p.text, 0.0, p.date, p.doc_id, p.title)


def answer_logliks(scorer: SequenceScorer, question: str, answer: str, evidence: Sequence[Evidence], *,
                   batch_size: int = 8) -> list[float]:
    """log p_LM(answer + end | passage, question) per passage, in the RAG reader's prompt."""
    ids = scorer.encode(answer)
    if not ids:
        raise ConfigError(f"REPLUG needs a non-empty gold answer for {question!r}")
    gen = RAGGenerator(scorer)
    prompts = [gen.prompt(question, e) for e in evidence]
    cont = [*ids, scorer.end_id]
    out: list[float] = []
    for i in range(0, len(prompts), batch_size):
        batch = prompts[i:i + batch_size]
        out += [float(sum(lp)) for lp in scorer.logprobs(batch, [cont] * len(batch))]
    return out


def candidates_of(examples: Sequence[Example], corpus: Corpus, query_vecs: np.ndarray, passage_vecs: np.ndarray,
                  k: int, *, include_positives: bool = False) -> list[list[str]]:
    """Each example's dense top ``k`` (with ``include_positives`` its positives replace the tail
    when missing, so a teacher sees the gold passages)."""
    ranked = dense_ranked(query_vecs, passage_vecs, corpus.ids, k)
    if not include_positives:
        return ranked
    out = []
    for ex, top in zip(examples, ranked, strict=True):
        gold = [p for p in ex.positives if p in corpus.passages][:k]
        rest = [p for p in top if p not in gold][: k - len(gold)]
        out.append([*gold, *rest])
    return out


def replug_examples(examples: Sequence[Example], corpus: Corpus, candidates: Sequence[Sequence[str]],
                    scorer: SequenceScorer, *, batch_size: int = 8, show_progress: bool = True) -> list[Example]:
    """Source (c): listwise examples whose targets are log p_LM(y | d, x) over the candidates;
    a question without an answer is skipped (counted by the caller)."""
    out = []
    for ex, cands in tqdm(list(zip(examples, candidates, strict=True)), desc="REPLUG LM scores",
                          disable=not show_progress):
        if not ex.answers or not cands:
            continue
        lls = answer_logliks(scorer, ex.query, ex.answers[0], [evidence_of(corpus, p) for p in cands],
                             batch_size=batch_size)
        out.append(Example(ex.qid, ex.query, f"replug:{ex.source}", ex.positives, answers=ex.answers,
                           candidates=tuple(cands), targets=tuple(lls)))
    return out


def upr_examples(examples: Sequence[Example], corpus: Corpus, candidates: Sequence[Sequence[str]],
                 scorer: SequenceScorer, *, batch_size: int = 8, show_progress: bool = True) -> list[Example]:
    """Distillation targets from UPR: log p(question | passage) per candidate."""
    upr = UPRReranker(scorer, batch_size=batch_size)
    out = []
    for ex, cands in tqdm(list(zip(examples, candidates, strict=True)), desc="UPR teacher scores",
                          disable=not show_progress):
        if not cands:
            continue
        scores = upr.scores(ex.query, [evidence_of(corpus, p) for p in cands])
        out.append(Example(ex.qid, ex.query, f"distill_upr:{ex.source}", ex.positives, candidates=tuple(cands),
                           targets=tuple(float(s) for s in scores)))
    return out


def walk_examples(examples: Sequence[Example], ranked: Callable[[str, int], Sequence[tuple[str, float]]],
                  corpus: Corpus, k: int) -> list[Example]:
    """Distillation targets from a retriever's own scores (the walk's), its top ``k`` passages
    that the corpus holds."""
    out = []
    for ex in examples:
        pairs = [(pid, float(s)) for pid, s in ranked(ex.query, k) if pid in corpus.passages][:k]
        if len(pairs) >= 2:
            out.append(Example(ex.qid, ex.query, f"distill_walk:{ex.source}", ex.positives,
                               candidates=tuple(p for p, _ in pairs), targets=tuple(s for _, s in pairs)))
    return out
