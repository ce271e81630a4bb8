"""Build or reuse an index, cached by a hash of the corpus and the indexing config.

Layout: ``<cache_dir>/indexes/<dataset>-<key>/`` holds what ``TemporalGraphRAG.open`` writes plus
``build_info.json`` (what building cost). An index is built under a temporary name and renamed when
complete, so an interrupted build is never reused.

Parallel sweep jobs share the cache through ``<dataset>-<key>.lock`` beside the index (an OS file
lock, :class:`CacheLock`): a job holds it shared for as long as it has the index open, and
exclusive while it builds or replaces the index. So one job builds a dataset's index while the
others wait and then re-use it, and no job deletes an index another job has open. The kernel
drops the lock of a job that dies, however it dies.
"""

from __future__ import annotations

import fcntl
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


class CacheLock:
    """``fcntl.flock`` on one cached index's lock file: ``shared`` while a job has the index open,
    ``exclusive`` while a job builds or replaces it (the file then names its pid). Blocks until
    granted (a build takes as long as it takes; a holder that dies releases it), and says in the
    log whom it waits for."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._exclusive = False

    def shared(self) -> None:
        """Take the lock shared, or convert the exclusive lock this object holds."""
        self._unname()
        self._take(fcntl.LOCK_SH)
        self._exclusive = False

    def exclusive(self) -> None:
        fd = self._take(fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._exclusive = True

    def release(self) -> None:
        if self._fd is None:
            return
        self._unname()
        fd, self._fd, self._exclusive = self._fd, None, False
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def _unname(self) -> None:
        if self._fd is not None and self._exclusive:
            os.ftruncate(self._fd, 0)

    def _take(self, mode: int) -> int:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for the %s lock on %s (held by %s)", "shared" if mode == fcntl.LOCK_SH else
                     "exclusive", self.path.name, _holder(self._fd))
            fcntl.flock(self._fd, mode)
        return self._fd


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode().strip()
    except OSError:
        text = ""
    return f"process {text}, building it" if text.isdigit() else "jobs that have the index open"


def _lock_of(index: Path) -> CacheLock:
    return CacheLock(index.with_name(f"{index.name}.lock"))


def _release_on_close(rag: Any, lock: CacheLock) -> Any:
    """The job keeps ``lock`` (shared) until it closes ``rag``."""
    close = rag.close

    def closing() -> None:
        try:
            close()
        finally:
            lock.release()

    rag.close = closing
    return rag


def _reuse(final: Path, key: str, comps: Components) -> tuple[Any, IndexInfo] | None:
    """The cached index at ``final`` opened, if it is complete and usable (else None)."""
    if not (final / BUILD_INFO).exists():
        return None
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
    return None


def open_or_build(comps: Components, docs: Sequence[Document], *, cache_root: Path, name: str, reuse: bool,
                  base: Path | None = None, key_extra: str = "") -> tuple[Any, IndexInfo]:
    """Open the cached index for ``docs`` or build it; safe with parallel jobs (see the module).

    With ``base`` (an existing index directory) the new index starts as a copy of it and ``docs``
    are *inserted* (the update protocol); the key then covers the base and the inserted corpus.
    The returned index holds the cache lock shared until it is closed.
    """
    key = index_key(comps.indexing_config, corpus_fingerprint(docs) + key_extra)
    final = cache_root / "indexes" / f"{name}-{key}"
    lock = _lock_of(final)
    try:
        if reuse:
            lock.shared()
            found = _reuse(final, key, comps)
            if found is not None:
                return _release_on_close(found[0], lock), found[1]
        lock.exclusive()  # no other job has the index open from here on
        if reuse:  # another job may have built it while this one waited
            found = _reuse(final, key, comps)
            if found is not None:
                lock.shared()
                return _release_on_close(found[0], lock), found[1]
        seconds, usage, report = _build(comps, docs, final, base)
        lock.shared()
        t0 = time.perf_counter()
        rag = open_rag(final, comps)
    except BaseException:
        lock.release()
        raise
    return _release_on_close(rag, lock), IndexInfo(final, key, False, seconds, usage, report,
                                                   time.perf_counter() - t0)


def _build(comps: Components, docs: Sequence[Document], final: Path,
           base: Path | None) -> tuple[float, Usage, dict[str, Any]]:
    """Build the index into ``final`` (under its exclusive lock): in a temporary directory, renamed
    when complete. Leftovers of builds that died are removed (they held this lock, so none runs)."""
    for stale in final.parent.glob(f"{final.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = final.with_name(f"{final.name}.tmp-{os.getpid()}")
    if base is not None:
        base_lock = _lock_of(base)
        base_lock.shared()  # no job replaces the base while it is copied
        try:
            shutil.copytree(base, tmp)
        finally:
            base_lock.release()
        (tmp / BUILD_INFO).unlink(missing_ok=True)
    else:
        tmp.mkdir(parents=True)
    rag = open_rag(tmp, comps)
    try:
        seconds, usage, report = _insert(rag, docs, comps.llm)
        rag.save()
    finally:
        rag.close()
    _write_info(tmp, {"seconds": seconds, "usage": usage.to_dict(), "report": report, "documents": len(docs),
                      "base": str(base) if base else None, "config": comps.indexing_config})
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return seconds, usage, report
