"""Text → time: the one place where free text becomes a :class:`TimeInterval`.

Structured forms (dates, months, quarters, fiscal years, decades, centuries, spans, open ranges,
relative expressions) are read with regular expressions, which keeps :func:`find_time_expressions`
fast enough to run on every sentence of a large corpus. ``dateparser`` is only a fallback in
:func:`parse_time` for absolute dates in unusual formats; its result is accepted only when the year it
returns is written in the text, so it never fills missing parts with today's date.

Conventions:

* Every interval keeps the granularity it was stated at: "2021" is ``[2021-01-01, 2022-01-01)`` YEAR.
* Spans include their end period: "from Jan, 2006 to Jan, 2015" is ``[2006-01-01, 2015-02-01)``
  with the coarser granularity of the two ends.
* "since A" / "from A" (no end) / "A onwards" are open-ended ``[start(A), None)``; "until A" is
  ``[None, end(A))``, "before A" ``[None, start(A))``, "after A" ``[end(A), None)``.
* "early/mid/late 2019" are the first/middle/last third of the year (MONTH granularity).
* Fiscal years are named by the calendar year in which they end: with ``fiscal_year_start_month=10``,
  FY2024 is ``[2023-10-01, 2024-10-01)`` and Q1 FY2024 is Oct-Dec 2023. With the default (1), fiscal
  years are calendar years.
* Ambiguous numeric dates (``03/04/2019``) are read month-first with ``/`` and day-first with ``.``;
  when one number exceeds 12 it decides.
* Relative expressions ("last quarter", "two years ago") need a ``reference``; without one they are
  not parsed (None / not reported), never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

from tgrag.kernel.errors import TimeError
from tgrag.kernel.temporal import Granularity, TimeInterval, add_months, period_of, utc, utc_datetime

__all__ = [
    "TimeMention",
    "as_of_scope",
    "between_scope",
    "find_time_expressions",
    "parse_document_date",
    "parse_time",
]


@dataclass(frozen=True, slots=True)
class TimeMention:
    """A time expression found in a text: character span, its text, and the interval it denotes."""

    start_char: int
    end_char: int
    text: str
    interval: TimeInterval


# --------------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------------
_F = re.IGNORECASE
_YEAR = r"(?<![\d$€£¥.,#])(1\d{3}|2[01]\d{2})(?!\d|[.,]\d|%)"
_MON = (r"(?<![a-z])(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
        r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)(?![a-z])\.?")
_DAY = r"(?<![\d.,/])(0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?(?![\d])"
_WEEKDAY = r"(?:(?:mon|tues?|wed(?:nes)?|thu(?:rs?)?|fri|sat(?:ur)?|sun)(?:day)?\.?,?\s+)?"
_ORD = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4}
_FY = r"(?:fy\s*'?|fiscal\s+(?:year\s+)?)"
_MONTHS = {m: i + 1 for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])}
_NUM_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
              "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12}
_CENTURY_WORDS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6,
                  "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12,
                  "thirteenth": 13, "fourteenth": 14, "fifteenth": 15, "sixteenth": 16,
                  "seventeenth": 17, "eighteenth": 18, "nineteenth": 19, "twentieth": 20,
                  "twenty-first": 21, "twenty first": 21, "twenty-second": 22}
_UNIT = {"day": Granularity.DAY, "week": Granularity.DAY, "month": Granularity.MONTH,
         "quarter": Granularity.QUARTER, "year": Granularity.YEAR}

_P_ISO = re.compile(r"(?<![\d/.-])(\d{4})[-/](\d{2})[-/](\d{2})"
                    r"(?:[T ](\d{2}):(\d{2})(?::\d{2}(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?(?![\d])", _F)
_P_NUMERIC = re.compile(r"(?<![\d/.,-])(\d{1,2})([/.])(\d{1,2})\2(\d{4})(?![\d/]|\.\d)", _F)
_SEP = r"(?:\s*,\s*|\s+)"  # "March 14, 2019", "Jun, 1970", tokenised "August 29 , 1864"
_P_DMY = re.compile(_WEEKDAY + r"(?:the\s+)?" + _DAY + r"\s+(?:of\s+)?" + _MON + _SEP + _YEAR, _F)
_P_MDY = re.compile(_WEEKDAY + _MON + r"\s+" + _DAY + _SEP + _YEAR, _F)
_P_MY = re.compile(_MON + _SEP + r"(?:of\s+)?" + _YEAR, _F)
_P_ISO_MONTH = re.compile(r"(?<![\d/.-])(\d{4})-(0[1-9]|1[0-2])(?![\d-])", _F)
_P_Q_FIRST = re.compile(r"(?<![a-z0-9])(fiscal\s+)?q([1-4])[\s,-]*(?:of\s+)?(" + _FY + r")?"
                        r"(?:(?<![\d$€£¥.,#])(1\d{3}|2[01]\d{2})|(\d{2}))(?![\d%]|[.,]\d)", _F)
_P_Y_FIRST = re.compile(r"(" + _FY + r")?" + _YEAR + r"\s*-?\s*q([1-4])(?![a-z0-9])", _F)
_P_Q_WORDS = re.compile(r"(?:the\s+)?(first|second|third|fourth|1st|2nd|3rd|4th)\s+(fiscal\s+)?quarter"
                        r"(?:\s+of|,)?\s+(?:the\s+)?(" + _FY + r")?" + _YEAR, _F)
_P_FISCAL = re.compile(r"(?<![a-z])" + _FY + r"(?:(?<![\d$€£¥.,#])(1\d{3}|2[01]\d{2})|(\d{2}))(?![\d%]|[.,]\d)",
                       _F)
_P_DECADE = re.compile(r"(?:the\s+)?(?:(early|mid|late)[\s-]+)?(?<!\d)(1\d{2}0|2[01]\d0)'?s(?![a-z])", _F)
_P_CENTURY = re.compile(r"(?:the\s+)?(?<![a-z\d])(\d{1,2}(?:st|nd|rd|th)|" + "|".join(
    sorted(_CENTURY_WORDS, key=len, reverse=True)) + r")[\s-]+century(?![a-z])", _F)
_P_PART = re.compile(r"(?:the\s+)?(early|mid|late|(?:the\s+)?(?:beginning|start|middle|end)\s+of)[\s-]*"
                     + _YEAR + r"(?!'?s)", _F)
_P_SEASON_SPAN = re.compile(_YEAR + r"\s*[-–—/]\s*(\d{2})(?![\d%])", _F)
_P_YEAR = re.compile(_YEAR, _F)
_P_REL_WORD = re.compile(r"(?<![a-z])(today|yesterday|tomorrow)(?![a-z])", _F)
_P_REL_PERIOD = re.compile(r"(?<![a-z])(this|current|last|previous|next|coming)\s+"
                           r"(week|month|quarter|year)(?![a-z])", _F)
_P_REL_AGO = re.compile(r"(?<![a-z\d])(\d{1,3}|" + "|".join(_NUM_WORDS) + r")\s+"
                        r"(day|week|month|quarter|year)s?\s+ago(?![a-z])", _F)
_P_REL_ROLLING = re.compile(r"(?<![a-z])(?:the\s+)?(?:past|last|previous)\s+(\d{1,3}|"
                            + "|".join(_NUM_WORDS) + r")?\s*(day|week|month|quarter|year)s?(?![a-z])", _F)

_PREFILTER = re.compile(r"\d|century|today|yesterday|tomorrow|week|month|quarter|year", _F)
_CONNECTOR = re.compile(r"\s*(?:-|–|—|to|until|till|through|thru|and)\s*", _F)
_OPEN_BEFORE = re.compile(r"(?:(since|starting(?:\s+in)?|beginning(?:\s+in)?)|(from)|(until|till|up\s+to|"
                          r"through)|(before|prior\s+to)|(after))\s+(?:the\s+)?$", _F)
_ONWARDS = re.compile(r"\s+(?:onwards?|and\s+later|and\s+beyond)(?![a-z])", _F)
_SPAN_START = re.compile(r"(from|between)\s+(?:the\s+)?$", _F)
_NOT_YEAR_BEFORE = re.compile(r"(?:about|approximately|approx\.|nearly|roughly|some|over|under|than|total|"
                              r"no\.|number|hired|employs|employed|sold|of\s+about|almost|exactly)\s*$", _F)
_NOT_YEAR_AFTER = re.compile(
    r"\s*(?:%|percent|per\s?cent|million|billion|thousand|trillion|bn|mn|[km]\b|x\b|\+|"
    r"(?:[a-z]+\s+)?(?:employees|people|workers|staff|units|customers|members|users|jobs|shares|votes|"
    r"homes|houses|residents|students|vehicles|cars|robots|drones|items|stores|pieces|tons|tonnes|km|"
    r"kilometres|kilometers|miles|metres|meters|feet|kg|points|copies|seats|beds|acres|hectares|"
    r"dollars|euros|pounds|times|orders|devices|patients|passengers|troops|soldiers|visitors))(?![a-z])",
    _F)
_LEADING = re.compile(r"^(?:in|on|during|at|around|circa|c\.)\s+", _F)


@dataclass(frozen=True, slots=True)
class _Atom:
    start: int
    end: int
    interval: TimeInterval


def _month(name: str) -> int:
    return _MONTHS[name[:3].lower()]


def _day(year: int, month: int, day: int) -> TimeInterval | None:
    try:
        return period_of(utc_datetime(year, month, day), Granularity.DAY)
    except ValueError:
        return None


def _fy_year(text: str) -> int:
    """A fiscal year written with 2 or 4 digits ("FY24" → 2024)."""
    return 2000 + int(text) if len(text) == 2 else int(text)


def _fiscal_year(year: int, start_month: int) -> TimeInterval:
    if start_month == 1:
        return period_of(utc_datetime(year), Granularity.YEAR)
    start = utc_datetime(year - 1, start_month)
    return TimeInterval(start, add_months(start, 12), Granularity.YEAR)


def _quarter(year: int, q: int, fiscal: bool, start_month: int) -> TimeInterval:
    if not fiscal or start_month == 1:
        return period_of(utc_datetime(year, 3 * q - 2), Granularity.QUARTER)
    start = add_months(_fiscal_year(year, start_month).start or utc_datetime(year), 3 * (q - 1))
    return TimeInterval(start, add_months(start, 3), Granularity.QUARTER)


def _year_third(year: int, part: str) -> TimeInterval:
    """early/mid/late YEAR: the first, middle or last four months."""
    part = part.lower()
    a = 0 if ("early" in part or "beginning" in part or "start" in part) else 4 if "mid" in part else 8
    base = utc_datetime(year)
    return TimeInterval(add_months(base, a), add_months(base, a + 4), Granularity.MONTH)


# --------------------------------------------------------------------------------------------------
# Atom extraction (absolute and relative), then span/open-range combination
# --------------------------------------------------------------------------------------------------
def _absolute_atoms(text: str, fy_start: int) -> list[_Atom]:
    out: list[_Atom] = []

    def add(m: re.Match[str], iv: TimeInterval | None) -> None:
        if iv is not None:
            out.append(_Atom(m.start(), m.end(), iv))

    for m in _P_ISO.finditer(text):
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
        iv = _day(y, mo, d)
        if iv is not None and m.group(4) and m.group(6):  # a time with an offset: its UTC calendar day
            iv = _iso_datetime_day(m.group(0))
        add(m, iv)
    for m in _P_NUMERIC.finditer(text):
        a, sep, b, y = int(m.group(1)), m.group(2), int(m.group(3)), int(m.group(4))
        day_first = a > 12 or (sep == "." and b <= 12)
        add(m, _day(y, b, a) if day_first else _day(y, a, b))
    for m in _P_DMY.finditer(text):
        add(m, _day(int(m.group(3)), _month(m.group(2)), int(m.group(1))))
    for m in _P_MDY.finditer(text):
        add(m, _day(int(m.group(3)), _month(m.group(1)), int(m.group(2))))
    for m in _P_MY.finditer(text):
        add(m, period_of(utc_datetime(int(m.group(2)), _month(m.group(1))), Granularity.MONTH))
    for m in _P_ISO_MONTH.finditer(text):
        if int(m.group(2)) == (int(m.group(1)) + 1) % 100:
            continue  # "1701-02", "2010-11": a season/session span in prose (see _P_SEASON_SPAN)
        add(m, period_of(utc_datetime(int(m.group(1)), int(m.group(2))), Granularity.MONTH))
    for m in _P_Q_FIRST.finditer(text):
        fiscal = bool(m.group(1) or m.group(3))
        if m.group(5) and not m.group(3):  # two-digit years only after FY ("Q3 FY24")
            continue
        year = int(m.group(4)) if m.group(4) else _fy_year(m.group(5))
        add(m, _quarter(year, int(m.group(2)), fiscal, fy_start))
    for m in _P_Y_FIRST.finditer(text):
        add(m, _quarter(int(m.group(2)), int(m.group(3)), bool(m.group(1)), fy_start))
    for m in _P_Q_WORDS.finditer(text):
        add(m, _quarter(int(m.group(4)), _ORD[m.group(1).lower()], bool(m.group(2) or m.group(3)), fy_start))
    for m in _P_FISCAL.finditer(text):
        add(m, _fiscal_year(_fy_year(m.group(1) or m.group(2)), fy_start))
    for m in _P_DECADE.finditer(text):
        decade = int(m.group(2))
        if m.group(1):  # early/mid/late 1990s: 1990-93, 1993-96, 1997-99 (whole years)
            a, b = {"early": (0, 4), "mid": (3, 7), "late": (7, 10)}[m.group(1).lower()]
            add(m, TimeInterval(utc_datetime(decade + a), utc_datetime(decade + b), Granularity.YEAR))
        else:
            add(m, period_of(utc_datetime(decade), Granularity.DECADE))
    for m in _P_CENTURY.finditer(text):
        word = m.group(1).lower()
        n = _CENTURY_WORDS.get(word) or int(re.sub(r"\D", "", word) or 0)
        if 1 <= n <= 22:
            add(m, period_of(utc_datetime((n - 1) * 100 + 1), Granularity.CENTURY))
    for m in _P_PART.finditer(text):
        add(m, _year_third(int(m.group(2)), m.group(1)))
    for m in _P_SEASON_SPAN.finditer(text):
        y1 = int(m.group(1))
        y2 = y1 - y1 % 100 + int(m.group(2))
        if y2 == y1 + 1:
            add(m, TimeInterval(utc_datetime(y1), utc_datetime(y2 + 1), Granularity.YEAR))
    for m in _P_YEAR.finditer(text):
        if _plausible_bare_year(text, m.start(), m.end()):
            add(m, period_of(utc_datetime(int(m.group(1))), Granularity.YEAR))
    return out


def _plausible_bare_year(text: str, start: int, end: int) -> bool:
    """Reject 4-digit numbers that are counts or amounts rather than years."""
    if _NOT_YEAR_BEFORE.search(text, max(0, start - 20), start):
        return False
    return not _NOT_YEAR_AFTER.match(text, end)


def _relative_atoms(text: str, ref: datetime) -> list[_Atom]:
    out: list[_Atom] = []
    for m in _P_REL_WORD.finditer(text):
        shift = {"today": 0, "yesterday": -1, "tomorrow": 1}[m.group(1).lower()]
        out.append(_Atom(m.start(), m.end(), _shifted_period(ref, "day", shift)))
    for m in _P_REL_PERIOD.finditer(text):
        word = m.group(1).lower()
        shift = -1 if word in ("last", "previous") else 1 if word in ("next", "coming") else 0
        out.append(_Atom(m.start(), m.end(), _shifted_period(ref, m.group(2).lower(), shift)))
    for m in _P_REL_AGO.finditer(text):
        n = _count(m.group(1))
        out.append(_Atom(m.start(), m.end(), _shifted_period(ref, m.group(2).lower(), -n)))
    for m in _P_REL_ROLLING.finditer(text):
        if m.group(1) is None:  # "last year" is handled as a calendar period above
            continue
        unit = m.group(2).lower()
        end = period_of(ref, Granularity.DAY).end or ref
        out.append(_Atom(m.start(), m.end(), TimeInterval(_minus(end, unit, _count(m.group(1))), end,
                                                          Granularity.DAY)))
    return out


def _count(word: str) -> int:
    return int(word) if word.isdigit() else _NUM_WORDS[word.lower()]


def _shifted_period(ref: datetime, unit: str, shift: int) -> TimeInterval:
    if unit == "day":
        return period_of(ref + timedelta(days=shift), Granularity.DAY)
    if unit == "week":
        day0 = period_of(ref, Granularity.DAY).start or ref
        monday = day0 - timedelta(days=day0.weekday()) + timedelta(weeks=shift)
        return TimeInterval(monday, monday + timedelta(weeks=1), Granularity.DAY)
    gran = _UNIT[unit]
    months = {"month": 1, "quarter": 3, "year": 12}[unit]
    base = period_of(ref, gran).start or ref
    return period_of(add_months(base, shift * months), gran)


def _minus(dt: datetime, unit: str, n: int) -> datetime:
    if unit in ("day", "week"):
        return dt - timedelta(days=n * (7 if unit == "week" else 1))
    months = n * {"month": 1, "quarter": 3, "year": 12}[unit]
    total = dt.year * 12 + dt.month - 1 - months
    year, month = divmod(total, 12)
    day = min(dt.day, [31, 29 if _leap(year) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month])
    return dt.replace(year=year, month=month + 1, day=day)


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _select(atoms: list[_Atom]) -> list[_Atom]:
    """Leftmost-longest, non-overlapping."""
    atoms.sort(key=lambda a: (a.start, -a.end))
    chosen: list[_Atom] = []
    for a in atoms:
        if chosen and a.start < chosen[-1].end:
            continue
        chosen.append(a)
    return chosen


def _coarser(a: TimeInterval, b: TimeInterval) -> Granularity:
    return a.granularity.coarser(b.granularity)


def _combine(text: str, atoms: list[_Atom]) -> list[_Atom]:
    """Merge "from A to B" / "between A and B" / "A-B" into spans; "since A", "until A" into open ranges."""
    out: list[_Atom] = []
    i = 0
    while i < len(atoms):
        a = atoms[i]
        merged: _Atom | None = None
        if i + 1 < len(atoms):
            b = atoms[i + 1]
            conn = _CONNECTOR.fullmatch(text, a.end, b.start)
            prefix = _SPAN_START.search(text, max(0, a.start - 12), a.start)
            word = conn.group(0).strip().lower() if conn else ""
            ok = conn is not None and (word != "and" or (prefix is not None and prefix.group(1).lower()
                                                         == "between"))
            if ok and a.interval.start is not None and b.interval.end is not None \
                    and a.interval.start < b.interval.end:
                start = prefix.start() if prefix else a.start
                merged = _Atom(start, b.end, TimeInterval(a.interval.start, b.interval.end,
                                                           _coarser(a.interval, b.interval)))
                i += 1
        if merged is None:
            merged = _open_range(text, a)
        out.append(merged)
        i += 1
    return out


def _open_range(text: str, a: _Atom) -> _Atom:
    iv = a.interval
    after = _ONWARDS.match(text, a.end)
    if after and iv.start is not None:
        return _Atom(a.start, after.end(), TimeInterval(iv.start, None, iv.granularity))
    m = _OPEN_BEFORE.search(text, max(0, a.start - 24), a.start)
    if m is None:
        return a
    if (m.group(1) or m.group(2)) and iv.start is not None:  # "since A", "from A" (no end given)
        return _Atom(m.start(), a.end, TimeInterval(iv.start, None, iv.granularity))
    if m.group(3) and iv.end is not None:
        return _Atom(m.start(), a.end, TimeInterval(None, iv.end, iv.granularity))
    if m.group(4) and iv.start is not None:
        return _Atom(m.start(), a.end, TimeInterval(None, iv.start, iv.granularity))
    if m.group(5) and iv.end is not None:
        return _Atom(m.start(), a.end, TimeInterval(iv.end, None, iv.granularity))
    return a


# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------
def find_time_expressions(text: str, *, reference: datetime | None = None,
                          fiscal_year_start_month: int = 1) -> list[TimeMention]:
    """All time expressions in ``text``, in order and non-overlapping; spans are one mention.

    Relative expressions are reported only when ``reference`` is given.
    """
    if not text or _PREFILTER.search(text) is None:
        return []
    _check_fiscal(fiscal_year_start_month)
    atoms = _absolute_atoms(text, fiscal_year_start_month)
    if reference is not None:
        atoms.extend(_relative_atoms(text, utc(reference)))
    return [TimeMention(a.start, a.end, text[a.start:a.end], a.interval)
            for a in _combine(text, _select(atoms))]


def parse_time(text: str, *, reference: datetime | None = None,
               fiscal_year_start_month: int = 1) -> TimeInterval | None:
    """Interval denoted by ``text`` when the whole text is one time expression, else None."""
    if not isinstance(text, str):
        return None
    core = _LEADING.sub("", text.strip().rstrip("?.!,;: ").strip())
    if not core:
        return None
    mentions = find_time_expressions(core, reference=reference,
                                     fiscal_year_start_month=fiscal_year_start_month)
    if len(mentions) == 1 and mentions[0].start_char == 0 and mentions[0].end_char == len(core):
        return mentions[0].interval
    if mentions or (reference is None and _P_REL_PERIOD.search(core)):
        return None  # several expressions, or part-parsed text, or a relative form without reference
    return _dateparser_fallback(core)


def parse_document_date(value: str | int | datetime | None) -> TimeInterval | None:
    """A document's date field as an interval; None for missing or unreadable values.

    Accepts labels (``2024-06-30``, ``2024/06/30``, ``2024-06``, ``2024``, ``2024-Q3``, ``2024 q3``,
    ``1990s``), ISO datetimes with offsets (reduced to their UTC calendar day), ints (years),
    datetimes (UTC calendar day), and any absolute expression :func:`parse_time` reads.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return period_of(utc(value), Granularity.DAY)
    if isinstance(value, date):
        return _day(value.year, value.month, value.day)
    if isinstance(value, int):
        return period_of(utc_datetime(value), Granularity.YEAR) if 1000 <= value <= 2199 else None
    if not isinstance(value, str) or not value.strip():
        return None
    s = value.strip()
    if "T" in s or re.search(r"\d:\d", s):
        iv = _iso_datetime_day(s)
        if iv is not None:
            return iv
    try:
        return TimeInterval.from_label(s.upper() if "q" in s else s)
    except (TimeError, ValueError):
        pass
    return parse_time(s)


