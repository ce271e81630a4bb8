"""Start and stop a local Milvus Lite server (``milvus-lite server``), for tests and benchmarks of
:class:`~tgrag.stores.milvus_index.MilvusVectorIndex`.

The server speaks Milvus's gRPC protocol, so the client code is the one a Milvus Standalone or
Distributed deployment takes. It listens on loopback only, on a free port, keeps its data under
``root``, and is stopped with SIGTERM by its process id (then killed if it lingers).
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
from pathlib import Path

from tgrag.kernel.errors import StoreError
from tgrag.stores.arcadedb_server import free_port, stop_process


def milvus_lite_installed() -> bool:
    return importlib.util.find_spec("milvus_lite") is not None


class MilvusLiteServer:
    """One ``milvus-lite server`` process. Use as a context manager, or ``start()`` / ``stop()``."""

    def __init__(self, root: Path, *, startup_timeout_s: float = 60.0) -> None:
        self.root = Path(root)
        self.startup_timeout_s = startup_timeout_s
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.root / "server.out"

    def command(self) -> list[str]:
        if not milvus_lite_installed():
            raise StoreError("milvus-lite is not installed (pip install -e '.[test]')")
        return [sys.executable, "-m", "milvus_lite", "server", "--host", "127.0.0.1", "--port", str(self.port),
                "--data-dir", str(self.root / "data")]

    def start(self) -> MilvusLiteServer:
        self.root.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(self.command(), cwd=self.root, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StoreError(f"milvus-lite exited with code {self.proc.returncode} while starting; "
                                 f"log {self.log_path}:\n{self.log_tail()}")
            if self._ready():
                return self
            time.sleep(0.2)
        self.stop()
        raise StoreError(f"milvus-lite server not ready after {self.startup_timeout_s:.0f}s; "
                         f"log {self.log_path}:\n{self.log_tail()}")

    def _ready(self) -> bool:
        if "listening on" not in self.log_tail():
            return False
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(1)
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def log_tail(self, n: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM the process we started (by pid); SIGKILL it if it lingers."""
        proc, self.proc = self.proc, None
        stop_process(proc, timeout_s)

    def __enter__(self) -> MilvusLiteServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
