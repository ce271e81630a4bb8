"""One training run as plain Python: data sources → examples → mining → training → model → evaluation.

Used by the Hydra entry (``experiments/train.py``) and by ``bench/retriever_training.py``. Sources
are small frozen records (built from config by ``_target_``) that turn the loaded sets into
examples; any combination can be listed in one run:

- :class:`LabelledSource` (a): the train split's questions and supporting passages, of the run's
  sets or of other sets (cross-set transfer: train on HotpotQA + 2Wiki, evaluate on MuSiQue);
- :class:`PseudoQuerySource` (b): pseudo-queries of the corpus, no labels and no LLM (with an
  index of the set, its KG facts give fact questions and two-hop chains);
- :class:`ReplugSource` (c): REPLUG LSR targets from the frozen LM over the dense top k;
- :class:`DistillSource`: a teacher's scores (UPR or the walk) over the top k.

Evaluation only ever reads the ``test`` (or ``dev``) split; every source that reads questions
reads the ``train`` split, so a training question never reaches an evaluation.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from experiments.training.data import (
    Corpus,
    Example,
    SetData,
    SplitSpec,
    kg_chain_examples,
    labelled_examples,
    load_set,
    pseudo_query_examples,
)
from experiments.training.encoder import BiEncoder
from experiments.training.evaluate import dense_recall
from experiments.training.feedback import candidates_of, replug_examples, upr_examples, walk_examples
from experiments.training.mining import MiningSettings, mine
from experiments.training.trainer import Trainer, TrainSettings
from tgrag.kernel.errors import ConfigError
from tgrag.kernel.protocols import SequenceScorer

log = logging.getLogger(__name__)


@dataclass
class Context:
    """What sources read: the loaded sets, the merged corpus, the base model's vectors, the scorer."""

    sets: dict[str, SetData]
    train_sets: tuple[str, ...]
    corpus: Corpus
    split: SplitSpec
    model: BiEncoder
    scorer: Callable[[], SequenceScorer] | None = None
    index_dirs: Mapping[str, str] = field(default_factory=dict)
    show_progress: bool = True
    _passage_vecs: np.ndarray | None = None
    _scorer: SequenceScorer | None = None

    def passage_vecs(self) -> np.ndarray:
        if self._passage_vecs is None:
            self._passage_vecs = self.model.encode(self.corpus.texts(self.corpus.ids), kind="passage",
                                                   show_progress=self.show_progress)
        return self._passage_vecs

    def query_vecs(self, examples: Sequence[Example]) -> np.ndarray:
        return self.model.encode([e.query for e in examples], kind="query")

    def lm(self) -> SequenceScorer:
        if self.scorer is None:
            raise ConfigError("this source needs an LM scorer (train.scorer)")
        if self._scorer is None:
            self._scorer = self.scorer()
        return self._scorer

    def pick(self, names: Sequence[str] | None) -> list[SetData]:
        chosen = list(names) if names else list(self.train_sets)
        missing = [n for n in chosen if n not in self.sets]
        if missing:
            raise ConfigError(f"sources name sets not loaded by the run: {missing}")
        return [self.sets[n] for n in chosen]


@dataclass(frozen=True, slots=True)
class LabelledSource:
    sets: tuple[str, ...] | None = None  # None: the run's training sets

    def examples(self, ctx: Context) -> list[Example]:
        return labelled_examples(ctx.pick(self.sets), ctx.split, split="train")


@dataclass(frozen=True, slots=True)
class PseudoQuerySource:
    sets: tuple[str, ...] | None = None
    kinds: tuple[str, ...] = ("subject",)
    kg_chains: bool = True
    max_examples: int | None = 4000
    max_positives: int = 3

    def examples(self, ctx: Context) -> list[Example]:
        out: list[Example] = []
        for s in ctx.pick(self.sets):
            graph = open_graph(ctx.index_dirs[s.name], ctx.model) if s.name in ctx.index_dirs else None
            out += pseudo_query_examples(s.corpus, graph=graph, kinds=self.kinds, max_examples=self.max_examples,
                                         max_positives=self.max_positives)
            if graph is not None and self.kg_chains:
                out += kg_chain_examples(graph, s.corpus, max_examples=self.max_examples)
        return out


