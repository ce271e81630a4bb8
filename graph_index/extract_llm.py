"""LLM fact extraction: JSON triples with time, validated, bounded retries, failures counted.

Every passage ends in exactly one of two states: its facts were extracted and validated, or it is
recorded as an :class:`ExtractionFailure` (logged with its passage id; in ``strict`` mode an
:class:`ExtractionError` carrying the passage id is raised instead). Nothing is silently dropped.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Sequence
from typing import Any

from tqdm import tqdm

from graph_index.prompts import EXTRACT_PROMPT, EXTRACT_SYSTEM, RETRY_SUFFIX
from graph_index.protocols import EntityMention, ExtractionFailure, ExtractionResult, RawFact
from tgrag.kernel.errors import ExtractionError, TimeError
from tgrag.kernel.protocols import LLM
from tgrag.kernel.records import LLMRequest, Passage
from tgrag.kernel.temporal import TimeInterval
from tgrag.kernel.timeparse import parse_time

log = logging.getLogger(__name__)

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)


def parse_facts_json(text: str) -> list[dict[str, Any]]:
    """Parse and validate the model's JSON; raises ValueError describing the first problem."""
    s = _FENCE.sub("", text.strip())
    start, end = s.find("{"), s.rfind("}")
    if start < 0 or end <= start:
        raise ValueError("no JSON object in output")
    try:
        obj = json.loads(s[start: end + 1])
    except json.JSONDecodeError as e:
        raise ValueError(f"invalid JSON: {e.msg} at {e.pos}") from e
    if not isinstance(obj, dict) or not isinstance(obj.get("facts"), list):
        raise ValueError('expected {"facts": [...]}')
    out = []
    for i, f in enumerate(obj["facts"]):
        if not isinstance(f, dict):
            raise ValueError(f"facts[{i}] is not an object")
        for key in ("subject", "predicate", "object"):
            if not isinstance(f.get(key), str) or not f[key].strip():
                raise ValueError(f"facts[{i}].{key} must be a non-empty string")
        if "object_is_entity" in f and not isinstance(f["object_is_entity"], bool):
            raise ValueError(f"facts[{i}].object_is_entity must be a boolean")
        if f.get("time") is not None and not isinstance(f["time"], str):
            raise ValueError(f"facts[{i}].time must be a string or null")
        out.append(f)
    return out


class LLMFactExtractor:
    """Extracts facts with an LLM (``max_retries`` re-asks on invalid output, then a failure)."""

    def __init__(self, llm: LLM, *, max_retries: int = 2, strict: bool = False, max_tokens: int = 512,
                 show_progress: bool = False) -> None:
        self.llm = llm
        self.max_retries = max_retries
        self.strict = strict
        self.max_tokens = max_tokens
        self.show_progress = show_progress

    @property
    def name(self) -> str:
        return f"llm({self.llm.name})"

    def extract(self, passages: Sequence[Passage]) -> ExtractionResult:
        mentions: list[EntityMention] = []
        facts: list[RawFact] = []
        failures: list[ExtractionFailure] = []
        calls = 0
        it: Iterable[Passage] = passages
        if self.show_progress:
            it = tqdm(passages, desc="extract (LLM)", unit="psg")
        for p in it:
            got, failure, n = self._one(p)
            calls += n
            if failure is not None:
                log.warning("fact extraction failed for passage %s after %d attempts: %s",
                            p.passage_id, failure.attempts, failure.reason)
                if self.strict:
                    raise ExtractionError(failure.reason, passage_id=p.passage_id)
                failures.append(failure)
                continue
            for f in got:
                facts.append(f)
                mentions.append(EntityMention(f.subject, f.subject_type, p.passage_id))
                if f.object_is_entity:
                    mentions.append(EntityMention(f.obj, f.object_type, p.passage_id))
        return ExtractionResult(tuple(mentions), tuple(facts), tuple(failures),
                                {"llm_calls": float(calls), "passages": float(len(passages))})

    def _one(self, p: Passage) -> tuple[list[RawFact], ExtractionFailure | None, int]:
        title = f" ({p.title})" if p.title else ""
        prompt = EXTRACT_PROMPT.format(title=title, text=p.text)
        error = ""
        for attempt in range(1, self.max_retries + 2):
            user = prompt + (RETRY_SUFFIX.format(error=error) if error else "")
            req = LLMRequest.chat(user, system=EXTRACT_SYSTEM, max_tokens=self.max_tokens, json_mode=True,
                                  seed=attempt - 1)
            text = self.llm.complete(req).text
            try:
                rows = parse_facts_json(text)
                return [self._record(p, r) for r in rows], None, attempt
            except ValueError as e:
                error = str(e)
        return [], ExtractionFailure(p.passage_id, error, self.max_retries + 1), self.max_retries + 1

    @staticmethod
    def _record(p: Passage, row: dict[str, Any]) -> RawFact:
        ref = p.date.start if p.date is not None else None
        valid: TimeInterval | None = p.date
        conf = 0.7
        if row.get("time"):
            try:
                parsed = parse_time(row["time"], reference=ref)
            except TimeError:
                parsed = None
            if parsed is not None:
                valid, conf = parsed, 0.8
        is_ent = bool(row.get("object_is_entity", True))
        return RawFact(row["subject"].strip(), "MISC", " ".join(row["predicate"].lower().split()),
                       row["object"].strip(), is_ent, "MISC" if is_ent else "", valid, ref,
                       p.passage_id, p.doc_id, conf, p.text[:300])
