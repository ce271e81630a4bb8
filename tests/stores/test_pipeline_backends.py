"""Issue #6 acceptance: the whole pipeline (insert, time-scoped query, delete) on the demo corpus
gives the same answers and citations on the Neo4j backend (real Bolt server) as on networkx.

The models are the fakes (hashing embedder, a scripted reader that reads back its first evidence
line), so any difference comes from the graph backends; extraction (spaCy), the knowledge graph,
time tree, passage graph and reasoning loop are the real ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.test_facade import _llm, snapshot
from tgrag.demo import _scope_kwargs, demo_data_dir
from tgrag.facade import TemporalGraphRAG
from tgrag.ingest import iter_jsonl, load_jsonl_documents
from tgrag.stores.neo4j_store import Neo4jGraphStore
from tgrag.testing import HashingEmbedder

pytestmark = [pytest.mark.neo4j, pytest.mark.slow]


def _run(rag: TemporalGraphRAG) -> dict[str, Any]:
    docs = load_jsonl_documents(demo_data_dir() / "docs.jsonl")
    questions = [row for _, row in iter_jsonl(demo_data_dir() / "questions.jsonl")]
    rag.insert(docs)
    out: dict[str, Any] = {"after_insert": snapshot(rag), "answers": []}
    for q in questions:
        ans = rag.query(q["question"], **_scope_kwargs(q))
        out["answers"].append({"q": q["id"], "text": ans.text, "abstained": ans.abstained,
                               "citations": [c.ref_id for c in ans.citations],
                               "scope": ans.time_scope.to_dict() if ans.time_scope else None})
    rag.delete(docs[1].doc_id)
    out["after_delete"] = snapshot(rag)
    out["answers_after_delete"] = [rag.query(q["question"], **_scope_kwargs(q)).text for q in questions[:6]]
    return out


def test_same_answers_and_citations_on_networkx_and_bolt(tmp_path: Path, neo4j_store: Neo4jGraphStore) -> None:
    local = TemporalGraphRAG.open(tmp_path / "nx", embedder=HashingEmbedder(), llm=_llm(), show_progress=False)
    remote = TemporalGraphRAG.open(tmp_path / "bolt", embedder=HashingEmbedder(), llm=_llm(),
                                   graph_store=neo4j_store, show_progress=False)
    a, b = _run(local), _run(remote)
    assert a["after_insert"]["facts"], "the demo corpus must yield facts"
    assert a["after_insert"]["hops"], "the demo corpus must yield passage hops"
    for key in ("after_insert", "after_delete"):
        assert a[key] == b[key], key
    assert json.dumps(a["answers"]) == json.dumps(b["answers"])
    assert a["answers_after_delete"] == b["answers_after_delete"]
