"""TemporalGraphRAG: idempotent insert, replace, delete, atomic rollback, persistence, time scoping.

Fakes at the model boundary (hashing embedder, scripted LLM); the real stores, spaCy extractor and
reasoning loop run underneath.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tgrag.facade import TemporalGraphRAG
from tgrag.kernel import InputError, LLMRequest, NotFoundError
from tgrag.testing import HashingEmbedder, ScriptedLLM

DOCS = [
    {"id": "d1", "title": "Veltrane 2019", "date": "2019-03-02",
     "text": "Mara Ellison is the chief executive of Veltrane Robotics. Veltrane Robotics builds delivery drones."},
    {"id": "d2", "title": "Veltrane 2022", "date": "2022-07-01",
     "text": "Tobias Crane became the chief executive of Veltrane Robotics in July 2022."},
    {"id": "d3", "title": "Quillfish", "date": "2021-03-14",
     "text": "On 14 March 2021, Veltrane Robotics acquired Quillfish Labs."},
    {"id": "d4", "title": "Harbor note", "text": "Harrowgate harbor reopened after repairs."},
]


def _answer_first(req: LLMRequest) -> str | None:
    """Reads the first evidence line back, citing it (enough to check plumbing, not intelligence)."""
    prompt = req.messages[-1].content
    if "Evidence:" not in prompt:
        return None
    return "Answer: " + prompt.split("[1]", 1)[1].split("\n", 1)[0].strip()[:40] + "\nCitations: [1]"


def _llm() -> ScriptedLLM:
    return ScriptedLLM([_answer_first], default='{"subquestions": []}')


def _open(path: Path | None, **kw: Any) -> TemporalGraphRAG:
    return TemporalGraphRAG.open(path, embedder=HashingEmbedder(), llm=_llm(), show_progress=False, **kw)


def snapshot(rag: TemporalGraphRAG) -> dict[str, Any]:
    g = rag.graph
    docs = sorted(rag.docs.document_ids())
    return {
        "docs": docs,
        "passages": sorted(p.passage_id for d in docs for p in rag.docs.passages_of(d)),
        "vectors": len(rag.vectors),
        "entities": sorted(json.dumps(e.to_dict(), sort_keys=True) for e in g.entities()),
        "facts": sorted(json.dumps(f.to_dict(), sort_keys=True) for f in g.facts()),
        "time_nodes": sorted(json.dumps(t.to_dict(), sort_keys=True) for t in g.time_nodes()),
        "hops": sorted(json.dumps(h.to_dict(), sort_keys=True) for h in g.hops()),
    }


@pytest.fixture
def rag(tmp_path: Path) -> TemporalGraphRAG:
    r = _open(tmp_path / "idx")
    r.insert(DOCS)
    return r


def test_insert_is_idempotent(rag: TemporalGraphRAG) -> None:
    before = snapshot(rag)
    report = rag.insert(DOCS)
    assert report.documents_unchanged == len(DOCS) and report.passages_added == 0
    assert snapshot(rag) == before
    assert before["facts"], "the extractor should have found facts in the sample documents"


def test_changed_document_replaces_old_version(rag: TemporalGraphRAG) -> None:
    changed = dict(DOCS[2], text="On 14 March 2021, Veltrane Robotics acquired Pellucid Optics.")
    report = rag.insert([changed])
    assert report.documents_replaced == 1
    texts = [p.text for p in rag.docs.passages_of("d3")]
    assert texts == [changed["text"]]
    assert all("Quillfish" not in f.text for f in rag.graph.facts())


def test_delete_then_reinsert_restores_identical_state(rag: TemporalGraphRAG) -> None:
    before = snapshot(rag)
    report = rag.delete("d2")
    assert report.passages_removed == 1
    assert "d2" not in rag.docs.document_ids()
    rag.insert([DOCS[1]])
    assert snapshot(rag) == before
    with pytest.raises(NotFoundError):
        rag.delete("no-such-doc")


def test_failed_insert_leaves_index_exactly_as_before(rag: TemporalGraphRAG, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot(rag)
    new = [{"id": "d5", "title": "Veltrane 2023", "date": "2023-05-05",
            "text": "Veltrane Robotics revenue rose to $2.1 billion in Q3 2023."},
           dict(DOCS[0], text=DOCS[0]["text"] + " It is based in Harrowgate.")]  # a replacement too
    calls = {"n": 0}
    real_add = rag.vectors.add

    def failing_add(ids: Any, vectors: Any, **kwargs: Any) -> None:  # fails after graph + passage graph were written
        calls["n"] += 1
        raise RuntimeError("injected failure mid-insert")

    monkeypatch.setattr(rag.vectors, "add", failing_add)
    with pytest.raises(RuntimeError, match="injected"):
        rag.insert(new)
    assert calls["n"] == 1
    monkeypatch.setattr(rag.vectors, "add", real_add)
    assert snapshot(rag) == before
    reopened = _open(tmp_path / "idx")
    assert snapshot(reopened) == before


def test_persistence_round_trip(rag: TemporalGraphRAG, tmp_path: Path) -> None:
    before = snapshot(rag)
    rag.close()
    assert snapshot(_open(tmp_path / "idx")) == before


def test_as_of_cites_only_passages_dated_up_to_then(rag: TemporalGraphRAG) -> None:
    ans = rag.query("Who is the chief executive of Veltrane Robotics?", as_of="2020-12-31")
    assert not ans.abstained and ans.citations
    for e in ans.evidence:  # every passage read, not just the cited ones
        if e.kind.value == "passage":
            assert e.date is not None and e.date.start.year <= 2020, e
    assert ans.time_scope is not None and ans.time_scope.end.year == 2021


def test_period_the_corpus_lacks_is_abstained(rag: TemporalGraphRAG) -> None:
    # an explicit scope the corpus lacks leaves no evidence: abstain without calling the reader
    llm = rag.llm
    n_calls = len(llm.calls)
    ans = rag.query("Who was the chief executive of Veltrane Robotics?", between=("2012", "2012"))
    assert ans.abstained and ans.text == "" and not ans.citations
    assert not [c for c in llm.calls[n_calls:] if "Evidence:" in c.messages[-1].content]


def test_question_scope_excludes_dated_passages_outside_it(rag: TemporalGraphRAG) -> None:
    # scope from the question text: dated passages outside it are out; undated ones may stay
    got = rag.retrieve("Who was the chief executive of Veltrane Robotics in 2012?", k=5)
    assert got and all(e.date is None for e in got)


def test_question_about_a_period_the_dated_corpus_lacks_is_abstained(rag: TemporalGraphRAG) -> None:
    llm = rag.llm
    n_calls = len(llm.calls)
    ans = rag.query("Who was the chief executive of Veltrane Robotics in 2012?")
    assert ans.time_scope is not None and ans.time_scope.label() == "2012"
    assert ans.abstained and not ans.citations and len(llm.calls) == n_calls
    assert ans.trace[0].data["period_lacking"] is True
    # an open-start fact ("until 2027") says nothing about 2012; it does not make the period covered
    rag.insert([{"id": "d8", "title": "Contract", "date": "2019-06-01",
                 "text": "Veltrane Robotics extended the contract of Tobias Crane until 2027."}])
    assert rag.query("Who was the chief executive of Veltrane Robotics in 2012?").abstained
    # a fact stated later but valid then makes the period answerable, with no document dated then
    rag.insert([{"id": "d9", "title": "Board history", "date": "2019-05-01",
                 "text": "Ann Lee was the chair of Veltrane Robotics from January 2010 to December 2015."}])
    assert rag.graph.facts(during=ans.time_scope)
    ans = rag.query("Who was the chair of Veltrane Robotics in 2012?")
    assert ans.trace[0].data["period_lacking"] is False and not ans.abstained


def test_period_coverage_documents_needs_a_document_dated_in_the_period(tmp_path: Path) -> None:
    # reports that each cover their own period (earnings calls): a later report's word on 2012 does not
    # make 2012 covered; the default still counts such a fact (test above)
    from reasoning.settings import ReasoningSettings

    rag = _open(tmp_path / "docs", reasoning=ReasoningSettings(period_coverage="documents"))
    rag.insert([*DOCS, {"id": "d9", "title": "Board history", "date": "2019-05-01",
                        "text": "Ann Lee was the chair of Veltrane Robotics from January 2010 to December 2015."}])
    assert rag.graph.facts(during=rag.query("Who was the chair of Veltrane Robotics in 2012?").time_scope)
    ans = rag.query("Who was the chair of Veltrane Robotics in 2012?")
    assert ans.abstained and ans.trace[0].data["period_lacking"] is True
    assert not rag.query("Who was the chief executive of Veltrane Robotics in 2022?").trace[0].data["period_lacking"]
    with pytest.raises(Exception, match="period_coverage"):
        ReasoningSettings(period_coverage="facts")


def test_an_open_ended_fact_does_not_cover_a_period_past_the_corpus(rag: TemporalGraphRAG) -> None:
    # "since 2020" says nothing certain about 2030 when the last document is from 2022
    rag.insert([{"id": "d10", "title": "Chair", "date": "2022-08-05",
                 "text": "Ann Lee has been the chair of Veltrane Robotics since March 2020."}])
    scope = rag.query("Who was the chair of Veltrane Robotics in 2030?").time_scope
    assert scope is not None and scope.label() == "2030"
    assert any(f.valid is not None and f.valid.end is None for f in rag.graph.facts(during=scope))
    ans = rag.query("Who was the chair of Veltrane Robotics in 2030?")
    assert ans.abstained and ans.trace[0].data["period_lacking"] is True
    # within the corpus's reach the same fact still counts: 2020 has no document, yet is covered
    assert not rag.docs.passage_ids_in(rag.query("Who was the chair of Veltrane Robotics in 2020?").time_scope)
    ans = rag.query("Who was the chair of Veltrane Robotics in 2020?")
    assert ans.trace[0].data["period_lacking"] is False


def test_bad_queries_are_clear_errors(rag: TemporalGraphRAG) -> None:
    with pytest.raises(InputError):
        rag.query("   ")
    with pytest.raises(InputError):
        rag.insert([{"id": "e", "text": ""}])


def test_vectors_out_of_step_with_passages_is_refused(rag: TemporalGraphRAG, tmp_path: Path) -> None:
    from tgrag.kernel import IndexCorruptError

    for p in (tmp_path / "idx").glob("vectors.g*.faiss"):
        p.unlink()
    with pytest.raises(IndexCorruptError, match="passages without a vector"):
        _open(tmp_path / "idx")


def test_split_questions_run_the_subquestion_path_at_facade_level(tmp_path: Path) -> None:
    split = '{"subquestions": ["Who bought Quillfish Labs?", "Who is the chief executive of #1?"]}'
    q = "Who leads the firm whose parent bought Quillfish Labs?"  # no LLM-free split applies: the LLM splits it
    llm = ScriptedLLM([(f"Question: {q}", split), _answer_first])
    rag = TemporalGraphRAG.open(tmp_path / "s", embedder=HashingEmbedder(), llm=llm, show_progress=False)
    rag.insert(DOCS)
    ans = rag.query(q)
    dec = next(s.data for s in ans.trace if s.stage == "decompose")
    assert any(f"Question: {q}" in c.messages[-1].content for c in llm.calls)
    assert [q["text"] for q in dec["subquestions"]] == ["Who bought Quillfish Labs?", "Who is the chief executive of #1?"]
    assert sum(1 for s in ans.trace if s.stage == "subanswer") >= 1


def test_self_contradictory_time_is_noted_and_no_scope_is_invented(rag: TemporalGraphRAG) -> None:
    ans = rag.query("Who was the chief executive of Veltrane Robotics in 2030, before 2010?")
    scope = ans.trace[0].data
    assert ans.time_scope is None and scope["interval"] is None
    assert scope["conflict"] is True and "contradict" in scope["note"]


def test_as_of_earlier_than_every_document_abstains_without_a_reader_call(rag: TemporalGraphRAG) -> None:
    # d9-style facts stated later but valid earlier do not count: as of 2001 no document existed yet
    rag.insert([{"id": "d9", "title": "Board history", "date": "2019-05-01",
                 "text": "Ann Lee was the chair of Veltrane Robotics from January 1990 to December 2015."}])
    llm = rag.llm
    n_calls = len(llm.calls)
    ans = rag.query("Who was the chair of Veltrane Robotics?", as_of="2001-06-30")
    assert ans.abstained and not ans.citations and len(llm.calls) == n_calls
    assert ans.trace[0].data["period_lacking"] is True


def test_entity_focus_hands_the_reader_passages_about_the_questions_entity(tmp_path: Path) -> None:
    from reasoning.settings import ReasoningSettings

    docs = DOCS + [{"id": f"n{i}", "title": f"Note {i}", "text": f"Veltrane Robotics opened depot {i} in Harrowgate."}
                   for i in range(6)]
    question = "Which company did Tobias Crane lead?"
    seen = {}
    for mode in ("off", "only"):
        rag = _open(tmp_path / mode, reasoning=ReasoningSettings(k=2, entity_focus=mode, use_kg_facts=False,
                                                                 use_summaries=False, use_time_scope=False))
        rag.insert(docs)
        evidence, info = rag.reasoner.gather(question, None)
        seen[mode] = [e.doc_id for e in evidence]
        rag.close()
    assert seen["only"] == ["d2"]  # the one passage naming Tobias Crane, whatever the retrieval order
    assert len(seen["off"]) == 2  # without the focus the reader gets the top k as retrieved
