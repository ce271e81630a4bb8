"""Fakes at the model boundary, for fast unit tests: a hashing embedder and a scripted LLM.

They are deterministic and implement the kernel protocols exactly like the real backends.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence

import numpy as np

from tgrag.kernel.errors import ModelError
from tgrag.kernel.records import LLMRequest, LLMResponse

_TOKEN = re.compile(r"[a-z0-9]+")


class HashingEmbedder:
    """Bag of hashed word unigrams and bigrams, L2-normalised: similar wording → similar vectors."""

    def __init__(self, dim: int = 256) -> None:
        self._dim = dim

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def name(self) -> str:
        return f"hashing-{self._dim}"

    def encode(self, texts: Sequence[str], *, kind: str = "passage") -> np.ndarray:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for i, text in enumerate(texts):
            toks = _TOKEN.findall(text.lower())
            for feat in toks + [a + " " + b for a, b in zip(toks, toks[1:])]:
                h = int.from_bytes(hashlib.blake2b(feat.encode(), digest_size=8).digest(), "little")
                out[i, h % self._dim] += 1.0 if (h >> 63) == 0 else -1.0
            n = np.linalg.norm(out[i])
            if n > 0:
                out[i] /= n
        return out


Rule = Callable[[LLMRequest], str | None]


class ScriptedLLM:
    """Answers from a script: ``rules`` are tried in order, first non-None wins.

    A rule may be a (substring, reply) pair (matched against the last user message) or a callable
    taking the request. Every request is recorded in ``calls``. An unmatched request raises, so a
    test notices a prompt it did not expect (unless ``default`` is given).
    """

    def __init__(self, rules: Sequence[tuple[str, str] | Rule] = (), *, default: str | None = None) -> None:
        self.rules = list(rules)
        self.default = default
        self.calls: list[LLMRequest] = []

    @property
    def name(self) -> str:
        return "scripted"

    def complete(self, request: LLMRequest) -> LLMResponse:
        self.calls.append(request)
        prompt = request.messages[-1].content
        for rule in self.rules:
            if callable(rule):
                reply = rule(request)
            else:
                reply = rule[1] if rule[0] in prompt else None
            if reply is not None:
                return self._response(request, reply)
        if self.default is not None:
            return self._response(request, self.default)
        raise ModelError(f"ScriptedLLM has no rule for prompt: {prompt[:200]!r}")

    def count_tokens(self, text: str) -> int:
        """One token per whitespace-separated word (the same rule as its usage figures)."""
        return len(text.split())

    @staticmethod
    def _response(request: LLMRequest, text: str) -> LLMResponse:
        n_prompt = sum(len(m.content.split()) for m in request.messages)
        return LLMResponse(text, n_prompt, len(text.split()), 0.0, False, "scripted")
