"""Start and stop a local ArcadeDB server with its Bolt (Neo4j protocol) plugin, for tests and
benchmarks of :class:`~tgrag.stores.neo4j_store.Neo4jGraphStore`.

Uses the server jars and the Java runtime shipped in the ``arcadedb-embedded`` wheel (a test
extra): nothing is downloaded. The server listens on loopback only, on free ports, keeps its data
(and the ``log/`` folder it writes into its working directory) under ``root``, and is stopped with
SIGTERM by its process id (then killed if it lingers).
"""

from __future__ import annotations

import importlib.util
import secrets
from pathlib import Path

import requests

from tgrag.kernel.errors import StoreError
from tgrag.stores.local_server import LocalServer, free_port, port_open

MAIN_CLASS = "com.arcadedb.server.ArcadeDBServer"
BOLT_PLUGIN = "Bolt:com.arcadedb.bolt.BoltProtocolPlugin"


def arcadedb_package_dir() -> Path:
    """Folder of the installed ``arcadedb_embedded`` package (holding ``jre/`` and ``jars/``)."""
    spec = importlib.util.find_spec("arcadedb_embedded")
    if spec is None or spec.origin is None:
        raise StoreError("the arcadedb-embedded wheel is not installed (pip install -e '.[test]')")
    pkg = Path(spec.origin).parent
    if not (pkg / "jre" / "bin" / "java").exists() or not (pkg / "jars").is_dir():
        raise StoreError(f"{pkg}: arcadedb-embedded has no jre/bin/java or jars/ folder")
    return pkg


class ArcadeDBBoltServer(LocalServer):
    """One ArcadeDB server process. Use as a context manager, or ``start()`` / ``stop()``."""

    label = "ArcadeDB Bolt server"

    def __init__(self, root: Path, *, heap: str = "512m", startup_timeout_s: float = 90.0) -> None:
        super().__init__(root, startup_timeout_s=startup_timeout_s)
        self.heap = heap
        self.user = "root"
        self.password = secrets.token_urlsafe(12)  # the server refuses passwords under 8 chars
        self.http_port = free_port()
        self.bolt_port = free_port()

    @property
    def uri(self) -> str:
        return f"bolt://127.0.0.1:{self.bolt_port}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def command(self) -> list[str]:
        pkg = arcadedb_package_dir()
        props = {
            "arcadedb.server.rootPath": str(self.root),
            "arcadedb.server.databaseDirectory": str(self.root / "databases"),
            "arcadedb.server.rootPassword": self.password,
            "arcadedb.server.httpIncomingHost": "127.0.0.1",
            "arcadedb.server.httpIncomingPort": str(self.http_port),
            "arcadedb.server.plugins": BOLT_PLUGIN,
            "arcadedb.bolt.host": "127.0.0.1",
            "arcadedb.bolt.port": str(self.bolt_port),
        }
        return [str(pkg / "jre" / "bin" / "java"), f"-Xmx{self.heap}",
                *(f"-D{k}={v}" for k, v in props.items()),
                "-cp", str(pkg / "jars" / "*"), MAIN_CLASS]

    def _ready(self) -> bool:
        try:
            ok = requests.get(f"{self.http}/api/v1/ready", timeout=1).status_code < 300
        except requests.RequestException:
            return False
        return ok and port_open(self.bolt_port)

    def server_command(self, command: str) -> None:
        """Run a server command over HTTP (e.g. ``create database kg``)."""
        resp = requests.post(f"{self.http}/api/v1/server", json={"command": command},
                             auth=(self.user, self.password), timeout=60)
        if resp.status_code >= 300:
            raise StoreError(f"ArcadeDB server command {command!r} failed: {resp.status_code} {resp.text}")

    def create_database(self, name: str) -> str:
        self.server_command(f"create database {_db_name(name)}")
        return name

    def drop_database(self, name: str) -> None:
        self.server_command(f"drop database {_db_name(name)}")


def _db_name(name: str) -> str:
    if not name.replace("_", "").isalnum() or not name[0].isalpha():
        raise StoreError(f"invalid database name {name!r} (letters, digits, '_'; starts with a letter)")
    return name
