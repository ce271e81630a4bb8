"""Small protocols, one per role. Backends implement them; algorithms are free functions.

Temporal semantics shared by every graph store (the contract suite checks them):
- a fact matches ``during=iv`` when its *effective* interval (``valid`` clipped at ``invalid_at``)
  overlaps ``iv`` under half-open rules; undated facts (``valid is None``) never match a
  ``during`` filter, and every fact matches when ``during`` is None;
- upserts replace a record with the same id (last write wins); deleting unknown ids is a no-op.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from tgrag.kernel.batch import WriteBatch
from tgrag.kernel.records import (
    Document,
    Entity,
    Fact,
    Hop,
    LLMRequest,
    LLMResponse,
    Passage,
    TimeNode,
)
from tgrag.kernel.temporal import TimeInterval


@runtime_checkable
class Embedder(Protocol):
    """Text → L2-normalised float32 vectors (cosine = dot product)."""

    @property
    def dim(self) -> int: ...

    @property
    def name(self) -> str: ...

    def encode(self, texts: Sequence[str], *, kind: str = "passage") -> np.ndarray:
        """``kind`` is "passage" or "query" (models with asymmetric prefixes use it)."""
        ...


@runtime_checkable
class LLM(Protocol):
    """One narrow call shape; backends account tokens and seconds in the response."""

    @property
    def name(self) -> str: ...

    def complete(self, request: LLMRequest) -> LLMResponse: ...


@runtime_checkable
class TokenCounter(Protocol):
    """Optional LLM capability: the length of a text in the model's own tokens (for budgets).
    Backends with a local tokenizer implement it; wrappers delegate to the model they wrap
    (``tgrag.models.tokens.token_counter`` falls back to a word estimate for the others)."""

    def count_tokens(self, text: str) -> int: ...


@runtime_checkable
class SequenceScorer(Protocol):
    """Log-probabilities under a causal LM, batched (RAG-Sequence / RAG-Token, UPR reranking).

    Prompts are user-message texts: a chat model wraps each in its own template (generation prompt
    added); continuations are token ids of the model's own vocabulary (``encode``), so a decoded
    answer is scored exactly as it was generated. ``end_id`` is the token that ends an answer."""

    @property
    def name(self) -> str: ...

    @property
    def end_id(self) -> int: ...

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...

    def logprobs(self, prompts: Sequence[str], continuations: Sequence[Sequence[int]]) -> list[list[float]]:
        """log p(c_t | prompt_i, c_<t) for every token of each continuation (pairs, one batch)."""
        ...

    def next_token_logprobs(self, prompts: Sequence[str], prefixes: Sequence[Sequence[int]]) -> np.ndarray:
        """(len(prompts), vocab) log p(next token | prompt_i, prefix_i): one row per pair."""
        ...


@runtime_checkable
class VectorIndex(Protocol):
    """Cosine nearest neighbours over string ids, each with the date interval of what it embeds;
    saved atomically with its id map. Backends of an index directory are also ``Transactional``.
    Every backend passes the shared contract suite ``tgrag.contracts.vector_index``."""

    def add(self, ids: Sequence[str], vectors: np.ndarray, *,
            intervals: Sequence[TimeInterval | None] | None = None) -> None:
        """Add or replace vectors for ``ids`` (a repeated id: the last wins), each with its date
        interval (``None``, or ``intervals`` omitted: undated)."""
        ...

    def remove(self, ids: Iterable[str]) -> int:
        """Remove ids (unknown ones ignored); returns how many were removed."""
        ...

    def search(self, query: np.ndarray, k: int, *, allowed: set[str] | None = None,
               scope: TimeInterval | None = None, keep_undated: bool = True) -> list[tuple[str, float]]:
        """Top-k (id, cosine) for one query vector, best first (ties by id), exact scores. Only ids
        in ``allowed`` (if given) whose interval overlaps ``scope`` (if given; undated ids pass when
        ``keep_undated``), and still k of them when that many are indexed."""
        ...

    def __contains__(self, id_: object) -> bool: ...

    def __len__(self) -> int: ...

    def ids(self) -> list[str]:
        """Every indexed id."""
        ...

    def save(self) -> None: ...


@runtime_checkable
class DocumentStore(Protocol):
    """Documents and their passages. ``put`` is atomic: all of a batch or nothing."""

    def put(self, documents: Sequence[Document], passages: Sequence[Passage]) -> None: ...

    def get_document(self, doc_id: str) -> Document | None: ...

    def get_passages(self, passage_ids: Sequence[str]) -> list[Passage]:
        """Passages in the order asked for; unknown ids are skipped."""
        ...

    def passages_of(self, doc_id: str) -> list[Passage]: ...

    def delete_document(self, doc_id: str) -> list[str]:
        """Removes the document and its passages; returns the removed passage ids."""
        ...

    def iter_passages(self, *, during: TimeInterval | None = None) -> Iterator[Passage]:
        """All passages, or those whose date overlaps ``during`` (undated ones excluded then)."""
        ...

    def passage_ids_in(self, scope: TimeInterval, *, keep_undated: bool = False, limit: int | None = None
                       ) -> set[str]:
        """Ids of the passages whose date overlaps ``scope`` (``TimeInterval.overlaps``), plus the
        undated ones when ``keep_undated``; at most ``limit`` of them (any). Served by an index: the
        cost follows the number returned, not the corpus."""
        ...

    def scope_excludes(self, scope: TimeInterval, *, keep_undated: bool = False) -> bool:
        """Whether some passage is not admitted by ``scope`` (as ``passage_ids_in`` admits them)."""
        ...

    def document_ids(self) -> list[str]: ...

    def passage_ids(self) -> set[str]: ...

    def count(self) -> tuple[int, int]:
        """(documents, passages)."""
        ...


@runtime_checkable
class GraphStore(Protocol):
    """Entities, temporal facts, time-tree nodes and passage-graph hops."""

    def upsert(self, records: Iterable[Entity | Fact | TimeNode | Hop]) -> None: ...

    def delete(self, ids: Iterable[str]) -> None:
        """Delete records by id (any kind); deleting an entity deletes the facts on it."""
        ...

    def entities(self, ids: Iterable[str] | None = None) -> list[Entity]: ...

    def facts(self, *, subject: str | None = None, predicate: str | None = None,
              object: str | None = None, during: TimeInterval | None = None,
              passage_ids: Iterable[str] | None = None) -> list[Fact]:
        """Facts matching every given filter, sorted by (effective start, fact_id)."""
        ...

    def neighbours(self, entity_id: str, *, depth: int = 1, during: TimeInterval | None = None
                   ) -> list[Fact]:
        """Facts on paths of up to ``depth`` entity-to-entity hops from ``entity_id``, every fact
        on the path valid during ``during``; sorted by (effective start, fact_id)."""
        ...

    def time_nodes(self, ids: Iterable[str] | None = None) -> list[TimeNode]: ...

    def hops(self, *, src: Iterable[str] | None = None, dst: Iterable[str] | None = None) -> list[Hop]:
        ...

    def counts(self) -> dict[str, int]:
        """{"entities": n, "facts": n, "time_nodes": n, "hops": n}."""
        ...

    def save(self) -> None: ...

    def close(self) -> None: ...


# -- the commit protocol ---------------------------------------------------------------------------
# One logical write (insert, replace, delete, repair) is one *generation*. The document store is the
# source of truth and holds the journal and the live generation number; every other store is a
# ``Transactional`` participant. The coordinator (``tgrag.transaction``) runs, under the index's
# writer lock:
#   log.begin(batch) → participants' begin(g) → the writes → participants' prepare(g)
#   → log.commit(g)  [the commit point] → participants' commit(g)
# and on any failure participants' abort() then recovery: a journalled generation is rolled
# forward when every participant holds it durably (``durable(g)``), else back. Opening an index
# runs the same recovery, then ``load(g)`` of the live generation.


@runtime_checkable
class Transactional(Protocol):
    """A store taking part in the commit protocol (graph, vectors, caches)."""

    def begin(self, generation: int) -> None:
        """Start writing ``generation``: discard anything stored under it (or later) by an
        interrupted attempt, and remember the committed state so that ``abort`` can return to it."""
        ...

    def prepare(self, generation: int) -> None:
        """Store the pending state durably as ``generation`` (file stores write generation-named
        files, fsynced; a server store commits its transaction). Nothing reads it until committed."""
        ...

    def commit(self, generation: int) -> None:
        """``generation`` is live: forget the undo state, delete generations older than the one
        before it (readers that are loading it keep working)."""
        ...

    def abort(self) -> None:
        """Drop pending changes; the in-memory state is the last committed generation again."""
        ...

    def durable(self, generation: int) -> bool:
        """Whether ``generation`` is stored completely (prepared or committed)."""
        ...

    def load(self, generation: int) -> None:
        """Make the in-memory state the stored ``generation`` (raises ``IndexCorruptError`` when it
        is not there)."""
        ...


@runtime_checkable
class CommitLog(Protocol):
    """The source of truth's side of the commit protocol: the live generation and the journal."""

    def generation(self) -> int:
        """The last committed generation (0 for a new index)."""
        ...

    def snapshot(self) -> int:
        """Pin this store's reads to the last committed state (releasing an earlier pin) and
        return its generation; other stores then load that generation."""
        ...

    def begin(self, batch: WriteBatch) -> None:
        """Journal ``batch`` durably, then open the write transaction it runs in (its changes are
        visible to this store's own reads, to nobody else's)."""
        ...

    def commit(self, generation: int) -> None:
        """Atomically make the open transaction live as ``generation`` and clear its journal entry."""
        ...

    def abort(self) -> None:
        """Roll the open transaction back; the journal entry stays for recovery to resolve."""
        ...

    def pending(self) -> WriteBatch | None:
        """The journalled batch of an interrupted write, if any."""
        ...

    def resolve(self, batch: WriteBatch, *, forward: bool) -> None:
        """Recovery: replay ``batch`` and make its generation live (``forward``), or drop it."""
        ...
