"""End to end with the real embedded models (MiniLM embedder, Qwen2.5-0.5B reader) on a tiny corpus."""

from __future__ import annotations

import pytest

from reasoning.loop import ReasoningSettings, TemporalReasoner
from reasoning.reader import Reader
from tests.reasoning.conftest import build_env

CORPUS = [
    ("Acme report 2020", "In 2020 Acme Dyes was led by Maria Lind as chief executive.", "2020"),
    ("Acme report 2023", "In 2023 Acme Dyes was led by Oskar Berg as chief executive.", "2023"),
    ("Zorbal Nights", "Zorbal Nights is a 1968 Hungarian drama film directed by Pal Gabor.", None),
    ("Pal Gabor", "Pal Gabor was a Hungarian film director born in Budapest to Janos Gabor.", None),
    ("Budapest", "Budapest is the capital of Hungary.", None),
]


@pytest.fixture(scope="module")
def models():
    from tgrag.models.embedders import SentenceTransformerEmbedder
    from tgrag.models.llamacpp_llm import LlamaCppLLM

    return SentenceTransformerEmbedder(), LlamaCppLLM(model="0.5b")  # the small reader keeps CI fast


@pytest.mark.slow
def test_scoped_question_end_to_end_with_real_models(models):
    embedder, llm = models
    env = build_env(CORPUS, embedder=embedder)
    reasoner = TemporalReasoner.from_parts(env.docs, env.vectors, env.graph, embedder, llm, reader=Reader(llm),
                                settings=ReasoningSettings(k=3))
    film_hops = env.graph.hops(src=[env.pid("Zorbal Nights")])
    assert env.pid("Pal Gabor") in {h.dst for h in film_hops}
    walked = reasoner.retrieve_only("Who is the father of the director of Zorbal Nights?", 2)
    assert {e.ref_id for e in walked} == {env.pid("Zorbal Nights"), env.pid("Pal Gabor")}

    ans = reasoner.answer("Who led Acme Dyes in 2023?")
    assert ans.time_scope is not None and ans.time_scope.label() == "2023"
    assert "Acme report 2020" not in {e.title for e in ans.evidence}
    assert not ans.abstained and "Oskar Berg" in ans.text
    # a single-relation question: the LLM-free check skips the decomposition call, one reading call
    assert ans.usage.calls == 1
    assert [t.stage for t in ans.trace][:2] == ["scope", "decompose"] and ans.trace[1].data["skipped"] is True
