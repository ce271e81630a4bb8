"""The GraphStore contract, written once. Every backend's test module subclasses
:class:`GraphStoreContract` and provides a ``store`` fixture (a fresh, empty store) and
``reopen(store)`` (persist, close and open the same data again)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tgrag.kernel import InputError
from tgrag.kernel.protocols import GraphStore
from tgrag.kernel.records import Entity, Fact, Hop, TimeLevel, TimeNode
from tgrag.kernel.temporal import Granularity, TimeInterval


def d(y: int, m: int = 1, day: int = 1) -> datetime:
    return datetime(y, m, day, tzinfo=UTC)


def year(y: int) -> TimeInterval:
    return TimeInterval.from_label(str(y))


def ent(name: str, **kw: object) -> Entity:
    return Entity.make(name, name.lower(), **kw)  # type: ignore[arg-type]


def fact(s: Entity, p: str, o: Entity | str, valid: TimeInterval | None, *, passage: str = "psg:1",
         text: str = "") -> Fact:
    is_ent = isinstance(o, Entity)
    obj = o.entity_id if isinstance(o, Entity) else o
    return Fact.make(s.entity_id, p, obj, object_is_entity=is_ent, valid=valid,
                     observed_at=valid.start if valid else None, source_passage_id=passage,
                     doc_id="doc:1", text=text)


A, B, C, D, E = (ent(n) for n in ("Alice", "Bob", "Carol", "Dave", "Eve"))


class GraphStoreContract:
    """Behaviour every GraphStore backend must show (networkx and Neo4j alike)."""

    def reopen(self, store: GraphStore) -> GraphStore:
        raise NotImplementedError

    # -- basics -----------------------------------------------------------------------------------
    def test_implements_protocol(self, store: GraphStore) -> None:
        assert isinstance(store, GraphStore)

    def test_empty_store(self, store: GraphStore) -> None:
        assert store.counts() == {"entities": 0, "facts": 0, "time_nodes": 0, "hops": 0}
        assert store.entities() == [] and store.facts() == [] and store.hops() == []
        assert store.time_nodes() == [] and store.neighbours(A.entity_id) == []

    def test_upsert_is_idempotent(self, store: GraphStore) -> None:
        recs = [A, B, fact(A, "knows", B, year(2020)), fact(A, "age", "42", None),
                Hop.make("psg:1", "psg:2", "who?", 0.5), _tnode(2020)]
        store.upsert(recs)
        before = (store.entities(), store.facts(), store.hops(), store.time_nodes())
        store.upsert(recs)
        assert store.counts() == {"entities": 2, "facts": 2, "time_nodes": 1, "hops": 1}
        assert (store.entities(), store.facts(), store.hops(), store.time_nodes()) == before

    def test_replace_by_id(self, store: GraphStore) -> None:
        f = fact(A, "knows", B, year(2020))
        h = Hop.make("psg:1", "psg:2", "who?", 0.5)
        store.upsert([A, B, C, f, h, _tnode(2020)])
        a2 = Entity(A.entity_id, "Alice Smith", "person", ("Ali",), ("psg:9",))
        f2 = Fact(f.fact_id, A.entity_id, "knows", C.entity_id, True, year(2021), d(2021), "psg:2",
                  "doc:2", 0.25, "new text")
        h2 = Hop(h.hop_id, "psg:3", "psg:4", "where?", 0.75)
        t2 = TimeNode(_tnode(2020).node_id, TimeLevel.YEAR, year(2020), None, "new summary",
                      ("psg:1",), (f.fact_id,))
        store.upsert([a2, f2, h2, t2])
        assert store.entities([A.entity_id]) == [a2]
        assert store.facts() == [f2]
        assert store.hops() == [h2] and store.hops(src=["psg:1"]) == []
        assert store.time_nodes() == [t2]
        assert store.neighbours(A.entity_id) == [f2]
        assert store.neighbours(B.entity_id) == []
        assert store.counts()["facts"] == 1

    def test_delete_by_id_of_any_kind(self, store: GraphStore) -> None:
        f1, f2 = fact(A, "knows", B, year(2020)), fact(A, "likes", C, year(2020))
        h = Hop.make("psg:1", "psg:2", "q", 1.0)
        t = _tnode(2020)
        store.upsert([A, B, C, f1, f2, h, t])
        store.delete([f1.fact_id, h.hop_id, t.node_id, "unknown:id"])
        assert store.facts() == [f2]
        assert store.hops() == [] and store.time_nodes() == []
        assert store.neighbours(A.entity_id) == [f2]
        store.delete(["nothing:here"])
        assert store.counts() == {"entities": 3, "facts": 1, "time_nodes": 0, "hops": 0}

    def test_delete_entity_cascades_to_its_facts(self, store: GraphStore) -> None:
        ab, bc, ca = fact(A, "knows", B, year(2020)), fact(B, "knows", C, year(2020)), \
            fact(C, "knows", A, year(2020))
        lit_b, lit_c = fact(B, "age", "42", None), fact(C, "age", B.entity_id, None)  # literal
        store.upsert([A, B, C, ab, bc, ca, lit_b, lit_c])
        store.delete([B.entity_id])
        assert [e.entity_id for e in store.entities()] == sorted([A.entity_id, C.entity_id])
        assert sorted(f.fact_id for f in store.facts()) == sorted([ca.fact_id, lit_c.fact_id])
        assert store.neighbours(B.entity_id) == []
        assert store.neighbours(A.entity_id, depth=3) == [ca]

    # -- filters ----------------------------------------------------------------------------------
    def test_filters_by_subject_predicate_object_passages(self, store: GraphStore) -> None:
        ab = fact(A, "knows", B, year(2020), passage="psg:1")
        ac = fact(A, "likes", C, year(2021), passage="psg:2")
        bc = fact(B, "knows", C, year(2022), passage="psg:2")
        lit = fact(A, "revenue", "$2.1 billion", year(2019), passage="psg:3")
        store.upsert([A, B, C, ab, ac, bc, lit])
        assert store.facts(subject=A.entity_id) == [lit, ab, ac]
        assert store.facts(predicate="knows") == [ab, bc]
        assert store.facts(object=C.entity_id) == [ac, bc]
        assert store.facts(object="$2.1 billion") == [lit]
        assert store.facts(passage_ids=["psg:2"]) == [ac, bc]
        assert store.facts(passage_ids=["psg:1", "psg:3"]) == [lit, ab]
        assert store.facts(passage_ids=[]) == []
        assert store.facts(subject=A.entity_id, predicate="knows", object=B.entity_id) == [ab]
        assert store.facts(subject=B.entity_id, passage_ids=["psg:1"]) == []
        assert store.facts(subject="ent:unknown") == []
        assert store.facts(subject=A.entity_id, during=year(2021)) == [ac]

    @pytest.mark.parametrize(("during", "matches"), [
        (year(2020), True),
        (year(2021), False),  # starts exactly at the fact's end: half-open, no overlap
        (year(2019), False),  # ends exactly at the fact's start
        (TimeInterval(d(2020, 12, 31), d(2021, 6, 1)), True),
        (TimeInterval(None, d(2020)), False),
        (TimeInterval(None, d(2020) + timedelta(microseconds=1), Granularity.INSTANT), True),
        (TimeInterval(d(2021) - timedelta(microseconds=1), None, Granularity.INSTANT), True),
        (TimeInterval(d(2021), None), False),
        (TimeInterval(None, None), True),
    ])
    def test_during_uses_half_open_overlap(self, store: GraphStore, during: TimeInterval,
                                           matches: bool) -> None:
        f = fact(A, "knows", B, year(2020))
        store.upsert([A, B, f])
        assert store.facts(during=during) == ([f] if matches else [])
        assert store.neighbours(A.entity_id, during=during) == ([f] if matches else [])

    def test_unbounded_fact_intervals(self, store: GraphStore) -> None:
        since = fact(A, "leads", B, TimeInterval(d(2020), None, Granularity.YEAR))
        until = fact(A, "led", C, TimeInterval(None, d(2010), Granularity.YEAR))
        store.upsert([A, B, C, since, until])
        assert store.facts(during=year(2030)) == [since]
        assert store.facts(during=year(1900)) == [until]
        assert store.facts(during=year(2015)) == []
        assert store.facts() == [until, since]

    def test_supersede_clips_at_invalid_at(self, store: GraphStore) -> None:
        base = fact(A, "ceo_of", B, TimeInterval(d(2018), d(2025), Granularity.YEAR))
        newer = fact(C, "ceo_of", B, TimeInterval(d(2022), None, Granularity.YEAR))
        clipped = base.superseded(d(2022), newer.fact_id)
        store.upsert([A, B, C, clipped, newer])
        assert store.facts(during=year(2021)) == [clipped]
        assert store.facts(during=year(2022)) == [newer]
        assert store.facts(during=year(2023)) == [newer]
        assert store.neighbours(B.entity_id, during=year(2023)) == [newer]
        assert store.facts(subject=A.entity_id) == [clipped]
        assert store.facts(subject=A.entity_id)[0].superseded_by == newer.fact_id
        gone = base.superseded(d(2017), newer.fact_id)  # superseded before it began
        store.upsert([gone])
        assert store.facts(subject=A.entity_id, during=TimeInterval(None, None)) == []
        assert store.facts(subject=A.entity_id) == [gone]
        reopened = base.superseded(None, None)
        store.upsert([reopened])
        assert store.facts(during=year(2024)) == sorted([newer, reopened], key=_key)

    def test_undated_facts_never_match_during(self, store: GraphStore) -> None:
        undated = fact(A, "knows", B, None)
        dated = fact(A, "likes", C, year(2020))
        store.upsert([A, B, C, undated, dated])
        assert store.facts(during=TimeInterval(None, None)) == [dated]
        assert store.neighbours(A.entity_id, during=TimeInterval(None, None)) == [dated]
        assert store.facts() == sorted([undated, dated], key=_key)
        assert store.facts()[0] == undated  # no effective start sorts first

    def test_sorted_by_effective_start_then_id(self, store: GraphStore) -> None:
        facts = [fact(A, f"p{i}", B, year(2020 - i % 3)) for i in range(9)]
        store.upsert([A, B, *facts])
        assert store.facts() == sorted(facts, key=_key)
        assert store.neighbours(A.entity_id) == sorted(facts, key=_key)

    # -- neighbours -------------------------------------------------------------------------------
    def _chain(self, store: GraphStore) -> dict[str, Fact]:
        fs = {
            "ab": fact(A, "knows", B, year(2020)),
            "cb": fact(C, "knows", B, year(2021)),  # points into B: traversal ignores direction
            "cd": fact(C, "knows", D, year(2020)),
            "be": fact(B, "knows", E, year(2020)),
            "lit": fact(A, "age", "42", year(2020)),
        }
        store.upsert([A, B, C, D, E, *fs.values()])
        return fs

    def test_neighbours_depths(self, store: GraphStore) -> None:
        fs = self._chain(store)
        assert store.neighbours(A.entity_id, depth=1) == [fs["ab"]]
        assert store.neighbours(A.entity_id, depth=2) == sorted([fs["ab"], fs["cb"], fs["be"]], key=_key)
        assert store.neighbours(A.entity_id, depth=3) == sorted(
            [fs["ab"], fs["cb"], fs["be"], fs["cd"]], key=_key)
        assert store.neighbours(D.entity_id, depth=1) == [fs["cd"]]
        assert store.neighbours(D.entity_id, depth=2) == sorted([fs["cd"], fs["cb"]], key=_key)
        assert store.neighbours("ent:unknown", depth=3) == []

    def test_neighbours_every_fact_on_path_valid(self, store: GraphStore) -> None:
        fs = self._chain(store)
        assert store.neighbours(A.entity_id, depth=3, during=year(2020)) == \
            sorted([fs["ab"], fs["be"]], key=_key)  # C-B invalid in 2020 blocks C-D
        assert store.neighbours(D.entity_id, depth=3, during=year(2020)) == [fs["cd"]]
        assert store.neighbours(A.entity_id, depth=3, during=year(2021)) == []
        assert store.neighbours(C.entity_id, depth=2, during=year(2021)) == [fs["cb"]]

    def test_neighbours_through_a_cycle_and_self_loop(self, store: GraphStore) -> None:
        ab, bc, ca = fact(A, "r", B, year(2020)), fact(B, "r", C, year(2020)), fact(C, "r", A, year(2020))
        aa = fact(A, "self", A, year(2020))
        store.upsert([A, B, C, ab, bc, ca, aa])
        assert store.neighbours(A.entity_id, depth=1) == sorted([ab, ca, aa], key=_key)
        assert store.neighbours(A.entity_id, depth=2) == sorted([ab, bc, ca, aa], key=_key)

    @pytest.mark.parametrize("depth", [0, 4, -1])
    def test_neighbours_depth_out_of_range(self, store: GraphStore, depth: int) -> None:
        with pytest.raises(InputError):
            store.neighbours(A.entity_id, depth=depth)

    def test_facts_on_entities_never_upserted(self, store: GraphStore) -> None:
        f = fact(A, "knows", B, year(2020))
        store.upsert([f])
        assert store.entities() == [] and store.counts()["entities"] == 0
        assert store.neighbours(B.entity_id) == [f]
        store.upsert([B])
        assert store.entities() == [B]
        store.delete([A.entity_id])
        assert store.facts() == [] and store.entities() == [B]
        lit = fact(C, "age", "42", None)  # C is only ever the subject of a literal fact
        store.upsert([lit])
        assert store.neighbours(C.entity_id) == [] and store.facts() == [lit]
        store.delete([C.entity_id])
        assert store.facts() == []

    # -- time nodes, hops, counts -----------------------------------------------------------------
    def test_time_nodes(self, store: GraphStore) -> None:
        y, q = _tnode(2020), TimeNode("time:2020-Q3", TimeLevel.QUARTER,
                                      TimeInterval.from_label("2020-Q3"), "time:2020", "q3", ("p1",), ())
        store.upsert([q, y])
        assert store.time_nodes() == [y, q]
        assert store.time_nodes([q.node_id, "time:1999", y.node_id]) == [q, y]
        assert store.time_nodes([]) == []
        assert store.time_nodes([q.node_id])[0].interval.granularity is Granularity.QUARTER

    def test_hops_src_dst(self, store: GraphStore) -> None:
        h1, h2 = Hop.make("p1", "p2", "q1", 0.9), Hop.make("p1", "p3", "q2", 0.5)
        h3, h4 = Hop.make("p2", "p3", "q3", 0.7), Hop.make("p1", "p2", "q4", 0.95)
        store.upsert([h1, h2, h3, h4])
        assert store.hops(src=["p1"]) == [h4, h1, h2]
        assert store.hops(dst=["p3"]) == [h2, h3]
        assert store.hops(src=["p1"], dst=["p2"]) == [h4, h1]
        assert store.hops(src=["p9"]) == [] and store.hops(src=[]) == []
        assert store.hops() == [h4, h1, h2, h3]

    def test_entity_lookup_order_and_fields(self, store: GraphStore) -> None:
        weird = Entity("ent:weird", "O'Brien \"}) DETACH DELETE n //", "person", ("Ö'B", "x"), ("psg:1", "psg:2"),
                       (("psg:1", "O'Brien \"}) DETACH DELETE n //", "person"), ("psg:2", "Ö'B", "")))
        store.upsert([A, B, weird])
        assert store.entities([B.entity_id, "ent:none", A.entity_id]) == [B, A]
        assert store.entities(["ent:weird"]) == [weird]
        assert store.counts()["entities"] == 3

    # -- round trips ------------------------------------------------------------------------------
    def test_time_round_trip_exactly_as_utc(self, store: GraphStore) -> None:
        plus2 = timezone(timedelta(hours=2))
        v = TimeInterval(datetime(2021, 3, 4, 5, 6, 7, 891011, tzinfo=plus2), None, Granularity.INSTANT)
        f = Fact("fact:t1", A.entity_id, "p", "lit", False, v,
                 datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "psg:1", "doc:1", 0.123456789,
                 "t", datetime(2030, 1, 1, 0, 0, 0, 1, tzinfo=plus2), "fact:x")
        g = fact(A, "q", B, TimeInterval(None, None, Granularity.CENTURY))
        h = fact(A, "r", B, TimeInterval(datetime(1066, 10, 14, tzinfo=UTC), datetime(1066, 10, 15, tzinfo=UTC)))
        store.upsert([f, g, h])
        got = {x.fact_id: x for x in store.facts()}
        assert got == {x.fact_id: x for x in (f, g, h)}
        back = got["fact:t1"]
        assert back.valid is not None and back.valid.start is not None
        assert back.valid.start.tzinfo is UTC and back.valid.start.microsecond == 891011
        assert back.valid.start.hour == 3 and back.valid.granularity is Granularity.INSTANT
        assert back.invalid_at is not None and back.invalid_at.tzinfo is UTC
        assert back.observed_at is not None and back.observed_at.utcoffset() == timedelta(0)
        assert got[g.fact_id].valid == TimeInterval(None, None, Granularity.CENTURY)

    def test_persistence_round_trip(self, store: GraphStore) -> None:
        fs = self._chain(store)
        sup = fact(A, "ceo_of", B, year(2020)).superseded(d(2020, 6, 1), "fact:other")
        hops = [Hop.make("p1", "p2", "q", 0.3), Hop.make("p2", "p1", "r", 0.1)]
        tn = [_tnode(2020), _tnode(2021)]
        store.upsert([sup, *hops, *tn])
        before = (store.entities(), store.facts(), store.hops(), store.time_nodes(), store.counts())
        again = self.reopen(store)
        assert (again.entities(), again.facts(), again.hops(), again.time_nodes(), again.counts()) == before
        assert again.neighbours(A.entity_id, depth=3, during=year(2020)) == \
            sorted([fs["ab"], fs["be"], sup], key=_key)


def _tnode(y: int) -> TimeNode:
    iv = year(y)
    return TimeNode(TimeNode.id_for(iv), TimeLevel.YEAR, iv, None, f"summary {y}", ("psg:1",), ("fact:1",))


def _key(f: Fact) -> tuple[datetime, str]:
    eff = f.effective
    return (eff.start if eff is not None and eff.start is not None else datetime.min.replace(tzinfo=UTC),
            f.fact_id)
