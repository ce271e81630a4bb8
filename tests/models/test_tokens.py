"""TokenCounter: backends with a local tokenizer count with it, wrappers delegate, the rest estimate."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import AutoTokenizer

from experiments.metering import MeteredLLM as ExperimentMeteredLLM
from tgrag.kernel.errors import ConfigError
from tgrag.kernel.protocols import LLM, TokenCounter
from tgrag.models.accounting import MeteredLLM, UsageMeter
from tgrag.models.assets import DEFAULT_READER, QWEN_05B, QWEN_15B
from tgrag.models.cache import CachedLLM
from tgrag.models.llamacpp_llm import LlamaCppLLM
from tgrag.models.openai_llm import OpenAICompatibleLLM
from tgrag.models.tokens import estimate_tokens, token_counter
from tgrag.models.transformers_llm import TransformersLLM
from tgrag.testing import ScriptedLLM

TEXT = "w001 w002  w003\nw004 w005 w006 w007 w008 w009 w010"  # 10 words


def test_word_estimate_is_the_old_budget_rule() -> None:
    assert estimate_tokens(TEXT) == 13  # int(10 * 1.3)
    assert estimate_tokens("") == 0


def test_scripted_llm_counts_words() -> None:
    llm = ScriptedLLM(default="x")
    assert isinstance(llm, TokenCounter)
    assert token_counter(llm)(TEXT) == 10


def test_openai_compatible_has_no_tokenizer_and_falls_back() -> None:
    llm = OpenAICompatibleLLM("http://127.0.0.1:9/v1", "m", api_key_env="TGRAG_TEST_NO_SUCH_KEY")
    assert isinstance(llm, LLM) and not isinstance(llm, TokenCounter)
    assert token_counter(llm)(TEXT) == 13


def test_wrappers_count_as_the_model_they_wrap(tmp_path: Path) -> None:
    scripted = ScriptedLLM(default="x")
    remote = OpenAICompatibleLLM("http://127.0.0.1:9/v1", "m", api_key_env="TGRAG_TEST_NO_SUCH_KEY")
    for inner, expected in ((scripted, 10), (remote, 13)):
        cached = CachedLLM(inner, tmp_path / f"{expected}.sqlite")
        wrapped = [cached, MeteredLLM(cached, UsageMeter()), ExperimentMeteredLLM(cached),
                   MeteredLLM(ExperimentMeteredLLM(inner), UsageMeter(), stage="read"),
                   CachedLLM(inner, tmp_path / "off", mode="off")]
        for llm in wrapped:
            assert isinstance(llm, TokenCounter), type(llm).__name__
            assert llm.count_tokens(TEXT) == expected, type(llm).__name__
            assert token_counter(llm)(TEXT) == expected, type(llm).__name__
        cached.close()
    assert scripted.calls == [], "counting must not call the model"


def test_transformers_counts_with_its_tokenizer_without_loading_weights(tiny_llm_dir: Path) -> None:
    llm = TransformersLLM(str(tiny_llm_dir))
    assert isinstance(llm, TokenCounter)
    # the tiny tokenizer is word-level over w000..w059: 10 known words; an unknown word is one <unk>
    assert llm.count_tokens(TEXT) == 10
    assert llm.count_tokens("w001 zzz") == 2
    assert not llm.loaded, "counting tokens loaded the weights"
    tok = AutoTokenizer.from_pretrained(tiny_llm_dir, local_files_only=True)
    assert llm.count_tokens(TEXT) == len(tok(TEXT, add_special_tokens=False)["input_ids"])


def test_llamacpp_selects_embedded_readers_by_name() -> None:
    assert LlamaCppLLM().name == LlamaCppLLM(model=DEFAULT_READER).name
    assert LlamaCppLLM(model="1.5b").name == QWEN_15B.name == "qwen2.5-coder-1.5b-instruct-q4_k_m"
    assert LlamaCppLLM(model="qwen2.5-coder-0.5b").embedded is QWEN_05B
    # the 0.5B keeps the name earlier LLM caches were keyed on
    assert QWEN_05B.name == "qwen2.5-coder-0.5b-instruct-q4_k_m"
    by_path = LlamaCppLLM("/models/other.gguf")
    assert by_path.name == "other.gguf" and by_path.embedded is None
    assert isinstance(by_path, TokenCounter) and not by_path.loaded
    with pytest.raises(ConfigError, match="not both"):
        LlamaCppLLM("/models/other.gguf", model="1.5b")
    with pytest.raises(ConfigError, match="unknown embedded reader"):
        LlamaCppLLM(model="3b")
