"""Fixtures for the store tests; the Bolt server and per-test databases come from tests/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tgrag.stores.arcadedb_server import ArcadeDBBoltServer
from tgrag.stores.neo4j_store import Neo4jGraphStore


@pytest.fixture
def neo4j_store(bolt_server: ArcadeDBBoltServer, bolt_database: str) -> Iterator[Neo4jGraphStore]:
    store = Neo4jGraphStore(bolt_server.uri, bolt_server.user, database=bolt_database,
                            password=bolt_server.password, flavor="arcadedb", batch_size=3)
    yield store
    store.close()
