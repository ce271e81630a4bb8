"""Fixtures shared by every test area: one real Bolt server (ArcadeDB from the arcadedb-embedded
wheel) per session, on loopback with its data in a temp dir, and a fresh database per test; one
real Milvus Lite server per session, likewise (started only when a test uses it).

If a server cannot start, every test using it FAILS (never skips): CI must run them. The Milvus
tests skip only when milvus-lite is not installed at all (the test extra installs it).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tgrag.kernel import StoreError
from tgrag.stores.arcadedb_server import ArcadeDBBoltServer
from tgrag.stores.milvus_server import MilvusLiteServer, milvus_lite_installed

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


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilvusLiteServer]:
    if not milvus_lite_installed():
        pytest.skip("milvus-lite is not installed (pip install -e '.[test]' installs it)")
    server = MilvusLiteServer(tmp_path_factory.mktemp("milvus"))
    try:
        server.start()
    except StoreError as exc:
        pytest.fail(f"the milvus-lite server needed by the Milvus tests did not start: {exc}", pytrace=False)
    yield server
    server.stop()


_collections = (f"tgtest_{i}" for i in itertools.count(1))


@pytest.fixture
def milvus_collection(milvus_server: MilvusLiteServer) -> str:
    """A collection name no other test uses (the index creates it)."""
    return next(_collections)