def as_of_scope(value: str | datetime) -> TimeInterval:
    """Everything up to the end of the stated period: "2024-06-30" → ``[None, 2024-07-01)``."""
    iv = _scope_point(value)
    if iv.end is None:
        raise TimeError(f"as-of scope has no end: {value!r}")
    return TimeInterval(None, iv.end, iv.granularity)


def between_scope(start: str | datetime, end: str | datetime) -> TimeInterval:
    """From the start of the first period to the end of the second: ``[start(a), end(b))``."""
    a, b = _scope_point(start), _scope_point(end)
    if a.start is None or b.end is None:
        raise TimeError(f"between scope needs bounded ends: {start!r}, {end!r}")
    return TimeInterval(a.start, b.end, _coarser(a, b))


# --------------------------------------------------------------------------------------------------
# Helpers for the public functions
# --------------------------------------------------------------------------------------------------
def _check_fiscal(month: int) -> None:
    if not isinstance(month, int) or not 1 <= month <= 12:
        raise TimeError(f"fiscal_year_start_month must be 1..12, got {month!r}")


def _scope_point(value: str | datetime) -> TimeInterval:
    iv = parse_document_date(value) if isinstance(value, str | datetime) else None
    if iv is None:
        raise TimeError(f"cannot parse a time scope from {value!r}")
    return iv


