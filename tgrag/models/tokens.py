"""Token counts for budgets: the model's own tokenizer where it has one, else a word estimate.

``token_counter(llm)`` gives a ``text -> int`` function: ``llm.count_tokens`` when the LLM is a
``TokenCounter`` (llama.cpp, transformers, the scripted fake, and any wrapper around them), else
``estimate_tokens``, the word rule the budgets used before (1 word ≈ 1.3 tokens). Wrappers
(``CachedLLM``, ``MeteredLLM``) count as the model they wrap: ``token_counter(self.inner)(text)``.
"""

from __future__ import annotations

from collections.abc import Callable

from tgrag.kernel.protocols import TokenCounter

TOKENS_PER_WORD = 1.3


def estimate_tokens(text: str) -> int:
    """Word-count estimate for models without a local tokenizer: ``int(words * 1.3)``."""
    return int(len(text.split()) * TOKENS_PER_WORD)


def token_counter(llm: object) -> Callable[[str], int]:
    """The LLM's own ``count_tokens``, or ``estimate_tokens`` when it has no tokenizer."""
    if isinstance(llm, TokenCounter):
        return llm.count_tokens
    return estimate_tokens
