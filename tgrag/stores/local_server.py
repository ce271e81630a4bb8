"""A server process started on loopback for tests and benchmarks (ArcadeDB's Bolt server for the
Neo4j store, ``milvus-lite server`` for the Milvus index): free ports, a log file under ``root``,
a readiness poll, and a stop by process id (SIGTERM, then SIGKILL if it lingers).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Self

from tgrag.kernel.errors import StoreError


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


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


class LocalServer:
    """One server process. Subclasses give ``label``, :meth:`command` and :meth:`_ready`. Use as a
    context manager, or ``start()`` / ``stop()``."""

    label = "server"

    def __init__(self, root: Path, *, startup_timeout_s: float) -> None:
        self.root = Path(root)
        self.startup_timeout_s = startup_timeout_s
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.root / "server.out"

    def command(self) -> list[str]:
        raise NotImplementedError

    def _ready(self) -> bool:
        raise NotImplementedError

    def start(self) -> Self:
        self.root.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(self.command(), cwd=self.root, stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StoreError(f"{self.label} exited with code {self.proc.returncode} while starting; "
                                 f"log {self.log_path}:\n{self.log_tail()}")
            if self._ready():
                return self
            time.sleep(0.2)
        self.stop()
        raise StoreError(f"{self.label} not ready after {self.startup_timeout_s:.0f}s; "
                         f"log {self.log_path}:\n{self.log_tail()}")

    def log_tail(self, n: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM the process we started (by pid); SIGKILL it if it lingers."""
        proc, self.proc = self.proc, None
        stop_process(proc, timeout_s)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
