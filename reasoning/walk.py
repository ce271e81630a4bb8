"""HopRAG retrieve → reason → prune over the passage graph, without an LLM by default.

1. **retrieve**: hybrid (dense + BM25) seeds, restricted to the time scope.
2. **reason**: a beam over out-going hops for ``hops`` rounds. Entity-anchored hops (score >=
   ``strong_threshold``: the target passage is *about* a name the source mentions) are always
   followed; weaker co-mention hops are followed only for the ``beam`` targets that serve the
   (sub-)question best (embedding similarity of target and question), or — with a ``chooser`` — the
   hops an LLM picks from their query labels. A followed hop gives its target a bonus
   ``parent value × weight × hop score``; targets outside the scope are never entered.
3. **prune**: every candidate (the dense pool around the question plus everything the walk reached)
   gets a helpfulness score ``similarity + hop bonus + visit_weight × visits / max visits`` (HopRAG's
   mix of similarity and visit frequency); the top ``k`` are returned. Seeds stay in the pool with
   their own similarity, so the result fuses the seed ranking with the best hop targets instead of
   replacing it. With ``lead`` > 0 the first ``lead`` seeds (the hybrid ranking's best matches of
   the question itself) keep the top places and the pruned walk follows: a hop target's bonus can
   then lift it above every other passage but not above the passage the question names.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from reasoning.retrievers import HybridRetriever, allowed_ids, to_evidence
from tgrag.kernel.errors import ConfigError
from tgrag.kernel.protocols import LLM, GraphStore
from tgrag.kernel.records import Evidence, Hop, LLMRequest, Usage
from tgrag.kernel.temporal import TimeInterval


@dataclass(frozen=True, slots=True)
class WalkSettings:
    seeds: int = 2
    hops: int = 2
    beam: int = 2
    pool: int = 50
    strong_threshold: float = 0.7
    strong_weight: float = 0.5
    weak_weight: float = 0.5
    decay: float = 0.5
    visit_weight: float = 0.0
    lead: int = 0  # the first ``lead`` seeds come first, in seed order; the pruned walk follows

    def __post_init__(self) -> None:
        if self.lead < 0:
            raise ConfigError(f"walk_lead must be >= 0, got {self.lead}")


@dataclass(slots=True)
class WalkTrace:
    """What the walk did (JSON-serialisable through :meth:`to_dict`)."""

    seeds: list[str] = field(default_factory=list)
    followed: list[dict[str, Any]] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)

    def to_dict(self) -> dict[str, Any]:
        return {"seeds": self.seeds, "followed": self.followed[:50], "n_followed": len(self.followed),
                "usage": self.usage.to_dict()}


class HopChooser(Protocol):
    def choose(self, question: str, passage_text: str, hops: Sequence[Hop]) -> tuple[list[Hop], Usage]: ...


_CHOOSE_PROMPT = (
    "Question: {question}\n\nCurrent passage: {passage}\n\nQuestions this passage leads to:\n{options}\n\n"
    "Which of them help answer the question? Reply with their numbers, comma-separated, or 'none'.")


class LLMHopChooser:
    """HopRAG's reasoning step: the LLM reads the passage and the hop labels and picks which to follow."""

    def __init__(self, llm: LLM, *, max_options: int = 8, max_tokens: int = 16) -> None:
        self.llm = llm
        self.max_options = max_options
        self.max_tokens = max_tokens

    def choose(self, question: str, passage_text: str, hops: Sequence[Hop]) -> tuple[list[Hop], Usage]:
        options = list(hops)[: self.max_options]
        if not options:
            return [], Usage()
        listing = "\n".join(f"{i}. {h.query}" for i, h in enumerate(options, start=1))
        prompt = _CHOOSE_PROMPT.format(question=question, passage=passage_text[:700], options=listing)
        resp = self.llm.complete(LLMRequest.chat(prompt, max_tokens=self.max_tokens))
        picked = {int(n) for n in re.findall(r"\d+", resp.text) if 1 <= int(n) <= len(options)}
        return [options[i - 1] for i in sorted(picked)], resp.usage


