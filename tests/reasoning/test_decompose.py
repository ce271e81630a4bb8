"""Decomposition: validation, bounded retries, no split for single-hop, scope inheritance, rewriting."""

from __future__ import annotations

import json

import pytest

from reasoning.decompose import (
    Decomposer,
    DecompositionError,
    is_comparison,
    load_prompt,
    parse_subquestions,
    rewrite,
)
from tgrag.kernel.temporal import TimeInterval
from tgrag.testing import ScriptedLLM

Q = "Who is the father of the director of Zorbal Nights?"


def reply(*subs: str) -> str:
    return json.dumps({"subquestions": list(subs)})


def test_prompt_has_worked_examples_and_the_question_last():
    llm = ScriptedLLM(default=reply(Q))
    msgs = Decomposer(llm).messages(Q)
    assert len(load_prompt()["examples"]) >= 3
    assert msgs[0].role == "system" and msgs[-1].content == f"Question: {Q}"
    assert any(m.role == "assistant" and "#1" in m.content for m in msgs)


def test_valid_split_builds_a_chain_with_dependencies():
    llm = ScriptedLLM(default=reply("Who directed Zorbal Nights?", "Who is the father of #1?"))
    d = Decomposer(llm).decompose(Q)
    assert d.is_split and d.attempts == 1
    assert [s.depends_on for s in d.subquestions] == [(), (1,)]
    assert d.usage.calls == 1


def test_invalid_replies_are_retried_then_accepted():
    replies = iter(["not json", reply("Who is the father of #2?", "x"), reply("Who directed Zorbal Nights?")])
    llm = ScriptedLLM([lambda req: next(replies)])
    d = Decomposer(llm, retries=2).decompose(Q)
    assert d.attempts == 3 and len(d.errors) == 2
    assert "later or missing" in d.errors[1]
    assert not d.is_split and d.usage.calls == 3


def test_retries_are_bounded_and_the_question_is_kept_whole():
    llm = ScriptedLLM(default="{broken")
    d = Decomposer(llm, retries=1).decompose(Q)
    assert len(llm.calls) == 2
    assert [s.text for s in d.subquestions] == [Q]


def test_single_hop_question_is_not_split():
    llm = ScriptedLLM(default=reply("Which team did Mark Gower play for in Jan, 2015?"))
    d = Decomposer(llm).decompose("Which team did Mark Gower play for in Jan, 2015?")
    assert not d.is_split


@pytest.mark.parametrize("bad", ['{"subquestions": []}', '{"subquestions": [1]}', '{"other": ["a"]}',
                                 reply(*["q"] * 9)])
def test_parse_rejects_malformed_output(bad):
    with pytest.raises(DecompositionError):
        parse_subquestions(bad, max_subquestions=5)


def test_sub_questions_inherit_or_narrow_the_scope():
    llm = ScriptedLLM(default=reply("Who led Acme?", "What did #1 do in March 2020?"))
    scope = TimeInterval.from_label("2020")
    d = Decomposer(llm).decompose("What did the head of Acme do in 2020?", scope=scope)
    assert d.subquestions[0].scope == scope
    assert d.subquestions[1].scope == TimeInterval.from_label("2020-03")


def test_rewrite_fills_earlier_answers():
    assert rewrite("Who is the father of #1 and #2?", {1: "Pal Gabor"}) == "Who is the father of Pal Gabor and #2?"


@pytest.mark.parametrize("question", [
    "Who was born first, Alan Crosland or Kurt Voss?",
    'Which movie was filmed first "The Guest" or "You\'re Next"?',
    "Which film has the director who died later, Tiger Bay or Night Train?",
    "Are Random House Tower and 888 7th Avenue both used for real estate?",
    "Do both films have the directors from the same country?",
])
def test_comparisons_are_kept_whole_without_an_llm_call(question: str) -> None:
    llm = ScriptedLLM()  # any call would raise
    d = Decomposer(llm).decompose(question, scope=TimeInterval.from_label("2020"))
    assert not d.is_split and d.reason == "comparison" and not llm.calls
    assert d.subquestions[0].text == question and d.subquestions[0].scope == TimeInterval.from_label("2020")
    assert d.to_dict()["reason"] == "comparison"


@pytest.mark.parametrize("question", [
    Q,
    "The historical Nimavar school in the Nimavar Bazaar, or bazar, is located in which country?",
    "Who has more titles than the school with Fort Hill or the facility in the town where Edwards won the primary?",
    "Which company owns the maker of the Pico-7 drone?",
])
def test_other_questions_still_go_to_the_llm(question: str) -> None:
    assert not is_comparison(question)
    llm = ScriptedLLM(default=reply("a?", "b #1?"))
    d = Decomposer(llm).decompose(question)
    assert d.is_split and len(llm.calls) == 1 and d.reason == ""


def test_keeping_comparisons_whole_can_be_switched_off() -> None:
    llm = ScriptedLLM(default=reply("When was Alan Crosland born?", "When was Kurt Voss born?"))
    d = Decomposer(llm, keep_comparisons=False).decompose("Who was born first, Alan Crosland or Kurt Voss?")
    assert d.is_split and len(llm.calls) == 1


def test_bridge_split_turns_a_described_bridge_entity_into_a_chain_without_the_llm():
    from reasoning.decompose import bridge_split

    def spans(q: str, *names: str) -> list[tuple[int, int]]:
        return [(q.find(n), q.find(n) + len(n)) for n in names]

    q = "Who founded the company that makes the Pico-7 drone?"
    assert bridge_split(q, spans(q, "Pico-7")) == ["Which company makes the Pico-7 drone?", "Who founded #1?"]
    q = "In which town is the company that acquired Brightmoor Foods headquartered?"
    assert bridge_split(q, spans(q, "Brightmoor Foods")) == ["Which company acquired Brightmoor Foods?",
                                                             "In which town is #1 headquartered?"]
    q = "Which company owns the maker of the Pico-7 drone?"
    assert bridge_split(q, spans(q, "Pico-7")) == ["Who or what is the maker of the Pico-7 drone?",
                                                   "Which company owns #1?"]
    q = "Who was the chief executive of Veltrane Robotics in June 2020?"  # the relation itself, not a bridge
    assert bridge_split(q, spans(q, "Veltrane Robotics")) is None
    assert bridge_split("Who founded the company that makes drones?", []) is None  # no named entity


def test_decomposer_uses_the_bridge_split_before_asking_the_llm():
    from tgrag.testing import ScriptedLLM

    llm = ScriptedLLM()  # any call raises
    q = "Who founded the company that makes the Pico-7 drone?"
    d = Decomposer(llm).decompose(q, entity_spans=[(q.find("Pico-7"), q.find("Pico-7") + 6)])
    assert d.reason == "bridge description" and d.is_split and llm.calls == []
    assert d.subquestions[1].depends_on == (1,)
