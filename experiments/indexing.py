"""Build or reuse an index, cached by a hash of the corpus and the indexing config.

Layout: ``<cache_dir>/indexes/<dataset>-<key>/`` holds what ``TemporalGraphRAG.open`` writes plus
``build_info.json`` (what building cost). An index is built under a temporary name and renamed when
complete, so an interrupted build is never reused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from experiments.build import Extraction
from experiments.metering import MeteredLLM, usage_delta
from tgrag.kernel.errors import IndexCorruptError
from tgrag.kernel.protocols import Embedder, GraphStore, VectorIndex
from tgrag.kernel.records import Document, Usage

log = logging.getLogger(__name__)
BUILD_INFO = "build_info.json"


@dataclass(frozen=True)
class Components:
    """Everything the runner built from config, before any index is opened."""

    llm: MeteredLLM
    embedder: Embedder
    extraction: Extraction
    graph_store: Callable[[Path | None], GraphStore]
    vector_index: Callable[[int, Path | None], VectorIndex]
    indexing_config: Mapping[str, Any]
    show_progress: bool = True


@dataclass(frozen=True)
class IndexInfo:
    path: Path
    key: str
    reused: bool
    seconds: float  # building (or inserting) time; the recorded one when reused
    usage: Usage
    report: Mapping[str, Any] = field(default_factory=dict)
    open_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "key": self.key, "reused": self.reused, "seconds": self.seconds,
                "usage": self.usage.to_dict(), "report": dict(self.report), "open_seconds": self.open_seconds}


def index_key(indexing_config: Mapping[str, Any], corpus_fingerprint: str) -> str:
    blob = json.dumps({"config": indexing_config, "corpus": corpus_fingerprint}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def corpus_fingerprint(docs: Sequence[Document]) -> str:
    """Hash of the documents to index (ids + content hashes, order-independent)."""
    h = hashlib.sha256()
    for d in sorted(docs, key=lambda d: d.doc_id):
        h.update(d.doc_id.encode())
        h.update(d.content_hash.encode())
    return h.hexdigest()[:16]


def open_rag(path: Path | None, comps: Components) -> Any:
    """``TemporalGraphRAG.open`` with the configured components."""
    from tgrag.facade import TemporalGraphRAG

    ex = comps.extraction
    kwargs: dict[str, Any] = {
        "embedder": comps.embedder, "llm": comps.llm, "graph_store": comps.graph_store(path),
        "extractor": ex.extractor, "summariser": ex.summariser, "knowledge_graph": ex.knowledge_graph,
        "passage_graph": ex.passage_graph, "passage_graph_options": ex.passage_graph_options,
        "max_words": ex.max_words, "show_progress": comps.show_progress,
        "vector_index": comps.vector_index(comps.embedder.dim, path)}
    return TemporalGraphRAG.open(path, **kwargs)


def _insert(rag: Any, docs: Sequence[Document], llm: MeteredLLM) -> tuple[float, Usage, dict[str, Any]]:
    before, t0 = llm.total, time.perf_counter()
    report = rag.insert(list(docs))
    return time.perf_counter() - t0, usage_delta(llm.total, before), report.to_dict()


def _write_info(path: Path, info: Mapping[str, Any]) -> None:
    (path / BUILD_INFO).write_text(json.dumps(info, indent=2, default=str), encoding="utf-8")


def _read_info(path: Path) -> dict[str, Any]:
    p = path / BUILD_INFO
    return json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}


def check_complete(rag: Any) -> str | None:
    """Why an opened index cannot be re-used (files from another layout, an interrupted write), or
    None. Every passage must have its vector."""
    _, n_passages = rag.docs.count()
    n_vectors = len(rag.vectors)
    if n_passages == 0 or n_vectors != n_passages:
        return f"{n_passages} passages but {n_vectors} vectors"
    return None


def open_or_build(comps: Components, docs: Sequence[Document], *, cache_root: Path, name: str, reuse: bool,
                  base: Path | None = None, key_extra: str = "") -> tuple[Any, IndexInfo]:
    """Open the cached index for ``docs`` or build it.

    With ``base`` (an existing index directory) the new index starts as a copy of it and ``docs``
    are *inserted* (the update protocol); the key then covers the base and the inserted corpus.
    """
    key = index_key(comps.indexing_config, corpus_fingerprint(docs) + key_extra)
    final = cache_root / "indexes" / f"{name}-{key}"
    if reuse and (final / BUILD_INFO).exists():
        t0 = time.perf_counter()
        try:
            rag = open_rag(final, comps)
            problem = check_complete(rag)
        except IndexCorruptError as exc:  # the facade refuses inconsistent files on open
            rag, problem = None, str(exc)
        if rag is not None and problem is None:
            info = _read_info(final)
            log.info("reusing index %s (built in %.1f s)", final, info.get("seconds", 0.0))
            return rag, IndexInfo(final, key, True, float(info.get("seconds", 0.0)),
                                  Usage.from_dict(info.get("usage") or {}), info.get("report") or {},
                                  time.perf_counter() - t0)
        if rag is not None:
            rag.close()
        log.warning("cached index %s is not usable (%s): rebuilding it", final, problem)
    tmp = final.with_name(f"{final.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    if base is not None:
        shutil.copytree(base, tmp)
        (tmp / BUILD_INFO).unlink(missing_ok=True)
    else:
        tmp.mkdir(parents=True)
    rag = open_rag(tmp, comps)
    seconds, usage, report = _insert(rag, docs, comps.llm)
    rag.save()
    rag.close()
    _write_info(tmp, {"seconds": seconds, "usage": usage.to_dict(), "report": report, "documents": len(docs),
                      "base": str(base) if base else None, "config": comps.indexing_config})
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    t0 = time.perf_counter()
    rag = open_rag(final, comps)
    return rag, IndexInfo(final, key, False, seconds, usage, report, time.perf_counter() - t0)
