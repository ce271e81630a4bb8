"""The RAG paper's generator (Lewis et al., 2020): each evidence item is a latent passage z.

The prior over the top k evidence items is p(z|x) = softmax(score / τ) of their retrieval scores.

- **RAG-Sequence**: candidates are decoded from every passage-conditioned prompt (greedy, or a beam
  per passage); every candidate is then scored under every passage ("thorough decoding") and the
  answer maximises p(y|x) = Σ_z p(z|x) · p(y|x,z).
- **RAG-Token**: at every step the next-token distribution is Σ_z p(z|x) · p(y_i|x,z,y_<i),
  decoded greedily (beam 1) or with a small beam.

p(y|x,z) includes the end-of-answer token. Each answer cites the passages with the largest posterior
p(z|x,y) ∝ p(z|x) · p(y|x,z): the fewest, best first, whose posterior mass reaches ``cite_mass``.
:class:`RAGGenerator` has the reader's ``read`` method and returns its :class:`ReadResult`, so the
loop, the methods and the facade read through either one. The model is any
:class:`~tgrag.kernel.protocols.SequenceScorer`; calls are batched over the k passages.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from reasoning.evidence import estimate_tokens
from reasoning.reader import ReadResult, describe_scope, format_evidence, is_abstention, normalise_answer
from tgrag.kernel.errors import ConfigError
from tgrag.kernel.protocols import SequenceScorer
from tgrag.kernel.records import Evidence, Usage
from tgrag.kernel.temporal import TimeInterval

GENERATOR_KINDS = ("concat", "rag_sequence", "rag_token")
INSTRUCTION = ("Answer the question using only the evidence. Reply with the shortest answer (a name, date, "
               "number or yes/no) and nothing else, or with unknown if the evidence does not answer it.")

Hypothesis = tuple[tuple[int, ...], float]  # (token ids, log-probability)


@dataclass(frozen=True, slots=True)
class RAGSettings:
    tau: float = 1.0  # temperature of the passage prior softmax(score / tau)
    k: int = 5  # evidence items marginalised over (the first k handed to the generator)
    beam: int = 1  # rag_token: beam width; rag_sequence: candidates decoded per passage
    max_answer_tokens: int = 16
    batch_size: int = 8  # rows per scorer call
    cite_mass: float = 0.5  # cite the fewest passages whose posterior mass reaches this

    def __post_init__(self) -> None:
        if self.tau <= 0:
            raise ConfigError(f"rag.tau must be > 0, got {self.tau}")
        for name in ("k", "beam", "max_answer_tokens", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"rag.{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 < self.cite_mass <= 1.0:
            raise ConfigError(f"rag.cite_mass must be in (0, 1], got {self.cite_mass}")


def passage_prior(scores: Sequence[float], tau: float = 1.0) -> np.ndarray:
    """p(z|x) = softmax(score / tau), computed stably; sums to 1."""
    if tau <= 0:
        raise ConfigError(f"tau must be > 0, got {tau}")
    s = np.asarray(scores, dtype=np.float64) / tau
    if s.size == 0:
        return s
    e = np.exp(s - s.max())
    return e / e.sum()


def logsumexp(a: np.ndarray, axis: int = 0) -> np.ndarray:
    """log Σ exp(a) along ``axis``; all -inf gives -inf."""
    m = np.max(a, axis=axis, keepdims=True)
    safe = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(a - safe), axis=axis, keepdims=True)) + safe
    return np.squeeze(out, axis=axis)


def passage_posterior(prior: np.ndarray, loglik: np.ndarray) -> np.ndarray:
    """p(z|x,y) ∝ p(z|x) · p(y|x,z) (uniform over z when no passage gives y any mass)."""
    with np.errstate(divide="ignore"):
        joint = np.log(prior) + loglik
    total = logsumexp(joint)
    if not np.isfinite(total):
        return np.full(len(prior), 1.0 / len(prior))
    return np.exp(joint - total)


def cite_by_posterior(posterior: np.ndarray, mass: float) -> tuple[int, ...]:
    """0-based indexes, best first, of the fewest passages whose posterior mass reaches ``mass``."""
    order = sorted(range(len(posterior)), key=lambda i: (-posterior[i], i))
    out: list[int] = []
    total = 0.0
    for i in order:
        out.append(i)
        total += float(posterior[i])
        if total >= mass - 1e-12:
            break
    return tuple(out)


def beam_search(step: Callable[[list[tuple[int, tuple[int, ...]]]], np.ndarray], n: int, *, end_id: int,
                beam: int, max_len: int) -> list[list[Hypothesis]]:
    """``n`` independent beam searches run in lockstep (so one ``step`` call batches them all).

    ``step(queries)`` takes (search, prefix) pairs and returns one row of next-token log-probs per
    pair. A search keeps its ``beam`` best expansions; a hypothesis ending in ``end_id`` is finished
    (its score includes the end token); a search stops when ``beam`` hypotheses are finished or none
    is live; at ``max_len`` the live ones finish unended. Ties go to the lower token id. Returns each
    search's finished hypotheses, best first."""
    live: list[list[Hypothesis]] = [[((), 0.0)] for _ in range(n)]
    done: list[list[Hypothesis]] = [[] for _ in range(n)]
    for _ in range(max_len):
        queries = [(s, prefix) for s in range(n) for prefix, _ in live[s]]
        if not queries:
            break
        rows = step(queries)
        r = 0
        for s in range(n):
            expansions: list[Hypothesis] = []
            for prefix, lp in live[s]:
                row = rows[r]
                r += 1
                for tok in np.argsort(-row, kind="stable")[:beam]:
                    if np.isfinite(row[tok]):
                        expansions.append((prefix + (int(tok),), lp + float(row[tok])))
            expansions.sort(key=lambda h: -h[1])
            live[s] = []
            for hyp in expansions[: beam - len(done[s])]:
                (done[s] if hyp[0][-1] == end_id else live[s]).append(hyp)
    for s in range(n):
        done[s].extend(live[s])
        done[s].sort(key=lambda h: -h[1])
    return done


