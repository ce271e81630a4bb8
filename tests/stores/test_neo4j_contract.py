"""The graph-store contract on Neo4jGraphStore against a real Bolt server (ArcadeDB), plus the
Neo4j-specific behaviour: config errors, batching, DDL, retries."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.stores.contract import A, B, C, GraphStoreContract, fact, year
from tgrag.kernel import ConfigError, StoreError, TransientError
from tgrag.kernel.protocols import GraphStore
from tgrag.stores.arcadedb_server import ArcadeDBBoltServer
from tgrag.stores.neo4j_schema import LABELS, REL, schema_statements
from tgrag.stores.neo4j_store import Neo4jGraphStore

pytestmark = pytest.mark.neo4j


class TestNeo4jGraphStore(GraphStoreContract):
    @pytest.fixture
    def store(self, neo4j_store: Neo4jGraphStore) -> Neo4jGraphStore:
        return neo4j_store

    def reopen(self, store: GraphStore) -> GraphStore:
        assert isinstance(store, Neo4jGraphStore)
        store.save()
        store.close()
        return Neo4jGraphStore(store.uri, store.user, database=store.database,
                               password=self._password, flavor=store.flavor)

    @pytest.fixture(autouse=True)
    def _remember_password(self, bolt_server: ArcadeDBBoltServer) -> None:
        self._password = bolt_server.password


def test_password_from_named_env_var(bolt_server: ArcadeDBBoltServer, bolt_database: str,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TGRAG_TEST_BOLT_PW", bolt_server.password)
    store = Neo4jGraphStore(bolt_server.uri, "root", "TGRAG_TEST_BOLT_PW", bolt_database, flavor="arcadedb")
    store.upsert([A])
    assert store.entities() == [A]
    store.close()


def test_missing_password_env_var_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TGRAG_NO_SUCH_PW", raising=False)
    with pytest.raises(ConfigError, match="TGRAG_NO_SUCH_PW"):
        Neo4jGraphStore("bolt://127.0.0.1:1", password_env="TGRAG_NO_SUCH_PW")


def test_wrong_password_is_a_config_error(bolt_server: ArcadeDBBoltServer, bolt_database: str) -> None:
    with pytest.raises(ConfigError, match="authentication"):
        Neo4jGraphStore(bolt_server.uri, "root", database=bolt_database, password="wrong-password",
                        flavor="arcadedb")


def test_unknown_flavor_is_rejected() -> None:
    with pytest.raises(ConfigError, match="flavor"):
        Neo4jGraphStore("bolt://127.0.0.1:1", password="x", flavor="memgraph")


def test_schema_ddl_variants() -> None:
    neo, arc = schema_statements("neo4j"), schema_statements("arcadedb")
    assert neo[-1] == "CALL db.awaitIndexes(300)" and "awaitIndexes" not in " ".join(arc)
    assert neo[:-1] == arc
    assert all("IF NOT EXISTS" in s for s in arc)
    assert {lab for lab in LABELS.values() if any(f":{lab})" in s for s in arc)} == set(LABELS.values())
    assert any(REL in s for s in arc)


def test_bootstrap_is_idempotent_and_indexes_exist(neo4j_store: Neo4jGraphStore) -> None:
    neo4j_store.bootstrap_schema()
    rows = neo4j_store._read("SHOW INDEXES", "indexes")
    indexed = {(tuple(r["labelsOrTypes"]), tuple(r["properties"])) for r in rows}
    assert (("TgEntity",), ("key",)) in indexed and (("TgFact",), ("subject",)) in indexed
    assert (("TgHop",), ("ns",)) in indexed and (("TG_RELATES",), ("fid",)) in indexed


def test_batches_larger_than_batch_size(neo4j_store: Neo4jGraphStore) -> None:
    facts = [fact(A, f"p{i}", B if i % 2 else C, year(2000 + i)) for i in range(10)]
    neo4j_store.upsert([A, B, C, *facts])  # batch_size=3 in the fixture
    assert neo4j_store.counts()["facts"] == 10
    assert len(neo4j_store.neighbours(B.entity_id, depth=1)) == 5
    neo4j_store.delete([f.fact_id for f in facts[:7]])
    assert neo4j_store.counts()["facts"] == 3


def test_duplicate_ids_in_one_upsert_last_wins(neo4j_store: Neo4jGraphStore) -> None:
    f = fact(A, "knows", B, year(2020))
    f2 = f.superseded(None, "fact:zzz")
    neo4j_store.upsert([A, B, f, f2])
    assert neo4j_store.facts() == [f2] and neo4j_store.neighbours(A.entity_id) == [f2]
    assert len(neo4j_store._read(f"MATCH ()-[r:{REL}]->() RETURN r.fid AS fid", "edges")) == 1


def test_transient_errors_are_retried_then_raised(neo4j_store: Neo4jGraphStore) -> None:
    from neo4j.exceptions import TransientError as Neo4jTransient

    calls: list[int] = []

    def flaky(tx: object) -> str:
        calls.append(1)
        if len(calls) < 3:
            raise Neo4jTransient("try again")
        return "ok"

    assert neo4j_store._with_retry(flaky, write=True, what="flaky") == "ok" and len(calls) == 3
    calls.clear()

    def always(tx: object) -> str:
        calls.append(1)
        raise Neo4jTransient("still busy")

    with pytest.raises(TransientError, match="after 3 attempts"):
        neo4j_store._with_retry(always, write=True, what="always")
    assert len(calls) == 3


def test_clear_removes_every_tgrag_record(neo4j_store: Neo4jGraphStore) -> None:
    neo4j_store.upsert([A, B, *(fact(A, f"p{i}", B, year(2000 + i)) for i in range(8))])
    neo4j_store.clear()
    assert neo4j_store.counts() == {"entities": 0, "facts": 0, "time_nodes": 0, "hops": 0}
    assert neo4j_store.neighbours(A.entity_id) == []


def test_server_that_cannot_start_raises_a_clear_error(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    server = ArcadeDBBoltServer(tmp_path, startup_timeout_s=10)
    monkeypatch.setattr(server, "command", lambda: ["sh", "-c", "echo no java here; exit 3"])
    with pytest.raises(StoreError, match="exited with code 3(.|\n)*no java here"):
        server.start()
    assert server.proc is not None and server.proc.returncode == 3


def _store(server: ArcadeDBBoltServer, database: str, namespace: str) -> Neo4jGraphStore:
    return Neo4jGraphStore(server.uri, server.user, database=database, password=server.password,
                           flavor="arcadedb", namespace=namespace)


def test_namespaces_in_one_database_stay_isolated(bolt_server: ArcadeDBBoltServer, bolt_database: str) -> None:
    one, two = _store(bolt_server, bolt_database, "base"), _store(bolt_server, bolt_database, "updated")
    f1, f2 = fact(A, "knows", B, year(2020)), fact(A, "employs", C, year(2021))
    one.upsert([A, B, f1])
    two.upsert([A, C, f2])  # the same entity id A in both
    assert one.facts() == [f1] and two.facts() == [f2]
    assert one.neighbours(A.entity_id) == [f1] and two.neighbours(A.entity_id) == [f2]
    assert set(one.entities()) == {A, B} and set(two.entities()) == {A, C}
    two.delete([A.entity_id])  # takes A's facts along, in its own namespace only
    assert two.facts() == [] and one.facts() == [f1] and set(one.entities()) == {A, B}
    two.clear()
    assert one.counts() == {"entities": 2, "facts": 1, "time_nodes": 0, "hops": 0}
    one.close()
    two.close()


def test_a_logical_write_is_one_transaction(bolt_server: ArcadeDBBoltServer, bolt_database: str) -> None:
    writer, reader = _store(bolt_server, bolt_database, "idx"), _store(bolt_server, bolt_database, "idx")
    writer.begin(1)
    writer.upsert([A, B, fact(A, "knows", B, year(2020))])
    assert len(writer.facts()) == 1 and writer.neighbours(A.entity_id)  # its own writes are visible to it
    assert reader.facts() == [] and reader.generation() == 0  # not to anybody else
    writer.abort()
    assert writer.facts() == [] and not writer.durable(1)
    writer.begin(1)
    writer.upsert([A, C, fact(A, "employs", C, year(2021))])
    writer.prepare(1)
    writer.commit(1)
    assert reader.durable(1) and [f.predicate for f in reader.facts()] == ["employs"]
    reader.load(1)
    with pytest.raises(StoreError, match="holds generation 1"):
        reader.load(2)
    writer.close()
    reader.close()
