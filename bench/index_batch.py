"""Indexing seconds per stage with the embedder's query batch size A vs B, interleaved runs.

The passage graph embeds every entity-name key (2-3 words on average) with ``kind="query"``; its
stage was the largest of LLM-free indexing. This benchmark indexes the first ``--documents``
documents of a set into a fresh index per run, alternating the two ``query_batch_size`` values
``--reps`` times, and records each run's stage seconds and whether the two built the same hops.

Hosts differ (the same code indexed MuSiQue at 23.3 passages/s on one and 11.6 on another), so it
also records what bounds the rate here: the host's fp32 matmul GFLOPS on 1 and 2 threads, and the
encoder's own work, the tokens of the passages (title + text, truncated as the model truncates) and
of the keys the passage graph embedded, with the matmul FLOPs they cost (2 x the encoder layers'
weights per token; attention and the rest come on top).

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


def matmul_gflops(threads: int, n: int = 1024, reps: int = 20) -> float:
    """fp32 GEMM throughput of this host on ``threads`` torch threads (best of 3 timings)."""
    import time

    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(n, n), torch.randn(n, n)
        for _ in range(3):
            a @ b
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            for _ in range(reps):
                a @ b
            best = min(best, time.perf_counter() - t)
        return round(2 * n ** 3 * reps / best / 1e9, 1)
    finally:
        torch.set_num_threads(before)


def encoder_work(emb: Any, texts: Sequence[str]) -> dict[str, float]:
    """Tokens the encoder runs for ``texts`` (truncated at its max length) and their matmul TFLOPs."""
    model = emb._load()
    limit = int(model.max_seq_length)
    lengths = [min(limit, len(ids)) for ids in model.tokenizer(list(texts), truncation=False)["input_ids"]]
    linear = sum(m.weight.numel() for name, m in model.named_modules()
                 if type(m).__name__ == "Linear" and ".encoder." in f".{name}")
    return {"texts": len(lengths), "tokens": int(sum(lengths)), "mean_tokens": round(sum(lengths) / max(1, len(lengths)), 1),
            "encoder_linear_params": int(linear), "matmul_tflop": round(2 * linear * sum(lengths) / 1e12, 2)}


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
    from tgrag.ingest import passage_text
    from tgrag.models.embedders import SentenceTransformerEmbedder

    docs = corpus_documents(read_jsonl(Path(args.data_root) / args.dataset / "corpus.jsonl"))[: args.documents]
    host = {"matmul_gflops_1_thread": matmul_gflops(1), "matmul_gflops_2_threads": matmul_gflops(2)}
    runs: list[dict[str, Any]] = []
    work: dict[str, Any] = {}
    for rep in range(args.reps):
        for qbs in args.batches:
            emb = SentenceTransformerEmbedder(query_batch_size=qbs)
            emb.encode(["warm-up"])  # model load outside the timed insert
            with tempfile.TemporaryDirectory() as d:
                rag = TemporalGraphRAG.open(d, embedder=emb)
                report = rag.insert(docs)
                if not work:
                    keys = [k.removeprefix("key:") for k in rag.passage_graph.key_index.ids() if k.startswith("key:")]
                    work = {"passages": encoder_work(emb, [passage_text(p) for p in rag.docs.iter_passages()]),
                            "passage_graph_keys": encoder_work(emb, keys)}
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
              "sample": f"the first {args.documents} documents of {args.dataset}", "host": host,
              "encoder_work": work, "runs": runs,
              "median_seconds": summary,
              "same_hops": len({r["hops_digest"] for r in runs}) == 1}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({"median_seconds": summary, "same_hops": result["same_hops"]}, indent=1))


if __name__ == "__main__":
    main()
