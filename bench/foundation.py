"""Foundation benchmark → bench/results/foundation.json.

For the demo corpus and a ../shared/data-format corpus (default musique): indexing throughput
(passages/s, whole pipeline and embedding alone, batched+length-sorted vs naive one-by-one on a
sample), query latency p50/p95 (retrieval only, and with the Qwen answer), peak RSS. Each corpus runs
in its own process so peak RSS is its own.

    python bench/foundation.py --data ../shared/data --questions 30 --answered 10
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np


def _pct(xs: list[float], q: float) -> float:
    return float(np.percentile(xs, q)) if xs else float("nan")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_one(name: str, data: Path, n_questions: int, n_answered: int) -> dict:
    from tgrag.demo import demo_data_dir
    from tgrag.facade import TemporalGraphRAG
    from tgrag.ingest import iter_jsonl, load_jsonl_documents
    from tgrag.models.embedders import SentenceTransformerEmbedder
    from tgrag.models.llamacpp_llm import LlamaCppLLM

    if name == "demo":
        corpus, qfile = demo_data_dir() / "docs.jsonl", demo_data_dir() / "questions.jsonl"
    else:
        corpus, qfile = data / name / "corpus.jsonl", data / name / "questions.jsonl"
    docs = load_jsonl_documents(corpus)
    questions = [row for _, row in iter_jsonl(qfile)][:n_questions]
    embedder = SentenceTransformerEmbedder()
    texts = [d.text for d in docs]
    embedder.encode(texts[:8])  # load weights outside the timings
    t = time.perf_counter()
    embedder.encode(texts)
    embed_batched = len(texts) / (time.perf_counter() - t)
    sample = texts[: min(200, len(texts))]
    t = time.perf_counter()
    for s in sample:
        embedder.encode([s])
    embed_naive = len(sample) / (time.perf_counter() - t)
    with tempfile.TemporaryDirectory() as tmp:
        rag = TemporalGraphRAG.open(Path(tmp) / "idx", embedder=embedder, llm=LlamaCppLLM(), show_progress=False)
        t = time.perf_counter()
        report = rag.insert(docs)
        index_s = time.perf_counter() - t
        retrieval_ms: list[float] = []
        for q in questions:
            t = time.perf_counter()
            rag.retrieve(q["question"], k=5)
            retrieval_ms.append(1000 * (time.perf_counter() - t))
        answer_ms: list[float] = []
        llm_calls = []
        for q in questions[:n_answered]:
            t = time.perf_counter()
            ans = rag.query(q["question"])
            answer_ms.append(1000 * (time.perf_counter() - t))
            llm_calls.append(ans.usage.calls)
        stats = rag.stats()
        rag.close()
    return {
        "corpus": str(corpus), "documents": len(docs), "passages": report.passages_added,
        "index_seconds": index_s, "index_passages_per_s": report.passages_added / index_s,
        "index_stage_seconds": dict(report.seconds),
        "embed_passages_per_s_batched_sorted": embed_batched,
        "embed_passages_per_s_naive_one_by_one": embed_naive, "naive_sample": len(sample),
        "graph": {k: v for k, v in stats.items() if isinstance(v, int)},
        "retrieval_latency_ms": {"n": len(retrieval_ms), "p50": _pct(retrieval_ms, 50), "p95": _pct(retrieval_ms, 95)},
        "answer_latency_ms": {"n": len(answer_ms), "p50": _pct(answer_ms, 50), "p95": _pct(answer_ms, 95),
                              "mean_llm_calls": float(np.mean(llm_calls)) if llm_calls else 0.0},
        "peak_rss_mb": _rss_mb(),
    }


def embed_only(data: Path, n: int) -> dict:
    """Embedding throughput alone on MuSiQue passages (title + text): batch sizes, and one by one."""
    from tgrag.ingest import iter_jsonl
    from tgrag.models.embedders import SentenceTransformerEmbedder

    rows = [row for _, row in iter_jsonl(data / "musique" / "corpus.jsonl")][:n]
    texts = [f"{r.get('title', '')}\n{r['text']}" for r in rows]
    out: dict = {"passages": len(texts), "loadavg_at_start": list(os.getloadavg())}
    for bs in (8, 16, 32, 64, 128):
        emb = SentenceTransformerEmbedder(batch_size=bs)
        emb.encode(texts[:16])
        t = time.perf_counter()
        emb.encode(texts)
        out[f"batched_sorted_bs{bs}_passages_per_s"] = len(texts) / (time.perf_counter() - t)
    model = SentenceTransformerEmbedder()._load()
    t = time.perf_counter()
    for s in texts[:150]:
        model.encode([s], show_progress_bar=False)
    out["naive_one_by_one_passages_per_s"] = 150 / (time.perf_counter() - t)
    out["loadavg_at_end"] = list(os.getloadavg())
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default="../shared/data", type=Path)
    ap.add_argument("--corpora", nargs="+", default=["demo", "musique"])
    ap.add_argument("--questions", type=int, default=30, help="retrieval-latency questions per corpus")
    ap.add_argument("--answered", type=int, default=10, help="questions answered with the LLM per corpus")
    ap.add_argument("--out", default="bench/results/foundation.json", type=Path)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--embed-only", action="store_true",
                    help="only measure embedding throughput; merged into the existing JSON")
    args = ap.parse_args()
    if args.embed_only:
        payload = json.loads(args.out.read_text()) if args.out.exists() else {"benchmark": "foundation"}
        payload["embedding"] = {"command": " ".join(sys.argv), "date": datetime.now(UTC).isoformat(timespec="seconds"),
                                **embed_only(args.data, 600)}
        args.out.write_text(json.dumps(payload, indent=2))
        print(json.dumps(payload["embedding"], indent=1))
        return 0
    if args.one:
        print(json.dumps(run_one(args.one, args.data, args.questions, args.answered)))
        return 0
    results = {}
    load_at_start = os.getloadavg()[0]
    for name in args.corpora:
        cmd = [sys.executable, __file__, "--one", name, "--data", str(args.data), "--questions",
               str(args.questions), "--answered", str(args.answered)]
        out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TQDM_DISABLE": "1"})
        if out.returncode != 0:
            print(out.stderr[-3000:], file=sys.stderr)
            return out.returncode
        results[name] = json.loads(out.stdout.strip().splitlines()[-1])
        print(name, json.dumps(results[name], indent=1))
    from tgrag.provenance import code_version

    commit = code_version()["commit"]
    payload = {"benchmark": "foundation", "command": " ".join(sys.argv),
               "date": datetime.now(UTC).isoformat(timespec="seconds"),
               "machine": {"cores": os.cpu_count(), "platform": platform.platform(),
                           "python": platform.python_version(), "commit": commit,
                           "load_average_1m_at_start": round(load_at_start, 2)},
               "results": results}
    if args.out.exists():  # keep the --embed-only section of an earlier run
        earlier = json.loads(args.out.read_text())
        if "embedding" in earlier:
            payload["embedding"] = earlier["embedding"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
