"""Scale: LLM-free indexing, retrieval latency and a 1% insert at growing corpus sizes.

    .venv/bin/python bench/scale.py ../shared/data [--sizes 2000 10000 100000] [--out bench/results/scale.json]
        [--queries 100] [--no-rebuild] [--milvus]

The corpus of each size is made from real passages: the rows of every set's ``corpus.jsonl`` under
DATA_ROOT, pooled and put in a stable hash order, each given a date spread over 2000-2024 (a day, by
a hash of its id), taken until the passages they chunk into reach the size. Nothing of it is written
to the repository; the indexes live in a temporary directory and are deleted.

Each size runs in its own process (so its peak RSS is its own):

1. **Indexing**: 99% of the documents inserted in one batch through the whole write path
   (``TemporalGraphRAG.insert``: chunking, MiniLM embedding, spaCy KG, time tree, passage graph,
   FAISS flat, commit): passages/s, wall and CPU seconds, stage seconds, peak RSS.
2. **1% insert**: the held-out 1% inserted into that index (reopened), against a **rebuild** of all
   100% from scratch in the same process (``--no-rebuild``: skipped; the insert is then compared
   with the base build, a rebuild of 99%, which it always is as well).
3. **Query latency**, retrieval only, no LLM: ``--queries`` questions of the multi-hop sets, each
   retriever (dense, hybrid, walk, and the walk scoped to one year) run once to warm the query
   embedding cache, then timed: p50/p95 ms of ``retriever.ranked(question, 10)``. Query encoding is
   measured on its own (MiniLM, one text).
4. **Vector backends**: the same vectors, with their dates, loaded into FAISS HNSW, FAISS IVF (and a
   Milvus collection on a local ``milvus-lite server`` with ``--milvus``): load seconds, dense search
   p50/p95 alone and Recall@10 against flat, and the retrievers' latency with that index in place of
   flat (the graph and documents are shared), on the first ``--backend-queries`` questions.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.retrieval import CachedEmbedder, _NoLLM, machine_info, read_jsonl  # noqa: E402
from reasoning.assembly import build_query_side  # noqa: E402
from reasoning.settings import ReasoningSettings  # noqa: E402
from tgrag.ingest import document_from_row, passages_of  # noqa: E402
from tgrag.kernel.records import Document  # noqa: E402
from tgrag.kernel.temporal import TimeInterval  # noqa: E402

SETS = ("musique", "hotpotqa", "2wikimultihopqa", "timeqa", "tempreason", "menatqa", "realtimeqa", "ect_qa")
MULTIHOP = ("musique", "hotpotqa", "2wikimultihopqa")
KINDS = ("dense", "hybrid", "walk")
FIRST_DAY, DAYS = datetime(2000, 1, 1, tzinfo=UTC), 25 * 365
K = 10


def _h(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:12], 16)


def corpus(data: Path, passages: int) -> tuple[list[Document], int]:
    """Documents of about ``passages`` passages (real rows, hash order, dates spread over 2000-2024)."""
    rows: list[tuple[int, dict[str, Any]]] = []
    for name in SETS:
        path = data / name / "corpus.jsonl"
        if path.exists():
            rows += [(_h(f"{name}/{r['id']}"), {**r, "id": f"{name}/{r['id']}"}) for r in read_jsonl(path)]
    rows.sort(key=lambda t: t[0])
    docs, n = [], 0
    for i, (h, row) in enumerate(rows):
        if n >= passages:
            break
        if not str(row.get("text") or "").strip():
            continue  # a few real rows have no text (e.g. RealtimeQA articles that were not fetched)
        day = FIRST_DAY + timedelta(days=h % DAYS)
        row = {k: v for k, v in row.items() if k not in ("date", "timestamp")}
        doc = document_from_row({**row, "date": day.date().isoformat()}, path="pooled corpus", line=i + 1)
        docs.append(doc)
        n += len(passages_of(doc))
    if n < passages:
        raise SystemExit(f"the pooled corpora under {data} hold {n} passages, fewer than {passages}")
    return docs, n


def questions(data: Path, n: int) -> list[str]:
    qs = [(_h(f"{s}/{q['id']}"), q["question"]) for s in MULTIHOP if (data / s / "questions.jsonl").exists()
          for q in read_jsonl(data / s / "questions.jsonl")]
    return [q for _, q in sorted(qs)[:n]]


def _pct(xs: Sequence[float]) -> dict[str, float | None]:
    if not xs:
        return {"p50": None, "p95": None}
    return {"p50": round(float(np.percentile(xs, 50)), 2), "p95": round(float(np.percentile(xs, 95)), 2)}


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def latencies(run: Callable[[str], Any], qs: Sequence[str]) -> dict[str, float | None]:
    for q in qs:  # warm: query embeddings, lazily built structures (ANN graph, PPR graph)
        run(q)
    lat = []
    for q in qs:
        t0 = time.perf_counter()
        run(q)
        lat.append(1000 * (time.perf_counter() - t0))
    return _pct(lat)


def scope_of(q: str) -> TimeInterval:
    return TimeInterval.from_label(str(2000 + _h(q) % 25))


def retriever_latency(rag: Any, vectors: Any, emb: Any, qs: Sequence[str]) -> dict[str, Any]:
    side = build_query_side(rag.docs, vectors, rag.graph, emb, None, settings=ReasoningSettings(),
                            indexer=rag.indexer)
    out: dict[str, Any] = {k: latencies(lambda q, k=k: side.retriever(k).ranked(q, K), qs) for k in KINDS}
    walk = side.retriever("walk")
    out["walk_scoped"] = latencies(lambda q: walk.ranked(q, K, scope=scope_of(q)), qs)
    return out


def vector_backends(rag: Any, emb: Any, qs: Sequence[str], *, milvus: bool, work: Path,
                    backend_queries: int) -> dict[str, Any]:
    from tgrag.stores.faiss_ann import FaissHNSWVectorIndex, FaissIVFVectorIndex

    ids = sorted(rag.vectors.ids())
    vecs = np.stack([rag.vectors.vector(i) for i in ids]).astype(np.float32)
    dates = {p.passage_id: p.date for p in rag.docs.get_passages(ids)}
    intervals = [dates.get(i) for i in ids]
    qv = emb.encode(list(qs), kind="query")
    qvec = dict(zip(qs, qv, strict=True))
    truth = [[pid for pid, _ in rag.vectors.search(v, K)] for v in qv]
    n = len(ids)
    backends: dict[str, Callable[[], Any]] = {
        "faiss_hnsw": lambda: FaissHNSWVectorIndex(emb.dim),
        "faiss_ivf": lambda: FaissIVFVectorIndex(emb.dim, nlist=max(1, int(4 * np.sqrt(n)))),
    }
    server = None
    if milvus:
        from tgrag.stores.milvus_index import MilvusVectorIndex
        from tgrag.stores.milvus_server import MilvusLiteServer

        server = MilvusLiteServer(work / "milvus")
        server.start()
        backends["milvus"] = lambda: MilvusVectorIndex(emb.dim, uri=server.uri, collection=f"scale_{n}")
    out: dict[str, Any] = {"faiss_flat": {"search_ms": latencies(lambda q: rag.vectors.search(qvec[q], K), qs), "recall@10_vs_flat": 100.0}}
    try:
        for name, make in backends.items():
            index = make()

            def load(index: Any = index) -> None:
                index.begin(1)
                for s in range(0, n, 5000):
                    index.add(ids[s:s + 5000], vecs[s:s + 5000], intervals=intervals[s:s + 5000])
                index.prepare(1)
                index.commit(1)
                index.search(qv[0], K)  # the ANN structure is built at the first search

            _, load_s, _ = timed(load)
            found = [[pid for pid, _ in index.search(v, K)] for v in qv]
            recall = float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)]))
            out[name] = {"load_seconds": round(load_s, 2), "recall@10_vs_flat": round(100 * recall, 2),
                         "search_ms": latencies(lambda q, index=index: index.search(qvec[q], K), qs),
                         "retrievers_ms": retriever_latency(rag, index, emb, qs[:backend_queries]),
                         "retriever_questions": len(qs[:backend_queries])}
            params = {k: getattr(index, k) for k in ("m", "ef_construction", "ef_search", "nlist", "trained_lists",
                                                     "nprobe")
                      if hasattr(index, k)}
            out[name]["params"] = params
    finally:
        if server is not None:
            server.stop()
    return out


def one_size(data: Path, size: int, n_queries: int, rebuild: bool, milvus: bool, backend_queries: int = 30
             ) -> dict[str, Any]:
    from tgrag.facade import TemporalGraphRAG
    from tgrag.models.embedders import SentenceTransformerEmbedder

    docs, n_passages = corpus(data, size)
    held = [d for d in docs if _h(d.doc_id) % 100 == 0] or docs[-1:]
    held_ids = {d.doc_id for d in held}
    base = [d for d in docs if d.doc_id not in held_ids]
    embedder = SentenceTransformerEmbedder()
    work = Path(tempfile.mkdtemp(prefix=f"tgrag-scale-{size}-"))

    def open_(path: Path, emb: Any = embedder) -> Any:
        return TemporalGraphRAG.open(path, embedder=emb, llm=_NoLLM(), show_progress=sys.stderr.isatty())

    out: dict[str, Any] = {"target_passages": size, "documents": len(docs), "passages": n_passages}
    try:
        rag = open_(work / "index")
        report, wall, cpu = timed(lambda: rag.insert(base))
        built = rag.stats()
        rag.close()
        out["indexing"] = {"documents": len(base), "passages": built["passages"], "seconds": round(wall, 1),
                           "cpu_seconds": round(cpu, 1), "passages_per_s": round(built["passages"] / wall, 2),
                           "stage_seconds": {k: round(v, 1) for k, v in report.seconds.items()},
                           "peak_rss_mb": _peak_rss_mb(), "counts": {k: v for k, v in built.items()
                                                                     if isinstance(v, int)}}
        rag = open_(work / "index")
        report, wall, cpu = timed(lambda: rag.insert(held))
        relink = dict(rag.passage_graph.last_update) if rag.passage_graph is not None else {}
        rag.close()
        out["insert_1pct"] = {"documents": len(held), "seconds": round(wall, 1), "cpu_seconds": round(cpu, 1),
                              "stage_seconds": {k: round(v, 1) for k, v in report.seconds.items()},
                              "passage_graph_relink": relink,
                              # the base build is a rebuild of 99% of the corpus: the reference when
                              # --no-rebuild skips the real one
                              "fraction_of_base_build_wall": round(wall / out["indexing"]["seconds"], 3),
                              "fraction_of_base_build_cpu": round(cpu / out["indexing"]["cpu_seconds"], 3)}
        if rebuild:
            fresh = open_(work / "rebuild")
            _, r_wall, r_cpu = timed(lambda: fresh.insert(docs))
            fresh.close()
            shutil.rmtree(work / "rebuild", ignore_errors=True)
            out["rebuild"] = {"documents": len(docs), "seconds": round(r_wall, 1), "cpu_seconds": round(r_cpu, 1)}
            out["insert_1pct"]["fraction_of_rebuild_wall"] = round(wall / r_wall, 3)
            out["insert_1pct"]["fraction_of_rebuild_cpu"] = round(cpu / r_cpu, 3)
        emb = CachedEmbedder(embedder)
        rag = open_(work / "index", emb)
        if rag.passage_graph is not None:
            emb.prefill(rag.passage_graph.key_index)
        qs = questions(data, n_queries)
        enc = []
        for q in qs:
            t0 = time.perf_counter()
            embedder.encode([q], kind="query")
            enc.append(1000 * (time.perf_counter() - t0))
        out["queries"] = {"questions": len(qs), "k": K, "query_encoding_ms": _pct(enc),
                          "note": "retriever latencies exclude query encoding (warm cache), as bench/retrieval.py",
                          "scoped_walk_scope": "one calendar year of 2000-2024 per question (hash)"}
        out["retrieval_ms"] = retriever_latency(rag, rag.vectors, emb, qs)
        out["vector_backends"] = vector_backends(rag, emb, qs, milvus=milvus, work=work,
                                               backend_queries=backend_queries)
        rag.close()
        out["peak_rss_mb"] = _peak_rss_mb()
        out["loadavg_end"] = list(os.getloadavg())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path)
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000, 100000])
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "scale.json")
    ap.add_argument("--backend-queries", type=int, default=30,
                    help="questions for the retrievers' latency on each non-default vector backend")
    ap.add_argument("--no-rebuild", action="store_true")
    ap.add_argument("--milvus", action="store_true")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: one size, JSON on stdout
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(one_size(args.data, args.one, args.queries, not args.no_rebuild, args.milvus,
                                    args.backend_queries)))
        return 0
    prev = json.loads(args.out.read_text()) if args.out.exists() else {}
    machine = machine_info()
    commit = machine["commit"]
    result: dict[str, Any] = {
        "benchmark": "bench/scale.py", "commit": commit, "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "models": {"embedder": "sentence-transformers/all-MiniLM-L6-v2", "extraction": "spaCy (default)",
                   "llm": "none (LLM-free indexing and retrieval)"},
        "corpus": "real passages of every set under DATA_ROOT, pooled, stable hash order, dates spread over 2000-2024",
        "sizes": dict(prev.get("sizes", {}))}
    for size in args.sizes:
        cmd = [sys.executable, __file__, str(args.data), "--one", str(size), "--queries", str(args.queries)]
        cmd += ["--backend-queries", str(args.backend_queries)] + ["--no-rebuild"] * args.no_rebuild + ["--milvus"] * args.milvus
        load = list(os.getloadavg())
        done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
        # per size: a later run of other sizes keeps this entry, with the commit that measured it
        old = result["sizes"].get(str(size))
        result["sizes"][str(size)] = {"commit": commit, "loadavg_start": load,
                                      **json.loads(done.stdout.strip().splitlines()[-1])}
        if old:  # the run this one replaces, for comparison (one level)
            result["sizes"][str(size)]["previous_run"] = {k: old.get(k) for k in ("commit", "indexing", "insert_1pct")}
        args.out.write_text(json.dumps(result, indent=1) + "\n")  # after each size: a run can stop
        print(json.dumps({size: result["sizes"][str(size)].get("retrieval_ms")}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
