"""The multi-hop, time-scoped reasoning loop: scope → decompose → retrieve/walk → evidence → answer.

Every step is recorded as a :class:`~tgrag.kernel.records.TraceStep` in ``Answer.trace``; stage
timings go to ``Answer.timings`` and LLM cost to ``Answer.usage``. Switches in
:class:`ReasoningSettings` turn each idea off for ablations. Construction is cheap: the BM25 index
is built on the first query that needs it.

Sub-questions are answered in order; ``#n`` in a later one is replaced by the answer of sub-question
n (RT-RAG's rewriting). When the last sub-question builds on earlier answers (a chain: it holds a
``#n``), its answer is the final answer. Otherwise (comparisons, parallel leaves, an abstention, or
no split) the original question is read over the evidence of every step, with the sub-answers found
so far given as context.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from reasoning.decompose import Decomposer, Decomposition, build_tree, rewrite
from reasoning.evidence import (
    Linker,
    assemble,
    evidence_summary,
    kg_fact_evidence,
    scope_sentences,
    summary_evidence,
)
from reasoning.reader import Reader
from reasoning.retrievers import BM25Retriever, DenseRetriever, HybridRetriever, Retriever
from reasoning.scope import QuestionScope, question_scope
from reasoning.walk import HopWalkRetriever, LLMHopChooser, WalkSettings
from tgrag.kernel.protocols import LLM, DocumentStore, Embedder, GraphStore, VectorIndex
from tgrag.kernel.records import Answer, Evidence, TraceStep, Usage
from tgrag.kernel.temporal import TimeInterval

RETRIEVER_KINDS = ("dense", "bm25", "hybrid", "walk")
_WALK = WalkSettings()  # the walk's own defaults, so the two cannot drift apart


@dataclass(frozen=True, slots=True)
class ReasoningSettings:
    retriever: str = "walk"  # "dense" | "bm25" | "hybrid" | "walk"
    k: int = 5
    use_time_scope: bool = True
    use_walk: bool = True  # False turns retriever "walk" into "hybrid"
    use_decomposition: bool = True
    use_kg_facts: bool = True
    use_summaries: bool = True
    walk_llm: bool = False
    hops: int = _WALK.hops
    beam: int = _WALK.beam
    seeds: int = _WALK.seeds
    keep_undated: bool = True
    max_evidence_tokens: int = 1500
    max_facts: int = 8
    scope_sentences: bool = True  # drop sentences of undated passages dated outside the scope

    def __post_init__(self) -> None:
        if self.retriever not in RETRIEVER_KINDS:
            from tgrag.kernel.errors import ConfigError

            raise ConfigError(f"retriever must be one of {RETRIEVER_KINDS}, got {self.retriever!r}")


class TemporalReasoner:
    def __init__(self, docs: DocumentStore, vectors: VectorIndex, graph: GraphStore, embedder: Embedder,
                 llm: LLM | None, *, reader: Reader | None = None, indexer: Linker | None = None,
                 settings: ReasoningSettings | None = None) -> None:
        self.docs = docs
        self.graph = graph
        self.llm = llm
        self.settings = settings or ReasoningSettings()
        self.reader = reader or (Reader(llm, max_evidence_tokens=self.settings.max_evidence_tokens)
                                 if llm is not None else None)
        self.indexer = indexer
        st = self.settings
        self.dense = DenseRetriever(docs, vectors, embedder, keep_undated=st.keep_undated)
        self.bm25 = BM25Retriever(docs, keep_undated=st.keep_undated)
        self.hybrid = HybridRetriever(self.dense, self.bm25)
        chooser = LLMHopChooser(llm) if st.walk_llm and llm is not None else None
        self.walk = HopWalkRetriever(self.hybrid, graph, chooser=chooser,
                                     settings=WalkSettings(seeds=st.seeds, hops=st.hops, beam=st.beam))
        self.decomposer = Decomposer(llm) if llm is not None else None

    # -- parts --------------------------------------------------------------------------------
    def retriever(self) -> Retriever:
        kind = self.settings.retriever
        if kind == "walk" and not self.settings.use_walk:
            kind = "hybrid"
        return {"dense": self.dense, "bm25": self.bm25, "hybrid": self.hybrid, "walk": self.walk}[kind]

    def scope_of(self, question: str, *, as_of: str | datetime | None = None,
                 between: tuple[str | datetime, str | datetime] | None = None,
                 question_date: str | datetime | None = None) -> QuestionScope:
        if not self.settings.use_time_scope:
            return QuestionScope(None)
        return question_scope(question, as_of=as_of, between=between, question_date=question_date)

    def gather(self, question: str, scope: TimeInterval | None) -> tuple[list[Evidence], dict[str, Any]]:
        """Retrieve passages (walk or baseline), add KG facts and period summaries; within budget."""
        st = self.settings
        t0 = time.perf_counter()
        retr = self.retriever()
        passages = retr.retrieve(question, st.k, scope=scope)
        if st.use_time_scope and st.scope_sentences and scope is not None:
            passages = scope_sentences(passages, scope)
        info: dict[str, Any] = {"retriever": type(retr).__name__, "query": question,
                                "scope": scope.label() if scope else None,
                                "passages": evidence_summary(passages)}
        if retr is self.walk:
            info["walk"] = self.walk.last_trace.to_dict()
        facts: list[Evidence] = []
        if st.use_kg_facts and self.indexer is not None:
            entities = self.indexer.link(question)
            info["linked_entities"] = [e.name for e in entities]
            facts = kg_fact_evidence(self.graph, entities, scope, limit=st.max_facts)
        summaries = summary_evidence(self.graph, scope, self.indexer) if st.use_summaries else []
        evidence = assemble([passages, facts, summaries], max_tokens=st.max_evidence_tokens)
        info["facts"] = len(facts)
        info["summaries"] = len(summaries)
        info["seconds"] = round(time.perf_counter() - t0, 4)
        return evidence, info

    def retrieve_only(self, question: str, k: int | None = None, *, as_of: str | datetime | None = None,
                      between: tuple[str | datetime, str | datetime] | None = None,
                      question_date: str | datetime | None = None) -> list[Evidence]:
        """LLM-free retrieval of the question as a whole (for Recall@k evaluation)."""
        scope = self.scope_of(question, as_of=as_of, between=between, question_date=question_date)
        with self._undated_policy(api_scoped=as_of is not None or between is not None):
            return self.retriever().retrieve(question, k or self.settings.k, scope=scope.interval)

    def period_lacking(self, scope: TimeInterval | None) -> bool:
        """True when the corpus dates its documents but none falls in ``scope`` and no knowledge-graph
        fact with a known start is valid in it: the corpus lacks that period, so any answer would be invented. Undated
        corpora (Wikipedia-style) are never "lacking": their times live in the text."""
        if scope is None or not self.settings.use_time_scope:
            return False
        if next(self.docs.iter_passages(during=TimeInterval(None, None)), None) is None:
            return False
        if next(self.docs.iter_passages(during=scope), None) is not None:
            return False
        # a fact counts only with a known start: "until 2027" says nothing about 2012
        return not any(f.valid is not None and f.valid.start is not None for f in self.graph.facts(during=scope))

    @contextmanager
    def _undated_policy(self, *, api_scoped: bool) -> Iterator[None]:
        """A scope the caller gives (``as_of``/``between``) is strict: an undated passage cannot be
        shown to lie inside it, so it is excluded. A scope read from the question text keeps undated
        passages (``settings.keep_undated``): undated corpora state their times in the text."""
        keep = self.settings.keep_undated and not api_scoped
        saved = (self.dense.keep_undated, self.bm25.keep_undated)
        self.dense.keep_undated = self.bm25.keep_undated = keep
        try:
            yield
        finally:
            self.dense.keep_undated, self.bm25.keep_undated = saved

    # -- the loop -----------------------------------------------------------------------------
    def answer(self, question: str, *, as_of: str | datetime | None = None,
               between: tuple[str | datetime, str | datetime] | None = None,
               question_date: str | datetime | None = None) -> Answer:
        with self._undated_policy(api_scoped=as_of is not None or between is not None):
            return self._answer(question, as_of=as_of, between=between, question_date=question_date)

    def _answer(self, question: str, *, as_of: str | datetime | None,
                between: tuple[str | datetime, str | datetime] | None,
                question_date: str | datetime | None) -> Answer:
        if self.reader is None:
            from tgrag.kernel.errors import ConfigError

            raise ConfigError("TemporalReasoner.answer needs an LLM (or a Reader); use retrieve_only")
        trace: list[TraceStep] = []
        timings: dict[str, float] = {}
        usage = Usage()
        t_all = time.perf_counter()

        t0 = time.perf_counter()
        qscope = self.scope_of(question, as_of=as_of, between=between, question_date=question_date)
        scope = qscope.interval
        lacking = self.period_lacking(scope)
        timings["scope"] = time.perf_counter() - t0
        trace.append(TraceStep("scope", {**qscope.to_dict(), "period_lacking": lacking}, timings["scope"]))
        if lacking:  # the corpus dates its documents, yet has nothing for this period: abstain, no call
            timings["total"] = time.perf_counter() - t_all
            return Answer(question, "", True, (), scope, tuple(trace), timings, usage, ())

        t0 = time.perf_counter()
        if self.settings.use_decomposition and self.decomposer is not None:
            decomposition = self.decomposer.decompose(question, scope=scope,
                                                      scoped=self.settings.use_time_scope)
        else:
            decomposition = Decomposition(question, build_tree(question, [question], scope,
                                                               scoped=self.settings.use_time_scope))
        usage = usage + decomposition.usage
        timings["decompose"] = time.perf_counter() - t0
        trace.append(TraceStep("decompose", decomposition.to_dict(), timings["decompose"]))

        answers: dict[int, str] = {}
        all_evidence: list[Sequence[Evidence]] = []
        final_text, abstained, cited_ev = "", True, ()
        subs = decomposition.subquestions
        timings["retrieve"] = timings["read"] = 0.0
        for sub in subs:
            text = rewrite(sub.text, answers)
            evidence, info = self.gather(text, sub.scope)
            timings["retrieve"] += info["seconds"]
            all_evidence.append(evidence)
            trace.append(TraceStep("retrieve", {"subquestion": sub.index, **info}, info["seconds"]))
            if not decomposition.is_split:
                break
            t0 = time.perf_counter()
            read = self.reader.read(text, evidence, scope=sub.scope)
            usage = usage + read.usage
            timings["read"] += time.perf_counter() - t0
            if not read.abstained:
                answers[sub.index] = read.text
            trace.append(TraceStep("subanswer", {"subquestion": sub.index, "question": text, "answer": read.text,
                                                 "abstained": read.abstained, "cited": list(read.cited)},
                                   time.perf_counter() - t0))
            if sub.index == len(subs) and sub.depends_on and not read.abstained:
                final_text, abstained = read.text, False
                cited_ev = tuple(evidence[i - 1] for i in read.cited if 0 < i <= len(evidence))

        merged = assemble(all_evidence[::-1] if decomposition.is_split else all_evidence,
                          max_tokens=self.settings.max_evidence_tokens)
        trace.append(TraceStep("evidence", {"items": evidence_summary(merged)}, 0.0))
        if abstained:
            t0 = time.perf_counter()
            context = "; ".join(f"{rewrite(s.text, answers)} → {answers[s.index]}" for s in subs
                                if s.index in answers)
            q = f"{question}\n(Known: {context})" if context else question
            read = self.reader.read(q, merged, scope=scope)
            usage = usage + read.usage
            timings["read"] += time.perf_counter() - t0
            final_text, abstained = read.text, read.abstained
            cited_ev = tuple(merged[i - 1] for i in read.cited if 0 < i <= len(merged))
            trace.append(TraceStep("answer", {"question": q, "answer": read.text, "abstained": read.abstained,
                                              "cited": list(read.cited), "raw": read.raw},
                                   time.perf_counter() - t0))
        else:
            trace.append(TraceStep("answer", {"answer": final_text, "from_subquestion": len(subs)}, 0.0))
        timings["total"] = time.perf_counter() - t_all
        return Answer(question, final_text, abstained, cited_ev, scope, tuple(trace), timings, usage,
                      tuple(merged))

    def settings_dict(self) -> dict[str, Any]:
        return asdict(self.settings)
