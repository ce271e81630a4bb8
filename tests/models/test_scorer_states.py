"""TransformersScorer's kept prompt states give the numbers of whole-sequence scoring (tiny offline LM)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reasoning.generator import RAGGenerator
from tgrag.kernel.records import Evidence, EvidenceKind
from tgrag.models.transformers_llm import TransformersLLM
from tgrag.models.transformers_scorer import TransformersScorer

PROMPTS = ["w001 w002 w003 w004", "w010 w011", "w020 w021 w022 w023 w024 w025"]


@pytest.fixture(scope="module")
def tiny(tiny_llm_dir: Path) -> TransformersLLM:
    return TransformersLLM(str(tiny_llm_dir))


def fresh(tiny: TransformersLLM, **kw: int) -> TransformersScorer:
    """A scorer with nothing kept, on the loaded tiny model."""
    return TransformersScorer(tiny._parts, name=tiny.name, **kw)


class WholeSequences:
    """Decodes with one scorer; scores every (prompt, continuation) alone, as a whole sequence."""

    def __init__(self, tiny: TransformersLLM) -> None:
        self.tiny, self.decoder, self.name = tiny, fresh(tiny), "whole"
        self.end_id, self.encode, self.decode = self.decoder.end_id, self.decoder.encode, self.decoder.decode

    def next_token_logprobs(self, prompts, prefixes):  # type: ignore[no-untyped-def]
        return self.decoder.next_token_logprobs(prompts, prefixes)

    def logprobs(self, prompts, conts):  # type: ignore[no-untyped-def]
        return [fresh(self.tiny).logprobs([p], [c])[0] for p, c in zip(prompts, conts, strict=True)]


@pytest.fixture(scope="module")
def conts(tiny: TransformersLLM) -> list[list[int]]:
    s = fresh(tiny)
    return [s.encode("w030"), s.encode("w031 w032 w033"), [], s.encode("w040 w041") + [s.end_id]]


def test_continuations_over_a_kept_state_equal_whole_sequences(tiny: TransformersLLM, conts: list[list[int]]) -> None:
    whole = fresh(tiny)
    expected = [[whole.logprobs([p], [c])[0] for c in conts] for p in PROMPTS]  # one unique prompt per call
    assert not whole._states  # a lone prompt runs whole, nothing is kept
    kept = fresh(tiny)
    for p, exp in zip(PROMPTS, expected):
        got = kept.logprobs([p] * len(conts), conts)  # several continuations of one prompt: over its state
        assert p in kept._states
        assert [len(g) for g in got] == [len(c) for c in conts]
        for g, e in zip(got, exp):
            assert np.allclose(g, e, atol=1e-5)
    mixed = [(p, c) for c in conts for p in PROMPTS]  # interleaved, as thorough decoding asks
    got = kept.logprobs([p for p, _ in mixed], [c for _, c in mixed])
    for (p, c), g in zip(mixed, got):
        assert np.allclose(g, expected[PROMPTS.index(p)][conts.index(c)], atol=1e-5)


def test_decoding_leaves_the_state_unchanged_and_beam_siblings_agree(tiny: TransformersLLM) -> None:
    s = fresh(tiny)
    p = PROMPTS[0]
    a, b, c = s.encode("w050 w051 w052")
    steps = [s.next_token_logprobs([p], [x])[0] for x in ([], [a], [a, b], [a, b, c])]
    sibling = s.next_token_logprobs([p], [[a, c]])[0]  # its parent [a] was extended already: fed from the state
    reference = fresh(tiny)
    for prefix, row in zip(([], [a], [a, b], [a, b, c]), steps):
        whole = np.array([reference.logprobs([p], [list(prefix) + [t]])[0][-1] for t in range(5)])
        assert np.allclose(row[:5], whole, atol=1e-5)
    assert np.allclose(sibling[:5], [reference.logprobs([p], [[a, c, t]])[0][-1] for t in range(5)], atol=1e-5)
    after = s.logprobs([p], [[a, b, c]])[0]  # the kept state was not grown by the decoding above
    assert np.allclose(after, reference.logprobs([p], [[a, b, c]])[0], atol=1e-5)


def test_kept_states_are_bounded(tiny: TransformersLLM) -> None:
    s = fresh(tiny, max_prompts=2)
    for p in PROMPTS:
        s.next_token_logprobs([p], [[]])
    assert list(s._states) == PROMPTS[1:]
    kept = s.next_token_logprobs([PROMPTS[2]], [[]])[0]
    s.clear()
    assert not s._states and not s._kv
    assert np.allclose(s.next_token_logprobs([PROMPTS[2]], [[]])[0], kept, atol=1e-6)
    none_kept = fresh(tiny, max_prompts=0)  # nothing kept: every call computes the states it needs
    assert np.allclose(none_kept.logprobs([PROMPTS[0]] * 2, [[5], [5, 6]])[1],
                       fresh(tiny).logprobs([PROMPTS[0]], [[5, 6]])[0], atol=1e-5)
    assert not none_kept._states


@pytest.mark.parametrize("kind", ["rag_sequence", "rag_token"])
def test_generators_over_kept_states_equal_whole_sequence_scoring(tiny: TransformersLLM, kind: str) -> None:
    """Each passage prompt runs once; scoring every candidate under every passage adds only
    continuation rows, and answers, marginals and posteriors equal whole-sequence scoring."""
    passages = [Evidence(EvidenceKind.PASSAGE, f"p{i}", text, 1.0 - 0.1 * i) for i, text in
                enumerate(["w001 w002", "w003 w004 w005", "w006"])]
    s = fresh(tiny)
    g = RAGGenerator(s, kind=kind).generate("w007 w008", passages)
    assert len(s._states) == 3
    ref = RAGGenerator(WholeSequences(tiny), kind=kind).generate("w007 w008", passages)
    assert g.text == ref.text and g.log_prob == pytest.approx(ref.log_prob, abs=1e-4)
    assert np.allclose(g.posterior, ref.posterior, atol=1e-4)
    assert [c for c, _ in g.candidates] == [c for c, _ in ref.candidates]
    assert np.allclose([m for _, m in g.candidates], [m for _, m in ref.candidates], atol=1e-4)
