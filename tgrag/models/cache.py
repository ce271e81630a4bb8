"""Persistent LLM cache: a wrapper around any ``LLM``, keyed by a hash of the full request.

The key is the sha256 of the canonical JSON of ``{"model": inner.name, "request":
request.to_dict()}``, so any change of prompt, sampling setting, stop strings, seed or model is a
miss. A hit returns the recorded response with ``cached=True``, its original token counts, and
``seconds`` set to the lookup time.

Modes:
- ``readwrite`` — answer hits from the cache, call the inner model on a miss and record it;
- ``replay`` — answer only from the cache; a miss raises ``ModelError`` (a recorded cache is a
  replayable test fixture; see ``export_jsonl`` / ``import_jsonl``);
- ``off`` — pass every call through, touching no file.

Storage is one SQLite file in WAL mode with a busy timeout, one connection per instance guarded by
a lock (so an instance may be shared by threads), and each write its own transaction (atomic).
Several processes may share a file.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tgrag.kernel.errors import ConfigError, InputError, ModelError, StoreError
from tgrag.kernel.protocols import LLM
from tgrag.kernel.records import LLMRequest, LLMResponse
from tgrag.models.tokens import token_counter

MODES = ("readwrite", "replay", "off")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS llm_cache (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    request TEXT NOT NULL,
    response TEXT NOT NULL,
    created REAL NOT NULL
)
"""


def request_key(model: str, request: LLMRequest) -> str:
    """sha256 hex of the canonical JSON of the model name and the full request."""
    blob = json.dumps({"model": model, "request": request.to_dict()}, sort_keys=True,
                      ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def open_cache_file(path: Path, schema: str, what: str) -> sqlite3.Connection:
    """A shared cache file: WAL, a busy timeout, autocommit, usable from several threads."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(schema)
    except sqlite3.Error as e:
        raise StoreError(f"{path}: cannot open {what}: {e}") from e
    return conn


@dataclass(frozen=True, slots=True)
class CacheStats:
    hits: int = 0
    misses: int = 0
    writes: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses, "writes": self.writes}


class SqliteCache:
    """What the model caches share: the mode, one SQLite connection behind a lock, hit counts."""

    def __init__(self, path: Path | str, mode: str, schema: str, what: str) -> None:
        if mode not in MODES:
            raise ConfigError(f"cache mode {mode!r} is not one of {MODES}")
        self.path = Path(path)
        self.mode = mode
        self.what = what
        self._lock = threading.Lock()
        self._hits = self._misses = self._writes = 0
        self._conn: sqlite3.Connection | None = None
        if mode != "off":
            self._conn = open_cache_file(self.path, schema, what)

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._hits, self._misses, self._writes)

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        if self._conn is None:
            raise StoreError(f"{self.path}: {self.what} is closed")
        try:
            return self._conn.execute(sql, params)
        except sqlite3.Error as e:
            raise StoreError(f"{self.path}: {self.what} query failed: {e}") from e

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class CachedLLM(SqliteCache):
    """``LLM`` wrapper answering repeated requests from a SQLite file."""

    def __init__(self, inner: LLM, path: Path | str, *, mode: str = "readwrite") -> None:
        self.inner = inner
        super().__init__(path, mode, _SCHEMA, "LLM cache")

    @property
    def name(self) -> str:
        """The inner model's name: caching does not change what answers."""
        return self.inner.name

    def count_tokens(self, text: str) -> int:
        """Counted as the inner model counts (its tokenizer, or the word estimate)."""
        return token_counter(self.inner)(text)

    def __len__(self) -> int:
        if self.mode == "off":
            return 0
        with self._lock:
            return int(self._execute("SELECT COUNT(*) FROM llm_cache").fetchone()[0])

    def complete(self, request: LLMRequest) -> LLMResponse:
        if self.mode == "off":
            return self.inner.complete(request)
        t0 = time.perf_counter()
        model = self.inner.name
        key = request_key(model, request)
        with self._lock:
            row = self._execute("SELECT response FROM llm_cache WHERE key = ?", (key,)).fetchone()
            if row is not None:
                self._hits += 1
            else:
                self._misses += 1
        if row is not None:
            stored = LLMResponse.from_dict(json.loads(row[0]))
            return LLMResponse(stored.text, stored.prompt_tokens, stored.completion_tokens,
                               time.perf_counter() - t0, True, stored.model)
        if self.mode == "replay":
            raise ModelError(f"{self.path}: replay cache has no response for model {model!r}, "
                             f"key {key[:16]}, prompt {request.messages[-1].content[:120]!r}")
        response = self.inner.complete(request)
        self._store(key, model, request, response)
        return response

    def _store(self, key: str, model: str, request: LLMRequest, response: LLMResponse) -> None:
        record = LLMResponse(response.text, response.prompt_tokens, response.completion_tokens,
                             response.seconds, False, response.model)
        with self._lock:
            self._execute("INSERT OR REPLACE INTO llm_cache (key, model, request, response, created) "
                          "VALUES (?, ?, ?, ?, ?)",
                          (key, model, json.dumps(request.to_dict(), ensure_ascii=False),
                           json.dumps(record.to_dict(), ensure_ascii=False), time.time()))
            self._writes += 1

    def export_jsonl(self, path: Path | str) -> int:
        """Write every entry as one JSON line ``{"model", "request", "response"}`` (atomically,
        sorted by key so the file diffs cleanly); returns the number written."""
        if self.mode == "off":
            raise ConfigError("a cache in mode 'off' has no entries to export")
        with self._lock:
            rows = self._execute("SELECT model, request, response FROM llm_cache ORDER BY key").fetchall()
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                for model, req, resp in rows:
                    f.write(json.dumps({"model": model, "request": json.loads(req),
                                        "response": json.loads(resp)}, ensure_ascii=False) + "\n")
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return len(rows)

    def import_jsonl(self, path: Path | str) -> int:
        """Load entries written by ``export_jsonl`` in one transaction (all or nothing); keys are
        recomputed from model + request. Bad lines raise ``InputError`` naming file:line."""
        if self.mode == "off":
            raise ConfigError("a cache in mode 'off' cannot import entries")
        source = Path(path)
        entries = []
        with open(source, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    d = json.loads(line)
                    model = str(d["model"])
                    request = LLMRequest.from_dict(d["request"])
                    response = LLMResponse.from_dict(d["response"])
                except (ValueError, KeyError, TypeError) as e:
                    raise InputError(f"not a cache entry: {e}", path=str(source), line=lineno) from e
                entries.append((request_key(model, request), model, json.dumps(request.to_dict()),
                                json.dumps(response.to_dict()), time.time()))
        with self._lock:
            conn = self._conn
            if conn is None:
                raise StoreError(f"{self.path}: LLM cache is closed")
            try:
                with conn:
                    conn.execute("BEGIN IMMEDIATE")
                    conn.executemany("INSERT OR REPLACE INTO llm_cache "
                                           "(key, model, request, response, created) "
                                           "VALUES (?, ?, ?, ?, ?)", entries)
            except sqlite3.Error as e:
                raise StoreError(f"{self.path}: importing {source} failed: {e}") from e
            self._writes += len(entries)
        return len(entries)

    def __enter__(self) -> CachedLLM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
