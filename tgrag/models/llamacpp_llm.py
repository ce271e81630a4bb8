"""llama.cpp GGUF backend (default: Qwen2.5-Coder-0.5B-Instruct assembled from its packages)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from tgrag.kernel.errors import ModelError
from tgrag.kernel.records import LLMRequest, LLMResponse
from tgrag.models.assets import qwen_gguf_path


class LlamaCppLLM:
    """Chat completion through ``llama-cpp-python``; loaded lazily on first use."""

    def __init__(self, model_path: str | None = None, *, n_ctx: int = 4096, n_threads: int | None = 2,
                 n_batch: int = 512, seed: int = 0, verbose: bool = False) -> None:
        self._path = model_path
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.n_batch = n_batch
        self.seed = seed
        self.verbose = verbose
        self._llm: Any = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return Path(self._path).name if self._path else "qwen2.5-coder-0.5b-instruct-q4_k_m"

    def _load(self) -> Any:
        if self._llm is None:
            try:
                from llama_cpp import Llama
            except ImportError as e:
                raise ModelError("llama-cpp-python is not installed (run `make setup`)") from e
            path = self._path or str(qwen_gguf_path())
            if not Path(path).exists():
                raise ModelError(f"GGUF model file not found: {path}")
            self._llm = Llama(model_path=path, n_ctx=self.n_ctx, n_threads=self.n_threads,
                              n_batch=self.n_batch, seed=self.seed, verbose=self.verbose)
        return self._llm

    def complete(self, request: LLMRequest) -> LLMResponse:
        with self._lock:  # a llama.cpp context is not re-entrant
            llm = self._load()
            t0 = time.perf_counter()
            kwargs: dict[str, Any] = {
                "messages": [{"role": m.role, "content": m.content} for m in request.messages],
                "max_tokens": request.max_tokens,
                "temperature": request.temperature,
                "seed": request.seed,
                "stop": list(request.stop) or None,
            }
            if request.json_mode:
                kwargs["response_format"] = {"type": "json_object"}
            try:
                out = llm.create_chat_completion(**kwargs)
            except (RuntimeError, ValueError) as e:
                raise ModelError(f"llama.cpp failed: {e}") from e
            seconds = time.perf_counter() - t0
        usage = out.get("usage") or {}
        text = out["choices"][0]["message"].get("content") or ""
        return LLMResponse(text.strip(), int(usage.get("prompt_tokens", 0)),
                           int(usage.get("completion_tokens", 0)), seconds, False, self.name)