@dataclass(frozen=True, slots=True)
class Generation:
    """One generated answer with its marginal, the prior and posterior over the passages."""

    text: str
    log_prob: float  # log p(y|x) under the generator's own model (sequence or token marginal)
    prior: tuple[float, ...]
    posterior: tuple[float, ...]
    cited: tuple[int, ...]  # 0-based indexes into the passages, best first
    candidates: tuple[tuple[str, float], ...] = ()  # (answer, log p(y|x)), best first
    scorer_calls: int = 0
    rows: int = 0  # prompt rows the scorer evaluated (forward passes over one sequence)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "log_prob": self.log_prob, "prior": list(self.prior),
                "posterior": list(self.posterior), "cited": list(self.cited),
                "candidates": [list(c) for c in self.candidates], "scorer_calls": self.scorer_calls,
                "rows": self.rows, "seconds": self.seconds}


class _Counted:
    """Splits scorer calls into batches of ``batch_size`` rows and counts calls and rows."""

    def __init__(self, scorer: SequenceScorer, batch_size: int) -> None:
        self.scorer = scorer
        self.batch_size = batch_size
        self.calls = self.rows = 0

    def logprobs(self, prompts: Sequence[str], conts: Sequence[Sequence[int]]) -> list[list[float]]:
        out: list[list[float]] = []
        for i in range(0, len(prompts), self.batch_size):
            out += self.scorer.logprobs(prompts[i:i + self.batch_size], conts[i:i + self.batch_size])
            self.calls += 1
        self.rows += len(prompts)
        return out

    def next_token(self, prompts: Sequence[str], prefixes: Sequence[Sequence[int]]) -> np.ndarray:
        parts = []
        for i in range(0, len(prompts), self.batch_size):
            parts.append(np.asarray(self.scorer.next_token_logprobs(prompts[i:i + self.batch_size],
                                                                    prefixes[i:i + self.batch_size])))
            self.calls += 1
        self.rows += len(prompts)
        return np.concatenate(parts, axis=0)


