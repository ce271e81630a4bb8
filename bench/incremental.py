"""Incremental insert vs a one-batch build, through the whole write path (``TemporalGraphRAG``:
chunking, embedding, knowledge graph, passage graph, commit), on MuSiQue with the real embedder.

    .venv/bin/python bench/incremental.py ../shared/data [--out bench/results/incremental.json]
        [--sections batches,update] [--batch 250]

Sections:
- ``batches``: the first ``2 × --batch`` documents of the corpus inserted in two batches (the index
  closed and reopened in between) vs the same documents in one batch: passage hops of each, and
  whether documents, passages, vectors, entities, facts, time nodes (with summaries) and hops are
  equal (the digest of ``bench/crash.py``; vectors within ``VECTOR_TOLERANCE``, every other part
  exactly). Issue 13 measured 9,376 vs 8,610 hops before the fix.
- ``update``: build 90% of the corpus, insert the remaining 10%, then rebuild 100% from scratch
  right after in the same process: wall and CPU time of the insert vs the rebuild, with the write
  path's stage times and what the passage graph re-linked (all of it when the insert moves the
  passage count past a power of two: 1,979 + 220 does; only the sources it touches otherwise). The
  same split as ``bench/temporal_kg.py --sections update``, which times the knowledge graph alone.
  ``--update-fraction`` and ``--update-documents`` change the split (``--section-name`` keys the
  result), e.g. ``--update-documents 1900 --update-fraction 0.05`` stays inside one bucket.

Models: all-MiniLM-L6-v2 (``SentenceTransformerEmbedder``; ``--embedder hashing``: the hashing
fake of ``tgrag.testing``, which takes the embedding cost out and leaves the pipeline's own work), the
default spaCy extraction, no LLM call at index time (a scripted LLM that is never asked).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.crash import digest  # noqa: E402
from tgrag.facade import TemporalGraphRAG  # noqa: E402
from tgrag.ingest import load_jsonl_documents  # noqa: E402
from tgrag.kernel.records import Document  # noqa: E402
from tgrag.testing import ScriptedLLM  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


class Bench:
    def __init__(self, embedder: str) -> None:
        from tgrag.kernel.protocols import Embedder

        self.embedder: Embedder
        if embedder == "hashing":
            from tgrag.testing import HashingEmbedder

            self.embedder = HashingEmbedder()
        else:
            from tgrag.models.embedders import SentenceTransformerEmbedder

            self.embedder = SentenceTransformerEmbedder()

    def open(self, path: Path) -> TemporalGraphRAG:
        return TemporalGraphRAG.open(path, embedder=self.embedder, llm=ScriptedLLM(default=""), show_progress=False)

    def insert(self, path: Path, docs: list[Document]) -> dict[str, Any]:
        """Open ``path``, insert ``docs`` (timed: wall and CPU), close; the report's stage times."""
        rag = self.open(path)
        try:
            w, c = time.perf_counter(), time.process_time()
            report = rag.insert(docs)
            wall, cpu = time.perf_counter() - w, time.process_time() - c
            relink = dict(rag.passage_graph.last_update) if rag.passage_graph is not None else {}
        finally:
            rag.close()
        return {"documents": len(docs), "seconds": round(wall, 2), "cpu_seconds": round(cpu, 2),
                "stage_seconds": {k: round(v, 2) for k, v in report.seconds.items()},
                "passage_graph_relink": relink,
                "loadavg_after": list(os.getloadavg())}

    def state(self, path: Path) -> tuple[dict[str, Any], dict[str, int]]:
        """The digest of ``bench/crash.py`` with the passage vectors themselves in place of theirs
        (compared within ``VECTOR_TOLERANCE``); the graph's counts."""
        import numpy as np

        rag = self.open(path)
        try:
            ids = sorted(rag.vectors.ids())
            vecs = np.stack([rag.vectors.vector(i) for i in ids]) if ids else np.zeros((0, 0), dtype=np.float32)
            return {**digest(rag), "vectors": (ids, vecs)}, dict(rag.graph.counts())
        finally:
            rag.close()


# MiniLM's vectors of one text differ by ~1e-7 with the encode batch it is in (float noise of
# batched matrix products): vectors are equal when ids match and no component differs by more
VECTOR_TOLERANCE = 1e-5


