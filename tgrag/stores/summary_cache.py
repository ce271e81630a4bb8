"""The summariser's sentence-vector cache as a participant of the commit protocol.

One ``.npz`` per generation (``summary_vectors.g7.npz``). A generation that embedded no new
sentence hard-links the previous file instead of writing it again. The cache only saves work (a
sentence's vector never changes), so a generation without its file loads the newest older one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol, runtime_checkable

from tgrag.stores.generations import GenerationFiles, fsync_dir


@runtime_checkable
class VectorCache(Protocol):
    @property
    def cached_vectors(self) -> int: ...

    def save_cache(self, path: str | Path) -> int: ...

    def load_cache(self, path: str | Path) -> int: ...

    def clear_cache(self) -> None: ...


class SummaryCacheFiles:
    """Transactional over a :class:`VectorCache` kept in ``base`` (generation-named)."""

    def __init__(self, cache: VectorCache, base: Path) -> None:
        self.cache = cache
        self.files = GenerationFiles(base)
        self._generation = 0
        self._written = -1  # cache size of the committed generation's file

    def begin(self, generation: int) -> None:
        self.files.prune(keep=set(), above=generation - 1)

    def prepare(self, generation: int) -> None:
        target = self.files.path(generation)
        prev = self.files.existing(self._generation)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.unlink(missing_ok=True)
        if prev is not None and self.cache.cached_vectors == self._written:
            os.link(prev, tmp)
        else:
            self.cache.save_cache(tmp)
            with tmp.open("rb") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, target)
        fsync_dir(target.parent)

    def commit(self, generation: int) -> None:
        self._generation = generation
        self._written = self.cache.cached_vectors
        self.files.prune(keep={generation, generation - 1})

    def abort(self) -> None:
        self.load(self._generation)

    def durable(self, generation: int) -> bool:
        return True  # a cache: any older file (or none) is a correct state

    def load(self, generation: int) -> None:
        self._generation = generation
        self.cache.clear_cache()
        older = [g for g in self.files.generations() if g <= generation]
        found = self.files.existing(older[-1]) if older else self.files.existing(0)
        self._written = self.cache.load_cache(found) if found is not None else 0
