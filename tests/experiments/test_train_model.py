"""Retriever training with a model: a tiny randomly initialised BERT sentence-transformer built from a
config in the test (no download, seconds), the trainer, save/load, the Hydra entry, a sweep's table,
and re-indexing with the trained model."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import DictConfig, OmegaConf

from experiments.training.aggregate import AggregateTrainingSweep, aggregate
from experiments.training.data import Corpus, Example
from experiments.training.encoder import BiEncoder
from experiments.training.trainer import LOG_FILE, PLOT_FILE, Trainer, TrainSettings, read_log
from tgrag.kernel.errors import ConfigError
from tgrag.kernel.records import Document
from tgrag.models.embedders import SentenceTransformerEmbedder

CONF = Path(__file__).resolve().parents[2] / "conf"
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
LETTERS = [chr(c) for c in range(97, 123)]
NAMES = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A 1-layer, 32-d BERT with a character vocabulary, mean pooling and normalisation."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("tiny")
    words = [*NAMES, "who", "or", "what", "is", "a", "place", "near", "river"]
    vocab = [*SPECIAL, *words, *LETTERS, *(f"##{c}" for c in LETTERS), *map(str, range(10)), "?", ".", ",", "'", "-"]
    tok = BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128)
    torch.manual_seed(0)
    BertModel(cfg).save_pretrained(root / "bert")
    tok.save_pretrained(root / "bert")
    word = Transformer(str(root / "bert"), max_seq_length=64)
    model = SentenceTransformer(modules=[word, Pooling(word.get_embedding_dimension(), "mean"), Normalize()],
                                device="cpu")
    model.save(str(root / "tiny-bert"))
    return str(root / "tiny-bert")


@pytest.fixture
def make_cfg_train(env: Path) -> Iterator[Callable[[Sequence[str]], DictConfig]]:
    """Compose ``conf/training.yaml`` (the training entry's primary config) with overrides."""
    from hydra import compose, initialize_config_dir

    from experiments.build import register_resolvers

    register_resolvers()

    def _compose(overrides: Sequence[str]) -> DictConfig:
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            return compose(config_name="training", overrides=list(overrides))

    yield _compose


def _toy() -> tuple[Corpus, list[Example]]:
    names = NAMES
    docs = [Document(f"d{i}", f"{n} is a place near {names[(i + 3) % 8]} river.", None, n) for i, n in enumerate(names)]
    corpus = Corpus.of(docs)
    by_doc = {corpus.doc_of(p): p for p in corpus.ids}
    examples = [Example(f"q{i}", f"who or what is {n}?", "toy", (by_doc[f"d{i}"],)) for i, n in enumerate(names)]
    return corpus, examples


def test_loss_falls_on_a_toy_set(tiny_model: str, tmp_path: Path) -> None:
    corpus, examples = _toy()
    model = BiEncoder(tiny_model, max_seq_length=32)
    settings = TrainSettings(epochs=12, batch_size=8, lr=3e-3, warmup_ratio=0.0, schedule="constant",
                             temperature=0.1, seed=0)
    summary = Trainer(model, corpus, settings, tmp_path, show_progress=False).fit(examples)
    losses = [r["loss"] for r in read_log(tmp_path / LOG_FILE)]
    assert len(losses) == summary["steps"] == 12
    assert np.mean(losses[-3:]) < 0.6 * np.mean(losses[:3])
    assert (tmp_path / PLOT_FILE).stat().st_size > 0
    assert summary["examples_per_s"] > 0 and summary["examples_seen"] == 96


def test_trained_model_round_trips_with_identical_embeddings(tiny_model: str, tmp_path: Path) -> None:
    corpus, examples = _toy()
    model = BiEncoder(tiny_model, max_seq_length=32)
    Trainer(model, corpus, TrainSettings(epochs=1, batch_size=4, lr=1e-3, seed=1), tmp_path / "run",
            show_progress=False).fit(examples)
    name = model.save(tmp_path / "model")
    texts = [e.query for e in examples] + corpus.texts(corpus.ids)
    before = model.encode(texts, kind="passage")
    emb = SentenceTransformerEmbedder(str(tmp_path / "model"))
    assert emb.name == name and name.startswith("tiny-bert-ft-") and len(name) == len("tiny-bert-ft-") + 12
    np.testing.assert_array_equal(emb.encode(texts, kind="passage"), before)
    np.testing.assert_array_equal(BiEncoder(str(tmp_path / "model")).encode(texts, kind="query"),
                                  model.encode(texts, kind="query"))
    assert not np.allclose(BiEncoder(tiny_model, max_seq_length=32).encode(texts, kind="passage"), before)
    assert emb.name != SentenceTransformerEmbedder(tiny_model).name


def test_listwise_replug_training_moves_retriever_towards_lm(tiny_model: str, tmp_path: Path) -> None:
    corpus, examples = _toy()
    ids = corpus.ids
    # the "LM" prefers candidate 0 of each query (its own passage) by a wide margin
    lw = [Example(e.qid, e.query, "replug:toy", e.positives, answers=("x",),
                  candidates=(e.positives[0], *[p for p in ids if p != e.positives[0]][:3]),
                  targets=(0.0, -6.0, -6.0, -6.0)) for e in examples]
    model = BiEncoder(tiny_model, max_seq_length=32)
    settings = TrainSettings(epochs=10, listwise_batch_size=8, lr=3e-3, warmup_ratio=0.0, schedule="constant",
                             gamma=0.1, beta=1.0)
    Trainer(model, corpus, settings, tmp_path, show_progress=False).fit(lw)
    losses = [r["loss"] for r in read_log(tmp_path / LOG_FILE)]
    assert {r["kind"] for r in read_log(tmp_path / LOG_FILE)} == {"replug"}
    assert losses[-1] < losses[0]


def test_resume_continues_the_same_plan(tiny_model: str, tmp_path: Path) -> None:
    corpus, examples = _toy()
    settings = TrainSettings(epochs=2, batch_size=4, lr=1e-3, warmup_ratio=0.0, seed=3)
    full = BiEncoder(tiny_model, max_seq_length=32)
    Trainer(full, corpus, settings, tmp_path / "full", show_progress=False).fit(examples)
    ckpts = sorted((tmp_path / "full" / "checkpoints").glob("step-*"))
    assert [c.name for c in ckpts] == ["step-000002", "step-000004"]  # end of each epoch
    resumed = BiEncoder(tiny_model, max_seq_length=32)
    summary = Trainer(resumed, corpus, settings, tmp_path / "resumed", show_progress=False).fit(
        examples, resume_from=ckpts[0])
    assert summary["resumed_at"] == 2 and summary["steps"] == 4
    texts = corpus.texts(corpus.ids)
    np.testing.assert_allclose(resumed.encode(texts, kind="passage"), full.encode(texts, kind="passage"), atol=1e-5)
    with pytest.raises(ConfigError):
        Trainer(resumed, corpus, settings, tmp_path / "x", show_progress=False).fit(examples, resume_from=tmp_path)


def test_train_entry_smoke_and_sweep_table(make_cfg_train: Callable[[Sequence[str]], DictConfig],
                                           make_cfg: Callable[[Sequence[str]], DictConfig], tiny_model: str,
                                           tmp_path: Path) -> None:
    from experiments.train import train_from_config

    rows = []
    for temperature in (0.05, 0.1):
        cfg = make_cfg_train(["train=smoke", f"train.base_model={tiny_model}",
                              f"train.settings.temperature={temperature}"])
        run_dir = tmp_path / "sweep" / f"t{temperature}"
        record = train_from_config(cfg, run_dir)
        rows.append(record)
        for f in (LOG_FILE, PLOT_FILE, "train_metrics.json", "model/tgrag_embedder.json"):
            assert (run_dir / f).exists(), f
        assert record["training"]["steps"] == 3
        assert record["data"]["sources"]["labelled"]["examples"] > 0
        assert record["data"]["sources"]["pseudo"]["examples"] == 24
        ev = record["eval"]["demo"]
        assert ev["before"]["questions"] == ev["after"]["questions"] > 0
        assert SentenceTransformerEmbedder(record["run"]["model_dir"]).name == record["run"]["embedder_name"]
    paths = aggregate(tmp_path / "sweep")
    table = paths["md"].read_text()
    assert "demo recall@5" in table and table.count("labelled+pseudo") == 2
    paths["md"].unlink()
    AggregateTrainingSweep().on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path / "sweep")}}}))
    assert paths["md"].read_text() == table
    # the final model loads through the experiments' embedder group: embedder.model=<run>/model
    from experiments.build import build_embedder

    cfg = make_cfg([f"embedder.model={rows[0]['run']['model_dir']}"])
    assert build_embedder(cfg).name == rows[0]["run"]["embedder_name"]