@dataclass(frozen=True, slots=True)
class ReplugSource:
    sets: tuple[str, ...] | None = None
    k: int = 8
    max_questions: int | None = None
    batch_size: int = 8

    def examples(self, ctx: Context) -> list[Example]:
        base = [e for e in labelled_examples(ctx.pick(self.sets), ctx.split, split="train") if e.answers]
        base = base[: self.max_questions] if self.max_questions is not None else base
        cands = candidates_of(base, ctx.corpus, ctx.query_vecs(base), ctx.passage_vecs(), self.k)
        return replug_examples(base, ctx.corpus, cands, ctx.lm(), batch_size=self.batch_size,
                               show_progress=ctx.show_progress)


@dataclass(frozen=True, slots=True)
class DistillSource:
    teacher: str = "upr"  # upr | walk
    queries: str = "labelled"  # labelled (train split questions) | pseudo (pseudo-queries: no labels)
    sets: tuple[str, ...] | None = None
    k: int = 8
    max_queries: int | None = 300
    batch_size: int = 8

    def examples(self, ctx: Context) -> list[Example]:
        if self.teacher not in ("upr", "walk"):
            raise ConfigError(f"distill teacher must be 'upr' or 'walk', got {self.teacher!r}")
        out: list[Example] = []
        for s in ctx.pick(self.sets):
            base = self._queries(ctx, s)
            if self.teacher == "walk":
                if s.name not in ctx.index_dirs:
                    raise ConfigError(f"the walk teacher needs an index of {s.name} (train.index_dirs)")
                out += walk_examples(base, walk_ranker(ctx.index_dirs[s.name], ctx.model), s.corpus, self.k)
            else:
                cands = candidates_of(base, ctx.corpus, ctx.query_vecs(base), ctx.passage_vecs(), self.k,
                                      include_positives=self.queries == "labelled")
                out += upr_examples(base, ctx.corpus, cands, ctx.lm(), batch_size=self.batch_size,
                                    show_progress=ctx.show_progress)
        return out

    def _queries(self, ctx: Context, s: SetData) -> list[Example]:
        if self.queries == "labelled":
            base = labelled_examples([s], ctx.split, split="train")
        elif self.queries == "pseudo":
            base = PseudoQuerySource((s.name,), kg_chains=False).examples(ctx)
        else:
            raise ConfigError(f"distill queries must be 'labelled' or 'pseudo', got {self.queries!r}")
        return base[: self.max_queries] if self.max_queries is not None else base


Source = LabelledSource | PseudoQuerySource | ReplugSource | DistillSource


def _base_embedder(model: BiEncoder) -> Any:
    from tgrag.models.embedders import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(model.spec)


def open_graph(index_dir: str, model: BiEncoder) -> Any:
    """The knowledge graph of an index built with the base model (read only, no LLM)."""
    return _open_index(index_dir, model).graph


def _open_index(index_dir: str, model: BiEncoder) -> Any:
    from tgrag.facade import TemporalGraphRAG
    from tgrag.testing import ScriptedLLM

    return TemporalGraphRAG.open(index_dir, embedder=_base_embedder(model), llm=ScriptedLLM(), show_progress=False)


def walk_ranker(index_dir: str, model: BiEncoder) -> Callable[[str, int], list[tuple[str, float]]]:
    from reasoning.assembly import build_query_side
    from reasoning.settings import ReasoningSettings

    rag = _open_index(index_dir, model)
    side = build_query_side(rag.docs, rag.vectors, rag.graph, rag.embedder, None, settings=ReasoningSettings(),
                            indexer=rag.indexer)
    walk = side.retriever("walk")
    ranked = getattr(walk, "ranked", None)  # every retriever of the query side ranks; the protocol only retrieves
    if ranked is None:
        raise ConfigError(f"the walk retriever {type(walk).__name__} does not rank passages")
    return lambda q, k: [(str(pid), float(s)) for pid, s in ranked(q, k)]


@dataclass(frozen=True, slots=True)
class RunSpec:
    """Everything one run needs (built from the ``train`` config group, or by the benchmark)."""

    datasets: tuple[str, ...]  # sets whose corpora and (for a, c) train questions are used
    data_dir: str
    sources: Mapping[str, Source]
    settings: TrainSettings = TrainSettings()
    mining: MiningSettings = MiningSettings()
    split: SplitSpec = SplitSpec()
    base_model: str | None = None
    max_seq_length: int | None = 192
    device: str = "cpu"
    eval_sets: tuple[str, ...] | None = None  # None: the training sets
    eval_split: str = "test"
    ks: tuple[int, ...] = (2, 5)
    index_dirs: Mapping[str, str] = field(default_factory=dict)
    evaluate_before: bool = True


