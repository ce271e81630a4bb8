"""Every config group option composes, and builds an object implementing its protocol."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from omegaconf import DictConfig, OmegaConf

from experiments.build import (
    build_checked,
    build_embedder,
    build_extraction,
    build_llm,
    build_settings,
    graph_store_factory,
    vector_index_factory,
)
from experiments.indexing import open_or_build
from experiments.methods import Method
from experiments.runner import build_components, build_method, load_dataset_cfg, make_system
from graph_index.protocols import FactExtractor, Summariser
from tgrag.kernel.errors import ConfigError
from tgrag.kernel.protocols import LLM, Embedder, GraphStore, VectorIndex
from tgrag.stores.milvus_server import MilvusLiteServer
from tgrag.testing import HashingEmbedder, ScriptedLLM

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
FAKES = ["llm=scripted", "embedder=hashing", "dataset=demo", "dataset.limit=3", "index.show_progress=false"]


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (ROOT / "conf" / group).glob("*.yaml"))


# options whose mandatory values (???) a user supplies on the command line
REQUIRED = {("llm", "transformers"): ["llm.model=some/local-model"], ("llm", "openai"): ["llm.model=m"],
            # the RAG generators read log-probabilities: the table fake has them, the scripted LLM not
            ("method", "tgrag_rag_sequence"): ["llm=table"], ("method", "tgrag_rag_token"): ["llm=table"]}


def test_every_group_has_options() -> None:
    for group in ("dataset", "method", "llm", "embedder", "graph_store", "vector_index", "extraction",
                  "reasoning", "eval", "paths", "hydra", "debug", "experiment", "protocol"):
        assert options(group), group


@pytest.mark.parametrize("option", options("llm"))
def test_llm_options(make_cfg: Callable[[Sequence[str]], DictConfig], option: str) -> None:
    cfg = make_cfg([f"llm={option}", *REQUIRED.get(("llm", option), [])])
    inner = build_checked(cfg.llm, LLM, "llm")  # constructing never loads weights
    assert isinstance(inner, LLM)
    wrapped = build_llm(cfg)
    assert isinstance(wrapped, LLM) and wrapped.cache_stats() == {"hits": 0, "misses": 0, "writes": 0}


@pytest.mark.parametrize("option", options("embedder"))
def test_embedder_options(make_cfg: Callable[[Sequence[str]], DictConfig], option: str) -> None:
    assert isinstance(build_embedder(make_cfg([f"embedder={option}"])), Embedder)


def test_graph_store_networkx(make_cfg: Callable[[Sequence[str]], DictConfig], tmp_path: Path) -> None:
    store = graph_store_factory(make_cfg(["graph_store=networkx"]))(tmp_path)
    assert isinstance(store, GraphStore)


@pytest.mark.neo4j
def test_graph_store_neo4j(make_cfg: Callable[[Sequence[str]], DictConfig], bolt: dict[str, str],
                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TGRAG_TEST_BOLT_PASSWORD", bolt["password"])
    cfg = make_cfg(["graph_store=neo4j", f"graph_store.uri={bolt['uri']}", f"graph_store.user={bolt['user']}",
                    f"graph_store.database={bolt['database']}", "graph_store.flavor=arcadedb",
                    "graph_store.password_env=TGRAG_TEST_BOLT_PASSWORD"])
    store = graph_store_factory(cfg)(None)
    assert isinstance(store, GraphStore)
    store.close()


def test_graph_store_neo4j_without_password_names_the_group(make_cfg: Callable[[Sequence[str]], DictConfig],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TGRAG_UNSET_PASSWORD", raising=False)
    cfg = make_cfg(["graph_store=neo4j", "graph_store.password_env=TGRAG_UNSET_PASSWORD"])
    with pytest.raises(ConfigError, match="graph_store.*TGRAG_UNSET_PASSWORD"):
        graph_store_factory(cfg)(None)


@pytest.mark.parametrize("option", [o for o in options("vector_index") if o != "milvus"])
def test_vector_index_options(make_cfg: Callable[[Sequence[str]], DictConfig], option: str, tmp_path: Path) -> None:
    assert isinstance(vector_index_factory(make_cfg([f"vector_index={option}"]))(8, tmp_path), VectorIndex)


@pytest.mark.milvus
def test_vector_index_milvus(make_cfg: Callable[[Sequence[str]], DictConfig], milvus_server: MilvusLiteServer,
                             tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tgrag.stores.milvus_index import MilvusVectorIndex, collection_for

    monkeypatch.setenv("TGRAG_TEST_MILVUS_TOKEN", "root:Milvus")
    cfg = make_cfg(["vector_index=milvus", f"vector_index.uri={milvus_server.uri}",
                    "vector_index.token_env=TGRAG_TEST_MILVUS_TOKEN"])
    index = vector_index_factory(cfg)(8, tmp_path)
    assert isinstance(index, VectorIndex) and isinstance(index, MilvusVectorIndex)
    assert index.collection == collection_for(tmp_path) and index.dim == 8
    index.drop()
    index.close()


@pytest.mark.parametrize("option", options("extraction"))
def test_extraction_options(make_cfg: Callable[[Sequence[str]], DictConfig], option: str) -> None:
    ex = build_extraction(make_cfg([f"extraction={option}"]), ScriptedLLM(default="[]"), HashingEmbedder(32))
    assert ex.extractor is None or isinstance(ex.extractor, FactExtractor)
    assert ex.summariser is None or isinstance(ex.summariser, Summariser)
    assert (ex.extractor is None) == (option == "none")


def test_passage_graph_options_reach_the_builder_and_key_the_index(make_cfg: Callable[[Sequence[str]], DictConfig]
                                                                    ) -> None:
    from experiments.build import indexing_config
    from experiments.indexing import index_key
    from tgrag.facade import TemporalGraphRAG

    cfg = make_cfg(["extraction=spacy", "extraction.passage_graph_options.max_edges_per_query=7"])
    ex = build_extraction(cfg, ScriptedLLM(default="[]"), HashingEmbedder(32))
    assert ex.passage_graph_options == {"threshold": 0.8, "max_edges_per_query": 7}
    rag = TemporalGraphRAG.open(None, embedder=HashingEmbedder(32), llm=ScriptedLLM(), knowledge_graph=False,
                                passage_graph_options=ex.passage_graph_options)
    assert rag.passage_graph.max_edges_per_query == 7
    default = make_cfg(["extraction=spacy"])
    assert index_key(indexing_config(cfg), "c") != index_key(indexing_config(default), "c")
    with pytest.raises(ConfigError, match="passage_graph_options.*max_edge_per_query"):
        build_extraction(make_cfg(["extraction=spacy", "+extraction.passage_graph_options.max_edge_per_query=3"]),
                         ScriptedLLM(default="[]"), HashingEmbedder(32))


@pytest.mark.parametrize("option", options("reasoning"))
def test_reasoning_options(make_cfg: Callable[[Sequence[str]], DictConfig], option: str) -> None:
    from reasoning.assembly import build_query_side
    from reasoning.reader import Reader
    from reasoning.settings import ReasoningSettings

    cfg = make_cfg([f"reasoning={option}"])
    settings = build_settings(cfg)
    assert isinstance(settings, ReasoningSettings)
    assert isinstance(build_settings(cfg, {"use_walk": False}), ReasoningSettings)
    with pytest.raises(ConfigError, match="unknown reasoning settings"):
        build_settings(cfg, {"use_teleport": True})
    # the one assembler builds the reader from the same settings object
    from tgrag.stores.faiss_index import FaissVectorIndex
    from tgrag.stores.networkx_store import NetworkXGraphStore
    from tgrag.stores.sqlite_docs import SqliteDocumentStore

    emb = HashingEmbedder(32)
    side = build_query_side(SqliteDocumentStore(":memory:"), FaissVectorIndex(32), NetworkXGraphStore(None), emb,
                            ScriptedLLM(), settings=settings)
    assert isinstance(side.reader, Reader)
    assert side.reader.max_evidence_tokens == settings.max_evidence_tokens


@pytest.mark.parametrize("option", options("dataset"))
def test_dataset_options(make_cfg: Callable[[Sequence[str]], DictConfig], option: str) -> None:
    if option != "demo" and not (DATA / option).is_dir():
        pytest.skip(f"shared evaluation data not present at {DATA / option}")
    ds = load_dataset_cfg(make_cfg([f"dataset={option}", "dataset.limit=3"]))
    assert len(ds.questions) == 3 and ds.documents
    assert ds.name == option


@pytest.mark.parametrize("group", ["eval", "paths", "protocol", "debug", "experiment"])
def test_plain_groups_compose_and_resolve(make_cfg: Callable[[Sequence[str]], DictConfig], group: str) -> None:
    for option in options(group):
        cfg = make_cfg([f"{group}={option}"])
        resolved = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
        assert isinstance(resolved, dict) and "method" in resolved


def test_build_rejects_the_wrong_kind_of_object(make_cfg: Callable[[Sequence[str]], DictConfig]) -> None:
    cfg = make_cfg(["embedder=hashing", "embedder._target_=tgrag.testing.ScriptedLLM", "~embedder.dim"])
    with pytest.raises(ConfigError, match="'embedder'.*does not implement Embedder"):
        build_embedder(cfg)
    cfg = make_cfg(["llm=scripted", "llm._target_=no.such.Module"])
    with pytest.raises(ConfigError, match="'llm'.*no.such.Module"):
        build_llm(cfg)


@pytest.fixture(scope="module")
def demo_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[DictConfig], Any]]:
    """A demo index built once with the fakes; ``make(cfg)`` gives a System for a config."""
    opened: list[Any] = []

    def make(cfg: DictConfig) -> Any:
        comps = build_components(cfg)
        ds = load_dataset_cfg(cfg)
        rag, _ = open_or_build(comps, ds.documents, cache_root=tmp_path_factory.getbasetemp() / "idx",
                               name="demo", reuse=True)
        opened.append(rag)
        return make_system(cfg, rag, comps)

    yield make
    for rag in opened:
        rag.close()


@pytest.mark.parametrize("option", options("method"))
def test_method_options(make_cfg: Callable[[Sequence[str]], DictConfig], demo_system: Callable[[DictConfig], Any],
                        option: str) -> None:
    cfg = make_cfg([*FAKES, f"method={option}", *REQUIRED.get(("method", option), [])])
    method = build_method(cfg, demo_system(cfg))
    assert isinstance(method, Method) and method.name == option
