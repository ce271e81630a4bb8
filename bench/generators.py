"""Concat reading vs RAG-Sequence vs RAG-Token, each with and without UPR reranking (issue 11).

Per set: the product's own index of every passage of the set (spaCy KG + passage graph, no LLM at
index time). Every question goes through the loop with retrieval fixed to the walk and nothing that
would make the configurations retrieve differently (no decomposition, no time scope, no KG facts,
summaries, KG answer path or anchors), so the six configurations read the same walk top k, or the
same top 20 reranked by UPR (Sachan et al., 2022: mean log p(question | passage)) before the top k is
taken. All six run on one model, the embedded Qwen2.5-Coder-0.5B through transformers (logits for the
generators and UPR; ``generate`` for concat), behind the project's persistent LLM / scorer cache.

Per question and configuration: EM/F1, the scorer / generate calls, the model's forward rows
(sequences run through the model: one per prompt or decoding row of a scorer call; for concat's
``generate`` the prompt plus one per generated token), seconds, and supporting-passage Recall@5 of
the evidence read (after UPR where it is on). Rows are written after every question; a killed run
resumes (questions already in ``--out`` are not asked again). Each row names the scorer path it was
measured with (``scorer``), and the summary gives seconds and forward rows per path:

- no field (before 2d0c631): every passage re-run per candidate in thorough decoding;
- ``prompt states`` (2d0c631): a passage prompt runs once and candidates are scored over its kept
  state, but the states were kept across the configurations of a question, so RAG-Token (+UPR) read
  the passage states RAG-Sequence (+UPR) had computed and their seconds are not their own;
- ``prompt states per configuration``: the states are dropped after every configuration, and UPR
  batches its prompts by length. Each generator's seconds are its own; UPR's scores still come from
  the persistent cache after the first configuration that needs them (concat + UPR).

Answers are the same on every path up to float error.

    .venv/bin/python bench/generators.py ../shared/data --limit 50
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from answers import add_common_args, answer_sets  # noqa: E402
from retrieval import MULTIHOP, machine_info, recall_at  # noqa: E402

from reasoning.loop import ReasoningSettings  # noqa: E402
from tgrag.kernel.records import Answer  # noqa: E402

SCORER = "prompt states per configuration"  # see the module docstring (rows before 2d0c631: "whole sequences")
FIXED = ReasoningSettings(retriever="walk", use_decomposition=False, use_time_scope=False, use_kg_facts=False,
                          use_summaries=False, use_kg_answer=False, use_anchors=False,
                          walk_lead=0)  # the walk every row of generators.json was measured with
CONFIGS = {f"{g}{'+upr' if upr else ''}": replace(FIXED, generator=g, rerank="upr" if upr else "walk")
           for g in ("concat", "rag_sequence", "rag_token") for upr in (False, True)}


def metered_model(hf_weights: str) -> Any:
    """The embedded 0.5B through transformers, counting the forward rows of its ``generate`` calls
    (the prompt plus one per generated token) beside the scorer's own row count."""
    from tgrag.models.transformers_llm import TransformersLLM

    class Metered(TransformersLLM):
        generate_rows = 0

        def _generate(self, request: Any) -> tuple[str, int, int]:
            text, n_prompt, n_completion = super()._generate(request)
            self.generate_rows += 1 + n_completion
            return text, n_prompt, n_completion

    return Metered("qwen2.5-coder-0.5b", converted_dir=hf_weights)


