"""UsageMeter / MeteredLLM: usage summed per stage label."""

from __future__ import annotations

import contextvars
import threading
from pathlib import Path

from tgrag.kernel.protocols import LLM
from tgrag.kernel.records import LLMRequest, Usage
from tgrag.models.accounting import MeteredLLM, UsageMeter
from tgrag.models.cache import CachedLLM
from tgrag.testing import ScriptedLLM


def test_stages_sum_usage_and_nest(tmp_path: Path) -> None:
    meter = UsageMeter()
    llm = MeteredLLM(ScriptedLLM(default="one two three"), meter)
    assert isinstance(llm, LLM) and llm.name == "scripted"
    request = LLMRequest.chat("four five")
    with meter.stage("decompose"):
        llm.complete(request)
        with meter.stage("read"):
            llm.complete(request)
        llm.complete(request)
    llm.complete(request)
    stages = meter.by_stage()
    assert stages["decompose"] == Usage(2, 4, 6, 0.0, 0)
    assert stages["read"] == Usage(1, 2, 3, 0.0, 0)
    assert stages["other"] == Usage(1, 2, 3, 0.0, 0)
    assert meter.total() == Usage(4, 8, 12, 0.0, 0)
    assert meter.to_dict()["total"]["calls"] == 4
    assert meter.reset()["read"].calls == 1 and meter.total() == Usage()


def test_fixed_stage_wins_and_cache_hits_are_counted(tmp_path: Path) -> None:
    meter = UsageMeter()
    cached = CachedLLM(ScriptedLLM(default="x"), tmp_path / "c.sqlite")
    reader = MeteredLLM(cached, meter, stage="read")
    with meter.stage("decompose"):
        reader.complete(LLMRequest.chat("q"))
        reader.complete(LLMRequest.chat("q"))
    assert set(meter.by_stage()) == {"read"}
    assert meter.by_stage()["read"].calls == 2
    assert meter.by_stage()["read"].cached_calls == 1


def test_stage_blocks_are_per_thread_unless_context_is_copied() -> None:
    meter = UsageMeter()
    llm = MeteredLLM(ScriptedLLM(default="x"), meter)
    with meter.stage("main"):
        plain = threading.Thread(target=llm.complete, args=(LLMRequest.chat("a"),))
        ctx = contextvars.copy_context()
        copied = threading.Thread(target=ctx.run, args=(llm.complete, LLMRequest.chat("b")))
        for t in (plain, copied):
            t.start()
            t.join()
    assert meter.by_stage()["other"].calls == 1
    assert meter.by_stage()["main"].calls == 1
