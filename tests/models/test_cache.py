"""CachedLLM: persistent SQLite cache, replay mode, JSONL fixtures, concurrent use."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from tgrag.kernel.errors import ConfigError, InputError, ModelError, StoreError
from tgrag.kernel.protocols import LLM
from tgrag.kernel.records import LLMRequest, LLMResponse
from tgrag.models.cache import CachedLLM, CacheStats, request_key
from tgrag.testing import ScriptedLLM


def echo_llm() -> ScriptedLLM:
    return ScriptedLLM([lambda r: f"echo {r.messages[-1].content}"])


def test_miss_then_hit_returns_recorded_response(tmp_path: Path) -> None:
    inner = echo_llm()
    cache = CachedLLM(inner, tmp_path / "c.sqlite")
    assert isinstance(cache, LLM) and cache.name == "scripted"
    request = LLMRequest.chat("alpha beta", max_tokens=16)
    first = cache.complete(request)
    second = cache.complete(request)
    assert not first.cached and second.cached
    assert (second.text, second.prompt_tokens, second.completion_tokens, second.model) == (
        first.text, first.prompt_tokens, first.completion_tokens, first.model)
    assert second.seconds >= 0
    assert len(inner.calls) == 1
    assert cache.stats() == CacheStats(hits=1, misses=1, writes=1)
    assert len(cache) == 1


def test_every_request_field_and_the_model_name_are_part_of_the_key(tmp_path: Path) -> None:
    base = LLMRequest.chat("q", system="s")
    variants = [base, LLMRequest.chat("q"), LLMRequest.chat("q", system="s", max_tokens=5),
                LLMRequest.chat("q", system="s", temperature=0.7), LLMRequest.chat("q", system="s", seed=1),
                LLMRequest.chat("q", system="s", stop=("\n",)), LLMRequest.chat("q", system="s", json_mode=True)]
    keys = {request_key("m", r) for r in variants}
    assert len(keys) == len(variants)
    assert request_key("m", base) != request_key("other-model", base)
    assert request_key("m", base) == request_key("m", LLMRequest.from_dict(base.to_dict()))
    inner = echo_llm()
    cache = CachedLLM(inner, tmp_path / "c.sqlite")
    for r in variants:
        cache.complete(r)
    assert len(inner.calls) == len(variants) and cache.stats().hits == 0


def test_cache_persists_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "c.sqlite"
    request = LLMRequest.chat("persist me")
    with CachedLLM(echo_llm(), path) as cache:
        cache.complete(request)
    inner = echo_llm()
    reopened = CachedLLM(inner, path)
    assert reopened.complete(request).cached
    assert inner.calls == []


def test_replay_mode_answers_hits_and_raises_on_miss(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    CachedLLM(echo_llm(), path).complete(LLMRequest.chat("recorded"))
    inner = echo_llm()
    replay = CachedLLM(inner, path, mode="replay")
    assert replay.complete(LLMRequest.chat("recorded")).text == "echo recorded"
    with pytest.raises(ModelError, match="no response.*not recorded"):
        replay.complete(LLMRequest.chat("not recorded"))
    assert inner.calls == []
    assert replay.stats() == CacheStats(hits=1, misses=1, writes=0)


def test_off_mode_passes_through_and_touches_no_file(tmp_path: Path) -> None:
    inner = echo_llm()
    cache = CachedLLM(inner, tmp_path / "c.sqlite", mode="off")
    for _ in range(2):
        assert not cache.complete(LLMRequest.chat("x")).cached
    assert len(inner.calls) == 2
    assert not (tmp_path / "c.sqlite").exists()
    with pytest.raises(ConfigError):
        cache.export_jsonl(tmp_path / "out.jsonl")


def test_unknown_mode_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="record"):
        CachedLLM(echo_llm(), tmp_path / "c.sqlite", mode="record")


def test_closed_cache_raises_store_error(tmp_path: Path) -> None:
    cache = CachedLLM(echo_llm(), tmp_path / "c.sqlite")
    cache.close()
    with pytest.raises(StoreError, match="closed"):
        cache.complete(LLMRequest.chat("x"))


def test_jsonl_export_import_round_trip_makes_a_replay_fixture(tmp_path: Path) -> None:
    source = CachedLLM(echo_llm(), tmp_path / "a.sqlite")
    requests = [LLMRequest.chat(f"question {i}", seed=i) for i in range(4)]
    originals = [source.complete(r) for r in requests]
    fixture = tmp_path / "fixtures" / "llm.jsonl"
    assert source.export_jsonl(fixture) == 4
    lines = [json.loads(line) for line in fixture.read_text().splitlines()]
    assert {entry["model"] for entry in lines} == {"scripted"}
    replay = CachedLLM(echo_llm(), tmp_path / "b.sqlite", mode="replay")
    assert replay.import_jsonl(fixture) == 4
    replayed = [replay.complete(r) for r in requests]
    assert [r.text for r in replayed] == [o.text for o in originals]
    assert all(r.cached for r in replayed)


def test_import_of_a_bad_line_names_file_and_line_and_writes_nothing(tmp_path: Path) -> None:
    good = {"model": "scripted", "request": LLMRequest.chat("ok").to_dict(),
            "response": LLMResponse("fine").to_dict()}
    fixture = tmp_path / "bad.jsonl"
    fixture.write_text(json.dumps(good) + "\n\n" + json.dumps({"model": "scripted"}) + "\n")
    cache = CachedLLM(echo_llm(), tmp_path / "c.sqlite")
    with pytest.raises(InputError, match=r"bad\.jsonl:3"):
        cache.import_jsonl(fixture)
    assert len(cache) == 0


def test_concurrent_threads_and_connections_share_one_file(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    caches = [CachedLLM(echo_llm(), path), CachedLLM(echo_llm(), path)]  # two connections
    requests = [LLMRequest.chat(f"r{i}") for i in range(25)]
    failures: list[BaseException] = []

    def worker(cache: CachedLLM) -> None:
        for r in requests:
            response = cache.complete(r)
            if response.text != f"echo {r.messages[-1].content}":
                failures.append(AssertionError(response.text))

    threads = [threading.Thread(target=worker, args=(caches[i % 2],)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert len(caches[0]) == len(requests)
    total = [c.stats() for c in caches]
    assert sum(s.hits + s.misses for s in total) == 6 * len(requests)
