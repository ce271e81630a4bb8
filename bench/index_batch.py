"""Indexing seconds per stage with the embedder's query batch size A vs B, interleaved runs.

The passage graph embeds every entity-name key (2-3 words on average) with ``kind="query"``; its
stage was the largest of LLM-free indexing. This benchmark indexes the first ``--documents``
documents of a set into a fresh index per run, alternating the two ``query_batch_size`` values
``--reps`` times, and records each run's stage seconds and whether the two built the same hops.

    .venv/bin/python bench/index_batch.py ../shared/data --dataset musique --documents 200 --reps 2
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from retrieval import corpus_documents, machine_info, read_jsonl  # noqa: E402


def hops_digest(rag: Any) -> str:
    """sha256 of the sorted hops (source, target, score to 1e-6): equal digests, equal passage graphs."""
    rows = sorted(f"{h.src}|{h.dst}|{h.score:.6f}" for h in rag.graph.hops())
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16]


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_root", nargs="?", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--dataset", default="musique")
    ap.add_argument("--documents", type=int, default=200)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--batches", nargs=2, type=int, default=[16, 256], metavar=("A", "B"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "index_batch.json"))
    args = ap.parse_args(argv)
    from tgrag.facade import TemporalGraphRAG
    from tgrag.models.embedders import SentenceTransformerEmbedder

    docs = corpus_documents(read_jsonl(Path(args.data_root) / args.dataset / "corpus.jsonl"))[: args.documents]
    runs: list[dict[str, Any]] = []
    for rep in range(args.reps):
        for qbs in args.batches:
            emb = SentenceTransformerEmbedder(query_batch_size=qbs)
            emb.encode(["warm-up"])  # model load outside the timed insert
            with tempfile.TemporaryDirectory() as d:
                rag = TemporalGraphRAG.open(d, embedder=emb)
                report = rag.insert(docs)
                runs.append({"rep": rep, "query_batch_size": qbs, "passages": report.passages_added,
                             "seconds": {k: round(v, 2) for k, v in report.seconds.items()},
                             "hops": len(list(rag.graph.hops())), "hops_digest": hops_digest(rag)})
                rag.close()
            print(json.dumps(runs[-1]), flush=True)
    summary = {}
    for qbs in args.batches:
        mine = [r for r in runs if r["query_batch_size"] == qbs]
        summary[str(qbs)] = {stage: round(statistics.median(r["seconds"][stage] for r in mine), 2)
                             for stage in mine[0]["seconds"]}
        summary[str(qbs)]["passages_per_s"] = round(mine[0]["passages"] / summary[str(qbs)]["total"], 1)
    result = {"command": " ".join(sys.argv), "date": datetime.now(UTC).isoformat(), "machine": machine_info(),
              "models": {"embedder": "all-MiniLM-L6-v2", "extraction": "spaCy (default)", "llm": None},
              "sample": f"the first {args.documents} documents of {args.dataset}", "runs": runs,
              "median_seconds": summary,
              "same_hops": len({r["hops_digest"] for r in runs}) == 1}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({"median_seconds": summary, "same_hops": result["same_hops"]}, indent=1))


if __name__ == "__main__":
    main()
