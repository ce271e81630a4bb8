"""Passage graph: pseudo-queries, hybrid matching, incremental add and remove of hops."""

from __future__ import annotations

import json

from graph_index.passage_graph import (
    MENTION,
    SUBJECT,
    EntityPseudoQueryGenerator,
    LLMPseudoQueryGenerator,
    PassageGraphBuilder,
    find_known_names,
    mention_spans,
    normalise_key,
)
from tests.reasoning.conftest import build_env, make_passages
from tgrag.kernel.records import Passage
from tgrag.stores.networkx_store import NetworkXGraphStore
from tgrag.testing import HashingEmbedder, ScriptedLLM


def test_llm_free_pseudo_queries_from_subject_and_mentions():
    _, (p,) = make_passages([("Zorbal Nights (film)", "Zorbal Nights is a film directed by Pal Gabor.", None)])
    (pq,) = EntityPseudoQueryGenerator().generate([p])
    incoming = {(q.key, q.kind) for q in pq.incoming}
    assert ("zorbal nights film", SUBJECT) in incoming and ("zorbal nights", SUBJECT) in incoming
    assert [q.text for q in pq.outgoing] == ["Who or what is Pal Gabor?"]
    assert ("pal gabor", MENTION) in incoming


def test_mentions_and_known_names():
    assert mention_spans('The Big Film was shot in "Quiet Harbour" by Ann Lee.') == \
        ["Big Film", "Quiet Harbour", "Ann Lee"]
    assert find_known_names("He met Ann Lee's brother.", {"ann lee": 1, "lee brother": 1}) == {"ann lee"}
    assert normalise_key("Pál Gábor's") == "pál gábor s"


def test_hop_from_mention_to_the_passage_about_it(chain_env):
    hops = chain_env.graph.hops(src=[chain_env.pid("Zorbal Nights")])
    assert [(h.dst, h.query, h.score) for h in hops] == [(chain_env.pid("Pal Gabor"), "Who or what is Pal Gabor?", 1.0)]


def test_incremental_add_links_both_directions_and_remove_drops_hops():
    env = build_env([("Zorbal Nights", "Zorbal Nights is a film directed by Pal Gabor.", None)])
    assert env.graph.hops() == []
    docs, (pal,) = make_passages([("Pal Gabor", "Pal Gabor directed Zorbal Nights in Budapest.", None)])
    env.docs.put(docs, [pal])
    assert env.builder.add([pal]) == 2
    pairs = {(h.src, h.dst) for h in env.graph.hops()}
    film = env.pid("Zorbal Nights")
    assert pairs == {(film, pal.passage_id), (pal.passage_id, film)}
    assert env.builder.remove([pal.passage_id]) == 2
    assert env.graph.hops() == []


def test_builder_state_is_rebuilt_from_the_stores(chain_env):
    """A fresh builder (e.g. after reopening an index) links a new passage to existing ones."""
    builder = PassageGraphBuilder(chain_env.graph, chain_env.docs, chain_env.embedder)
    docs, (new,) = make_passages([("Acme Dyes", "Acme Dyes is a dye maker in Budapest.", None)])
    chain_env.docs.put(docs, [new])
    builder.add([new])
    srcs = {h.src for h in chain_env.graph.hops(dst=[new.passage_id])}
    assert srcs == {chain_env.pid("Janos Gabor")}


def test_fuzzy_match_above_threshold_only():
    env = build_env([("Pal Gabor", "Pal Gabor was a director.", None),
                     ("Zorbal Nights", "Zorbal Nights was made by director Pal Gabors.", None)])
    film, pal = env.pid("Zorbal Nights"), env.pid("Pal Gabor")
    assert env.graph.hops(src=[film]) == []  # default threshold: "Pal Gabors" is too far from "Pal Gabor"
    loose = PassageGraphBuilder(NetworkXGraphStore(), env.docs, HashingEmbedder(256), threshold=0.1)
    loose.add(env.passages)
    (hop,) = loose.graph.hops(src=[film])
    assert hop.dst == pal and 0.1 <= hop.score < 0.8 and hop.query == "Who or what is Pal Gabors?"


def test_llm_generator_validates_json_and_falls_back():
    replies = iter([json.dumps({"answers": ["Who directed Zorbal Nights?"], "raises": ["Who is Pal Gabor?"]}),
                    "nonsense", "still nonsense"])
    gen = LLMPseudoQueryGenerator(ScriptedLLM([lambda r: next(replies)]), retries=1)
    a = Passage("psg:a", "doc:a", "Zorbal Nights is a film directed by Pal Gabor.", 0, None, "Zorbal Nights")
    b = Passage("psg:b", "doc:b", "Pal Gabor was born in Budapest.", 0, None, "Pal Gabor")
    qa, qb = gen.generate([a, b])
    assert [q.key for q in qa.outgoing] == ["pal gabor"]
    assert "zorbal nights" in {q.key for q in qa.incoming}
    assert [e.passage_id for e in gen.failures] == ["psg:b"]
    assert [q.key for q in qb.outgoing] == ["budapest"]


def test_graph_entities_and_facts_feed_the_pseudo_queries():
    from tgrag.kernel.records import Entity, Fact

    _, (p,) = make_passages([("Tom Baring", "Tom Baring was a banker; his father was henry baring.", None)])
    g = NetworkXGraphStore()
    henry = Entity.make("Henry Baring", "henry baring", type="PERSON", mentions=(p.passage_id,))
    francis = Entity.make("Francis Baring", "francis baring", type="PERSON")
    fact = Fact.make(henry.entity_id, "father", francis.entity_id, object_is_entity=True, valid=None,
                     observed_at=None, source_passage_id=p.passage_id, doc_id=p.doc_id)
    g.upsert([henry, francis, fact])
    (pq,) = EntityPseudoQueryGenerator(g).generate([p])
    assert ("henry baring", SUBJECT) in {(q.key, q.kind) for q in pq.incoming}
    assert "What is the father of Henry Baring?" in {q.text for q in pq.incoming}
    assert "henry baring" in {q.key for q in pq.outgoing}
