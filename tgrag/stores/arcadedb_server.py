"""Start and stop a local ArcadeDB server with its Bolt (Neo4j protocol) plugin, for tests and
benchmarks of :class:`~tgrag.stores.neo4j_store.Neo4jGraphStore`.

Uses the server jars and the Java runtime shipped in the ``arcadedb-embedded`` wheel (a test
extra): nothing is downloaded. The server listens on loopback only, on free ports, keeps its data
(and the ``log/`` folder it writes into its working directory) under ``root``, and is stopped with
SIGTERM by its process id (then killed if it lingers).
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests

from tgrag.kernel.errors import StoreError

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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ArcadeDBBoltServer:
    """One ArcadeDB server process. Use as a context manager, or ``start()`` / ``stop()``."""

    def __init__(self, root: Path, *, heap: str = "512m", startup_timeout_s: float = 90.0) -> None:
        self.root = Path(root)
        self.heap = heap
        self.startup_timeout_s = startup_timeout_s
        self.user = "root"
        self.password = secrets.token_urlsafe(12)  # the server refuses passwords under 8 chars
        self.http_port = free_port()
        self.bolt_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"bolt://127.0.0.1:{self.bolt_port}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def log_path(self) -> Path:
        return self.root / "server.out"

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

    def start(self) -> ArcadeDBBoltServer:
        self.root.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(self.command(), cwd=self.root, stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StoreError(f"ArcadeDB exited with code {self.proc.returncode} while starting; "
                                 f"log {self.log_path}:\n{self.log_tail()}")
            if self._ready():
                return self
            time.sleep(0.2)
        self.stop()
        raise StoreError(f"ArcadeDB Bolt server not ready after {self.startup_timeout_s:.0f}s; "
                         f"log {self.log_path}:\n{self.log_tail()}")

    def _ready(self) -> bool:
        try:
            ok = requests.get(f"{self.http}/api/v1/ready", timeout=1).status_code < 300
        except requests.RequestException:
            return False
        if not ok:
            return False
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(1)
            return s.connect_ex(("127.0.0.1", self.bolt_port)) == 0

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

    def log_tail(self, n: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM the process we started (by pid); SIGKILL it if it lingers."""
        proc, self.proc = self.proc, None
        stop_process(proc, timeout_s)

    def __enter__(self) -> ArcadeDBBoltServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stop_process(proc: subprocess.Popen[bytes] | None, timeout_s: float) -> None:
    """SIGTERM a process this code started (by its pid), SIGKILL it if it lingers."""
    if proc is None or proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout_s)


def _db_name(name: str) -> str:
    if not name.replace("_", "").isalnum() or not name[0].isalpha():
        raise StoreError(f"invalid database name {name!r} (letters, digits, '_'; starts with a letter)")
    return name