class RAGGenerator:
    """RAG-Sequence or RAG-Token over the first k evidence items (the reader's ``read`` interface)."""

    def __init__(self, scorer: SequenceScorer, *, kind: str = "rag_sequence", settings: RAGSettings | None = None,
                 max_evidence_tokens: int = 1500, count_tokens: Callable[[str], int] | None = None) -> None:
        if kind not in GENERATOR_KINDS[1:]:
            raise ConfigError(f"RAGGenerator kind must be one of {GENERATOR_KINDS[1:]}, got {kind!r}")
        if not isinstance(scorer, SequenceScorer):
            raise ConfigError(f"{type(scorer).__name__} does not implement SequenceScorer")
        self.scorer = scorer
        self.kind = kind
        self.settings = settings or RAGSettings()
        self.max_evidence_tokens = max_evidence_tokens
        self.count_tokens = count_tokens or estimate_tokens

    def prompt(self, question: str, ev: Evidence, scope: TimeInterval | None = None) -> str:
        """The prompt conditioned on one passage."""
        block, _ = format_evidence([ev], self.max_evidence_tokens, self.count_tokens)
        scope_line = describe_scope(scope)
        return f"{INSTRUCTION}\n\nEvidence:\n{block}\n\n{scope_line + chr(10) if scope_line else ''}Question: {question}"

    def generate(self, question: str, evidence: Sequence[Evidence], *, scope: TimeInterval | None = None
                 ) -> Generation:
        t0 = time.perf_counter()
        passages = list(evidence[: self.settings.k])
        if not passages:
            return Generation("", float("-inf"), (), (), ())
        prior = passage_prior([e.score for e in passages], self.settings.tau)
        prompts = [self.prompt(question, e, scope) for e in passages]
        counted = _Counted(self.scorer, self.settings.batch_size)
        if self.kind == "rag_sequence":
            answer, log_prob, loglik, candidates = self._sequence(prompts, prior, counted)
        else:
            answer, log_prob, loglik, candidates = self._token(prompts, prior, counted)
        posterior = passage_posterior(prior, loglik)
        text = self.scorer.decode(answer)
        return Generation(text, log_prob, tuple(prior.tolist()), tuple(posterior.tolist()),
                          cite_by_posterior(posterior, self.settings.cite_mass), candidates, counted.calls,
                          counted.rows, time.perf_counter() - t0)

    def _answer_ids(self, hyp: tuple[int, ...]) -> tuple[int, ...]:
        return hyp[:-1] if hyp and hyp[-1] == self.scorer.end_id else hyp

    def _score_all(self, prompts: Sequence[str], answers: Sequence[tuple[int, ...]], counted: _Counted
                   ) -> np.ndarray:
        """(passages, answers) log p(y + end | x, z): every answer under every passage."""
        end = self.scorer.end_id
        pairs = [(p, list(a) + [end]) for a in answers for p in prompts]
        lps = counted.logprobs([p for p, _ in pairs], [c for _, c in pairs])
        return np.array([sum(lp) for lp in lps], dtype=np.float64).reshape(len(answers), len(prompts)).T

    def _sequence(self, prompts: list[str], prior: np.ndarray, counted: _Counted
                  ) -> tuple[tuple[int, ...], float, np.ndarray, tuple[tuple[str, float], ...]]:
        st = self.settings

        def step(queries: list[tuple[int, tuple[int, ...]]]) -> np.ndarray:
            return counted.next_token([prompts[s] for s, _ in queries], [list(x) for _, x in queries])

        found = beam_search(step, len(prompts), end_id=self.scorer.end_id, beam=st.beam, max_len=st.max_answer_tokens)
        answers = list(dict.fromkeys(self._answer_ids(h) for hyps in found for h, _ in hyps))
        loglik = self._score_all(prompts, answers, counted)  # thorough decoding
        with np.errstate(divide="ignore"):
            marginal = logsumexp(np.log(prior)[:, None] + loglik, axis=0)
        order = sorted(range(len(answers)), key=lambda j: (-marginal[j], j))
        best = order[0]
        candidates = tuple((self.scorer.decode(answers[j]), float(marginal[j])) for j in order)
        return answers[best], float(marginal[best]), loglik[:, best], candidates

    def _token(self, prompts: list[str], prior: np.ndarray, counted: _Counted
               ) -> tuple[tuple[int, ...], float, np.ndarray, tuple[tuple[str, float], ...]]:
        st = self.settings
        with np.errstate(divide="ignore"):
            log_prior = np.log(prior)[:, None]
        k = len(prompts)

        def step(queries: list[tuple[int, tuple[int, ...]]]) -> np.ndarray:
            rows = counted.next_token([p for _ in queries for p in prompts], [list(x) for _, x in queries for _ in prompts])
            return np.stack([logsumexp(log_prior + rows[i * k:(i + 1) * k], axis=0) for i in range(len(queries))])

        hyps = beam_search(step, 1, end_id=self.scorer.end_id, beam=st.beam, max_len=st.max_answer_tokens)[0]
        best, log_prob = hyps[0]
        answer = self._answer_ids(best)
        loglik = self._score_all(prompts, [answer], counted)[:, 0]  # p(y|x,z) for the posterior
        candidates = tuple((self.scorer.decode(self._answer_ids(h)), lp) for h, lp in hyps)
        return answer, log_prob, loglik, candidates

    def read(self, question: str, evidence: Sequence[Evidence], *, scope: TimeInterval | None = None) -> ReadResult:
        if not evidence:
            return ReadResult("", True, (), Usage(), "(no evidence in scope: abstained without a call)")
        g = self.generate(question, evidence, scope=scope)
        usage = Usage(g.scorer_calls, 0, len(self.scorer.encode(g.text)) if g.text else 0, g.seconds)
        raw = f"{self.kind}: " + "; ".join(f"{a!r} {lp:.3f}" for a, lp in g.candidates[:5])
        answer = normalise_answer(g.text)
        if is_abstention(answer):
            return ReadResult("", True, (), usage, raw)
        return ReadResult(answer, False, tuple(i + 1 for i in g.cited), usage, raw)


def build_reader(kind: str, llm: Any, scorer: SequenceScorer | None, *, rag: RAGSettings,
                 max_evidence_tokens: int, max_answer_tokens: int, count_tokens: Callable[[str], int]) -> Any:
    """The reader the settings choose: ``concat`` is :class:`~reasoning.reader.Reader` over one
    concatenated prompt; ``rag_sequence`` / ``rag_token`` need a sequence scorer."""
    from reasoning.reader import Reader

    if kind not in GENERATOR_KINDS:
        raise ConfigError(f"generator must be one of {GENERATOR_KINDS}, got {kind!r}")
    if kind == "concat":
        return Reader(llm, max_evidence_tokens=max_evidence_tokens, max_answer_tokens=max_answer_tokens,
                      count_tokens=count_tokens)
    if scorer is None:
        raise ConfigError(f"generator {kind!r} needs a model with log-probabilities (a SequenceScorer, "
                          f"e.g. llm=transformers); {getattr(llm, 'name', llm)!r} has none")
    return RAGGenerator(scorer, kind=kind, settings=rag, max_evidence_tokens=max_evidence_tokens,
                        count_tokens=count_tokens)
