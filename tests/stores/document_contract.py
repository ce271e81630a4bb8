"""The DocumentStore contract, written once. Every backend's test module subclasses
:class:`DocumentStoreContract` and provides a ``store`` fixture (a fresh, empty store), as
:mod:`tests.stores.contract` does for graph stores."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tgrag.kernel import Document, InputError, Passage, TimeInterval
from tgrag.kernel.protocols import DocumentStore
from tgrag.kernel.temporal import Granularity


def make_doc(text: str, label: str | None, **kw: object) -> tuple[Document, list[Passage]]:
    """A document dated by a time label (or undated) split into passages at '. '."""
    date = TimeInterval.from_label(label) if label else None
    doc = Document.make(text, date=date, title=f"title {text[:5]}", **kw)  # type: ignore[arg-type]
    return doc, [Passage.make(doc, part, i) for i, part in enumerate(text.split(". "))]


def dated(text: str, date: TimeInterval | None) -> tuple[Document, list[Passage]]:
    doc = Document.make(text, date=date)
    return doc, [Passage.make(doc, text, 0)]


def y(year: int, month: int = 1) -> datetime:
    return datetime(year, month, 1, tzinfo=UTC)


# every shape of date a passage can carry: periods of each granularity, instants, open on one side
# or both, undated; neighbours that touch (half-open ends) included
CORPUS_DATES: list[TimeInterval | None] = [
    TimeInterval.from_label("2019"), TimeInterval.from_label("2020"), TimeInterval.from_label("2020-Q2"),
    TimeInterval.from_label("2020-06"), TimeInterval.from_label("2020-07-01"), TimeInterval.from_label("2021-03"),
    TimeInterval.from_label("1990s"), TimeInterval(y(2022), None), TimeInterval(None, y(2018)),
    TimeInterval(None, None), TimeInterval(y(2020, 6), None, Granularity.INSTANT),
    TimeInterval(y(2016), y(2024)), None, None,
]
_YEARS = st.integers(1985, 2030)


@st.composite
def scopes(draw: st.DrawFn) -> TimeInterval:
    start = draw(st.none() | st.tuples(_YEARS, st.integers(1, 12)).map(lambda t: y(*t)))
    end = draw(st.none() | st.tuples(_YEARS, st.integers(1, 12)).map(lambda t: y(*t)))
    if start is not None and end is not None and end <= start:
        start, end = end, start if start != end else None
    return TimeInterval(start, end)


class DocumentStoreContract:
    """Behaviour every DocumentStore backend must show."""

    def test_protocol_round_trip(self, store: DocumentStore) -> None:
        assert isinstance(store, DocumentStore)
        doc, psgs = make_doc("Alpha one. Alpha two. Alpha three", "2021-07", meta={"src": "x", "n": [1, 2]})
        store.put([doc], psgs)
        assert store.get_document(doc.doc_id) == doc
        assert store.get_document("doc:none") is None
        assert store.passages_of(doc.doc_id) == psgs
        assert store.count() == (1, 3)
        assert store.document_ids() == [doc.doc_id]
        assert store.passage_ids() == {p.passage_id for p in psgs}
        assert store.get_passages([psgs[2].passage_id, "psg:none", psgs[0].passage_id]) == [psgs[2], psgs[0]]

    def test_put_is_atomic_when_a_passage_fails(self, store: DocumentStore) -> None:
        good, good_p = make_doc("Good doc. With two", "2020")
        bad = Passage("psg:orphan", "doc:missing", "orphan", 0)
        with pytest.raises(InputError, match="psg:orphan"):
            store.put([good], [*good_p, bad])
        assert store.count() == (0, 0) and store.get_document(good.doc_id) is None

    def test_put_rejects_unserialisable_meta(self, store: DocumentStore) -> None:
        doc = Document("doc:x", "text", None, "", {"bad": object()})
        with pytest.raises(InputError, match="doc:x"):
            store.put([doc], [])
        assert store.count() == (0, 0)

    def test_upsert_replaces(self, store: DocumentStore) -> None:
        doc, psgs = make_doc("Same doc. Two parts", "2020")
        store.put([doc], psgs)
        newer = Document(doc.doc_id, "changed", TimeInterval.from_label("2021"), "t2", {"v": 2})
        store.put([newer], [Passage(psgs[0].passage_id, doc.doc_id, "changed", 0, newer.date, "t2")])
        store.put([newer], [])
        assert store.get_document(doc.doc_id) == newer
        assert store.count() == (1, 2) and store.passages_of(doc.doc_id)[0].text == "changed"
        assert store.passage_ids_in(TimeInterval.from_label("2020")) == {psgs[1].passage_id}
        assert store.passage_ids_in(TimeInterval.from_label("2021")) == {psgs[0].passage_id}

    def test_iter_passages_during_overlap(self, store: DocumentStore) -> None:
        y2020, p2020 = make_doc("Year doc. In 2020", "2020")
        m2021, p2021 = make_doc("Month doc", "2021-03")
        und, pund = make_doc("Undated doc", None)
        since, psince = dated("Open ended", TimeInterval(y(2022), None))
        store.put([y2020, m2021, und, since], [*p2020, *p2021, *pund, *psince])

        def ids(during: TimeInterval | None) -> set[str]:
            return {p.passage_id for p in store.iter_passages(during=during)}

        assert ids(None) == {p.passage_id for p in [*p2020, *p2021, *pund, *psince]}
        assert ids(TimeInterval.from_label("2020")) == {p.passage_id for p in p2020}
        assert ids(TimeInterval.from_label("2021")) == {p2021[0].passage_id}
        assert ids(TimeInterval.from_label("2021-04")) == set()  # half-open: March ends at April 1
        assert ids(TimeInterval.from_label("2021-02")) == set()
        assert ids(TimeInterval(None, y(2020))) == set()
        assert ids(TimeInterval(y(2030), None)) == {psince[0].passage_id}
        assert ids(TimeInterval(None, None)) == {p.passage_id for p in [*p2020, *p2021, *psince]}

    def test_delete_document_returns_passage_ids(self, store: DocumentStore) -> None:
        a, pa = make_doc("Doc A. Part two", "2020")
        b, pb = make_doc("Doc B", "2020")
        store.put([a, b], [*pa, *pb])
        assert store.delete_document(a.doc_id) == [p.passage_id for p in pa]
        assert store.delete_document(a.doc_id) == []
        assert store.count() == (1, 1) and store.document_ids() == [b.doc_id]
        assert store.passage_ids_in(TimeInterval.from_label("2020")) == {pb[0].passage_id}

    # -- scoped ids -------------------------------------------------------------------------------
    def test_passage_ids_in_keeps_half_open_ends_and_the_undated_policy(self, store: DocumentStore) -> None:
        march, pm = dated("March", TimeInterval.from_label("2021-03"))
        und, pu = dated("Undated", None)
        store.put([march, und], [*pm, *pu])
        assert store.passage_ids_in(TimeInterval.from_label("2021-03-31")) == {pm[0].passage_id}
        assert store.passage_ids_in(TimeInterval.from_label("2021-04")) == set()  # March ends at April 1
        assert store.passage_ids_in(TimeInterval(None, y(2021, 3))) == set()  # ends where March starts
        assert store.passage_ids_in(TimeInterval.from_label("2021-04"), keep_undated=True) == {pu[0].passage_id}
        assert store.passage_ids_in(TimeInterval(None, None), keep_undated=True) == {pm[0].passage_id, pu[0].passage_id}
        assert store.scope_excludes(TimeInterval.from_label("2021"))  # the undated passage
        assert not store.scope_excludes(TimeInterval.from_label("2021"), keep_undated=True)
        assert store.scope_excludes(TimeInterval.from_label("2022"), keep_undated=True)

    def test_passage_ids_in_limit_and_empty_store(self, store: DocumentStore) -> None:
        assert store.passage_ids_in(TimeInterval(None, None), keep_undated=True) == set()
        assert not store.scope_excludes(TimeInterval.from_label("2020"))
        docs = [dated(f"Day {d}", TimeInterval.from_label(f"2020-05-{d:02d}")) for d in range(1, 8)]
        store.put([d for d, _ in docs], [p for _, ps in docs for p in ps])
        every = {p.passage_id for _, ps in docs for p in ps}
        one = store.passage_ids_in(TimeInterval.from_label("2020-05"), limit=1)
        assert len(one) == 1 and one <= every
        assert store.passage_ids_in(TimeInterval.from_label("2020-05"), limit=3).issubset(every)
        assert len(store.passage_ids_in(TimeInterval.from_label("2020-05"), limit=3)) == 3
        assert store.passage_ids_in(TimeInterval.from_label("2020-06"), limit=1) == set()

    @settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(scope=scopes(), keep_undated=st.booleans())
    def test_passage_ids_in_equals_the_overlap_rule(self, store: DocumentStore, scope: TimeInterval,
                                                    keep_undated: bool) -> None:
        if store.count()[1] == 0:  # the same store serves every example: fill it once
            docs = [dated(f"Passage {i}", date) for i, date in enumerate(CORPUS_DATES)]
            store.put([d for d, _ in docs], [p for _, ps in docs for p in ps])
        every = list(store.iter_passages())
        want = {p.passage_id for p in every
                if (p.date.overlaps(scope) if p.date is not None else keep_undated)}
        assert store.passage_ids_in(scope, keep_undated=keep_undated) == want
        assert store.scope_excludes(scope, keep_undated=keep_undated) == (want != {p.passage_id for p in every})