def test_every_train_preset_composes(make_cfg_train: Callable[[Sequence[str]], DictConfig]) -> None:
    from experiments.train import build_spec

    presets = sorted(p.stem for p in (CONF / "train").glob("*.yaml"))
    assert {"default", "pseudo", "replug", "distill", "combined", "transfer", "smoke"} <= set(presets)
    for name in presets:
        spec = build_spec(make_cfg_train([f"train={name}"]))
        assert spec.sources and spec.datasets
    with pytest.raises(ConfigError):
        build_spec(make_cfg_train(["train.use=[nothing]"]))


def test_reindex_records_the_trained_embedder(tiny_model: str, tmp_path: Path) -> None:
    from experiments.training.reindex import reindex
    from tgrag.facade import TemporalGraphRAG
    from tgrag.testing import ScriptedLLM

    corpus, examples = _toy()
    base = SentenceTransformerEmbedder(tiny_model)
    src = TemporalGraphRAG.open(tmp_path / "src", embedder=base, llm=ScriptedLLM(), knowledge_graph=False,
                                show_progress=False)
    src.insert([Document(p.doc_id, p.text, None, p.title) for p in corpus.passages.values()])
    src.close()
    model = BiEncoder(tiny_model, max_seq_length=32)
    Trainer(model, corpus, TrainSettings(epochs=1, batch_size=4, lr=1e-3), tmp_path / "run",
            show_progress=False).fit(examples)
    name = model.save(tmp_path / "model")
    out = reindex(tmp_path / "src", tmp_path / "dst", SentenceTransformerEmbedder(str(tmp_path / "model")),
                  show_progress=False)
    assert out["documents"] == 8
    assert json.loads((tmp_path / "dst" / "manifest.json").read_text())["embedder"] == name
    with pytest.raises(ConfigError):
        TemporalGraphRAG.open(tmp_path / "dst", embedder=base, llm=ScriptedLLM(), show_progress=False)
    # the walk over the base index ranks passages: the walk teacher's scores
    from experiments.training.pipeline import walk_ranker

    ranked = walk_ranker(str(tmp_path / "src"), BiEncoder(tiny_model))("who or what is alpha?", 3)
    assert ranked and len(ranked) <= 3 and all(pid in corpus.passages for pid, _ in ranked)