def _iso_datetime_day(s: str) -> TimeInterval | None:
    try:
        dt = datetime.fromisoformat(s.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return period_of(utc(dt), Granularity.DAY)


@lru_cache(maxsize=1)
def _date_parser() -> Any:
    """One DateDataParser per process (building it loads locale data)."""
    from dateparser.date import DateDataParser

    return DateDataParser(languages=["en"], settings={
        "PREFER_DAY_OF_MONTH": "first", "RETURN_AS_TIMEZONE_AWARE": False,
        "REQUIRE_PARTS": ["year"], "PARSERS": ["absolute-time"]})


_PERIOD = {"day": Granularity.DAY, "week": Granularity.DAY, "time": Granularity.DAY,
           "month": Granularity.MONTH, "year": Granularity.YEAR}


def _dateparser_fallback(text: str) -> TimeInterval | None:
    """dateparser for odd absolute formats; accepted only if the year it found is written in the text."""
    if len(text) > 48 or not re.search(r"(?<!\d)\d{4}(?!\d)", text):
        return None
    data = _date_parser().get_date_data(text)
    dt = data.date_obj
    if dt is None or str(dt.year) not in text or not 1000 <= dt.year <= 2199:
        return None
    gran = _PERIOD.get(data.period or "day", Granularity.DAY)
    return period_of(dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt, gran)
