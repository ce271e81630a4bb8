"""EM/F1 of the full reasoning loop vs one-shot dense retrieve-then-read, same Qwen reader and budget.

Per set: the whole pooled corpus is indexed (LLM-free passage graph); the first ``--limit``
questions are answered twice — ``loop`` (time scope + decomposition + hop walk + rewriting) and
``dense_read`` (top-k dense passages, one reader call). Per question: LLM calls, prompt/completion
tokens and seconds. LLM calls go through a SQLite cache (``--llm-cache``), so a re-run is cheap.

    .venv/bin/python bench/answers.py ../shared/data --limit 50
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from retrieval import MULTIHOP, BenchIndex, machine_info, read_jsonl  # noqa: E402

from experiments.metrics import best_em_f1, normalize_answer  # noqa: E402
from reasoning.loop import ReasoningSettings, TemporalReasoner  # noqa: E402
from reasoning.reader import Reader  # noqa: E402
from tgrag.kernel.records import Answer  # noqa: E402

normalize = normalize_answer  # the project's SQuAD/HotpotQA normalisation (experiments.metrics)


def exact_match(pred: str, golds: Sequence[str]) -> float:
    return best_em_f1(pred, golds)[0]


def f1_score(pred: str, golds: Sequence[str]) -> float:
    return best_em_f1(pred, golds)[1]


def add_common_args(ap: argparse.ArgumentParser, *, datasets: Sequence[str], max_evidence_tokens: int,
                    out: str) -> None:
    """Arguments shared by the answer benchmarks (this one and temporal_answers.py)."""
    ap.add_argument("data_root", nargs="?", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--datasets", nargs="+", default=list(datasets))
    ap.add_argument("--limit", type=int, default=50)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--max-evidence-tokens", type=int, default=max_evidence_tokens)
    ap.add_argument("--cache", default="", help="folder for cached passage embeddings")
    ap.add_argument("--llm-cache", default=str(Path.home() / ".cache" / "tgrag" / "bench_llm_cache.sqlite"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / out))


def embedded_models(args: argparse.Namespace) -> tuple[Any, Any, Reader]:
    """(embedder, cached Qwen LLM, reader) for the answer benchmarks."""
    from tgrag.models.cache import CachedLLM
    from tgrag.models.embedders import SentenceTransformerEmbedder
    from tgrag.models.llamacpp_llm import LlamaCppLLM

    llm = CachedLLM(LlamaCppLLM(), args.llm_cache)
    return SentenceTransformerEmbedder(), llm, Reader(llm, max_evidence_tokens=args.max_evidence_tokens)


def per_question(ans: Answer, golds: Sequence[str], seconds: float, gold_ids: Sequence[str]) -> dict[str, Any]:
    ev_ids = [e.ref_id for e in ans.evidence]
    return {"prediction": ans.text, "abstained": ans.abstained, "em": exact_match(ans.text, golds),
            "f1": f1_score(ans.text, golds), "llm_calls": ans.usage.calls, "cached_calls": ans.usage.cached_calls,
            "prompt_tokens": ans.usage.prompt_tokens, "completion_tokens": ans.usage.completion_tokens,
            "seconds": round(seconds, 3), "llm_seconds": round(ans.usage.seconds, 3),
            "evidence_recall": (len(set(ev_ids) & set(gold_ids)) / len(set(gold_ids))) if gold_ids else None,
            "subquestions": next((t.data.get("subquestions") for t in ans.trace if t.stage == "decompose"), None)}


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    def mean(key: str) -> float:
        vals = [r[key] for r in rows if r.get(key) is not None]
        return round(float(np.mean(vals)), 4) if vals else 0.0
    return {"n": len(rows), "em": round(100 * mean("em"), 2), "f1": round(100 * mean("f1"), 2),
            "abstained": round(100 * mean("abstained"), 2), "llm_calls_per_q": mean("llm_calls"),
            "prompt_tokens_per_q": mean("prompt_tokens"), "completion_tokens_per_q": mean("completion_tokens"),
            "seconds_per_q": mean("seconds"), "evidence_recall": round(100 * mean("evidence_recall"), 2)}


METHOD_SETTINGS = {
    "loop": ReasoningSettings(retriever="walk", use_decomposition=True, use_time_scope=True),
    "dense_read": ReasoningSettings(retriever="dense", use_decomposition=False, use_time_scope=False,
                                    use_walk=False, use_kg_facts=False, use_summaries=False),
}


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(ap, datasets=MULTIHOP, max_evidence_tokens=1200, out="answers.json")
    ap.add_argument("--methods", nargs="+", default=list(METHOD_SETTINGS))
    args = ap.parse_args(argv)
    embedder, llm, reader = embedded_models(args)
    result: dict[str, Any] = {"command": " ".join(sys.argv), "date": datetime.now(UTC).isoformat(),
                              "machine": machine_info(), "embedder": embedder.name, "llm": llm.name,
                              "settings": {m: asdict(replace(s, k=args.k,
                                                             max_evidence_tokens=args.max_evidence_tokens))
                                           for m, s in METHOD_SETTINGS.items() if m in args.methods},
                              "corpus": "all passages of each set pooled", "datasets": {}}
    settings = {m: replace(METHOD_SETTINGS[m], k=args.k, max_evidence_tokens=args.max_evidence_tokens)
                for m in args.methods}
    answer_sets(args, result, settings, (embedder, llm, reader),
                lambda rows: rows[: args.limit])


def answer_sets(args: argparse.Namespace, result: dict[str, Any], settings: dict[str, ReasoningSettings],
                models: tuple[Any, Any, Reader], pick: Callable[[list[dict[str, Any]]], list[dict[str, Any]]], *,
                extra_row: Callable[[Answer, dict[str, Any]], dict[str, Any]] | None = None,
                extra_summary: Callable[[list[dict[str, Any]]], dict[str, Any]] | None = None) -> None:
    """Index every set of ``args.datasets`` (pooled corpus), answer the questions ``pick`` selects with
    every method, round-robin over the sets (a run cut short still covers each set evenly), and write
    ``result`` to ``args.out`` after every question."""
    embedder, llm, reader = models
    out = Path(args.out)
    sets: dict[str, Any] = {}
    for name in args.datasets:
        root = Path(args.data_root) / name
        index = BenchIndex(read_jsonl(root / "corpus.jsonl"), embedder,
                           cache=Path(args.cache) if args.cache else None)
        reasoners = {m: TemporalReasoner.from_parts(index.docs, index.vectors, index.graph, embedder, llm, reader=reader,
                                         settings=s) for m, s in settings.items()}
        sets[name] = (pick(read_jsonl(root / "questions.jsonl")), index, reasoners, {m: [] for m in settings})
    order = [(name, i) for i in range(max(len(v[0]) for v in sets.values()))
             for name in args.datasets if i < len(sets[name][0])]
    for name, i in tqdm(order, desc="questions"):
        questions, index, reasoners, rows = sets[name]
        q = questions[i]
        for m, reasoner in reasoners.items():
            t0 = time.perf_counter()
            ans = reasoner.answer(q["question"], question_date=q.get("question_date"))
            row = per_question(ans, q["answers"], time.perf_counter() - t0, q.get("supporting") or [])
            if extra_row is not None:
                row.update(extra_row(ans, q))
            rows[m].append({"id": q["id"], "type": q.get("type"), "gold": q["answers"], **row})
        result["datasets"][name] = {
            "passages": len(index.passages), "hops": index.n_hops,
            "summary": {m: {**summarise(r), **(extra_summary(r) if extra_summary else {})} for m, r in rows.items()},
            "questions": rows}
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    for name in args.datasets:
        print(name, json.dumps(result["datasets"].get(name, {}).get("summary"), indent=1), flush=True)


if __name__ == "__main__":
    main()
