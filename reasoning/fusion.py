"""Fusion of several passage rankings (walk + PPR + dense by default) into one retriever.

Each member ranks its top ``depth`` passages; a passage's fused score is the weighted reciprocal
rank ``Σ_m weight_m / (k0 + rank_m)`` (Cormack et al.'s RRF with per-member weights). Ties are broken
by passage id, so the result depends only on the members' rankings: fusion is deterministic.
Ablations are fusions with fewer members (``members``) or a zero weight.

:class:`MemoEmbedder` lets the members share one query embedding: every member embeds the same
question, and the memo answers all but the first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from reasoning.retrievers import to_evidence
from tgrag.kernel.errors import ConfigError
from tgrag.kernel.protocols import DocumentStore, Embedder
from tgrag.kernel.records import Evidence
from tgrag.kernel.temporal import TimeInterval

FUSABLE = ("dense", "bm25", "hybrid", "walk", "ppr")


@dataclass(frozen=True, slots=True)
class FusionSettings:
    members: tuple[str, ...] = ("dense", "walk", "ppr")
    weights: tuple[float, ...] = (1.0, 1.0, 1.0)
    k0: int = 60
    depth: int = 20

    def __post_init__(self) -> None:
        object.__setattr__(self, "members", tuple(str(m) for m in self.members))  # config gives lists
        object.__setattr__(self, "weights", tuple(float(w) for w in self.weights))
        if not self.members:
            raise ConfigError("fusion needs at least one member retriever")
        unknown = [m for m in self.members if m not in FUSABLE]
        if unknown:
            raise ConfigError(f"fusion members must be among {FUSABLE}, got {unknown}")
        if len(self.weights) != len(self.members):
            raise ConfigError(f"fusion has {len(self.members)} members but {len(self.weights)} weights")
        if any(w < 0 for w in self.weights) or self.k0 < 0 or self.depth < 1:
            raise ConfigError("fusion weights and k0 must be >= 0 and depth >= 1")


class Ranker(Protocol):
    def ranked(self, query: str, k: int, *, scope: TimeInterval | None = None,
               keep_undated: bool = True) -> list[tuple[str, float]]: ...


def weighted_rrf(rankings: Sequence[Sequence[tuple[str, float]]], weights: Sequence[float], *, k0: int = 60
                 ) -> list[tuple[str, float]]:
    """Weighted reciprocal-rank fusion; best first, ties by id."""
    fused: dict[str, float] = {}
    for ranking, w in zip(rankings, weights):
        for rank, (pid, _) in enumerate(ranking):
            fused[pid] = fused.get(pid, 0.0) + w / (k0 + rank + 1)
    return sorted(fused.items(), key=lambda x: (-x[1], x[0]))


class FusionRetriever:
    """Retriever over the weighted RRF of its members' rankings."""

    def __init__(self, docs: DocumentStore, members: Mapping[str, Ranker], *,
                 settings: FusionSettings | None = None) -> None:
        self.docs = docs
        self.settings = settings or FusionSettings()
        missing = [m for m in self.settings.members if m not in members]
        if missing:
            raise ConfigError(f"fusion members {missing} were not built")
        self.members = {m: members[m] for m in self.settings.members}

    def ranked(self, query: str, k: int, *, scope: TimeInterval | None = None,
               keep_undated: bool = True) -> list[tuple[str, float]]:
        st = self.settings
        depth = max(st.depth, k)
        rankings = [r.ranked(query, depth, scope=scope, keep_undated=keep_undated) for r in self.members.values()]
        return weighted_rrf(rankings, st.weights, k0=st.k0)[:k]

    def retrieve(self, query: str, k: int, *, scope: TimeInterval | None = None,
                 keep_undated: bool = True) -> list[Evidence]:
        return to_evidence(self.docs, self.ranked(query, k, scope=scope, keep_undated=keep_undated))


class MemoEmbedder:
    """An embedder that remembers its last ``size`` single-text query encodings (exact reuse only)."""

    def __init__(self, inner: Embedder, *, size: int = 32) -> None:
        self.inner = inner
        self.size = size
        self._memo: OrderedDict[str, np.ndarray] = OrderedDict()

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def name(self) -> str:
        return self.inner.name

    def encode(self, texts: Sequence[str], *, kind: str = "passage") -> np.ndarray:
        if kind != "query" or len(texts) != 1:
            return self.inner.encode(texts, kind=kind)
        text = texts[0]
        hit = self._memo.get(text)
        if hit is None:
            hit = self.inner.encode([text], kind=kind)
            self._memo[text] = hit
            if len(self._memo) > self.size:
                self._memo.popitem(last=False)
        else:
            self._memo.move_to_end(text)
        return hit.copy()
