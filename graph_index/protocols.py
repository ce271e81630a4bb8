"""Small protocols and records of the indexing pipeline (extraction, entity resolution, summaries)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from tgrag.kernel.records import Entity, Fact, Passage, TimeNode
from tgrag.kernel.temporal import TimeInterval


@dataclass(frozen=True, slots=True)
class EntityMention:
    """A surface form of an entity seen in one passage (before resolution)."""

    name: str
    type: str
    passage_id: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "passage_id": self.passage_id}


@dataclass(frozen=True, slots=True)
class RawFact:
    """A fact as extracted, with entity *surface names* (resolution turns it into a ``Fact``).

    ``obj`` is an entity surface name when ``object_is_entity`` else a literal value.
    """

    subject: str
    subject_type: str
    predicate: str
    obj: str
    object_is_entity: bool
    object_type: str
    valid: TimeInterval | None
    observed_at: datetime | None
    passage_id: str
    doc_id: str
    confidence: float
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"subject": self.subject, "subject_type": self.subject_type, "predicate": self.predicate,
                "object": self.obj, "object_is_entity": self.object_is_entity,
                "object_type": self.object_type,
                "valid": self.valid.to_dict() if self.valid else None,
                "observed_at": self.observed_at.isoformat() if self.observed_at else None,
                "passage_id": self.passage_id, "doc_id": self.doc_id,
                "confidence": self.confidence, "text": self.text}


@dataclass(frozen=True, slots=True)
class ExtractionFailure:
    """One passage whose extraction failed (kept, counted, logged — never silently dropped)."""

    passage_id: str
    reason: str
    attempts: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {"passage_id": self.passage_id, "reason": self.reason, "attempts": self.attempts}


@dataclass(frozen=True, slots=True)
class ExtractionResult:
    entities: tuple[EntityMention, ...] = ()
    facts: tuple[RawFact, ...] = ()
    failures: tuple[ExtractionFailure, ...] = ()
    stats: Mapping[str, float] = field(default_factory=dict)


@runtime_checkable
class FactExtractor(Protocol):
    """Passages → entity mentions and raw facts (deterministic for a given input)."""

    @property
    def name(self) -> str: ...

    def extract(self, passages: Sequence[Passage]) -> ExtractionResult: ...


@runtime_checkable
class Summariser(Protocol):
    """Writes the summary of one time-tree node from its own texts and its children's summaries.

    An implementation that reads only the first N unique sentences of (child summaries, texts) may
    expose ``max_candidates = N``; the indexer then reads a node's passages only that far."""

    @property
    def name(self) -> str: ...

    def summarise(self, node: TimeNode, texts: Sequence[str], child_summaries: Sequence[str]) -> str: ...

    def summarise_batch(self, items: Sequence[tuple[TimeNode, Sequence[str], Sequence[str]]]) -> list[str]:
        """Summaries of several nodes at once (lets extractive summarisers embed in one batch)."""
        ...


@runtime_checkable
class EntityResolver(Protocol):
    """Maps (surface name, type) pairs to entity ids, adding new entities / aliases to ``table``
    (an :class:`graph_index.entities.EntityTable`)."""

    def resolve(self, names: Sequence[tuple[str, str]], table: Any) -> dict[tuple[str, str], str]: ...


Record = Entity | Fact | TimeNode
