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

from retrieval import MULTIHOP, machine_info  # noqa: E402

from experiments.metrics import best_em_f1, normalize_answer  # noqa: E402
from reasoning.loop import ReasoningSettings, TemporalReasoner  # noqa: E402
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
    ap.add_argument("--reader", default="1.5b", help="embedded reader: 0.5b | 1.5b")
    ap.add_argument("--index-dir", default=str(ROOT / ".tgrag" / "bench" / "indexes"),
                    help="where each set's product index is built once and re-used")
    ap.add_argument("--no-resume", dest="resume", action="store_false",
                    help="ask every question again instead of keeping the rows already in --out")


def embedded_models(args: argparse.Namespace) -> tuple[Any, Any]:
    """(embedder, cached embedded Qwen reader named by ``--reader``) for the answer benchmarks."""
    from tgrag.models.cache import CachedLLM
    from tgrag.models.embedders import SentenceTransformerEmbedder
    from tgrag.models.llamacpp_llm import LlamaCppLLM

    return SentenceTransformerEmbedder(), CachedLLM(LlamaCppLLM(model=args.reader), args.llm_cache)


def per_question(ans: Answer, golds: Sequence[str], seconds: float, gold_ids: Sequence[str]) -> dict[str, Any]:
    ev_ids = [e.doc_id or e.ref_id for e in ans.evidence]  # gold ids are corpus (document) ids
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
                                    use_walk=False, use_kg_facts=False, use_summaries=False, use_kg_answer=False,
                                    use_anchors=False),
}


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(ap, datasets=MULTIHOP, max_evidence_tokens=1200, out="answers.json")
    ap.add_argument("--methods", nargs="+", default=list(METHOD_SETTINGS))
    args = ap.parse_args(argv)
    embedder, llm = embedded_models(args)
    result: dict[str, Any] = {"command": " ".join(sys.argv), "date": datetime.now(UTC).isoformat(),
                              "machine": machine_info(), "embedder": embedder.name, "llm": llm.name,
                              "sample": f"the first {args.limit} questions of each set",
                              "settings": {m: asdict(replace(s, k=args.k,
                                                             max_evidence_tokens=args.max_evidence_tokens))
                                           for m, s in METHOD_SETTINGS.items()},
                              "corpus": "all passages of each set pooled", "datasets": {}}
    settings = {m: replace(METHOD_SETTINGS[m], k=args.k, max_evidence_tokens=args.max_evidence_tokens)
                for m in args.methods}
    answer_sets(args, result, settings, (embedder, llm), lambda rows: rows[: args.limit])


def load_set(name: str, data_root: Path) -> Any:
    """The dataset ``name`` of ``data_root`` in the shared format (invalid corpus rows skipped)."""
    from experiments.datasets import load_dataset

    return load_dataset(data_root / name, name=name, date_field=DATE_FIELDS.get(name), skip_invalid=True)


def product_index(name: str, documents: Sequence[Any], embedder: Any, index_root: Path) -> Any:
    """The facade's own index of ``documents`` under ``index_root/name``: built once with the
    product's defaults (spaCy KG, passage graph, no LLM at index time) and re-used after; the insert
    is idempotent, so an unchanged corpus costs one pass over its ids."""
    from tgrag.facade import TemporalGraphRAG

    rag = TemporalGraphRAG.open(index_root / name, embedder=embedder, llm=None, show_progress=True)
    t0 = time.perf_counter()
    report = rag.insert(list(documents))
    print(f"[{name}] index: {report.documents_added} added, {report.documents_unchanged} unchanged "
          f"({time.perf_counter() - t0:.1f} s)", flush=True)
    return rag


DATE_FIELDS = {"realtimeqa": "date", "ect_qa": "timestamp"}


def keep_other_methods(entry: dict[str, Any], old: dict[str, Any], name: str, asked: set[str]) -> None:
    """Keep, in a set this run touches, the rows and summary of the methods it does not ask (a
    ``--methods loop`` re-run leaves ``dense_read`` as it was), saying which run they came from."""
    before = old.get("datasets", {}).get(name, {})
    kept = {m: rows for m, rows in before.get("questions", {}).items() if m not in asked}
    if not kept:
        return
    earlier = before.get("kept_from_earlier_run", {})
    for m, rows in kept.items():
        entry["questions"][m] = rows
        entry["summary"][m] = before.get("summary", {}).get(m)
        entry.setdefault("kept_from_earlier_run", {})[m] = earlier.get(m) or {
            "machine": before.get("machine") or old.get("machine"), "llm": before.get("llm") or old.get("llm")}