def compare(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Every part exactly equal, except the vectors: same ids and max |a - b| <= VECTOR_TOLERANCE."""
    (ids_a, va), (ids_b, vb) = a["vectors"], b["vectors"]
    same_shape = ids_a == ids_b and va.shape == vb.shape
    diff = float(abs(va - vb).max()) if same_shape and va.size else (0.0 if same_shape else None)
    differing = sorted(k for k in a if k != "vectors" and a[k] != b.get(k))
    if diff is None or diff > VECTOR_TOLERANCE:
        differing = sorted([*differing, "vectors"])
    return {"equal": not differing, "differing": differing,
            "vectors": {"tolerance_max_abs_diff": VECTOR_TOLERANCE, "max_abs_diff": diff, "same_ids": ids_a == ids_b}}


def bench_batches(b: Bench, docs: list[Document], n: int, work: Path) -> dict[str, Any]:
    first, second = docs[:n], docs[n:2 * n]
    two = [b.insert(work / "two", first), b.insert(work / "two", second)]
    one = b.insert(work / "one", first + second)
    (d_two, c_two), (d_one, c_one) = b.state(work / "two"), b.state(work / "one")
    return {"documents": 2 * n, "batches": [n, n], "hops_two_batches": c_two.get("hops"),
            "hops_one_batch": c_one.get("hops"), "counts_two_batches": c_two, "counts_one_batch": c_one,
            "two_batches_equal_one_batch": compare(d_two, d_one), "inserts_two_batches": two, "insert_one_batch": one,
            "issue_13_before_fix": {"hops_two_batches": 9376, "hops_one_batch": 8610}}


def bench_update(b: Bench, docs: list[Document], work: Path, seed: int = 0, fraction: float = 0.1
                 ) -> dict[str, Any]:
    order = list(range(len(docs)))
    random.Random(seed).shuffle(order)
    n_new = max(1, round(fraction * len(docs)))
    base = [docs[i] for i in sorted(order[n_new:])]
    new = [docs[i] for i in sorted(order[:n_new])]
    load_start = os.getloadavg()
    base_build = b.insert(work / "inc", base)
    ins = b.insert(work / "inc", new)
    full = b.insert(work / "full", docs)
    (d_inc, c_inc), (d_full, _) = b.state(work / "inc"), b.state(work / "full")
    return {"documents": len(docs), "inserted_documents": len(new), "fraction": fraction,
            "order": "base build, insert, full rebuild (back to back)",
            "insert_seconds": ins["seconds"], "full_build_seconds": full["seconds"],
            "insert_over_full": round(ins["seconds"] / full["seconds"], 3),
            "insert_cpu_seconds": ins["cpu_seconds"], "full_build_cpu_seconds": full["cpu_seconds"],
            "insert_over_full_cpu": round(ins["cpu_seconds"] / full["cpu_seconds"], 3),
            "passage_graph_insert_over_full": round(ins["stage_seconds"].get("passage_graph", 0.0)
                                                    / max(full["stage_seconds"].get("passage_graph", 0.0), 1e-9), 3),
            "target_ratio": 0.15, "loadavg_at_start": list(load_start), "base_build": base_build, "insert": ins,
            "full_build": full, "counts": c_inc, "incremental_equals_full_build": compare(d_inc, d_full)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "incremental.json")
    ap.add_argument("--sections", default="batches,update")
    ap.add_argument("--batch", type=int, default=250)
    ap.add_argument("--embedder", choices=("minilm", "hashing"), default="minilm")
    ap.add_argument("--update-fraction", type=float, default=0.1, help="share of the corpus the update inserts")
    ap.add_argument("--update-documents", type=int, default=0, help="corpus documents the update uses (0: all)")
    ap.add_argument("--section-name", default="", help="key of the result (default: the section)")
    args = ap.parse_args(argv)
    docs = load_jsonl_documents(args.data / "musique" / "corpus.jsonl")
    out: dict[str, Any] = json.loads(args.out.read_text()) if args.out.exists() else {}
    b = Bench(args.embedder)
    for section in args.sections.split(","):
        run = {"command": "python bench/incremental.py " + " ".join(argv if argv is not None else sys.argv[1:]),
               "date": datetime.now(UTC).isoformat(timespec="seconds"), "loadavg_1_5_15_at_start": list(os.getloadavg()),
               "commit": os.popen(f"git -C {ROOT} rev-parse HEAD").read().strip(), "cpus": os.cpu_count(),
               "embedder": args.embedder}
        with tempfile.TemporaryDirectory(prefix=f"tgrag-{section}-") as tmp:
            if section == "batches":
                result = bench_batches(b, docs, args.batch, Path(tmp))
            elif section == "update":
                used = docs[: args.update_documents] if args.update_documents else docs
                result = bench_update(b, used, Path(tmp), fraction=args.update_fraction)
            else:
                raise SystemExit(f"unknown section {section!r}")
        out[args.section_name or section] = {"run": run, "musique": result}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=2) + "\n")
        print(json.dumps({k: v for k, v in result.items() if not isinstance(v, dict)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
