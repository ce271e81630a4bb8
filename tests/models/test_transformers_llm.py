"""TransformersLLM against a tiny randomly initialised Llama saved to a temp folder (offline)."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import AutoTokenizer

from tgrag.kernel.errors import ModelError
from tgrag.kernel.protocols import LLM
from tgrag.kernel.records import LLMRequest, Message
from tgrag.models.transformers_llm import (
    TransformersLLM,
    plain_prompt,
    resolve_model_source,
    truncate_at_stop,
)

PROMPT = "w001 w002 w003"


@pytest.fixture(scope="module")
def llm(tiny_llm_dir: Path) -> TransformersLLM:
    return TransformersLLM(str(tiny_llm_dir))


def test_construction_is_lazy_and_bad_path_fails_on_first_call(tmp_path: Path) -> None:
    missing = TransformersLLM(str(tmp_path / "no_such_model"))
    assert isinstance(missing, LLM)
    assert not missing.loaded
    with pytest.raises(ModelError, match="no_such_model"):
        missing.complete(LLMRequest.chat(PROMPT))


def test_greedy_is_deterministic_and_counts_real_tokens(llm: TransformersLLM, tiny_llm_dir: Path) -> None:
    request = LLMRequest.chat(PROMPT, system="w005", max_tokens=12)
    first = llm.complete(request)
    second = llm.complete(request)
    assert llm.loaded
    assert first.text == second.text and first.text
    tok = AutoTokenizer.from_pretrained(tiny_llm_dir, local_files_only=True)
    templated = tok.apply_chat_template([{"role": "system", "content": "w005"},
                                         {"role": "user", "content": PROMPT}],
                                        tokenize=False, add_generation_prompt=True)
    assert first.prompt_tokens == len(tok(templated, add_special_tokens=False)["input_ids"])
    assert 1 <= first.completion_tokens <= 12
    assert first.seconds > 0 and not first.cached
    assert first.model == llm.name == f"transformers:{tiny_llm_dir}"
    assert all(w.startswith("w") and len(w) == 4 for w in first.text.split())


def test_max_new_tokens_cap_bounds_generation(tiny_llm_dir: Path) -> None:
    capped = TransformersLLM(str(tiny_llm_dir), max_new_tokens_cap=3)
    response = capped.complete(LLMRequest.chat(PROMPT, max_tokens=50))
    assert 1 <= response.completion_tokens <= 3


def test_sampling_is_reproducible_per_seed_and_varies_across_seeds(llm: TransformersLLM) -> None:
    texts = [llm.complete(LLMRequest.chat(PROMPT, max_tokens=10, temperature=1.0, seed=s)).text
             for s in range(5)]
    again = llm.complete(LLMRequest.chat(PROMPT, max_tokens=10, temperature=1.0, seed=2)).text
    assert again == texts[2]
    assert len(set(texts)) >= 2


def test_stop_string_ends_generation_and_is_cut(llm: TransformersLLM) -> None:
    base = LLMRequest.chat(PROMPT, max_tokens=20, temperature=1.0, seed=0)
    full = llm.complete(base)
    words = full.text.split()
    # a word first seen at position >= 2 that is not among the last two words
    candidates = [w for i, w in enumerate(words[:-2]) if i >= 2 and w not in words[:i]]
    assert candidates, f"sampled text too repetitive for the test: {full.text!r}"
    stop = candidates[0]
    stopped = llm.complete(LLMRequest(base.messages, max_tokens=20, temperature=1.0, seed=0,
                                      stop=("zzz-never", stop)))
    assert stopped.text == full.text[:full.text.index(stop)]
    assert stopped.completion_tokens < full.completion_tokens


def test_tokenizer_without_chat_template_uses_plain_prompt(tiny_llm_plain_dir: Path) -> None:
    plain = TransformersLLM(str(tiny_llm_plain_dir))
    messages = (Message("system", "w007"), Message("user", PROMPT))
    response = plain.complete(LLMRequest(messages, max_tokens=4))
    tok = AutoTokenizer.from_pretrained(tiny_llm_plain_dir, local_files_only=True)
    assert response.prompt_tokens == len(tok(plain_prompt(messages))["input_ids"])
    assert plain_prompt(messages) == "System: w007\n\nUser: w001 w002 w003\n\nAssistant:"


def test_truncate_at_stop_picks_earliest_match() -> None:
    assert truncate_at_stop("a, b. c", [".", ","]) == ("a", True)
    assert truncate_at_stop("abc", ["x", ""]) == ("abc", False)


def test_resolve_model_source(tmp_path: Path) -> None:
    gguf = tmp_path / "m.Q4.gguf"
    gguf.write_bytes(b"GGUF")
    assert resolve_model_source(str(gguf), None) == (str(tmp_path), "m.Q4.gguf", True)
    assert resolve_model_source(str(tmp_path), "m.Q4.gguf") == (str(tmp_path), "m.Q4.gguf", True)
    assert resolve_model_source("Qwen/Qwen2.5-0.5B-Instruct", None) == (
        "Qwen/Qwen2.5-0.5B-Instruct", None, False)
    with pytest.raises(ModelError, match="not found"):
        resolve_model_source(str(tmp_path), "other.gguf")
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(ModelError, match="is a file"):
        resolve_model_source(str(tmp_path / "weights.bin"), None)
    with pytest.raises(ModelError, match="does not exist"):
        resolve_model_source("./definitely/missing", None)


def test_invalid_dtype_is_rejected() -> None:
    with pytest.raises(ModelError, match="torch_dtype"):
        TransformersLLM("x", torch_dtype="float64")
