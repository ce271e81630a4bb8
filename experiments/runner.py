"""What every experiment protocol shares: components from config, the dataset, the method, predicting
every question, scoring and writing a run directory. ``experiments.run`` (the entry point) and the
protocols (``experiments.update``, ``experiments.mirage``) import it; it imports none of them.
"""

from __future__ import annotations

import logging
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from experiments.build import (
    build_embedder,
    build_extraction,
    build_factory,
    build_llm,
    build_settings,
    graph_store_factory,
    indexing_config,
    register_resolvers,
    vector_index_factory,
)
from experiments.datasets import QADataset, QAExample, load_dataset
from experiments.indexing import Components, IndexInfo
from experiments.methods import Method, System
from experiments.metrics import evaluate
from experiments.records import Prediction
from experiments.report import make_plots, per_item_scores, render_report, write_json, write_predictions
from tgrag.kernel.errors import TgragError
from tgrag.provenance import machine_info

log = logging.getLogger(__name__)
register_resolvers()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)


def build_components(cfg: DictConfig) -> Components:
    llm = build_llm(cfg)
    embedder = build_embedder(cfg)
    return Components(llm=llm, embedder=embedder, extraction=build_extraction(cfg, llm, embedder),
                      graph_store=graph_store_factory(cfg), vector_index=vector_index_factory(cfg),
                      indexing_config=indexing_config(cfg), show_progress=bool(cfg.index.show_progress))


def load_dataset_cfg(cfg: DictConfig) -> QADataset:
    d = cfg.dataset
    return load_dataset(d.root, name=d.name, questions_file=d.questions_file, corpus_files=list(d.corpus_files),
                        date_field=d.date_field, limit=d.limit, seed=int(d.seed),
                        question_filter=OmegaConf.to_container(d.question_filter) if d.question_filter else None,
                        corpus_slice=list(d.corpus_slice) if d.corpus_slice else None,
                        skip_invalid=bool(d.get("skip_invalid", False)),
                        balance_unanswerable=bool(d.get("balance_unanswerable", False)))


def dataset_info(dataset: QADataset) -> dict[str, Any]:
    return {"questions": len(dataset.questions), "documents": len(dataset.documents),
            "corpus": list(dataset.corpus_paths), "skipped_documents": len(dataset.skipped),
            "skipped": list(dataset.skipped[:20])}


def make_system(cfg: DictConfig, rag: Any, comps: Components) -> System:
    return System(rag=rag, llm=comps.llm, settings_factory=lambda overrides: build_settings(cfg, overrides),
                  pass_question_date=bool(cfg.eval.pass_question_date))


def build_method(cfg: DictConfig, system: System) -> Method:
    return build_factory(cfg.method, Method, "method")(system)


def predict_all(method: Method, questions: Sequence[QAExample], *, desc: str = "") -> list[Prediction]:
    """Run the method on every question; a question that raises is logged, counted, kept."""
    out: list[Prediction] = []
    for ex in tqdm(questions, desc=desc or method.name, unit="q"):
        t0 = time.perf_counter()
        try:
            out.append(method.predict(ex))
        except TgragError as e:
            log.error("question %s failed: %s", ex.qid, e)
            out.append(Prediction(ex.qid, method.name, "", True, seconds=time.perf_counter() - t0,
                                  error=f"{type(e).__name__}: {e}"))
    return out


def score(cfg: DictConfig, questions: Sequence[QAExample], predictions: Sequence[Prediction],
          info: IndexInfo) -> tuple[dict[str, Any], dict[str, Any]]:
    summary, per_item = evaluate(questions, predictions, ks=list(cfg.eval.ks),
                                 f1_threshold=float(cfg.eval.f1_threshold),
                                 index_seconds=info.open_seconds if info.reused else info.seconds + info.open_seconds,
                                 index_usage=None if info.reused else info.usage)
    summary["errors"] = sum(p.error is not None for p in predictions)
    return summary, per_item


def run_context(cfg: DictConfig, method: str) -> dict[str, Any]:
    return {"dataset": str(cfg.dataset.name), "method": method, "protocol": str(cfg.protocol.name),
            "task": str(cfg.task_name), "seed": int(cfg.seed), "limit": cfg.dataset.limit,
            "command": " ".join(["python -m experiments.run", *sys.argv[1:]]),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine_at_end": machine_info()}


def write_run(out_dir: Path, cfg: DictConfig, method_name: str, questions: Sequence[QAExample],
              predictions: Sequence[Prediction], summary: dict[str, Any], per_item: dict[str, Any],
              info: IndexInfo, comps: Components, started: float, extra: dict[str, Any] | None = None) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    write_predictions(out_dir / "predictions.jsonl", questions, predictions, per_item_scores(per_item))
    ctx = run_context(cfg, method_name)
    result = {"run": {**ctx, "seconds_total": time.perf_counter() - started, "index": info.to_dict(),
                      "llm": comps.llm.name, "embedder": comps.embedder.name},
              "metrics": summary, "llm_cache": comps.llm.cache_stats(), **(extra or {})}
    write_json(out_dir / "metrics.json", result)
    plots = make_plots(summary, per_item, predictions, out_dir, method_name) if cfg.eval.plots else []
    report_ctx = {**{k: ctx[k] for k in ("dataset", "method", "protocol", "command")},
                  "questions": len(questions), "index reused": info.reused, "index": str(info.path),
                  "LLM calls answered from the cache": summary["cost"]["llm_cached_calls"],
                  "errors": summary["errors"]}
    (out_dir / "report.md").write_text(render_report(f"{cfg.task_name}: {method_name} on {cfg.dataset.name}",
                                                     summary, plots, report_ctx), encoding="utf-8")
    return result
