"""End to end with the real embedded models (MiniLM, Qwen2.5-0.5B via llama.cpp, spaCy) on the demo
corpus, through the CLI and the Python API. Few questions: the point is the real plumbing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tgrag.cli import main
from tgrag.demo import demo_data_dir, score_answer
from tgrag.facade import TemporalGraphRAG

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    idx = tmp_path_factory.mktemp("e2e") / "idx"
    assert main(["index", str(idx), str(demo_data_dir() / "docs.jsonl"), "--no-progress"]) == 0
    return idx


def test_cli_as_of_cites_only_passages_dated_up_to_then(index_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["ask", str(index_dir), "What is the price of the Pico-7 drone?", "--as-of", "2021-12-31",
                 "--json", "--no-progress", "--reader", "0.5b"]) == 0  # the small reader keeps CI fast
    ans = json.loads(capsys.readouterr().out)
    assert ans["time_scope"]["end"].startswith("2022-01-01")
    read = [e for e in ans["evidence"] if e["kind"] == "passage"]
    assert read, "retrieval found nothing in scope"
    for e in read:
        assert e["date"] is not None and e["date"]["start"] < "2022-01-01", e
    assert not ans["abstained"] and "499" in ans["text"]


def test_api_time_scoped_answers_and_abstention(index_dir: Path) -> None:
    from tgrag.models.llamacpp_llm import LlamaCppLLM

    rag = TemporalGraphRAG.open(index_dir, llm=LlamaCppLLM(model="0.5b"), show_progress=False)
    early = rag.query("Who was the chief executive of Veltrane Robotics in June 2020?")
    assert score_answer(early.text, ["Mara Ellison"], early.abstained)[0], early.text
    assert early.time_scope is not None and early.time_scope.label() == "2020-06"
    assert early.citations and all(c.ref_id for c in early.citations)
    lacking = rag.query("Who was the chief executive of Veltrane Robotics?", between=("2012", "2012"))
    assert lacking.abstained and not lacking.citations
    stats = rag.stats()
    assert stats["facts"] > 0 and stats["time_nodes"] > 0 and stats["hops"] > 0
    assert rag.summary("2022") is not None and rag.summary("2022").summary
    assert any(f.invalid_at is not None for f in rag.timeline("Veltrane Robotics")), "no superseded fact"


def test_kg_path_and_reader_path_with_the_real_models(index_dir: Path) -> None:
    """A role-in-a-year question is answered from the knowledge graph (real spaCy facts, real
    embedding match of "chair" to the predicate "chair of") with no LLM call and the fact's source
    passage cited; a question the KG cannot answer (a revenue stated only in text) goes to the reader."""
    from tgrag.models.cache import CachedLLM
    from tgrag.models.llamacpp_llm import LlamaCppLLM

    llm = CachedLLM(LlamaCppLLM(model="0.5b"), index_dir / "llm_cache.sqlite")
    rag = TemporalGraphRAG.open(index_dir, llm=llm, show_progress=False)
    chair = rag.query("Who was the chair of Veltrane Robotics in 2020?")
    assert chair.text == "Ingrid Halvorsen" and chair.usage.calls == 0
    assert [s.data["path"] for s in chair.trace if s.stage == "answer"] == ["kg"]
    assert any(c.kind.value == "passage" and c.doc_id == "vr-002" for c in chair.citations)
    revenue = rag.query("What was the revenue of Veltrane Robotics in Q3 2023?")
    assert revenue.usage.calls >= 1 and [s.data["path"] for s in revenue.trace if s.stage == "answer"] == ["reader"]
    assert revenue.evidence and revenue.time_scope is not None and revenue.time_scope.label() == "2023-Q3"
