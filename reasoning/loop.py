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
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from reasoning.anchors import anchored_scope, find_anchor
from reasoning.assembly import QuerySide, build_query_side
from reasoning.bm25 import BM25Index
from reasoning.decompose import Decomposition, build_tree, looks_single_hop, rewrite
from reasoning.evidence import (
    Linker,
    assemble,
    evidence_summary,
    fact_text,
    focus_on_entities,
    kg_fact_evidence,
    ranked_fact_evidence,
    scope_sentences,
    summary_evidence,
)
from reasoning.kg_answer import EventAnchor, KGResult
from reasoning.reader import Reader
from reasoning.retrievers import Retriever, passage_evidence
from reasoning.scope import QuestionScope, question_scope
from reasoning.settings import RETRIEVER_KINDS, ReasoningSettings
from tgrag.kernel.protocols import LLM, DocumentStore, Embedder, GraphStore, VectorIndex
from tgrag.kernel.records import Answer, Evidence, EvidenceKind, TraceStep, Usage
from tgrag.kernel.temporal import TimeInterval

__all__ = ["RETRIEVER_KINDS", "ReasoningSettings", "TemporalReasoner"]


class TemporalReasoner:
    """The loop over one :class:`~reasoning.assembly.QuerySide` (see :meth:`from_parts`)."""

    def __init__(self, side: QuerySide, llm: LLM | None = None) -> None:
        self.side = side
        self.llm = llm
        self.settings = side.settings
        self.docs = side.docs
        self.graph = side.graph
        self.indexer = side.indexer
        self.reader = side.reader
        self.decomposer = side.decomposer
        self.walk = side.walk

    @classmethod
    def from_parts(cls, docs: DocumentStore, vectors: VectorIndex, graph: GraphStore, embedder: Embedder,
                   llm: LLM | None, *, reader: Reader | None = None, indexer: Linker | None = None,
                   settings: ReasoningSettings | None = None, bm25: BM25Index | None = None) -> TemporalReasoner:
        return cls(build_query_side(docs, vectors, graph, embedder, llm, settings=settings, indexer=indexer,
                                    reader=reader, bm25=bm25), llm)

    # -- parts --------------------------------------------------------------------------------
    def retriever(self) -> Retriever:
        return self.side.retriever()

    def scope_of(self, question: str, *, as_of: str | datetime | None = None,
                 between: tuple[str | datetime, str | datetime] | None = None,
                 question_date: str | datetime | None = None) -> QuestionScope:
        if not self.settings.use_time_scope:
            return QuestionScope(None)
        return question_scope(question, as_of=as_of, between=between, question_date=question_date)

    def keep_undated(self, *, api_scoped: bool) -> bool:
        """A scope the caller gives (``as_of``/``between``) is strict: an undated passage cannot be
        shown to lie inside it, so it is excluded. A scope read from the question text keeps undated
        passages (``settings.keep_undated``): undated corpora state their times in the text."""
        return self.settings.keep_undated and not api_scoped

    def gather(self, question: str, scope: TimeInterval | None, *, keep_undated: bool = True
               ) -> tuple[list[Evidence], dict[str, Any]]:
        """Retrieve passages (walk or baseline), add KG facts and period summaries; within budget."""
        st = self.settings
        t0 = time.perf_counter()
        retr = self.retriever()
        focus = st.entity_focus != "off" and self.indexer is not None
        entities = self.indexer.link(question) if self.indexer is not None and (focus or st.use_kg_facts) else []
        passages = retr.retrieve(question, max(st.focus_depth, st.k) if focus else st.k, scope=scope, keep_undated=keep_undated)
        if focus:
            passages = focus_on_entities(passages, entities, st.k, mode=st.entity_focus)
        if st.use_time_scope and st.scope_sentences and scope is not None:
            passages = scope_sentences(passages, scope)
        info: dict[str, Any] = {"retriever": type(retr).__name__, "query": question,
                                "scope": scope.label() if scope else None,
                                "passages": evidence_summary(passages)}
        if retr is self.walk:
            info["walk"] = self.walk.last_trace.to_dict()
        facts: list[Evidence] = []
        later_facts: list[Evidence] = []
        if st.use_kg_facts and self.indexer is not None:
            info["linked_entities"] = [e.name for e in entities]
            if self.side.kg is not None:  # relevance (relation match, fit to the scope), then time
                facts, later_facts = ranked_fact_evidence(self.side.kg, self.graph, question, scope, entities,
                                                          limit=st.max_facts)
            else:
                facts = kg_fact_evidence(self.graph, entities, scope, limit=st.max_facts)
        summaries = summary_evidence(self.graph, scope, self.indexer) if st.use_summaries else []
        evidence = assemble([facts, passages, later_facts, summaries], max_tokens=st.max_evidence_tokens,
                            count=self.side.count_tokens)
        info["facts"] = len(facts) + len(later_facts)
        info["summaries"] = len(summaries)
        info["seconds"] = round(time.perf_counter() - t0, 4)
        return evidence, info

    def retrieve_only(self, question: str, k: int | None = None, *, as_of: str | datetime | None = None,
                      between: tuple[str | datetime, str | datetime] | None = None,
                      question_date: str | datetime | None = None) -> list[Evidence]:
        """LLM-free retrieval of the question as a whole (for Recall@k evaluation)."""
        scope = self.scope_of(question, as_of=as_of, between=between, question_date=question_date)
        keep = self.keep_undated(api_scoped=as_of is not None or between is not None)
        return self.retriever().retrieve(question, k or self.settings.k, scope=scope.interval, keep_undated=keep)

    def period_lacking(self, scope: TimeInterval | None, *, strict: bool = False) -> bool:
        """True when the corpus dates its documents but none falls in ``scope`` and (with
        ``period_coverage`` "documents_or_facts") no knowledge-graph fact known to hold then is valid in
        it: the corpus lacks that period, so any answer would be invented. Undated corpora
        (Wikipedia-style) are never "lacking": their times live in the text. A ``strict`` scope (the
        caller's ``as_of``/``between``) reads only documents dated inside it, so no such document is
        enough: an ``as_of`` earlier than every document abstains."""
        if scope is None or not self.settings.use_time_scope:
            return False
        if not self.docs.passage_ids_in(TimeInterval(None, None), limit=1):  # index lookups, no scan
            return False
        if self.docs.passage_ids_in(scope, limit=1):
            return False
        if strict or self.settings.period_coverage == "documents":
            return True
        # a fact counts only with a known start ("until 2027" says nothing about 2012), and an open end
        # ("since 2015") only while the corpus reaches the period: past its last document it is unknown
        reaches = bool(self.docs.passage_ids_in(TimeInterval(scope.start, None), limit=1))
        return not any(f.valid is not None and f.valid.start is not None and (f.valid.end is not None or reaches)
                       for f in self.graph.facts(during=scope))

    # -- the loop -----------------------------------------------------------------------------
    def answer(self, question: str, *, as_of: str | datetime | None = None,
               between: tuple[str | datetime, str | datetime] | None = None,
               question_date: str | datetime | None = None) -> Answer:
        keep = self.keep_undated(api_scoped=as_of is not None or between is not None)
        if self.reader is None:
            from tgrag.kernel.errors import ConfigError

            raise ConfigError("TemporalReasoner.answer needs an LLM (or a Reader); use retrieve_only")
        trace: list[TraceStep] = []
        timings: dict[str, float] = {}
        usage = Usage()
        t_all = time.perf_counter()

        t0 = time.perf_counter()
        api_scoped = as_of is not None or between is not None
        qscope = self.scope_of(question, as_of=as_of, between=between, question_date=question_date)
        scope = qscope.interval
        lacking = self.period_lacking(scope, strict=api_scoped)
        timings["scope"] = time.perf_counter() - t0
        trace.append(TraceStep("scope", {**qscope.to_dict(), "period_lacking": lacking}, timings["scope"]))
        if lacking:  # the corpus dates its documents, yet has nothing for this period: abstain, no call
            timings["total"] = time.perf_counter() - t_all
            return Answer(question, "", True, (), scope, tuple(trace), timings, usage, ())

        event, scope = self._anchor(question, scope, trace, timings)
        kg = self._kg(question, scope, event, trace, timings)
        if kg is not None and kg.status == "answer" and not self.settings.kg_confirm:
            cited = self.kg_citations(kg)
            trace.append(TraceStep("answer", {"path": "kg", "answer": kg.answer, "facts": [f.fact_id for f in kg.facts],
                                              "reason": kg.reason}, 0.0))
            timings["total"] = time.perf_counter() - t_all
            return Answer(question, kg.answer, False, cited, scope, tuple(trace), timings, usage, cited)

        t0 = time.perf_counter()
        skip = self._skip_decomposition(question, kg)
        if self.settings.use_decomposition and self.decomposer is not None and not skip:
            decomposition = self.decomposer.decompose(question, scope=scope, scoped=self.settings.use_time_scope,
                                                      entity_spans=self._entity_spans(question))
        else:
            decomposition = Decomposition(question, build_tree(question, [question], scope,
                                                               scoped=self.settings.use_time_scope))
        usage = usage + decomposition.usage
        timings["decompose"] = time.perf_counter() - t0
        trace.append(TraceStep("decompose", {**decomposition.to_dict(), "skipped": skip}, timings["decompose"]))

        answers: dict[int, str] = {}
        all_evidence: list[Sequence[Evidence]] = []
        final_text, abstained, cited_ev = "", True, ()
        subs = decomposition.subquestions
        timings["retrieve"] = timings["read"] = 0.0
        for sub in subs:
            text = rewrite(sub.text, answers)
            evidence, info = self.gather(text, sub.scope, keep_undated=keep)
            timings["retrieve"] += info["seconds"]
            all_evidence.append(evidence)
            trace.append(TraceStep("retrieve", {"subquestion": sub.index, **info}, info["seconds"]))
            if not decomposition.is_split:
                break
            t0 = time.perf_counter()
            sub_kg = self.side.kg.answer(text, sub.scope) if self.settings.use_kg_answer and self.side.kg else None
            if sub_kg is not None and sub_kg.status == "answer":  # a hop the KG holds: no reader call
                answers[sub.index] = sub_kg.answer
                cited = self.kg_citations(sub_kg)
                all_evidence[-1] = [*cited, *evidence]
                trace.append(TraceStep("subanswer", {"subquestion": sub.index, "question": text, "path": "kg",
                                                     "answer": sub_kg.answer, "abstained": False,
                                                     "facts": [f.fact_id for f in sub_kg.facts]},
                                       time.perf_counter() - t0))
                if sub.index == len(subs) and sub.depends_on:
                    final_text, abstained, cited_ev = sub_kg.answer, False, cited
                continue
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

        groups: list[Sequence[Evidence]] = list(all_evidence[::-1] if decomposition.is_split else all_evidence)
        if kg is not None and kg.status == "answer":  # kg_confirm: the KG's facts and their passages lead
            groups.insert(0, self.kg_citations(kg))
        merged = assemble(groups, max_tokens=self.settings.max_evidence_tokens, count=self.side.count_tokens)
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
            trace.append(TraceStep("answer", {"path": "reader", "question": q, "answer": read.text,
                                              "abstained": read.abstained,
                                              "cited": list(read.cited), "raw": read.raw},
                                   time.perf_counter() - t0))
        else:
            trace.append(TraceStep("answer", {"path": "subquestions", "answer": final_text,
                                              "from_subquestion": len(subs)}, 0.0))
        timings["total"] = time.perf_counter() - t_all
        return Answer(question, final_text, abstained, cited_ev, scope, tuple(trace), timings, usage,
                      tuple(merged))

    # -- KG path, event anchors, decomposition skip ---------------------------------------------
    def _anchor(self, question: str, scope: TimeInterval | None, trace: list[TraceStep],
                timings: dict[str, float]) -> tuple[EventAnchor | None, TimeInterval | None]:
        """Resolve a "before/after/while <event>" anchor and rewrite the scope with its date."""
        if not (self.settings.use_anchors and self.settings.use_time_scope) or self.side.anchors is None:
            return None, scope
        clause = find_anchor(question)
        if clause is None:
            return None, scope
        t0 = time.perf_counter()
        event, steps = self.side.anchors.resolve(question, clause)
        new_scope = anchored_scope(event, scope)
        timings["anchor"] = time.perf_counter() - t0
        trace.append(TraceStep("anchor", {**steps, "event": event.to_dict(),
                                          "scope_before": scope.label() if scope else None,
                                          "scope_after": new_scope.label() if new_scope else None},
                               timings["anchor"]))
        return event, new_scope

    def _kg(self, question: str, scope: TimeInterval | None, event: EventAnchor | None,
            trace: list[TraceStep], timings: dict[str, float]) -> KGResult | None:
        if not self.settings.use_kg_answer or self.side.kg is None:
            return None
        t0 = time.perf_counter()
        result = self.side.kg.answer(question, scope if self.settings.use_time_scope else None, event=event)
        timings["kg"] = time.perf_counter() - t0
        trace.append(TraceStep("kg", result.to_dict(), timings["kg"]))
        return result

    def kg_citations(self, kg: KGResult) -> tuple[Evidence, ...]:
        """The facts an answer rests on, each followed by its source passage."""
        names = {e.entity_id: e.name for e in self.graph.entities(
            {f.subject for f in kg.facts} | {f.object for f in kg.facts if f.object_is_entity})}
        passages = {p.passage_id: p for p in self.docs.get_passages([f.source_passage_id for f in kg.facts])}
        out: list[Evidence] = []
        for f in kg.facts:
            out.append(Evidence(EvidenceKind.FACT, f.fact_id, fact_text(f, names), f.confidence, f.effective, f.doc_id))
            p = passages.get(f.source_passage_id)
            if p is not None:
                out.append(passage_evidence(p, f.confidence))
        return tuple(out)

    def _entity_spans(self, question: str) -> list[tuple[int, int]]:
        """Character spans of the entities the linker finds in ``question`` (for the LLM-free split)."""
        if self.indexer is None:
            return []
        spans = []
        low = question.lower()
        for ent in self.indexer.link(question):
            i = low.find(ent.name.lower())
            if i >= 0:
                spans.append((i, i + len(ent.name)))
        return spans

    def _skip_decomposition(self, question: str, kg: KGResult | None) -> bool:
        """No decomposition call for a question the KG reads as one entity with one relation, or that
        the LLM-free check finds single-hop."""
        if not self.settings.skip_simple_decomposition:
            return False
        if kg is not None and kg.status != "none" and len(kg.anchors) == 1:
            return True
        return looks_single_hop(question)

    def settings_dict(self) -> dict[str, Any]:
        return asdict(self.settings)
