"""Which questions the loop answers from the knowledge graph alone (no LLM call), and how well.

LLM-free: every question of each set goes through the loop (``answers.METHOD_SETTINGS["loop"]``)
with a scripted reader that answers nothing, so a question whose answer step has path ``kg`` and
that made no call is one the product answers from the KG alone, whatever reader it has. Per set
the result splits the questions into the first ``--sample`` (the sample ``answers.json`` reports)
and the rest, which no one looked at while the KG path was changed. ``--label`` names the code
(a run with another ``--label`` is kept beside it in ``--out``):

    .venv/bin/python bench/kg_path.py ../shared/data --label after
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from answers import METHOD_SETTINGS, exact_match, load_set, product_index  # noqa: E402
from retrieval import MULTIHOP, machine_info  # noqa: E402

from reasoning.loop import TemporalReasoner  # noqa: E402


def kg_row(ans: Any, calls: int, golds: list[str]) -> dict[str, Any]:
    """One question's KG outcome: whether the loop answered it from the KG with no call."""
    paths = [t.data.get("path") for t in ans.trace if t.stage == "answer"]
    kg_only = calls == 0 and "kg" in paths and not ans.abstained
    row = {"kg_only": kg_only, "prediction": ans.text if kg_only else "",
           "em": exact_match(ans.text, golds) if kg_only else None}
    if kg_only:  # was the question time-scoped, and did every fact behind the answer carry a validity?
        kg = next((t.data for t in ans.trace if t.stage == "kg"), {})
        valid = {r.get("fact_id"): r.get("valid") for r in kg.get("ranked", [])}
        row["scoped"] = any(t.data.get("interval") for t in ans.trace if t.stage == "scope")
        row["dated"] = bool(kg.get("facts")) and all(valid.get(f) is not None for f in kg.get("facts", []))
    return row


def part_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    kg = [r for r in rows if r["kg_only"]]
    def share(part: list[dict[str, Any]]) -> dict[str, Any]:
        return {"kg_answers": len(part), "kg_correct": int(sum(r["em"] for r in part)),
                "kg_em": round(100 * sum(r["em"] for r in part) / len(part), 1) if part else None}

    return {"questions": len(rows), **share(kg),
            "by_kind": {"scoped, dated facts": share([r for r in kg if r.get("scoped") and r.get("dated")]),
                        "other": share([r for r in kg if not (r.get("scoped") and r.get("dated"))])}}


def main(argv: list[str] | None = None) -> None:
    from reasoning.assembly import build_query_side
    from tgrag.models.embedders import SentenceTransformerEmbedder
    from tgrag.testing import ScriptedLLM

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_root", nargs="?", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--datasets", nargs="+", default=list(MULTIHOP))
    ap.add_argument("--sample", type=int, default=50, help="the first n questions: answers.json's sample")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--max-evidence-tokens", type=int, default=1200)
    ap.add_argument("--label", required=True, help="which code this run measures")
    ap.add_argument("--index-dir", default=str(ROOT / ".tgrag" / "bench" / "indexes"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "kg_path.json"))
    args = ap.parse_args(argv)
    out = Path(args.out)
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
    result.setdefault("runs", {})
    embedder = SentenceTransformerEmbedder()
    settings = replace(METHOD_SETTINGS["loop"], k=args.k, max_evidence_tokens=args.max_evidence_tokens)
    run: dict[str, Any] = {"command": " ".join(sys.argv), "date": datetime.now(UTC).isoformat(),
                           "machine": machine_info(), "embedder": embedder.name, "llm": "none (scripted: empty)",
                           "sample": f"every question; 'sample' = the first {args.sample}", "datasets": {}}
    for name in args.datasets:
        data = load_set(name, Path(args.data_root))
        rag = product_index(name, list(data.documents), embedder, Path(args.index_dir))
        llm = ScriptedLLM(default="")
        reasoner = TemporalReasoner(build_query_side(rag.docs, rag.vectors, rag.graph, rag.embedder, llm,
                                                     settings=settings, indexer=rag.indexer), llm)
        rows = []
        for i, q in enumerate(tqdm(list(data.questions), desc=name)):
            before = len(llm.calls)
            ans = reasoner.answer(q.question)
            rows.append({"id": q.qid, "in_sample": i < args.sample, "question": q.question, "gold": list(q.answers),
                         **kg_row(ans, len(llm.calls) - before, list(q.answers))})
        run["datasets"][name] = {"sample": part_summary(rows[: args.sample]),
                                 "rest": part_summary(rows[args.sample:]),
                                 "kg_answers": [r for r in rows if r["kg_only"]]}
        print(name, json.dumps({k: run["datasets"][name][k] for k in ("sample", "rest")}), flush=True)
        result["runs"][args.label] = run
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
