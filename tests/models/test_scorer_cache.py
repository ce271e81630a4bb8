"""The sequence-score cache: hits skip the model, replay raises on a miss, scorer_of unwraps."""

from __future__ import annotations

import math

import pytest

from tgrag.kernel.errors import ModelError
from tgrag.models.cache import CachedLLM
from tgrag.models.scorer_cache import CachedScorer, scorer_of
from tgrag.testing import ScriptedLLM, TableLM

TABLES = [("alpha", {"": {"a": 0.5, "b": 0.5}}), ("beta", {"": {"a": 1.0}})]


def test_cached_pairs_are_not_asked_again(tmp_path):
    lm = TableLM(TABLES)
    cached = CachedScorer(lm, tmp_path / "c.sqlite")
    a, b = lm.encode("a"), lm.encode("b")
    first = cached.logprobs(["alpha", "beta"], [a, b])
    assert first == [[pytest.approx(math.log(0.5))], [-math.inf]]
    again = cached.logprobs(["beta", "alpha", "alpha"], [a, a, a])  # one new pair, asked once
    assert again == [[0.0], [pytest.approx(math.log(0.5))], [pytest.approx(math.log(0.5))]]
    assert lm.calls == [("logprobs", 2), ("logprobs", 1)]
    reopened = CachedScorer(TableLM(TABLES), tmp_path / "c.sqlite", mode="replay")
    assert reopened.logprobs(["alpha", "beta"], [a, b]) == first  # -inf survives the round trip
    with pytest.raises(ModelError, match="replay"):
        reopened.logprobs(["alpha"], [b + b])


def test_scorer_of_unwraps_and_caches_below_a_cached_llm(tmp_path):
    lm = TableLM(TABLES)
    assert scorer_of(lm) is lm
    assert scorer_of(ScriptedLLM()) is None

    class Wrapper:
        def __init__(self, inner):
            self.inner = inner

    found = scorer_of(Wrapper(CachedLLM(lm, tmp_path / "llm.sqlite")))
    assert isinstance(found, CachedScorer) and found.inner is lm and found.path == tmp_path / "llm.sqlite"
    assert scorer_of(Wrapper(CachedLLM(lm, tmp_path / "x.sqlite", mode="off"))) is lm
