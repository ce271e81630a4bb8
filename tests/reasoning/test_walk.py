"""Retrievers and the HopRAG walk on hand-made corpora (hashing embedder, no LLM)."""

from __future__ import annotations

from collections import Counter

from reasoning.retrievers import BM25Retriever, DenseRetriever, HybridRetriever, reciprocal_rank_fusion
from reasoning.walk import HopWalkRetriever, LLMHopChooser, WalkSettings, helpfulness, lead_first
from tgrag.kernel.records import Document, Passage
from tgrag.kernel.temporal import TimeInterval
from tgrag.testing import ScriptedLLM

QUESTION = "What company did the father of the director of Zorbal Nights found?"
CHAIN = WalkSettings(seeds=3, hops=2, strong_weight=1.0, decay=1.0)


def _retrievers(env):
    dense = DenseRetriever(env.docs, env.vectors, env.embedder)
    return dense, HybridRetriever(dense, BM25Retriever(env.docs))


def test_walk_reaches_the_answer_two_hops_away_that_dense_misses(chain_env):
    dense, hybrid = _retrievers(chain_env)
    answer = chain_env.pid("Janos Gabor")
    assert answer not in [pid for pid, _ in dense.ranked(QUESTION, 4)]
    walk = HopWalkRetriever(hybrid, chain_env.graph, settings=CHAIN)
    assert answer in [pid for pid, _ in walk.ranked(QUESTION, 4)]
    followed = walk.last_trace.to_dict()["followed"]
    assert [(f["depth"], f["query"]) for f in followed if f["dst"] == answer] == \
        [(2, "Who or what is Janos Gabor?")]


def test_one_hop_walk_does_not_reach_the_second_hop(chain_env):
    _, hybrid = _retrievers(chain_env)
    walk = HopWalkRetriever(hybrid, chain_env.graph, settings=WalkSettings(seeds=3, hops=1, strong_weight=1.0))
    walk.ranked(QUESTION, 4)
    reached = {f["dst"] for f in walk.last_trace.followed}
    assert chain_env.pid("Pal Gabor") in reached
    assert chain_env.pid("Janos Gabor") not in reached


def test_walk_respects_the_time_scope_at_every_hop():
    from tests.reasoning.conftest import build_env

    env = build_env([
        ("Zorbal Nights", "Zorbal Nights is a film directed by Pal Gabor.", "1968"),
        ("Pal Gabor", "Pal Gabor was born in Budapest.", "1990"),
        ("Budapest", "Budapest is a city.", None),
    ])
    _, hybrid = _retrievers(env)
    walk = HopWalkRetriever(hybrid, env.graph, settings=WalkSettings(seeds=1, strong_weight=1.0))
    scope = TimeInterval.from_label("1968")
    ranked = [pid for pid, _ in walk.ranked("Who directed Zorbal Nights?", 3, scope=scope)]
    assert env.pid("Pal Gabor") not in ranked
    assert all(f["dst"] != env.pid("Pal Gabor") for f in walk.last_trace.followed)
    assert set(ranked) == {env.pid("Zorbal Nights"), env.pid("Budapest")}  # undated passages are kept


def test_lead_first_moves_the_seeds_to_the_front_in_seed_order():
    ranked = [("hop", 1.4), ("b", 0.9), ("a", 0.8), ("c", 0.5)]
    assert lead_first(ranked, ["a", "missing", "b"]) == [("a", 0.8), ("b", 0.9), ("hop", 1.4), ("c", 0.5)]
    assert lead_first(ranked, []) == ranked


def test_walk_lead_keeps_the_best_seed_first_and_the_hop_targets_after_it(chain_env):
    _, hybrid = _retrievers(chain_env)
    plain = [pid for pid, _ in HopWalkRetriever(hybrid, chain_env.graph, settings=CHAIN).ranked(QUESTION, 4)]
    led = HopWalkRetriever(hybrid, chain_env.graph, settings=WalkSettings(seeds=3, hops=2, strong_weight=1.0,
                                                                          decay=1.0, lead=1))
    ranked = [pid for pid, _ in led.ranked(QUESTION, 4)]
    seed = led.last_trace.seeds[0]
    assert ranked[0] == seed
    assert ranked[1:] == [pid for pid in plain if pid != seed][:3]
    assert chain_env.pid("Janos Gabor") in ranked


def test_helpfulness_mixes_similarity_bonus_and_visits():
    sims = {"a": 0.5, "b": 0.45, "c": 0.1}
    ranked = helpfulness(sims, {"c": 0.2}, Counter({"b": 2, "c": 1}), visit_weight=0.1)
    assert [pid for pid, _ in ranked] == ["b", "a", "c"]
    assert dict(ranked)["c"] == 0.1 + 0.2 + 0.1 * 1 / 2


def test_llm_chooser_picks_hops_by_number(chain_env):
    llm = ScriptedLLM([("Which of them help", "2")])
    _, hybrid = _retrievers(chain_env)
    walk = HopWalkRetriever(hybrid, chain_env.graph, settings=CHAIN, chooser=LLMHopChooser(llm))
    walk.ranked(QUESTION, 4)
    assert llm.calls, "the chooser was asked"
    assert walk.last_trace.usage.calls == len(llm.calls)
    prompts = [c.messages[-1].content for c in llm.calls]
    assert all("Questions this passage leads to:" in p for p in prompts)


def test_bm25_index_is_rebuilt_when_the_store_changes(chain_env):
    bm25 = BM25Retriever(chain_env.docs)
    assert bm25.ranked("Quokkaville", 3) == []
    doc = Document.make("Quokkaville is a town.", title="Quokkaville")
    chain_env.docs.put([doc], [Passage.make(doc, doc.text, 0)])
    assert [pid for pid, _ in bm25.ranked("Quokkaville", 3)] == [Passage.make(doc, doc.text, 0).passage_id]


def test_reciprocal_rank_fusion_prefers_items_ranked_high_by_both():
    fused = reciprocal_rank_fusion([[("a", 1), ("b", 1), ("c", 1)], [("b", 1), ("c", 1), ("a", 1)]])
    assert [pid for pid, _ in fused][0] == "b"


def test_dense_scope_keeps_undated_and_drops_out_of_scope(dated_env):
    dense = DenseRetriever(dated_env.docs, dated_env.vectors, dated_env.embedder)
    scope = TimeInterval.from_label("2023")
    got = {e.title for e in dense.retrieve("Who led Acme Dyes?", 3, scope=scope)}
    assert got == {"Acme report 2023", "Acme history"}
    strict = dense.retrieve("Who led Acme Dyes?", 3, scope=scope, keep_undated=False)
    assert {e.title for e in strict} == {"Acme report 2023"}
