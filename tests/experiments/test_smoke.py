"""Every experiment preset runs end to end on the demo set with a tiny budget (fakes at the model
boundary), writes its outputs, and a second run re-uses the index and the LLM cache."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from omegaconf import DictConfig

from experiments.aggregate import aggregate
from experiments.run import run_experiment
from tgrag.stores.generations import GenerationFiles

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = sorted(p.stem for p in (ROOT / "conf" / "experiment").glob("*.yaml"))
FAKES = ["llm=scripted", "embedder=hashing", "dataset=demo", "dataset.limit=3", "index.show_progress=false",
         "eval.ks=[1,2,5]", "eval.k=5"]
# the update preset slices ECT-QA by 2024 quarters; on the demo set it splits by date order instead
DEMO_FIXES = {"temporal_ectqa_update": ["protocol.base_slice=null", "protocol.new_slice=null"]}


def test_presets_are_global_packages() -> None:
    for name in EXPERIMENTS:
        assert (ROOT / "conf" / "experiment" / f"{name}.yaml").read_text().startswith("# @package _global_"), name


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_smoke(make_cfg: Callable[[Sequence[str]], DictConfig], env: Path, name: str) -> None:
    cfg = make_cfg([f"experiment={name}", *FAKES, *DEMO_FIXES.get(name, [])])
    assert cfg.dataset.name == "demo" and cfg.task_name == name
    out = env / "out"
    result = run_experiment(cfg, out)
    for f in ("predictions.jsonl", "metrics.json", "report.md"):
        assert (out / f).exists(), f
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and all("trace" in r and r["trace"] for r in rows)
    assert result["metrics"]["n_questions"] == 3 and result["metrics"]["errors"] == 0
    assert json.loads((out / "metrics.json").read_text())["run"]["method"] == result["run"]["method"]
    for rel in [line.split("](")[1].rstrip(")") for line in (out / "report.md").read_text().splitlines()
                if line.startswith("![")]:
        assert (out / rel).exists(), rel
    if name == "temporal_ectqa_update":
        upd = result["update"]
        assert upd["base_documents"] > 0 and upd["new_documents"] > 0
        assert {"before", "after", "insert"} <= set(upd)
        assert upd["insert"]["report"]["documents_added"] == upd["new_documents"]
        assert (out / "predictions_before.jsonl").exists()


def test_second_run_reuses_index_and_llm_cache(make_cfg: Callable[[Sequence[str]], DictConfig], env: Path) -> None:
    cfg = make_cfg([*FAKES, "method=naive_rag"])
    first = run_experiment(cfg, env / "a")
    second = run_experiment(cfg, env / "b")
    assert not first["run"]["index"]["reused"] and second["run"]["index"]["reused"]
    q1, q2 = first["metrics"]["cost"]["query"], second["metrics"]["cost"]["query"]
    assert q1["calls"] > 0 and q1["cached_calls"] == 0
    assert q2["cached_calls"] == q2["calls"] == q1["calls"]
    assert second["llm_cache"]["hits"] == q1["calls"] and second["llm_cache"]["misses"] == 0
    a = [json.loads(x)["answer"] for x in (env / "a" / "predictions.jsonl").read_text().splitlines()]
    b = [json.loads(x)["answer"] for x in (env / "b" / "predictions.jsonl").read_text().splitlines()]
    assert a == b


def test_sweep_aggregates_into_one_table(make_cfg: Callable[[Sequence[str]], DictConfig], env: Path) -> None:
    sweep = env / "sweep"
    for i, method in enumerate(("dense", "bm25")):
        run_experiment(make_cfg([*FAKES, f"method={method}"]), sweep / f"{i}_demo_{method}")
    paths = aggregate(sweep)
    csv_lines = paths["csv"].read_text().splitlines()
    assert csv_lines[0].startswith("dataset,method,n,recall@1,recall@2,recall@5")
    assert [line.split(",")[1] for line in csv_lines[1:]] == ["bm25", "dense"]
    assert "| demo | dense | 3 |" in paths["md"].read_text()
    assert paths["png"].stat().st_size > 0


@pytest.mark.slow
def test_retrieval_smoke_with_the_real_embedder(make_cfg: Callable[[Sequence[str]], DictConfig], env: Path) -> None:
    cfg = make_cfg(["dataset=demo", "method=dense", "llm=scripted", "extraction=none", "index.show_progress=false",
                    "eval.ks=[1,2,5]", "eval.k=5"])
    result = run_experiment(cfg, env / "out")
    assert result["run"]["embedder"] == "all-MiniLM-L6-v2"
    # the demo questions name their subjects; MiniLM finds at least half of the evidence in the top 5
    assert result["metrics"]["retrieval"]["recall@5"] >= 0.5


@pytest.mark.neo4j
def test_tgrag_on_a_bolt_graph_server(make_cfg: Callable[[Sequence[str]], DictConfig], env: Path,
                                      bolt: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TGRAG_TEST_BOLT_PASSWORD", bolt["password"])
    cfg = make_cfg([*FAKES, "method=tgrag", "graph_store=neo4j", f"graph_store.uri={bolt['uri']}",
                    f"graph_store.user={bolt['user']}", f"graph_store.database={bolt['database']}",
                    "graph_store.flavor=arcadedb", "graph_store.password_env=TGRAG_TEST_BOLT_PASSWORD"])
    result = run_experiment(cfg, env / "out")
    assert result["metrics"]["errors"] == 0
    assert result["run"]["index"]["report"]["facts_added"] > 0


def test_an_unusable_cached_index_is_rebuilt(make_cfg: Callable[[Sequence[str]], DictConfig], env: Path) -> None:
    cfg = make_cfg([*FAKES, "method=bm25"])
    first = run_experiment(cfg, env / "a")
    index = Path(first["run"]["index"]["path"])
    # the live generation's vectors are lost (e.g. written by an older layout under another name)
    live = json.loads((index / "manifest.json").read_text(encoding="utf-8"))["generation"]
    vectors = GenerationFiles(index / "vectors.faiss").existing(live)
    assert vectors is not None, sorted(p.name for p in index.iterdir())
    vectors.unlink()
    second = run_experiment(cfg, env / "b")
    assert not second["run"]["index"]["reused"]
    assert second["metrics"]["retrieval"] == first["metrics"]["retrieval"]
