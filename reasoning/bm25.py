"""BM25 over the passages, updated incrementally on insert and delete.

Why not a bm25s index kept up to date: ``bm25s.BM25.index`` stores, per (term, passage), the final
score ``idf(df, N) * tfc(tf, |d|, avgdl)``. Every one of those depends on the whole corpus (N, the
average length, the term's df), so one insert or delete changes all of them, and bm25s has no
add/remove. Rebuilding it after each write is the O(corpus) cost this module removes.

What this index keeps is what does *not* depend on the rest of the corpus: each passage's term
counts and length (sparse CSC blocks, terms as columns), plus the corpus statistics (N, total
length, df per term) updated on every insert and delete. A query evaluates BM25 over the postings
of its own terms only (one CSC column slice per query term), with bm25s's own idf and
term-frequency functions (``bm25s.scoring``, same method, k1 and b, float32 as bm25s computes),
so its scores equal a from-scratch bm25s build over the same passages (the tests compare both,
and an incremental index with a fresh one after inserts and deletes).

Inserted passages go to a small tail block, merged into the main block when it outgrows a quarter
of it (amortised O(1) per posting); deleted passages are dropped from the statistics at once and
from the postings when dead slots exceed half of them (a compaction).
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterable, Sequence

import numpy as np
import scipy.sparse as sp

from tgrag.kernel.records import Passage

_TOKEN = re.compile(r"\w+", re.UNICODE)


def bm25_tokens(text: str) -> list[str]:
    from bm25s.stopwords import STOPWORDS_EN

    stop = set(STOPWORDS_EN)
    return [t for t in _TOKEN.findall(text.lower()) if t not in stop]


def passage_tokens(p: Passage) -> list[str]:
    """What BM25 indexes of a passage: its title and text."""
    return bm25_tokens(f"{p.title} {p.text}")


class BM25Index:
    """Incremental BM25 (bm25s scoring) over passages; ``search`` ranks by score, ties in the
    DocumentStore's passage order (doc id, position, passage id)."""

    def __init__(self, *, k1: float = 1.5, b: float = 0.75, method: str = "lucene") -> None:
        from bm25s.scoring import _select_idf_scorer, _select_tfc_scorer

        self.k1, self.b, self.method = k1, b, method
        self._idf = _select_idf_scorer(method)
        self._tfc = _select_tfc_scorer(method)
        self.built = False
        self._reset()

    def _reset(self) -> None:
        self._vocab: dict[str, int] = {}
        self._df: list[int] = []
        self._slot: dict[str, int] = {}  # passage id → slot
        self._passages: list[Passage | None] = []  # slot → passage (None: deleted)
        self._alive = bytearray()  # slot → 1 while live (read as a numpy bool array, no copy)
        self._lengths = array("q")  # slot → token count (read as a numpy int64 array, no copy)
        self._total_length = 0
        self._main = sp.csc_array((0, 0), dtype=np.float32)  # slots × terms, term counts
        self._tail: dict[int, list[tuple[int, float]]] = {}  # term → (slot, count) not merged yet
        self._tail_nnz = 0
        self._dead = 0

    # -- writes -------------------------------------------------------------------------------
    def build(self, passages: Iterable[Passage]) -> None:
        """Index exactly ``passages`` (a from-scratch build)."""
        self._reset()
        self.built = True
        self.update(added=list(passages))
        self._merge()

    def update(self, *, added: Sequence[Passage] = (), removed: Iterable[str] = ()) -> None:
        """Delete ``removed`` ids, then add (or replace) ``added``; a no-op before the first build
        (which will read the stored passages as they are then)."""
        if not self.built:
            return
        for pid in [*removed, *(p.passage_id for p in added)]:
            self._remove(pid)
        for p in added:
            self._add(p)
        if self._tail_nnz > max(4096, self._main.nnz // 4):
            self._merge()
        if self._dead > max(1024, len(self._passages) // 2):
            self._compact()

    def _add(self, p: Passage) -> None:
        tokens = passage_tokens(p)
        ids = np.fromiter((self._vocab.setdefault(t, len(self._vocab)) for t in tokens), dtype=np.int64,
                          count=len(tokens))
        terms, counts = np.unique(ids, return_counts=True)
        self._df.extend([0] * (len(self._vocab) - len(self._df)))
        for t in terms.tolist():
            self._df[t] += 1
        slot = len(self._passages)
        self._slot[p.passage_id] = slot
        self._passages.append(p)
        self._alive.append(1)
        self._lengths.append(len(tokens))
        self._total_length += len(tokens)
        for t, c in zip(terms.tolist(), counts.tolist(), strict=True):
            self._tail.setdefault(t, []).append((slot, float(c)))
        self._tail_nnz += len(terms)

    def _remove(self, pid: str) -> None:
        slot = self._slot.pop(pid, None)
        if slot is None:
            return
        p = self._passages[slot]
        for t in {self._vocab[tok] for tok in passage_tokens(p)} if p is not None else ():
            self._df[t] -= 1
        self._total_length -= self._lengths[slot]
        self._passages[slot] = None
        self._alive[slot] = 0
        self._dead += 1

    def _merge(self) -> None:
        """Fold the tail into the main CSC block (its shape grows to every slot and term)."""
        shape = (len(self._passages), len(self._vocab))
        if not self._tail and self._main.shape == shape:
            return
        cols = [t for t, post in self._tail.items() for _ in post]
        rows = [slot for post in self._tail.values() for slot, _ in post]
        data = [c for post in self._tail.values() for _, c in post]
        tail = sp.csc_array((np.asarray(data, dtype=np.float32),
                             (np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64))), shape=shape)
        main = self._main.copy()
        main.resize(shape)
        self._main = sp.csc_array(main + tail)
        self._tail, self._tail_nnz = {}, 0

    def _compact(self) -> None:
        live = [p for p in self._passages if p is not None]
        self.build(live)

    # -- reads --------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._slot)

    def __contains__(self, pid: object) -> bool:
        return pid in self._slot

    def scores(self, query: str) -> dict[str, float]:
        """BM25 score of every passage sharing a term with ``query`` (the others score 0)."""
        return {p.passage_id: s for s, p in self.search(query)}

    def search(self, query: str) -> list[tuple[float, Passage]]:
        """(score, passage) for every passage scoring above 0, best first."""
        n = len(self._slot)
        terms = [self._vocab[t] for t in bm25_tokens(query) if t in self._vocab]
        if not terms or n == 0:
            return []
        avg = self._total_length / n
        slot_parts: list[np.ndarray] = []
        score_parts: list[np.ndarray] = []
        lengths = np.frombuffer(self._lengths, dtype=np.int64)
        for t in terms:  # one block per query token, repeated tokens counted again (as bm25s does)
            slots, tf = self._postings(t)
            if not len(slots):
                continue
            idf = np.float32(self._idf(self._df[t], N=n))
            tfc = self._tfc(tf_array=tf.astype(np.float64), l_d=lengths[slots], l_avg=avg, k1=self.k1, b=self.b)
            slot_parts.append(slots)
            score_parts.append(idf * tfc.astype(np.float32))
        if not slot_parts:
            return []
        slots_all = np.concatenate(slot_parts)
        uniq, inverse = np.unique(slots_all, return_inverse=True)
        total = np.zeros(len(uniq), dtype=np.float32)
        np.add.at(total, inverse, np.concatenate(score_parts))
        ranked = [(float(s), p) for slot, s in zip(uniq.tolist(), total.tolist(), strict=True)
                  if s > 0 and (p := self._passages[slot]) is not None]
        ranked.sort(key=lambda x: (-x[0], x[1].doc_id, x[1].position, x[1].passage_id))
        return ranked

    def _postings(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        """(live slots, term counts) of ``term``: the main block's column, then the tail's."""
        slots = np.zeros(0, dtype=np.int64)
        tf = np.zeros(0, dtype=np.float32)
        if term < self._main.shape[1]:
            lo, hi = self._main.indptr[term], self._main.indptr[term + 1]
            slots, tf = self._main.indices[lo:hi].astype(np.int64), self._main.data[lo:hi]
        extra = self._tail.get(term)
        if extra:
            slots = np.concatenate([slots, np.asarray([s for s, _ in extra], dtype=np.int64)])
            tf = np.concatenate([tf, np.asarray([c for _, c in extra], dtype=np.float32)])
        if self._dead and len(slots):
            alive = np.frombuffer(self._alive, dtype=bool)[slots]
            slots, tf = slots[alive], tf[alive]
        return slots, tf