def build_examples(spec: RunSpec, ctx: Context) -> tuple[list[Example], dict[str, Any]]:
    """Examples of every source, hard negatives mined for the contrastive ones; with counts and times."""
    info: dict[str, Any] = {"sources": {}, "seconds": {}}
    examples: list[Example] = []
    for name, source in spec.sources.items():
        t0 = time.perf_counter()
        made = source.examples(ctx)
        info["seconds"][name] = round(time.perf_counter() - t0, 2)
        info["sources"][name] = {"examples": len(made), "by_source": dict(Counter(e.source for e in made))}
        examples += made
    contrastive = [e for e in examples if not e.listwise]
    if contrastive and spec.mining.enabled:
        t0 = time.perf_counter()
        needs = spec.mining.dense_k > 0 or spec.mining.margin is not None
        mined = mine(contrastive, ctx.corpus, spec.mining, query_vecs=ctx.query_vecs(contrastive) if needs else None,
                     passage_vecs=ctx.passage_vecs() if needs else None)
        info["seconds"]["mining"] = round(time.perf_counter() - t0, 2)
        info["hard_negatives_per_query"] = round(float(np.mean([len(e.negatives) for e in mined])), 3)
        examples = mined + [e for e in examples if e.listwise]
    info["examples"] = len(examples)
    return examples, info


def run(spec: RunSpec, run_dir: Path, *, scorer: Callable[[], SequenceScorer] | None = None,
        resume_from: Path | None = None, show_progress: bool = True, command: str = "",
        sets: Mapping[str, SetData] | None = None) -> dict[str, Any]:
    """Train, save ``run_dir/model``, evaluate before and after; writes and returns the record.
    ``sets`` are loaded sets to use instead of reading them from ``spec.data_dir`` (a benchmark's
    sample); any other set the run names is read."""
    import json

    t_start = time.perf_counter()
    eval_sets = spec.eval_sets or spec.datasets
    names = list(dict.fromkeys([*spec.datasets, *eval_sets, *_source_sets(spec.sources)]))
    given = dict(sets or {})
    loaded = {n: given[n] if n in given else load_set(n, spec.data_dir) for n in names}
    corpus = Corpus()
    for n in dict.fromkeys([*spec.datasets, *_source_sets(spec.sources)]):
        corpus = corpus.merged(loaded[n].corpus)
    if spec.settings.threads:
        import torch

        torch.set_num_threads(spec.settings.threads)
    model = BiEncoder(spec.base_model, device=spec.device, max_seq_length=spec.max_seq_length)
    ctx = Context(loaded, spec.datasets, corpus, spec.split, model, scorer, spec.index_dirs, show_progress)
    before = {n: dense_recall(model, loaded[n], spec.split, split=spec.eval_split, ks=spec.ks)
              for n in eval_sets} if spec.evaluate_before else {}
    examples, data_info = build_examples(spec, ctx)
    trainer = Trainer(model, corpus, spec.settings, run_dir, show_progress=show_progress)
    summary = trainer.fit(examples, resume_from=resume_from)
    name = model.save(run_dir / "model", info={"settings": asdict(spec.settings), "sources": list(spec.sources)})
    after = {n: dense_recall(model, loaded[n], spec.split, split=spec.eval_split, ks=spec.ks) for n in eval_sets}
    record = {
        "run": {"command": command, "sources": list(spec.sources), "datasets": list(spec.datasets),
                "eval_sets": list(eval_sets), "eval_split": spec.eval_split, "model_dir": str(run_dir / "model"),
                "embedder_name": name, "base_model": model.base_name, "split": asdict(spec.split),
                "mining": asdict(spec.mining)},
        "data": data_info, "training": summary,
        "eval": {n: {"before": before.get(n), "after": after[n],
                     "delta": {k: round(float(after[n][k]) - float(before[n][k]), 2) for k in after[n]
                               if k.startswith("recall@")} if n in before else None} for n in eval_sets},
        "wall_seconds": round(time.perf_counter() - t_start, 1)}
    (run_dir / "train_metrics.json").write_text(json.dumps(record, indent=1, default=str) + "\n", encoding="utf-8")
    return record


def _source_sets(sources: Mapping[str, Source]) -> list[str]:
    return [n for s in sources.values() for n in (s.sets or ())]
