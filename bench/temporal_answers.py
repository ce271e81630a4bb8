"""Accuracy on time-sensitive questions with time scoping on vs off and the KG answer path on vs off.

Sets: TempReason (L2 "who held X in <month, year>", L3 event-event), MenatQA (all its types),
TimeQA, RealtimeQA (multiple choice, the choices given in the question, the question date passed as
its as-of date). Each set's pooled corpus is indexed with the product's own index (spaCy KG, time
tree, passage graph; no LLM at index time). ``full`` is the default loop (time scope, event anchors,
KG answer path, decomposition when needed, hop walk, reader); ``scope_off`` and ``kg_off`` switch one
part off and run on the first ``--ablation-limit`` questions of each sample. Questions are taken at
an even stride through each file (every question type is sampled), round-robin over the sets, and
results are written after every question (a killed run resumes).

    .venv/bin/python bench/temporal_answers.py ../shared/data --limit 100 --ablation-limit 50
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from answers import add_common_args, answer_sets, embedded_models, exact_match, normalize  # noqa: E402
from retrieval import machine_info  # noqa: E402

from reasoning.settings import ReasoningSettings  # noqa: E402
from tgrag.kernel.records import Answer  # noqa: E402

SETS = ("tempreason", "menatqa", "timeqa", "realtimeqa")
FULL = ReasoningSettings()
METHODS = {"full": FULL, "scope_off": replace(FULL, use_time_scope=False), "kg_off": replace(FULL, use_kg_answer=False)}
AS_OF_QUESTION_DATE = {"realtimeqa"}  # questions asked "this week": evidence up to the question date
WITH_CHOICES = {"realtimeqa"}


def accurate(pred: str, golds: Sequence[str]) -> float:
    """Correct when exact, or when a gold answer appears whole inside the (short) prediction."""
    if exact_match(pred, golds):
        return 1.0
    p = f" {normalize(pred)} "
    return float(bool(pred.strip()) and any(f" {normalize(g)} " in p for g in golds if normalize(g)))


def question_text(name: str, q: Any) -> str:
    choices = q.meta.get("choices") if name in WITH_CHOICES else None
    return f"{q.question} Options: {'; '.join(choices)}." if choices else q.question


def as_of(name: str, q: Any) -> str | None:
    if name in AS_OF_QUESTION_DATE and q.question_date is not None:
        return q.question_date.label()
    return None


def realtimeqa_corpus(name: str, data: Any, questions: list[Any], *, results: int) -> tuple[str, list[Any], str]:
    """RealtimeQA's pooled corpus is 2,913 news articles (about 30k passages: hours of indexing on 2
    cores). Indexed instead: every gold article of the set (each week's, so later weeks' news is there
    for the question date to exclude) plus the first ``results`` search-result articles of each
    sampled question."""
    keep = {d.doc_id for d in data.documents if "gold" in (d.meta.get("kinds") or ())}
    for q in questions:
        ids = q.meta.get("gcs_result_ids") or []
        ids = ast.literal_eval(ids) if isinstance(ids, str) else list(ids)
        keep.update(str(i) for i in ids[:results])
    docs = [d for d in data.documents if d.doc_id in keep]
    return (f"{name}-gold-top{results}", docs,
            f"every gold article of the set and the first {results} search results of each sampled question")


def parse_override(text: str) -> tuple[str, Any]:
    """``field=value`` for a top-level ReasoningSettings field; the value is read as a Python literal
    when it is one (numbers, booleans), else kept as text."""
    field, sep, value = text.partition("=")
    if not sep or field not in {f.name for f in fields(ReasoningSettings)}:
        raise SystemExit(f"--set expects FIELD=VALUE with a ReasoningSettings field, got {text!r}")
    try:
        return field, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return field, value


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(ap, datasets=SETS, max_evidence_tokens=800, out="temporal_answers.json")
    ap.add_argument("--methods", nargs="+", default=list(METHODS))
    ap.add_argument("--ablation-limit", type=int, default=50)
    ap.add_argument("--offset", type=int, default=0,
                    help="start the even stride here: offset 0 is the reported sample, other offsets are "
                         "disjoint question sets for tuning")
    ap.add_argument("--take", type=int, default=0, help="ask only the first n questions of the sample")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                    help="override a ReasoningSettings field in every method (e.g. entity_focus=fill)")
    ap.add_argument("--realtimeqa-results", type=int, default=3,
                    help="search-result articles per sampled RealtimeQA question to index beside the gold ones")
    args = ap.parse_args(argv)
    embedder, llm = embedded_models(args)
    overrides = dict(parse_override(o) for o in args.overrides)
    settings = {m: replace(METHODS[m], k=args.k, max_evidence_tokens=args.max_evidence_tokens, **overrides)
                for m in args.methods}
    result: dict[str, Any] = {"command": " ".join(sys.argv), "date": datetime.now(UTC).isoformat(),
                              "machine": machine_info(), "embedder": embedder.name, "llm": llm.name,
                              "sample": f"{args.take or args.limit} questions per set at an even stride "
                                        f"(1 in {args.limit} of the set, offset {args.offset}); ablations on the "
                                        f"first {args.ablation_limit} of them",
                              "settings": {m: asdict(s) for m, s in settings.items()},
                              "corpus": "all passages of each set pooled (the product's own index)", "datasets": {}}

    def pick(every: list[Any]) -> list[Any]:
        stride = max(1, len(every) // args.limit) if args.limit else 1  # evenly over the set's types
        return every[args.offset::stride][: args.take or args.limit]

    def extra_row(ans: Answer, q: Any) -> dict[str, Any]:
        path = next((t.data.get("path") for t in ans.trace if t.stage == "answer"), None)
        # a question the set marks unanswerable (TimeQA's empty gold) is accurate only when abstained
        right = float(ans.abstained) if q.unanswerable else (0.0 if ans.abstained else accurate(ans.text, q.answers))
        return {"accurate": right, "unanswerable": q.unanswerable, "path": path,
                "scope": ans.time_scope.label() if ans.time_scope else None}

    def extra_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
        by_type: dict[str, list[float]] = defaultdict(list)
        for x in rows:
            by_type[str(x.get("type"))].append(x["accurate"])
        return {"accuracy": round(100 * sum(x["accurate"] for x in rows) / len(rows), 2) if rows else None,
                "accuracy_by_type": {t: {"n": len(v), "accuracy": round(100 * sum(v) / len(v), 2)}
                                     for t, v in sorted(by_type.items())},
                "kg_answered": sum(1 for x in rows if x.get("path") == "kg"),
                "scoped_questions": sum(1 for x in rows if x["scope"])}

    limits = {m: args.ablation_limit for m in settings if m != "full"}
    answer_sets(args, result, settings, (embedder, llm), pick, extra_row=extra_row, extra_summary=extra_summary,
                question_text=question_text, as_of=as_of, limits=limits,
                corpus=lambda name, data, qs: (realtimeqa_corpus(name, data, qs, results=args.realtimeqa_results)
                                               if name == "realtimeqa" else
                                               (name, list(data.documents), "every passage of the set, pooled")))


if __name__ == "__main__":
    main()
