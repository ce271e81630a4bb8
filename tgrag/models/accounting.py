"""LLM usage accounting per pipeline stage.

A ``UsageMeter`` sums ``Usage`` (calls, tokens, seconds, cached calls) under stage labels. A
``MeteredLLM`` wraps any ``LLM`` and records every response into a meter. The label comes from,
in order: the ``stage`` the wrapper was built with, else the innermost ``with meter.stage(...)``
block active in the calling context, else ``"other"``::

    meter = UsageMeter()
    llm = MeteredLLM(CachedLLM(LlamaCppLLM(), path), meter)
    with meter.stage("decompose"):
        llm.complete(request)               # counted under "decompose"
    reader = MeteredLLM(llm, meter, stage="read")   # fixed label, whatever the context
    meter.by_stage()["decompose"].prompt_tokens; meter.total(); meter.to_dict()

Stage blocks use ``contextvars``, so they are per thread and per asyncio task; work handed to a
thread pool does not inherit the caller's block unless it is run with ``contextvars.copy_context``
(or uses a wrapper with a fixed ``stage``). Put the meter *outside* a ``CachedLLM`` to count cache
hits (``cached_calls``) too. Failed calls raise and are not counted.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tgrag.kernel.protocols import LLM
from tgrag.kernel.records import LLMRequest, LLMResponse, Usage
from tgrag.models.tokens import token_counter

DEFAULT_STAGE = "other"


class UsageMeter:
    """Thread-safe sums of ``Usage`` per stage label."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_stage: dict[str, Usage] = {}
        self._current: contextvars.ContextVar[str | None] = contextvars.ContextVar(
            f"tgrag_usage_stage_{id(self)}", default=None)

    @contextmanager
    def stage(self, label: str) -> Iterator[None]:
        """Count calls made inside the block under ``label`` (nested blocks: innermost wins)."""
        token = self._current.set(label)
        try:
            yield
        finally:
            self._current.reset(token)

    @property
    def current_stage(self) -> str:
        return self._current.get() or DEFAULT_STAGE

    def record(self, usage: Usage, stage: str | None = None) -> None:
        label = stage or self.current_stage
        with self._lock:
            self._by_stage[label] = self._by_stage.get(label, Usage()) + usage

    def by_stage(self) -> dict[str, Usage]:
        with self._lock:
            return dict(self._by_stage)

    def total(self) -> Usage:
        return sum(self.by_stage().values(), Usage())

    def reset(self) -> dict[str, Usage]:
        """Clear the sums; returns what they were (handy for per-query accounting)."""
        with self._lock:
            old, self._by_stage = self._by_stage, {}
        return old

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total().to_dict(),
                "stages": {k: v.to_dict() for k, v in sorted(self.by_stage().items())}}


class MeteredLLM:
    """``LLM`` wrapper recording each response's usage into a ``UsageMeter``."""

    def __init__(self, inner: LLM, meter: UsageMeter, *, stage: str | None = None) -> None:
        self.inner = inner
        self.meter = meter
        self.stage = stage

    @property
    def name(self) -> str:
        return self.inner.name

    def complete(self, request: LLMRequest) -> LLMResponse:
        response = self.inner.complete(request)
        self.meter.record(response.usage, self.stage)
        return response

    def count_tokens(self, text: str) -> int:
        """Counted as the inner model counts (its tokenizer, or the word estimate)."""
        return token_counter(self.inner)(text)