def answer_sets(args: argparse.Namespace, result: dict[str, Any], settings: dict[str, ReasoningSettings],
                models: tuple[Any, Any], pick: Callable[[list[Any]], list[Any]], *,
                extra_row: Callable[[Answer, Any], dict[str, Any]] | None = None,
                extra_summary: Callable[[list[dict[str, Any]]], dict[str, Any]] | None = None,
                question_text: Callable[[str, Any], str] | None = None,
                as_of: Callable[[str, Any], str | None] | None = None,
                limits: dict[str, int] | None = None,
                corpus: Callable[[str, Any, list[Any]], tuple[str, list[Any], str]] | None = None) -> None:
    """Index every set of ``args.datasets`` with the product's own index, build each method's query
    side with the one assembler, answer the questions ``pick`` selects with every method, round-robin
    over the sets (a run cut short still covers each set evenly), and write ``result`` to ``args.out``
    after every question. Questions already in ``args.out`` (same set, method, id and reader) are not
    asked again: a killed run resumes. ``limits`` caps a method to the first n questions of each set (the
    ablations of a benchmark may run on fewer questions than its full configuration). ``corpus`` may
    index part of a set's corpus: (name, dataset, picked questions) -> (index name, documents, what
    was kept, in words); the default is every passage of the set, pooled."""
    from reasoning.assembly import build_query_side

    embedder, llm = models
    out = Path(args.out)
    done: dict[tuple[str, str, str], dict[str, Any]] = {}
    old: dict[str, Any] = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
    for name, d in old.get("datasets", {}).items():  # sets this run does not touch stay in the file as they were
        if name not in args.datasets:
            result["datasets"][name] = {"machine": old.get("machine"), "llm": old.get("llm"), **d}
    if old and getattr(args, "resume", True):
        for name, d in old.get("datasets", {}).items():
            if (d.get("llm") or old.get("llm")) != getattr(llm, "name", None):
                continue  # rows another reader answered are asked again, not resumed
            for m, rows in d.get("questions", {}).items():
                for r in rows:
                    done[(name, m, r["id"])] = r
    sets: dict[str, Any] = {}
    corpora: dict[str, dict[str, Any]] = {}
    for name in args.datasets:
        data = load_set(name, Path(args.data_root))
        questions = pick(list(data.questions))
        index_name, documents, kept = (corpus(name, data, questions) if corpus else
                                       (name, list(data.documents), "every passage of the set, pooled"))
        rag = product_index(index_name, documents, embedder, Path(args.index_dir))
        corpora[name] = {"documents": len(documents), "corpus": kept}
        reasoners = {m: TemporalReasoner(build_query_side(rag.docs, rag.vectors, rag.graph, rag.embedder, llm,
                                                          settings=s, indexer=rag.indexer), llm)
                     for m, s in settings.items()}
        sets[name] = (questions, rag, reasoners, {m: [] for m in settings})
    order = [(name, i) for i in range(max(len(v[0]) for v in sets.values()))
             for name in args.datasets if i < len(sets[name][0])]
    for name, i in tqdm(order, desc="questions"):
        questions, rag, reasoners, rows = sets[name]
        q = questions[i]
        for m, reasoner in reasoners.items():
            if limits and m in limits and i >= limits[m]:
                continue
            if (name, m, q.qid) in done:
                rows[m].append(done[(name, m, q.qid)])
                continue
            text = question_text(name, q) if question_text else q.question
            qdate = q.question_date.label() if q.question_date is not None else None
            cut = as_of(name, q) if as_of else None
            t0 = time.perf_counter()
            ans = reasoner.answer(text, question_date=qdate, as_of=cut)
            row = per_question(ans, list(q.answers), time.perf_counter() - t0, list(q.supporting))
            if extra_row is not None:
                row.update(extra_row(ans, q))
            rows[m].append({"id": q.qid, "type": q.qtype, "gold": list(q.answers), **row})
        result["datasets"][name] = {
            "machine": result.get("machine"), "llm": getattr(llm, "name", None),  # per set: sets run at other times
            **corpora[name], "passages": rag.docs.count()[1], "hops": rag.graph.counts().get("hops"),
            "summary": {m: {**summarise(r), **(extra_summary(r) if extra_summary else {})} for m, r in rows.items()},
            "questions": dict(rows)}
        keep_other_methods(result["datasets"][name], old, name, set(rows))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    for name in args.datasets:
        print(name, json.dumps(result["datasets"].get(name, {}).get("summary"), indent=1), flush=True)


if __name__ == "__main__":
    main()
