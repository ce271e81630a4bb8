"""Temporal rules every graph store applies identically, as free functions.

- a fact matches ``during`` when its *effective* interval (``valid`` clipped at ``invalid_at``)
  overlaps ``during`` (half-open); undated facts, and facts superseded before they began, never
  match a ``during`` filter;
- results are sorted by (effective start, fact_id); facts with no effective start (undated, fully
  superseded, or unbounded in the past) sort first.

Backends that store times outside Python (SQLite, Neo4j) store them as integer microseconds since
the Unix epoch (UTC), which is exact for every aware datetime and orders like the datetimes do.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from tgrag.kernel.errors import InputError
from tgrag.kernel.records import Fact
from tgrag.kernel.temporal import TimeInterval, utc

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN = datetime.min.replace(tzinfo=UTC)


def dt_to_micros(dt: datetime | None) -> int | None:
    """Aware datetime → integer microseconds since the epoch (exact); None stays None."""
    if dt is None:
        return None
    delta = utc(dt) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def micros_to_dt(us: int | None) -> datetime | None:
    """Inverse of :func:`dt_to_micros`: an aware UTC datetime."""
    if us is None:
        return None
    return _EPOCH + timedelta(microseconds=int(us))


def fact_matches(fact: Fact, during: TimeInterval | None) -> bool:
    """True when ``fact`` passes the ``during`` filter (None lets every fact pass)."""
    if during is None:
        return True
    eff = fact.effective
    return eff is not None and eff.overlaps(during)


def fact_sort_key(fact: Fact) -> tuple[datetime, str]:
    """(effective start, fact_id); facts without an effective start come first."""
    eff = fact.effective
    start = eff.start if eff is not None and eff.start is not None else _MIN
    return (start, fact.fact_id)


def sort_facts(facts: list[Fact]) -> list[Fact]:
    return sorted(facts, key=fact_sort_key)


def check_depth(depth: int) -> int:
    """Neighbour queries walk 1 to 3 entity-to-entity hops."""
    if not isinstance(depth, int) or isinstance(depth, bool) or not 1 <= depth <= 3:
        raise InputError(f"neighbours depth must be an int in 1..3, got {depth!r}")
    return depth


def utc_fact(fact: Fact) -> Fact:
    """``fact`` with its loose datetimes (observed_at, invalid_at) as aware UTC, as stores return them."""
    obs = utc(fact.observed_at) if fact.observed_at is not None else None
    inv = utc(fact.invalid_at) if fact.invalid_at is not None else None
    if obs is fact.observed_at and inv is fact.invalid_at:
        return fact
    return replace(fact, observed_at=obs, invalid_at=inv)