class ForwardMeter:
    """Forward rows of the model since the last reading."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.last = 0

    def rows(self) -> int:
        scorer = self.model._scorer  # created on the first scorer call; None before
        return self.model.generate_rows + (int(scorer.forward_rows) if scorer is not None else 0)

    def take(self) -> int:
        now = self.rows()
        delta, self.last = now - self.last, now
        return delta


def table(result: dict[str, Any]) -> str:
    """The markdown table of every set and configuration in a generators.json."""
    from experiments.report import markdown_table

    rows = [{"set": name, "config": c, "n": v["n"], "EM": v["em"], "F1": v["f1"], "abstained": v["abstained"],
             "calls/q": v["llm_calls_per_q"], "forward rows/q": v["forward_rows_per_q"], "s/q": v["seconds_per_q"],
             "R@5 read": v["recall_at_5"],
             **{f"s/q ({path}, n)": f"{b['seconds_per_q']:.1f} ({b['n']})" for path, b in v.get("by_scorer", {}).items()}}
            for name, d in result["datasets"].items() for c, v in d["summary"].items()]
    columns = list(dict.fromkeys(k for r in rows for k in r))
    return markdown_table([{k: r.get(k, "") for k in columns} for r in rows], columns) if rows else ""


def paired(result: dict[str, Any], base: str = "concat") -> str:
    """Per set and configuration: the questions it gets right (EM) that ``base`` misses and the
    reverse, over the questions both answered, with a two-sided sign test (scipy's binomtest)."""
    from scipy.stats import binomtest

    from experiments.report import markdown_table

    rows = []
    for name, d in result["datasets"].items():
        ref = {r["id"]: r["em"] for r in d["questions"].get(base, [])}
        for c, qs in d["questions"].items():
            if c == base:
                continue
            both = [(r["em"], ref[r["id"]]) for r in qs if r["id"] in ref]
            wins = sum(1 for a, b in both if a > b)
            losses = sum(1 for a, b in both if a < b)
            p = binomtest(wins, wins + losses).pvalue if wins + losses else 1.0
            rows.append({"set": name, "config": c, "n": len(both), f"wins vs {base}": wins,
                         f"losses vs {base}": losses, "sign test p": round(p, 3)})
    columns = list(dict.fromkeys(k for r in rows for k in r))
    return markdown_table(rows, columns) if rows else ""


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(ap, datasets=MULTIHOP, max_evidence_tokens=1200, out="generators.json")
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--hf-weights", default=str(Path.home() / ".cache" / "tgrag" / "hf_weights"),
                    help="where the dequantised fp32 weights are cached (converted once from the GGUF)")
    ap.add_argument("--table", action="store_true", help="print the table of --out and stop (runs nothing)")
    args = ap.parse_args(argv)
    if args.table:
        done = json.loads(Path(args.out).read_text(encoding="utf-8"))
        print(table(done), "", paired(done), sep="\n")
        return
    from tgrag.models.cache import CachedLLM
    from tgrag.models.embedders import SentenceTransformerEmbedder

    model = metered_model(args.hf_weights)
    llm = CachedLLM(model, args.llm_cache)
    embedder = SentenceTransformerEmbedder()
    meter = ForwardMeter(model)
    settings = {c: replace(CONFIGS[c], k=args.k, max_evidence_tokens=args.max_evidence_tokens,
                           rag=replace(CONFIGS[c].rag, k=args.k)) for c in args.configs}
    result: dict[str, Any] = {
        "command": " ".join(sys.argv), "date": datetime.now(UTC).isoformat(), "machine": machine_info(),
        "embedder": embedder.name, "llm": llm.name, "sample": f"the first {args.limit} questions of each set",
        "corpus": "all passages of each set pooled", "retrieval": "the walk; UPR reranks its top rerank_depth",
        "forward_rows": "sequences run through the model (scorer rows; concat: prompt + generated tokens); "
                        "0 when answered from the cache",
        "settings": {c: asdict(s) for c, s in settings.items()}, "datasets": {}}

    def extra_row(ans: Answer, q: Any) -> dict[str, Any]:
        read_ids = list(dict.fromkeys(e.doc_id or e.ref_id for e in ans.evidence))  # documents, in reading order
        if model._scorer is not None:  # the next configuration pays for its own passage states
            model._scorer.clear()
        return {"forward_rows": meter.take(), "scorer": SCORER,
                "recall_at_5": recall_at(read_ids, list(q.supporting), 5) if q.supporting else None}

    def extra_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
        def mean(key: str) -> float | None:
            vals = [r[key] for r in rows if r.get(key) is not None]
            return round(sum(vals) / len(vals), 4) if vals else None
        paths: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            paths.setdefault(r.get("scorer", "whole sequences"), []).append(r)
        by_path = {k: {"n": len(v), "seconds_per_q": round(sum(r["seconds"] for r in v) / len(v), 3),
                       "forward_rows_per_q": round(sum(r["forward_rows"] for r in v) / len(v), 2)}
                   for k, v in sorted(paths.items())}
        return {"forward_rows_per_q": mean("forward_rows"), "recall_at_5": mean("recall_at_5"), "by_scorer": by_path}

    answer_sets(args, result, settings, (embedder, llm), lambda rows: rows[: args.limit],
                extra_row=extra_row, extra_summary=extra_summary)
    print(table(result))


if __name__ == "__main__":
    main()
