"""Generation-named files: ``graph.json`` of generation 7 is ``graph.g7.json``.

A store that persists to one file writes each generation to its own name (temp file, fsync,
``os.replace``, fsync of the directory), so the committed generation's file is never overwritten
and readers in other processes can always load it. Generation 0 falls back to the plain name, the
layout of indexes written before generations existed.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from tgrag.kernel.errors import IndexCorruptError


class GenerationFiles:
    """Names, writes and prunes the generation files of one logical file ``base``."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self._pattern = re.compile(rf"^{re.escape(base.stem)}\.g(\d+){re.escape(base.suffix)}$")

    def path(self, generation: int) -> Path:
        return self.base.with_name(f"{self.base.stem}.g{generation}{self.base.suffix}")

    def existing(self, generation: int) -> Path | None:
        """The file holding ``generation``, or None (generation 0 may be the legacy plain name)."""
        p = self.path(generation)
        if p.exists():
            return p
        if generation == 0 and self.base.exists():
            return self.base
        return None

    def live(self, generation: int, what: str) -> Path | None:
        """The file to load for the live ``generation`` (None: generation 0 of a new index)."""
        found = self.existing(generation)
        if found is None and generation != 0:
            raise IndexCorruptError(f"{self.path(generation)}: the {what} of the live generation "
                                    f"{generation} are missing")
        return found

    def generations(self) -> list[int]:
        if not self.base.parent.exists():
            return []
        found = (self._pattern.match(p.name) for p in self.base.parent.iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    def write(self, generation: int, fill: Callable[[IO[bytes]], None]) -> Path:
        """Write ``generation`` with ``fill(binary file)``: temp file, fsync, rename, fsync dir."""
        target = self.path(generation)
        atomic_write(target, fill)
        return target

    def prune(self, *, keep: set[int], above: int | None = None) -> None:
        """Delete generation files not in ``keep`` (only those newer than ``above`` when given)."""
        for g in self.generations():
            if g not in keep and (above is None or g > above):
                self.path(g).unlink(missing_ok=True)
        if 0 not in keep and above is None and self.base.exists():
            self.base.unlink()


def atomic_write(target: Path, fill: Callable[[IO[bytes]], None]) -> None:
    """Write ``target`` through a temp file beside it: fsync the file, rename, fsync the directory."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fill(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
