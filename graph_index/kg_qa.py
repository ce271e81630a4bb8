"""Answer "who/which … at time T" questions from the temporal knowledge graph alone (no LLM, no
passage reading): parse (direction, relation, anchor entity, time) from the question, link the
entity, filter its facts to the time, return the other end's name.

Question forms understood (TempReason L2 and the like):

- "Who was the <role> of [the team] <X> in <T>?"   → facts (?, "<role> of", X), answer the subject;
  "owner" maps to the inverted passive "own".
- "Which <noun> did <X> <verb> [<prep>] in <T>?"   → facts (X, "<verb> <prep>", ?), answer the object;
  "hold" + position → "hold position"; "belong to" a party → "member of".
- "Where was <X> educated in <T>?"                  → facts (X, "attend" / "study at", ?).

Among the facts valid at T with a matching relation, the one that started last wins (the most
recent appointment), then higher confidence, then the shorter interval.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from graph_index.entities import EntityTable
from graph_index.indexer import link_entities
from tgrag.kernel.protocols import GraphStore
from tgrag.kernel.records import Entity, Fact
from tgrag.kernel.temporal import TimeInterval
from tgrag.kernel.timeparse import find_time_expressions

_WHO_ROLE = re.compile(r"^\s*who\s+(?:was|is|were|has been)\s+the\s+(?P<role>.+?)\s+of\s+(?:the\s+team\s+)?"
                       r"(?P<x>.+?)\s*$", re.IGNORECASE)
_WHICH = re.compile(r"^\s*(?:which|what)\s+(?P<noun>[\w ]+?)\s+(?:did|does|do)\s+(?P<x>.+?)\s+"
                    r"(?P<verb>[a-z]+)(?:\s+(?P<prep>for|to|at|in|with|of|on))?\s*$", re.IGNORECASE)
_WHERE_EDU = re.compile(r"^\s*where\s+(?:was|were|is|did)\s+(?P<x>.+?)\s+(?:educated|study|studied)\s*$",
                        re.IGNORECASE)

# question relation → KG predicates (as produced by the spaCy extractor)
ROLE_PREDICATES = {"owner": ("own",), "head": ("head of", "head of government of",
                                                 "head of the government of")}
VERB_PREDICATES = {
    ("belong", "to"): ("member of", "belong to"),
    ("hold", ""): ("hold position", "hold post", "hold office"),
    ("work", "for"): ("work for", "work at"),
    ("play", "for"): ("play for",),
    ("study", "at"): ("attend", "study at"),
}
EDUCATION_PREDICATES = ("attend", "study at", "educate at", "be educated at")


@dataclass(frozen=True, slots=True)
class ParsedQuestion:
    anchor: str  # entity surface text
    predicates: tuple[str, ...]
    anchor_is_subject: bool  # True: answer is the object; False: answer is the subject
    time: TimeInterval | None
    role: str = ""


def parse_question(question: str) -> ParsedQuestion | None:
    q = question.strip().rstrip("?").strip()
    times = find_time_expressions(q)
    when = times[-1].interval if times else None
    if times:
        q = q[: times[-1].start_char].rstrip()
        q = re.sub(r"\s+(?:in|on|at|during|as of)$", "", q, flags=re.IGNORECASE)
    m = _WHO_ROLE.match(q)
    if m:
        role = " ".join(m.group("role").lower().split())
        preds = ROLE_PREDICATES.get(role, (f"{role} of",))
        return ParsedQuestion(m.group("x"), preds, False, when, role)
    m = _WHERE_EDU.match(q)
    if m:
        return ParsedQuestion(m.group("x"), EDUCATION_PREDICATES, True, when)
    m = _WHICH.match(q)
    if m:
        verb, prep = m.group("verb").lower(), (m.group("prep") or "").lower()
        preds = VERB_PREDICATES.get((verb, prep)) or ((f"{verb} {prep}".strip(),) if prep else
                                                      (verb, f"{verb} {m.group('noun').lower()}"))
        return ParsedQuestion(m.group("x"), preds, True, when)
    return None


def _pred_score(predicate: str, parsed: ParsedQuestion) -> int:
    """2 exact match, 1 role prefix match ("head" ~ "head of government of"), 0 none."""
    if predicate in parsed.predicates:
        return 2
    if parsed.role and predicate.startswith(parsed.role + " ") and predicate.endswith(" of"):
        return 1
    return 0


def _rank(f: Fact, score: int) -> tuple[int, datetime, float, float]:
    assert f.valid is not None and f.valid.start is not None
    end = f.effective.end if f.effective is not None and f.effective.end is not None else f.valid.start
    return (score, f.valid.start, f.confidence, -(end - f.valid.start).total_seconds())


def _anchor(table: EntityTable, text: str) -> Entity | None:
    ent = table.lookup(text)
    if ent is not None:
        return ent
    linked = link_entities(table, text)
    return linked[0] if linked else None


def answer(graph: GraphStore, table: EntityTable, question: str) -> str | None:
    """The answer entity's name (or literal), or None when the graph has nothing valid at the time."""
    parsed = parse_question(question)
    if parsed is None:
        return None
    ent = _anchor(table, parsed.anchor)
    if ent is None:
        return None
    if parsed.anchor_is_subject:
        facts = graph.facts(subject=ent.entity_id, during=parsed.time)
    else:
        facts = graph.facts(object=ent.entity_id, during=parsed.time)
    best: tuple[tuple[int, datetime, float, float], Fact] | None = None
    for f in facts:
        s = _pred_score(f.predicate, parsed)
        if s == 0 or f.valid is None or f.valid.start is None:
            continue
        r = _rank(f, s)
        if best is None or r > best[0]:
            best = (r, f)
    if best is None:
        return None
    f = best[1]
    other = f.object if parsed.anchor_is_subject else f.subject
    if parsed.anchor_is_subject and not f.object_is_entity:
        return other
    found = table.get(other)
    return found.name if found is not None else None
