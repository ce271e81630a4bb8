"""Time core: UTC-aware datetimes, half-open intervals that keep their granularity.

Every datetime in tgrag is timezone-aware UTC. An interval is half-open ``[start, end)``; ``None``
means unbounded on that side. A granularity records how precisely the interval was stated, so a
fact "in 2021" stays a year (``[2021-01-01, 2022-01-01)``, ``YEAR``) and is never confused with
"on 2021-01-01" (``DAY``).

This module is pure (no parsing of free text: see :mod:`tgrag.kernel.timeparse`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from tgrag.kernel.errors import TimeError


class Granularity(StrEnum):
    """How precisely a time was stated, finest first."""

    INSTANT = "instant"
    DAY = "day"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"
    DECADE = "decade"
    CENTURY = "century"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def coarser(self, other: Granularity) -> Granularity:
        return self if self.rank >= other.rank else other


_RANK = {g: i for i, g in enumerate(Granularity)}


def utc(dt: datetime) -> datetime:
    """Return ``dt`` as an aware UTC datetime (naive datetimes are taken to be UTC)."""
    if not isinstance(dt, datetime):
        raise TimeError(f"expected a datetime, got {type(dt).__name__}: {dt!r}")
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def utc_datetime(year: int, month: int = 1, day: int = 1) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


def add_months(dt: datetime, months: int) -> datetime:
    total = dt.year * 12 + (dt.month - 1) + months
    return dt.replace(year=total // 12, month=total % 12 + 1, day=1)


def period_of(dt: datetime, granularity: Granularity) -> TimeInterval:
    """The calendar period of ``granularity`` that contains ``dt``."""
    dt = utc(dt)
    if granularity is Granularity.INSTANT:
        return TimeInterval(dt, dt + timedelta(microseconds=1), Granularity.INSTANT)
    if granularity is Granularity.DAY:
        start = datetime(dt.year, dt.month, dt.day, tzinfo=UTC)
        return TimeInterval(start, start + timedelta(days=1), granularity)
    if granularity is Granularity.MONTH:
        start = datetime(dt.year, dt.month, 1, tzinfo=UTC)
        return TimeInterval(start, add_months(start, 1), granularity)
    if granularity is Granularity.QUARTER:
        start = datetime(dt.year, 3 * ((dt.month - 1) // 3) + 1, 1, tzinfo=UTC)
        return TimeInterval(start, add_months(start, 3), granularity)
    if granularity is Granularity.YEAR:
        return TimeInterval(utc_datetime(dt.year), utc_datetime(dt.year + 1), granularity)
    if granularity is Granularity.DECADE:
        y = dt.year - dt.year % 10
        return TimeInterval(utc_datetime(y), utc_datetime(y + 10), granularity)
    y = dt.year - (dt.year - 1) % 100  # 1901-2000 is the 20th century
    return TimeInterval(utc_datetime(y), utc_datetime(y + 100), Granularity.CENTURY)


_LABEL_RE = re.compile(
    r"^(?P<y>\d{4})(?:-Q(?P<q>[1-4])|-(?P<m>\d{2})(?:-(?P<d>\d{2}))?)?$|^(?P<dec>\d{3})0s$"
)


@dataclass(frozen=True, slots=True)
class TimeInterval:
    """Half-open UTC interval ``[start, end)`` with the granularity it was stated at."""

    start: datetime | None
    end: datetime | None
    granularity: Granularity = Granularity.DAY

    def __post_init__(self) -> None:
        if self.start is not None:
            object.__setattr__(self, "start", utc(self.start))
        if self.end is not None:
            object.__setattr__(self, "end", utc(self.end))
        if not isinstance(self.granularity, Granularity):
            object.__setattr__(self, "granularity", Granularity(self.granularity))
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise TimeError(f"empty interval: end {self.end.isoformat()} <= start {self.start.isoformat()}")

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def of(cls, dt: datetime, granularity: Granularity | str) -> TimeInterval:
        return period_of(dt, Granularity(granularity))

    @classmethod
    def from_label(cls, label: str) -> TimeInterval:
        """Parse a canonical label: ``2024``, ``2024-Q3``, ``2024-07``, ``2024-07-15``, ``1990s``."""
        m = _LABEL_RE.match(label.strip())
        if not m:
            raise TimeError(f"not a time label: {label!r}")
        if m.group("dec"):
            return period_of(utc_datetime(int(m.group("dec")) * 10), Granularity.DECADE)
        year = int(m.group("y"))
        if m.group("q"):
            return period_of(utc_datetime(year, 3 * int(m.group("q")) - 2), Granularity.QUARTER)
        if m.group("d"):
            return period_of(utc_datetime(year, int(m.group("m")), int(m.group("d"))), Granularity.DAY)
        if m.group("m"):
            return period_of(utc_datetime(year, int(m.group("m"))), Granularity.MONTH)
        return period_of(utc_datetime(year), Granularity.YEAR)

    @classmethod
    def until(cls, dt: datetime, granularity: Granularity = Granularity.DAY) -> TimeInterval:
        """Everything strictly before ``dt`` (``as of`` scopes use ``until(end of that day)``)."""
        return cls(None, dt, granularity)

    # -- algebra ------------------------------------------------------------------------------
    @property
    def bounded(self) -> bool:
        return self.start is not None and self.end is not None

    def contains(self, dt: datetime) -> bool:
        dt = utc(dt)
        return (self.start is None or self.start <= dt) and (self.end is None or dt < self.end)

    def overlaps(self, other: TimeInterval) -> bool:
        return _lt(self.start, other.end) and _lt(other.start, self.end)

    def covers(self, other: TimeInterval) -> bool:
        """True when ``other`` lies entirely inside ``self``."""
        start_ok = self.start is None or (other.start is not None and self.start <= other.start)
        end_ok = self.end is None or (other.end is not None and other.end <= self.end)
        return start_ok and end_ok

    def intersect(self, other: TimeInterval) -> TimeInterval | None:
        if not self.overlaps(other):
            return None
        start = _max_start(self.start, other.start)
        end = _min_end(self.end, other.end)
        return TimeInterval(start, end, self.granularity.coarser(other.granularity)
                            if self.granularity != other.granularity else self.granularity)

    def clip_end(self, end: datetime | None) -> TimeInterval | None:
        """This interval with its end moved earlier to ``end``; None if that empties it."""
        if end is None:
            return self
        new_end = _min_end(self.end, utc(end))
        if self.start is not None and new_end is not None and new_end <= self.start:
            return None
        return TimeInterval(self.start, new_end, self.granularity)

    def label(self) -> str:
        """Canonical label when the interval is exactly one calendar period, else ``start/end``."""
        if self.start is not None and self.end is not None:
            s = self.start
            if self.granularity in (Granularity.DAY, Granularity.MONTH, Granularity.QUARTER,
                                    Granularity.YEAR, Granularity.DECADE) and \
                    period_of(s, self.granularity) == self:
                if self.granularity is Granularity.DAY:
                    return f"{s.year:04d}-{s.month:02d}-{s.day:02d}"
                if self.granularity is Granularity.MONTH:
                    return f"{s.year:04d}-{s.month:02d}"
                if self.granularity is Granularity.QUARTER:
                    return f"{s.year:04d}-Q{(s.month - 1) // 3 + 1}"
                if self.granularity is Granularity.YEAR:
                    return f"{s.year:04d}"
                return f"{s.year:04d}s"
        a = self.start.isoformat() if self.start else ".."
        b = self.end.isoformat() if self.end else ".."
        return f"{a}/{b}"

    def describe(self) -> str:
        """Readable form at the interval's granularity: ``2024-Q3``, ``2006-01 to 2015-01``
        (inclusive last period), ``since 2021-05``, ``before 2020-06-01``."""
        lab = self.label()
        if "/" not in lab:
            return lab
        if self.start is None and self.end is None:
            return "any time"
        if self.start is None:
            assert self.end is not None
            return f"before {_fmt(self.end, self.granularity)}"
        if self.end is None:
            return f"since {_fmt(self.start, self.granularity)}"
        first = _fmt(self.start, self.granularity)
        last = _fmt(self.end - timedelta(microseconds=1), self.granularity)
        return first if first == last else f"{first} to {last}"

    # -- serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "granularity": self.granularity.value,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TimeInterval:
        return cls(
            datetime.fromisoformat(d["start"]) if d.get("start") else None,
            datetime.fromisoformat(d["end"]) if d.get("end") else None,
            Granularity(d.get("granularity", "day")),
        )

    def __str__(self) -> str:
        return self.label()


def _fmt(dt: datetime, granularity: Granularity) -> str:
    if granularity in (Granularity.YEAR, Granularity.DECADE, Granularity.CENTURY):
        return f"{dt.year:04d}"
    if granularity is Granularity.QUARTER:
        return f"{dt.year:04d}-Q{(dt.month - 1) // 3 + 1}"
    if granularity is Granularity.MONTH:
        return f"{dt.year:04d}-{dt.month:02d}"
    return dt.date().isoformat()


def _lt(a: datetime | None, b: datetime | None) -> bool:
    """a < b where a=None means -inf (a start) and b=None means +inf (an end)."""
    return a is None or b is None or a < b


def _max_start(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _min_end(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def dt_to_iso(dt: datetime | None) -> str | None:
    return utc(dt).isoformat() if dt is not None else None


def dt_from_iso(s: str | None) -> datetime | None:
    return utc(datetime.fromisoformat(s)) if s else None
