"""Usage metering around an LLM, so each stage (indexing, each question) is charged its calls."""

from __future__ import annotations

import threading

from tgrag.kernel.protocols import LLM
from tgrag.kernel.records import LLMRequest, LLMResponse, Usage
from tgrag.models.tokens import token_counter


class MeteredLLM:
    """Counts every call's usage (cached replies included, flagged in ``cached_calls``)."""

    def __init__(self, inner: LLM) -> None:
        self.inner = inner
        self.total = Usage()
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.inner.name

    def complete(self, request: LLMRequest) -> LLMResponse:
        response = self.inner.complete(request)
        with self._lock:
            self.total = self.total + response.usage
        return response

    def count_tokens(self, text: str) -> int:
        """Counted as the inner model counts (its tokenizer, or the word estimate)."""
        return token_counter(self.inner)(text)

    def cache_stats(self) -> dict[str, int] | None:
        """Hits / misses / writes of the persistent cache underneath, if there is one."""
        stats = getattr(self.inner, "stats", None)
        return stats().to_dict() if callable(stats) else None


def usage_delta(after: Usage, before: Usage) -> Usage:
    return Usage(after.calls - before.calls, after.prompt_tokens - before.prompt_tokens,
                 after.completion_tokens - before.completion_tokens, after.seconds - before.seconds,
                 after.cached_calls - before.cached_calls)
