"""OpenAICompatibleLLM against a real HTTP server on 127.0.0.1 that plays a scripted reply list."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tgrag.kernel.errors import ConfigError, ModelError, TransientError
from tgrag.kernel.protocols import LLM
from tgrag.kernel.records import LLMRequest
from tgrag.models.openai_llm import OpenAICompatibleLLM, estimate_tokens

KEY_ENV = "TGRAG_TEST_OPENAI_KEY"


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass
class Script:
    replies: list[Reply] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)


def completion(text: str, *, usage: dict[str, int] | None = None, model: str = "served-model") -> dict:
    body: dict[str, Any] = {"id": "c1", "object": "chat.completion", "model": model,
                            "choices": [{"index": 0, "finish_reason": "stop",
                                         "message": {"role": "assistant", "content": text}}]}
    if usage is not None:
        body["usage"] = usage
    return body


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Script]]:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            script.received.append({"path": self.path, "headers": dict(self.headers),
                                    "body": json.loads(self.rfile.read(length))})
            reply = script.replies.pop(0) if script.replies else Reply(500, {"error": "script empty"})
            time.sleep(reply.delay_s)
            payload = (reply.body if isinstance(reply.body, str) else json.dumps(reply.body)).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for k, v in reply.headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", script
    httpd.shutdown()
    httpd.server_close()


def make(base_url: str, **kw: Any) -> OpenAICompatibleLLM:
    kw.setdefault("api_key_env", None)
    kw.setdefault("backoff_s", 0.0)
    return OpenAICompatibleLLM(base_url, "test-model", **kw)


def test_success_sends_openai_payload_and_parses_usage(server: tuple[str, Script],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    url, script = server
    monkeypatch.setenv(KEY_ENV, "sk-secret")
    script.replies.append(Reply(200, completion('{"a": 1}', usage={"prompt_tokens": 17,
                                                                   "completion_tokens": 5})))
    llm = make(url + "/", api_key_env=KEY_ENV, extra_headers={"X-Team": "tgrag"})
    assert isinstance(llm, LLM)
    request = LLMRequest.chat("Give JSON", system="be terse", max_tokens=33, temperature=0.2,
                              stop=("\n\n",), json_mode=True, seed=7)
    response = llm.complete(request)
    assert (response.text, response.prompt_tokens, response.completion_tokens) == ('{"a": 1}', 17, 5)
    assert response.model == "served-model" and not response.cached and response.seconds > 0
    (sent,) = script.received
    assert sent["path"] == "/v1/chat/completions"
    assert sent["headers"]["Authorization"] == "Bearer sk-secret"
    assert sent["headers"]["X-Team"] == "tgrag"
    assert sent["body"] == {
        "model": "test-model",
        "messages": [{"role": "system", "content": "be terse"}, {"role": "user", "content": "Give JSON"}],
        "max_tokens": 33, "temperature": 0.2, "seed": 7, "stop": ["\n\n"],
        "response_format": {"type": "json_object"},
    }


def test_missing_usage_falls_back_to_estimate_and_no_key_sends_no_auth(server: tuple[str, Script]) -> None:
    url, script = server
    script.replies.append(Reply(200, completion("Paris is the capital.")))
    request = LLMRequest.chat("What is the capital of France?")
    response = make(url).complete(request)
    assert response.prompt_tokens == estimate_tokens("What is the capital of France?")
    assert response.completion_tokens == estimate_tokens("Paris is the capital.") > 0
    assert "Authorization" not in script.received[0]["headers"]
    assert "response_format" not in script.received[0]["body"]
    assert "stop" not in script.received[0]["body"]


def test_429_then_success_is_retried(server: tuple[str, Script]) -> None:
    url, script = server
    script.replies += [Reply(429, {"error": {"message": "slow down"}}, {"Retry-After": "0"}),
                       Reply(503, "overloaded"),
                       Reply(200, completion("ok", usage={"prompt_tokens": 3, "completion_tokens": 1}))]
    response = make(url, max_retries=3).complete(LLMRequest.chat("hi"))
    assert response.text == "ok"
    assert len(script.received) == 3


def test_5xx_exhaustion_raises_transient_error(server: tuple[str, Script]) -> None:
    url, script = server
    script.replies += [Reply(500, {"error": {"message": "boom"}}) for _ in range(5)]
    with pytest.raises(TransientError, match=r"3 attempts.*HTTP 500: boom"):
        make(url, max_retries=2).complete(LLMRequest.chat("hi"))
    assert len(script.received) == 3


def test_4xx_raises_model_error_with_server_message_without_retry(server: tuple[str, Script]) -> None:
    url, script = server
    script.replies.append(Reply(400, {"error": {"message": "max_tokens is too large: 99999"}}))
    with pytest.raises(ModelError, match="HTTP 400: max_tokens is too large: 99999"):
        make(url, max_retries=3).complete(LLMRequest.chat("hi", max_tokens=99999))
    assert len(script.received) == 1


def test_body_that_is_not_a_completion_raises_model_error(server: tuple[str, Script]) -> None:
    url, script = server
    script.replies.append(Reply(200, {"object": "list", "data": []}))
    with pytest.raises(ModelError, match="not a chat completion"):
        make(url).complete(LLMRequest.chat("hi"))


def test_timeout_is_transient(server: tuple[str, Script]) -> None:
    url, script = server
    script.replies.append(Reply(200, completion("late"), delay_s=1.0))
    with pytest.raises(TransientError, match="Timeout"):
        make(url, timeout=0.2, max_retries=0).complete(LLMRequest.chat("hi"))


def test_connection_refused_is_retried_then_transient() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransientError, match=r"2 attempts.*ConnectionError"):
        make(f"http://127.0.0.1:{port}/v1", max_retries=1).complete(LLMRequest.chat("hi"))


def test_missing_api_key_env_var_names_the_variable(server: tuple[str, Script],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    url, script = server
    monkeypatch.delenv(KEY_ENV, raising=False)
    llm = make(url, api_key_env=KEY_ENV)  # construction never reads the environment
    with pytest.raises(ConfigError, match=KEY_ENV):
        llm.complete(LLMRequest.chat("hi"))
    assert script.received == []


def test_bad_base_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="base_url"):
        OpenAICompatibleLLM("localhost:8000/v1", "m")
