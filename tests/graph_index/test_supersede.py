"""Supersede rule and interval algebra, including hypothesis properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from graph_index.temporal_kg import default_single_valued, is_holder_role, reopen, supersede, supersede_key
from tgrag.kernel.records import Fact
from tgrag.kernel.temporal import Granularity, TimeInterval


def iv(a: str, b: str | None = None) -> TimeInterval:
    s = TimeInterval.from_label(a)
    if b is None:
        return s
    return TimeInterval(s.start, TimeInterval.from_label(b).end, Granularity.MONTH)


def fact(s: str, p: str, o: str, valid: TimeInterval | None, pid: str = "p1") -> Fact:
    return Fact.make(s, p, o, object_is_entity=True, valid=valid, observed_at=None,
                     source_passage_id=pid, doc_id="d")


def by_id(facts: list[Fact]) -> dict[str, Fact]:
    return {f.fact_id: f for f in facts}


def test_holder_role_closes_previous_holder_at_new_start() -> None:
    old = fact("ent:a", "chair of", "ent:y", iv("2006-01", "2015-01"))
    new = fact("ent:b", "chair of", "ent:y", iv("2010-01", "2020-01"))
    out = by_id(supersede([old], [new]))
    assert out[old.fact_id].invalid_at == new.valid.start
    assert out[old.fact_id].superseded_by == new.fact_id
    assert out[old.fact_id].effective == TimeInterval(old.valid.start, new.valid.start, Granularity.MONTH)
    assert out[new.fact_id].invalid_at is None


def test_disjoint_and_unrelated_facts_untouched() -> None:
    ended = fact("ent:a", "chair of", "ent:y", iv("2000-01", "2004-12"))
    other_office = fact("ent:a", "chair of", "ent:z", iv("2000-01", "2020-01"))
    multi = fact("ent:a", "work for", "ent:y", iv("2000-01", "2020-01"))
    new = fact("ent:b", "chair of", "ent:y", iv("2010-01", "2020-01"))
    out = by_id(supersede([ended, other_office, multi], [new]))
    assert out[ended.fact_id] == ended
    assert out[other_office.fact_id] == other_office
    assert out[multi.fact_id] == multi


def test_same_relation_at_two_disjoint_times_stays_two_facts() -> None:
    a = fact("ent:a", "chair of", "ent:y", iv("2000"))
    b = fact("ent:a", "chair of", "ent:y", iv("2005"))
    out = supersede([a], [b])
    assert len(out) == 2 and all(f.invalid_at is None for f in out)


def test_removing_newer_fact_reopens_older() -> None:
    old = fact("ent:a", "chair of", "ent:y", iv("2006-01", "2015-01"))
    new = fact("ent:b", "chair of", "ent:y", iv("2010-01", "2020-01"))
    closed = by_id(supersede([old], [new]))[old.fact_id]
    changed = reopen([closed], [new])
    assert changed == [old]


def test_policy() -> None:
    assert is_holder_role("chair of") and is_holder_role("head coach of")
    assert is_holder_role("chief executive officer of") and not is_holder_role("member of")
    assert not default_single_valued("play for") and not default_single_valued("work for")
    assert default_single_valued("revenue")
    assert supersede_key(fact("ent:a", "chair of", "ent:y", None)) == ("object", "ent:y", "chair of")


# -- properties ---------------------------------------------------------------------------------
_BASE = datetime(2000, 1, 1, tzinfo=UTC)


@st.composite
def intervals(draw: st.DrawFn) -> TimeInterval:
    a = draw(st.integers(0, 400))
    n = draw(st.integers(1, 200))
    open_end = draw(st.booleans())
    return TimeInterval(_BASE + timedelta(days=a), None if open_end else _BASE + timedelta(days=a + n),
                        Granularity.DAY)


@st.composite
def fact_sets(draw: st.DrawFn) -> list[Fact]:
    n = draw(st.integers(1, 8))
    out = []
    for i in range(n):
        s = draw(st.sampled_from(["ent:a", "ent:b", "ent:c"]))
        p = draw(st.sampled_from(["chair of", "revenue", "work for"]))
        o = draw(st.sampled_from(["ent:x", "ent:y"]))
        v = draw(st.one_of(st.none(), intervals()))
        out.append(fact(s, p, o, v, pid=f"p{i}"))
    return list(by_id(out).values())


@settings(max_examples=150, deadline=None)
@given(intervals(), intervals(), st.integers(0, 700))
def test_interval_algebra(a: TimeInterval, b: TimeInterval, shift: int) -> None:
    assert a.overlaps(b) == b.overlaps(a)
    inter = a.intersect(b)
    assert (inter is not None) == a.overlaps(b)
    if inter is not None:
        assert a.covers(inter) and b.covers(inter)
    cut = a.clip_end(_BASE + timedelta(days=shift))
    if cut is not None:
        assert a.covers(cut)
        assert cut.start == a.start


@settings(max_examples=150, deadline=None)
@given(fact_sets(), fact_sets())
def test_supersede_properties(raw: list[Fact], new: list[Fact]) -> None:
    existing = supersede([], raw)  # a store is always consistent: closures computed as facts arrived
    new = [f for f in new if f.fact_id not in {e.fact_id for e in existing}]
    out = supersede(existing, new)
    res = by_id(out)
    assert set(res) == {f.fact_id for f in [*existing, *new]}
    new_keys = {supersede_key(f) for f in new} - {None}
    for f in existing:
        g = res[f.fact_id]
        # facts of other groups are never touched
        if supersede_key(f) not in new_keys:
            assert g == f
        # identity and stated validity never change; effective intervals never extend
        assert (g.subject, g.predicate, g.object, g.valid) == (f.subject, f.predicate, f.object, f.valid)
        if g.effective is not None and g.valid is not None:
            assert g.valid.covers(g.effective)
    for g in out:
        if g.superseded_by is not None:
            closer = res[g.superseded_by]
            assert supersede_key(closer) == supersede_key(g)
            assert closer.valid is not None and g.invalid_at == closer.valid.start
    # idempotent, and the same as computing everything at once (insertion order does not matter)
    assert by_id(supersede(out, out)) == res
    assert by_id(supersede([], [*new, *raw])) == res
    # removing the new facts (then recomputing) restores the existing ones as they were computed alone
    alone = by_id(existing)
    remaining = [res[f.fact_id] for f in existing]
    restored = {**{f.fact_id: f for f in remaining}, **by_id(reopen(remaining, new))}
    assert restored == alone
