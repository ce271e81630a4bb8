"""RAG-Sequence / RAG-Token marginalisation against hand-computed values (TableLM fake)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from reasoning.generator import (
    RAGGenerator,
    RAGSettings,
    beam_search,
    build_reader,
    cite_by_posterior,
    passage_posterior,
    passage_prior,
)
from reasoning.reader import Reader
from tgrag.kernel.errors import ConfigError
from tgrag.kernel.records import Evidence, EvidenceKind
from tgrag.testing import ScriptedLLM, TableLM

# Passage A (prior 0.4) and B (prior 0.6). A says "x y"; B prefers "w v" but, after "x", says "z".
# RAG-Token mixes the passages at every step: x (0.54) then z (0.6) -> "x z", p = 0.324.
# RAG-Sequence keeps one passage per answer: "x y" 0.4*0.9 = 0.36 beats "w v" 0.6*0.4 = 0.24.
CRAFTED = [
    ("alpha", {(): {"x": 0.9, "u": 0.1}, ("x",): {"y": 1.0}}),
    ("beta", {(): {"x": 0.3, "w": 0.4, "u": 0.3}, ("x",): {"z": 1.0}, ("w",): {"v": 1.0}}),
]


def ev(ref: str, text: str, score: float) -> Evidence:
    return Evidence(EvidenceKind.PASSAGE, ref, text, score)


def crafted_evidence() -> list[Evidence]:
    return [ev("pa", "alpha passage", math.log(0.4)), ev("pb", "beta passage", math.log(0.6))]


def test_prior_is_a_softmax_that_sums_to_one():
    rng = np.random.default_rng(0)
    for tau in (0.1, 1.0, 3.0):
        scores = rng.normal(size=7) * 5
        p = passage_prior(scores, tau)
        assert p.sum() == pytest.approx(1.0)
        assert np.all(p > 0)
    assert passage_prior([2.0, 0.0], 2.0) == pytest.approx([math.e / (math.e + 1), 1 / (math.e + 1)])
    assert passage_prior([1000.0, 999.0], 1.0).sum() == pytest.approx(1.0)  # stable
    with pytest.raises(ConfigError):
        passage_prior([1.0], 0.0)


def test_rag_sequence_thorough_decoding_matches_hand_computation():
    lm = TableLM(CRAFTED)
    g = RAGGenerator(lm, kind="rag_sequence").generate("q", crafted_evidence())
    assert g.prior == pytest.approx((0.4, 0.6))
    assert g.text == "x y"
    assert g.log_prob == pytest.approx(math.log(0.36))
    assert dict(g.candidates) == pytest.approx({"x y": math.log(0.36), "w v": math.log(0.24)})
    assert g.posterior == pytest.approx((1.0, 0.0))
    assert g.cited == (0,)


def test_rag_token_marginalises_every_step():
    lm = TableLM(CRAFTED)
    g = RAGGenerator(lm, kind="rag_token").generate("q", crafted_evidence())
    assert g.text == "x z"  # the two variants rightly disagree on this case
    assert g.log_prob == pytest.approx(math.log(0.54 * 0.6))
    assert g.posterior == pytest.approx((0.0, 1.0))  # only B gives "x z" any mass
    assert g.cited == (1,)


def test_mixed_marginal_and_posterior_by_hand():
    tables = [("alpha", {(): {"a": 0.5, "b": 0.5}}), ("beta", {(): {"a": 0.2, "b": 0.8}})]
    evidence = [ev("p1", "alpha", 2.0), ev("p2", "beta", 0.0)]
    settings = RAGSettings(tau=2.0, beam=2, cite_mass=0.9)
    prior = [math.e / (math.e + 1), 1 / (math.e + 1)]
    g = RAGGenerator(TableLM(tables), kind="rag_sequence", settings=settings).generate("q", evidence)
    pa = prior[0] * 0.5 + prior[1] * 0.2
    pb = prior[0] * 0.5 + prior[1] * 0.8
    assert dict(g.candidates) == pytest.approx({"a": math.log(pa), "b": math.log(pb)})
    assert g.text == ("b" if pb > pa else "a")
    assert g.posterior == pytest.approx((prior[0] * 0.5 / pb, prior[1] * 0.8 / pb))
    assert sum(g.posterior) == pytest.approx(1.0)
    assert g.cited == (0, 1)  # 0.63 < 0.9: both are needed
    t = RAGGenerator(TableLM(tables), kind="rag_token", settings=settings).generate("q", evidence)
    assert dict(t.candidates) == pytest.approx({"a": math.log(pa), "b": math.log(pb)})  # one step: same marginal


def test_batched_decoding_equals_one_passage_at_a_time():
    evidence = [*crafted_evidence(), ev("pc", "alpha again", 0.3)]
    for kind in ("rag_sequence", "rag_token"):
        one_lm, many_lm = TableLM(CRAFTED), TableLM(CRAFTED)
        one = RAGGenerator(one_lm, kind=kind, settings=RAGSettings(batch_size=1, beam=2)).generate("q", evidence)
        many = RAGGenerator(many_lm, kind=kind, settings=RAGSettings(batch_size=64, beam=2)).generate("q", evidence)
        assert (one.text, one.candidates, one.posterior, one.rows) == (many.text, many.candidates, many.posterior,
                                                                       many.rows)
        assert max(n for _, n in one_lm.calls) == 1
        assert max(n for _, n in many_lm.calls) > 1
        assert many.scorer_calls < one.scorer_calls


def test_beam_search_keeps_the_best_finished_hypotheses():
    table = {(): {0: 0.6, 1: 0.4}, (0,): {2: 0.5, 1: 0.5}, (1,): {2: 1.0}}  # token 2 ends

    def step(queries):
        rows = []
        for _, prefix in queries:
            dist = table.get(prefix, {2: 1.0})
            with np.errstate(divide="ignore"):
                rows.append(np.log([dist.get(t, 0.0) for t in range(3)]))
        return np.array(rows)

    greedy = beam_search(step, 1, end_id=2, beam=1, max_len=5)[0]
    assert greedy == [((0, 1, 2), pytest.approx(math.log(0.6 * 0.5)))]  # a tie goes to the lower id
    wide = beam_search(step, 1, end_id=2, beam=2, max_len=5)[0]  # the beam finds the better answer
    assert [h for h, _ in wide] == [(1, 2), (0, 1, 2)]
    assert [lp for _, lp in wide] == pytest.approx([math.log(0.4), math.log(0.3)])


def test_posterior_citations():
    post = passage_posterior(np.array([0.5, 0.25, 0.25]), np.array([math.log(0.2), math.log(0.8), -np.inf]))
    assert post == pytest.approx([0.1 / 0.3, 0.2 / 0.3, 0.0])
    assert cite_by_posterior(post, 0.5) == (1,)
    assert cite_by_posterior(post, 0.9) == (1, 0)


def test_read_interface_and_abstention():
    lm = TableLM([*CRAFTED, ("gamma", {(): {"unknown": 1.0}})])
    read = RAGGenerator(lm, kind="rag_sequence").read("q", crafted_evidence())
    assert (read.text, read.abstained, read.cited) == ("x y", False, (1,))
    assert read.usage.calls > 0
    abstain = RAGGenerator(lm, kind="rag_token").read("q", [ev("pg", "gamma", 0.0)])
    assert abstain.abstained and abstain.text == ""
    assert RAGGenerator(lm).read("q", []).abstained


def test_build_reader_selection():
    llm = ScriptedLLM(default="Answer: x\nCitations: [1]")
    kw = {"rag": RAGSettings(), "max_evidence_tokens": 100, "max_answer_tokens": 8, "count_tokens": len}
    assert isinstance(build_reader("concat", llm, None, **kw), Reader)
    gen = build_reader("rag_token", llm, TableLM(CRAFTED), **kw)
    assert isinstance(gen, RAGGenerator) and gen.kind == "rag_token"
    with pytest.raises(ConfigError, match="SequenceScorer"):
        build_reader("rag_sequence", llm, None, **kw)
    with pytest.raises(ConfigError):
        build_reader("nope", llm, None, **kw)
