"""Documents and passages in SQLite. ``put`` is one transaction: all of a batch or nothing.

Dates are stored as integer microseconds since the epoch (UTC; exact, and ordered like the
datetimes) plus the granularity; ``dated = 0`` marks an undated record (a date may also be unbounded
on one side, which is a NULL start or end with ``dated = 1``). Passages reference their document
(foreign key), so a passage whose document is neither stored nor in the same batch fails the batch.

It is also the index's ``CommitLog``: table ``tg_meta`` holds the live generation and
``tg_journal`` the batch of a write in progress. ``begin`` commits the journal entry, then holds
one write transaction open for the whole logical write (puts and deletes inside it are savepoints;
other connections keep seeing the last committed generation); ``commit`` bumps the generation and
clears the journal in that same transaction. ``snapshot`` pins this connection's reads to the
committed state in a read transaction (WAL), so a reader's documents stay those of the generation
its other stores loaded until it takes a new snapshot.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tgrag.kernel.batch import WriteBatch
from tgrag.kernel.errors import InputError, StoreError
from tgrag.kernel.records import Document, Passage
from tgrag.kernel.temporal import Granularity, TimeInterval
from tgrag.stores.fact_rules import dt_to_micros, micros_to_dt

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    doc_id      TEXT PRIMARY KEY,
    text        TEXT NOT NULL,
    title       TEXT NOT NULL DEFAULT '',
    dated       INTEGER NOT NULL DEFAULT 0,
    date_start  INTEGER,
    date_end    INTEGER,
    granularity TEXT,
    meta        TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS passages (
    passage_id  TEXT PRIMARY KEY,
    doc_id      TEXT NOT NULL REFERENCES documents(doc_id),
    position    INTEGER NOT NULL,
    text        TEXT NOT NULL,
    title       TEXT NOT NULL DEFAULT '',
    dated       INTEGER NOT NULL DEFAULT 0,
    date_start  INTEGER,
    date_end    INTEGER,
    granularity TEXT
);
CREATE INDEX IF NOT EXISTS passages_doc ON passages(doc_id, position);
CREATE TABLE IF NOT EXISTS tg_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tg_journal (generation INTEGER PRIMARY KEY, batch TEXT NOT NULL);
"""

# Covering indexes for time scopes (``passage_ids_in``): one ordered by start, one by end, so a
# scope near either end of the corpus's time span reads only the index entries near it.
_DATE_INDEXES = {
    "passages_start": "CREATE INDEX IF NOT EXISTS passages_start ON passages(dated, date_start, date_end, passage_id)",
    "passages_end": "CREATE INDEX IF NOT EXISTS passages_end ON passages(dated, date_end, date_start, passage_id)",
}

_DOC_UPSERT = """
INSERT INTO documents (doc_id, text, title, dated, date_start, date_end, granularity, meta)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(doc_id) DO UPDATE SET text = excluded.text, title = excluded.title,
    dated = excluded.dated, date_start = excluded.date_start, date_end = excluded.date_end,
    granularity = excluded.granularity, meta = excluded.meta
"""

_PSG_UPSERT = """
INSERT INTO passages (passage_id, doc_id, position, text, title, dated, date_start, date_end, granularity)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(passage_id) DO UPDATE SET doc_id = excluded.doc_id, position = excluded.position,
    text = excluded.text, title = excluded.title, dated = excluded.dated,
    date_start = excluded.date_start, date_end = excluded.date_end, granularity = excluded.granularity
"""

_PSG_COLS = "passage_id, doc_id, position, text, title, dated, date_start, date_end, granularity"


