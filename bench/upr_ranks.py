"""Where UPR puts each supporting passage of the walk's top 20: the passages the question names vs the bridges.

`bench/generators.py` measures that UPR over the walk's top 20 lowers the supporting-passage
Recall@5 of what is read. This script says which supporting passages it loses. For every question
it ranks the documents of the walk's top ``--depth`` before and after UPR. It splits the gold
supporting documents into *named* ones (the document's title appears in the question: the first hop,
or both sides of a comparison) and *bridge* ones (not named: reached through another passage).

Same index, settings and model as `generators.py` (the product index under ``--index-dir``, the walk
of its ``concat+upr`` configuration, Qwen2.5-Coder-0.5B through transformers), behind the same LLM /
scorer cache. After a generators run, every UPR score is a cache hit. With ``--replay`` a question
whose scores are not cached is skipped and counted, and nothing is computed.

It also measures ``rerank_upr_weight`` (``reasoning.rerank.fuse_with_retriever``): for each weight of
``--weights`` the supporting-document Recall@k of the fused top k passages (what the reader would
read). The weight is chosen on the ``tune`` half of the questions (``retrieval.half_of``, a stable
hash of the question id) and reported on both halves, against UPR alone (1.0) and the walk alone (0.0).

    .venv/bin/python bench/upr_ranks.py ../shared/data --datasets 2wikimultihopqa --limit 50 --replay
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from answers import load_set, product_index  # noqa: E402
from generators import CONFIGS, metered_model  # noqa: E402
from retrieval import MULTIHOP, half_of, machine_info, recall_at  # noqa: E402

from reasoning.rerank import fuse_with_retriever  # noqa: E402
from tgrag.kernel.errors import ModelError  # noqa: E402


def doc_ranks(evidence: Sequence[Any]) -> dict[str, int]:
    """1-based rank of each document, by its first passage in ``evidence``."""
    ranks: dict[str, int] = {}
    for e in evidence:
        ranks.setdefault(e.doc_id or e.ref_id, len(ranks) + 1)
    return ranks


def is_named(doc_id: str, question: str) -> bool:
    """The document's title (its id before ``#``) appears in the question, case-insensitively."""
    return doc_id.split("#")[0].strip().lower() in question.lower()


def share_within(docs: Sequence[dict[str, Any]], key: str, k: int) -> float | None:
    """The share of ``docs`` whose ``key`` rank is at most k (None without docs)."""
    return round(sum(1 for d in docs if d[key] is not None and d[key] <= k) / len(docs), 3) if docs else None


def summarise(rows: Sequence[dict[str, Any]], k: int) -> dict[str, Any]:
    """Per kind of supporting document: how many, how many the pool holds, Recall@k before / after UPR."""
    out: dict[str, Any] = {}
    for kind in ("named", "bridge"):
        docs = [d for r in rows for d in r["supporting"] if d["kind"] == kind]
        out[kind] = {"passages": len(docs), "in_pool": sum(1 for d in docs if d["walk_rank"] is not None),
                     f"walk_recall@{k}": share_within(docs, "walk_rank", k),
                     f"upr_recall@{k}": share_within(docs, "upr_rank", k)}
    return out


def read_recall(fused: Sequence[Any], supporting: Sequence[str], k: int) -> float:
    """Supporting-document recall of the documents of the top ``k`` passages (as generators.py)."""
    return recall_at(list(doc_ranks(fused[:k])), list(supporting), k)


def choose_weight(rows: Sequence[dict[str, Any]], weights: Sequence[float]) -> dict[str, Any]:
    """The weight with the best mean read recall on the ``tune`` rows (ties: the larger weight, nearer
    the published UPR), and the mean recall of every weight on each half."""
    halves: dict[str, Any] = {}
    for half in ("tune", "report"):
        part = [r for r in rows if r["half"] == half]
        halves[half] = {"questions": len(part), "recall_by_weight": {
            str(w): round(sum(r["fused_recall"][str(w)] for r in part) / len(part), 3) if part else None
            for w in weights}}
    tune = halves["tune"]["recall_by_weight"]
    scored = [w for w in weights if tune[str(w)] is not None]
    best = max(scored, key=lambda w: (tune[str(w)], w)) if scored else None
    return {"chosen_on_tune": best, "halves": halves}


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_root", nargs="?", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--datasets", nargs="+", default=list(MULTIHOP))
    ap.add_argument("--limit", type=int, default=50)
    ap.add_argument("--depth", type=int, default=20)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--weights", nargs="+", type=float, default=[1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0],
                    help="rerank_upr_weight values to measure")
    ap.add_argument("--replay", action="store_true", help="only cached UPR scores; skip the other questions")
    ap.add_argument("--llm-cache", default=str(Path.home() / ".cache" / "tgrag" / "bench_llm_cache.sqlite"))
    ap.add_argument("--hf-weights", default=str(Path.home() / ".cache" / "tgrag" / "hf_weights"))
    ap.add_argument("--index-dir", default=str(ROOT / ".tgrag" / "bench" / "indexes"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "upr_ranks.json"))
    args = ap.parse_args(argv)
    from reasoning.assembly import build_query_side
    from tgrag.models.cache import CachedLLM
    from tgrag.models.embedders import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()
    llm = CachedLLM(metered_model(args.hf_weights), args.llm_cache, mode="replay" if args.replay else "readwrite")
    result: dict[str, Any] = {
        "command": " ".join(sys.argv), "date": datetime.now(UTC).isoformat(), "machine": machine_info(),
        "embedder": embedder.name, "llm": llm.name, "depth": args.depth, "k": args.k,
        "named": "a supporting document whose title appears in the question; bridge: one whose title does not",
        "sample": f"the first {args.limit} questions of each set (as generators.py)", "datasets": {}}
    for name in args.datasets:
        data = load_set(name, Path(args.data_root))
        rag = product_index(name, list(data.documents), embedder, Path(args.index_dir))
        side = build_query_side(rag.docs, rag.vectors, rag.graph, rag.embedder, llm,
                                settings=CONFIGS["concat+upr"], indexer=rag.indexer)
        assert side.reranker is not None
        rows, skipped = [], 0
        for q in list(data.questions)[: args.limit]:
            pool = side.walk.retrieve(q.question, args.depth)
            try:
                reranked = side.reranker.rerank(q.question, pool)
            except ModelError:  # --replay: a score not in the cache
                skipped += 1
                continue
            walk, upr = doc_ranks(pool), doc_ranks(reranked)
            fused = {str(w): round(read_recall(fuse_with_retriever(pool, reranked, w), q.supporting, args.k), 3)
                     for w in args.weights}
            rows.append({"id": q.qid, "question": q.question, "half": half_of(q.qid), "fused_recall": fused,
                         "supporting": [
                {"doc": d, "kind": "named" if is_named(d, q.question) else "bridge",
                 "walk_rank": walk.get(d), "upr_rank": upr.get(d)} for d in q.supporting]})
        result["datasets"][name] = {"questions": len(rows), "skipped_not_cached": skipped,
                                    "summary": summarise(rows, args.k),
                                    "upr_weight": choose_weight(rows, args.weights), "rows": rows}
        print(name, json.dumps(result["datasets"][name]["summary"]), f"({len(rows)} q, {skipped} skipped)", flush=True)
        print(name, "rerank_upr_weight:", json.dumps(result["datasets"][name]["upr_weight"]), flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
