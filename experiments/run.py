"""Run one experiment: ``python -m experiments.run [experiment=NAME] [group=option] [key=value]``.

Builds the components (experiments/build.py), loads the dataset, builds or reuses the cached index,
runs the method on every question, evaluates, and writes into the Hydra run directory:
``predictions.jsonl`` (one line per question, with its trace), ``metrics.json`` and ``report.md``
(+ ``plots/``). ``-m`` runs sweeps; ``python -m experiments.aggregate <dir>`` compares them.
"""

from __future__ import annotations

import logging
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import hydra
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
    instantiate_group,
    register_resolvers,
    vector_index_factory,
)
from experiments.datasets import QADataset, QAExample, load_dataset
from experiments.indexing import Components, IndexInfo, open_or_build
from experiments.methods import Method, System
from experiments.metrics import evaluate
from experiments.records import Prediction
from experiments.report import make_plots, per_item_scores, render_report, write_json, write_predictions
from tgrag.kernel.errors import TgragError

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
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


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


def run_experiment(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    """The whole run; returns what was written to metrics.json."""
    started = time.perf_counter()
    seed_everything(int(cfg.seed))
    if str(cfg.protocol.name) == "update":
        from experiments.update import run_update

        return run_update(cfg, out_dir)
    if str(cfg.protocol.name) == "mirage":
        from experiments.mirage import run_mirage

        return run_mirage(cfg, out_dir)
    comps = build_components(cfg)
    dataset = load_dataset_cfg(cfg)
    log.info("%s: %d questions, %d documents", dataset.name, len(dataset.questions), len(dataset.documents))
    rag, info = open_or_build(comps, dataset.documents, cache_root=Path(cfg.paths.cache_dir), name=dataset.name,
                              reuse=bool(cfg.index.reuse))
    try:
        method = build_method(cfg, make_system(cfg, rag, comps))
        predictions = predict_all(method, dataset.questions)
        summary, per_item = score(cfg, dataset.questions, predictions, info)
        return write_run(out_dir, cfg, method.name, dataset.questions, predictions, summary, per_item, info,
                         comps, started, extra={"data": dataset_info(dataset)})
    finally:
        rag.close()


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig

    out_dir = Path(HydraConfig.get().runtime.output_dir)
    result = run_experiment(cfg, out_dir)
    log.info("wrote %s", out_dir)
    m = result["metrics"]
    ks = list(cfg.eval.ks)
    headline = m["retrieval"].get(f"recall@{max(ks)}") or m["answer"].get("f1") or m["temporal"].get("accuracy")
    return float(headline) if headline is not None else None


__all__ = ["build_components", "build_method", "instantiate_group", "main", "run_experiment"]

if __name__ == "__main__":
    main()
