"""Update protocol: index a base slice, evaluate; insert the rest, evaluate again; report both.

Questions are grouped by their gold time scope: ``new`` when it overlaps an inserted document's
date, ``old`` when it has a scope that does not, ``unscoped`` otherwise (e.g. ECT-QA's unanswerable
questions). Every group is scored before and after the insert. Before it, a ``new`` question's
evidence is not indexed yet, so it is scored as unanswerable there: abstaining is correct, an
answer is not. The insert's cost (seconds, LLM calls, what was recomputed) is reported next to the
cost of building the base.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from experiments.datasets import UNANSWERABLE, QAExample, in_slice
from experiments.indexing import IndexInfo, open_or_build
from experiments.metrics import OUTCOME_NOTE, evaluate
from experiments.records import Prediction
from experiments.report import (
    atomic_write,
    markdown_table,
    per_item_scores,
    plot_outcomes,
    write_json,
    write_predictions,
)
from experiments.runner import (
    build_components,
    build_method,
    dataset_info,
    load_dataset_cfg,
    make_system,
    predict_all,
    run_context,
)
from tgrag.kernel.errors import ConfigError
from tgrag.kernel.records import Document

log = logging.getLogger(__name__)
GROUPS = ("old", "new", "unscoped")


def split_documents(docs: Sequence[Document], *, base_slice: Sequence[str] | None,
                    new_slice: Sequence[str] | None, base_fraction: float) -> tuple[list[Document], list[Document]]:
    """(base, new): by time labels when given, else the earliest ``base_fraction`` of dated documents."""
    if base_slice:
        base = [d for d in docs if in_slice(d, base_slice)]
        rest = [d for d in docs if not in_slice(d, base_slice)]
        new = [d for d in rest if in_slice(d, new_slice)] if new_slice else rest
    else:
        if not 0.0 < base_fraction < 1.0:
            raise ConfigError(f"config group 'protocol': base_fraction must be in (0, 1), got {base_fraction}")
        dated = sorted((d for d in docs if d.date is not None and d.date.start is not None),
                       key=lambda d: (d.date.start, d.doc_id))  # type: ignore[union-attr]
        undated = [d for d in docs if d.date is None or d.date.start is None]
        cut = max(1, int(len(dated) * base_fraction))
        base, new = undated + dated[:cut], dated[cut:]
    if not base or not new:
        raise ConfigError(f"config group 'protocol': the split gives {len(base)} base and {len(new)} new "
                          "documents; both must be non-empty")
    return base, new


def question_group(ex: QAExample, new_docs: Sequence[Document]) -> str:
    if ex.time_scope is None:
        return "unscoped"
    scope = ex.time_scope
    return "new" if any(d.date is not None and d.date.overlaps(scope) for d in new_docs) else "old"


def pending_as_unanswerable(questions: Sequence[QAExample], groups: dict[str, str]) -> list[QAExample]:
    """The questions as scored before the insert: a ``new`` one's period is not indexed yet, so its
    right outcome is to abstain."""
    return [replace(q, answers=(UNANSWERABLE,), unanswerable=True) if groups[q.qid] == "new" else q
            for q in questions]


def _phase(cfg: DictConfig, rag: Any, comps: Any, questions: Sequence[QAExample], groups: dict[str, str],
           info: IndexInfo, label: str) -> tuple[list[Prediction], dict[str, Any], dict[str, Any]]:
    method = build_method(cfg, make_system(cfg, rag, comps))
    preds = predict_all(method, questions, desc=f"{method.name} ({label})")
    ks = list(cfg.eval.ks)
    thr = float(cfg.eval.f1_threshold)
    summary, per_item = evaluate(questions, preds, ks=ks, f1_threshold=thr)
    summary["errors"] = sum(p.error is not None for p in preds)
    summary["by_group"] = {}
    for g in GROUPS:
        qs = [q for q in questions if groups[q.qid] == g]
        if qs:
            gs, _ = evaluate(qs, preds, ks=ks, f1_threshold=thr)
            summary["by_group"][g] = {"n": len(qs), "temporal": gs["temporal"], "answer": gs["answer"],
                                      "retrieval": gs["retrieval"]}
    return preds, summary, per_item


def run_update(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    started = time.perf_counter()
    p = cfg.protocol
    comps = build_components(cfg)
    dataset = load_dataset_cfg(cfg)
    base_docs, new_docs = split_documents(dataset.documents, base_slice=list(p.base_slice) if p.base_slice else None,
                                          new_slice=list(p.new_slice) if p.new_slice else None,
                                          base_fraction=float(p.base_fraction))
    groups = {q.qid: question_group(q, new_docs) for q in dataset.questions}
    log.info("update protocol: %d base docs, %d new docs; questions %s", len(base_docs), len(new_docs),
             {g: sum(v == g for v in groups.values()) for g in GROUPS})
    cache_root, reuse = Path(cfg.paths.cache_dir), bool(cfg.index.reuse)
    rag, base_info = open_or_build(comps, base_docs, cache_root=cache_root, name=f"{dataset.name}-base", reuse=reuse)
    scored_before = pending_as_unanswerable(dataset.questions, groups)
    try:
        before, s_before, per_item_before = _phase(cfg, rag, comps, scored_before, groups, base_info, "before update")
    finally:
        rag.close()
    rag, upd_info = open_or_build(comps, new_docs, cache_root=cache_root, name=f"{dataset.name}-updated",
                                  reuse=reuse, base=base_info.path, key_extra=base_info.key)
    try:
        after, s_after, per_item_after = _phase(cfg, rag, comps, dataset.questions, groups, upd_info, "after update")
    finally:
        rag.close()

    out_dir.mkdir(parents=True, exist_ok=True)
    write_predictions(out_dir / "predictions_before.jsonl", scored_before, before,
                      per_item_scores(per_item_before))
    write_predictions(out_dir / "predictions.jsonl", dataset.questions, after, per_item_scores(per_item_after))
    method_name = after[0].method if after else str(cfg.method.name)
    s_after["cost"]["index"] = {**upd_info.usage.to_dict(), "llm_seconds": upd_info.usage.seconds,
                                "seconds": upd_info.seconds}
    update = {"base_documents": len(base_docs), "new_documents": len(new_docs),
              "question_groups": {g: sum(v == g for v in groups.values()) for g in GROUPS},
              "base_index": base_info.to_dict(), "insert": upd_info.to_dict(),
              "before": s_before, "after": s_after}
    result = {"run": {**run_context(cfg, method_name), "seconds_total": time.perf_counter() - started,
                      "index": upd_info.to_dict(), "llm": comps.llm.name, "embedder": comps.embedder.name},
              "metrics": s_after, "update": update, "llm_cache": comps.llm.cache_stats(),
              "data": dataset_info(dataset)}
    write_json(out_dir / "metrics.json", result)
    bars = {f"{phase} / {g}": summ["by_group"][g]["temporal"]
            for phase, summ in (("before", s_before), ("after", s_after)) for g in GROUPS
            if g in summ["by_group"] and summ["by_group"][g]["temporal"].get("n")}
    plots = []
    if bars:
        plots.append(plot_outcomes(bars, out_dir / "plots" / "update_outcomes.png",
                                   "Correct / abstained / incorrect, before and after the insert"))
    atomic_write(out_dir / "report.md", render_update_report(cfg, update, plots, per_item_after))
    return result


def _rounded(d: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 2) for k, v in d.items()}


def render_update_report(cfg: DictConfig, update: dict[str, Any], plots: Sequence[str],
                         per_item_after: dict[str, Any]) -> str:
    rows = []
    for phase in ("before", "after"):
        summ = update[phase]
        rows.append({"phase": phase, "group": "all", **summ["temporal"]})
        for g, gs in summ["by_group"].items():
            rows.append({"phase": phase, "group": g, **gs["temporal"]})
    answer_rows = []
    for phase in ("before", "after"):
        summ = update[phase]
        answer_rows.append({"phase": phase, "group": "all", **summ["answer"]})
        for g, gs in summ["by_group"].items():
            if gs["answer"].get("n"):
                answer_rows.append({"phase": phase, "group": g, **gs["answer"]})
    ins, base = update["insert"], update["base_index"]
    cost_rows = [
        {"stage": "build base index", "documents": update["base_documents"], "seconds": base["seconds"],
         "llm calls": base["usage"]["calls"], "reused": base["reused"]},
        {"stage": "insert new documents", "documents": update["new_documents"], "seconds": ins["seconds"],
         "llm calls": ins["usage"]["calls"], "reused": ins["reused"]},
    ]
    lines = [f"# {cfg.task_name}: update protocol on {cfg.dataset.name}", "",
             f"Base slice: {list(cfg.protocol.base_slice) if cfg.protocol.base_slice else 'earliest documents'}; "
             f"inserted: {list(cfg.protocol.new_slice) if cfg.protocol.new_slice else 'the rest'}.",
             f"Question groups: {update['question_groups']} (new = gold time scope overlaps an inserted "
             "document; unscoped = no gold scope, e.g. unanswerable). Before the insert a new question's "
             "evidence is not indexed yet: it is scored as unanswerable there (abstaining is correct).", "",
             "## Correct / abstained / incorrect", "",
             OUTCOME_NOTE, "",
             markdown_table(rows, ["phase", "group", "n", "correct", "abstained", "incorrect", "accuracy"]), "",
             "## Answers to answerable questions (EM / F1 / share of gold tokens found)", "",
             markdown_table(answer_rows, ["phase", "group", "n", "em", "f1", "token_recall"]), "",
             "## Update cost", "", markdown_table(cost_rows, ["stage", "documents", "seconds", "llm calls",
                                                               "reused"]), "",
             "Insert: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in ins["report"].items()
                                    if isinstance(v, int)) +
             f", time nodes re-summarised {len(ins['report'].get('time_nodes_recomputed', []))}; "
             f"seconds by step {_rounded(ins['report'].get('seconds', {}))}.", ""]
    for rel in plots:
        lines += [f"![outcomes](plots/{rel})", ""]
    return "\n".join(lines)
