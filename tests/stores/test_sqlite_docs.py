"""SqliteDocumentStore: atomic put, ordering, date filtering, delete."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tgrag.kernel import Document, InputError, Passage, TimeInterval
from tgrag.kernel.protocols import DocumentStore
from tgrag.kernel.temporal import Granularity
from tgrag.stores.sqlite_docs import SqliteDocumentStore


def _doc(text: str, label: str | None, **kw: object) -> tuple[Document, list[Passage]]:
    date = TimeInterval.from_label(label) if label else None
    doc = Document.make(text, date=date, title=f"title {text[:5]}", **kw)  # type: ignore[arg-type]
    return doc, [Passage.make(doc, part, i) for i, part in enumerate(text.split(". "))]


@pytest.fixture
def store(tmp_path: Path) -> SqliteDocumentStore:
    return SqliteDocumentStore(tmp_path / "docs.sqlite")


def test_protocol_round_trip(store: SqliteDocumentStore) -> None:
    assert isinstance(store, DocumentStore)
    doc, psgs = _doc("Alpha one. Alpha two. Alpha three", "2021-07", meta={"src": "x", "n": [1, 2]})
    store.put([doc], psgs)
    assert store.get_document(doc.doc_id) == doc
    assert store.get_document("doc:none") is None
    assert store.passages_of(doc.doc_id) == psgs
    assert store.count() == (1, 3)
    assert store.document_ids() == [doc.doc_id]
    assert store.get_passages([psgs[2].passage_id, "psg:none", psgs[0].passage_id]) == [psgs[2], psgs[0]]


def test_exact_dates_and_undated(tmp_path: Path) -> None:
    store = SqliteDocumentStore(":memory:")
    iv = TimeInterval(datetime(2020, 5, 6, 7, 8, 9, 123456, tzinfo=UTC), None, Granularity.INSTANT)
    doc = Document.make("Exact text", date=iv)
    und, und_p = _doc("No date here", None)
    store.put([doc, und], [Passage.make(doc, "Exact text", 0), *und_p])
    back = store.get_document(doc.doc_id)
    assert back is not None and back.date == iv and back.date.start is not None
    assert back.date.start.tzinfo is UTC and back.date.granularity is Granularity.INSTANT
    assert store.get_document(und.doc_id) == und
    store.close()


def test_put_is_atomic_when_a_passage_fails(store: SqliteDocumentStore) -> None:
    good, good_p = _doc("Good doc. With two", "2020")
    bad = Passage("psg:orphan", "doc:missing", "orphan", 0)
    with pytest.raises(InputError, match="psg:orphan"):
        store.put([good], [*good_p, bad])
    assert store.count() == (0, 0) and store.get_document(good.doc_id) is None


def test_put_is_atomic_when_the_database_fails_mid_batch(tmp_path: Path) -> None:
    path = tmp_path / "docs.sqlite"
    store = SqliteDocumentStore(path)
    first, first_p = _doc("First doc. Kept", "2019")
    store.put([first], first_p)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TRIGGER boom BEFORE INSERT ON passages WHEN NEW.position = 2 "
                 "BEGIN SELECT RAISE(ABORT, 'injected failure'); END")
    conn.commit()
    conn.close()
    doc, psgs = _doc("One. Two. Three. Four", "2020")
    with pytest.raises(InputError, match="injected failure"):
        store.put([doc], psgs)
    assert store.count() == (1, 2)
    assert store.get_document(doc.doc_id) is None and store.get_passages([p.passage_id for p in psgs]) == []


def test_put_rejects_unserialisable_meta(store: SqliteDocumentStore) -> None:
    doc = Document("doc:x", "text", None, "", {"bad": object()})
    with pytest.raises(InputError, match="doc:x"):
        store.put([doc], [])
    assert store.count() == (0, 0)


def test_upsert_replaces(store: SqliteDocumentStore) -> None:
    doc, psgs = _doc("Same doc. Two parts", "2020")
    store.put([doc], psgs)
    newer = Document(doc.doc_id, "changed", TimeInterval.from_label("2021"), "t2", {"v": 2})
    store.put([newer], [Passage(psgs[0].passage_id, doc.doc_id, "changed", 0, newer.date, "t2")])
    store.put([newer], [])
    assert store.get_document(doc.doc_id) == newer
    assert store.count() == (1, 2) and store.passages_of(doc.doc_id)[0].text == "changed"


def test_iter_passages_during_overlap(store: SqliteDocumentStore) -> None:
    y2020, p2020 = _doc("Year doc. In 2020", "2020")
    m2021, p2021 = _doc("Month doc", "2021-03")
    und, pund = _doc("Undated doc", None)
    since = Document.make("Open ended", date=TimeInterval(datetime(2022, 1, 1, tzinfo=UTC), None))
    psince = [Passage.make(since, "Open ended", 0)]
    store.put([y2020, m2021, und, since], [*p2020, *p2021, *pund, *psince])

    def ids(during: TimeInterval | None) -> set[str]:
        return {p.passage_id for p in store.iter_passages(during=during)}

    assert ids(None) == {p.passage_id for p in [*p2020, *p2021, *pund, *psince]}
    assert ids(TimeInterval.from_label("2020")) == {p.passage_id for p in p2020}
    assert ids(TimeInterval.from_label("2021")) == {p2021[0].passage_id}
    assert ids(TimeInterval.from_label("2021-04")) == set()  # half-open: March ends at April 1
    assert ids(TimeInterval.from_label("2021-02")) == set()
    assert ids(TimeInterval(None, datetime(2020, 1, 1, tzinfo=UTC))) == set()
    assert ids(TimeInterval(datetime(2030, 1, 1, tzinfo=UTC), None)) == {psince[0].passage_id}
    assert ids(TimeInterval(None, None)) == {p.passage_id for p in [*p2020, *p2021, *psince]}


def test_delete_document_returns_passage_ids(store: SqliteDocumentStore) -> None:
    a, pa = _doc("Doc A. Part two", "2020")
    b, pb = _doc("Doc B", "2020")
    store.put([a, b], [*pa, *pb])
    assert store.delete_document(a.doc_id) == [p.passage_id for p in pa]
    assert store.delete_document(a.doc_id) == []
    assert store.count() == (1, 1) and store.document_ids() == [b.doc_id]


def test_persists_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "docs.sqlite"
    doc, psgs = _doc("Kept doc. Across reopen", "2020-Q2")
    first = SqliteDocumentStore(path)
    first.put([doc], psgs)
    first.close()
    again = SqliteDocumentStore(path)
    assert again.get_document(doc.doc_id) == doc and again.passages_of(doc.doc_id) == psgs
