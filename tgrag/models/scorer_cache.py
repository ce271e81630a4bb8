"""Persistent cache for sequence scores, and finding the scorer behind a wrapped LLM.

:class:`CachedScorer` wraps any :class:`~tgrag.kernel.protocols.SequenceScorer`. ``logprobs`` (UPR
scores, RAG-Sequence's thorough scoring) is cached per (prompt, continuation) pair, keyed by the
sha256 of the canonical JSON of the model name, the prompt and the token ids, so a batch whose pairs
were partly seen asks the model only for the rest. Next-token rows (a whole vocabulary per call)
pass through uncached. Modes and storage follow :class:`~tgrag.models.cache.CachedLLM`: the same
SQLite file can hold both (a table of its own), ``replay`` raises on a miss, ``off`` touches nothing.

:func:`scorer_of` finds the scorer inside the wrappers an LLM goes through (each exposes ``inner``);
under a :class:`CachedLLM` it is wrapped in a :class:`CachedScorer` on the same file and mode.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tgrag.kernel.errors import ModelError
from tgrag.kernel.protocols import SequenceScorer
from tgrag.models.cache import CachedLLM, SqliteCache

_SCHEMA = "CREATE TABLE IF NOT EXISTS scorer_cache (key TEXT PRIMARY KEY, value TEXT NOT NULL)"


def score_key(model: str, prompt: str, continuation: Sequence[int]) -> str:
    blob = json.dumps({"model": model, "prompt": prompt, "continuation": [int(t) for t in continuation]},
                      sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class CachedScorer(SqliteCache):
    """``SequenceScorer`` wrapper answering repeated ``logprobs`` pairs from a SQLite file."""

    def __init__(self, inner: SequenceScorer, path: Path | str, *, mode: str = "readwrite") -> None:
        self.inner = inner
        super().__init__(path, mode, _SCHEMA, "scorer cache")

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def end_id(self) -> int:
        return self.inner.end_id

    def encode(self, text: str) -> list[int]:
        return self.inner.encode(text)

    def decode(self, ids: Sequence[int]) -> str:
        return self.inner.decode(ids)

    def logprobs(self, prompts: Sequence[str], continuations: Sequence[Sequence[int]]) -> list[list[float]]:
        if self.mode == "off":
            return self.inner.logprobs(prompts, continuations)
        keys = [score_key(self.name, p, c) for p, c in zip(prompts, continuations, strict=True)]
        found: dict[str, list[float]] = {}
        with self._lock:
            for key in dict.fromkeys(keys):
                row = self._execute("SELECT value FROM scorer_cache WHERE key = ?", (key,)).fetchone()
                if row is not None:
                    found[key] = [float(v) for v in json.loads(row[0])]
            self._hits += sum(k in found for k in keys)
            self._misses += sum(k not in found for k in keys)
        first: dict[str, int] = {}  # each missing key once, at its first position
        for i, k in enumerate(keys):
            if k not in found:
                first.setdefault(k, i)
        todo = list(first.values())
        if todo and self.mode == "replay":
            raise ModelError(f"{self.path}: replay scorer cache has no scores for model {self.name!r}, "
                             f"prompt {prompts[todo[0]][:120]!r}")
        if todo:
            fresh = self.inner.logprobs([prompts[i] for i in todo], [continuations[i] for i in todo])
            with self._lock:
                for i, lps in zip(todo, fresh, strict=True):
                    found[keys[i]] = [float(v) for v in lps]
                    # -inf is stored as JSON -Infinity (Python's json reads it back)
                    self._execute("INSERT OR REPLACE INTO scorer_cache (key, value) VALUES (?, ?)",
                              (keys[i], json.dumps(found[keys[i]])))
                    self._writes += 1
        return [list(found[k]) for k in keys]

    def next_token_logprobs(self, prompts: Sequence[str], prefixes: Sequence[Sequence[int]]) -> np.ndarray:
        return self.inner.next_token_logprobs(prompts, prefixes)


def scorer_of(llm: Any) -> SequenceScorer | None:
    """The sequence scorer behind ``llm`` and its wrappers (``inner``), or None. Below a
    :class:`CachedLLM` the scorer is cached in the same file and mode."""
    cache: CachedLLM | None = None
    obj = llm
    for _ in range(16):  # wrappers are shallow; a cycle of ``inner`` must not hang
        if obj is None:
            return None
        if isinstance(obj, SequenceScorer):
            if cache is not None and cache.mode != "off":
                return CachedScorer(obj, cache.path, mode=cache.mode)
            return obj
        if isinstance(obj, CachedLLM) and cache is None:
            cache = obj
        obj = getattr(obj, "inner", None)
    return None
