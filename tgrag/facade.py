"""``TemporalGraphRAG``: the one object users hold.

    rag = TemporalGraphRAG.open("my-index")
    rag.insert(load_jsonl_documents("docs.jsonl"))
    ans = rag.query("Who chaired the board in June 1970?", as_of="2024-06-30")

Every insert, replace and delete is one transaction across all stores (``tgrag.transaction``):
it holds the index's writer lock, and a failure or a crash at any moment leaves the last committed
generation. Re-inserting a document with unchanged content is a no-op; with changed content it
replaces the old version.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from tgrag.ingest import document_from_row, passage_text, passages_of, warn_undated
from tgrag.kernel.batch import WriteBatch
from tgrag.kernel.errors import ConfigError, IndexCorruptError, InputError, NotFoundError
from tgrag.kernel.protocols import LLM, Embedder, GraphStore, Transactional, VectorIndex
from tgrag.kernel.records import Answer, Document, Fact, Passage, TimeNode
from tgrag.kernel.temporal import TimeInterval
from tgrag.kernel.timeparse import as_of_scope, between_scope

log = logging.getLogger(__name__)
FORMAT_VERSION = 1
SUMMARY_VECTORS = "summary_vectors.npz"  # sentence-vector cache of the extractive summariser
PASSAGE_KEYS = "passage_keys.faiss"  # embeddings of passage-graph pseudo-query keys (a cache)
WRITE_LOCK = "write.lock"


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
        self._bm25: Any = None  # the BM25 index (reasoning.bm25) every reasoner shares; writes update it
        self.max_words = max_words
        self.show_progress = show_progress
        self._tx: Any = None  # the Coordinator, set by open()

    # ------------------------------------------------------------------ construction
    @classmethod
    def open(cls, path: str | Path | None, *, embedder: Embedder | None = None, llm: LLM | None = None,
             graph_store: GraphStore | None = None, vector_index: VectorIndex | None = None,
             extractor: Any | None = None, summariser: Any | None = None,
             reasoning: Any | None = None, knowledge_graph: bool = True, passage_graph: bool = True,
             passage_graph_options: Mapping[str, Any] | None = None, max_words: int = 180,
             show_progress: bool = True, lock_timeout: float = 60.0, verify: bool = True) -> TemporalGraphRAG:
        """Open (or create) an index directory; ``path=None`` keeps everything in memory.

        Defaults are the embedded offline models: all-MiniLM-L6-v2, Qwen2.5-Coder-0.5B via llama.cpp,
        the spaCy extractor, the networkx graph store, a FAISS vector index. Pass
        ``graph_store=Neo4jGraphStore(...)`` to keep the graph in Neo4j. ``passage_graph_options`` are
        keyword settings of :class:`~graph_index.passage_graph.PassageGraphBuilder` (e.g.
        ``max_edges_per_query``); use the same ones every time an index is opened.

        Opening recovers from an interrupted write (when no writer is active) and loads the last
        committed generation; ``verify`` then checks that documents, passages, vectors and the
        graph's passage references agree (``IndexCorruptError`` names what does not). A writer
        waits up to ``lock_timeout`` seconds for another process's write to finish.
        """
        from tgrag.stores.faiss_index import FaissVectorIndex
        from tgrag.stores.lock import WriteLock
        from tgrag.stores.networkx_store import NetworkXGraphStore
        from tgrag.stores.sqlite_docs import SqliteDocumentStore
        from tgrag.stores.summary_cache import SummaryCacheFiles, VectorCache
        from tgrag.transaction import Coordinator

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
        graph = graph_store if graph_store is not None else NetworkXGraphStore(root / "graph.json" if root else None)
        for name, store in (("graph", graph), ("vectors", vectors)):
            if not isinstance(store, Transactional):
                raise ConfigError(f"the {name} store {type(store).__name__} does not implement the commit "
                                  "protocol (tgrag.kernel.protocols.Transactional)")
        participants: list[tuple[str, Transactional]] = [("vectors", vectors)]
        indexer = None
        if knowledge_graph:
            from graph_index.indexer import GraphIndexer

            indexer = GraphIndexer(graph, docs, embedder, extractor=extractor, summariser=summariser,
                                   show_progress=show_progress)
            if root is not None and isinstance(indexer.summariser, VectorCache):
                # so re-summarising after reopen re-embeds nothing
                participants.append(("summary_vectors", SummaryCacheFiles(indexer.summariser, root / SUMMARY_VECTORS)))
        pgraph = None
        if passage_graph:
            from graph_index.passage_graph import PassageGraphBuilder

            keys = FaissVectorIndex(embedder.dim, root / PASSAGE_KEYS if root is not None else None)
            participants.append(("passage_keys", keys))
            pgraph = PassageGraphBuilder(graph, docs, embedder, key_index=keys, **dict(passage_graph_options or {}))
        participants.append(("graph", graph))  # last: a graph server's prepare cannot be undone
        rag = cls(root, embedder=embedder, llm=llm, docs=docs, vectors=vectors, graph=graph, indexer=indexer,
                  passage_graph=pgraph, reasoner_factory=reasoning, max_words=max_words,
                  show_progress=show_progress)
        lock = WriteLock(root / WRITE_LOCK, timeout=lock_timeout) if root is not None else None
        rag._tx = Coordinator(docs, participants, lock=lock, manifest=root / "manifest.json" if root else None,
                              manifest_data=manifest, on_reload=rag._drop_caches)
        rag._tx.open()
        rag._legacy_vector_intervals()
        if verify:
            from tgrag.integrity import check

            problems = check(rag)
            if problems:
                more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
                raise IndexCorruptError(f"{root}: the index is inconsistent: {'; '.join(problems[:3])}{more}. "
                                        "`tgrag check` lists every problem, `tgrag repair` rebuilds the "
                                        "derived stores from the documents")
        if root is not None and not (root / "manifest.json").exists():
            rag._tx.write_manifest()
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

    def _legacy_vector_intervals(self) -> None:
        """A FAISS file written before vectors carried their passages' dates (format 1) gets them
        from the documents, in memory; the next write saves them."""
        from tgrag.stores.faiss_index import FaissVectorIndex

        if isinstance(self.vectors, FaissVectorIndex) and not self.vectors.intervals_known:
            self.vectors.assign_intervals({p.passage_id: p.date for p in self.docs.iter_passages()})

    def _drop_caches(self) -> None:
        """In-memory state derived from the stores: rebuilt lazily after they were re-loaded."""
        self._legacy_vector_intervals()
        if self.indexer is not None:
            self.indexer.refresh()
        if self.passage_graph is not None:
            self.passage_graph.reset()
        self._reasoner = None
        self._bm25 = None

    @property
    def reasoner(self) -> Any:
        if self._reasoner is None:
            from reasoning.loop import ReasoningSettings, TemporalReasoner

            if self.llm is None:
                raise ConfigError("query() needs an LLM; open the index with llm=...")
            settings = self._reasoner_factory if isinstance(self._reasoner_factory, ReasoningSettings) \
                else ReasoningSettings()
            self._reasoner = TemporalReasoner.from_parts(self.docs, self.vectors, self.graph, self.embedder,
                                                         self.llm, indexer=self.indexer, settings=settings,
                                                         bm25=self.bm25)
        return self._reasoner

    @property
    def bm25(self) -> Any:
        """The index's BM25 (``reasoning.bm25.BM25Index``): built from the passages on first use,
        then updated by each insert and delete instead of rebuilt."""
        if self._bm25 is None:
            from reasoning.bm25 import BM25Index

            self._bm25 = BM25Index()
        return self._bm25

    # ------------------------------------------------------------------ writes
    def insert(self, documents: Iterable[Document | Mapping[str, Any]]) -> InsertReport:
        """Chunk, embed and index documents; idempotent by content hash; atomic."""
        t0 = time.perf_counter()
        batch: dict[str, Document] = {}
        from_rows: list[Document] = []
        for i, d in enumerate(documents):
            doc = d if isinstance(d, Document) else document_from_row(d, path="<insert>", line=i + 1)
            if doc is not d:
                from_rows.append(doc)
            if doc.doc_id in batch and batch[doc.doc_id].content_hash != doc.content_hash:
                raise InputError("the same document id twice in one insert with different content",
                                 doc_id=doc.doc_id)
            batch[doc.doc_id] = doc
        warn_undated(from_rows, "<insert>")
        with self._tx.writer():
            return self._insert(batch, t0)

    def _insert(self, batch: Mapping[str, Document], t0: float) -> InsertReport:
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
        t_prime = time.perf_counter()
        if self.passage_graph is not None:  # its tables of the corpus before this write: re-link locally
            self.passage_graph.prime()
        t_embed = time.perf_counter()
        vectors = self._embed([passage_text(p) for p in passages])
        seconds = {"chunk": t_prime - t0, "passage_graph_load": t_embed - t_prime,
                   "embed": time.perf_counter() - t_embed}
        self._tx.begin(WriteBatch(self._tx.generation + 1, tuple(d.doc_id for d, _ in replaced),
                                  tuple(new_docs), tuple(passages)))
        try:
            old_ids: list[str] = []
            for old, old_passages in replaced:
                if self.indexer is not None:
                    self.indexer.remove(old_passages)
                self.docs.delete_document(old.doc_id)
                old_ids += [p.passage_id for p in old_passages]
            self.vectors.remove(old_ids)
            t = time.perf_counter()
            self.docs.put(new_docs, passages)
            g_report = self.indexer.add(passages) if self.indexer is not None else None
            seconds["graph"] = time.perf_counter() - t
            t = time.perf_counter()
            hops = self.passage_graph.update(added=passages, removed=old_ids)[0] \
                if self.passage_graph is not None else 0
            seconds["passage_graph"] = time.perf_counter() - t
            self.vectors.add([p.passage_id for p in passages], vectors, intervals=[p.date for p in passages])
            t = time.perf_counter()
            self._tx.commit()
            seconds["commit"] = time.perf_counter() - t
        except BaseException:
            log.error("insert failed; rolling back %d documents", len(new_docs))
            self._tx.abort()
            raise
        self._reasoner = None  # retrievers rebuild lazily over the new content
        if self._bm25 is not None:  # except BM25: it takes the write's passages
            self._bm25.update(added=passages, removed=old_ids)
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

    def delete(self, doc_id: str) -> DeleteReport:
        """Remove a document, its passages, the facts only it supports; re-summarise what it touched.
        One transaction, like an insert."""
        with self._tx.writer():
            if self.docs.get_document(doc_id) is None:
                raise NotFoundError("document", doc_id)
            passages = self.docs.passages_of(doc_id)
            ids = [p.passage_id for p in passages]
            if self.passage_graph is not None:
                self.passage_graph.prime()
            self._tx.begin(WriteBatch(self._tx.generation + 1, (doc_id,)))
            try:
                report = self.indexer.remove(passages) if self.indexer is not None else None
                if self.passage_graph is not None:
                    self.passage_graph.update(removed=ids)
                self.vectors.remove(ids)
                self.docs.delete_document(doc_id)
                self._tx.commit()
            except BaseException:
                log.error("delete of %s failed; rolling back", doc_id)
                self._tx.abort()
                raise
        self._reasoner = None
        if self._bm25 is not None:
            self._bm25.update(removed=ids)
        return DeleteReport(doc_id, len(passages), report.facts_removed if report else 0,
                            tuple(report.time_nodes_recomputed) if report else ())

    def repair(self) -> dict[str, Any]:
        """Rebuild every derived store (graph, vectors, caches) from the documents, as one write."""
        from tgrag.integrity import rebuild

        with self._tx.writer():
            return rebuild(self)

    @property
    def generation(self) -> int:
        """The committed generation this object holds (one more per insert, delete or repair)."""
        return int(self._tx.generation)

    def refresh(self) -> bool:
        """Load the generation another process committed since this one was opened (True if any)."""
        return bool(self._tx.refresh())

    def save(self) -> None:
        """Nothing to do: every insert and delete is committed to disk before it returns."""

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
