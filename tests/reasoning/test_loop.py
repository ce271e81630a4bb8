"""The reasoning loop end to end with a scripted LLM: trace, rewriting, scope, abstention, ablations."""

from __future__ import annotations

import json

import pytest

from reasoning.loop import ReasoningSettings, TemporalReasoner
from reasoning.reader import Reader
from tgrag.kernel.errors import ConfigError
from tgrag.kernel.records import LLMRequest
from tgrag.kernel.temporal import TimeInterval
from tgrag.testing import ScriptedLLM

Q = "Who is the father of the director of Zorbal Nights?"


def decomposer_rule(*subs: str):
    def rule(req: LLMRequest) -> str | None:
        return json.dumps({"subquestions": list(subs)}) if req.json_mode else None
    return rule


def reasoner(env, llm, **settings) -> TemporalReasoner:
    return TemporalReasoner.from_parts(env.docs, env.vectors, env.graph, env.embedder, llm, reader=Reader(llm) if llm else None,
                            settings=ReasoningSettings(**settings))


def test_multi_hop_loop_rewrites_later_sub_questions_and_records_every_step(chain_env):
    llm = ScriptedLLM([
        decomposer_rule("Who directed Zorbal Nights?", "Who is the father of #1?"),
        ("Question: Who directed Zorbal Nights?", "Answer: Pal Gabor\nCitations: [1]"),
        ("Question: Who is the father of Pal Gabor?", "Answer: Janos Gabor\nCitations: [1]"),
    ])
    ans = reasoner(chain_env, llm, k=3).answer(Q)
    assert (ans.text, ans.abstained) == ("Janos Gabor", False)
    assert [t.stage for t in ans.trace] == ["scope", "decompose", "retrieve", "subanswer", "retrieve",
                                           "subanswer", "evidence", "answer"]
    second = [t for t in ans.trace if t.stage == "retrieve"][1]
    assert second.data["query"] == "Who is the father of Pal Gabor?"
    assert chain_env.pid("Pal Gabor") in [p["ref_id"] for p in second.data["passages"]]
    assert ans.usage.calls == 3 == len(llm.calls)
    assert ans.citations and ans.citations[0].ref_id in {e.ref_id for e in ans.evidence}
    assert {"scope", "decompose", "retrieve", "read", "total"} <= set(ans.timings)


def test_abstains_when_the_reader_finds_no_answer(chain_env):
    llm = ScriptedLLM([decomposer_rule(Q)], default="Answer: unknown\nCitations: none")
    ans = reasoner(chain_env, llm).answer(Q)
    assert ans.abstained and ans.text == "" and ans.citations == ()
    assert ans.trace[-1].stage == "answer" and ans.trace[-1].data["abstained"]


def test_time_scope_filters_dated_passages_and_reaches_the_reader(dated_env):
    llm = ScriptedLLM([("Question: Who led Acme Dyes in 2023?", "Answer: Oskar Berg\nCitations: [1]")])
    ans = reasoner(dated_env, llm, use_decomposition=False, retriever="hybrid").answer("Who led Acme Dyes in 2023?")
    assert ans.time_scope == TimeInterval.from_label("2023")
    titles = {e.title for e in ans.evidence}
    assert "Acme report 2020" not in titles and "Acme report 2023" in titles
    assert "2023" in llm.calls[0].messages[-1].content


def test_ablation_switches(dated_env):
    llm = ScriptedLLM(default="Answer: Maria Lind\nCitations: [1]")
    r = reasoner(dated_env, llm, use_time_scope=False, use_decomposition=False, retriever="walk", use_walk=False)
    ans = r.answer("Who led Acme Dyes in 2023?", as_of="2021-01-01")
    assert ans.time_scope is None and len(llm.calls) == 1
    assert type(r.retriever()).__name__ == "HybridRetriever"
    assert "Acme report 2020" in {e.title for e in ans.evidence}


def test_api_scope_and_retrieve_only(dated_env):
    r = reasoner(dated_env, None, use_decomposition=False)
    got = r.retrieve_only("Who led Acme Dyes?", 3, as_of="2021-06-30")
    assert {e.title for e in got} == {"Acme report 2020"}  # a caller's scope is strict: undated excluded
    in_text = r.retrieve_only("Who led Acme Dyes in 2020?", 3)
    assert {e.title for e in in_text} == {"Acme report 2020", "Acme history"}  # question scope keeps undated
    with pytest.raises(ConfigError):
        r.answer("Who led Acme Dyes?")
    with pytest.raises(ConfigError):
        ReasoningSettings(retriever="magic")
