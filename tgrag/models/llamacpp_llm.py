"""llama.cpp GGUF backend: an embedded reader assembled from its packages, or any GGUF file.

``LlamaCppLLM()`` runs the default embedded reader (``tgrag.models.assets.DEFAULT_READER``),
``LlamaCppLLM(model="qwen2.5-coder-1.5b")`` (or ``model="1.5b"``) a chosen one, and
``LlamaCppLLM("/models/model.gguf")`` any other GGUF file.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from tgrag.kernel.errors import ConfigError, ModelError
from tgrag.kernel.records import LLMRequest, LLMResponse
from tgrag.models.assets import EmbeddedGGUF, embedded_reader, gguf_path


class LlamaCppLLM:
    """Chat completion through ``llama-cpp-python``; loaded lazily on first use.

    Also a ``TokenCounter``: ``count_tokens`` uses the model's own tokenizer (loading the model
    if it is not loaded yet)."""

    def __init__(self, model_path: str | None = None, *, model: str | None = None, n_ctx: int = 4096,
                 n_threads: int | None = 2, n_batch: int = 512, seed: int = 0, verbose: bool = False) -> None:
        if model_path is not None and model is not None:
            raise ConfigError("give LlamaCppLLM either a GGUF model_path or an embedded model name, not both")
        self._path = model_path
        self._embedded: EmbeddedGGUF | None = None if model_path else embedded_reader(model)
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.n_batch = n_batch
        self.seed = seed
        self.verbose = verbose
        self._llm: Any = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        if self._embedded is not None:
            return self._embedded.name
        return Path(str(self._path)).name

    @property
    def embedded(self) -> EmbeddedGGUF | None:
        """The embedded reader this backend runs (``None`` for a GGUF given by path)."""
        return self._embedded

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    def _load(self) -> Any:
        if self._llm is None:
            try:
                from llama_cpp import Llama
            except ImportError as e:
                raise ModelError("llama-cpp-python is not installed (run `make setup`)") from e
            path = str(gguf_path(self._embedded)) if self._embedded is not None else str(self._path)
            if not Path(path).exists():
                raise ModelError(f"GGUF model file not found: {path}")
            self._llm = Llama(model_path=path, n_ctx=self.n_ctx, n_threads=self.n_threads,
                              n_batch=self.n_batch, seed=self.seed, verbose=self.verbose)
        return self._llm

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` under the model's tokenizer (no BOS, special tokens as text)."""
        with self._lock:
            llm = self._load()
            try:
                return len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))
            except (RuntimeError, ValueError) as e:
                raise ModelError(f"llama.cpp tokenize failed: {e}") from e

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
