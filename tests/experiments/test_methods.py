"""Methods on the demo index (hashing embedder, scripted LLM): what each one calls and returns."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from experiments.datasets import QAExample, load_demo
from experiments.metering import MeteredLLM
from experiments.methods import IRCoTMethod, RetrieveMethod, System, TgragMethod
from experiments.update import pending_as_unanswerable, question_group, split_documents
from reasoning.loop import ReasoningSettings
from tgrag.facade import TemporalGraphRAG
from tgrag.kernel.errors import ConfigError
from tgrag.kernel.records import LLMRequest
from tgrag.testing import HashingEmbedder, ScriptedLLM


def ircot_rule(request: LLMRequest) -> str | None:
    prompt = request.messages[-1].content
    if "Next sentence:" not in prompt:
        return None
    if "Reasoning so far: (none)" in prompt:
        return "Quillfish Labs makes the Pico-7 drone."
    return "So the answer is: Anouk Verhoeven"


RULES: list[Any] = [ircot_rule, ("Question:", "Answer: Anouk Verhoeven\nCitations: [1]")]


@pytest.fixture(scope="module")
def rag(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemporalGraphRAG]:
    r = TemporalGraphRAG.open(tmp_path_factory.mktemp("idx"), embedder=HashingEmbedder(256),
                              llm=ScriptedLLM(default="x"), show_progress=False)
    r.insert(list(load_demo().documents))
    yield r
    r.close()


def system(rag: TemporalGraphRAG, default: str = "Answer: unknown\nCitations: none") -> System:
    llm = MeteredLLM(ScriptedLLM(RULES, default=default))
    return System(rag, llm, settings_factory=lambda o: ReasoningSettings(**dict(o or {})))


def question(qid: str) -> QAExample:
    return next(q for q in load_demo().questions if q.qid == qid)


def test_retrieval_only_methods_rank_documents_without_llm_calls(rag: TemporalGraphRAG) -> None:
    sys_ = system(rag)
    for kind in ("dense", "bm25", "hybrid"):
        pred = RetrieveMethod(sys_, name=kind, retriever=kind, k=5).predict(question("demo-q13"))
        assert pred.answer is None and pred.usage.calls == 0
        assert 0 < len(pred.retrieved) <= 5 and len(set(pred.retrieved)) == len(pred.retrieved)
        assert pred.trace[0].stage == "retrieve"
    with pytest.raises(ConfigError, match="retriever must be one of"):
        RetrieveMethod(sys_, name="x", retriever="teleport", k=5)


def test_naive_rag_reads_once(rag: TemporalGraphRAG) -> None:
    pred = RetrieveMethod(system(rag), name="naive_rag", retriever="dense", k=10, read=True,
                          read_k=3).predict(question("demo-q13"))
    assert pred.answer == "Anouk Verhoeven" and not pred.abstained
    assert pred.usage.calls == 1 and len(pred.citations) == 1
    assert [t.stage for t in pred.trace] == ["retrieve", "read"]


def test_ircot_interleaves_reasoning_and_retrieval(rag: TemporalGraphRAG) -> None:
    sys_ = system(rag)
    pred = IRCoTMethod(sys_, k_first=2, k_step=2, max_steps=4, max_evidence=6).predict(question("demo-q13"))
    stages = [t.stage for t in pred.trace]
    # retrieve -> reason (a fact) -> retrieve with that sentence -> reason ("So the answer is") -> read
    assert stages == ["retrieve", "reason", "retrieve", "reason", "read"]
    assert pred.trace[2].data["query"] == "Quillfish Labs makes the Pico-7 drone."
    assert pred.usage.calls == 3 and pred.answer == "Anouk Verhoeven"
    assert len(pred.evidence) <= 6


def test_ircot_stops_at_max_steps(rag: TemporalGraphRAG) -> None:
    sys_ = system(rag)
    sys_.llm = MeteredLLM(ScriptedLLM([(("Next sentence:"), "Quillfish Labs is a drone maker."),
                                       ("Question:", "Answer: unknown\nCitations: none")]))
    pred = IRCoTMethod(sys_, max_steps=2).predict(question("demo-q13"))
    assert [t.stage for t in pred.trace].count("reason") == 2 and pred.abstained


def test_tgrag_ablation_switches_reach_the_loop(rag: TemporalGraphRAG) -> None:
    sys_ = system(rag)
    m = TgragMethod(sys_, name="tgrag_no_walk", settings={"use_walk": False, "use_decomposition": False})
    assert m.settings.use_walk is False and m.reasoner.retriever() is m.reasoner.side.hybrid
    pred = m.predict(question("demo-q13"))
    assert pred.answer == "Anouk Verhoeven" and pred.trace and pred.usage.calls >= 1
    only = TgragMethod(sys_, retrieval_only=True, k=5).predict(question("demo-q13"))
    assert only.answer is None and only.usage.calls == 0 and only.retrieved


def test_update_split_and_question_groups() -> None:
    ds = load_demo()
    base, new = split_documents(ds.documents, base_slice=None, new_slice=None, base_fraction=0.75)
    assert len(base) + len(new) == len(ds.documents)
    last_base = max(d.date.start for d in base if d.date is not None and d.date.start is not None)
    assert all(d.date is not None and d.date.start is not None and d.date.start >= last_base for d in new)
    groups = {q.qid: question_group(q, new) for q in ds.questions}
    assert groups["demo-q01"] == "unscoped"  # no gold scope in the file
    assert groups["demo-q09"] == "old"  # "as of 2021-12-31" ends before the newest quarter of documents
    # before the insert a new question's period is not indexed: abstaining is its right outcome
    scored = {q.qid: q for q in pending_as_unanswerable(ds.questions, groups)}
    news = [qid for qid, g in groups.items() if g == "new"]
    assert news and all(scored[qid].unanswerable and scored[qid].answers == ("unanswerable",) for qid in news)
    olds = [q for q in ds.questions if groups[q.qid] != "new"]
    assert olds and all(scored[q.qid] == q for q in olds)
    with pytest.raises(ConfigError, match="base_fraction"):
        split_documents(ds.documents, base_slice=None, new_slice=None, base_fraction=1.0)
    with pytest.raises(ConfigError, match="both must be non-empty"):
        split_documents(ds.documents, base_slice=["1999"], new_slice=None, base_fraction=0.5)


def test_path_of_demo_set_exists() -> None:
    assert (Path(__file__).resolve().parents[2] / "tgrag" / "demo_data" / "docs.jsonl").exists()
