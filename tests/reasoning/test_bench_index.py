"""The retrieval benchmark measures the product's own index: the one ``TemporalGraphRAG`` builds."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from reasoning.settings import ReasoningSettings
from tests.bench_scripts import load_bench
from tgrag.facade import TemporalGraphRAG
from tgrag.ingest import document_from_row
from tgrag.testing import HashingEmbedder, ScriptedLLM

ROWS = [
    {"id": "Zorbal Nights#0", "title": "Zorbal Nights",
     "text": "Zorbal Nights is a 1968 drama film directed by Pal Gabor. It was shot in Budapest."},
    {"id": "Pal Gabor#0", "title": "Pal Gabor",
     "text": "Pal Gabor was a Hungarian director born in Budapest. His father was Janos Gabor."},
    {"id": "Janos Gabor#0", "title": "Janos Gabor",
     "text": "Janos Gabor was a chemist who founded Acme Dyes in Budapest in 1920."},
    {"id": "Acme Dyes#0", "title": "Acme Dyes", "text": "Acme Dyes is a Hungarian maker of textile dyes."},
]


def _bench() -> ModuleType:
    return load_bench("retrieval")


def _snapshot(rag: Any) -> dict[str, Any]:
    g = rag.graph
    docs = sorted(rag.docs.document_ids())
    return {
        "passages": sorted(json.dumps(p.to_dict(), sort_keys=True) for d in docs for p in rag.docs.passages_of(d)),
        "vectors": sorted(rag.vectors.ids()),
        "entities": sorted(json.dumps(e.to_dict(), sort_keys=True) for e in g.entities()),
        "facts": sorted(json.dumps(f.to_dict(), sort_keys=True) for f in g.facts()),
        "time_nodes": sorted(json.dumps(t.to_dict(), sort_keys=True) for t in g.time_nodes()),
        "hops": sorted(json.dumps(h.to_dict(), sort_keys=True) for h in g.hops()),
    }


def test_the_benchmark_index_equals_the_facades_index(tmp_path: Path) -> None:
    bench = _bench()
    documents = bench.corpus_documents(ROWS)
    built, info = bench.open_index(documents, tmp_path / "idx", embedder=HashingEmbedder(), show_progress=False)
    facade = TemporalGraphRAG.open(None, embedder=HashingEmbedder(), llm=ScriptedLLM(), show_progress=False)
    facade.insert([document_from_row(r) for r in ROWS])
    expected = _snapshot(facade)
    assert _snapshot(built) == expected
    assert expected["entities"] and expected["hops"]  # the passage graph with its KG entities
    assert info["passages"] == len(expected["passages"])
    built.close()
    reopened, _ = bench.open_index(documents, tmp_path / "idx", embedder=HashingEmbedder(), show_progress=False)
    assert _snapshot(reopened) == expected  # the cached index is the same index
    # the benchmark's retrievers run over that index's stores; rankings are read as document ids
    side = bench.build_query_side(reopened.docs, reopened.vectors, reopened.graph, HashingEmbedder(), None,
                                  settings=ReasoningSettings(), indexer=reopened.indexer)
    assert side.ppr.index_graph().n_passages == len(expected["passages"])
    ranked = bench.ranked_docs(side, "fusion", "Who founded Acme Dyes?", 3)
    assert len(ranked) == 3 and set(ranked) <= {r["id"] for r in ROWS}


def test_the_split_is_stable_and_cached_embeddings_are_the_embedders(tmp_path: Path) -> None:
    bench = _bench()
    ids = [f"q{i}" for i in range(200)]
    halves = [bench.half_of(i) for i in ids]
    assert halves == [bench.half_of(i) for i in ids]
    assert 70 < halves.count("tune") < 130
    cached = bench.CachedEmbedder(HashingEmbedder(), tmp_path / "v.npz")
    vecs = cached.encode(["a b", "c d"], kind="query")
    cached.save()
    again = bench.CachedEmbedder(HashingEmbedder(), tmp_path / "v.npz")
    assert np.allclose(again.encode(["c d", "a b"], kind="query"), vecs[::-1])
    assert np.allclose(vecs, HashingEmbedder().encode(["a b", "c d"], kind="query"))
    assert bench.recall_at(["x", "y", "z"], ["y", "w"], 2) == 0.5
    # key embeddings of an index stand in for embedding the same texts again
    from tgrag.stores.faiss_index import FaissVectorIndex

    keys = FaissVectorIndex(HashingEmbedder().dim)
    keys.add(["key:pal gabor", "other"], HashingEmbedder().encode(["pal gabor", "x"], kind="query"))
    fresh = bench.CachedEmbedder(HashingEmbedder())
    assert fresh.prefill(keys) == 1
    assert np.allclose(fresh.encode(["pal gabor"], kind="query"),
                       HashingEmbedder().encode(["pal gabor"], kind="query"), atol=1e-6)


def test_settings_round_trip_through_a_results_file_walk_included() -> None:
    bench = _bench()
    tuned = bench.walk_grid(ReasoningSettings())[-1]  # 3 seeds, beam 3, 3 rounds, lead 2
    back = bench.settings_from(json.loads(json.dumps({"settings": bench.describe(tuned)})))
    assert (back.seeds, back.beam, back.hops, back.walk_lead) == (3, 3, 3, 2)
    assert back.ppr == tuned.ppr and back.fusion == tuned.fusion


def test_results_from_before_walk_lead_read_as_lead_zero() -> None:
    bench = _bench()
    d = bench.describe(ReasoningSettings())
    del d["walk"]["lead"]
    assert bench.settings_from(d).walk_lead == 0
    assert bench.METHODS["walk"][1](ReasoningSettings()).walk_lead == 0  # the walk method is HopRAG's order
    assert bench.METHODS["walk_lead"][1](ReasoningSettings(walk_lead=0)).walk_lead == 1
