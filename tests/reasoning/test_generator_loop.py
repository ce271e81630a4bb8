"""The RAG generators and UPR through the one query-side assembler and the reasoning loop."""

from __future__ import annotations

import pytest

from reasoning.assembly import build_query_side
from reasoning.generator import RAGGenerator, RAGSettings
from reasoning.loop import ReasoningSettings, TemporalReasoner
from reasoning.reader import Reader
from reasoning.rerank import RerankedRetriever
from tgrag.kernel.errors import ConfigError
from tgrag.testing import ScriptedLLM, TableLM

DIRECTOR = ("directed by Pal Gabor", {(): {"Pal": 1.0}, ("Pal",): {"Gabor": 1.0}})
OTHERS = ("", {(): {"unknown": 0.6, "Pal": 0.4}, ("Pal",): {"Gabor": 1.0}})  # "" matches every prompt


def side(env, **settings):
    return build_query_side(env.docs, env.vectors, env.graph, env.embedder, ScriptedLLM(default="Answer: x"),
                            settings=ReasoningSettings(**settings), scorer=TableLM([DIRECTOR, OTHERS]))


def test_settings_choose_the_generator(chain_env):
    assert isinstance(side(chain_env).reader, Reader)
    gen = side(chain_env, generator="rag_token", rag=RAGSettings(beam=2)).reader
    assert isinstance(gen, RAGGenerator) and (gen.kind, gen.settings.beam) == ("rag_token", 2)
    with pytest.raises(ConfigError, match="generator"):
        ReasoningSettings(generator="fid")
    with pytest.raises(ConfigError, match="SequenceScorer"):
        build_query_side(chain_env.docs, chain_env.vectors, chain_env.graph, chain_env.embedder,
                         ScriptedLLM(default="x"), settings=ReasoningSettings(generator="rag_sequence"))


def test_upr_wraps_every_retriever(chain_env):
    s = side(chain_env, rerank="upr", rerank_depth=7)
    retr = s.retriever("dense")
    assert isinstance(retr, RerankedRetriever) and retr.depth == 7 and retr.inner is s.dense
    assert retr.upr_weight == 1.0  # UPR alone, as published, unless the settings say otherwise
    assert side(chain_env, rerank="upr", rerank_upr_weight=0.3).retriever("walk").upr_weight == 0.3
    with pytest.raises(ConfigError, match="rerank_upr_weight"):
        ReasoningSettings(rerank="upr", rerank_upr_weight=2.0)
    assert not isinstance(side(chain_env).retriever("dense"), RerankedRetriever)
    with pytest.raises(ConfigError, match="upr"):
        build_query_side(chain_env.docs, chain_env.vectors, chain_env.graph, chain_env.embedder,
                         ScriptedLLM(default="x"), settings=ReasoningSettings(rerank="upr"))


@pytest.mark.parametrize("kind", ["rag_sequence", "rag_token"])
def test_loop_reads_through_the_generator_and_cites_by_posterior(chain_env, kind):
    s = side(chain_env, generator=kind, retriever="hybrid", k=3, use_decomposition=False, use_kg_facts=False,
             use_summaries=False, use_kg_answer=False, use_anchors=False)
    ans = TemporalReasoner(s).answer("Who directed Zorbal Nights?")
    assert (ans.text, ans.abstained) == ("Pal Gabor", False)
    assert ans.citations[0].ref_id == chain_env.pid("Zorbal Nights")
    answer_step = [t for t in ans.trace if t.stage == "answer"][0]
    assert answer_step.data["raw"].startswith(kind)
