"""Graph store on a Neo4j 5 server (or a Bolt-compatible one: ArcadeDB), same semantics as
:class:`~tgrag.stores.networkx_store.NetworkXGraphStore`.

Graph model (labels and relationship type are fixed constants, validated at import; every value
travels as a query parameter, never spliced into Cypher):

- ``(:TgEntity {id, name, type, aliases, mentions, forms, stub})`` (``forms`` as JSON text);
  ``stub = true`` marks an entity id that only facts name (never upserted) — invisible to
  ``entities``/``counts``, as in networkx.
- ``(:TgFact {id, subject, predicate, object, oie, dated, vs, ve, gran, obs, inv, sup, passage,
  doc, conf, text, live, es, ee})`` — the fact record; ``vs/ve`` the validity bounds, ``es/ee`` the
  effective bounds (validity clipped at ``inv``), ``live`` whether an effective interval exists.
- ``(:TgEntity)-[:TG_RELATES {fid, live, es, ee}]->(:TgEntity)`` for each fact whose object is
  an entity: the traversal index used by ``neighbours``, carrying the effective interval so the
  time filter runs inside Cypher.
- ``(:TgTimeNode {id, level, s, e, gran, parent, summary, passages, facts})`` and
  ``(:TgHop {id, src, dst, query, score})``.

Every node and relationship also carries ``ns``, the namespace (index id) it belongs to, and every
node a unique ``key`` = ``ns/id``: every query and constraint uses them, so indexes sharing one
database never see each other (``(:TgMeta {key: ns, generation})`` holds a namespace's committed
generation). In the commit protocol (``Transactional``) a logical write is *one* Bolt transaction:
``begin`` opens it, every read and write of the write runs in it, ``prepare`` commits it together
with the new generation number, ``abort`` rolls it back.

Times are integer microseconds since the Unix epoch (UTC): exact, ordered, server-independent;
tzinfo is re-attached on read. Writes are batched ``UNWIND $rows`` transactions of ``batch_size``
rows; transient failures are retried ``max_retries`` times, then raise
:class:`~tgrag.kernel.errors.TransientError`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any, TypeVar

from neo4j import READ_ACCESS, WRITE_ACCESS, Driver, GraphDatabase, Transaction
from neo4j import exceptions as neo

from tgrag.kernel.errors import ConfigError, IndexCorruptError, InputError, StoreError, TransientError
from tgrag.kernel.records import Entity, Fact, Hop, TimeLevel, TimeNode
from tgrag.kernel.temporal import Granularity, TimeInterval
from tgrag.stores.fact_rules import check_depth, dt_to_micros, micros_to_dt, sort_facts
from tgrag.stores.neo4j_schema import FLAVORS, LABELS, REL, schema_statements
from tgrag.stores.networkx_store import sort_hops

T = TypeVar("T")
Record = Entity | Fact | TimeNode | Hop
_ENT, _FACT, _TIME, _HOP = LABELS["entity"], LABELS["fact"], LABELS["time_node"], LABELS["hop"]
_META = LABELS["meta"]
_NAMESPACE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")

# -- Cypher (fixed text; values only as parameters) ----------------------------------------------
_UPSERT_ENTITIES = (f"UNWIND $rows AS row MERGE (e:{_ENT} {{key: row.key}}) "
                    "SET e.ns = row.ns, e.id = row.id, e.name = row.name, e.type = row.type, "
                    "e.aliases = row.aliases, e.mentions = row.mentions, e.forms = row.forms, e.stub = false")
_DROP_EDGES_OF_FACTS = (f"UNWIND $keys AS k MATCH (f:{_FACT} {{key: k}}) WHERE f.oie "
                        f"MATCH (:{_ENT} {{key: f.skey}})-[r:{REL}]->() WHERE r.fid = f.id DELETE r")
_UPSERT_FACTS = f"UNWIND $rows AS row MERGE (f:{_FACT} {{key: row.key}}) SET f = row"
_LINK_FACTS = (f"UNWIND $rows AS row WITH row WHERE row.oie "
               f"MERGE (s:{_ENT} {{key: row.skey}}) ON CREATE SET s.stub = true, s.ns = row.ns, s.id = row.subject "
               f"MERGE (o:{_ENT} {{key: row.okey}}) ON CREATE SET o.stub = true, o.ns = row.ns, o.id = row.object "
               f"CREATE (s)-[:{REL} {{ns: row.ns, fid: row.id, live: row.live, es: row.es, ee: row.ee}}]->(o)")
_UPSERT_TIME = f"UNWIND $rows AS row MERGE (t:{_TIME} {{key: row.key}}) SET t = row"
_UPSERT_HOPS = f"UNWIND $rows AS row MERGE (h:{_HOP} {{key: row.key}}) SET h = row"
_FACTS_OF_ENTITIES = (f"MATCH (f:{_FACT}) WHERE f.ns = $ns AND f.subject IN $ids RETURN f.id AS id UNION "
                      f"MATCH (f:{_FACT}) WHERE f.ns = $ns AND f.object IN $ids AND f.oie RETURN f.id AS id")
_ENDS_OF_FACTS = (f"MATCH (f:{_FACT}) WHERE f.key IN $keys AND f.oie "
                  "RETURN f.subject AS s, f.object AS o")
_DELETE_FACTS = f"MATCH (f:{_FACT}) WHERE f.key IN $keys DELETE f"
_DELETE_ENTITIES = f"MATCH (e:{_ENT}) WHERE e.key IN $keys DETACH DELETE e"
_DELETE_BARE_STUBS = (f"UNWIND $keys AS k MATCH (e:{_ENT} {{key: k}}) "
                      "WHERE e.stub AND NOT (e)--() DELETE e")
_DELETE_TIME = f"MATCH (t:{_TIME}) WHERE t.key IN $keys DELETE t"
_DELETE_HOPS = f"MATCH (h:{_HOP}) WHERE h.key IN $keys DELETE h"
_COUNTS = {
    "entities": f"MATCH (e:{_ENT}) WHERE e.ns = $ns AND e.stub = false RETURN count(e) AS n",
    "facts": f"MATCH (f:{_FACT}) WHERE f.ns = $ns RETURN count(f) AS n",
    "time_nodes": f"MATCH (t:{_TIME}) WHERE t.ns = $ns RETURN count(t) AS n",
    "hops": f"MATCH (h:{_HOP}) WHERE h.ns = $ns RETURN count(h) AS n",
}
_SET_GENERATION = f"MERGE (m:{_META} {{key: $ns}}) SET m.ns = $ns, m.generation = $g"
_GET_GENERATION = f"MATCH (m:{_META} {{key: $ns}}) RETURN m.generation AS g"
# `during` conditions on an effective interval [es, ee) held by variable x (fact or relationship)
_OVERLAP_LIVE = "{x}.live = true"
_OVERLAP_END = "({x}.es IS NULL OR {x}.es < $de)"
_OVERLAP_START = "({x}.ee IS NULL OR $ds < {x}.ee)"

_RETRYABLE: tuple[type[Exception], ...] = (neo.TransientError, neo.ServiceUnavailable, neo.SessionExpired)


class Neo4jGraphStore:
    """GraphStore on the official ``neo4j`` driver.

    ``namespace`` is the index this store holds (the facade uses its index id); ``password`` wins
    over the environment variable named by ``password_env``. ``flavor`` selects
    the schema DDL variant ("neo4j" for Neo4j 5, "arcadedb" for ArcadeDB's Bolt plugin) and, for
    ArcadeDB, also retries ``ConstraintError`` (concurrent MERGE under a uniqueness constraint).
    """

    def __init__(self, uri: str, user: str = "neo4j", password_env: str = "NEO4J_PASSWORD",
                 database: str = "neo4j", *, password: str | None = None, flavor: str = "neo4j",
                 batch_size: int = 1000, max_retries: int = 3, namespace: str = "default") -> None:
        if flavor not in FLAVORS:
            raise ConfigError(f"unknown graph server flavor {flavor!r}; expected one of {sorted(FLAVORS)}")
        if not _NAMESPACE.match(namespace):
            raise ConfigError(f"graph namespace {namespace!r} must be 1-100 letters, digits, '_', '.' or '-'")
        if batch_size < 1 or max_retries < 1:
            raise ConfigError(f"batch_size and max_retries must be >= 1, got {batch_size}, {max_retries}")
        if password is None:
            password = os.environ.get(password_env)
            if password is None:
                raise ConfigError(f"no password for {user}@{uri}: set the environment variable {password_env}")
        self.uri, self.user, self.database, self.flavor = uri, user, database, flavor
        self.batch_size, self.max_retries = batch_size, max_retries
        self.namespace = namespace
        self._session: Any = None
        self._tx: Transaction | None = None  # the open logical write (commit protocol)
        self._retryable = _RETRYABLE + ((neo.ConstraintError,) if flavor == "arcadedb" else ())
        self._driver: Driver = GraphDatabase.driver(uri, auth=(user, password))
        try:
            self._driver.verify_connectivity()
        except neo.AuthError as exc:
            self._driver.close()
            raise ConfigError(f"{user}@{uri}: authentication failed: {exc.message}") from exc
        except (neo.Neo4jError, neo.DriverError, OSError) as exc:
            self._driver.close()
            raise StoreError(f"cannot connect to graph server {uri}: {exc}") from exc
        self.bootstrap_schema()

    # -- plumbing ---------------------------------------------------------------------------------
    def bootstrap_schema(self) -> None:
        """Create the constraints and indexes (idempotent): see :mod:`tgrag.stores.neo4j_schema`."""
        for stmt in schema_statements(self.flavor):
            self._with_retry(partial(_run_one, query=stmt), write=True, what="schema")

    def _with_retry(self, work: Callable[[Transaction], T], *, write: bool, what: str) -> T:
        if self._tx is not None:  # inside a logical write: no retry, the whole write fails instead
            try:
                return work(self._tx)
            except neo.Neo4jError as exc:
                raise StoreError(f"{what} on {self.uri}/{self.database} failed: {exc.message}") from exc
            except neo.DriverError as exc:
                raise StoreError(f"{what} on {self.uri}/{self.database} failed: {exc}") from exc
        last: Exception | None = None
        for attempt in range(self.max_retries):
            try:
                mode = WRITE_ACCESS if write else READ_ACCESS
                with self._driver.session(database=self.database, default_access_mode=mode) as session, \
                        session.begin_transaction() as tx:
                    result = work(tx)
                    tx.commit()
                    return result
            except self._retryable as exc:
                last = exc
                time.sleep(min(0.1 * 2 ** attempt, 2.0))
            except neo.Neo4jError as exc:
                raise StoreError(f"{what} on {self.uri}/{self.database} failed: {exc.message}") from exc
            except neo.DriverError as exc:
                raise StoreError(f"{what} on {self.uri}/{self.database} failed: {exc}") from exc
        raise TransientError(f"{what} on {self.uri}/{self.database} failed after {self.max_retries} "
                             f"attempts: {last}")

    def _read(self, query: str, what: str, **params: Any) -> list[dict[str, Any]]:
        return self._with_retry(lambda tx: [r.data() for r in tx.run(query, **params)],
                                write=False, what=what)

    def _key(self, id_: str) -> str:
        return f"{self.namespace}/{id_}"

    def _keys(self, ids: Iterable[str]) -> list[str]:
        return [self._key(i) for i in dict.fromkeys(ids)]

    # -- writes -----------------------------------------------------------------------------------
    def upsert(self, records: Iterable[Record]) -> None:
        """Upsert by id (last one wins), ``batch_size`` rows per transaction."""
        kinds: dict[type, dict[str, dict[str, Any]]] = {Entity: {}, Fact: {}, TimeNode: {}, Hop: {}}
        for rec in records:
            if isinstance(rec, Entity):
                kinds[Entity][rec.entity_id] = _entity_row(rec)
            elif isinstance(rec, Fact):
                row = _fact_row(rec)
                row["skey"], row["okey"] = self._key(rec.subject), self._key(rec.object)
                kinds[Fact][rec.fact_id] = row
            elif isinstance(rec, TimeNode):
                kinds[TimeNode][rec.node_id] = _time_row(rec)
            elif isinstance(rec, Hop):
                kinds[Hop][rec.hop_id] = _hop_row(rec)
            else:
                raise InputError(f"cannot store a {type(rec).__name__} in a graph store: {rec!r}")
        for kind, queries in ((Entity, [_UPSERT_ENTITIES]),
                              (Fact, [_DROP_EDGES_OF_FACTS, _UPSERT_FACTS, _LINK_FACTS]),
                              (TimeNode, [_UPSERT_TIME]), (Hop, [_UPSERT_HOPS])):
            rows = [{**r, "ns": self.namespace, "key": self._key(r["id"])} for r in kinds[kind].values()]
            for batch in _chunks(rows, self.batch_size):
                self._with_retry(partial(_run_batch, queries=queries, rows=batch), write=True,
                                 what=f"upsert of {len(batch)} {kind.__name__} rows")

    def delete(self, ids: Iterable[str]) -> None:
        """Delete records of any kind by id; an entity id takes the facts on it along."""
        id_list = list(dict.fromkeys(ids))
        for batch in _chunks(id_list, self.batch_size):
            self._with_retry(partial(_delete_batch, ids=batch, ns=self.namespace), write=True,
                             what=f"delete of {len(batch)} ids")

    # -- reads ------------------------------------------------------------------------------------
    def entities(self, ids: Iterable[str] | None = None) -> list[Entity]:
        if ids is None:
            rows = self._read(f"MATCH (e:{_ENT}) WHERE e.ns = $ns AND e.stub = false RETURN e", "entities",
                              ns=self.namespace)
            return sorted((_entity(r["e"]) for r in rows), key=lambda e: e.entity_id)
        wanted = list(dict.fromkeys(ids))
        rows = self._read(f"MATCH (e:{_ENT}) WHERE e.key IN $keys AND e.stub = false RETURN e",
                          "entities", keys=self._keys(wanted))
        found = {r["e"]["id"]: _entity(r["e"]) for r in rows}
        return [found[i] for i in wanted if i in found]

    def facts(self, *, subject: str | None = None, predicate: str | None = None,
              object: str | None = None, during: TimeInterval | None = None,
              passage_ids: Iterable[str] | None = None) -> list[Fact]:
        conds: list[str] = ["f.ns = $ns"]
        params: dict[str, Any] = {"ns": self.namespace}
        for name, value, cond in (("subject", subject, "f.subject = $subject"),
                                  ("predicate", predicate, "f.predicate = $predicate"),
                                  ("object", object, "f.object = $object")):
            if value is not None:
                conds.append(cond)
                params[name] = value
        if passage_ids is not None:
            conds.append("f.passage IN $pids")
            params["pids"] = list(dict.fromkeys(passage_ids))
        conds += _during_conditions("f", during, params)
        rows = self._read(f"MATCH (f:{_FACT}) WHERE {' AND '.join(conds)} RETURN f", "facts", **params)
        return sort_facts([_fact(r["f"]) for r in rows])

    def neighbours(self, entity_id: str, *, depth: int = 1, during: TimeInterval | None = None
                   ) -> list[Fact]:
        """Breadth-first, one Cypher query per level with the time filter on the relationships."""
        check_depth(depth)
        params: dict[str, Any] = {}
        conds = _during_conditions("r", during, params)
        where = "".join(f" AND {c}" for c in conds)
        step = (f"MATCH (a:{_ENT})-[r:{REL}]-(b:{_ENT}) WHERE a.key IN $frontier{where} "
                "RETURN DISTINCT r.fid AS fid, b.id AS other")

        def walk(tx: Transaction) -> list[dict[str, Any]]:
            seen, frontier, fids = {entity_id}, [entity_id], set()
            for _ in range(depth):
                if not frontier:
                    break
                nxt: list[str] = []
                for rec in tx.run(step, frontier=self._keys(frontier), **params):
                    fids.add(rec["fid"])
                    if rec["other"] not in seen:
                        seen.add(rec["other"])
                        nxt.append(rec["other"])
                frontier = nxt
            if not fids:
                return []
            return [r.data() for r in tx.run(f"MATCH (f:{_FACT}) WHERE f.key IN $keys RETURN f",
                                             keys=self._keys(sorted(fids)))]

        rows = self._with_retry(walk, write=False, what="neighbours")
        return sort_facts([_fact(r["f"]) for r in rows])

    def time_nodes(self, ids: Iterable[str] | None = None) -> list[TimeNode]:
        if ids is None:
            rows = self._read(f"MATCH (t:{_TIME}) WHERE t.ns = $ns RETURN t", "time_nodes", ns=self.namespace)
            return sorted((_time_node(r["t"]) for r in rows), key=lambda t: t.node_id)
        wanted = list(dict.fromkeys(ids))
        rows = self._read(f"MATCH (t:{_TIME}) WHERE t.key IN $keys RETURN t", "time_nodes",
                          keys=self._keys(wanted))
        found = {r["t"]["id"]: _time_node(r["t"]) for r in rows}
        return [found[i] for i in wanted if i in found]

    def hops(self, *, src: Iterable[str] | None = None, dst: Iterable[str] | None = None) -> list[Hop]:
        conds: list[str] = ["h.ns = $ns"]
        params: dict[str, Any] = {"ns": self.namespace}
        if src is not None:
            conds.append("h.src IN $src")
            params["src"] = list(set(src))
        if dst is not None:
            conds.append("h.dst IN $dst")
            params["dst"] = list(set(dst))
        rows = self._read(f"MATCH (h:{_HOP}) WHERE {' AND '.join(conds)} RETURN h", "hops", **params)
        return sort_hops(Hop(r["h"]["id"], r["h"]["src"], r["h"]["dst"], r["h"]["query"],
                             float(r["h"]["score"])) for r in rows)

    def counts(self) -> dict[str, int]:
        def work(tx: Transaction) -> dict[str, int]:
            return {k: int(tx.run(q, ns=self.namespace).single(strict=True)["n"]) for k, q in _COUNTS.items()}

        return self._with_retry(work, write=False, what="counts")

    def save(self) -> None:
        """Nothing to do: every write is committed on the server."""

    def close(self) -> None:
        self.abort()
        self._driver.close()

    def clear(self) -> None:
        """Delete every node and relationship of this namespace (in batches)."""
        for label in (_FACT, _ENT, _TIME, _HOP, _META):
            query = f"MATCH (n:{label}) WHERE n.ns = $ns WITH n LIMIT $n DETACH DELETE n RETURN count(*) AS k"
            step = partial(_count_of, query=query, n=self.batch_size, ns=self.namespace)
            while self._with_retry(step, write=True, what=f"clear {label}"):
                pass

    # -- commit protocol (Transactional) ----------------------------------------------------------
    def generation(self) -> int:
        """The generation this namespace last committed (0 when it never did)."""
        rows = self._read(_GET_GENERATION, "generation", ns=self.namespace)
        return int(rows[0]["g"]) if rows and rows[0]["g"] is not None else 0

    def begin(self, generation: int) -> None:
        self.abort()
        try:
            self._session = self._driver.session(database=self.database, default_access_mode=WRITE_ACCESS)
            self._tx = self._session.begin_transaction()
        except (neo.Neo4jError, neo.DriverError) as exc:
            self.abort()
            raise StoreError(f"cannot open a transaction on {self.uri}/{self.database}: {exc}") from exc

    def prepare(self, generation: int) -> None:
        """Commit the logical write's transaction, with the generation number in it."""
        if self._tx is None:
            raise StoreError("prepare() without begin()")
        tx, session = self._tx, self._session
        try:
            tx.run(_SET_GENERATION, ns=self.namespace, g=generation).consume()
            tx.commit()
        except (neo.Neo4jError, neo.DriverError) as exc:
            raise StoreError(f"commit on {self.uri}/{self.database} failed: {exc}") from exc
        finally:
            self._tx = self._session = None
            session.close()

    def commit(self, generation: int) -> None:
        """Nothing left to do: ``prepare`` committed on the server."""

    def abort(self) -> None:
        tx, session, self._tx, self._session = self._tx, self._session, None, None
        if tx is not None:
            with contextlib.suppress(neo.Neo4jError, neo.DriverError):  # the server drops it anyway
                tx.rollback()
        if session is not None:
            session.close()

    def durable(self, generation: int) -> bool:
        return self.generation() == generation

    def load(self, generation: int) -> None:
        held = self.generation()
        if held != generation:
            raise IndexCorruptError(f"graph namespace {self.namespace!r} on {self.uri}/{self.database} holds "
                                    f"generation {held}, the documents generation {generation}")


# -- batches ----------------------------------------------------------------------------------------
def _run_one(tx: Transaction, query: str) -> None:
    tx.run(query).consume()


def _count_of(tx: Transaction, query: str, n: int, ns: str) -> int:
    return int(tx.run(query, n=n, ns=ns).single(strict=True)["k"])


def _run_batch(tx: Transaction, queries: Sequence[str], rows: list[dict[str, Any]]) -> None:
    keys = [r["key"] for r in rows]
    for q in queries:
        if q is _DROP_EDGES_OF_FACTS:
            tx.run(q, keys=keys).consume()
        else:
            tx.run(q, rows=rows).consume()


def _delete_batch(tx: Transaction, ids: list[str], ns: str) -> None:
    def keys(xs: Iterable[str]) -> list[str]:
        return [f"{ns}/{x}" for x in xs]

    fact_ids = set(ids) | {r["id"] for r in tx.run(_FACTS_OF_ENTITIES, ids=ids, ns=ns)}
    fkeys = keys(sorted(fact_ids))
    ends = {v for r in tx.run(_ENDS_OF_FACTS, keys=fkeys) for v in (r["s"], r["o"])}
    tx.run(_DROP_EDGES_OF_FACTS, keys=fkeys).consume()
    tx.run(_DELETE_FACTS, keys=fkeys).consume()
    tx.run(_DELETE_ENTITIES, keys=keys(ids)).consume()
    tx.run(_DELETE_BARE_STUBS, keys=keys(sorted(ends - set(ids)))).consume()
    tx.run(_DELETE_TIME, keys=keys(ids)).consume()
    tx.run(_DELETE_HOPS, keys=keys(ids)).consume()


def _chunks(rows: list[T], n: int) -> Iterable[list[T]]:
    for i in range(0, len(rows), n):
        yield rows[i:i + n]


def _during_conditions(var: str, during: TimeInterval | None, params: dict[str, Any]) -> list[str]:
    if during is None:
        return []
    conds = [_OVERLAP_LIVE.format(x=var)]
    if during.end is not None:
        conds.append(_OVERLAP_END.format(x=var))
        params["de"] = dt_to_micros(during.end)
    if during.start is not None:
        conds.append(_OVERLAP_START.format(x=var))
        params["ds"] = dt_to_micros(during.start)
    return conds


# -- records ↔ rows ---------------------------------------------------------------------------------
def _entity_row(e: Entity) -> dict[str, Any]:
    return {"id": e.entity_id, "name": e.name, "type": e.type, "aliases": list(e.aliases),
            "mentions": list(e.mentions), "forms": json.dumps([list(f) for f in e.forms], ensure_ascii=False)}


def _entity(p: Any) -> Entity:
    forms = json.loads(p.get("forms") or "[]")
    return Entity(p["id"], p["name"], p.get("type") or "", tuple(p.get("aliases") or ()),
                  tuple(p.get("mentions") or ()), tuple((str(a), str(b), str(c)) for a, b, c in forms))


def _fact_row(f: Fact) -> dict[str, Any]:
    eff = f.effective
    v = f.valid
    return {"id": f.fact_id, "subject": f.subject, "predicate": f.predicate, "object": f.object,
            "oie": f.object_is_entity, "dated": v is not None,
            "vs": dt_to_micros(v.start) if v else None, "ve": dt_to_micros(v.end) if v else None,
            "gran": v.granularity.value if v else None, "obs": dt_to_micros(f.observed_at),
            "inv": dt_to_micros(f.invalid_at), "sup": f.superseded_by, "passage": f.source_passage_id,
            "doc": f.doc_id, "conf": float(f.confidence), "text": f.text, "live": eff is not None,
            "es": dt_to_micros(eff.start) if eff else None, "ee": dt_to_micros(eff.end) if eff else None}


def _fact(p: Any) -> Fact:
    valid = (TimeInterval(micros_to_dt(p.get("vs")), micros_to_dt(p.get("ve")), Granularity(p["gran"]))
             if p.get("dated") else None)
    return Fact(p["id"], p["subject"], p["predicate"], p["object"], bool(p["oie"]), valid,
                micros_to_dt(p.get("obs")), p["passage"], p["doc"], float(p["conf"]), p.get("text") or "",
                micros_to_dt(p.get("inv")), p.get("sup"))


def _time_row(t: TimeNode) -> dict[str, Any]:
    iv = t.interval
    return {"id": t.node_id, "level": t.level.value, "s": dt_to_micros(iv.start), "e": dt_to_micros(iv.end),
            "gran": iv.granularity.value, "parent": t.parent_id, "summary": t.summary,
            "passages": list(t.passage_ids), "facts": list(t.fact_ids)}


def _time_node(p: Any) -> TimeNode:
    iv = TimeInterval(micros_to_dt(p.get("s")), micros_to_dt(p.get("e")), Granularity(p["gran"]))
    return TimeNode(p["id"], TimeLevel(p["level"]), iv, p.get("parent"), p.get("summary") or "",
                    tuple(p.get("passages") or ()), tuple(p.get("facts") or ()))


def _hop_row(h: Hop) -> dict[str, Any]:
    return {"id": h.hop_id, "src": h.src, "dst": h.dst, "query": h.query, "score": float(h.score)}
