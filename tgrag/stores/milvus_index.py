"""Cosine nearest neighbours in Milvus (through ``pymilvus``'s ``MilvusClient``), for corpora that
outgrow one machine. The same client code runs against Milvus Lite, Standalone and Distributed.

One collection per index holds a row per (passage id, version): the id, its date interval
(``start``/``end`` in µs, null for undated; see :mod:`tgrag.stores.vector_dates`), the normalised
vector, and the generations the version lives in, ``gen_from <= g < gen_to`` (``gen_to`` is
:data:`LIVE` while current). Every read filters on that, so the commit protocol
(:class:`~tgrag.kernel.protocols.Transactional`) is multi-version:

- a write of generation ``g`` inserts its rows with ``gen_from = g`` and closes the versions it
  replaces or removes (``gen_to = g``); readers of ``g - 1`` still see exactly the old rows;
- ``prepare(g)`` records ``g`` in the companion collection ``<name>_gens`` after every row is
  written (``durable(g)`` reads it); ``load(g)`` selects generation ``g``;
- ``abort`` and ``begin(g)`` (after a crash) delete the rows of ``g`` and later, re-open the
  versions they closed, and drop their markers;
- ``commit(g)`` garbage-collects versions no longer live in ``g - 1`` or ``g``.

Used outside a transaction (standalone), writes apply to the loaded generation in place.
Time scopes and ``allowed`` sets are Milvus filter expressions; upserts, deletes and ``allowed``
lists are sent in batches. The token is read from the environment variable *named* by
``token_env``, never taken from config text.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tgrag.kernel.errors import ConfigError, IndexCorruptError, InputError, StoreError
from tgrag.kernel.temporal import TimeInterval
from tgrag.stores.vector_dates import encode, scope_expression
from tgrag.stores.vector_input import as_matrix, check_batch, normalise

log = logging.getLogger(__name__)

LIVE = 2**62  # gen_to of a current version
MAX_TOPK = 16384  # Milvus's limit on one search's limit
_ID_LIMIT = 4096  # longest passage id stored
_ALLOWED_CHUNK = 4096  # ids per `pid in [...]` filter
_NAME = re.compile(r"[^A-Za-z0-9_]")


def collection_for(index_dir: Path) -> str:
    """The default collection name of an index directory: its name plus a hash of its full path
    (two indexes named alike in different places stay apart)."""
    resolved = index_dir.resolve()
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:10]
    return f"tgrag_{_NAME.sub('_', resolved.name)[:120]}_{digest}"


class MilvusVectorIndex:
    """VectorIndex + Transactional on a Milvus collection.

    ``path`` (as the experiment runner passes it, ``<index dir>/vectors.faiss``) only names the
    collection when ``collection`` is not given; nothing is written there.
    """

    def __init__(self, dim: int, path: Path | str | None = None, *, uri: str = "http://localhost:19530",
                 token_env: str | None = None, database: str = "default", collection: str | None = None,
                 batch_size: int = 1000, index_type: str = "FLAT", index_params: dict[str, Any] | None = None,
                 search_params: dict[str, Any] | None = None, timeout_s: float = 30.0,
                 grpc_options: dict[str, Any] | None = None, connect_attempts: int = 3) -> None:
        if not isinstance(dim, int) or dim <= 0:
            raise InputError(f"vector dimension must be a positive int, got {dim!r}")
        if batch_size <= 0:
            raise ConfigError(f"batch_size must be positive, got {batch_size}")
        if connect_attempts < 1:
            raise ConfigError(f"connect_attempts must be at least 1, got {connect_attempts}")
        if collection is None:
            if path is None:
                raise ConfigError("MilvusVectorIndex needs collection= (or the index path it is named after)")
            collection = collection_for(Path(path).parent)
        if _NAME.search(collection) or not collection[:1].isalpha() and collection[:1] != "_":
            raise ConfigError(f"invalid Milvus collection name {collection!r} (letters, digits, '_')")
        self.dim, self.uri, self.database, self.collection = dim, uri, database, collection
        self.batch_size = batch_size
        self._search_params = dict(search_params or {})
        options = {**GRPC_OPTIONS, **(grpc_options or {})}
        self._client = _connect(uri, _token(token_env), database, timeout_s, options, connect_attempts)
        self._gens = f"{collection}_gens"
        self._ensure_collections(index_type, dict(index_params or {}))
        self._generation = 0
        self._pending: int | None = None
        self._live: dict[str, int] | None = None  # id -> gen_from of its visible version (lazy)
        self._undo: dict[str, int] | None = None

    # -- writes -----------------------------------------------------------------------------------
    def add(self, ids: Sequence[str], vectors: np.ndarray, *,
            intervals: Sequence[TimeInterval | None] | None = None) -> None:
        """Add or replace vectors (normalised here) with their date intervals (None: undated); a
        repeated id in one call: the last one wins."""
        vecs, ivs, last = check_batch(ids, vectors, self.dim, intervals, max_id_len=_ID_LIMIT)
        if not last:
            return
        g, live = self._visible, self._ids()
        self._retire([sid for sid in last if sid in live and live[sid] != g])
        unit = normalise(vecs)
        rows = []
        for sid, r in last.items():
            code = encode(ivs[r])
            rows.append({"pk": _pk(g, sid), "pid": sid, "gen_from": g, "gen_to": LIVE,
                         "start": None if code is None else code[0], "end": None if code is None else code[1],
                         "vec": unit[r].tolist()})
        for chunk in _chunks(rows, self.batch_size):
            self._call("upsert", self._client.upsert, self.collection, chunk)
        live.update(dict.fromkeys(last, g))

    def remove(self, ids: Iterable[str]) -> int:
        live, g = self._ids(), self._visible
        gone = [sid for sid in set(ids) if sid in live]
        if not gone:
            return 0
        own = [_pk(g, sid) for sid in gone if live[sid] == g]  # written by this generation: never seen
        self._retire([sid for sid in gone if live[sid] != g])
        for chunk in _chunks(own, self.batch_size):
            self._call("delete", self._client.delete, self.collection, filter=_among("pk", chunk))
        for sid in gone:
            del live[sid]
        return len(gone)

    def _retire(self, ids: list[str]) -> None:
        """End the visible versions (older than this generation) of ``ids``: closed at the pending
        generation in a transaction, deleted in place outside one."""
        live = self._ids()
        pks = [_pk(live[sid], sid) for sid in ids]
        for chunk in _chunks(pks, self.batch_size):
            if self._pending is None:
                self._call("delete", self._client.delete, self.collection, filter=_among("pk", chunk))
            else:
                self._call("upsert", self._client.upsert, self.collection,
                           [{"pk": pk, "gen_to": self._pending} for pk in chunk], partial_update=True)

    # -- reads ------------------------------------------------------------------------------------
    def search(self, query: np.ndarray, k: int, *, allowed: set[str] | None = None,
               scope: TimeInterval | None = None, keep_undated: bool = True) -> list[tuple[str, float]]:
        """Top-k (id, cosine), best first (ties by id), within ``allowed`` and ``scope`` when given."""
        q = normalise(self._as_matrix(np.asarray(query).reshape(1, -1), "query"))[0].tolist()
        live = self._ids()
        if k <= 0 or not live:
            return []
        base = self._visible_expr()
        if scope is not None:
            base += " and " + scope_expression(scope, keep_undated)
        if allowed is None and k <= MAX_TOPK:
            hits = self._search(q, min(k, len(live)), base)
        else:
            admitted = sorted(live if allowed is None else (s for s in allowed if s in live))
            hits = []
            for chunk in _chunks(admitted, _ALLOWED_CHUNK):
                expr = f"{base} and {_among('pid', chunk)}"
                hits += self._search(q, min(k, len(chunk)), expr)
        hits.sort(key=lambda h: (-h[1], h[0]))
        return hits[:k]

    def _search(self, q: list[float], limit: int, expr: str) -> list[tuple[str, float]]:
        params = {"metric_type": "IP", "params": dict(self._search_params)}
        res = self._call("search", self._client.search, self.collection, data=[q], limit=limit, filter=expr,
                         output_fields=["pid"], search_params=params, anns_field="vec")
        return [(str(hit["entity"]["pid"]), float(hit["distance"])) for hit in res[0]]

    def ids(self) -> list[str]:
        """Indexed ids, sorted."""
        return sorted(self._ids())

    def __contains__(self, id_: object) -> bool:
        return isinstance(id_, str) and id_ in self._ids()

    def __len__(self) -> int:
        return len(self._ids())

    def save(self) -> None:
        """Nothing to do: every write is on the server when the call returns."""

    def close(self) -> None:
        self._client.close()

    def drop(self) -> None:
        """Delete this index's collections from the server (every generation)."""
        for name in (self.collection, self._gens):
            self._call("drop_collection", self._client.drop_collection, name)
        self._live, self._pending, self._undo, self._generation = {}, None, None, 0

    # -- commit protocol (Transactional) ----------------------------------------------------------
    def begin(self, generation: int) -> None:
        self._discard_from(generation)
        self._undo = dict(self._ids())
        self._pending = generation

    def prepare(self, generation: int) -> None:
        self._call("upsert", self._client.upsert, self._gens, [{"gen": generation, "vec": [0.0, 0.0]}])

    def commit(self, generation: int) -> None:
        self._generation, self._pending, self._undo = generation, None, None
        self._call("delete", self._client.delete, self.collection, filter=f"gen_to <= {generation - 1}")
        self._call("delete", self._client.delete, self._gens, filter=f"gen < {generation - 1}")

    def abort(self) -> None:
        if self._pending is not None:
            self._discard_from(self._pending)
            self._live, self._pending, self._undo = self._undo, None, None

    def durable(self, generation: int) -> bool:
        if generation == 0:
            return True
        return bool(self._call("query", self._client.query, self._gens, filter=f"gen == {generation}",
                               output_fields=["gen"]))

    def load(self, generation: int) -> None:
        if not self.durable(generation):
            raise IndexCorruptError(f"Milvus collection {self.collection!r} does not hold generation {generation}")
        self._generation, self._pending, self._undo, self._live = generation, None, None, None

    def _discard_from(self, generation: int) -> None:
        """Delete the rows written by ``generation`` and later, and re-open the versions they closed."""
        self._call("delete", self._client.delete, self.collection, filter=f"gen_from >= {generation}")
        closed = [row["pk"] for row in self._query(f"gen_to >= {generation} and gen_to < {LIVE}", ["pk"])]
        for chunk in _chunks(closed, self.batch_size):
            self._call("upsert", self._client.upsert, self.collection,
                       [{"pk": pk, "gen_to": LIVE} for pk in chunk], partial_update=True)
        self._call("delete", self._client.delete, self._gens, filter=f"gen >= {generation}")

    # -- helpers ----------------------------------------------------------------------------------
    @property
    def _visible(self) -> int:
        return self._generation if self._pending is None else self._pending

    def _visible_expr(self) -> str:
        g = self._visible
        return f"gen_from <= {g} and gen_to > {g}"

    def _ids(self) -> dict[str, int]:
        if self._live is None:
            self._live = {str(r["pid"]): int(r["gen_from"])
                          for r in self._query(self._visible_expr(), ["pid", "gen_from"])}
        return self._live

    def _query(self, expr: str, fields: list[str]) -> Iterator[dict[str, Any]]:
        it = self._call("query", self._client.query_iterator, self.collection, batch_size=self.batch_size,
                        filter=expr, output_fields=fields)
        try:
            while batch := self._call("query", it.next):
                yield from batch
        finally:
            it.close()

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        from pymilvus.exceptions import MilvusException

        try:
            return fn(*args, **kwargs)
        except MilvusException as exc:
            raise StoreError(f"Milvus {what} on {self.collection!r} at {self.uri} failed: {exc}") from exc

    def _ensure_collections(self, index_type: str, index_params: dict[str, Any]) -> None:
        from pymilvus import DataType, MilvusClient

        c = self._client
        if self._call("has_collection", c.has_collection, self.collection):
            fields = self._call("describe", c.describe_collection, self.collection)["fields"]
            dims = [f["params"].get("dim") for f in fields if f["name"] == "vec"]
            if dims != [self.dim]:
                raise StoreError(f"Milvus collection {self.collection!r} has vector dimension {dims}, this index "
                                 f"was opened with dimension {self.dim} (a different embedder?)")
        else:
            schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=_ID_LIMIT + 24)
            schema.add_field("pid", DataType.VARCHAR, max_length=_ID_LIMIT)
            schema.add_field("gen_from", DataType.INT64)
            schema.add_field("gen_to", DataType.INT64)
            schema.add_field("start", DataType.INT64, nullable=True)
            schema.add_field("end", DataType.INT64, nullable=True)
            schema.add_field("vec", DataType.FLOAT_VECTOR, dim=self.dim)
            ip = c.prepare_index_params()
            ip.add_index(field_name="vec", index_type=index_type, metric_type="IP", params=index_params)
            for name in ("pid", "gen_from", "gen_to"):
                ip.add_index(field_name=name, index_type="INVERTED")
            self._call("create_collection", c.create_collection, self.collection, schema=schema,
                       index_params=ip, consistency_level="Strong")
        if not self._call("has_collection", c.has_collection, self._gens):
            schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("gen", DataType.INT64, is_primary=True)
            schema.add_field("vec", DataType.FLOAT_VECTOR, dim=2)  # Milvus wants a vector field
            ip = c.prepare_index_params()
            ip.add_index(field_name="vec", index_type="FLAT", metric_type="L2")
            self._call("create_collection", c.create_collection, self._gens, schema=schema, index_params=ip,
                       consistency_level="Strong")

    def _as_matrix(self, vectors: np.ndarray, what: str) -> np.ndarray:
        return as_matrix(vectors, self.dim, what)


