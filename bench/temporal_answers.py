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
import sys
from collections.abc import Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from answers import add_common_args, answer_sets, embedded_models, exact_match, normalize  # noqa: E402
from retrieval import machine_info  # noqa: E402

from reasoning.loop import ReasoningSettings  # noqa: E402
from tgrag.kernel.records import Answer  # noqa: E402

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

    def pick(every: list[dict[str, Any]]) -> list[dict[str, Any]]:
        stride = max(1, len(every) // args.limit) if args.limit else 1  # evenly over the set's types
        return every[::stride][: args.limit]

    def extra_row(ans: Answer, q: dict[str, Any]) -> dict[str, Any]:
        return {"accurate": accurate(ans.text, q["answers"]),
                "scope": ans.time_scope.label() if ans.time_scope else None}

    def extra_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
        return {"accuracy": round(100 * sum(x["accurate"] for x in rows) / len(rows), 2),
                "scoped_questions": sum(1 for x in rows if x["scope"])}

    answer_sets(args, result, settings, (embedder, llm, reader), pick, extra_row=extra_row,
                extra_summary=extra_summary)


if __name__ == "__main__":
    main()