class SqliteDocumentStore:
    """DocumentStore on SQLite; ``path`` may be ``":memory:"``."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, isolation_level=None, timeout=60.0)
        self._conn.execute("PRAGMA foreign_keys = ON")
        if self.path != ":memory:":
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = FULL")  # a commit is on disk when it returns
        if self._conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'tg_journal'").fetchone()[0] == 0:
            self._conn.executescript(_SCHEMA)
        _ensure_date_indexes(self._conn)
        self._in_tx = False

    # -- writes -----------------------------------------------------------------------------------
    def put(self, documents: Sequence[Document], passages: Sequence[Passage]) -> None:
        """Upsert documents and passages in one transaction (any failure writes nothing)."""
        doc_rows = [_doc_row(d) for d in documents]
        cur = self._start()
        try:
            _put(cur, doc_rows, passages)
        except BaseException:
            self._undo(cur)
            raise
        self._finish(cur)

    def delete_document(self, doc_id: str) -> list[str]:
        cur = self._start()
        try:
            removed = _delete(cur, doc_id)
        except BaseException:
            self._undo(cur)
            raise
        self._finish(cur)
        return removed

    def _start(self) -> sqlite3.Cursor:
        self._unpin()
        cur = self._conn.cursor()
        cur.execute("SAVEPOINT tg_op" if self._in_tx else "BEGIN IMMEDIATE")
        return cur

    def _undo(self, cur: sqlite3.Cursor) -> None:
        cur.execute("ROLLBACK TO tg_op" if self._in_tx else "ROLLBACK")
        if self._in_tx:
            cur.execute("RELEASE tg_op")

    def _finish(self, cur: sqlite3.Cursor) -> None:
        cur.execute("RELEASE tg_op" if self._in_tx else "COMMIT")

    # -- commit protocol (CommitLog) --------------------------------------------------------------
    def generation(self) -> int:
        row = self._conn.execute("SELECT value FROM tg_meta WHERE key = 'generation'").fetchone()
        return int(row[0]) if row else 0

    def snapshot(self) -> int:
        if self._in_tx:
            raise StoreError(f"{self.path}: cannot pin reads while a write transaction is open")
        self._unpin()
        self._conn.execute("BEGIN")
        return self.generation()  # the first read starts the snapshot

    def _unpin(self) -> None:
        if self._conn.in_transaction and not self._in_tx:
            self._conn.execute("COMMIT")

    def begin(self, batch: WriteBatch) -> None:
        if self._in_tx:
            raise StoreError(f"{self.path}: a write transaction is already open")
        self._unpin()
        payload = json.dumps(batch.to_dict(), ensure_ascii=False)
        cur = self._conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            cur.execute("DELETE FROM tg_journal")
            cur.execute("INSERT INTO tg_journal (generation, batch) VALUES (?, ?)", (batch.generation, payload))
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        cur.execute("COMMIT")
        cur.execute("BEGIN IMMEDIATE")
        self._in_tx = True

    def commit(self, generation: int) -> None:
        if not self._in_tx:
            raise StoreError(f"{self.path}: no write transaction to commit")
        cur = self._conn.cursor()
        _set_generation(cur, generation)
        cur.execute("COMMIT")
        self._in_tx = False

    def abort(self) -> None:
        if self._in_tx:
            self._in_tx = False
            self._conn.execute("ROLLBACK")

    def pending(self) -> WriteBatch | None:
        row = self._conn.execute("SELECT batch FROM tg_journal ORDER BY generation DESC LIMIT 1").fetchone()
        return WriteBatch.from_dict(json.loads(row[0])) if row else None

    def resolve(self, batch: WriteBatch, *, forward: bool) -> None:
        self._unpin()
        cur = self._conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            if forward:
                for doc_id in batch.deleted:
                    _delete(cur, doc_id)
                _put(cur, [_doc_row(d) for d in batch.documents], batch.passages)
                _set_generation(cur, batch.generation)
            else:
                cur.execute("DELETE FROM tg_journal")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        cur.execute("COMMIT")

    # -- reads ------------------------------------------------------------------------------------
    def get_document(self, doc_id: str) -> Document | None:
        row = self._conn.execute(
            "SELECT doc_id, text, title, dated, date_start, date_end, granularity, meta "
            "FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        if row is None:
            return None
        return Document(row[0], row[1], _date(row[3], row[4], row[5], row[6]), row[2], json.loads(row[7]))

    def get_passages(self, passage_ids: Sequence[str]) -> list[Passage]:
        """Passages in the order asked for; unknown ids skipped."""
        wanted = list(dict.fromkeys(passage_ids))
        found: dict[str, Passage] = {}
        for i in range(0, len(wanted), 500):
            chunk = wanted[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._conn.execute(
                    f"SELECT {_PSG_COLS} FROM passages WHERE passage_id IN ({marks})", chunk):
                found[row[0]] = _passage(row)
        return [found[p] for p in passage_ids if p in found]

    def passages_of(self, doc_id: str) -> list[Passage]:
        rows = self._conn.execute(
            f"SELECT {_PSG_COLS} FROM passages WHERE doc_id = ? ORDER BY position, passage_id", (doc_id,))
        return [_passage(r) for r in rows]

    def iter_passages(self, *, during: TimeInterval | None = None) -> Iterator[Passage]:
        """All passages (by doc_id, position), or the dated ones whose date overlaps ``during``."""
        sql = f"SELECT {_PSG_COLS} FROM passages"
        args: list[Any] = []
        if during is not None:
            sql += " WHERE dated = 1"
            if during.end is not None:
                sql += " AND (date_start IS NULL OR date_start < ?)"
                args.append(dt_to_micros(during.end))
            if during.start is not None:
                sql += " AND (date_end IS NULL OR ? < date_end)"
                args.append(dt_to_micros(during.start))
        sql += " ORDER BY doc_id, position, passage_id"
        for row in self._conn.execute(sql, args):
            yield _passage(row)

    def passage_ids_in(self, scope: TimeInterval, *, keep_undated: bool = False, limit: int | None = None
                       ) -> set[str]:
        """Ids of the dated passages whose date overlaps ``scope`` (half-open), and of the undated ones
        when ``keep_undated``; at most ``limit`` of them (any). Reads index entries only: the
        branches below are disjoint and each one a range of ``passages_start`` or ``passages_end``."""
        s, e = dt_to_micros(scope.start), dt_to_micros(scope.end)
        after_s = "" if s is None else " AND date_end > :s"
        before_e = "" if e is None else " AND date_start < :e"
        bounded = f"date_start IS NOT NULL AND date_end IS NOT NULL{before_e}{after_s}"
        parts = [f"SELECT passage_id FROM passages INDEXED BY passages_start WHERE dated = 1 AND date_start IS NULL"
                 f"{'' if s is None else ' AND (date_end IS NULL OR date_end > :s)'}",
                 f"SELECT passage_id FROM passages INDEXED BY passages_end WHERE dated = 1 AND date_end IS NULL"
                 f" AND date_start IS NOT NULL{before_e}",
                 f"SELECT passage_id FROM passages INDEXED BY {self._nearer_index(s, e)} WHERE dated = 1 AND {bounded}"]
        if keep_undated:
            parts.append("SELECT passage_id FROM passages INDEXED BY passages_start WHERE dated = 0")
        sql = " UNION ALL ".join(parts) + ("" if limit is None else " LIMIT :limit")
        return {r[0] for r in self._conn.execute(sql, {"s": s, "e": e, "limit": limit})}

    def scope_excludes(self, scope: TimeInterval, *, keep_undated: bool = False) -> bool:
        """Whether some stored passage is not admitted by ``scope``: a dated one that does not
        overlap it, or an undated one unless ``keep_undated``. Index lookups only (O(log n))."""
        s, e = dt_to_micros(scope.start), dt_to_micros(scope.end)
        probes = [] if keep_undated else ["SELECT 1 FROM passages WHERE dated = 0 LIMIT 1"]
        if s is not None:
            probes.append("SELECT 1 FROM passages WHERE dated = 1 AND date_end IS NOT NULL AND date_end <= :s LIMIT 1")
        if e is not None:
            probes.append("SELECT 1 FROM passages WHERE dated = 1 AND date_start >= :e LIMIT 1")
        return any(self._conn.execute(q, {"s": s, "e": e}).fetchone() is not None for q in probes)

    def _nearer_index(self, s: int | None, e: int | None) -> str:
        """The index whose range for a bounded-interval overlap is likely the shorter: by start
        (``date_start < e``) when the scope lies nearer the earliest start, else by end."""
        if e is None or s is None:
            return "passages_end" if e is None else "passages_start"
        lo = self._conn.execute("SELECT min(date_start) FROM passages WHERE dated = 1").fetchone()[0]
        hi = self._conn.execute("SELECT max(date_end) FROM passages WHERE dated = 1").fetchone()[0]
        if lo is None or hi is None:
            return "passages_start"
        return "passages_start" if e - lo <= hi - s else "passages_end"

    def document_ids(self) -> list[str]:
        return [r[0] for r in self._conn.execute("SELECT doc_id FROM documents ORDER BY doc_id")]

    def passage_ids(self) -> set[str]:
        return {r[0] for r in self._conn.execute("SELECT passage_id FROM passages")}

    def count(self) -> tuple[int, int]:
        docs = self._conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        psgs = self._conn.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
        return int(docs), int(psgs)

    def close(self) -> None:
        self.abort()
        self._conn.close()


def _ensure_date_indexes(conn: sqlite3.Connection) -> None:
    """Create the scope indexes in a database written before they existed (and drop their
    predecessor); a no-op, without a write, once they are there."""
    have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    missing = [ddl for name, ddl in _DATE_INDEXES.items() if name not in have]
    if not missing and "passages_date" not in have:
        return
    conn.execute("BEGIN IMMEDIATE")
    for ddl in missing:
        conn.execute(ddl)
    conn.execute("DROP INDEX IF EXISTS passages_date")
    conn.execute("COMMIT")


def _put(cur: sqlite3.Cursor, doc_rows: list[tuple[Any, ...]], passages: Sequence[Passage]) -> None:
    cur.executemany(_DOC_UPSERT, doc_rows)
    for p in passages:
        try:
            cur.execute(_PSG_UPSERT, _psg_row(p))
        except sqlite3.IntegrityError as exc:
            raise InputError(f"passage {p.passage_id!r} cannot be stored: {exc}", doc_id=p.doc_id) from exc


def _delete(cur: sqlite3.Cursor, doc_id: str) -> list[str]:
    removed = [r[0] for r in cur.execute(
        "SELECT passage_id FROM passages WHERE doc_id = ? ORDER BY position, passage_id", (doc_id,))]
    cur.execute("DELETE FROM passages WHERE doc_id = ?", (doc_id,))
    cur.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))
    return removed


def _set_generation(cur: sqlite3.Cursor, generation: int) -> None:
    cur.execute("INSERT INTO tg_meta (key, value) VALUES ('generation', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (str(generation),))
    cur.execute("DELETE FROM tg_journal")


def _date_cols(iv: TimeInterval | None) -> tuple[int, int | None, int | None, str | None]:
    if iv is None:
        return 0, None, None, None
    return 1, dt_to_micros(iv.start), dt_to_micros(iv.end), iv.granularity.value


def _date(dated: int, start: int | None, end: int | None, gran: str | None) -> TimeInterval | None:
    if not dated:
        return None
    return TimeInterval(micros_to_dt(start), micros_to_dt(end), Granularity(gran or Granularity.DAY))


def _doc_row(d: Document) -> tuple[Any, ...]:
    try:
        meta = json.dumps(dict(d.meta), sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise InputError(f"document meta is not JSON-serialisable: {exc}", doc_id=d.doc_id) from exc
    return (d.doc_id, d.text, d.title, *_date_cols(d.date), meta)


def _psg_row(p: Passage) -> tuple[Any, ...]:
    return (p.passage_id, p.doc_id, p.position, p.text, p.title, *_date_cols(p.date))


def _passage(row: Sequence[Any]) -> Passage:
    try:
        return Passage(row[0], row[1], row[3], int(row[2]), _date(row[5], row[6], row[7], row[8]), row[4])
    except ValueError as exc:
        raise StoreError(f"passage {row[0]!r}: stored date is invalid: {exc}") from exc
