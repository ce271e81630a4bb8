"""Training losses of the bi-encoder, as pure functions over score tensors.

- :func:`info_nce`: InfoNCE (DPR) over in-batch negatives plus mined hard negatives;
- :func:`replug_target` / :func:`replug_kl`: REPLUG LSR, KL(P_R ‖ Q) with
  P_R(d|x) = softmax(s(d,x)/γ) over the retrieved top k and Q(d|x,y) = softmax(log p_LM(y|d,x)/β);
- :func:`margin_mse` / :func:`kl_distill`: distilling a teacher's scores (Hofstätter et al.'s
  margin-MSE, or KL between the teacher's and the student's distributions over candidates).

Every loss is a mean over the queries of a batch. Targets (LM or teacher scores) never carry a
gradient: the LM and the teacher stay frozen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tgrag.kernel.errors import ConfigError

if TYPE_CHECKING:
    import torch


def _check_temperature(name: str, value: float) -> None:
    if not value > 0:
        raise ConfigError(f"{name} must be > 0, got {value}")


def info_nce(queries: torch.Tensor, candidates: torch.Tensor, *, temperature: float,
             excluded: torch.Tensor | None = None) -> torch.Tensor:
    """InfoNCE with query i's positive at candidate i.

    ``queries`` (B, d) and ``candidates`` (C, d), C >= B: rows 0..B-1 are each query's positive,
    the rest the batch's hard negatives; every other query's positive is an in-batch negative.
    ``excluded`` (B, C) bool marks candidates that must not count as negatives of a query (its
    other positives, a passage repeated in the batch); its own positive is never excluded. Vectors
    are used as given (normalise them for cosine scores)."""
    import torch

    _check_temperature("temperature", temperature)
    b = queries.shape[0]
    if candidates.shape[0] < b:
        raise ConfigError(f"info_nce needs a positive per query: {b} queries, {candidates.shape[0]} candidates")
    logits = queries @ candidates.T / temperature
    if excluded is not None:
        keep_own = torch.zeros_like(excluded)
        keep_own[torch.arange(b), torch.arange(b)] = True
        logits = logits.masked_fill(excluded & ~keep_own, float("-inf"))
    return torch.nn.functional.cross_entropy(logits, torch.arange(b, device=logits.device))


def replug_target(lm_loglik: torch.Tensor, beta: float) -> torch.Tensor:
    """Q(d|x,y) = softmax(log p_LM(y|d,x) / β) along the last axis (the LM's preference)."""
    import torch

    _check_temperature("beta", beta)
    return torch.softmax(lm_loglik.detach() / beta, dim=-1)


def _kl(p_logits: torch.Tensor, q_logits: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean over rows of KL(softmax(p_logits) ‖ softmax(q_logits)), masked entries left out."""
    import torch

    if mask is not None:
        p_logits = p_logits.masked_fill(~mask, float("-inf"))
        q_logits = q_logits.masked_fill(~mask, float("-inf"))
    log_p = torch.log_softmax(p_logits, dim=-1)
    log_q = torch.log_softmax(q_logits, dim=-1)
    terms = log_p.exp() * (log_p - log_q)
    if mask is not None:
        terms = terms.masked_fill(~mask, 0.0)
    return terms.sum(dim=-1).mean()


def replug_kl(scores: torch.Tensor, lm_loglik: torch.Tensor, *, gamma: float, beta: float,
              mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over queries of KL(P_R ‖ Q): ``scores`` (B, k) retriever similarities s(d,x),
    ``lm_loglik`` (B, k) log p_LM(y|d,x); ``mask`` (B, k) bool marks real candidates (a query with
    fewer than k retrieved passages is padded)."""
    _check_temperature("gamma", gamma)
    _check_temperature("beta", beta)
    return _kl(scores / gamma, lm_loglik.detach() / beta, mask)


def kl_distill(scores: torch.Tensor, teacher: torch.Tensor, *, temperature: float,
               teacher_temperature: float = 1.0, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over queries of KL(teacher ‖ student) over each query's candidates (B, k)."""
    _check_temperature("temperature", temperature)
    _check_temperature("teacher_temperature", teacher_temperature)
    return _kl(teacher.detach() / teacher_temperature, scores / temperature, mask)


def margin_mse(scores: torch.Tensor, teacher: torch.Tensor, *, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Margin-MSE: for each query, the teacher's best candidate against every other one,
    mean of ((s_best - s_j) - (t_best - t_j))^2 over the real pairs (B, k)."""
    import torch

    t = teacher.detach()
    if mask is not None:
        t = t.masked_fill(~mask, float("-inf"))
    best = t.argmax(dim=-1, keepdim=True)
    s_margin = scores.gather(-1, best) - scores
    t_margin = t.gather(-1, best) - t
    pairs = torch.ones_like(scores, dtype=torch.bool).scatter(-1, best, False)
    if mask is not None:
        pairs &= mask
        t_margin = t_margin.masked_fill(~mask, 0.0)
    if not bool(pairs.any()):
        return scores.sum() * 0.0
    return ((s_margin - t_margin)[pairs] ** 2).mean()
