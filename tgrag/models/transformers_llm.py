"""LLM backend on Hugging Face ``transformers``: a hub id, a local model folder, or a GGUF file.

Construction is cheap; the tokenizer and weights load on the first ``complete`` call
(``count_tokens``, the ``TokenCounter`` capability, loads only the tokenizer). A path that
exists (or looks like a path: absolute, ``./``, ``../``, ``~``) loads with ``local_files_only=True``
so it never touches the network; anything else is taken as a hub id, which ``transformers``
downloads on an ordinary machine (and which fails with a clear ``ModelError`` when offline).

Decoding is greedy when ``temperature == 0`` and sampled (seeded by ``request.seed``) otherwise.
Stop strings end generation as soon as they appear in the decoded output and are cut from the
text. ``json_mode`` has no constrained decoding here: the prompt must ask for JSON.

It is also a :class:`~tgrag.kernel.protocols.SequenceScorer` (``logprobs``, ``next_token_logprobs``:
``tgrag.models.transformers_scorer``) on the same loaded weights, for the RAG generators and UPR.
``model`` may name an embedded reader (``qwen2.5-coder-0.5b``, ``0.5b``, ...: its verified GGUF).
Loading a GGUF dequantises it (slow); with ``converted_dir`` the converted weights are saved there
once (``<gguf name>-<dtype>/``, written to a temporary folder and renamed) and later loads read them.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tgrag.kernel.errors import ModelError
from tgrag.kernel.records import LLMRequest, LLMResponse, Message
from tgrag.models.transformers_scorer import TransformersScorer, plain_prompt

log = logging.getLogger(__name__)
_DTYPES = ("float32", "float16", "bfloat16", "auto")


def truncate_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Cut ``text`` before the earliest occurrence of any stop string; (text, whether it was cut)."""
    cut = min((i for s in stop if s and (i := text.find(s)) >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def resolve_model_source(model: str, gguf_file: str | None) -> tuple[str, str | None, bool]:
    """(path or hub id, gguf file name, is_local). A ``*.gguf`` file path splits into its folder
    and file name. A local-looking path that does not exist raises ``ModelError``."""
    expanded = Path(model).expanduser()
    looks_local = model.startswith(("/", "./", "../", "~")) or expanded.exists()
    if not looks_local:
        return model, gguf_file, False
    if not expanded.exists():
        raise ModelError(f"model path {model!r} does not exist")
    if expanded.is_file():
        if gguf_file is not None or expanded.suffix.lower() != ".gguf":
            raise ModelError(f"model path {model!r} is a file; give a model folder or a *.gguf file")
        return str(expanded.parent), expanded.name, True
    if gguf_file is not None and not (expanded / gguf_file).is_file():
        raise ModelError(f"GGUF file {gguf_file!r} not found in {model!r}")
    return str(expanded), gguf_file, True


class TransformersLLM:
    """``transformers`` causal LM behind the kernel ``LLM`` protocol (one request at a time)."""

    def __init__(self, model: str, *, device: str = "cpu", torch_dtype: str = "float32",
                 gguf_file: str | None = None, max_new_tokens_cap: int = 512,
                 trust_remote_code: bool = False, converted_dir: str | None = None) -> None:
        if torch_dtype not in _DTYPES:
            raise ModelError(f"torch_dtype {torch_dtype!r} is not one of {_DTYPES}")
        if max_new_tokens_cap < 1:
            raise ModelError(f"max_new_tokens_cap must be >= 1, got {max_new_tokens_cap}")
        self.model_id = model
        self.device = device
        self.torch_dtype = torch_dtype
        self.gguf_file = gguf_file
        self.max_new_tokens_cap = max_new_tokens_cap
        self.trust_remote_code = trust_remote_code
        self.converted_dir = converted_dir
        self._tokenizer: Any = None
        self._model: Any = None
        self._lock = threading.Lock()
        self._scorer: Any = None

    @property
    def name(self) -> str:
        base = f"transformers:{self.model_id}"
        return f"{base}#{self.gguf_file}" if self.gguf_file else base

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> None:
        """Load tokenizer and weights now (otherwise done on the first call)."""
        with self._lock:
            self._load_locked()

    def _source(self) -> tuple[str, dict[str, Any]]:
        source, gguf_file, local = resolve_model_source(_embedded_path(self.model_id), self.gguf_file)
        converted = self._converted_path(gguf_file)
        if converted is not None and (converted / "config.json").is_file():
            return str(converted), {"local_files_only": True, "trust_remote_code": self.trust_remote_code}
        kw: dict[str, Any] = {"local_files_only": local, "trust_remote_code": self.trust_remote_code}
        if gguf_file is not None:
            kw["gguf_file"] = gguf_file
        return source, kw

    def _load_error(self, kw: dict[str, Any], e: Exception) -> ModelError:
        where = "local path" if kw["local_files_only"] else "hub id"
        gguf_file = kw.get("gguf_file")
        return ModelError(f"cannot load {where} {self.model_id!r}"
                          f"{f' (gguf {gguf_file!r})' if gguf_file else ''}: {e}")

    def _load_tokenizer_locked(self) -> Any:
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            source, kw = self._source()
            try:
                self._tokenizer = AutoTokenizer.from_pretrained(source, **kw)
            except (OSError, ValueError, ImportError, RuntimeError) as e:
                raise self._load_error(kw, e) from e
        return self._tokenizer

    def _converted_path(self, gguf_file: str | None) -> Path | None:
        if self.converted_dir is None or gguf_file is None:
            return None
        return Path(self.converted_dir).expanduser() / f"{Path(gguf_file).stem}-{self.torch_dtype}"

    def _save_converted(self, model: Any, source_kw: dict[str, Any]) -> None:
        target = self._converted_path(source_kw.get("gguf_file"))
        if target is None or (target / "config.json").is_file():
            return
        tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        # a GGUF load keeps its (gguf) quantizer although the weights are dequantised: drop it for
        # the save, so the copy is a plain checkpoint of ``torch_dtype`` weights
        quantizer, qconfig = getattr(model, "hf_quantizer", None), getattr(model.config, "quantization_config", None)
        model.hf_quantizer = None
        if qconfig is not None:
            del model.config.quantization_config
        try:
            model.save_pretrained(tmp)
            self._tokenizer.save_pretrained(tmp)
            os.replace(tmp, target)
        except (OSError, ValueError) as e:  # another process renamed its copy first, or no space: load anyway
            log.warning("could not save converted weights to %s: %s", target, e)
            shutil.rmtree(tmp, ignore_errors=True)
        finally:
            model.hf_quantizer = quantizer
            if qconfig is not None:
                model.config.quantization_config = qconfig

    def _load_locked(self) -> None:
        if self._model is not None:
            return
        import torch
        from transformers import AutoModelForCausalLM

        self._load_tokenizer_locked()
        source, kw = self._source()
        dtype: Any = self.torch_dtype if self.torch_dtype == "auto" else getattr(torch, self.torch_dtype)
        try:
            model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **kw)
            model.to(self.device)
        except (OSError, ValueError, ImportError, RuntimeError) as e:
            raise self._load_error(kw, e) from e
        model.eval()
        self._model = model
        if "gguf_file" in kw:
            self._save_converted(model, kw)

    # -- SequenceScorer (tgrag.models.transformers_scorer) ------------------------------------
    def _parts(self) -> tuple[Any, Any]:
        with self._lock:
            self._load_locked()
        return self._tokenizer, self._model

    @property
    def scorer(self) -> Any:
        if self._scorer is None:
            self._scorer = TransformersScorer(self._parts, name=self.name)
        return self._scorer

    @property
    def end_id(self) -> int:
        return int(self.scorer.end_id)

    def encode(self, text: str) -> list[int]:
        return list(self.scorer.encode(text))

    def decode(self, ids: Sequence[int]) -> str:
        return str(self.scorer.decode(ids))

    def logprobs(self, prompts: Sequence[str], continuations: Sequence[Sequence[int]]) -> list[list[float]]:
        return list(self.scorer.logprobs(prompts, continuations))

    def next_token_logprobs(self, prompts: Sequence[str], prefixes: Sequence[Sequence[int]]) -> Any:
        return self.scorer.next_token_logprobs(prompts, prefixes)

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` under the model's tokenizer (loads only the tokenizer; no special
        tokens added)."""
        with self._lock:  # a fast tokenizer shared with generation is not safe to call concurrently
            tok = self._load_tokenizer_locked()
            return len(tok(text, add_special_tokens=False)["input_ids"])

    def _prompt_ids(self, messages: Sequence[Message]) -> Any:
        tok = self._tokenizer
        if getattr(tok, "chat_template", None):
            text = tok.apply_chat_template([{"role": m.role, "content": m.content} for m in messages],
                                           tokenize=False, add_generation_prompt=True)
            # the template writes any BOS itself
            enc = tok(text, return_tensors="pt", add_special_tokens=False)
        else:
            enc = tok(plain_prompt(messages), return_tensors="pt")
        return enc["input_ids"]

    def complete(self, request: LLMRequest) -> LLMResponse:
        with self._lock:
            self._load_locked()
            t0 = time.perf_counter()
            text, n_prompt, n_completion = self._generate(request)
            seconds = time.perf_counter() - t0
        return LLMResponse(text, n_prompt, n_completion, seconds, False, self.name)

    def _generate(self, request: LLMRequest) -> tuple[str, int, int]:
        import torch
        from transformers import StoppingCriteriaList

        tok, model = self._tokenizer, self._model
        input_ids = self._prompt_ids(request.messages).to(model.device)
        n_prompt = int(input_ids.shape[1])
        max_new = max(1, min(request.max_tokens, self.max_new_tokens_cap))
        pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        gen_kw: dict[str, Any] = {
            "max_new_tokens": max_new,
            "attention_mask": torch.ones_like(input_ids),
            "pad_token_id": pad_id,
        }
        if request.temperature > 0:
            gen_kw.update(do_sample=True, temperature=request.temperature, top_k=0, top_p=1.0)
        else:
            gen_kw.update(do_sample=False, temperature=None, top_k=None, top_p=None)
        if request.stop:
            gen_kw["stopping_criteria"] = StoppingCriteriaList(
                [_StopOnStrings(tok, request.stop, n_prompt)])
        try:
            with torch.random.fork_rng(devices=[]), torch.inference_mode():
                torch.manual_seed(request.seed)
                if model.device.type == "cuda":
                    torch.cuda.manual_seed_all(request.seed)
                out = model.generate(input_ids, **gen_kw)
        except (RuntimeError, ValueError) as e:
            raise ModelError(f"{self.name}: generation failed: {e}") from e
        new_ids = out[0, n_prompt:].tolist()
        special = set(tok.all_special_ids)
        while new_ids and new_ids[-1] in special:  # trailing EOS / padding
            new_ids.pop()
        text = tok.decode(new_ids, skip_special_tokens=True)
        text, _ = truncate_at_stop(text, request.stop)
        return text, n_prompt, len(new_ids)


def _embedded_path(model: str) -> str:
    """An embedded reader's name (``qwen2.5-coder-0.5b``, ``0.5b``) → its verified GGUF path."""
    from tgrag.models.assets import EMBEDDED_READERS, READER_ALIASES, gguf_path

    key = READER_ALIASES.get(model, model)
    return str(gguf_path(key)) if key in EMBEDDED_READERS else model


class _StopOnStrings:
    """Stopping criterion: true once any stop string appears in the decoded new tokens."""

    def __init__(self, tokenizer: Any, stop: Sequence[str], n_prompt: int) -> None:
        self.tokenizer = tokenizer
        self.stop = tuple(s for s in stop if s)
        self.n_prompt = n_prompt

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        done = [
            truncate_at_stop(self.tokenizer.decode(row[self.n_prompt:], skip_special_tokens=True),
                             self.stop)[1]
            for row in input_ids
        ]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)