def _token(token_env: str | None) -> str:
    if token_env is None:
        return ""
    value = os.environ.get(token_env)
    if value is None:
        raise ConfigError(f"the Milvus token environment variable {token_env} is not set")
    return value


# pymilvus pings every 10 s even on an idle channel; a gRPC server with the stock ping policy
# (Python's grpc, which milvus-lite serves with, allows one every 5 min without calls) answers the
# third such ping with GOAWAY "too_many_pings", and a client connecting over the shared transport
# then fails. Ping only while a call is in flight.
GRPC_OPTIONS: dict[str, Any] = {"grpc.keepalive_permit_without_calls": 0}


def _connect(uri: str, token: str, database: str, timeout_s: float, grpc_options: dict[str, Any],
             attempts: int) -> Any:
    try:
        from pymilvus import MilvusClient
        from pymilvus.exceptions import MilvusException
    except ImportError as exc:
        raise ConfigError("the Milvus backend needs pymilvus (pip install 'tgrag[milvus]')") from exc
    attempt = 1
    while True:
        client = None
        try:
            # dedicated: a channel of its own, so one index closing (or losing) its connection
            # does not take another index's with it
            client = MilvusClient(uri=uri, token=token, timeout=timeout_s, grpc_options=grpc_options,
                                  dedicated=True)
            if database not in client.list_databases():
                client.create_database(database)
            client.use_database(database)
            return client
        except MilvusException as exc:
            if client is not None:
                client.close()  # a half-opened channel is not left behind
            if attempt == attempts or not _transient(exc):
                raise ConfigError(f"cannot use Milvus at {uri} (database {database!r}, attempt {attempt} "
                                  f"of {attempts}): {exc}") from exc
            log.warning("Milvus at %s did not answer (%s); retrying (attempt %d of %d)", uri, exc,
                        attempt + 1, attempts)
            time.sleep(0.5 * 2 ** (attempt - 1))
            attempt += 1


def _transient(exc: Exception) -> bool:
    """A connection that failed or went away (worth a new one), not a refused request."""
    from pymilvus.client.types import Status

    return getattr(exc, "code", None) in (Status.CONNECT_FAILED, Status.UNEXPECTED_ERROR) or \
        "UNAVAILABLE" in str(exc)


def _among(field: str, values: Sequence[str]) -> str:
    """``field in [...]`` with the strings escaped (pymilvus's ``delete(ids=...)`` does not escape
    backslashes)."""
    return f"{field} in [{', '.join(json.dumps(v, ensure_ascii=False) for v in values)}]"


def _pk(generation: int, sid: str) -> str:
    return f"{generation}/{sid}"


def _chunks(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield list(items[i:i + size])
