"""Fakes at the model boundary, for fast unit tests: a hashing embedder, a scripted LLM and a table LM
(a sequence scorer of known distributions).

They are deterministic and implement the kernel protocols exactly like the real backends.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

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


Table = Mapping[tuple[str, ...] | str, Mapping[str, float]]


class TableLM:
    """A :class:`~tgrag.kernel.protocols.SequenceScorer` of known distributions (word tokens), and an
    ``LLM`` that decodes them greedily (so a config can use it where either is needed).

    ``tables`` are (key, table) pairs tried in order: the first whose key is a substring of the
    prompt gives the next-word distributions, keyed by the words generated so far (a tuple, or the
    words joined by spaces; "" is the empty prefix). A prefix the table does not name puts all mass
    on ``end``; a word a distribution does not name has probability 0. A prompt that no key matches
    raises, so a test notices a prompt it did not expect. ``calls`` records (method, rows) of every
    batched call.
    """

    def __init__(self, tables: Sequence[Sequence[Any]], *, end: str = "<end>",
                 extra_words: Sequence[str] = (), max_tokens: int = 32) -> None:
        self.tables: list[tuple[str, dict[tuple[str, ...], Mapping[str, float]]]] = [
            (str(key), {tuple(k.split()) if isinstance(k, str) else tuple(k): dict(d) for k, d in table.items()})
            for key, table in tables]
        self.end = end
        self.max_tokens = max_tokens
        words = {end, *extra_words}
        for _, table in self.tables:
            for prefix, dist in table.items():
                words.update(prefix)
                words.update(dist)
        self.vocab = sorted(words)
        self.ids = {w: i for i, w in enumerate(self.vocab)}
        self.calls: list[tuple[str, int]] = []

    @property
    def name(self) -> str:
        return "table-lm"

    @property
    def end_id(self) -> int:
        return self.ids[self.end]

    def encode(self, text: str) -> list[int]:
        unknown = [w for w in text.split() if w not in self.ids]
        if unknown:
            raise ModelError(f"TableLM: words outside the vocabulary: {unknown}")
        return [self.ids[w] for w in text.split()]

    def decode(self, ids: Sequence[int]) -> str:
        return " ".join(self.vocab[i] for i in ids if i != self.end_id)

    def distribution(self, prompt: str, prefix: Sequence[int]) -> np.ndarray:
        """Probabilities of the next word (a row over the vocabulary)."""
        table = next((t for key, t in self.tables if key in prompt), None)
        if table is None:
            raise ModelError(f"TableLM has no table for prompt: {prompt[:200]!r}")
        dist = table.get(tuple(self.vocab[int(i)] for i in prefix), {self.end: 1.0})
        row = np.zeros(len(self.vocab))
        for word, p in dist.items():
            row[self.ids[word]] = p
        if not np.isclose(row.sum(), 1.0):
            raise ModelError(f"TableLM: a distribution sums to {row.sum()}, not 1")
        return row

    def logprobs(self, prompts: Sequence[str], continuations: Sequence[Sequence[int]]) -> list[list[float]]:
        self.calls.append(("logprobs", len(prompts)))
        with np.errstate(divide="ignore"):
            return [[float(np.log(self.distribution(p, c[:t])[c[t]])) for t in range(len(c))]
                    for p, c in zip(prompts, continuations, strict=True)]

    def next_token_logprobs(self, prompts: Sequence[str], prefixes: Sequence[Sequence[int]]) -> np.ndarray:
        self.calls.append(("next_token_logprobs", len(prompts)))
        with np.errstate(divide="ignore"):
            return np.log(np.stack([self.distribution(p, list(x)) for p, x in zip(prompts, prefixes, strict=True)]))

    def complete(self, request: LLMRequest) -> LLMResponse:
        """Greedy decoding of the last message's table (ties to the lower word id)."""
        prompt = request.messages[-1].content
        ids: list[int] = []
        for _ in range(min(request.max_tokens, self.max_tokens)):
            nxt = int(np.argmax(self.distribution(prompt, ids)))
            if nxt == self.end_id:
                break
            ids.append(nxt)
        text = self.decode(ids)
        return LLMResponse(text, len(prompt.split()), len(ids), 0.0, False, self.name)
