"""LLM backend for any OpenAI-compatible ``/chat/completions`` endpoint.

Works with vLLM, the llama.cpp server, Ollama (``http://localhost:11434/v1``) and hosted APIs.
The API key is read from the environment variable *named* by ``api_key_env`` at call time (never
at import or construction), so configs hold the variable's name, not the secret. Pass
``api_key_env=None`` for local servers that need no key.

Faults: connection errors, timeouts, HTTP 429 and 5xx are retried with exponential backoff (a
``Retry-After`` header is honoured, capped) at most ``max_retries`` times, then raise
``TransientError``; any other 4xx, or a body that is not a chat completion, raises ``ModelError``
with the server's own message.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

import requests

from tgrag.kernel.errors import ConfigError, ModelError, TransientError
from tgrag.kernel.records import LLMRequest, LLMResponse

_MAX_RETRY_AFTER_S = 30.0


def estimate_tokens(text: str) -> int:
    """Rough token count (~4 characters per token) for servers that report no usage."""
    return math.ceil(len(text) / 4) if text else 0


def chat_payload(model: str, request: LLMRequest) -> dict[str, Any]:
    """The JSON body of a ``/chat/completions`` call for ``request``."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "seed": request.seed,
    }
    if request.stop:
        body["stop"] = list(request.stop)
    if request.json_mode:
        body["response_format"] = {"type": "json_object"}
    return body


def server_message(resp: requests.Response) -> str:
    """The error message a server put in its body (OpenAI shape ``{"error": {"message"}}``)."""
    try:
        data = resp.json()
    except ValueError:
        return resp.text.strip()[:500] or resp.reason
    if isinstance(data, Mapping):
        err = data.get("error", data.get("detail", data.get("message")))
        if isinstance(err, Mapping) and "message" in err:
            return str(err["message"])
        if err is not None:
            return str(err)
    return json.dumps(data)[:500]


def parse_completion(data: Any, request: LLMRequest, url: str) -> tuple[str, int, int, str]:
    """(text, prompt tokens, completion tokens, model) from a chat-completion body."""
    try:
        choice = data["choices"][0]
        text = choice["message"]["content"] or ""
    except (KeyError, IndexError, TypeError) as e:
        raise ModelError(f"{url}: response is not a chat completion: {json.dumps(data)[:300]}") from e
    usage = data.get("usage") or {}
    n_prompt = usage.get("prompt_tokens")
    n_completion = usage.get("completion_tokens")
    if not isinstance(n_prompt, int):
        n_prompt = sum(estimate_tokens(m.content) for m in request.messages)
    if not isinstance(n_completion, int):
        n_completion = estimate_tokens(text)
    return str(text), n_prompt, n_completion, str(data.get("model") or "")


class OpenAICompatibleLLM:
    """Chat completions over HTTP with bounded retries on transient faults only."""

    def __init__(self, base_url: str, model: str, *, api_key_env: str | None = "OPENAI_API_KEY",
                 timeout: float = 60, max_retries: int = 3,
                 extra_headers: Mapping[str, str] | None = None, backoff_s: float = 1.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"base_url must start with http:// or https://, got {base_url!r}")
        if max_retries < 0:
            raise ConfigError(f"max_retries must be >= 0, got {max_retries}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.timeout = timeout
        self.max_retries = max_retries
        self.extra_headers = dict(extra_headers or {})
        self.backoff_s = backoff_s
        self._local = threading.local()  # one requests.Session per thread

    @property
    def name(self) -> str:
        return f"openai:{self.base_url}#{self.model}"

    @property
    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", **self.extra_headers}
        if self.api_key_env is not None:
            key = os.environ.get(self.api_key_env)
            if not key:
                raise ConfigError(f"environment variable {self.api_key_env} (the API key for "
                                  f"{self.base_url}) is not set; set it, or pass api_key_env=None "
                                  "for a server that needs no key")
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _delay(self, attempt: int, resp: requests.Response | None) -> float:
        if resp is not None:
            retry_after = resp.headers.get("Retry-After")
            if retry_after is not None:
                try:
                    return min(max(float(retry_after), 0.0), _MAX_RETRY_AFTER_S)
                except ValueError:
                    pass  # an HTTP date: fall back to exponential backoff
        return self.backoff_s * (2 ** attempt)

    def complete(self, request: LLMRequest) -> LLMResponse:
        headers = self._headers()
        body = chat_payload(self.model, request)
        t0 = time.perf_counter()
        last_fault = ""
        for attempt in range(self.max_retries + 1):
            resp: requests.Response | None = None
            try:
                resp = self._session().post(self.url, json=body, headers=headers, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as e:
                last_fault = f"{type(e).__name__}: {e}"
            else:
                if resp.status_code == 429 or resp.status_code >= 500:
                    last_fault = f"HTTP {resp.status_code}: {server_message(resp)}"
                elif resp.status_code >= 400:
                    raise ModelError(f"{self.url} (model {self.model!r}) answered HTTP "
                                     f"{resp.status_code}: {server_message(resp)}")
                else:
                    try:
                        data = resp.json()
                    except ValueError as e:
                        raise ModelError(f"{self.url}: response is not JSON: {resp.text[:300]!r}") from e
                    text, n_prompt, n_completion, model = parse_completion(data, request, self.url)
                    return LLMResponse(text, n_prompt, n_completion, time.perf_counter() - t0, False,
                                       model or self.model)
            if attempt < self.max_retries:
                time.sleep(self._delay(attempt, resp))
        raise TransientError(f"{self.url} (model {self.model!r}) failed after "
                             f"{self.max_retries + 1} attempts; last fault: {last_fault}")
