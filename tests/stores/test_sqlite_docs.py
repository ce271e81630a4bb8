"""SqliteDocumentStore: the DocumentStore contract, plus SQLite's own atomicity, exact dates,
persistence, and the scope queries' use of the date indexes."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.stores.document_contract import DocumentStoreContract, dated, make_doc
from tgrag.kernel import Document, InputError, Passage, TimeInterval
from tgrag.kernel.temporal import Granularity
from tgrag.stores.sqlite_docs import SqliteDocumentStore


class TestSqliteDocumentStore(DocumentStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> SqliteDocumentStore:
        return SqliteDocumentStore(tmp_path / "docs.sqlite")


def test_exact_dates_and_undated(tmp_path: Path) -> None:
    store = SqliteDocumentStore(":memory:")
    iv = TimeInterval(datetime(2020, 5, 6, 7, 8, 9, 123456, tzinfo=UTC), None, Granularity.INSTANT)
    doc = Document.make("Exact text", date=iv)
    und, und_p = make_doc("No date here", None)
    store.put([doc, und], [Passage.make(doc, "Exact text", 0), *und_p])
    back = store.get_document(doc.doc_id)
    assert back is not None and back.date == iv and back.date.start is not None
    assert back.date.start.tzinfo is UTC and back.date.granularity is Granularity.INSTANT
    assert store.get_document(und.doc_id) == und
    store.close()


def test_put_is_atomic_when_the_database_fails_mid_batch(tmp_path: Path) -> None:
    path = tmp_path / "docs.sqlite"
    store = SqliteDocumentStore(path)
    first, first_p = make_doc("First doc. Kept", "2019")
    store.put([first], first_p)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TRIGGER boom BEFORE INSERT ON passages WHEN NEW.position = 2 "
                 "BEGIN SELECT RAISE(ABORT, 'injected failure'); END")
    conn.commit()
    conn.close()
    doc, psgs = make_doc("One. Two. Three. Four", "2020")
    with pytest.raises(InputError, match="injected failure"):
        store.put([doc], psgs)
    assert store.count() == (1, 2)
    assert store.get_document(doc.doc_id) is None and store.get_passages([p.passage_id for p in psgs]) == []


def test_persists_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "docs.sqlite"
    doc, psgs = make_doc("Kept doc. Across reopen", "2020-Q2")
    first = SqliteDocumentStore(path)
    first.put([doc], psgs)
    first.close()
    again = SqliteDocumentStore(path)
    assert again.get_document(doc.doc_id) == doc and again.passages_of(doc.doc_id) == psgs


def test_scope_queries_search_the_date_indexes(tmp_path: Path) -> None:
    """Every statement behind ``passage_ids_in`` / ``scope_excludes`` searches an index (SQLite's
    plan says SEARCH ... INDEX, never SCAN passages)."""
    store = SqliteDocumentStore(tmp_path / "docs.sqlite")
    statements: list[str] = []
    store._conn.set_trace_callback(statements.append)
    for scope in (TimeInterval.from_label("2020"), TimeInterval(None, datetime(2000, 1, 1, tzinfo=UTC)),
                  TimeInterval(datetime(2000, 1, 1, tzinfo=UTC), None), TimeInterval(None, None)):
        for keep in (False, True):
            store.passage_ids_in(scope, keep_undated=keep)
            store.passage_ids_in(scope, keep_undated=keep, limit=1)
            store.scope_excludes(scope, keep_undated=keep)
    store._conn.set_trace_callback(None)
    plans = [row[3] for sql in set(statements) if sql.lstrip().upper().startswith("SELECT")
             for row in store._conn.execute("EXPLAIN QUERY PLAN " + sql)]  # parameters come expanded
    assert plans and not [p for p in plans if p.startswith("SCAN")], plans
    assert any("passages_start" in p for p in plans) and any("passages_end" in p for p in plans)


def test_an_index_written_before_the_date_indexes_gets_them(tmp_path: Path) -> None:
    path = tmp_path / "docs.sqlite"
    store = SqliteDocumentStore(path)
    doc, psgs = dated("Old index", TimeInterval.from_label("2020"))
    store.put([doc], psgs)
    store.close()
    conn = sqlite3.connect(path)
    conn.executescript("DROP INDEX passages_start; DROP INDEX passages_end; "
                       "CREATE INDEX passages_date ON passages(dated, date_start);")
    conn.close()
    again = SqliteDocumentStore(path)
    names = {r[0] for r in again._conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"passages_start", "passages_end"} <= names and "passages_date" not in names
    assert again.passage_ids_in(TimeInterval.from_label("2020-05")) == {psgs[0].passage_id}
