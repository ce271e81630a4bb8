"""Fixtures shared by every test area: one real Bolt server (ArcadeDB from the arcadedb-embedded
wheel) per session, on loopback with its data in a temp dir, and a fresh database per test.

If the server cannot start, every test using it FAILS (never skips): CI must run them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tgrag.kernel import StoreError
from tgrag.stores.arcadedb_server import ArcadeDBBoltServer

_db_names = (f"tgtest{i}" for i in itertools.count(1))


@pytest.fixture(scope="session")
def bolt_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArcadeDBBoltServer]:
    server = ArcadeDBBoltServer(tmp_path_factory.mktemp("arcadedb"), heap="512m")
    try:
        server.start()
    except StoreError as exc:
        pytest.fail(f"the ArcadeDB Bolt server needed by the Neo4j tests did not start: {exc}", pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def bolt_database(bolt_server: ArcadeDBBoltServer) -> Iterator[str]:
    """A fresh, empty database on the session's server, dropped after the test."""
    name = bolt_server.create_database(next(_db_names))
    yield name
    bolt_server.drop_database(name)
