from __future__ import annotations

from graph_index.kg_qa import parse_question
from tgrag.kernel.temporal import TimeInterval


def test_parse_question_forms() -> None:
    p = parse_question("Who was the head coach of the team Enosis Neon Paralimni FC in Aug, 2018?")
    assert p is not None and p.anchor == "Enosis Neon Paralimni FC" and not p.anchor_is_subject
    assert p.predicates == ("head coach of",) and p.time == TimeInterval.from_label("2018-08")
    p = parse_question("Which team did Mark Gower play for in Jan, 2015?")
    assert p is not None and p.anchor == "Mark Gower" and p.predicates == ("play for",) and p.anchor_is_subject
    p = parse_question("Which position did Sir William Curtis, 1st Baronet hold in Jun, 1801?")
    assert p is not None and p.anchor == "Sir William Curtis, 1st Baronet" and "hold position" in p.predicates
    p = parse_question("Which political party did Obren Joksimović belong to in Apr, 2021?")
    assert p is not None and "member of" in p.predicates
    p = parse_question("Where was Audrey Eagle educated in Nov, 1938?")
    assert p is not None and p.anchor == "Audrey Eagle" and "attend" in p.predicates
    p = parse_question("Who was the owner of North Stafford Hotel in Jan, 1933?")
    assert p is not None and p.predicates == ("own",)
    assert parse_question("Why is the sky blue?") is None
