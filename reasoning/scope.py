"""The time scope of a question: what the text says, merged with what the API call says.

Sources, each recorded with where it came from:
- ``question``: explicit dates and periods in the question ("in March 2021", "from 1996 to 1998",
  "as of 2020", "before 2010"); relative expressions ("last year") are read against
  ``question_date`` when one is given;
- ``as_of`` / ``between`` arguments of the API.
The scope is the intersection of all of them; an empty intersection is recorded as a conflict and
the API scope wins (the caller's explicit instruction beats our reading of the text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tgrag.kernel.temporal import TimeInterval, utc
from tgrag.kernel.timeparse import as_of_scope, between_scope, find_time_expressions

_AS_OF = re.compile(r"\b(as of|as at|by|until|up to|till|before)\s*$", re.IGNORECASE)
_AFTER = re.compile(r"\b(after|since|from|starting)\s*$", re.IGNORECASE)
# a name's parenthesised disambiguator: "John Williams (footballer, born 1968)", "Dune (2021 film)"
_PAREN = re.compile(r"\(([^()]*)\)")
_DISAMBIGUATOR = re.compile(r"\bborn\b|\bb\.\s*\d|^\s*\d{4}\s+[a-z]", re.IGNORECASE)


def _name_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of disambiguators that belong to a name, not to the question's time."""
    return [(m.start(), m.end()) for m in _PAREN.finditer(text) if _DISAMBIGUATOR.search(m.group(1))]


@dataclass(frozen=True, slots=True)
class ScopePart:
    source: str  # "question" | "as_of" | "between"
    text: str
    interval: TimeInterval

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "text": self.text, "interval": self.interval.to_dict(),
                "label": self.interval.label()}


@dataclass(frozen=True, slots=True)
class QuestionScope:
    interval: TimeInterval | None
    parts: tuple[ScopePart, ...] = ()
    conflict: bool = False
    note: str = ""
    ignored: tuple[str, ...] = ()  # time expressions of the text that were not used, with ``note``

    def to_dict(self) -> dict[str, Any]:
        return {"interval": self.interval.to_dict() if self.interval else None,
                "label": self.interval.label() if self.interval else None,
                "parts": [p.to_dict() for p in self.parts], "conflict": self.conflict,
                "note": self.note, "ignored": list(self.ignored)}


def _with_note(scope: QuestionScope, note: str, ignored: list[str]) -> QuestionScope:
    return QuestionScope(scope.interval, scope.parts, True, note, tuple(ignored))


def _scope_mentions(text: str, reference: datetime | None) -> list[Any]:
    """The time expressions of ``text``, less those inside a name's disambiguator."""
    names = _name_spans(text)
    return [m for m in find_time_expressions(text, reference=reference)
            if not any(a <= m.start_char < b for a, b in names)]


def scope_from_text(text: str, *, reference: datetime | None = None) -> list[ScopePart]:
    """Time expressions in ``text`` as scope parts; "as of X"/"before X" become open-start scopes,
    "after X"/"since X" open-end ones. Several plain expressions are spanned by one interval. A year
    inside a name's disambiguator ("(footballer, born 1968)", "(2021 film)") is part of the name."""
    mentions = _scope_mentions(text, utc(reference) if reference else None)
    parts: list[ScopePart] = []
    for m in mentions:
        before = text[: m.start_char]
        iv = m.interval
        if _AS_OF.search(before) and iv.end is not None:
            word = _AS_OF.search(before).group(1).lower()  # type: ignore[union-attr]
            iv = TimeInterval(None, iv.start if word == "before" and iv.start else iv.end, iv.granularity)
        elif _AFTER.search(before) and iv.start is not None and _AFTER.search(before).group(1).lower() != "from":  # type: ignore[union-attr]
            iv = TimeInterval(iv.end if _AFTER.search(before).group(1).lower() == "after" else iv.start,  # type: ignore[union-attr]
                              None, iv.granularity)
        parts.append(ScopePart("question", m.text, iv))
    if len(parts) > 1 and any(p.interval.start is None or p.interval.end is None for p in parts):
        # an open part ("before 2010", "since 2019") constrains the others: intersect them; when they
        # cannot all hold ("in 2030, before 2010") the text contradicts itself: no scope is invented
        merged = _intersect_all([p.interval for p in parts])
        if merged is None:
            return []
        return [ScopePart("question", " … ".join(p.text for p in parts), merged)]
    if len(parts) > 1:
        starts = [p.interval.start for p in parts]
        ends = [p.interval.end for p in parts]
        start = None if any(s is None for s in starts) else min(s for s in starts if s is not None)
        end = None if any(e is None for e in ends) else max(e for e in ends if e is not None)
        if start is not None or end is not None:
            gran = max((p.interval.granularity for p in parts), key=lambda g: g.rank)
            span = TimeInterval(start, end, gran)
            return [ScopePart("question", " … ".join(p.text for p in parts), span)]
    return parts


def question_scope(question: str, *, as_of: str | datetime | None = None,
                   between: tuple[str | datetime, str | datetime] | None = None,
                   question_date: str | datetime | None = None, use_text: bool = True) -> QuestionScope:
    """Merge the question's own time expressions with the API's ``as_of``/``between``."""
    ref = _as_datetime(question_date)
    parts: list[ScopePart] = []
    api: list[ScopePart] = []
    if as_of is not None:
        api.append(ScopePart("as_of", str(as_of), as_of_scope(as_of)))
    if between is not None:
        api.append(ScopePart("between", f"{between[0]} – {between[1]}", between_scope(*between)))
    if use_text:
        parts.extend(scope_from_text(question, reference=ref))
    note = ""
    if use_text and not parts and (parts_seen := _scope_mentions(question, ref)):
        note = "the question's time expressions contradict each other; no scope taken from the text"
        return _with_note(question_scope(question, as_of=as_of, between=between, question_date=question_date,
                                         use_text=False), note, [m.text for m in parts_seen])
    api_iv = _intersect_all([p.interval for p in api])
    text_iv = _intersect_all([p.interval for p in parts])
    if api and api_iv is None:
        return QuestionScope(None, tuple(api + parts), conflict=True)
    if api_iv is not None and text_iv is not None:
        merged = api_iv.intersect(text_iv)
        if merged is None:
            return QuestionScope(api_iv, tuple(api + parts), conflict=True)
        return QuestionScope(merged, tuple(api + parts))
    return QuestionScope(api_iv or text_iv, tuple(api + parts))


def narrow(parent: TimeInterval | None, child: TimeInterval | None) -> TimeInterval | None:
    """A sub-question's scope: its own, inside its parent's (the parent's when they do not meet)."""
    if parent is None:
        return child
    if child is None:
        return parent
    if parent.covers(child):
        return child
    return parent.intersect(child) or parent


def _intersect_all(intervals: list[TimeInterval]) -> TimeInterval | None:
    out: TimeInterval | None = None
    for iv in intervals:
        if out is None:
            out = iv
            continue
        merged = out.intersect(iv)
        if merged is None:
            return None
        out = merged
    return out


def _as_datetime(value: str | datetime | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return utc(value)
    from tgrag.kernel.timeparse import parse_document_date

    iv = parse_document_date(value)
    return iv.start if iv is not None else None
