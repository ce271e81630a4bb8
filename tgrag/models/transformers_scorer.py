"""Log-probabilities from a ``transformers`` causal LM: the :class:`SequenceScorer` of :class:`TransformersLLM`.

- a prompt's own state (its KV cache and next-token log-probs) is computed once and kept in a small
  LRU (``max_prompts``): decoding, thorough decoding and citation scoring all start from it;
- ``logprobs``: a prompt whose state is kept, or that comes with several continuations in the call,
  scores its continuations as one right-padded batch over a copy of that state (RAG-Sequence's
  "every candidate under every passage" then costs the candidates' tokens, not the passages again);
  the other pairs run as one right-padded batch of whole sequences (UPR: each passage once). Right
  padding leaves the positions of real tokens unchanged; padded positions are masked and never read;
- ``next_token_logprobs``: one row per (prompt, prefix), each with its own KV cache, started from the
  prompt's state and extended by the tokens added since (a decoding step feeds one token per
  passage, not the whole prompt again). A prefix that does not extend a cached one is fed whole
  after the prompt's state.

Prompts are user messages wrapped in the tokenizer's chat template with the generation prompt
(``plain_prompt`` without a template). ``forward_rows`` counts the sequences run through the model
(a prompt, a continuation over a kept prompt state, or a whole prompt + continuation).
"""

from __future__ import annotations

import copy
import inspect
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from tgrag.kernel.records import Message


def plain_prompt(messages: Sequence[Message]) -> str:
    """Fallback prompt for tokenizers without a chat template: ``Role: content`` blocks."""
    lines = [f"{m.role.capitalize()}: {m.content}" for m in messages]
    return "\n\n".join(lines) + "\n\nAssistant:"


def forward(model: Any, ids: Any, *, mask: Any = None, cache: Any = None) -> tuple[Any, Any]:
    """One forward with a KV cache: (logits, cache), under either spelling of transformers' cache
    argument (``past_key_values`` before 5.x, ``cache`` after; the old one goes in 5.40)."""
    name = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    kw: dict[str, Any] = {name: cache} if cache is not None else {}
    out = model(input_ids=ids.to(model.device), attention_mask=None if mask is None else mask.to(model.device),
                use_cache=True, **kw)
    new = out.get("cache", None)
    return out.logits, new if new is not None else out.get("past_key_values", None)


def right_padded(tok: Any, rows: Sequence[Sequence[int]], *, prefix: int = 0) -> tuple[Any, Any]:
    """(ids, attention mask) of ``rows`` right-padded to the longest; the mask also covers ``prefix``
    cached positions before them (all real)."""
    import torch

    width = max(len(r) for r in rows)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    ids = torch.full((len(rows), width), int(pad), dtype=torch.long)
    mask = torch.zeros((len(rows), prefix + width), dtype=torch.long)
    mask[:, :prefix] = 1
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(list(r), dtype=torch.long)
        mask[i, prefix: prefix + len(r)] = 1
    return ids, mask


