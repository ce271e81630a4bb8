"""The transformers SequenceScorer on the real embedded Qwen 0.5B (slow: loads the model once)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from reasoning.generator import RAGGenerator
from reasoning.rerank import UPRReranker
from tgrag.kernel.protocols import LLM, SequenceScorer
from tgrag.kernel.records import Evidence, EvidenceKind
from tgrag.models.assets import cache_dir
from tgrag.models.transformers_llm import TransformersLLM

pytestmark = pytest.mark.slow
PASSAGES = [Evidence(EvidenceKind.PASSAGE, "p1", "Zorbal Nights is a 1968 drama film directed by Pal Gabor.", 0.6),
            Evidence(EvidenceKind.PASSAGE, "p2", "Acme Dyes makes dyes in Budapest.", 0.5)]
Q = "Who directed Zorbal Nights?"


@pytest.fixture(scope="module")
def qwen() -> TransformersLLM:
    llm = TransformersLLM("0.5b", converted_dir=str(cache_dir() / "hf_weights"))
    llm.load()
    return llm


def test_scores_batched_equal_one_at_a_time_and_stepwise(qwen):
    assert isinstance(qwen, SequenceScorer) and isinstance(qwen, LLM)
    conts = [qwen.encode("Pal Gabor") + [qwen.end_id], qwen.encode("Budapest")]
    prompts = ["Who directed Zorbal Nights? Evidence: directed by Pal Gabor.", "Where is Acme Dyes?"]
    batched = qwen.logprobs(prompts, conts)
    single = [qwen.logprobs([p], [c])[0] for p, c in zip(prompts, conts)]
    for b, s in zip(batched, single):
        assert np.allclose(b, s, atol=1e-3)
    for p, c, b in zip(prompts, conts, batched):  # the KV-cached next-token path gives the same numbers
        step = [float(qwen.next_token_logprobs([p], [c[:t]])[0, c[t]]) for t in range(len(c))]
        assert np.allclose(step, b, atol=1e-3)
    assert all(v <= 0 for row in batched for v in row)


def test_rag_generators_and_upr_read_the_right_passage(qwen):
    for kind in ("rag_sequence", "rag_token"):
        g = RAGGenerator(qwen, kind=kind).generate(Q, PASSAGES)
        assert "pal gabor" in g.text.lower(), (kind, g.candidates)
        assert g.cited[0] == 0 and sum(g.posterior) == pytest.approx(1.0)
        assert math.isfinite(g.log_prob)
    scores = UPRReranker(qwen).scores(Q, PASSAGES)
    assert scores[0] > scores[1]
