"""Tests for tgrag.kernel.timeparse: a table of expressions, sentences, document dates, scopes, data."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tgrag.kernel.errors import TimeError
from tgrag.kernel.temporal import Granularity as G
from tgrag.kernel.temporal import TimeInterval
from tgrag.kernel.timeparse import (
    TimeMention,
    as_of_scope,
    between_scope,
    find_time_expressions,
    parse_document_date,
    parse_time,
)

REF = datetime(2024, 5, 15, 10, 30, tzinfo=UTC)  # a Wednesday in Q2 2024
TEMPREASON = Path(__file__).resolve().parents[2] / "shared" / "data" / "tempreason"


def d(s: str | None) -> datetime | None:
    return datetime.fromisoformat(s).replace(tzinfo=UTC) if s else None


# text, expected (start, end, granularity) or None; relative rows are parsed against REF
TABLE: list[tuple[str, tuple[str | None, str | None, G] | None]] = [
    # absolute days
    ("14 March 2019", ("2019-03-14", "2019-03-15", G.DAY)),
    ("March 14, 2019", ("2019-03-14", "2019-03-15", G.DAY)),
    ("2019-03-14", ("2019-03-14", "2019-03-15", G.DAY)),
    ("14/03/2019", ("2019-03-14", "2019-03-15", G.DAY)),
    ("03/14/2019", ("2019-03-14", "2019-03-15", G.DAY)),
    ("14.03.2019", ("2019-03-14", "2019-03-15", G.DAY)),
    ("Thursday, 14 March 2019", ("2019-03-14", "2019-03-15", G.DAY)),
    ("the 14th of March, 2019", ("2019-03-14", "2019-03-15", G.DAY)),
    ("Mar. 14th 2019", ("2019-03-14", "2019-03-15", G.DAY)),
    ("August 29 , 1864", ("1864-08-29", "1864-08-30", G.DAY)),
    ("on 1 Sept. 2019", ("2019-09-01", "2019-09-02", G.DAY)),
    # months
    ("June 1970", ("1970-06-01", "1970-07-01", G.MONTH)),
    ("Jun, 1970", ("1970-06-01", "1970-07-01", G.MONTH)),
    ("Jun 1970", ("1970-06-01", "1970-07-01", G.MONTH)),
    ("December of 2021", ("2021-12-01", "2022-01-01", G.MONTH)),
    ("2024-06", ("2024-06-01", "2024-07-01", G.MONTH)),
    # years, quarters
    ("2021", ("2021-01-01", "2022-01-01", G.YEAR)),
    ("in 2021", ("2021-01-01", "2022-01-01", G.YEAR)),
    ("Q3 2024", ("2024-07-01", "2024-10-01", G.QUARTER)),
    ("2024-Q3", ("2024-07-01", "2024-10-01", G.QUARTER)),
    ("2022 Q4", ("2022-10-01", "2023-01-01", G.QUARTER)),
    ("third quarter of 2024", ("2024-07-01", "2024-10-01", G.QUARTER)),
    ("the fourth quarter of 2019", ("2019-10-01", "2020-01-01", G.QUARTER)),
    # fiscal (default start month 1: calendar)
    ("Q3 FY2024", ("2024-07-01", "2024-10-01", G.QUARTER)),
    ("fiscal 2023", ("2023-01-01", "2024-01-01", G.YEAR)),
    ("FY2023", ("2023-01-01", "2024-01-01", G.YEAR)),
    ("FY24", ("2024-01-01", "2025-01-01", G.YEAR)),
    # spans and open ranges
    ("from Jan, 2006 to Jan, 2015", ("2006-01-01", "2015-02-01", G.MONTH)),
    ("from March 2019 to June 2022", ("2019-03-01", "2022-07-01", G.MONTH)),
    ("between 2001 and 2005", ("2001-01-01", "2006-01-01", G.YEAR)),
    ("2001-2005", ("2001-01-01", "2006-01-01", G.YEAR)),
    ("2010–11", ("2010-01-01", "2012-01-01", G.YEAR)),
    ("from 2019 to Q2 2020", ("2019-01-01", "2020-07-01", G.YEAR)),
    ("since 2019", ("2019-01-01", None, G.YEAR)),
    ("2019 onwards", ("2019-01-01", None, G.YEAR)),
    ("from May 2021", ("2021-05-01", None, G.MONTH)),
    ("until 2010", (None, "2011-01-01", G.YEAR)),
    ("before 2010", (None, "2010-01-01", G.YEAR)),
    ("after March 2010", ("2010-04-01", None, G.MONTH)),
    # decades, centuries, parts of a year
    ("the 1990s", ("1990-01-01", "2000-01-01", G.DECADE)),
    ("1990s", ("1990-01-01", "2000-01-01", G.DECADE)),
    ("the early 1990s", ("1990-01-01", "1994-01-01", G.YEAR)),
    ("the 20th century", ("1901-01-01", "2001-01-01", G.CENTURY)),
    ("the nineteenth century", ("1801-01-01", "1901-01-01", G.CENTURY)),
    ("early 2019", ("2019-01-01", "2019-05-01", G.MONTH)),
    ("mid-2019", ("2019-05-01", "2019-09-01", G.MONTH)),
    ("late 2019", ("2019-09-01", "2020-01-01", G.MONTH)),
    ("the end of 2019", ("2019-09-01", "2020-01-01", G.MONTH)),
    # relative to REF (2024-05-15)
    ("last quarter", ("2024-01-01", "2024-04-01", G.QUARTER)),
    ("this quarter", ("2024-04-01", "2024-07-01", G.QUARTER)),
    ("next month", ("2024-06-01", "2024-07-01", G.MONTH)),
    ("last year", ("2023-01-01", "2024-01-01", G.YEAR)),
    ("two years ago", ("2022-01-01", "2023-01-01", G.YEAR)),
    ("3 months ago", ("2024-02-01", "2024-03-01", G.MONTH)),
    ("yesterday", ("2024-05-14", "2024-05-15", G.DAY)),
    ("today", ("2024-05-15", "2024-05-16", G.DAY)),
    ("last week", ("2024-05-06", "2024-05-13", G.DAY)),
    ("the past 3 years", ("2021-05-16", "2024-05-16", G.DAY)),
    # unparseable / not a time
    ("2,100 employees", None),
    ("$2.1 billion", None),
    ("42", None),
    ("2100 employees", None),
    ("garbage", None),
    ("", None),
    ("March 14", None),  # no year: never invent one
    ("14 March 2019 and 2020", None),  # two expressions, not one
]


@pytest.mark.parametrize(("text", "expected"), TABLE, ids=[t or "<empty>" for t, _ in TABLE])
def test_parse_time_table(text: str, expected: tuple[str | None, str | None, G] | None) -> None:
    got = parse_time(text, reference=REF)
    if expected is None:
        assert got is None
    else:
        start, end, gran = expected
        assert got == TimeInterval(d(start), d(end), gran)


@pytest.mark.parametrize("text", ["last quarter", "two years ago", "yesterday", "today", "next month"])
def test_relative_without_reference_is_none(text: str) -> None:
    assert parse_time(text) is None
    assert find_time_expressions(f"Sales fell {text}.") == []


@pytest.mark.parametrize(("text", "start_month", "expected"), [
    ("FY2024", 10, ("2023-10-01", "2024-10-01", G.YEAR)),
    ("fiscal 2024", 7, ("2023-07-01", "2024-07-01", G.YEAR)),
    ("Q1 FY2024", 10, ("2023-10-01", "2024-01-01", G.QUARTER)),
    ("Q3 FY2024", 10, ("2024-04-01", "2024-07-01", G.QUARTER)),
    ("the third fiscal quarter of 2024", 10, ("2024-04-01", "2024-07-01", G.QUARTER)),
    ("Q3 2024", 10, ("2024-07-01", "2024-10-01", G.QUARTER)),  # no FY: calendar quarter
])
def test_fiscal_year_start_month(text: str, start_month: int,
                                 expected: tuple[str, str, G]) -> None:
    got = parse_time(text, fiscal_year_start_month=start_month)
    assert got == TimeInterval(d(expected[0]), d(expected[1]), expected[2])


def test_bad_fiscal_start_month_raises() -> None:
    with pytest.raises(TimeError, match="fiscal_year_start_month"):
        parse_time("FY2024", fiscal_year_start_month=13)


def _texts(mentions: list[TimeMention]) -> list[str]:
    return [m.text for m in mentions]


@pytest.mark.parametrize(("sentence", "texts", "labels"), [
    ("On 14 March 2019, Acme acquired Beta.", ["14 March 2019"], ["2019-03-14"]),
    ("Revenue rose to $2.1 billion in Q3 2024.", ["Q3 2024"], ["2024-Q3"]),
    ("John Smith was the chair of Acme Corp from Jan, 2006 to Jan, 2015.",
     ["from Jan, 2006 to Jan, 2015"], ["2006-01-01T00:00:00+00:00/2015-02-01T00:00:00+00:00"]),
    ("Who was the chair of Acme in Jun, 1970?", ["Jun, 1970"], ["1970-06"]),
    ("The firm had 2,100 employees and 1500 robots in 2019.", ["2019"], ["2019"]),
    ("He played from 1996 to 1998 and again in 2005 to 2006.", ["from 1996 to 1998", "2005 to 2006"],
     ["1996-01-01T00:00:00+00:00/1999-01-01T00:00:00+00:00",
      "2005-01-01T00:00:00+00:00/2007-01-01T00:00:00+00:00"]),
    ("Prices rose 5% in 2019 to 7% in 2020.", ["2019", "2020"], ["2019", "2020"]),
    ("Member of the 1701-02 Parliament from Jan, 1701 to Jan, 1702.",
     ["1701-02", "from Jan, 1701 to Jan, 1702"],
     ["1701-01-01T00:00:00+00:00/1703-01-01T00:00:00+00:00",
      "1701-01-01T00:00:00+00:00/1702-02-01T00:00:00+00:00"]),
    ("No dates here, only 42 apples.", [], []),
])
def test_find_time_expressions_sentences(sentence: str, texts: list[str], labels: list[str]) -> None:
    mentions = find_time_expressions(sentence)
    assert _texts(mentions) == texts
    assert [str(m.interval) for m in mentions] == labels
    for m in mentions:
        assert sentence[m.start_char:m.end_char] == m.text


def test_find_relative_with_reference() -> None:
    mentions = find_time_expressions("Sales fell last quarter, after growing two years ago.", reference=REF)
    assert _texts(mentions) == ["last quarter", "two years ago"]
    assert [str(m.interval) for m in mentions] == ["2024-Q1", "2022"]


@pytest.mark.parametrize(("value", "label"), [
    ("2024-06-30", "2024-06-30"),
    ("2024-06", "2024-06"),
    ("2024", "2024"),
    ("2024-Q3", "2024-Q3"),
    ("2024-q3", "2024-Q3"),
    ("2024 Q3", "2024-Q3"),
    ("2022/06/12", "2022-06-12"),
    ("2024-06-30T23:30:00-02:00", "2024-07-01"),  # → UTC
    ("2024-06-30T10:00:00Z", "2024-06-30"),
    ("June 30, 2024", "2024-06-30"),
    (2020, "2020"),
    (datetime(2024, 6, 30, 23, 0, tzinfo=timezone(timedelta(hours=-5))), "2024-07-01"),
])
def test_parse_document_date(value: str | int | datetime, label: str) -> None:
    iv = parse_document_date(value)
    assert iv is not None
    assert iv.label() == label


@pytest.mark.parametrize("value", [None, "", "   ", "garbage", "n/a", 42, True, "2024-13-45"])
def test_parse_document_date_rejects(value: object) -> None:
    assert parse_document_date(value) is None  # type: ignore[arg-type]


def test_as_of_scope() -> None:
    assert as_of_scope("2024-06-30") == TimeInterval(None, d("2024-07-01"), G.DAY)
    assert as_of_scope("2024") == TimeInterval(None, d("2025-01-01"), G.YEAR)
    assert as_of_scope("Q2 2024") == TimeInterval(None, d("2024-07-01"), G.QUARTER)
    assert as_of_scope(datetime(2024, 6, 30, 8, tzinfo=UTC)).end == d("2024-07-01")
    with pytest.raises(TimeError, match="garbage"):
        as_of_scope("garbage")
    with pytest.raises(TimeError):
        as_of_scope("since 2019")


def test_between_scope() -> None:
    assert between_scope("2019", "2021-03") == TimeInterval(d("2019-01-01"), d("2021-04-01"), G.YEAR)
    assert between_scope("2022 Q4", "2023 Q3") == TimeInterval(d("2022-10-01"), d("2023-10-01"), G.QUARTER)
    with pytest.raises(TimeError, match="nonsense"):
        between_scope("2019", "nonsense")
    with pytest.raises(TimeError):
        between_scope("2021", "2019")  # empty


_MONTH_NAMES = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


@settings(max_examples=150, deadline=None)
@given(st.integers(1000, 2199), st.integers(1, 12), st.integers(1, 28),
       st.sampled_from(["{d} {M} {y}", "{M} {d}, {y}", "{y}-{m:02d}-{d:02d}"]))
def test_day_formats_roundtrip(year: int, month: int, day: int, fmt: str) -> None:
    text = fmt.format(d=day, M=_MONTH_NAMES[month - 1], y=year, m=month)
    iv = parse_time(text)
    assert iv == TimeInterval(datetime(year, month, day, tzinfo=UTC),
                              datetime(year, month, day, tzinfo=UTC) + timedelta(days=1), G.DAY)


@settings(max_examples=150, deadline=None)
@given(st.integers(1000, 2190), st.integers(1, 12), st.integers(0, 8), st.integers(1, 12))
def test_month_span_property(y1: int, m1: int, dy: int, m2: int) -> None:
    y2 = y1 + dy
    text = f"from {_MONTH_NAMES[m1 - 1]}, {y1} to {_MONTH_NAMES[m2 - 1]}, {y2}"
    iv = parse_time(text)
    if (y2, m2) < (y1, m1):
        assert iv is None or iv.granularity is G.MONTH  # not one well-formed span
        return
    assert iv is not None and iv.granularity is G.MONTH
    assert iv.start == datetime(y1, m1, 1, tzinfo=UTC)
    end = datetime(y2 + m2 // 12, m2 % 12 + 1, 1, tzinfo=UTC)
    assert iv.end == end


_WORDS = st.sampled_from(["in", "the", "Acme", "2019", "Q3", "March", "14", "$2.1", "billion", "from",
                          "to", "since", "1990s", "early", "2,100", "employees", "FY2023", "and",
                          "between", "2024-06-30", "Jun,", "1970", "last", "year", "ago", "two", "-"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_WORDS, max_size=14))
def test_mentions_are_ordered_disjoint_and_valid(words: list[str]) -> None:
    text = " ".join(words)
    mentions = find_time_expressions(text, reference=REF)
    prev_end = 0
    for m in mentions:
        assert prev_end <= m.start_char < m.end_char <= len(text)
        assert text[m.start_char:m.end_char] == m.text
        iv = m.interval
        assert iv.start is not None or iv.end is not None
        if iv.bounded:
            assert iv.start < iv.end  # type: ignore[operator]
        prev_end = m.end_char


@pytest.mark.skipif(not TEMPREASON.exists(), reason="evaluation data folder not present")
def test_tempreason_fact_spans_and_question_dates_parse() -> None:
    lines = ok = 0
    for raw in (TEMPREASON / "corpus.jsonl").read_text().splitlines():
        rec = json.loads(raw)
        if not rec["id"].startswith("facts_"):
            continue
        for sentence in filter(None, (s.strip() for s in rec["text"].split("\n"))):
            m = re.search(r"from (.+?) to (.+?)\.?$", sentence)
            assert m is not None, sentence
            lines += 1
            spans = [x for x in find_time_expressions(sentence) if x.text.startswith("from ")]
            ok += len(spans) == 1 and spans[0].interval == between_scope(m.group(1), m.group(2))
    assert lines > 1000
    assert ok == lines
    asked = parsed = 0
    for raw in (TEMPREASON / "questions.jsonl").read_text().splitlines():
        q = json.loads(raw)
        m = re.search(r" in ([A-Z][a-z]{2}, \d{4})\?$", q["question"])
        if m is None:
            continue
        asked += 1
        found = find_time_expressions(q["question"])
        parsed += len(found) == 1 and found[0].text == m.group(1) and found[0].interval.granularity is G.MONTH
    assert asked > 100
    assert parsed == asked


DEMO = Path(__file__).resolve().parents[1] / "tgrag" / "demo_data"


def test_demo_data_dates_scopes_and_ids() -> None:
    docs = [json.loads(line) for line in (DEMO / "docs.jsonl").read_text().splitlines()]
    questions = [json.loads(line) for line in (DEMO / "questions.jsonl").read_text().splitlines()]
    ids = {doc["id"] for doc in docs}
    assert len(ids) == len(docs) >= 40
    undated = [doc["id"] for doc in docs if doc.get("date") is None]
    assert len(undated) == 1
    for doc in docs:
        if doc.get("date") is not None:
            assert parse_document_date(doc["date"]) is not None, doc["id"]
    for q in questions:
        assert set(q["supporting"]) <= ids, q["id"]
        scope = q["time_scope"] or {}
        if "as_of" in scope:
            assert as_of_scope(scope["as_of"]).end is not None
        if "between" in scope:
            assert between_scope(*scope["between"]).bounded
        if q["question_date"] is not None:
            assert parse_document_date(q["question_date"]) is not None, q["id"]
        texts = " ".join(doc["text"] for doc in docs if doc["id"] in q["supporting"])
        assert (q["type"] == "unanswerable") == (q["answers"] == [])
        assert not q["answers"] or any(a in texts for a in q["answers"]), q["id"]
