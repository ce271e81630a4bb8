"""What a method returns for one question, and how it is written to ``predictions.jsonl``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tgrag.kernel.records import Evidence, TraceStep, Usage


@dataclass(frozen=True, slots=True)
class Prediction:
    """One method's output on one question.

    ``answer`` is None for retrieval-only methods. ``retrieved`` lists document ids, best first and
    de-duplicated (the unit the shared data's ``supporting`` field uses); ``evidence`` keeps the
    ranked passages/facts/summaries themselves.
    """

    qid: str
    method: str
    answer: str | None
    abstained: bool = False
    retrieved: tuple[str, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    citations: tuple[Evidence, ...] = ()
    trace: tuple[TraceStep, ...] = ()
    usage: Usage = field(default_factory=Usage)
    seconds: float = 0.0
    stage_seconds: Mapping[str, float] = field(default_factory=dict)
    error: str | None = None  # set when the method raised on this question (logged and counted)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.qid, "method": self.method, "answer": self.answer, "abstained": self.abstained,
                "retrieved": list(self.retrieved), "evidence": [e.to_dict() for e in self.evidence],
                "citations": [c.to_dict() for c in self.citations],
                "trace": [t.to_dict() for t in self.trace], "usage": self.usage.to_dict(),
                "seconds": self.seconds, "stage_seconds": dict(self.stage_seconds), "error": self.error}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Prediction:
        return cls(d["id"], d["method"], d.get("answer"), bool(d.get("abstained", False)),
                   tuple(d.get("retrieved") or ()), tuple(Evidence.from_dict(e) for e in d.get("evidence") or ()),
                   tuple(Evidence.from_dict(c) for c in d.get("citations") or ()),
                   tuple(TraceStep.from_dict(t) for t in d.get("trace") or ()),
                   Usage.from_dict(d.get("usage") or {}), float(d.get("seconds", 0.0)),
                   dict(d.get("stage_seconds") or {}), d.get("error"))


def ranked_doc_ids(evidence: tuple[Evidence, ...] | list[Evidence]) -> tuple[str, ...]:
    """Document ids in first-seen order (passages of one document collapse to one entry)."""
    seen: dict[str, None] = {}
    for e in evidence:
        if e.doc_id and e.doc_id not in seen:
            seen[e.doc_id] = None
    return tuple(seen)
