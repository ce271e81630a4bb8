"""`make demo`: index the bundled demo corpus with the embedded models and answer its questions.

Prints each answer with citations, time scope and timings, a timeline and a period summary, and a
final score line. The LLM cache lives beside the index, so a second run re-uses earlier answers.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import string
import time
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

from tgrag.facade import TemporalGraphRAG
from tgrag.ingest import iter_jsonl, load_jsonl_documents
from tgrag.render import citation_lines, timeline_lines, timings_line


def demo_data_dir() -> Path:
    return Path(str(resources.files("tgrag") / "demo_data"))


def _norm(s: str) -> str:
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def score_answer(prediction: str, gold: list[str], abstained: bool) -> tuple[bool, float]:
    """(correct, token F1). Unanswerable questions (no gold) are correct only when abstained.
    Otherwise correct = normalised exact match, or the gold answer contained in a short prediction."""
    if not gold:
        return abstained, float(abstained)
    if abstained:
        return False, 0.0
    p = _norm(prediction)
    best_f1 = 0.0
    correct = False
    for g in gold:
        gn = _norm(g)
        if p == gn or (gn and f" {gn} " in f" {p} " and len(p.split()) <= len(gn.split()) + 4):
            correct = True
        pt, gt = p.split(), gn.split()
        common = sum((Counter(pt) & Counter(gt)).values())
        if common:
            prec, rec = common / len(pt), common / len(gt)
            best_f1 = max(best_f1, 2 * prec * rec / (prec + rec))
    return correct, 1.0 if correct else best_f1


def _scope_kwargs(q: dict[str, Any]) -> dict[str, Any]:
    ts = q.get("time_scope") or {}
    kw: dict[str, Any] = {}
    if isinstance(ts, dict):
        if ts.get("as_of"):
            kw["as_of"] = ts["as_of"]
        if ts.get("between"):
            kw["between"] = tuple(ts["between"])
    if q.get("question_date"):
        kw["question_date"] = q["question_date"]
    return kw


def run_demo(index_dir: Path, *, limit: int | None = None, timeline_entity: str | None = None,
             period: str | None = None) -> dict[str, Any]:
    data = demo_data_dir()
    docs = load_jsonl_documents(data / "docs.jsonl")
    questions = [row for _, row in iter_jsonl(data / "questions.jsonl")][: limit or None]
    if index_dir.exists():
        shutil.rmtree(index_dir)
    cache = index_dir.parent / f"{index_dir.name}-llm-cache.sqlite"
    from tgrag.models.cache import CachedLLM
    from tgrag.models.llamacpp_llm import LlamaCppLLM

    llm = CachedLLM(LlamaCppLLM(), cache)
    t0 = time.perf_counter()
    rag = TemporalGraphRAG.open(index_dir, llm=llm)
    report = rag.insert(docs)
    t_index = time.perf_counter() - t0
    stats = rag.stats()
    print(f"indexed {report.documents_added} documents → {report.passages_added} passages, "
          f"{stats.get('entities', 0)} entities, {stats.get('facts', 0)} facts, {stats.get('time_nodes', 0)} "
          f"time nodes, {stats.get('hops', 0)} passage hops in {t_index:.1f}s\n")
    results = []
    for q in questions:
        ans = rag.query(q["question"], **_scope_kwargs(q))
        ok, f1 = score_answer(ans.text, list(q.get("answers") or []), ans.abstained)
        results.append({"id": q["id"], "type": q.get("type"), "correct": ok, "f1": f1,
                        "abstained": ans.abstained, "llm_calls": ans.usage.calls,
                        "cached_calls": ans.usage.cached_calls, "seconds": sum(ans.timings.values())})
        mark = "✓" if ok else "✗"
        print(f"{mark} [{q.get('type')}] {q['question']}")
        print(f"   answer: {'(abstained)' if ans.abstained else ans.text}   gold: {q.get('answers') or '(abstain)'}")
        if ans.time_scope is not None:
            print(f"   time scope: {ans.time_scope.describe()}")
        print("\n".join(citation_lines(ans, indent="   ", width=110)))
        print(f"   {timings_line(ans)}\n")
    if timeline_entity:
        print(f"Timeline of {timeline_entity}:")
        print("\n".join("  " + line for line in timeline_lines(rag.timeline(timeline_entity), rag.entity_name)))
        print()
    if period:
        node = rag.summary(period)
        print(f"Summary of {period}: {node.summary if node else '(no content)'}\n")
    n = len(results)
    correct = sum(r["correct"] for r in results)
    summary = {"questions": n, "correct": correct, "accuracy": correct / n if n else 0.0,
               "mean_f1": sum(r["f1"] for r in results) / n if n else 0.0,
               "index_seconds": t_index, "query_seconds": sum(r["seconds"] for r in results),
               "llm_calls": sum(r["llm_calls"] for r in results),
               "cached_calls": sum(r["cached_calls"] for r in results), "per_question": results}
    print(f"score: {correct}/{n} correct (accuracy {summary['accuracy']:.2f}, mean F1 {summary['mean_f1']:.2f}); "
          f"index {t_index:.1f}s, answering {summary['query_seconds']:.1f}s, "
          f"{summary['llm_calls']} LLM calls ({summary['cached_calls']} cached)")
    rag.close()
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Run tgrag on its demo corpus with the embedded models.")
    ap.add_argument("--index", default=".tgrag/demo-index")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--timeline", default="Veltrane Robotics")
    ap.add_argument("--period", default="2022")
    ap.add_argument("--json-out", help="write the score summary here")
    args = ap.parse_args(argv)
    summary = run_demo(Path(args.index), limit=args.limit, timeline_entity=args.timeline, period=args.period)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
