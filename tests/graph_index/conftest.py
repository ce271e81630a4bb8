"""Fixtures for graph_index tests: real stores, HashingEmbedder, and an LLM extractor driven by a
ScriptedLLM (the fake sits at the model boundary) that reads "subject | predicate | object | time"
lines of a passage as the model's answer."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import pytest

from graph_index.extract_llm import LLMFactExtractor
from graph_index.indexer import GraphIndexer
from tgrag.kernel.records import Document, LLMRequest, Passage
from tgrag.kernel.timeparse import parse_document_date
from tgrag.stores.networkx_store import NetworkXGraphStore
from tgrag.stores.sqlite_docs import SqliteDocumentStore
from tgrag.testing import HashingEmbedder, ScriptedLLM


def triples_reply(request: LLMRequest) -> str:
    """The scripted model's answer: every 'S | P | O | time' line of the passage as a JSON fact."""
    prompt = request.messages[-1].content
    passage = prompt.rsplit("Passage", 1)[1].split(":", 1)[1].rsplit("Output:", 1)[0]
    facts = []
    for line in passage.strip().splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 4:
            s, p, o, t = parts
            literal = o.startswith("$")
            facts.append({"subject": s, "predicate": p, "object": o, "object_is_entity": not literal,
                          "time": t or None})
    return json.dumps({"facts": facts})


def make_doc(doc_id: str, lines: Sequence[str], date: str | None = None) -> tuple[Document, list[Passage]]:
    doc = Document.make("\n".join(lines), date=parse_document_date(date), doc_id=doc_id, title=doc_id)
    return doc, [Passage.make(doc, "\n".join(lines), 0)]


class Env:
    def __init__(self) -> None:
        self.graph = NetworkXGraphStore()
        self.docs = SqliteDocumentStore(":memory:")
        self.llm = ScriptedLLM([triples_reply])
        self.indexer = GraphIndexer(self.graph, self.docs, HashingEmbedder(),
                                    extractor=LLMFactExtractor(self.llm), show_progress=False)
        self.passages: dict[str, list[Passage]] = {}

    def add(self, doc_id: str, lines: Sequence[str], date: str | None = None):  # noqa: ANN201
        doc, ps = make_doc(doc_id, lines, date)
        self.docs.put([doc], ps)
        self.passages[doc_id] = ps
        return self.indexer.add(ps)

    def delete(self, doc_id: str):  # noqa: ANN201
        ps = self.passages.pop(doc_id)
        report = self.indexer.remove(ps)
        self.docs.delete_document(doc_id)
        return report

    def state(self) -> dict:
        g = self.graph.to_dict()
        return {k: sorted(json.dumps(x, sort_keys=True) for x in v) if isinstance(v, list) else v
                for k, v in g.items()}


@pytest.fixture
def env() -> Env:
    return Env()


@pytest.fixture
def env_factory() -> Callable[[], Env]:
    return Env