def walk_candidates(question_vec: np.ndarray, seeds: dict[str, float], graph: GraphStore,
                    sims_of: Any, settings: WalkSettings, *, allowed: set[str] | None = None,
                    chooser: HopChooser | None = None, question: str = "",
                    texts_of: Any = None, trace: WalkTrace | None = None
                    ) -> tuple[dict[str, float], Counter[str]]:
    """Run the beam; returns (hop bonus per reached passage, visit counts).

    ``seeds`` maps passage id → its value (similarity to the question); ``sims_of(ids)`` returns the
    question's similarity to each passage id; ``texts_of(ids)`` passage texts (LLM chooser only).
    """
    bonus: dict[str, float] = {}
    visits: Counter[str] = Counter()
    frontier = dict(seeds)
    seen = set(seeds)
    for depth in range(settings.hops):
        if not frontier:
            break
        out = [h for h in graph.hops(src=frontier) if allowed is None or h.dst in allowed]
        sims = sims_of({h.dst for h in out})
        by_src: dict[str, list[Hop]] = {}
        for h in out:
            if h.dst in sims:
                by_src.setdefault(h.src, []).append(h)
        texts = texts_of(list(by_src)) if chooser is not None and texts_of is not None else {}
        nxt: dict[str, float] = {}
        for src, hops in sorted(by_src.items()):
            if chooser is not None:
                ranked = sorted(hops, key=lambda h: (-sims[h.dst], h.dst))
                picked, usage = chooser.choose(question, texts.get(src, ""), ranked)
                if trace is not None:
                    trace.usage = trace.usage + usage
                follow = [(h, settings.strong_weight * h.score) for h in picked]
            else:
                strong = [h for h in hops if h.score >= settings.strong_threshold]
                weak = sorted((h for h in hops if h.score < settings.strong_threshold),
                              key=lambda h: (-sims[h.dst], h.dst))[: settings.beam]
                follow = [(h, settings.strong_weight * h.score) for h in strong]
                follow += [(h, settings.weak_weight * h.score) for h in weak]
            for h, weight in follow:
                value = frontier[src] * weight
                visits[h.dst] += 1
                if value > bonus.get(h.dst, 0.0):
                    bonus[h.dst] = value
                if trace is not None:
                    trace.followed.append({"depth": depth + 1, "src": h.src, "dst": h.dst, "query": h.query,
                                           "hop_score": h.score, "bonus": round(value, 4)})
                if h.dst not in seen:  # the path's value, decayed per hop, carries to the next round
                    nxt[h.dst] = max(nxt.get(h.dst, 0.0), max(frontier[src], sims[h.dst]) * settings.decay)
        seen |= set(nxt)
        frontier = dict(sorted(nxt.items(), key=lambda x: (-x[1], x[0]))[: max(1, settings.beam) * len(seeds)])
    return bonus, visits


def helpfulness(sims: dict[str, float], bonus: dict[str, float], visits: Counter[str],
                visit_weight: float) -> list[tuple[str, float]]:
    """Final prune score per candidate: similarity + hop bonus + normalised visit frequency."""
    top = max(visits.values(), default=0) or 1
    scored = {pid: s + bonus.get(pid, 0.0) + visit_weight * visits.get(pid, 0) / top for pid, s in sims.items()}
    return sorted(scored.items(), key=lambda x: (-x[1], x[0]))


def lead_first(ranked: Sequence[tuple[str, float]], lead: Sequence[str]) -> list[tuple[str, float]]:
    """``ranked`` with the ids of ``lead`` moved to the front, in ``lead``'s order (each keeps its
    score; ids of ``lead`` that ``ranked`` lacks are skipped)."""
    score = dict(ranked)
    first = [pid for pid in dict.fromkeys(lead) if pid in score]
    taken = set(first)
    return [(pid, score[pid]) for pid in first] + [(pid, s) for pid, s in ranked if pid not in taken]


class HopWalkRetriever:
    """Retriever: hybrid seeds → hop walk over the passage graph → helpfulness prune."""

    def __init__(self, hybrid: HybridRetriever, graph: GraphStore, *, settings: WalkSettings | None = None,
                 chooser: HopChooser | None = None) -> None:
        self.hybrid = hybrid
        self.dense = hybrid.dense
        self.graph = graph
        self.settings = settings or WalkSettings()
        self.chooser = chooser
        self.last_trace = WalkTrace()

    def ranked(self, query: str, k: int, *, scope: TimeInterval | None = None,
               keep_undated: bool = True) -> list[tuple[str, float]]:
        st = self.settings
        trace = WalkTrace()
        self.last_trace = trace
        qv = self.dense.embed(query)
        allowed = allowed_ids(self.dense.docs, scope, keep_undated=keep_undated)
        seed_ids = [pid for pid, _ in self.hybrid.ranked(query, st.seeds, scope=scope, keep_undated=keep_undated,
                                                         query_vector=qv, allowed=allowed)]
        pool = dict(self.dense.ranked(qv, max(st.pool, k), allowed=allowed))
        missing = {s for s in seed_ids if s not in pool}
        pool.update(self.dense.similarities(qv, missing))
        trace.seeds = seed_ids
        seeds = {s: pool[s] for s in seed_ids if s in pool}

        def sims_of(ids: set[str]) -> dict[str, float]:
            todo = {i for i in ids if i not in pool}
            pool.update(self.dense.similarities(qv, todo))
            return {i: pool[i] for i in ids if i in pool}

        def texts_of(ids: list[str]) -> dict[str, str]:
            return {p.passage_id: p.text for p in self.dense.docs.get_passages(ids)}

        bonus, visits = walk_candidates(qv, seeds, self.graph, sims_of, st, allowed=allowed,
                                        chooser=self.chooser, question=query, texts_of=texts_of, trace=trace)
        ranked = helpfulness(pool, bonus, visits, st.visit_weight)
        return lead_first(ranked, seed_ids[: st.lead])[:k] if st.lead else ranked[:k]

    def retrieve(self, query: str, k: int, *, scope: TimeInterval | None = None,
                 keep_undated: bool = True) -> list[Evidence]:
        return to_evidence(self.dense.docs, self.ranked(query, k, scope=scope, keep_undated=keep_undated))
