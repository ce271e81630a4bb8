"""Hydra selects the embedded readers: llm=qwen follows DEFAULT_READER, qwen05 / qwen15 pin one."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from omegaconf import DictConfig

from experiments.build import build_checked, build_llm
from tgrag.kernel.protocols import LLM, TokenCounter
from tgrag.models.assets import DEFAULT_READER, EMBEDDED_READERS, QWEN_05B, QWEN_15B
from tgrag.models.llamacpp_llm import LlamaCppLLM


@pytest.mark.parametrize(("option", "expected"), [("qwen", EMBEDDED_READERS[DEFAULT_READER]),
                                                  ("qwen05", QWEN_05B), ("qwen15", QWEN_15B)])
def test_llm_option_picks_the_reader(make_cfg: Callable[[Sequence[str]], DictConfig], option: str,
                                     expected: object) -> None:
    cfg = make_cfg([f"llm={option}"])
    inner = build_checked(cfg.llm, LLM, "llm")
    assert isinstance(inner, LlamaCppLLM) and inner.embedded is expected and not inner.loaded
    assert inner.n_ctx == 4096 and inner.n_threads == 2
    wrapped = build_llm(cfg)  # cache + meter: still counts with the reader's tokenizer
    assert wrapped.name == expected.name and isinstance(wrapped, TokenCounter)  # type: ignore[attr-defined]


def test_reader_override_on_the_command_line(make_cfg: Callable[[Sequence[str]], DictConfig]) -> None:
    inner = build_checked(make_cfg(["llm=qwen", "llm.model=1.5b"]).llm, LLM, "llm")
    assert isinstance(inner, LlamaCppLLM) and inner.embedded is QWEN_15B
