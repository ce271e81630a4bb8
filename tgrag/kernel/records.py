"""Frozen records that flow through tgrag, with content-hash ids and explicit (de)serialisation.

Ids are ``<prefix>:<16 hex>`` hashes of the fields that define identity, so inserting the same
content twice yields the same ids (idempotent, incremental for free).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from tgrag.kernel.temporal import TimeInterval, dt_from_iso, dt_to_iso


def content_id(prefix: str, *parts: Any) -> str:
    """Stable id ``prefix:hash(parts)``; parts must be JSON-serialisable."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return f"{prefix}:{hashlib.sha1(blob.encode('utf-8')).hexdigest()[:16]}"


def _iv(d: Mapping[str, Any] | None) -> TimeInterval | None:
    return TimeInterval.from_dict(dict(d)) if d else None


def _ivd(iv: TimeInterval | None) -> dict[str, Any] | None:
    return iv.to_dict() if iv is not None else None


# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Document:
    """A dated source document. ``date`` keeps the granularity it was given at (or None)."""

    doc_id: str
    text: str
    date: TimeInterval | None = None
    title: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)

    @staticmethod
    def make(text: str, *, date: TimeInterval | None = None, title: str = "",
             doc_id: str | None = None, meta: Mapping[str, Any] | None = None) -> Document:
        did = doc_id or content_id("doc", title, text, _ivd(date))
        return Document(did, text, date, title, dict(meta or {}))

    @property
    def content_hash(self) -> str:
        return content_id("sha", self.title, self.text, _ivd(self.date))

    def to_dict(self) -> dict[str, Any]:
        return {"doc_id": self.doc_id, "text": self.text, "date": _ivd(self.date),
                "title": self.title, "meta": dict(self.meta)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Document:
        return cls(d["doc_id"], d["text"], _iv(d.get("date")), d.get("title", ""), dict(d.get("meta") or {}))


@dataclass(frozen=True, slots=True)
class Passage:
    """A chunk of a document; inherits the document's date."""

    passage_id: str
    doc_id: str
    text: str
    position: int = 0
    date: TimeInterval | None = None
    title: str = ""

    @staticmethod
    def make(doc: Document, text: str, position: int) -> Passage:
        pid = content_id("psg", doc.doc_id, position, text)
        return Passage(pid, doc.doc_id, text, position, doc.date, doc.title)

    def to_dict(self) -> dict[str, Any]:
        return {"passage_id": self.passage_id, "doc_id": self.doc_id, "text": self.text,
                "position": self.position, "date": _ivd(self.date), "title": self.title}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Passage:
        return cls(d["passage_id"], d["doc_id"], d["text"], int(d.get("position", 0)),
                   _iv(d.get("date")), d.get("title", ""))


# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Entity:
    """A named thing. ``entity_id`` hashes the normal form of the name that created it.

    ``forms`` holds every (passage id, surface form, type) it was seen with. The canonical ``name``
    and ``type`` are a function of that set (``graph_index.entities.canonical``), so an entity does
    not depend on the order in which its mentions were inserted, and a delete re-derives both from
    the mentions that remain.
    """

    entity_id: str
    name: str
    type: str = ""
    aliases: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()  # passage ids where it is mentioned
    forms: tuple[tuple[str, str, str], ...] = ()  # sorted (passage id, surface form, type)

    @staticmethod
    def make(name: str, normal_form: str, *, type: str = "", aliases: tuple[str, ...] = (),
             mentions: tuple[str, ...] = (), forms: Iterable[tuple[str, str, str]] = ()) -> Entity:
        return Entity(content_id("ent", normal_form), name, type, tuple(sorted(set(aliases))),
                      tuple(sorted(set(mentions))), tuple(sorted(set(forms))))

    def to_dict(self) -> dict[str, Any]:
        return {"entity_id": self.entity_id, "name": self.name, "type": self.type,
                "aliases": list(self.aliases), "mentions": list(self.mentions),
                "forms": [list(f) for f in self.forms]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Entity:
        return cls(d["entity_id"], d["name"], d.get("type", ""), tuple(d.get("aliases") or ()),
                   tuple(d.get("mentions") or ()), tuple((str(p), str(n), str(t)) for p, n, t in d.get("forms") or ()))


@dataclass(frozen=True, slots=True)
class Fact:
    """A (subject, predicate, object) statement with world validity and provenance.

    ``valid`` is the validity interval as stated or inferred at extraction. A later contradicting
    fact does not delete this one: it sets ``invalid_at`` (and ``superseded_by``), so the effective
    interval is ``valid`` clipped at ``invalid_at``. Identity (``fact_id``) excludes those two
    fields, so superseding and re-opening keep the id.
    """

    fact_id: str
    subject: str  # entity id
    predicate: str
    object: str  # entity id when object_is_entity, else a literal value ("$2.1 billion")
    object_is_entity: bool
    valid: TimeInterval | None
    observed_at: datetime | None  # the source document's date (start), system-independent
    source_passage_id: str
    doc_id: str
    confidence: float = 1.0
    text: str = ""  # the sentence the fact was read from
    invalid_at: datetime | None = None
    superseded_by: str | None = None

    @staticmethod
    def make(subject: str, predicate: str, obj: str, *, object_is_entity: bool,
             valid: TimeInterval | None, observed_at: datetime | None, source_passage_id: str,
             doc_id: str, confidence: float = 1.0, text: str = "") -> Fact:
        fid = content_id("fact", subject, predicate, obj, _ivd(valid), source_passage_id)
        return Fact(fid, subject, predicate, obj, object_is_entity, valid, observed_at,
                    source_passage_id, doc_id, confidence, text)

    @property
    def effective(self) -> TimeInterval | None:
        """Validity after supersession; None when undated (or fully superseded)."""
        if self.valid is None:
            return None
        return self.valid.clip_end(self.invalid_at)

    def superseded(self, at: datetime | None, by: str | None) -> Fact:
        return replace(self, invalid_at=at, superseded_by=by)

    def to_dict(self) -> dict[str, Any]:
        return {"fact_id": self.fact_id, "subject": self.subject, "predicate": self.predicate,
                "object": self.object, "object_is_entity": self.object_is_entity,
                "valid": _ivd(self.valid), "observed_at": dt_to_iso(self.observed_at),
                "source_passage_id": self.source_passage_id, "doc_id": self.doc_id,
                "confidence": self.confidence, "text": self.text,
                "invalid_at": dt_to_iso(self.invalid_at), "superseded_by": self.superseded_by}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Fact:
        return cls(d["fact_id"], d["subject"], d["predicate"], d["object"], bool(d["object_is_entity"]),
                   _iv(d.get("valid")), dt_from_iso(d.get("observed_at")), d["source_passage_id"],
                   d["doc_id"], float(d.get("confidence", 1.0)), d.get("text", ""),
                   dt_from_iso(d.get("invalid_at")), d.get("superseded_by"))


class TimeLevel(StrEnum):
    YEAR = "year"
    QUARTER = "quarter"
    MONTH = "month"
    DAY = "day"


@dataclass(frozen=True, slots=True)
class TimeNode:
    """A node of the time tree (year → quarter → month → day) with a summary of its period."""

    node_id: str  # "time:<label>", e.g. time:2024-Q3
    level: TimeLevel
    interval: TimeInterval
    parent_id: str | None
    summary: str = ""
    passage_ids: tuple[str, ...] = ()
    fact_ids: tuple[str, ...] = ()

    @staticmethod
    def id_for(interval: TimeInterval) -> str:
        return f"time:{interval.label()}"

    def to_dict(self) -> dict[str, Any]:
        return {"node_id": self.node_id, "level": self.level.value, "interval": self.interval.to_dict(),
                "parent_id": self.parent_id, "summary": self.summary,
                "passage_ids": list(self.passage_ids), "fact_ids": list(self.fact_ids)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TimeNode:
        return cls(d["node_id"], TimeLevel(d["level"]), TimeInterval.from_dict(d["interval"]),
                   d.get("parent_id"), d.get("summary", ""), tuple(d.get("passage_ids") or ()),
                   tuple(d.get("fact_ids") or ()))


@dataclass(frozen=True, slots=True)
class Hop:
    """A HopRAG passage-graph edge: an out-going query of ``src`` answered by ``dst``."""

    hop_id: str
    src: str  # passage id
    dst: str  # passage id
    query: str
    score: float

    @staticmethod
    def make(src: str, dst: str, query: str, score: float) -> Hop:
        return Hop(content_id("hop", src, dst, query), src, dst, query, float(score))

    def to_dict(self) -> dict[str, Any]:
        return {"hop_id": self.hop_id, "src": self.src, "dst": self.dst, "query": self.query,
                "score": self.score}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Hop:
        return cls(d["hop_id"], d["src"], d["dst"], d["query"], float(d["score"]))


# ---------------------------------------------------------------------------------------------
class EvidenceKind(StrEnum):
    PASSAGE = "passage"
    FACT = "fact"
    SUMMARY = "summary"


@dataclass(frozen=True, slots=True)
class Evidence:
    """One piece of evidence handed to the reader, pointing back at its source record."""

    kind: EvidenceKind
    ref_id: str  # passage id, fact id or time-node id
    text: str
    score: float = 0.0
    date: TimeInterval | None = None
    doc_id: str | None = None
    title: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "ref_id": self.ref_id, "text": self.text, "score": self.score,
                "date": _ivd(self.date), "doc_id": self.doc_id, "title": self.title}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Evidence:
        return cls(EvidenceKind(d["kind"]), d["ref_id"], d["text"], float(d.get("score", 0.0)),
                   _iv(d.get("date")), d.get("doc_id"), d.get("title", ""))


@dataclass(frozen=True, slots=True)
class TraceStep:
    """One recorded step of answering (stage name, what it did, how long it took)."""

    stage: str
    data: Mapping[str, Any] = field(default_factory=dict)  # JSON-serialisable details
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "data": dict(self.data), "seconds": self.seconds}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TraceStep:
        return cls(d["stage"], dict(d.get("data") or {}), float(d.get("seconds", 0.0)))


@dataclass(frozen=True, slots=True)
class Usage:
    """LLM cost accounting."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    cached_calls: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.calls + other.calls, self.prompt_tokens + other.prompt_tokens,
                     self.completion_tokens + other.completion_tokens, self.seconds + other.seconds,
                     self.cached_calls + other.cached_calls)

    def to_dict(self) -> dict[str, Any]:
        return {"calls": self.calls, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "seconds": self.seconds,
                "cached_calls": self.cached_calls}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Usage:
        return cls(int(d.get("calls", 0)), int(d.get("prompt_tokens", 0)), int(d.get("completion_tokens", 0)),
                   float(d.get("seconds", 0.0)), int(d.get("cached_calls", 0)))


@dataclass(frozen=True, slots=True)
class Answer:
    """What ``query`` returns: the answer text with numbered citations, or an abstention."""

    question: str
    text: str
    abstained: bool
    citations: tuple[Evidence, ...] = ()  # citation [n] is citations[n-1]
    time_scope: TimeInterval | None = None
    trace: tuple[TraceStep, ...] = ()
    timings: Mapping[str, float] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    evidence: tuple[Evidence, ...] = ()  # everything retrieved, ranked (for recall metrics)

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question, "text": self.text, "abstained": self.abstained,
                "citations": [c.to_dict() for c in self.citations],
                "time_scope": _ivd(self.time_scope), "trace": [t.to_dict() for t in self.trace],
                "timings": dict(self.timings), "usage": self.usage.to_dict(),
                "evidence": [e.to_dict() for e in self.evidence]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Answer:
        return cls(d["question"], d["text"], bool(d["abstained"]),
                   tuple(Evidence.from_dict(c) for c in d.get("citations") or ()),
                   _iv(d.get("time_scope")), tuple(TraceStep.from_dict(t) for t in d.get("trace") or ()),
                   dict(d.get("timings") or {}), Usage.from_dict(d.get("usage") or {}),
                   tuple(Evidence.from_dict(e) for e in d.get("evidence") or ()))


# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Message:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True, slots=True)
class LLMRequest:
    """The one call shape every LLM backend takes."""

    messages: tuple[Message, ...]
    max_tokens: int = 128
    temperature: float = 0.0
    stop: tuple[str, ...] = ()
    json_mode: bool = False
    seed: int = 0

    @staticmethod
    def chat(user: str, *, system: str | None = None, **kw: Any) -> LLMRequest:
        msgs = ((Message("system", system),) if system else ()) + (Message("user", user),)
        return LLMRequest(msgs, **kw)

    def to_dict(self) -> dict[str, Any]:
        return {"messages": [{"role": m.role, "content": m.content} for m in self.messages],
                "max_tokens": self.max_tokens, "temperature": self.temperature,
                "stop": list(self.stop), "json_mode": self.json_mode, "seed": self.seed}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LLMRequest:
        return cls(tuple(Message(m["role"], m["content"]) for m in d["messages"]), int(d["max_tokens"]),
                   float(d["temperature"]), tuple(d.get("stop") or ()), bool(d.get("json_mode")),
                   int(d.get("seed", 0)))


@dataclass(frozen=True, slots=True)
class LLMResponse:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    cached: bool = False
    model: str = ""

    @property
    def usage(self) -> Usage:
        return Usage(1, self.prompt_tokens, self.completion_tokens, self.seconds, int(self.cached))

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "seconds": self.seconds,
                "cached": self.cached, "model": self.model}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LLMResponse:
        return cls(d["text"], int(d.get("prompt_tokens", 0)), int(d.get("completion_tokens", 0)),
                   float(d.get("seconds", 0.0)), bool(d.get("cached", False)), d.get("model", ""))
