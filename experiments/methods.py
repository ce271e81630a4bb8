"""Methods compared in experiments; each turns one question into a :class:`Prediction`.

- ``RetrieveMethod``: dense / bm25 / hybrid ranking, retrieval-only or retrieve-then-read
  (``read=True`` is the naive RAG baseline);
- ``IRCoTMethod``: IRCoT-style interleaving (retrieve → the LLM writes the next reasoning sentence →
  retrieve with that sentence), bounded steps, then the reader answers from everything gathered;
- ``TgragMethod``: tgrag's full loop (``reasoning.loop.TemporalReasoner``) with its parts switchable
  through ``ReasoningSettings`` (ablations), or its retrieval only.

Configs build them ``_partial_``; the runner finishes each with a :class:`System` (the opened
index and the run's LLM), so library code never sees config objects.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from experiments.datasets import QAExample
from experiments.metering import MeteredLLM, usage_delta
from experiments.prompts import IRCOT_DONE_MARKERS, IRCOT_SYSTEM, IRCOT_USER
from experiments.records import Prediction, ranked_doc_ids
from tgrag.kernel.errors import ConfigError
from tgrag.kernel.records import Answer, Evidence, LLMRequest, TraceStep

RETRIEVER_KINDS = ("dense", "bm25", "hybrid")


@dataclass
class System:
    """What a method runs against: the opened index, the metered LLM, and the settings builder.

    Every method gets its retrievers, decomposer and reader from :meth:`query_side`, which calls the
    one query-side assembler (``reasoning.assembly.build_query_side``) with one complete settings
    object (``reasoning.settings`` merged with the method's overrides)."""

    rag: Any  # tgrag.facade.TemporalGraphRAG
    llm: MeteredLLM
    settings_factory: Callable[[Mapping[str, Any] | None], Any]  # overrides -> ReasoningSettings
    pass_question_date: bool = True
    _sides: dict[str, Any] = field(default_factory=dict)

    def query_side(self, overrides: Mapping[str, Any] | None = None) -> Any:
        """The query side for these setting overrides (built once per system and overrides)."""
        import json

        key = json.dumps(dict(overrides or {}), sort_keys=True, default=str)
        if key not in self._sides:
            from reasoning.assembly import build_query_side

            rag = self.rag
            self._sides[key] = build_query_side(rag.docs, rag.vectors, rag.graph, rag.embedder, self.llm,
                                                settings=self.settings_factory(dict(overrides or {})),
                                                indexer=rag.indexer, bm25=rag.bm25)
        return self._sides[key]

    def retriever(self, kind: str) -> Any:
        """A baseline retriever over the index."""
        if kind not in RETRIEVER_KINDS:
            raise ConfigError(f"config group 'method': retriever must be one of {RETRIEVER_KINDS}, got {kind!r}")
        return self.query_side().retriever(kind)

    def reader(self) -> Any:
        return self.query_side().reader

    def reset(self) -> None:
        """Forget built query sides (after the index changed: the update protocol)."""
        self._sides.clear()


@runtime_checkable
class Method(Protocol):
    @property
    def name(self) -> str: ...

    def predict(self, example: QAExample) -> Prediction: ...


def _question_date(example: QAExample, system: System) -> str | None:
    if not system.pass_question_date or example.question_date is None:
        return None
    return example.question_date.label()


def _prediction(example: QAExample, name: str, answer: str | None, abstained: bool,
                evidence: list[Evidence] | tuple[Evidence, ...], *, system: System, usage_before: Any,
                t0: float, trace: tuple[TraceStep, ...] = (), citations: tuple[Evidence, ...] = (),
                stage_seconds: Mapping[str, float] | None = None) -> Prediction:
    ev = tuple(evidence)
    return Prediction(example.qid, name, answer, abstained, ranked_doc_ids(ev), ev, citations, trace,
                      usage_delta(system.llm.total, usage_before), time.perf_counter() - t0,
                      dict(stage_seconds or {}))


# ---------------------------------------------------------------------------------------------
class RetrieveMethod:
    """Rank passages with one retriever; optionally read them (naive retrieve-then-read)."""

    def __init__(self, system: System, *, name: str, retriever: str, k: int, read: bool = False,
                 read_k: int = 5) -> None:
        self.system = system
        self._name = name
        self.kind = retriever
        self.k = k
        self.read = read
        self.read_k = read_k
        self._retriever = system.retriever(retriever)
        self._reader = system.reader() if read else None

    @property
    def name(self) -> str:
        return self._name

    def predict(self, example: QAExample) -> Prediction:
        t0, before = time.perf_counter(), self.system.llm.total
        evidence = list(self._retriever.retrieve(example.question, self.k))
        t_ret = time.perf_counter() - t0
        trace = [TraceStep("retrieve", {"retriever": self.kind, "k": self.k,
                                        "ids": [e.ref_id for e in evidence]}, t_ret)]
        if self._reader is None:
            return _prediction(example, self.name, None, False, evidence, system=self.system,
                               usage_before=before, t0=t0, trace=tuple(trace), stage_seconds={"retrieve": t_ret})
        t1 = time.perf_counter()
        shown = evidence[: self.read_k]
        result = self._reader.read(example.question, shown)
        t_read = time.perf_counter() - t1
        trace.append(TraceStep("read", {"raw": result.raw, "cited": list(result.cited)}, t_read))
        cites = tuple(shown[i - 1] for i in result.cited if 1 <= i <= len(shown))
        return _prediction(example, self.name, result.text, result.abstained, evidence, system=self.system,
                           usage_before=before, t0=t0, trace=tuple(trace), citations=cites,
                           stage_seconds={"retrieve": t_ret, "read": t_read})


class IRCoTMethod:
    """Interleaved retrieval and chain-of-thought (Trivedi et al., 2023), bounded steps."""

    def __init__(self, system: System, *, name: str = "ircot", retriever: str = "bm25", k_first: int = 4,
                 k_step: int = 2, max_steps: int = 4, max_evidence: int = 10, max_sentence_tokens: int = 48,
                 read_k: int = 8) -> None:
        if max_steps < 1:
            raise ConfigError(f"config group 'method': ircot max_steps must be >= 1, got {max_steps}")
        self.system = system
        self._name = name
        self.kind = retriever
        self.k_first, self.k_step, self.max_steps = k_first, k_step, max_steps
        self.max_evidence = max_evidence
        self.max_sentence_tokens = max_sentence_tokens
        self.read_k = read_k
        self._retriever = system.retriever(retriever)
        self._reader = system.reader()

    @property
    def name(self) -> str:
        return self._name

    def _merge(self, pool: list[Evidence], new: list[Evidence]) -> list[Evidence]:
        seen = {e.ref_id for e in pool}
        for e in new:
            if e.ref_id not in seen and len(pool) < self.max_evidence:
                pool.append(e)
                seen.add(e.ref_id)
        return pool

    def predict(self, example: QAExample) -> Prediction:
        from reasoning.reader import format_evidence

        t0, before = time.perf_counter(), self.system.llm.total
        trace: list[TraceStep] = []
        pool = self._merge([], list(self._retriever.retrieve(example.question, self.k_first)))
        trace.append(TraceStep("retrieve", {"query": example.question, "ids": [e.ref_id for e in pool]},
                               time.perf_counter() - t0))
        cot: list[str] = []
        seconds = {"retrieve": time.perf_counter() - t0, "reason": 0.0}
        for step in range(self.max_steps):
            t = time.perf_counter()
            block, _ = format_evidence(pool, self._reader.max_evidence_tokens, self._reader.count_tokens)
            user = IRCOT_USER.format(evidence=block, question=example.question, so_far=" ".join(cot) or "(none)")
            resp = self.system.llm.complete(LLMRequest.chat(user, system=IRCOT_SYSTEM,
                                                            max_tokens=self.max_sentence_tokens, stop=("\n",)))
            sentence = resp.text.strip().split("\n")[0].strip()
            seconds["reason"] += time.perf_counter() - t
            cot.append(sentence)
            trace.append(TraceStep("reason", {"step": step, "sentence": sentence, "cached": resp.cached},
                                   time.perf_counter() - t))
            if not sentence or any(m in sentence.lower() for m in IRCOT_DONE_MARKERS):
                break
            t = time.perf_counter()
            found = list(self._retriever.retrieve(sentence, self.k_step))
            self._merge(pool, found)
            seconds["retrieve"] += time.perf_counter() - t
            trace.append(TraceStep("retrieve", {"query": sentence, "ids": [e.ref_id for e in found]},
                                   time.perf_counter() - t))
        t = time.perf_counter()
        shown = pool[: self.read_k]
        result = self._reader.read(example.question, shown)
        seconds["read"] = time.perf_counter() - t
        trace.append(TraceStep("read", {"raw": result.raw, "chain": cot}, seconds["read"]))
        cites = tuple(shown[i - 1] for i in result.cited if 1 <= i <= len(shown))
        return _prediction(example, self.name, result.text, result.abstained, pool, system=self.system,
                           usage_before=before, t0=t0, trace=tuple(trace), citations=cites,
                           stage_seconds=seconds)


class TgragMethod:
    """tgrag's reasoning loop; ``settings`` switches its parts off for ablations."""

    def __init__(self, system: System, *, name: str = "tgrag", retrieval_only: bool = False, k: int = 20,
                 settings: Mapping[str, Any] | None = None) -> None:
        from reasoning.loop import TemporalReasoner

        self.system = system
        self._name = name
        self.retrieval_only = retrieval_only
        self.k = k
        side = system.query_side(settings)
        self.settings = side.settings
        self.reasoner = TemporalReasoner(side, system.llm)

    @property
    def name(self) -> str:
        return self._name

    def predict(self, example: QAExample) -> Prediction:
        t0, before = time.perf_counter(), self.system.llm.total
        if self.retrieval_only:
            evidence = list(self.reasoner.retrieve_only(example.question, self.k,
                                                        question_date=_question_date(example, self.system)))
            dt = time.perf_counter() - t0
            return _prediction(example, self.name, None, False, evidence, system=self.system,
                               usage_before=before, t0=t0,
                               trace=(TraceStep("retrieve_only", {"ids": [e.ref_id for e in evidence]}, dt),),
                               stage_seconds={"retrieve": dt})
        answer: Answer = self.reasoner.answer(example.question, question_date=_question_date(example, self.system))
        return _prediction(example, self.name, answer.text, answer.abstained, answer.evidence or answer.citations,
                           system=self.system, usage_before=before, t0=t0, trace=answer.trace,
                           citations=answer.citations, stage_seconds=answer.timings)
