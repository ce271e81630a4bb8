"""The real embedded 1.5B reader through llama.cpp: verified file, own tokenizer, one tiny answer."""

from __future__ import annotations

import pytest

from tgrag.kernel.records import LLMRequest
from tgrag.models.assets import QWEN_15B, gguf_path
from tgrag.models.llamacpp_llm import LlamaCppLLM
from tgrag.models.tokens import estimate_tokens, token_counter

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reader() -> LlamaCppLLM:
    return LlamaCppLLM(model="1.5b", n_ctx=512)


def test_counts_with_its_own_tokenizer(reader: LlamaCppLLM) -> None:
    assert gguf_path(QWEN_15B).stat().st_size == QWEN_15B.size
    assert reader.count_tokens("") == 0
    assert reader.count_tokens("Hello") == 1  # one token in Qwen's BPE vocabulary
    number = "1234567890 " * 5
    # Qwen splits digits one by one: the word rule (13 for 10 words) is far off here
    assert reader.count_tokens(number) >= 50 > estimate_tokens(number)
    assert token_counter(reader)(number) == reader.count_tokens(number) == len(
        reader._load().tokenize(number.encode(), add_bos=False, special=False))


def test_answers_a_tiny_prompt(reader: LlamaCppLLM) -> None:
    req = LLMRequest.chat("Evidence:\n[1] Mara Ellison became chief executive of Veltrane Robotics in 2019.\n\n"
                          "Question: Who became chief executive of Veltrane Robotics in 2019?",
                          system="Answer with the name only.", max_tokens=8, temperature=0.0)
    resp = reader.complete(req)
    assert "Mara Ellison" in resp.text
    assert resp.model == QWEN_15B.name and resp.prompt_tokens > 20 and 0 < resp.completion_tokens <= 8
