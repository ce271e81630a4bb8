"""The one place that assembles the query side: retrievers, walk, decomposer and reader.

The facade, the Hydra methods and the bench scripts all call :func:`build_query_side` with the
index's stores and one :class:`~reasoning.settings.ReasoningSettings`; nothing else constructs a
retriever stack. Retrievers take the time scope and the undated-passage policy per call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reasoning.anchors import AnchorResolver
from reasoning.bm25 import BM25Index
from reasoning.decompose import Decomposer
from reasoning.evidence import Linker, estimate_tokens
from reasoning.fusion import FusionRetriever, MemoEmbedder
from reasoning.generator import RAGGenerator, build_reader
from reasoning.kg_answer import KGAnswerer
from reasoning.ppr import PPRRetriever
from reasoning.reader import Reader
from reasoning.rerank import RerankedRetriever, UPRReranker
from reasoning.retrievers import BM25Retriever, DenseRetriever, HybridRetriever, Retriever
from reasoning.settings import RETRIEVER_KINDS, ReasoningSettings
from reasoning.walk import HopWalkRetriever, LLMHopChooser
from tgrag.kernel.errors import ConfigError
from tgrag.kernel.protocols import LLM, DocumentStore, Embedder, GraphStore, SequenceScorer, VectorIndex
from tgrag.models.scorer_cache import scorer_of


@dataclass
class QuerySide:
    """Everything that answers a question over one index, built from one settings object."""

    docs: DocumentStore
    graph: GraphStore
    embedder: Embedder
    settings: ReasoningSettings
    dense: DenseRetriever
    bm25: BM25Retriever
    hybrid: HybridRetriever
    walk: HopWalkRetriever
    ppr: PPRRetriever
    fusion: FusionRetriever
    indexer: Linker | None = None
    decomposer: Decomposer | None = None
    reader: Reader | RAGGenerator | None = None
    kg: KGAnswerer | None = None
    anchors: AnchorResolver | None = None
    count_tokens: Callable[[str], int] = field(default=estimate_tokens)
    reranker: UPRReranker | None = None  # settings.rerank == "upr": every retriever is reranked

    def retriever(self, kind: str | None = None) -> Retriever:
        """The retriever of ``kind`` (default: the settings' one; "walk" is "hybrid" when the walk is off)."""
        kind = kind or self.settings.retriever
        if kind not in RETRIEVER_KINDS:
            raise ConfigError(f"retriever must be one of {RETRIEVER_KINDS}, got {kind!r}")
        if kind == "walk" and not self.settings.use_walk:
            kind = "hybrid"
        chosen: Retriever = {"dense": self.dense, "bm25": self.bm25, "hybrid": self.hybrid, "walk": self.walk,
                             "ppr": self.ppr, "fusion": self.fusion}[kind]
        if self.reranker is not None:
            return RerankedRetriever(chosen, self.reranker, depth=self.settings.rerank_depth,
                                     upr_weight=self.settings.rerank_upr_weight)
        return chosen


def build_query_side(docs: DocumentStore, vectors: VectorIndex, graph: GraphStore, embedder: Embedder,
                     llm: LLM | None, *, settings: ReasoningSettings | None = None,
                     indexer: Linker | None = None, reader: Any | None = None,
                     scorer: SequenceScorer | None = None, bm25: BM25Index | None = None) -> QuerySide:
    """Build the query side of an index. ``reader`` overrides the settings-built reader
    (``settings.generator``: the concatenating :class:`Reader` or a RAG generator; any object with
    the same ``read`` method); without an LLM there is no reader or decomposer. ``scorer`` (default:
    the one behind ``llm``, :func:`~tgrag.models.scorer_cache.scorer_of`) serves the RAG generators
    and the UPR reranker. ``bm25``: a BM25 index kept up to date by the index's writer (the facade's),
    shared instead of built from the stored passages."""
    st = settings or ReasoningSettings()
    dense = DenseRetriever(docs, vectors, MemoEmbedder(embedder))  # retrievers of one question embed it once
    sparse = BM25Retriever(docs, bm25)
    hybrid = HybridRetriever(dense, sparse)
    chooser = LLMHopChooser(llm) if st.walk_llm and llm is not None else None
    walk = HopWalkRetriever(hybrid, graph, chooser=chooser, settings=st.walk)
    ppr = PPRRetriever(dense, graph, settings=st.ppr)
    fusion = FusionRetriever(docs, {"dense": dense, "bm25": sparse, "hybrid": hybrid, "walk": walk, "ppr": ppr},
                             settings=st.fusion)
    count = token_counter(llm)
    needs_scorer = st.generator != "concat" or st.rerank == "upr"
    scorer = scorer if scorer is not None or not needs_scorer else scorer_of(llm)
    if reader is None and llm is not None:
        reader = build_reader(st.generator, llm, scorer, rag=st.rag, max_evidence_tokens=st.max_evidence_tokens,
                              max_answer_tokens=st.max_answer_tokens, count_tokens=count)
    if st.rerank == "upr" and scorer is None:
        raise ConfigError("rerank 'upr' needs a model with log-probabilities (a SequenceScorer)")
    reranker = UPRReranker(scorer, batch_size=st.rag.batch_size) if st.rerank == "upr" and scorer else None
    kg = KGAnswerer(graph, indexer, embedder, relation_threshold=st.kg_relation_threshold) \
        if indexer is not None else None
    anchors = AnchorResolver(graph, indexer, kg, hybrid) if indexer is not None else None
    return QuerySide(docs, graph, embedder, st, dense, sparse, hybrid, walk, ppr, fusion, indexer=indexer,
                     decomposer=Decomposer(llm) if llm is not None else None, reader=reader, kg=kg,
                     anchors=anchors, count_tokens=count, reranker=reranker)


def token_counter(llm: Any) -> Callable[[str], int]:
    """The reader model's own token count when the LLM has a tokenizer (``count_tokens``), else the
    word-based estimate (1 word ≈ 1.3 tokens)."""
    counter = getattr(llm, "count_tokens", None)
    return counter if callable(counter) else estimate_tokens
