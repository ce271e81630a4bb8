"""Supporting-passage Recall@2/@5 of dense, BM25, hybrid and the HopRAG walk, no LLM anywhere.

For each multi-hop set under DATA_ROOT, every passage of the set is pooled into one corpus
(corpus.jsonl, one passage per line); the gold of a question is its ``supporting`` passage ids.
Recall@k = fraction of a question's supporting passages in the top k, averaged over questions.
The passage graph is built LLM-free (EntityPseudoQueryGenerator); same embedder for every method.

    .venv/bin/python bench/retrieval.py ../shared/data [--datasets hotpotqa musique] [--limit N]

``--sweep`` also measures the walk's Recall@2/@5 over a grid of its settings (co-mention edges kept
per query at index time; weak-hop beam, weak-hop weight and hop rounds at query time) and writes the
grid to ``walk_sweep.json`` beside ``--out``: the trade-off between the sets, measured, not guessed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graph_index.passage_graph import PassageGraphBuilder  # noqa: E402
from reasoning.retrievers import BM25Retriever, DenseRetriever, HybridRetriever  # noqa: E402
from reasoning.walk import HopWalkRetriever, WalkSettings  # noqa: E402
from tgrag.kernel.protocols import Embedder  # noqa: E402
from tgrag.kernel.records import Document, Passage  # noqa: E402
from tgrag.stores.faiss_index import FaissVectorIndex  # noqa: E402
from tgrag.stores.networkx_store import NetworkXGraphStore  # noqa: E402
from tgrag.stores.sqlite_docs import SqliteDocumentStore  # noqa: E402

MULTIHOP = ("hotpotqa", "2wikimultihopqa", "musique")
METHODS = ("dense", "bm25", "hybrid", "walk")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def corpus_passages(rows: Sequence[dict[str, Any]]) -> tuple[list[Document], list[Passage]]:
    """One document and one passage per corpus row; the passage id is the row id (the gold ids)."""
    from tgrag.kernel.timeparse import parse_document_date

    docs, passages = [], []
    for row in rows:
        date = parse_document_date(row.get("date") or row.get("timestamp"))
        title = row.get("title") or ""
        docs.append(Document(row["id"], row["text"], date, title, {}))
        passages.append(Passage(row["id"], row["id"], row["text"], 0, date, title))
    return docs, passages


def embed_passages(embedder: Embedder, passages: Sequence[Passage], cache: Path | None) -> np.ndarray:
    texts = [f"{p.title}\n{p.text}" if p.title else p.text for p in passages]
    key = hashlib.sha1(("\x00".join(texts) + embedder.name).encode()).hexdigest()[:16]
    path = cache / f"passages-{key}.npy" if cache else None
    if path is not None and path.exists():
        return np.load(path)
    vecs = embedder.encode(texts, kind="passage")
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, vecs)
    return vecs


class BenchIndex:
    """Stores + retrievers over one pooled corpus (in a temporary directory)."""

    def __init__(self, rows: Sequence[dict[str, Any]], embedder: Embedder, *, cache: Path | None,
                 walk: WalkSettings | None = None, graph_options: dict[str, Any] | None = None) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="tgrag-bench-")
        self.docs = SqliteDocumentStore(os.path.join(self.tmp.name, "docs.sqlite"))
        documents, self.passages = corpus_passages(rows)
        self.docs.put(documents, self.passages)
        t0 = time.perf_counter()
        self.vectors = FaissVectorIndex(embedder.dim)
        self.vectors.add([p.passage_id for p in self.passages], embed_passages(embedder, self.passages, cache))
        self.embed_seconds = time.perf_counter() - t0
        self.graph = NetworkXGraphStore()
        t0 = time.perf_counter()
        key_index = FaissVectorIndex(embedder.dim, self._key_cache(cache, embedder))
        self.builder = PassageGraphBuilder(self.graph, self.docs, embedder, key_index=key_index,
                                           **(graph_options or {}))
        self.n_hops = self.builder.add(self.passages)
        key_index.save()
        self.graph_seconds = time.perf_counter() - t0
        self.dense = DenseRetriever(self.docs, self.vectors, embedder)
        self.bm25 = BM25Retriever(self.docs)
        self.hybrid = HybridRetriever(self.dense, self.bm25)
        self.walk = HopWalkRetriever(self.hybrid, self.graph, settings=walk)

    def _key_cache(self, cache: Path | None, embedder: Embedder) -> Path | None:
        """Pseudo-query key embeddings persist beside the passage embeddings (a second FAISS file)."""
        if cache is None:
            return None
        ids = "\x00".join(p.passage_id for p in self.passages) + embedder.name
        return cache / f"keys-{hashlib.sha1(ids.encode()).hexdigest()[:16]}.faiss"

    def retriever(self, method: str) -> Any:
        return {"dense": self.dense, "bm25": self.bm25, "hybrid": self.hybrid, "walk": self.walk}[method]


def recall_at(ranked: Sequence[str], gold: Sequence[str], k: int) -> float:
    gold_set = set(gold)
    return len(set(ranked[:k]) & gold_set) / len(gold_set) if gold_set else 0.0


def evaluate(index: BenchIndex, questions: Sequence[dict[str, Any]], methods: Sequence[str]
             ) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    known = {p.passage_id for p in index.passages}
    qs = [q for q in questions if any(s in known for s in q.get("supporting") or ())]
    for method in methods:
        r2, r5, lat = [], [], []
        retr = index.retriever(method)
        for q in tqdm(qs, desc=method, leave=False):
            gold = [s for s in q["supporting"] if s in known]
            t0 = time.perf_counter()
            ranked = [pid for pid, _ in retr.ranked(q["question"], 5)]
            lat.append((time.perf_counter() - t0) * 1000)
            r2.append(recall_at(ranked, gold, 2))
            r5.append(recall_at(ranked, gold, 5))
        out[method] = {"recall@2": round(100 * float(np.mean(r2)), 2), "recall@5": round(100 * float(np.mean(r5)), 2),
                       "latency_ms_p50": round(float(np.percentile(lat, 50)), 2),
                       "latency_ms_p95": round(float(np.percentile(lat, 95)), 2), "questions": len(qs)}
    return out


SWEEP_EDGES = (5, 30)
SWEEP_WALK = [WalkSettings(beam=b, weak_weight=w, hops=h) for h in (1, 2) for b in (1, 2, 3) for w in (0.5, 0.8)]


def sweep(rows: Sequence[dict[str, Any]], questions: Sequence[dict[str, Any]], embedder: Embedder,
          cache: Path | None) -> list[dict[str, Any]]:
    """Walk Recall@2/@5 for every (max_edges_per_query, WalkSettings) of the grid, one set."""
    out = []
    vectors: dict[str, np.ndarray] = {}  # each question is embedded once for the whole grid
    for edges in SWEEP_EDGES:
        index = BenchIndex(rows, embedder, cache=cache, graph_options={"max_edges_per_query": edges})
        embed = index.dense.embed
        index.dense.embed = lambda q, embed=embed: vectors[q] if q in vectors else vectors.setdefault(q, embed(q))  # type: ignore[method-assign]
        for st in SWEEP_WALK:
            index.walk = HopWalkRetriever(index.hybrid, index.graph, settings=st)
            scores = evaluate(index, questions, ["walk"])["walk"]
            out.append({"max_edges_per_query": edges, "hops_in_graph": index.n_hops,
                        "walk": {"hops": st.hops, "beam": st.beam, "weak_weight": st.weak_weight},
                        "recall@2": scores["recall@2"], "recall@5": scores["recall@5"]})
    return out


def machine_info() -> dict[str, Any]:
    """Where a result was measured: cores, platform, Python, the git commit of the code and the load
    average when it started (latencies taken on busy cores are not comparable with quiet ones)."""
    import subprocess

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, check=False).stdout.strip() or None
    except OSError:
        commit = None
    return {"cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "commit": commit, "load_average_1m": round(os.getloadavg()[0], 2)}


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_root", nargs="?", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--datasets", nargs="+", default=list(MULTIHOP))
    ap.add_argument("--methods", nargs="+", default=list(METHODS))
    ap.add_argument("--limit", type=int, default=0, help="questions per set (0 = all)")
    ap.add_argument("--cache", default="", help="folder for cached passage embeddings")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "retrieval.json"))
    ap.add_argument("--sweep", action="store_true", help="also sweep the walk settings (walk_sweep.json)")
    args = ap.parse_args(argv)
    from tgrag.models.embedders import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()
    result: dict[str, Any] = {"command": " ".join(sys.argv), "date": datetime.now(UTC).isoformat(),
                              "machine": machine_info(), "embedder": embedder.name, "llm_calls": 0,
                              "walk_settings": asdict(WalkSettings()),
                              "datasets": {}}
    grid: dict[str, Any] = {}
    for name in args.datasets:
        root = Path(args.data_root) / name
        rows = read_jsonl(root / "corpus.jsonl")
        questions = read_jsonl(root / "questions.jsonl")
        if args.limit:
            questions = questions[: args.limit]
        index = BenchIndex(rows, embedder, cache=Path(args.cache) if args.cache else None)
        scores = evaluate(index, questions, args.methods)
        dense5 = scores.get("dense", {}).get("recall@5")
        walk5 = scores.get("walk", {}).get("recall@5")
        result["datasets"][name] = {
            "passages": len(rows), "hops": index.n_hops, "embed_seconds": round(index.embed_seconds, 1),
            "graph_build_seconds": round(index.graph_seconds, 1), "methods": scores,
            "walk_over_dense_recall@5": round(walk5 / dense5, 3) if dense5 and walk5 else None}
        print(name, json.dumps(result["datasets"][name], indent=1), flush=True)
        if args.sweep:
            grid[name] = {"dense_recall@5": dense5,
                          "grid": sweep(rows, questions, embedder, Path(args.cache) if args.cache else None)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if args.sweep:
        path = Path(args.out).with_name("walk_sweep.json")
        path.write_text(json.dumps({**{k: result[k] for k in ("command", "date", "machine", "embedder")},
                                    "datasets": grid}, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
