"""The question's time scope: text, relative expressions, API arguments, merging, conflicts."""

from __future__ import annotations

from reasoning.scope import narrow, question_scope
from tgrag.kernel.temporal import TimeInterval, utc_datetime


def test_explicit_month_in_the_question():
    s = question_scope("Which team did Mark Gower play for in Jan, 2015?")
    assert s.interval == TimeInterval.from_label("2015-01")
    assert [p.source for p in s.parts] == ["question"]


def test_a_range_in_the_question_spans_both_ends():
    s = question_scope("Who was the spouse of Arnulf Overland from 1918 to 1939?")
    assert (s.interval.start, s.interval.end) == (utc_datetime(1918), utc_datetime(1940))


def test_as_of_in_the_text_opens_the_start():
    s = question_scope("Who led Acme as of 2020?")
    assert s.interval.start is None and s.interval.end == utc_datetime(2021)


def test_relative_expression_is_read_against_the_question_date():
    s = question_scope("Who won the cup last year?", question_date="2024-05-01")
    assert s.interval == TimeInterval.from_label("2023")
    assert question_scope("Who won the cup last year?").interval is None


def test_api_and_question_scopes_intersect_and_record_their_sources():
    s = question_scope("Who led Acme in 2020?", as_of="2020-06-30")
    assert (s.interval.start, s.interval.end) == (utc_datetime(2020), utc_datetime(2020, 7, 1))
    assert {p.source for p in s.parts} == {"as_of", "question"}
    assert not s.conflict


def test_disjoint_scopes_are_a_conflict_and_the_api_wins():
    s = question_scope("Who led Acme in 2020?", between=("2010", "2012"))
    assert s.conflict
    assert (s.interval.start, s.interval.end) == (utc_datetime(2010), utc_datetime(2013))


def test_no_time_in_question_and_no_api_scope():
    s = question_scope("Who is the father of Edward Baring?")
    assert s.interval is None and s.parts == ()


def test_text_reading_can_be_switched_off():
    assert question_scope("Who led Acme in 2020?", use_text=False).interval is None


def test_narrow_keeps_the_child_inside_the_parent():
    parent = TimeInterval.from_label("2020")
    assert narrow(parent, TimeInterval.from_label("2020-03")) == TimeInterval.from_label("2020-03")
    assert narrow(parent, TimeInterval.from_label("2019")) == parent
    assert narrow(None, parent) == parent


def test_a_year_in_a_names_disambiguator_is_not_the_questions_time():
    s = question_scope("Which team did the player John Williams (footballer, born 1968) belong to from 2007 to 2008?")
    assert (s.interval.start, s.interval.end) == (utc_datetime(2007), utc_datetime(2009))
    film = question_scope("Who directed Dune (2021 film)?")
    assert film.interval is None and film.note == ""  # no scope, and no "contradiction" either


def test_a_parenthesised_year_that_is_not_a_disambiguator_still_counts():
    s = question_scope("Who chaired the board (in 1990) of Acme?")
    assert s.interval == TimeInterval.from_label("1990")
