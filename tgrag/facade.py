"""``TemporalGraphRAG``: the one object users hold.

    rag = TemporalGraphRAG.open("my-index")
    rag.insert(load_jsonl_documents("docs.jsonl"))
    ans = rag.query("Who chaired the board in June 1970?", as_of="2024-06-30")

Insert is atomic: everything expensive (chunking, embedding) happens before any write, and a
failure during the writes rolls every store back to the last saved state. Re-inserting a document
with unchanged content is a no-op; with changed content it replaces the old version.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from tgrag.ingest import document_from_row, passages_of
from tgrag.kernel.errors import ConfigError, IndexCorruptError, InputError, NotFoundError
from tgrag.kernel.protocols import LLM, Embedder, GraphStore, VectorIndex
from tgrag.kernel.records import Answer, Document, Fact, Passage, TimeNode
from tgrag.kernel.temporal import TimeInterval
from tgrag.kernel.timeparse import as_of_scope, between_scope

log = logging.getLogger(__name__)
FORMAT_VERSION = 1
SUMMARY_VECTORS = "summary_vectors.npz"  # sentence-vector cache of the extractive summariser
PASSAGE_KEYS = "passage_keys.faiss"  # embeddings of passage-graph pseudo-query keys (a cache)


@dataclass(frozen=True, slots=True)
class InsertReport:
    documents_added: int = 0
    documents_replaced: int = 0
    documents_unchanged: int = 0
    passages_added: int = 0
    facts_added: int = 0
    hops_added: int = 0
    time_nodes_recomputed: tuple[str, ...] = ()
    extraction_failures: int = 0
    seconds: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"documents_added": self.documents_added, "documents_replaced": self.documents_replaced,
                "documents_unchanged": self.documents_unchanged, "passages_added": self.passages_added,
                "facts_added": self.facts_added, "hops_added": self.hops_added,
                "time_nodes_recomputed": list(self.time_nodes_recomputed),
                "extraction_failures": self.extraction_failures, "seconds": dict(self.seconds)}


@dataclass(frozen=True, slots=True)
class DeleteReport:
    doc_id: str
    passages_removed: int
    facts_removed: int
    time_nodes_recomputed: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"doc_id": self.doc_id, "passages_removed": self.passages_removed,
                "facts_removed": self.facts_removed, "time_nodes_recomputed": list(self.time_nodes_recomputed)}


def passage_text(p: Passage) -> str:
    """What a passage is embedded as: its title (often the entity it is about) and its text."""
    return f"{p.title}\n{p.text}" if p.title else p.text


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def resolve_scope(as_of: str | datetime | None, between: tuple[Any, Any] | None) -> TimeInterval | None:
    """The API time scope: ``as_of`` (everything up to the end of that period), ``between``, or both."""
    scope = as_of_scope(as_of) if as_of is not None else None
    if between is not None:
        if len(between) != 2:
            raise InputError(f"between must be (start, end), got {between!r}")
        b = between_scope(between[0], between[1])
        scope = b if scope is None else scope.intersect(b)
        if scope is None:
            raise InputError(f"as_of {as_of!r} and between {between!r} do not overlap")
    return scope


class TemporalGraphRAG:
    """Index of dated documents + temporal knowledge graph + passage graph + reasoning loop."""

    def __init__(self, root: Path | None, *, embedder: Embedder, llm: LLM | None, docs: Any, vectors: Any,
                 graph: GraphStore, indexer: Any | None, passage_graph: Any | None, reasoner_factory: Any,
                 max_words: int = 180, show_progress: bool = True) -> None:
        self.root = root
        self.embedder = embedder
        self.llm = llm
        self.docs = docs
        self.vectors = vectors
        self.graph = graph
        self.indexer = indexer
        self.passage_graph = passage_graph
        self._reasoner_factory = reasoner_factory
        self._reasoner: Any = None
        self.max_words = max_words
        self.show_progress = show_progress
        self._saved_summary_vectors = -1

    # ------------------------------------------------------------------ construction
    @classmethod
    def open(cls, path: str | Path | None, *, embedder: Embedder | None = None, llm: LLM | None = None,
             graph_store: GraphStore | None = None, vector_index: VectorIndex | None = None,
             extractor: Any | None = None, summariser: Any | None = None,
             reasoning: Any | None = None, knowledge_graph: bool = True, passage_graph: bool = True,
             passage_graph_options: Mapping[str, Any] | None = None, max_words: int = 180,
             show_progress: bool = True) -> TemporalGraphRAG:
        """Open (or create) an index directory; ``path=None`` keeps everything in memory.

        Defaults are the embedded offline models: all-MiniLM-L6-v2, Qwen2.5-Coder-0.5B via llama.cpp,
        the spaCy extractor, the networkx graph store, a FAISS vector index. Pass
        ``graph_store=Neo4jGraphStore(...)`` to keep the graph in Neo4j. ``passage_graph_options`` are
        keyword settings of :class:`~graph_index.passage_graph.PassageGraphBuilder` (e.g.
        ``max_edges_per_query``); use the same ones every time an index is opened.
        """
        from tgrag.stores.faiss_index import FaissVectorIndex
        from tgrag.stores.networkx_store import NetworkXGraphStore
        from tgrag.stores.sqlite_docs import SqliteDocumentStore

        root = Path(path) if path is not None else None
        if root is not None:
            root.mkdir(parents=True, exist_ok=True)
        if embedder is None:
            from tgrag.models.embedders import SentenceTransformerEmbedder

            embedder = SentenceTransformerEmbedder()
        if llm is None:
            from tgrag.models.cache import CachedLLM
            from tgrag.models.llamacpp_llm import LlamaCppLLM

            inner = LlamaCppLLM()
            llm = CachedLLM(inner, root / "llm_cache.sqlite") if root is not None else inner
        manifest = cls._check_manifest(root, embedder)
        docs = SqliteDocumentStore(root / "docs.sqlite" if root else ":memory:")
        vectors = vector_index if vector_index is not None else \
            FaissVectorIndex(manifest["embedder_dim"], root / "vectors.faiss" if root else None)
        n_passages = docs.count()[1]
        if len(vectors) != n_passages:
            raise IndexCorruptError(f"{root}: {n_passages} passages but {len(vectors)} passage vectors "
                                    "(an index written by another version? rebuild it)")
        graph = graph_store if graph_store is not None else NetworkXGraphStore(root / "graph.json" if root else None)
        indexer = None
        if knowledge_graph:
            from graph_index.indexer import GraphIndexer

            indexer = GraphIndexer(graph, docs, embedder, extractor=extractor, summariser=summariser,
                                   show_progress=show_progress)
            cache = root / SUMMARY_VECTORS if root is not None else None
            if cache is not None and cache.exists() and hasattr(indexer.summariser, "load_cache"):
                indexer.summariser.load_cache(cache)  # so re-summarising after reopen re-embeds nothing
        pgraph = None
        if passage_graph:
            from graph_index.passage_graph import PassageGraphBuilder

            keys = FaissVectorIndex(embedder.dim, root / PASSAGE_KEYS) if root is not None else None
            pgraph = PassageGraphBuilder(graph, docs, embedder, key_index=keys, **dict(passage_graph_options or {}))
        rag = cls(root, embedder=embedder, llm=llm, docs=docs, vectors=vectors, graph=graph, indexer=indexer,
                  passage_graph=pgraph, reasoner_factory=reasoning, max_words=max_words,
                  show_progress=show_progress)
        if root is not None:
            rag._write_manifest(manifest)
        return rag

    @staticmethod
    def _check_manifest(root: Path | None, embedder: Embedder) -> dict[str, Any]:
        fresh = {"format": FORMAT_VERSION, "embedder": embedder.name, "embedder_dim": embedder.dim}
        if root is None or not (root / "manifest.json").exists():
            return fresh
        old = json.loads((root / "manifest.json").read_text())
        if old.get("embedder") != embedder.name or old.get("embedder_dim") != embedder.dim:
            raise ConfigError(f"{root}: index was built with embedder {old.get('embedder')!r} "
                              f"(dim {old.get('embedder_dim')}), not {embedder.name!r} (dim {embedder.dim})")
        return old

    def _write_manifest(self, manifest: dict[str, Any]) -> None:
        assert self.root is not None
        _atomic_write_text(self.root / "manifest.json", json.dumps(manifest, indent=2))

    @property
    def reasoner(self) -> Any:
        if self._reasoner is None:
            from reasoning.loop import ReasoningSettings, TemporalReasoner

            if self.llm is None:
                raise ConfigError("query() needs an LLM; open the index with llm=...")
            settings = self._reasoner_factory if isinstance(self._reasoner_factory, ReasoningSettings) \
                else ReasoningSettings()
            self._reasoner = TemporalReasoner.from_parts(self.docs, self.vectors, self.graph, self.embedder,
                                                         self.llm, indexer=self.indexer, settings=settings)
        return self._reasoner

    # ------------------------------------------------------------------ writes
    def insert(self, documents: Iterable[Document | Mapping[str, Any]]) -> InsertReport:
        """Chunk, embed and index documents; idempotent by content hash; atomic."""
        t0 = time.perf_counter()
        batch: dict[str, Document] = {}
        for i, d in enumerate(documents):
            doc = d if isinstance(d, Document) else document_from_row(d, path="<insert>", line=i + 1)
            if doc.doc_id in batch and batch[doc.doc_id].content_hash != doc.content_hash:
                raise InputError("the same document id twice in one insert with different content",
                                 doc_id=doc.doc_id)
            batch[doc.doc_id] = doc
        new_docs: list[Document] = []
        replaced: list[tuple[Document, list[Passage]]] = []
        unchanged = 0
        for doc in batch.values():
            old = self.docs.get_document(doc.doc_id)
            if old is None:
                new_docs.append(doc)
            elif old.content_hash == doc.content_hash:
                unchanged += 1
            else:
                replaced.append((old, self.docs.passages_of(doc.doc_id)))
                new_docs.append(doc)
        if not new_docs:
            return InsertReport(documents_unchanged=unchanged, seconds={"total": time.perf_counter() - t0})
        passages = [p for doc in new_docs for p in passages_of(doc, max_words=self.max_words)]
        t_embed = time.perf_counter()
        vectors = self._embed([passage_text(p) for p in passages])
        seconds = {"chunk": t_embed - t0, "embed": time.perf_counter() - t_embed}
        try:
            for old, old_passages in replaced:
                self._remove(old.doc_id, old_passages)
            t = time.perf_counter()
            self.docs.put(new_docs, passages)
            g_report = self.indexer.add(passages) if self.indexer is not None else None
            seconds["graph"] = time.perf_counter() - t
            t = time.perf_counter()
            hops = self.passage_graph.add(passages) if self.passage_graph is not None else 0
            seconds["passage_graph"] = time.perf_counter() - t
            self.vectors.add([p.passage_id for p in passages], vectors)
            self.save()
        except BaseException:
            log.error("insert failed; rolling back %d documents", len(new_docs))
            self._rollback(new_docs, passages, replaced)
            raise
        self._reasoner = None  # retrievers rebuild lazily over the new content
        seconds["total"] = time.perf_counter() - t0
        return InsertReport(
            documents_added=len(new_docs) - len(replaced), documents_replaced=len(replaced),
            documents_unchanged=unchanged, passages_added=len(passages),
            facts_added=g_report.facts_added if g_report else 0, hops_added=int(hops),
            time_nodes_recomputed=tuple(g_report.time_nodes_recomputed) if g_report else (),
            extraction_failures=g_report.extraction_failures if g_report else 0, seconds=seconds)

    def _embed(self, texts: list[str]) -> Any:
        import numpy as np

        if not texts:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        step = 512
        chunks = []
        for i in tqdm(range(0, len(texts), step), desc="embedding", unit="batch",
                      disable=not self.show_progress or len(texts) <= step):
            chunks.append(self.embedder.encode(texts[i:i + step], kind="passage"))
        return np.concatenate(chunks)

    def _remove(self, doc_id: str, passages: list[Passage]) -> Any:
        report = self.indexer.remove(passages) if self.indexer is not None else None
        ids = [p.passage_id for p in passages]
        if self.passage_graph is not None:
            self.passage_graph.remove(ids)
        self.vectors.remove(ids)
        self.docs.delete_document(doc_id)
        return report

    def _rollback(self, new_docs: list[Document], passages: list[Passage],
                  replaced: list[tuple[Document, list[Passage]]]) -> None:
        """Return every store to its state before the failed insert."""
        from tgrag.stores.networkx_store import NetworkXGraphStore

        ids = [p.passage_id for p in passages]
        if isinstance(self.graph, NetworkXGraphStore) and self.root is not None:
            self.graph.reload()
        else:  # a server-side graph: undo by the exact inverse, then restore replaced documents
            if self.indexer is not None:
                self.indexer.remove(passages)
            if self.passage_graph is not None:
                self.passage_graph.remove(ids)
        if self.root is not None and hasattr(self.vectors, "reload"):
            self.vectors.reload()
        else:
            self.vectors.remove(ids)
        for doc in new_docs:
            self.docs.delete_document(doc.doc_id)
        if replaced:
            old_docs = [d for d, _ in replaced]
            old_passages = [p for _, ps in replaced for p in ps]
            self.docs.put(old_docs, old_passages)
            if not (isinstance(self.graph, NetworkXGraphStore) and self.root is not None):
                if self.indexer is not None:
                    self.indexer.add(old_passages)
                if self.passage_graph is not None:
                    self.passage_graph.add(old_passages)
            if self.root is None or not hasattr(self.vectors, "reload"):
                self.vectors.add([p.passage_id for p in old_passages],
                                 self._embed([passage_text(p) for p in old_passages]))

    def delete(self, doc_id: str) -> DeleteReport:
        """Remove a document, its passages, the facts only it supports; re-summarise what it touched."""
        if self.docs.get_document(doc_id) is None:
            raise NotFoundError("document", doc_id)
        passages = self.docs.passages_of(doc_id)
        report = self._remove(doc_id, passages)
        self.save()
        self._reasoner = None
        return DeleteReport(doc_id, len(passages), report.facts_removed if report else 0,
                            tuple(report.time_nodes_recomputed) if report else ())

    def save(self) -> None:
        self.graph.save()
        self.vectors.save()
        if self.passage_graph is not None:
            self.passage_graph.key_index.save()
        summariser = getattr(self.indexer, "summariser", None)
        if self.root is not None and hasattr(summariser, "save_cache"):
            size = getattr(summariser, "cached_vectors", None)
            if size != self._saved_summary_vectors:
                self._saved_summary_vectors = summariser.save_cache(self.root / SUMMARY_VECTORS)

    def close(self) -> None:
        self.graph.close()
        self.docs.close()

    def __enter__(self) -> TemporalGraphRAG:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ reads
    def query(self, question: str, *, as_of: str | datetime | None = None,
              between: tuple[Any, Any] | None = None, question_date: str | datetime | None = None) -> Answer:
        """Answer with numbered citations, or abstain. ``as_of``/``between`` restrict the evidence."""
        if not question or not question.strip():
            raise InputError("empty question")
        return self.reasoner.answer(question.strip(), as_of=as_of, between=between, question_date=question_date)

    def retrieve(self, question: str, *, k: int = 5, as_of: str | datetime | None = None,
                 between: tuple[Any, Any] | None = None) -> list[Any]:
        """Evidence only (no LLM): what ``query`` would read first."""
        return self.reasoner.retrieve_only(question, k, as_of=as_of, between=between)

    def summary(self, label: str) -> TimeNode | None:
        """The time-tree node for a period label ("2024", "2024-Q3", "2024-07", "2024-07-15")."""
        if self.indexer is None:
            raise ConfigError("summaries need the knowledge graph (open with knowledge_graph=True)")
        return self.indexer.summary(label)

    def timeline(self, entity: str) -> list[Fact]:
        """Facts about an entity (name, alias or id) in time order."""
        if self.indexer is None:
            raise ConfigError("timelines need the knowledge graph (open with knowledge_graph=True)")
        return self.indexer.timeline(entity)

    def entity_name(self, entity_id: str) -> str:
        ents = self.graph.entities([entity_id])
        return ents[0].name if ents else entity_id

    def stats(self) -> dict[str, Any]:
        n_docs, n_passages = self.docs.count()
        return {"documents": n_docs, "passages": n_passages, "vectors": len(self.vectors),
                **self.graph.counts(), "embedder": self.embedder.name,
                "llm": self.llm.name if self.llm is not None else None,
                "path": str(self.root) if self.root else None}
