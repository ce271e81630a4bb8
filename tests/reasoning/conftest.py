"""Small hand-made corpora and in-memory stores for the reasoning tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from graph_index.passage_graph import PassageGraphBuilder
from tgrag.kernel.protocols import Embedder
from tgrag.kernel.records import Document, Passage
from tgrag.kernel.temporal import TimeInterval
from tgrag.stores.faiss_index import FaissVectorIndex
from tgrag.stores.networkx_store import NetworkXGraphStore
from tgrag.stores.sqlite_docs import SqliteDocumentStore
from tgrag.testing import HashingEmbedder

# The answer to "What company did the father of the director of Zorbal Nights found?" is two hops
# from the passage about the film: film -> director (Pal Gabor) -> his father (Janos Gabor).
CHAIN_CORPUS: list[tuple[str, str, str | None]] = [
    ("Zorbal Nights", "Zorbal Nights is a 1968 drama film directed by Pal Gabor.", None),
    ("Pal Gabor", "Pal Gabor was born in Budapest. His father was Janos Gabor.", None),
    ("Janos Gabor", "Janos Gabor was a chemist. The company he set up in 1920 is Acme Dyes.", None),
    ("Company registry", "A company registry lists who founded each company.", None),
    ("Father's Day", "Father's Day honours the father of a family.", None),
    ("Film directors guild", "The guild represents the director of a film.", None),
    ("Founders fund", "The fund backs people who found a company.", None),
    ("Night scenes", "Night scenes are hard for the director of a film.", None),
]

DATED_CORPUS: list[tuple[str, str, str | None]] = [
    ("Acme report 2020", "Acme Dyes was led by Maria Lind as chief executive.", "2020"),
    ("Acme report 2023", "Acme Dyes was led by Oskar Berg as chief executive.", "2023"),
    ("Acme history", "Acme Dyes makes dyes in Budapest.", None),
]


@dataclass
class Env:
    docs: SqliteDocumentStore
    vectors: FaissVectorIndex
    graph: NetworkXGraphStore
    embedder: Embedder
    builder: PassageGraphBuilder
    passages: list[Passage]

    def pid(self, title: str) -> str:
        return next(p.passage_id for p in self.passages if p.title == title)


def make_passages(rows: Sequence[tuple[str, str, str | None]]) -> tuple[list[Document], list[Passage]]:
    docs, passages = [], []
    for title, text, date in rows:
        iv = TimeInterval.from_label(date) if date else None
        doc = Document.make(text, title=title, date=iv)
        docs.append(doc)
        passages.append(Passage.make(doc, text, 0))
    return docs, passages


def build_env(rows: Sequence[tuple[str, str, str | None]], *, embedder: Embedder | None = None) -> Env:
    embedder = embedder or HashingEmbedder(256)
    docs = SqliteDocumentStore(":memory:")
    vectors = FaissVectorIndex(embedder.dim)
    graph = NetworkXGraphStore()
    documents, passages = make_passages(rows)
    docs.put(documents, passages)
    vectors.add([p.passage_id for p in passages],
                embedder.encode([f"{p.title}\n{p.text}" for p in passages]), intervals=[p.date for p in passages])
    builder = PassageGraphBuilder(graph, docs, embedder)
    builder.add(passages)
    return Env(docs, vectors, graph, embedder, builder, passages)


@pytest.fixture
def chain_env() -> Env:
    return build_env(CHAIN_CORPUS)


@pytest.fixture
def dated_env() -> Env:
    return build_env(DATED_CORPUS)
