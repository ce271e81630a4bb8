"""Run one experiment: ``python -m experiments.run [experiment=NAME] [group=option] [key=value]``.

Builds the components (experiments/build.py), loads the dataset, builds or reuses the cached index,
runs the method on every question, evaluates, and writes into the Hydra run directory:
``predictions.jsonl`` (one line per question, with its trace), ``metrics.json`` and ``report.md``
(+ ``plots/``). ``-m`` runs sweeps; ``python -m experiments.aggregate <dir>`` compares them. The
protocols other than ``standard`` live in their own modules; what they share is ``experiments.runner``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from experiments.indexing import open_or_build
from experiments.mirage import run_mirage
from experiments.runner import (
    build_components,
    build_method,
    dataset_info,
    load_dataset_cfg,
    make_system,
    predict_all,
    score,
    seed_everything,
    write_run,
)
from experiments.update import run_update

log = logging.getLogger(__name__)


def run_experiment(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    """The whole run; returns what was written to metrics.json."""
    started = time.perf_counter()
    seed_everything(int(cfg.seed))
    if str(cfg.protocol.name) == "update":
        return run_update(cfg, out_dir)
    if str(cfg.protocol.name) == "mirage":
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


__all__ = ["main", "run_experiment"]

if __name__ == "__main__":
    main()
