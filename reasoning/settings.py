"""The one complete settings object of the query side (retrievers, walk, KG, decomposer, reader)."""

from __future__ import annotations

from dataclasses import dataclass

from reasoning.evidence import FOCUS_MODES
from reasoning.fusion import FusionSettings
from reasoning.generator import GENERATOR_KINDS, RAGSettings
from reasoning.ppr import PPRSettings
from reasoning.rerank import RERANKERS
from reasoning.walk import WalkSettings
from tgrag.kernel.errors import ConfigError

RETRIEVER_KINDS = ("dense", "bm25", "hybrid", "walk", "ppr", "fusion")
# what makes a period "covered" in a corpus that dates its documents (TemporalReasoner.period_lacking)
PERIOD_COVERAGE = ("documents_or_facts", "documents")
_WALK = WalkSettings()  # the walk's own defaults, so the two cannot drift apart


@dataclass(frozen=True, slots=True)
class ReasoningSettings:
    retriever: str = "walk"  # "dense" | "bm25" | "hybrid" | "walk" | "ppr" | "fusion"
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
    # the walk's first walk_lead hybrid seeds keep the top places (reasoning.walk); 1 was chosen on
    # the tune half of bench/retrieval.py (Recall@1 and @5 above lead 0 on all three sets' tune halves)
    walk_lead: int = 1
    keep_undated: bool = True  # undated passages stay eligible under a scope read from the question
    max_evidence_tokens: int = 1500  # counted with the reader model's own tokenizer when it has one
    max_answer_tokens: int = 32
    max_facts: int = 8
    scope_sentences: bool = True  # drop sentences of undated passages dated outside the scope
    entity_focus: str = "off"  # "off" | "fill" | "only": passages about the question's entities first
    focus_depth: int = 15  # passages retrieved for the entity focus to choose the k from (at least k)
    # a dated corpus covers a period with a document dated in it, or ("documents_or_facts") also with a
    # KG fact valid in it; "documents" suits reports that each cover their own period (earnings calls)
    period_coverage: str = "documents_or_facts"
    ppr: PPRSettings = PPRSettings()  # Personalized PageRank over the entity–passage graph
    fusion: FusionSettings = FusionSettings()  # retriever "fusion": weighted RRF of its members
    use_kg_answer: bool = True  # answer from the KG when it holds one value in the scope
    kg_confirm: bool = False  # a KG answer is still read (facts + their passages first) by the reader
    kg_relation_threshold: float = 0.5  # cosine of the question's relation and a predicate label
    use_anchors: bool = True  # event-anchored scopes ("before X", "after X left Y")
    skip_simple_decomposition: bool = True  # no decomposition call for single-hop questions
    generator: str = "concat"  # "concat" (the Reader) | "rag_sequence" | "rag_token" (reasoning.generator)
    rag: RAGSettings = RAGSettings()  # prior temperature, k, beam, batch of the RAG generators
    rerank: str = "walk"  # "walk" (the retriever's order) | "upr" (reasoning.rerank, before the budget)
    rerank_depth: int = 20  # candidates UPR reranks
    rerank_upr_weight: float = 1.0  # 1: UPR's order alone; < 1: RRF of UPR's and the retriever's orders

    def __post_init__(self) -> None:
        if self.retriever not in RETRIEVER_KINDS:
            raise ConfigError(f"retriever must be one of {RETRIEVER_KINDS}, got {self.retriever!r}")
        if self.generator not in GENERATOR_KINDS:
            raise ConfigError(f"generator must be one of {GENERATOR_KINDS}, got {self.generator!r}")
        if self.entity_focus not in FOCUS_MODES:
            raise ConfigError(f"entity_focus must be one of {FOCUS_MODES}, got {self.entity_focus!r}")
        if self.period_coverage not in PERIOD_COVERAGE:
            raise ConfigError(f"period_coverage must be one of {PERIOD_COVERAGE}, got {self.period_coverage!r}")
        if self.focus_depth < 1:
            raise ConfigError(f"focus_depth must be >= 1, got {self.focus_depth}")
        if self.rerank not in RERANKERS:
            raise ConfigError(f"rerank must be one of {RERANKERS}, got {self.rerank!r}")
        if not 0.0 <= self.rerank_upr_weight <= 1.0:
            raise ConfigError(f"rerank_upr_weight must be in [0, 1], got {self.rerank_upr_weight}")

    @property
    def walk(self) -> WalkSettings:
        return WalkSettings(seeds=self.seeds, hops=self.hops, beam=self.beam, lead=self.walk_lead)
