"""Start and stop a local Milvus Lite server (``milvus-lite server``), for tests and benchmarks of
:class:`~tgrag.stores.milvus_index.MilvusVectorIndex`.

The server speaks Milvus's gRPC protocol, so the client code is the one a Milvus Standalone or
Distributed deployment takes. It listens on loopback only, on a free port, keeps its data under
``root``, and is stopped with SIGTERM by its process id (then killed if it lingers).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from tgrag.kernel.errors import StoreError
from tgrag.stores.local_server import LocalServer, free_port, port_open


def milvus_lite_installed() -> bool:
    return importlib.util.find_spec("milvus_lite") is not None


class MilvusLiteServer(LocalServer):
    """One ``milvus-lite server`` process. Use as a context manager, or ``start()`` / ``stop()``."""

    label = "milvus-lite server"

    def __init__(self, root: Path, *, startup_timeout_s: float = 60.0) -> None:
        super().__init__(root, startup_timeout_s=startup_timeout_s)
        self.port = free_port()

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        if not milvus_lite_installed():
            raise StoreError("milvus-lite is not installed (pip install -e '.[test]')")
        return [sys.executable, "-m", "milvus_lite", "server", "--host", "127.0.0.1", "--port", str(self.port),
                "--data-dir", str(self.root / "data")]

    def _ready(self) -> bool:
        if "listening on" not in self.log_tail():
            return False
        return port_open(self.port)