class TransformersScorer:
    """Scores under a loaded tokenizer + model (shared with the LLM that loaded them)."""

    def __init__(self, parts: Any, *, name: str, max_cached: int = 64, max_prompts: int = 32) -> None:
        self._parts = parts  # () -> (tokenizer, model), loading on first use
        self.name = name
        self.max_cached = max_cached
        self.max_prompts = max_prompts
        self.forward_rows = 0
        self._prompts: dict[str, list[int]] = {}
        self._states: OrderedDict[str, tuple[Any, Any]] = OrderedDict()  # prompt -> (KV cache, next-token log-probs)
        self._kv: OrderedDict[tuple[str, tuple[int, ...]], tuple[Any, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Drop the kept prompt states and decoding caches (a benchmark measuring one configuration's
        own cost starts each one empty)."""
        with self._lock:
            self._states.clear()
            self._kv.clear()

    @property
    def end_id(self) -> int:
        tok, _ = self._parts()
        end = tok.convert_tokens_to_ids("<|im_end|>") if getattr(tok, "chat_template", None) else None
        return int(end) if isinstance(end, int) and end != tok.unk_token_id else int(tok.eos_token_id)

    def encode(self, text: str) -> list[int]:
        tok, _ = self._parts()
        return list(tok(text, add_special_tokens=False)["input_ids"])

    def decode(self, ids: Sequence[int]) -> str:
        tok, _ = self._parts()
        return str(tok.decode(list(ids), skip_special_tokens=True)).strip()

    def prompt_ids(self, prompt: str) -> list[int]:
        if prompt not in self._prompts:
            tok, _ = self._parts()
            if getattr(tok, "chat_template", None):
                text = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                               add_generation_prompt=True)
                self._prompts[prompt] = list(tok(text, add_special_tokens=False)["input_ids"])
            else:
                self._prompts[prompt] = list(tok(plain_prompt([Message("user", prompt)]))["input_ids"])
        return self._prompts[prompt]

    def logprobs(self, prompts: Sequence[str], continuations: Sequence[Sequence[int]]) -> list[list[float]]:
        with self._lock:
            seqs = [(p, [int(t) for t in c]) for p, c in zip(prompts, continuations, strict=True)]
            groups: OrderedDict[str, list[int]] = OrderedDict()
            for i, (p, _) in enumerate(seqs):
                groups.setdefault(p, []).append(i)
            out: list[list[float]] = [[] for _ in seqs]
            whole: list[int] = []
            for p, rows in groups.items():
                if p in self._states or len(rows) > 1:
                    for i, lp in zip(rows, self._on_state(p, [seqs[i][1] for i in rows]), strict=True):
                        out[i] = lp
                else:
                    whole += rows
            for i, lp in zip(whole, self._whole([seqs[i] for i in whole]), strict=True):
                out[i] = lp
            return out

    def _state(self, prompt: str) -> tuple[Any, Any]:
        """The prompt's KV cache and next-token log-probs (computed once, kept in an LRU; never mutated)."""
        import torch

        if prompt in self._states:
            self._states.move_to_end(prompt)
            return self._states[prompt]
        _, model = self._parts()
        with torch.inference_mode():
            logits, cache = forward(model, torch.tensor([self.prompt_ids(prompt)]))
            row = torch.log_softmax(logits[0, -1].float(), dim=-1).cpu()
        self.forward_rows += 1
        state = self._states[prompt] = (cache, row)
        while len(self._states) > self.max_prompts:
            self._states.popitem(last=False)
        return state

    def _on_state(self, prompt: str, conts: Sequence[list[int]]) -> list[list[float]]:
        """Continuations of one prompt, scored over a copy of its state in one right-padded batch."""
        import torch

        past, first = self._state(prompt)
        out = [[float(first[c[0]])] if c else [] for c in conts]
        longer = [i for i, c in enumerate(conts) if len(c) > 1]
        if not longer:
            return out
        tok, model = self._parts()
        plen = past.get_seq_length()
        ids, mask = right_padded(tok, [conts[i][:-1] for i in longer], prefix=plen)
        cache = copy.deepcopy(past)
        cache.batch_repeat_interleave(len(longer))
        with torch.inference_mode():
            logits, _ = forward(model, ids, mask=mask, cache=cache)
            logp = torch.log_softmax(logits.float(), dim=-1)
        self.forward_rows += len(longer)
        for r, i in enumerate(longer):
            c = conts[i]
            out[i] += logp[r, torch.arange(len(c) - 1), torch.tensor(c[1:], dtype=torch.long)].tolist()
        return out

    def _whole(self, seqs: Sequence[tuple[str, list[int]]]) -> list[list[float]]:
        """(prompt, continuation) pairs as one right-padded batch of whole sequences."""
        import torch

        if not seqs:
            return []
        tok, model = self._parts()
        rows = [(self.prompt_ids(p), c) for p, c in seqs]
        ids, mask = right_padded(tok, [p + c for p, c in rows])
        with torch.inference_mode():
            logits = model(input_ids=ids.to(model.device), attention_mask=mask.to(model.device)).logits
            logp = torch.log_softmax(logits.float(), dim=-1)
        self.forward_rows += len(rows)
        out = []
        for i, (p, c) in enumerate(rows):
            pos = torch.arange(len(p) - 1, len(p) + len(c) - 1)
            out.append(logp[i, pos, torch.tensor(c, dtype=torch.long)].tolist() if c else [])
        return out

    def next_token_logprobs(self, prompts: Sequence[str], prefixes: Sequence[Sequence[int]]) -> np.ndarray:
        with self._lock:
            return np.stack([self._next(p, tuple(int(t) for t in x)) for p, x in zip(prompts, prefixes, strict=True)])

    def _next(self, prompt: str, prefix: tuple[int, ...]) -> np.ndarray:
        import torch

        key = (prompt, prefix)
        if key in self._kv:
            self._kv.move_to_end(key)
            return self._kv[key][1]
        _, model = self._parts()
        parent = self._kv.pop((prompt, prefix[:-1]), None) if prefix else None
        if parent is not None and parent[0] is not None:  # extend that prefix's cache by the one new token
            past, feed = parent[0], [prefix[-1]]
        else:  # start from a copy of the prompt's state (which is never mutated)
            state, first = self._state(prompt)
            if not prefix:
                self._kv[key] = (None, first.numpy().astype(np.float64))
                return self._kv[key][1]
            past, feed = copy.deepcopy(state), list(prefix)
        with torch.inference_mode():
            logits, cache = forward(model, torch.tensor([feed]), cache=past)
            row = torch.log_softmax(logits[0, -1].float(), dim=-1).cpu().numpy().astype(np.float64)
        self.forward_rows += 1
        self._kv[key] = (cache, row)
        while len(self._kv) > self.max_cached:
            self._kv.popitem(last=False)
        return row
