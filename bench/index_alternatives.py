"""Two ways to index faster on 2 cores that were tried and not adopted, measured.

1. **Extraction beside the embedding**: spaCy extraction in a thread while the main thread embeds the
   same passages, against the two in sequence (the product's order). Both cores are already busy
   with torch's two threads, and spaCy's Python parts hold the GIL.
2. **int8 encoder**: ``torch.ao.quantization.quantize_dynamic`` on the encoder's linear layers
   (per-channel weights): passages per second against fp32, and how far the vectors move (cosine to
   the fp32 vector, and the share of each passage's 6 nearest neighbours among the sample kept).

The first ``--documents`` documents of a set, chunked as the facade chunks them.

    .venv/bin/python bench/index_alternatives.py ../shared/data --dataset musique --documents 600
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from index_batch import matmul_gflops  # noqa: E402
from retrieval import corpus_documents, machine_info, read_jsonl  # noqa: E402


def neighbour_agreement(a: np.ndarray, b: np.ndarray, k: int = 6) -> float:
    """Mean share of each row's k nearest rows (cosine, itself included) under ``a`` kept under ``b``."""
    ta = np.argsort(-(a @ a.T), axis=1)[:, :k]
    tb = np.argsort(-(b @ b.T), axis=1)[:, :k]
    return float(np.mean([len(set(x) & set(y)) / k for x, y in zip(ta.tolist(), tb.tolist())]))


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_root", nargs="?", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--dataset", default="musique")
    ap.add_argument("--documents", type=int, default=600)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "index_alternatives.json"))
    args = ap.parse_args(argv)
    import torch

    from graph_index.extract_spacy import SpacyFactExtractor
    from tgrag.ingest import passage_text, passages_of
    from tgrag.models.embedders import SentenceTransformerEmbedder

    docs = corpus_documents(read_jsonl(Path(args.data_root) / args.dataset / "corpus.jsonl"))[: args.documents]
    passages = [p for d in docs for p in passages_of(d, max_words=180)]
    texts = [passage_text(p) for p in passages]
    emb = SentenceTransformerEmbedder()
    emb.encode(texts[:16])
    extractor = SpacyFactExtractor()
    extractor.extract(passages[:4])  # loads spaCy outside the timings
    host = {"matmul_gflops_1_thread": matmul_gflops(1), "matmul_gflops_2_threads": matmul_gflops(2)}

    overlap: dict[str, Any] = {}
    for rep in range(2):
        t = time.perf_counter()
        emb.encode(texts)
        embed_s = time.perf_counter() - t
        t2 = time.perf_counter()
        seq = extractor.extract(passages)
        extract_s = time.perf_counter() - t2
        sequential = time.perf_counter() - t
        t = time.perf_counter()
        with ThreadPoolExecutor(1) as pool:
            future = pool.submit(extractor.extract, passages)
            emb.encode(texts)
            par = future.result()
        overlapped = time.perf_counter() - t
        assert par.facts == seq.facts and par.entities == seq.entities
        overlap[f"rep{rep}"] = {"embed_s": round(embed_s, 2), "extract_s": round(extract_s, 2),
                                "sequential_s": round(sequential, 2), "overlapped_s": round(overlapped, 2)}
        print(json.dumps(overlap[f"rep{rep}"]), flush=True)

    fp32 = emb._load()
    t = time.perf_counter()
    a = emb.encode(texts)
    fp32_s = time.perf_counter() - t
    spec: Any = {torch.nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig}
    emb._model = torch.ao.quantization.quantize_dynamic(copy.deepcopy(fp32), spec)
    emb.encode(texts[:16])
    t = time.perf_counter()
    b = emb.encode(texts)
    int8_s = time.perf_counter() - t
    emb._model = fp32
    cos = (a * b).sum(axis=1)
    int8 = {"fp32_passages_per_s": round(len(texts) / fp32_s, 1), "int8_passages_per_s": round(len(texts) / int8_s, 1),
            "speedup": round(fp32_s / int8_s, 2), "cosine_to_fp32_mean": round(float(cos.mean()), 4),
            "cosine_to_fp32_min": round(float(cos.min()), 4),
            "nearest_6_kept": round(neighbour_agreement(a, b), 3)}
    print(json.dumps(int8), flush=True)
    result = {"command": " ".join(sys.argv), "date": datetime.now(UTC).isoformat(), "machine": machine_info(),
              "models": {"embedder": emb.name, "extraction": "spaCy (default)", "llm": None},
              "sample": f"the first {args.documents} documents of {args.dataset}: {len(passages)} passages",
              "host": host, "extraction_beside_embedding": overlap, "int8_encoder": int8}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
