"""`make demo`: index the bundled demo corpus with the embedded models and answer its questions.

Prints each answer with citations, time scope and timings, a timeline and a period summary, and a
final score line. Answers are scored with the project's metrics (``tgrag.scoring``, the same rules as
the Hydra runs: an unanswerable question is correct only when abstained). Each question's time is
its wall time around ``query``, counted once. The LLM cache lives beside the index, so a second run
re-uses earlier answers (``--cold`` empties it first). ``--json-out`` (``make demo`` passes
``bench/results/demo.json``) writes the score, wall times, LLM calls, the reader model, the commit and
the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from statistics import mean, median
from typing import Any

from tgrag.facade import TemporalGraphRAG
from tgrag.ingest import iter_jsonl, load_jsonl_documents
from tgrag.kernel.protocols import LLM, Embedder
from tgrag.models.assets import DEFAULT_READER, EMBEDDED_READERS, READER_ALIASES
from tgrag.render import citation_lines, timeline_lines, timings_line
from tgrag.scoring import answer_outcome, best_em_f1

ROOT = Path(__file__).resolve().parents[1]


def demo_data_dir() -> Path:
    return Path(str(resources.files("tgrag") / "demo_data"))


def score(prediction: str, gold: list[str], abstained: bool) -> dict[str, Any]:
    """One answer scored with the project's metrics: ``outcome`` (correct / abstained / incorrect;
    a question without gold answers is unanswerable, correct only when abstained) and, for an
    answerable question, EM and F1 (0 when abstained)."""
    outcome = answer_outcome(prediction, gold, abstained=abstained, unanswerable=not gold)
    em, f1 = (0.0, 0.0) if abstained or not gold else best_em_f1(prediction, gold)
    return {"outcome": outcome, "correct": outcome == "correct", "em": em, "f1": f1}


def score_answer(prediction: str, gold: list[str], abstained: bool) -> tuple[bool, float]:
    """(correct, F1) of one answer (see ``score``)."""
    s = score(prediction, gold, abstained)
    return s["correct"], s["f1"]


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


def _commit() -> dict[str, Any]:
    from tgrag.provenance import code_version

    v = code_version(ROOT)
    return {"commit": v["commit"], "dirty": v["uncommitted_changes_in_code"]}


def _cache_entries(llm: LLM) -> int | None:
    return len(llm) if hasattr(llm, "__len__") else None


def run_demo(index_dir: Path, *, limit: int | None = None, timeline_entity: str | None = None,
             period: str | None = None, reader: str | None = None, cold: bool = False,
             llm: LLM | None = None, embedder: Embedder | None = None) -> dict[str, Any]:
    """Index the demo corpus into ``index_dir`` (rebuilt), answer its questions, print and return
    the summary. ``llm`` defaults to the embedded ``reader`` (``DEFAULT_READER`` when None) behind
    a cache beside the index; ``cold`` empties that cache first."""
    t_start = time.perf_counter()
    load_start = os.getloadavg()
    data = demo_data_dir()
    docs = load_jsonl_documents(data / "docs.jsonl")
    questions = [row for _, row in iter_jsonl(data / "questions.jsonl")][: limit or None]
    if index_dir.exists():
        shutil.rmtree(index_dir)
    if llm is None:
        from tgrag.models.cache import CachedLLM
        from tgrag.models.llamacpp_llm import LlamaCppLLM

        cache = index_dir.parent / f"{index_dir.name}-llm-cache.sqlite"
        if cold:
            for p in (cache, cache.with_name(cache.name + "-wal"), cache.with_name(cache.name + "-shm")):
                p.unlink(missing_ok=True)
        llm = CachedLLM(LlamaCppLLM(model=reader), cache)
    cache_at_start = _cache_entries(llm)
    t0 = time.perf_counter()
    rag = TemporalGraphRAG.open(index_dir, llm=llm, embedder=embedder)
    report = rag.insert(docs)
    t_index = time.perf_counter() - t0
    stats = rag.stats()
    print(f"indexed {report.documents_added} documents → {report.passages_added} passages, "
          f"{stats.get('entities', 0)} entities, {stats.get('facts', 0)} facts, {stats.get('time_nodes', 0)} "
          f"time nodes, {stats.get('hops', 0)} passage hops in {t_index:.1f}s\n")
    results = []
    t_answer = time.perf_counter()
    for q in questions:
        t_q = time.perf_counter()
        ans = rag.query(q["question"], **_scope_kwargs(q))
        seconds = time.perf_counter() - t_q
        gold = list(q.get("answers") or [])
        scored = score(ans.text, gold, ans.abstained)
        results.append({"id": q["id"], "type": q.get("type"), **scored, "answerable": bool(gold),
                        "abstained": ans.abstained, "answer": ans.text, "gold": gold,
                        "llm_calls": ans.usage.calls, "cached_calls": ans.usage.cached_calls,
                        "seconds": seconds})
        mark = "✓" if scored["correct"] else "✗"
        print(f"{mark} [{q.get('type')}] {q['question']}")
        print(f"   answer: {'(abstained)' if ans.abstained else ans.text}   gold: {gold or '(abstain)'}")
        if ans.time_scope is not None:
            print(f"   time scope: {ans.time_scope.describe()}")
        print("\n".join(citation_lines(ans, indent="   ", width=110)))
        print(f"   {timings_line(ans)}; wall {seconds:.2f}s\n")
    t_answer = time.perf_counter() - t_answer
    if timeline_entity:
        print(f"Timeline of {timeline_entity}:")
        print("\n".join("  " + line for line in timeline_lines(rag.timeline(timeline_entity), rag.entity_name)))
        print()
    if period:
        node = rag.summary(period)
        print(f"Summary of {period}: {node.summary if node else '(no content)'}\n")
    rag.close()
    summary = _summary(results, t_index=t_index, t_answer=t_answer)
    summary.update({"reader": llm.name, "embedder": rag.embedder.name,
                    "llm_cache_entries_at_start": cache_at_start,
                    "wall_seconds": time.perf_counter() - t_start,
                    "machine": {"cores": os.cpu_count(), "platform": platform.platform(),
                                "python": platform.python_version(),
                                "load_average_1_5_15_at_start": [round(x, 2) for x in load_start],
                                "load_average_1_5_15_at_end": [round(x, 2) for x in os.getloadavg()]},
                    **_commit(), "date": datetime.now(UTC).isoformat(timespec="seconds"),
                    "per_question": results})
    print(f"score: {summary['correct']}/{summary['questions']} correct (accuracy {summary['accuracy']:.2f}, "
          f"EM {summary['em']:.2f}, F1 {summary['f1']:.2f} on answerable); index {t_index:.1f}s, answering "
          f"{t_answer:.1f}s wall (p50 {summary['seconds_per_question']['p50']:.1f}s per question), "
          f"{summary['llm_calls']} LLM calls ({summary['cached_calls']} cached), reader {summary['reader']}")
    return summary


def _summary(results: list[dict[str, Any]], *, t_index: float, t_answer: float) -> dict[str, Any]:
    n = len(results)
    correct = sum(r["correct"] for r in results)
    answerable = [r for r in results if r["answerable"]]
    secs = [r["seconds"] for r in results]
    calls = sum(r["llm_calls"] for r in results)
    return {"questions": n, "correct": correct, "accuracy": correct / n if n else 0.0,
            "em": mean(r["em"] for r in answerable) if answerable else 0.0,
            "f1": mean(r["f1"] for r in answerable) if answerable else 0.0,
            "abstained": sum(r["abstained"] for r in results),
            "index_seconds": t_index, "answer_seconds": t_answer,
            "seconds_per_question": {"mean": mean(secs) if secs else 0.0, "p50": median(secs) if secs else 0.0,
                                     "max": max(secs, default=0.0)},
            "llm_calls": calls, "cached_calls": sum(r["cached_calls"] for r in results),
            "llm_calls_per_question": calls / n if n else 0.0}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Run tgrag on its demo corpus with the embedded models.")
    ap.add_argument("--index", default=".tgrag/demo-index")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--reader", choices=[*READER_ALIASES, *EMBEDDED_READERS],
                    help=f"embedded reader (default {DEFAULT_READER})")
    ap.add_argument("--cold", action="store_true", help="empty the demo's LLM cache first")
    ap.add_argument("--timeline", default="Veltrane Robotics")
    ap.add_argument("--period", default="2022")
    ap.add_argument("--json-out", help="write the run record here (make demo: bench/results/demo.json)")
    args = ap.parse_args(argv)
    summary = run_demo(Path(args.index), limit=args.limit, timeline_entity=args.timeline, period=args.period,
                       reader=args.reader, cold=args.cold)
    if args.json_out:
        command = " ".join(["python -m tgrag.demo", *(argv if argv is not None else sys.argv[1:])])
        write_record(summary, Path(args.json_out), command=command)
    return 0


def write_record(summary: dict[str, Any], path: Path, *, command: str) -> None:
    """The run record (``bench/results/demo.json`` under ``make demo``): the summary and its command."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"command": command, **summary}, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
