"""Issue 14 acceptance: the whole pipeline (insert, time-scoped queries, delete) on the demo corpus
gives the same answers and citations with the passage vectors in Milvus (a real Milvus Lite
server) as in FAISS. Fakes at the model boundary only (hashing embedder, the scripted reader of the
Neo4j parity test), so any difference comes from the vector backends."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.stores.test_pipeline_backends import _run
from tests.test_facade import _llm
from tgrag.facade import TemporalGraphRAG
from tgrag.stores.milvus_index import MilvusVectorIndex
from tgrag.stores.milvus_server import MilvusLiteServer
from tgrag.testing import HashingEmbedder

pytestmark = [pytest.mark.milvus, pytest.mark.slow]


def test_same_answers_and_citations_on_faiss_and_milvus(tmp_path: Path, milvus_server: MilvusLiteServer) -> None:
    emb = HashingEmbedder()
    local = TemporalGraphRAG.open(tmp_path / "faiss", embedder=emb, llm=_llm(), show_progress=False)
    vectors = MilvusVectorIndex(emb.dim, tmp_path / "milvus" / "vectors.faiss", uri=milvus_server.uri)
    remote = TemporalGraphRAG.open(tmp_path / "milvus", embedder=emb, llm=_llm(), vector_index=vectors,
                                   show_progress=False)
    a, b = _run(local), _run(remote)
    assert a["answers"] and any(ans["citations"] for ans in a["answers"]), "the demo questions must cite passages"
    assert any(ans["scope"] for ans in a["answers"]), "the demo questions must include time-scoped ones"
    for key in ("after_insert", "after_delete"):
        assert a[key] == b[key], key
    assert json.dumps(a["answers"]) == json.dumps(b["answers"])
    assert a["answers_after_delete"] == b["answers_after_delete"]
    assert sorted(vectors.ids()) == sorted(local.vectors.ids()) and remote.generation == local.generation
    reopened = TemporalGraphRAG.open(tmp_path / "milvus", embedder=emb, llm=_llm(), show_progress=False,
                                     vector_index=MilvusVectorIndex(emb.dim, tmp_path / "milvus" / "vectors.faiss",
                                                                    uri=milvus_server.uri))
    assert sorted(reopened.vectors.ids()) == sorted(vectors.ids())  # the committed generation, from the server
    vectors.drop()
