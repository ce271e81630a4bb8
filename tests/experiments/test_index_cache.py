"""The experiments' index cache under parallel sweep jobs (separate processes): one job builds a
dataset's index while another waits and re-uses it, and a job that rebuilds waits until no other
job has the index open (experiments.indexing.CacheLock)."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKER = str(Path(__file__).with_name("cache_worker.py"))
TIMEOUT = 180.0


class Job:
    """A worker process whose stdout events are read as they come."""

    def __init__(self, reuse: bool, build_delay: float = 0.0, hold_until: Path | None = None) -> None:
        self.proc = subprocess.Popen([sys.executable, WORKER, "1" if reuse else "0", str(build_delay),
                                      str(hold_until) if hold_until else "-"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def wait_for(self, event: str) -> dict[str, Any]:
        """The payload of the first ``event``; fails if the job ends or times out first."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            for name, payload in self.events:
                if name == event:
                    return payload
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no {event!r} within {TIMEOUT:g} s; events {self.names()}")
            if line is None:
                self.proc.wait()
                assert self.proc.stderr is not None
                pytest.fail(f"the job ended (rc {self.proc.returncode}) before {event!r}; events {self.names()}; "
                            f"stderr: {self.proc.stderr.read()[-2000:]}")
            name, _, rest = line.strip().partition(" ")
            self.events.append((name, json.loads(rest) if rest else {}))

    def names(self) -> list[str]:
        return [n for n, _ in self.events]

    def finish(self) -> list[str]:
        self.wait_for("closed")
        assert self.proc.wait(timeout=TIMEOUT) == 0
        return self.names()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TGRAG_ROOT", str(ROOT))
    monkeypatch.setenv("TGRAG_EXPERIMENT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_parallel_jobs_build_once_and_never_delete_an_open_index(cache: Path, tmp_path: Path) -> None:
    # two jobs, one cold cache: the first builds (slowly), the second waits and re-uses its index
    first = Job(reuse=True, build_delay=3.0)
    first.wait_for("building")
    second = Job(reuse=True)
    second.wait_for("waiting")
    built, reused = first.wait_for("opened"), second.wait_for("opened")
    assert (built["reused"], reused["reused"]) == (False, True)
    assert built["path"] == reused["path"]
    assert "building" not in second.finish()
    first.finish()
    assert len(list((cache / "indexes").glob("*.tmp-*"))) == 0

    # a job holds the index open; a job that rebuilds it waits until the first one has closed it
    release = tmp_path / "release"
    reader = Job(reuse=True, hold_until=release)
    assert reader.wait_for("opened")["reused"]
    rebuilder = Job(reuse=False)
    rebuilder.wait_for("waiting")
    assert "opened" not in rebuilder.names() and rebuilder.proc.poll() is None
    release.touch()
    read = reader.wait_for("read")
    assert read["files"] and read["documents"] > 0 and read["passages"] == read["vectors"] and read["hits"] == 1
    closed = reader.wait_for("closed")
    rebuilt = rebuilder.wait_for("opened")
    assert not rebuilt["reused"] and rebuilt["path"] == built["path"]
    assert rebuilder.wait_for("building")["t"] >= closed["t"]
    rebuilder.finish()
    reader.finish()
