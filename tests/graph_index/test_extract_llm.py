from __future__ import annotations

import json

import pytest

from graph_index.extract_llm import LLMFactExtractor, parse_facts_json
from tgrag.kernel.errors import ExtractionError
from tgrag.kernel.records import Document, Passage
from tgrag.kernel.temporal import TimeInterval
from tgrag.testing import ScriptedLLM

GOOD = json.dumps({"facts": [{"subject": "Acme", "predicate": "acquire", "object": "Beta",
                              "object_is_entity": True, "time": "14 March 2019"}]})


def passage(text: str = "On 14 March 2019, Acme acquired Beta.") -> Passage:
    return Passage.make(Document.make(text, date=TimeInterval.from_label("2019-06"), doc_id="d1"), text, 0)


def test_valid_json_becomes_facts() -> None:
    llm = ScriptedLLM(default=GOOD)
    res = LLMFactExtractor(llm).extract([passage()])
    assert not res.failures and len(res.facts) == 1
    f = res.facts[0]
    assert (f.subject, f.predicate, f.obj, f.object_is_entity) == ("Acme", "acquire", "Beta", True)
    assert f.valid == TimeInterval.from_label("2019-03-14")
    assert f.observed_at == TimeInterval.from_label("2019-06").start
    assert {m.name for m in res.entities} == {"Acme", "Beta"}
    assert len(llm.calls) == 1


def test_invalid_json_is_retried_then_succeeds() -> None:
    replies = iter(["not json", '{"facts": [{"subject": ""}]}', GOOD])
    llm = ScriptedLLM([lambda req: next(replies)])
    res = LLMFactExtractor(llm, max_retries=2).extract([passage()])
    assert len(llm.calls) == 3 and len(res.facts) == 1 and not res.failures
    assert "previous output was invalid" in llm.calls[1].messages[-1].content


def test_invalid_json_counted_as_failure_with_passage_id() -> None:
    llm = ScriptedLLM(default="I cannot do that")
    p = passage()
    res = LLMFactExtractor(llm, max_retries=2).extract([p])
    assert len(llm.calls) == 3
    assert res.facts == () and len(res.failures) == 1
    assert res.failures[0].passage_id == p.passage_id and res.failures[0].attempts == 3


def test_strict_mode_raises_with_passage_id() -> None:
    p = passage()
    with pytest.raises(ExtractionError) as err:
        LLMFactExtractor(ScriptedLLM(default="{}"), max_retries=0, strict=True).extract([p])
    assert err.value.passage_id == p.passage_id


def test_schema_validation() -> None:
    with pytest.raises(ValueError, match="object_is_entity"):
        parse_facts_json('{"facts": [{"subject": "a", "predicate": "b", "object": "c", "object_is_entity": "yes"}]}')
    assert parse_facts_json("```json\n" + GOOD + "\n```")[0]["object"] == "Beta"
