"""One writer per index: an OS file lock (``fcntl.flock``) on ``<index>/write.lock``.

The holder writes its pid into the file, so a writer that gives up after ``timeout`` seconds can
say who holds the lock. The kernel releases the lock when the holder exits, however it exits
(SIGKILL included), so a crashed writer never leaves the index locked.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from tgrag.kernel.errors import StoreError


class IndexLockedError(StoreError):
    """Another process holds the index's writer lock (carries its pid when known)."""

    def __init__(self, path: Path, holder: int | None, timeout: float) -> None:
        self.path, self.holder, self.timeout = path, holder, timeout
        who = f"process {holder}" if holder is not None else "another process"
        super().__init__(f"{path}: {who} is writing this index; gave up waiting after {timeout:g} s")


class WriteLock:
    """Re-entrant within one object: nested ``acquire`` calls are counted."""

    def __init__(self, path: Path, *, timeout: float = 60.0) -> None:
        self.path = path
        self.timeout = timeout
        self._fd: int | None = None
        self._depth = 0

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, *, timeout: float | None = None) -> None:
        """Wait up to ``timeout`` (default: the lock's) seconds; 0 tries once."""
        if self._fd is not None:
            self._depth += 1
            return
        limit = self.timeout if timeout is None else timeout
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + limit
        delay = 0.01
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read_pid(fd)
                    os.close(fd)
                    raise IndexLockedError(self.path.parent, holder, limit) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd, self._depth = fd, 1

    def try_acquire(self) -> bool:
        try:
            self.acquire(timeout=0)
        except IndexLockedError:
            return False
        return True

    def release(self) -> None:
        if self._fd is None:
            return
        self._depth -= 1
        if self._depth > 0:
            return
        fd, self._fd = self._fd, None
        os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode().strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None
