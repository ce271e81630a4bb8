"""Fine-tune the retriever: ``python -m experiments.train [train=PRESET] [train.key=value ...]``.

Config: ``conf/training.yaml`` with the group ``train`` (``conf/train/*.yaml``): the sources (each a
``_target_`` record of ``experiments.training.pipeline``), the hard-negative mining, the training
settings and the LM scorer, all built with ``hydra.utils.instantiate``. The run directory holds
``train_log.jsonl``, ``loss_curve.png``, ``checkpoints/``, the final ``model/`` (load it with
``embedder.model=<run>/model``, ``tgrag ... --embedder <run>/model`` or
``SentenceTransformerEmbedder("<run>/model")``) and ``train_metrics.json`` (dense Recall@k before and
after on the held-out split). ``-m`` sweeps; the sweep's ``comparison.md`` / ``.csv`` are written
when it ends (``python -m experiments.training.aggregate <sweep dir>`` re-makes them).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from experiments.build import check_protocol, instantiate_group, register_resolvers
from experiments.training.data import SplitSpec
from experiments.training.mining import MiningSettings
from experiments.training.pipeline import RunSpec, Source, run
from experiments.training.trainer import TrainSettings
from tgrag.kernel.errors import ConfigError, TgragError
from tgrag.kernel.protocols import SequenceScorer

log = logging.getLogger(__name__)
register_resolvers()


def _tuple(value: Any) -> tuple[Any, ...] | None:
    return None if value is None else tuple(value)


def build_spec(cfg: DictConfig) -> RunSpec:
    """The run's typed spec from the ``train`` group (every part built by ``_target_``)."""
    t = cfg.train
    use = list(t.use)
    unknown = [u for u in use if u not in t.sources]
    if not use or unknown:
        raise ConfigError(f"train.use must name sources defined in train.sources ({list(t.sources)}), got {use}")
    sources: dict[str, Source] = {u: instantiate_group(t.sources[u], f"train.sources.{u}") for u in use}
    settings = instantiate_group(t.settings, "train.settings")
    mining = instantiate_group(t.mining, "train.mining")
    split = instantiate_group(t.split, "train.split")
    for obj, cls, group in ((settings, TrainSettings, "train.settings"), (mining, MiningSettings, "train.mining"),
                            (split, SplitSpec, "train.split")):
        if not isinstance(obj, cls):
            raise ConfigError(f"config group {group!r} built a {type(obj).__name__}, not a {cls.__name__}")
    return RunSpec(datasets=tuple(t.datasets), data_dir=str(cfg.paths.data_dir), sources=sources, settings=settings,
                   mining=mining, split=split, base_model=t.base_model, max_seq_length=t.max_seq_length,
                   device=str(t.device), eval_sets=_tuple(t.eval_sets), eval_split=str(t.eval_split),
                   ks=tuple(int(k) for k in t.ks), index_dirs=dict(t.index_dirs or {}),
                   evaluate_before=bool(t.evaluate_before))


def scorer_factory(cfg: DictConfig) -> Callable[[], SequenceScorer]:
    """Builds the frozen LM scorer on first use (loading it costs a minute), cached on disk."""

    def make() -> SequenceScorer:
        from tgrag.models.scorer_cache import CachedScorer

        inner = check_protocol(instantiate_group(cfg.train.scorer, "train.scorer"), SequenceScorer, "train.scorer")
        if cfg.train.scorer_cache is None:
            return inner
        return CachedScorer(inner, Path(cfg.train.scorer_cache))

    return make


def train_from_config(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    spec = build_spec(cfg)
    resume = Path(cfg.train.resume_from) if cfg.train.resume_from else None
    return run(spec, run_dir, scorer=scorer_factory(cfg), resume_from=resume,
               show_progress=bool(cfg.train.show_progress), command=" ".join(sys.argv))


@hydra.main(config_path="../conf", config_name="training", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        record = train_from_config(cfg, run_dir)
    except TgragError as e:
        log.error("%s", e)
        raise SystemExit(2) from e
    print(OmegaConf.to_yaml(OmegaConf.create({"eval": record["eval"], "model": record["run"]["model_dir"],
                                              "embedder_name": record["run"]["embedder_name"]})))


if __name__ == "__main__":
    main()
