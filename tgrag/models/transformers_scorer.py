"""Log-probabilities from a ``transformers`` causal LM: the :class:`SequenceScorer` of :class:`TransformersLLM`.

- ``logprobs``: the (prompt, continuation) pairs of a call run as one right-padded batch (positions
  of real tokens are unchanged by right padding; padded positions are masked and never read);
- ``next_token_logprobs``: one row per (prompt, prefix), each with its own KV cache, kept per
  passage prompt and extended by the tokens added since (a decoding step feeds one token per
  passage, not the whole prompt again). A prefix that does not extend a cached one is recomputed.

Prompts are user messages wrapped in the tokenizer's chat template with the generation prompt
(``plain_prompt`` without a template). ``forward_rows`` counts the sequences run through the model.
"""

from __future__ import annotations

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


class TransformersScorer:
    """Scores under a loaded tokenizer + model (shared with the LLM that loaded them)."""

    def __init__(self, parts: Any, *, name: str, max_cached: int = 64) -> None:
        self._parts = parts  # () -> (tokenizer, model), loading on first use
        self.name = name
        self.max_cached = max_cached
        self.forward_rows = 0
        self._prompts: dict[str, list[int]] = {}
        self._kv: OrderedDict[tuple[str, tuple[int, ...]], tuple[Any, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

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
        import torch

        with self._lock:
            tok, model = self._parts()
            seqs = [(self.prompt_ids(p), [int(t) for t in c]) for p, c in zip(prompts, continuations, strict=True)]
            if not seqs:
                return []
            width = max(len(p) + len(c) for p, c in seqs)
            pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
            ids = torch.full((len(seqs), width), int(pad), dtype=torch.long)
            mask = torch.zeros((len(seqs), width), dtype=torch.long)
            for i, (p, c) in enumerate(seqs):
                ids[i, : len(p) + len(c)] = torch.tensor(p + c)
                mask[i, : len(p) + len(c)] = 1
            with torch.inference_mode():
                logits = model(input_ids=ids.to(model.device), attention_mask=mask.to(model.device)).logits
                logp = torch.log_softmax(logits.float(), dim=-1)
            self.forward_rows += len(seqs)
            out = []
            for i, (p, c) in enumerate(seqs):
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
        if parent is not None:  # extend the passage's cache by the one new token (the cache grows in place)
            past, feed = parent[0], [prefix[-1]]
        else:
            past, feed = None, self.prompt_ids(prompt) + list(prefix)
        with torch.inference_mode():
            out = model(input_ids=torch.tensor([feed], device=model.device), past_key_values=past, use_cache=True)
            row = torch.log_softmax(out.logits[0, -1].float(), dim=-1).cpu().numpy().astype(np.float64)
        self.forward_rows += 1
        self._kv[key] = (out.past_key_values, row)
        while len(self._kv) > self.max_cached:
            self._kv.popitem(last=False)
        return row
