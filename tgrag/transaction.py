"""The commit protocol that makes each insert, replace, delete or repair one transaction across
every store of an index (see :class:`~tgrag.kernel.protocols.Transactional`).

Under the writer lock, a write of generation ``g``:

1. ``begin(g)`` of every participant (drops leftovers of an interrupted attempt at ``g``), then
   ``log.begin(batch)``: the batch is journalled and committed, and one document-store transaction
   opens;
2. the writes (documents in the open transaction; graph, vectors, caches in memory);
3. ``prepare(g)`` of every participant: generation-named files, fsynced (a server store commits);
4. ``log.commit(g)``: **the commit point**, one SQLite transaction that holds the documents, the
   generation number and the cleared journal;
5. ``commit(g)`` of every participant (older generations pruned), then the manifest is rewritten.

Recovery (on open, when a write fails, and when a writer takes the lock) resolves a journalled
batch: forward when every participant holds its generation durably, else back; then every
participant loads the live generation. A SIGKILL at any moment therefore leaves either the old or
the new generation, and an ``insert`` that returned is never lost.

``boundary_hook`` is called with the name of each write boundary; tests and ``bench/crash.py``
install one that kills the process there.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tgrag.kernel.batch import WriteBatch
from tgrag.kernel.errors import IndexCorruptError
from tgrag.kernel.protocols import CommitLog, Transactional
from tgrag.stores.generations import atomic_write
from tgrag.stores.lock import WriteLock

log = logging.getLogger(__name__)

BOUNDARIES = ("journalled", "written", "prepared:graph", "prepared:vectors", "prepared", "committed",
              "cleaned")
boundary_hook: Callable[[str], None] | None = None


def boundary(name: str) -> None:
    if boundary_hook is not None:
        boundary_hook(name)


def kill_at(name: str) -> None:
    """Test hook: SIGKILL this process when a write reaches boundary ``name`` (see ``BOUNDARIES``;
    ``prepared:<store>`` names the moment one store has prepared)."""
    global boundary_hook

    def hook(reached: str) -> None:
        if reached == name:
            os.kill(os.getpid(), signal.SIGKILL)

    boundary_hook = hook


class Coordinator:
    """Runs the commit protocol over one index's stores. ``on_reload`` is called after the
    participants were re-loaded from disk (so in-memory caches built on them are dropped)."""

    def __init__(self, commit_log: CommitLog, participants: Sequence[tuple[str, Transactional]], *,
                 lock: WriteLock | None, manifest: Path | None, manifest_data: dict[str, Any],
                 on_reload: Callable[[], None]) -> None:
        self.log = commit_log
        self.participants = list(participants)
        self.lock = lock
        self.manifest = manifest
        self.manifest_data = manifest_data
        self.on_reload = on_reload
        self.generation = -1  # nothing loaded yet
        self.load_errors: list[str] = []
        self._open: int | None = None

    # -- opening ----------------------------------------------------------------------------------
    def open(self, *, attempts: int = 5) -> None:
        """Recover if no writer is active, then load the live generation (retried when a
        concurrent writer prunes the files between reading the generation and loading them).
        A store that cannot be loaded stays empty and is listed in ``load_errors`` (the facade's
        check reports it; ``repair`` rebuilds it)."""
        if self.lock is not None and self.lock.try_acquire():
            try:
                self._resolve()
                self._load(self.log.snapshot(), tolerant=True)
            finally:
                self.lock.release()
            return
        for _ in range(attempts):
            self._load(self.log.snapshot(), tolerant=True)
            if not self.load_errors:
                return
            time.sleep(0.05)

    def refresh(self) -> bool:
        """Load the live generation if another process committed a newer one; True if it did."""
        live = self.log.snapshot()
        if live == self.generation:
            return False
        self._load(live)
        return True

    def _load(self, generation: int, *, tolerant: bool = False) -> None:
        self.load_errors = []
        for name, p in self.participants:
            try:
                p.load(generation)
            except IndexCorruptError as exc:
                if not tolerant:
                    raise
                self.load_errors.append(f"{name}: {exc}")
        changed = generation != self.generation
        self.generation = generation
        if changed:
            self.on_reload()

    def _resolve(self) -> bool:
        """Resolve a journalled batch left by a dead writer; True if it was rolled forward."""
        batch = self.log.pending()
        if batch is None:
            return False
        live = self.log.generation()
        forward = batch.generation == live + 1 and all(p.durable(batch.generation) for _, p in self.participants)
        log.warning("index generation %d was interrupted; rolling %s", batch.generation,
                    "forward" if forward else "back")
        self.log.resolve(batch, forward=forward)
        return forward

    # -- writing ----------------------------------------------------------------------------------
    @contextmanager
    def writer(self) -> Iterator[None]:
        """Hold the writer lock, with the in-memory state at the live generation."""
        if self.lock is not None:
            self.lock.acquire()
        try:
            forward = self._resolve()
            live = self.log.snapshot()
            if forward or live != self.generation:
                self._load(live)
            yield
        finally:
            try:
                self.log.snapshot()  # re-pin reads at what this write left
            finally:
                if self.lock is not None:
                    self.lock.release()

    def begin(self, batch: WriteBatch) -> None:
        g = batch.generation
        for _, p in self.participants:
            p.begin(g)
        self.log.begin(batch)
        self._open = g
        boundary("journalled")

    def commit(self) -> None:
        g = self._open
        if g is None:
            raise RuntimeError("commit() without begin()")
        boundary("written")
        for name, p in self.participants:
            p.prepare(g)
            boundary(f"prepared:{name}")
        boundary("prepared")
        self.log.commit(g)
        self._open, self.generation, self.load_errors = None, g, []
        boundary("committed")
        for _, p in self.participants:
            p.commit(g)
        boundary("cleaned")
        self.write_manifest()

    def abort(self) -> None:
        """Undo the open write in memory, then resolve it like a crash would be resolved."""
        if self._open is None:
            return
        self._open = None
        for _, p in self.participants:
            p.abort()
        self.log.abort()
        forward = self._resolve()
        if forward:
            self._load(self.log.generation())
        else:
            self.on_reload()

    def write_manifest(self) -> None:
        if self.manifest is None:
            return
        data = {**self.manifest_data, "generation": self.generation}
        text = json.dumps(data, indent=2).encode()
        atomic_write(self.manifest, lambda fh: fh.write(text))
