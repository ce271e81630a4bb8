"""Accuracy on time-scoped questions (tempreason, menatqa) with time scoping on vs off.

Same pooled corpus, same retriever (hybrid seeds + hop walk), same Qwen reader and evidence budget;
decomposition off in both so that the only difference is the time scope: read from the question
text (and ``question_date``), used to filter dated passages, to drop the sentences of undated
passages dated outside the scope, and handed to the reader. Questions are taken round-robin over
the sets (an even stride through each file, so every question type is sampled); results are
written after every question.

    .venv/bin/python bench/temporal_answers.py ../shared/data --limit 50
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from answers import (  # noqa: E402
    add_common_args,
    embedded_models,
    exact_match,
    f1_score,
    normalize,
    per_question,
    summarise,
)
from retrieval import BenchIndex, machine_info, read_jsonl  # noqa: E402

from reasoning.loop import ReasoningSettings, TemporalReasoner  # noqa: E402

SETS = ("tempreason", "menatqa")
BASE = ReasoningSettings(retriever="walk", use_decomposition=False, use_kg_facts=False, use_summaries=False)
METHODS = {"scope_on": replace(BASE, use_time_scope=True), "scope_off": replace(BASE, use_time_scope=False)}


def accurate(pred: str, golds: Sequence[str]) -> float:
    """Correct when exact, or when a gold answer appears whole inside the (short) prediction."""
    if exact_match(pred, golds):
        return 1.0
    p = f" {normalize(pred)} "
    return float(bool(pred.strip()) and any(f" {normalize(g)} " in p for g in golds if normalize(g)))


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(ap, datasets=SETS, max_evidence_tokens=800, out="temporal_answers.json")
    args = ap.parse_args(argv)
    embedder, llm, reader = embedded_models(args)
    settings = {m: replace(s, k=args.k, max_evidence_tokens=args.max_evidence_tokens) for m, s in METHODS.items()}
    result: dict[str, Any] = {"command": " ".join(sys.argv), "date": datetime.now(UTC).isoformat(),
                              "machine": machine_info(), "embedder": embedder.name, "llm": llm.name,
                              "settings": {m: asdict(s) for m, s in settings.items()},
                              "corpus": "all passages of each set pooled", "datasets": {}}
    sets: dict[str, Any] = {}
    for name in args.datasets:
        root = Path(args.data_root) / name
        index = BenchIndex(read_jsonl(root / "corpus.jsonl"), embedder,
                           cache=Path(args.cache) if args.cache else None)
        reasoners = {m: TemporalReasoner(index.docs, index.vectors, index.graph, embedder, llm, reader=reader,
                                         settings=s) for m, s in settings.items()}
        every = read_jsonl(root / "questions.jsonl")
        stride = max(1, len(every) // args.limit) if args.limit else 1  # evenly over the set's types
        sets[name] = (every[::stride][: args.limit], index, reasoners,
                      {m: [] for m in settings})
    out = Path(args.out)
    order = [(name, i) for i in range(args.limit) for name in args.datasets if i < len(sets[name][0])]
    for name, i in tqdm(order, desc="questions"):
        questions, index, reasoners, rows = sets[name]
        q = questions[i]
        for m, reasoner in reasoners.items():
            t0 = time.perf_counter()
            ans = reasoner.answer(q["question"], question_date=q.get("question_date"))
            row = per_question(ans, q["answers"], time.perf_counter() - t0, q.get("supporting") or [])
            row["accurate"] = accurate(ans.text, q["answers"])
            row["f1"] = f1_score(ans.text, q["answers"])
            row["scope"] = ans.time_scope.label() if ans.time_scope else None
            rows[m].append({"id": q["id"], "type": q.get("type"), "gold": q["answers"], **row})
        summary = {}
        for m, r in rows.items():
            summary[m] = {**summarise(r), "accuracy": round(100 * sum(x["accurate"] for x in r) / len(r), 2),
                          "scoped_questions": sum(1 for x in r if x["scope"])}
        result["datasets"][name] = {"passages": len(index.passages), "summary": summary, "questions": rows}
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    for name in args.datasets:
        print(name, json.dumps(result["datasets"].get(name, {}).get("summary"), indent=1), flush=True)


if __name__ == "__main__":
    main()
